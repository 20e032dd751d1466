//! A CodeBuild project, as far as running its builds needs it: where its buildspec comes
//! from, its environment variables and its timeout. Projects come from a template's
//! `AWS::CodeBuild::Project` resources (the import), from `aws codebuild batch-get-projects`
//! output, or from a bare buildspec file; the CodeBuild provider reads them by project name.

use serde::{Deserialize, Serialize};

/// Where a project's buildspec is read from, in CodeBuild's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", content = "value", rename_all = "camelCase")]
pub enum BuildspecSource {
    /// No buildspec on the project: `buildspec.yml` at the root of the primary source.
    #[default]
    Default,
    /// A path relative to the root of the primary source (CodeBuild's `source.buildspec`
    /// when it names a file).
    Path(String),
    /// The buildspec's text itself (an inline `source.buildspec`).
    Inline(String),
}

impl BuildspecSource {
    /// What a project's `source.buildspec` text is, for the importer and for project files
    /// alike (docs/codebuild.md, "Where the buildspec comes from"): nothing (the default
    /// `buildspec.yml`), an S3 object (`arn:`), the buildspec itself (several lines, or a
    /// mapping with a `version`, as CDK's one-line JSON), or a path. CodeBuild does not
    /// document how it tells them apart.
    pub fn classify(text: &str) -> BuildspecSource {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return BuildspecSource::Default;
        }
        if trimmed.starts_with("arn:") {
            return BuildspecSource::Path(trimmed.to_string());
        }
        let is_spec = trimmed.contains('\n')
            || matches!(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(trimmed), Ok(serde_yaml_ng::Value::Mapping(m)) if m.contains_key("version"));
        if is_spec { BuildspecSource::Inline(text.to_string()) } else { BuildspecSource::Path(trimmed.to_string()) }
    }
}

/// The type of a project or action environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VariableType {
    /// The value is used as it is.
    #[default]
    Plaintext,
    /// The value names an SSM Parameter Store parameter.
    ParameterStore,
    /// The value names a Secrets Manager secret (`name[:json-key[:version-stage[:version-id]]]`).
    SecretsManager,
}

/// One environment variable of a project (`environment.environmentVariables[]`) or of a
/// CodeBuild action's `EnvironmentVariables` configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildVariable {
    pub name: String,
    pub value: String,
    #[serde(default, rename = "type")]
    pub kind: VariableType,
}

/// A CodeBuild project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BuildProject {
    /// The project name that actions name in `ProjectName`.
    pub name: String,
    #[serde(default)]
    pub buildspec: BuildspecSource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment_variables: Vec<BuildVariable>,
    /// The build timeout (CodeBuild's default is 60 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<u32>,
    /// The build image, for information: a local build runs with the host's tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where this definition came from (a template resource, a file), for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_paths_and_s3_objects_are_told_apart() {
        assert_eq!(BuildspecSource::classify("ci/buildspec.yml"), BuildspecSource::Path("ci/buildspec.yml".into()));
        assert_eq!(
            BuildspecSource::classify("arn:aws:s3:::b/spec.yml"),
            BuildspecSource::Path("arn:aws:s3:::b/spec.yml".into())
        );
        let cdk = r#"{"version":"0.2","phases":{"build":{"commands":["make"]}}}"#;
        assert_eq!(BuildspecSource::classify(cdk), BuildspecSource::Inline(cdk.into()));
        assert!(matches!(BuildspecSource::classify("version: 0.2\nphases: {}\n"), BuildspecSource::Inline(_)));
        assert!(matches!(BuildspecSource::classify("version: 0.2"), BuildspecSource::Inline(_)));
        assert_eq!(BuildspecSource::classify(" "), BuildspecSource::Default);
    }

    #[test]
    fn a_project_round_trips_through_json() {
        let project = BuildProject {
            name: "orders-build".into(),
            buildspec: BuildspecSource::Path("ci/buildspec.yml".into()),
            environment_variables: vec![BuildVariable {
                name: "TOKEN".into(),
                value: "/ci/token".into(),
                kind: VariableType::ParameterStore,
            }],
            timeout_in_minutes: Some(30),
            image: None,
            origin: Some("template.yaml: BuildProject".into()),
        };
        let json = serde_json::to_value(&project).unwrap();
        assert_eq!(json["environmentVariables"][0]["type"], "PARAMETER_STORE");
        assert_eq!(json["buildspec"], serde_json::json!({ "kind": "path", "value": "ci/buildspec.yml" }));
        assert_eq!(serde_json::from_value::<BuildProject>(json).unwrap(), project);
    }
}
