//! What a file is (docs/import.md, "What Pipewright reads"): a CodePipeline declaration, a
//! CloudFormation/SAM template, a CDK cloud assembly's `manifest.json`, `terraform show
//! -json` output — or something Pipewright does not run (Terraform HCL, a buildspec, a
//! Kubernetes manifest, a GitHub Actions workflow), which gets one sentence saying what it is
//! and what to give instead.

/// The kinds of file the commands may be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// The API's JSON/YAML: a bare declaration or `get-pipeline` output.
    Declaration,
    CloudFormation,
    CdkManifest,
    TerraformJson,
    TerraformHcl,
    Buildspec,
    Kubernetes {
        kind: String,
    },
    GitHubActions,
    /// Nothing recognisable: read as a declaration, whose errors then say what is wrong.
    Unknown,
}

const ALSO: &str = "Pipewright reads CodePipeline declarations (JSON or YAML, bare or `aws codepipeline get-pipeline` output), CloudFormation and SAM templates, CDK output (cdk.out) and `terraform show -json` output";

impl FileKind {
    /// The sentence for a file Pipewright does not run; `None` for the kinds it reads.
    pub fn refusal(&self, file: &str) -> Option<String> {
        Some(match self {
            FileKind::TerraformHcl => format!(
                "{file} is a Terraform configuration (HCL), which Pipewright does not evaluate; run `terraform show -json` (after `terraform apply`, or on a saved plan) and give that JSON, whose aws_codepipeline resources Pipewright reads"
            ),
            FileKind::Buildspec => format!(
                "{file} is a CodeBuild buildspec, not a pipeline; give the pipeline that runs it (its CodePipeline declaration, or the CloudFormation template with its AWS::CodeBuild::Project)"
            ),
            FileKind::Kubernetes { kind } => {
                format!("{file} is a Kubernetes manifest (kind: {kind}), not a pipeline; {ALSO}")
            }
            FileKind::GitHubActions => {
                format!("{file} is a GitHub Actions workflow, not a CodePipeline pipeline; {ALSO}")
            }
            _ => return None,
        })
    }
}

/// Looks at the file name and the top-level keys only.
pub fn detect(file_name: Option<&str>, text: &str) -> FileKind {
    if file_name
        .is_some_and(|name| name.ends_with(".tf") || name.ends_with(".tf.json") && !text.contains("\"format_version\""))
    {
        return FileKind::TerraformHcl;
    }
    let keys = top_level_keys(text);
    let has = |key: &str| keys.iter().any(|k| k == key);
    if has("Resources") || has("AWSTemplateFormatVersion") {
        return FileKind::CloudFormation;
    }
    if has("format_version") && (has("values") || has("planned_values") || has("terraform_version")) {
        return FileKind::TerraformJson;
    }
    if has("artifacts") && has("version") && !has("phases") {
        return FileKind::CdkManifest;
    }
    if has("pipeline") || (has("stages") && (has("name") || has("roleArn"))) {
        return FileKind::Declaration;
    }
    if has("apiVersion") && has("kind") {
        let kind = kubernetes_kind(text).unwrap_or_else(|| "unknown".to_string());
        return FileKind::Kubernetes { kind };
    }
    if has("jobs") && (has("on") || has("\"on\"") || has("'on'")) {
        return FileKind::GitHubActions;
    }
    if has("phases") && has("version") {
        return FileKind::Buildspec;
    }
    if looks_like_hcl(text) {
        return FileKind::TerraformHcl;
    }
    FileKind::Unknown
}

/// Top-level keys of a JSON object or of block YAML (keys at column 0).
fn top_level_keys(text: &str) -> Vec<String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(trimmed) {
            return map.keys().cloned().collect();
        }
        return Vec::new();
    }
    text.lines()
        .filter(|line| !line.starts_with([' ', '\t', '#', '-']))
        .filter_map(|line| {
            let (key, _) = line.split_once(':')?;
            let key = key.trim().trim_matches(['"', '\'']);
            (!key.is_empty() && !key.contains(' ')).then(|| key.to_string())
        })
        .collect()
}

fn kubernetes_kind(text: &str) -> Option<String> {
    text.lines().find_map(|line| line.strip_prefix("kind:").map(|k| k.trim().trim_matches(['"', '\'']).to_string()))
}

fn looks_like_hcl(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_start();
        (line.starts_with("resource \"") || line.starts_with("provider \"") || line.starts_with("module \""))
            || line.starts_with("terraform {")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_told_apart() {
        assert_eq!(
            detect(Some("t.yaml"), "AWSTemplateFormatVersion: '2010-09-09'\nResources: {}\n"),
            FileKind::CloudFormation
        );
        assert_eq!(detect(Some("p.json"), r#"{"pipeline": {"name": "x"}}"#), FileKind::Declaration);
        assert_eq!(detect(Some("p.yaml"), "name: x\nroleArn: r\nstages: []\n"), FileKind::Declaration);
        assert_eq!(detect(Some("main.tf"), "resource \"aws_codepipeline\" \"p\" {}\n"), FileKind::TerraformHcl);
        assert_eq!(detect(Some("pipeline.txt"), "terraform {\n}\n"), FileKind::TerraformHcl);
        assert_eq!(detect(Some("plan.json"), r#"{"format_version": "1.2", "values": {}}"#), FileKind::TerraformJson);
        assert_eq!(
            detect(Some("buildspec.yml"), "version: 0.2\nphases:\n  build:\n    commands: [make]\n"),
            FileKind::Buildspec
        );
        assert_eq!(
            detect(Some("deploy.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"),
            FileKind::Kubernetes { kind: "Deployment".into() }
        );
        assert_eq!(detect(Some("ci.yml"), "name: CI\non:\n  push: {}\njobs:\n  build: {}\n"), FileKind::GitHubActions);
        assert_eq!(detect(Some("manifest.json"), r#"{"version": "36.0.0", "artifacts": {}}"#), FileKind::CdkManifest);
        assert!(FileKind::TerraformHcl.refusal("main.tf").unwrap().contains("terraform show -json"));
    }
}
