//! A CDK cloud assembly's `manifest.json` (docs/import.md, "CDK"): which templates hold
//! stacks, under which stack names and environments, and which nested assemblies (CDK
//! `Stage`s) to read too. The CLI reads the files; this only reads the manifest's text.

use serde_json::Value;

use super::ImportError;

/// One `aws:cloudformation:stack` artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdkStack {
    pub artifact_id: String,
    /// Relative to the assembly directory.
    pub template_file: String,
    pub stack_name: String,
    /// From `aws://<account>/<region>`; `None` for an environment-agnostic stack.
    pub account: Option<String>,
    pub region: Option<String>,
}

/// What a manifest lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assembly {
    pub stacks: Vec<CdkStack>,
    /// Nested assembly directories (relative), from `cdk:cloud-assembly` artifacts.
    pub nested: Vec<String>,
    /// Context lookups CDK could not finish: the assembly is not deployable as it is.
    pub missing: usize,
}

pub fn read_manifest(text: &str) -> Result<Assembly, ImportError> {
    let manifest: Value = serde_json::from_str(text).map_err(|e| ImportError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let Some(artifacts) = manifest.get("artifacts").and_then(Value::as_object) else {
        return Err(ImportError::NotAPipeline("manifest.json has no artifacts; it is not a CDK cloud assembly".into()));
    };
    let mut assembly = Assembly {
        missing: manifest.get("missing").and_then(Value::as_array).map_or(0, Vec::len),
        ..Assembly::default()
    };
    for (id, artifact) in artifacts {
        let properties = artifact.get("properties");
        let property = |name: &str| properties.and_then(|p| p.get(name)).and_then(Value::as_str).map(str::to_string);
        match artifact.get("type").and_then(Value::as_str) {
            Some("aws:cloudformation:stack") => {
                let Some(template_file) = property("templateFile") else { continue };
                let (account, region) = environment(artifact.get("environment").and_then(Value::as_str));
                assembly.stacks.push(CdkStack {
                    artifact_id: id.clone(),
                    template_file,
                    stack_name: property("stackName").unwrap_or_else(|| id.clone()),
                    account,
                    region,
                });
            }
            Some("cdk:cloud-assembly") => {
                if let Some(directory) = property("directoryName") {
                    assembly.nested.push(directory);
                }
            }
            _ => {}
        }
    }
    Ok(assembly)
}

/// `aws://123456789012/eu-west-1` → both; `unknown-account`/`unknown-region` → `None`.
fn environment(text: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(rest) = text.and_then(|t| t.strip_prefix("aws://")) else { return (None, None) };
    let (account, region) = rest.split_once('/').unwrap_or((rest, ""));
    let known = |s: &str| (!s.is_empty() && !s.starts_with("unknown-")).then(|| s.to_string());
    (known(account), known(region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_and_nested_assemblies_are_listed() {
        let assembly = read_manifest(
            r#"{"version": "36.0.0", "artifacts": {
                "PipelineStack": {"type": "aws:cloudformation:stack", "environment": "aws://111122223333/eu-west-1",
                    "properties": {"templateFile": "PipelineStack.template.json"}},
                "PipelineStack.assets": {"type": "cdk:asset-manifest", "properties": {"file": "PipelineStack.assets.json"}},
                "assembly-Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}},
                "Agnostic": {"type": "aws:cloudformation:stack", "environment": "aws://unknown-account/unknown-region",
                    "properties": {"templateFile": "Agnostic.template.json", "stackName": "agnostic-stack"}}
            }}"#,
        )
        .unwrap();
        assert_eq!(assembly.stacks.len(), 2);
        let stack = |id: &str| assembly.stacks.iter().find(|s| s.artifact_id == id).unwrap();
        assert_eq!(stack("PipelineStack").account.as_deref(), Some("111122223333"));
        assert_eq!(stack("PipelineStack").region.as_deref(), Some("eu-west-1"));
        assert_eq!(stack("Agnostic").stack_name, "agnostic-stack");
        assert_eq!(stack("Agnostic").region, None);
        assert_eq!(assembly.nested, vec!["assembly-Prod".to_string()]);
    }
}
