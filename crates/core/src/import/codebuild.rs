//! `AWS::CodeBuild::Project` (resolved properties) → [`BuildProject`]: the project name the
//! pipeline's actions name, the buildspec (inline, a path, or the default `buildspec.yml`),
//! environment variables with their types, the timeout and the image (docs/import.md,
//! "CodeBuild projects").

use super::ImportError;
use super::node::Node;
use crate::build_project::{BuildProject, BuildVariable, BuildspecSource, VariableType};

pub fn project(logical_id: &str, name: &str, properties: &Node, origin: &str) -> Result<BuildProject, ImportError> {
    let at = |field: &str| format!("{logical_id}.{field}");
    let buildspec = match properties.get("Source").and_then(|s| s.get("BuildSpec")) {
        None | Some(Node::Null) => BuildspecSource::Default,
        Some(node) => match node.scalar_text() {
            Some(text) => BuildspecSource::classify(&text),
            None => return Err(ImportError::template(at("Source.BuildSpec"), "must be a string")),
        },
    };
    let mut environment_variables = Vec::new();
    let variables = properties.get("Environment").and_then(|e| e.get("EnvironmentVariables"));
    for (i, variable) in variables.and_then(Node::as_list).unwrap_or_default().iter().enumerate() {
        let field = |name: &str| variable.get(name).and_then(Node::scalar_text);
        let (Some(name), Some(value)) = (field("Name"), field("Value")) else {
            return Err(ImportError::template(
                at(&format!("Environment.EnvironmentVariables[{i}]")),
                "needs a Name and a Value",
            ));
        };
        let kind = match field("Type").as_deref() {
            None | Some("PLAINTEXT") => VariableType::Plaintext,
            Some("PARAMETER_STORE") => VariableType::ParameterStore,
            Some("SECRETS_MANAGER") => VariableType::SecretsManager,
            Some(other) => {
                return Err(ImportError::template(
                    at(&format!("Environment.EnvironmentVariables[{i}].Type")),
                    format!("\"{other}\" is not PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER"),
                ));
            }
        };
        environment_variables.push(BuildVariable { name, value, kind });
    }
    let timeout_in_minutes = match properties.get("TimeoutInMinutes").and_then(Node::scalar_text) {
        None => None,
        Some(text) => Some(text.trim().parse::<u32>().map_err(|_| {
            ImportError::template(at("TimeoutInMinutes"), format!("\"{text}\" is not a number of minutes"))
        })?),
    };
    Ok(BuildProject {
        name: name.to_string(),
        buildspec,
        environment_variables,
        timeout_in_minutes,
        image: properties.get("Environment").and_then(|e| e.get("Image")).and_then(Node::scalar_text),
        origin: Some(origin.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::yaml;

    #[test]
    fn projects_keep_buildspec_variables_and_timeout() {
        let props = yaml::read(
            "Source:\n  Type: CODEPIPELINE\n  BuildSpec: |\n    version: 0.2\n    phases: {build: {commands: [make]}}\nEnvironment:\n  Image: aws/codebuild/standard:7.0\n  EnvironmentVariables:\n    - {Name: STAGE, Value: prod}\n    - {Name: TOKEN, Value: /ci/token, Type: PARAMETER_STORE}\nTimeoutInMinutes: 30\n",
        )
        .unwrap();
        let project = project("Build", "app-build", &props, "t.yaml: Build").unwrap();
        assert!(matches!(project.buildspec, BuildspecSource::Inline(ref text) if text.contains("make")));
        assert_eq!(project.environment_variables[1].kind, VariableType::ParameterStore);
        assert_eq!(project.timeout_in_minutes, Some(30));
        assert_eq!(project.image.as_deref(), Some("aws/codebuild/standard:7.0"));
    }
}
