//! CodeBuild projects from files (docs/codebuild.md "Projects"): the JSON that
//! `aws codebuild batch-get-projects --names NAME` prints (its `projects[0]`, or a project
//! object alone), or a buildspec file, which makes a project of that buildspec alone.

use pipewright_core::build_project::{BuildProject, BuildVariable, BuildspecSource, VariableType};

/// A project from `batch-get-projects` JSON (camelCase keys).
pub fn from_codebuild_json(project: &serde_json::Value, origin: &str) -> Result<BuildProject, String> {
    let name = project["name"].as_str().ok_or("the project has no \"name\"")?;
    let mut variables = Vec::new();
    for (i, variable) in project["environment"]["environmentVariables"].as_array().into_iter().flatten().enumerate() {
        let field = |key: &str| {
            variable[key]
                .as_str()
                .map(String::from)
                .ok_or(format!("environment.environmentVariables[{i}].{key} is missing"))
        };
        let kind = match variable["type"].as_str().unwrap_or("PLAINTEXT") {
            "PLAINTEXT" => VariableType::Plaintext,
            "PARAMETER_STORE" => VariableType::ParameterStore,
            "SECRETS_MANAGER" => VariableType::SecretsManager,
            other => return Err(format!("environment.environmentVariables[{i}].type: {other} is not a variable type")),
        };
        variables.push(BuildVariable { name: field("name")?, value: field("value")?, kind });
    }
    Ok(BuildProject {
        name: name.to_string(),
        buildspec: project["source"]["buildspec"].as_str().map(BuildspecSource::classify).unwrap_or_default(),
        environment_variables: variables,
        timeout_in_minutes: project["timeoutInMinutes"].as_u64().and_then(|m| u32::try_from(m).ok()),
        image: project["environment"]["image"].as_str().map(String::from),
        origin: Some(origin.to_string()),
    })
}

/// The project `name` from a file's text: batch-get-projects output, a project object, or
/// a buildspec.
pub fn read(name: &str, text: &str, origin: &str) -> Result<BuildProject, String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
        let project = match json.get("projects") {
            Some(serde_json::Value::Array(projects)) => {
                let named = projects.iter().find(|p| p["name"] == name);
                named.or(projects.first()).ok_or("\"projects\" is empty")?.clone()
            }
            Some(_) => return Err("\"projects\" is not a list".to_string()),
            None if json.get("source").is_some() || json.get("environment").is_some() => json,
            // A buildspec written as JSON.
            None => return buildspec_project(name, text, origin),
        };
        let mut project = from_codebuild_json(&project, origin)?;
        project.name = name.to_string();
        return Ok(project);
    }
    buildspec_project(name, text, origin)
}

fn buildspec_project(name: &str, text: &str, origin: &str) -> Result<BuildProject, String> {
    crate::buildspec::parse(text).map_err(|e| format!("neither batch-get-projects JSON nor a buildspec: {e}"))?;
    Ok(BuildProject {
        name: name.to_string(),
        buildspec: BuildspecSource::Inline(text.to_string()),
        origin: Some(origin.to_string()),
        ..BuildProject::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_get_projects_output_becomes_a_project() {
        let json = r#"{"projects":[{"name":"orders-build","arn":"arn:aws:codebuild:eu-west-1:1:project/orders-build",
          "source":{"type":"CODEPIPELINE","buildspec":"ci/buildspec.yml"},
          "environment":{"type":"LINUX_CONTAINER","image":"aws/codebuild/standard:7.0","computeType":"BUILD_GENERAL1_SMALL",
            "environmentVariables":[{"name":"STAGE","value":"prod","type":"PLAINTEXT"},{"name":"OLD","value":"x"},
              {"name":"TOKEN","value":"/ci/token","type":"PARAMETER_STORE"}]},
          "timeoutInMinutes":30}],"projectsNotFound":[]}"#;
        let project = read("orders-build", json, "orders.json").unwrap();
        assert_eq!(project.buildspec, BuildspecSource::Path("ci/buildspec.yml".into()));
        assert_eq!(project.environment_variables.len(), 3);
        assert_eq!(project.environment_variables[1].kind, VariableType::Plaintext, "no type is PLAINTEXT");
        assert_eq!(project.environment_variables[2].kind, VariableType::ParameterStore);
        assert_eq!(project.timeout_in_minutes, Some(30));
        assert_eq!(project.image.as_deref(), Some("aws/codebuild/standard:7.0"));
    }

    #[test]
    fn a_buildspec_file_is_a_project_of_its_own() {
        let project = read("p", "version: 0.2\nphases:\n  build:\n    commands: [make]\n", "spec.yml").unwrap();
        assert!(matches!(project.buildspec, BuildspecSource::Inline(_)));
        assert!(read("p", "just: text", "x").unwrap_err().contains("neither"));
        assert!(read("p", r#"{"projects":[]}"#, "x").unwrap_err().contains("empty"));
    }
}
