//! CodeDeploy and CodeDeployToECS (docs/reference/cloudformation.md §9, docs/providers.md
//! "CodeDeploy"): the images and task definition placeholders of a blue/green deploy, and
//! where a deployment stands.

use std::collections::BTreeMap;

use serde_json::Value;

use super::config;

pub const TASK_DEFINITION_TEMPLATE: &str = "taskdef.json";
pub const APPSPEC_TEMPLATE: &str = "appspec.yaml";
/// What an ECR source (or a build) writes into an image artifact.
pub const IMAGE_DETAIL: &str = "imageDetail.json";
/// The AppSpec's stand-in for the task definition ARN the action registers.
pub const TASK_DEFINITION_PLACEHOLDER: &str = "<TASK_DEFINITION>";

/// The description a deployment carries: how a repeated start finds the deployment its first
/// run created (CodeDeploy has no client token).
pub fn description(job_id: &str) -> String {
    format!("Pipewright job {job_id}")
}

/// `ImageNArtifactName` / `ImageNContainerName` pairs: (artifact, placeholder name).
pub fn image_slots(configuration: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, String> {
    let mut slots = Vec::new();
    for n in 1..=4 {
        let artifact = config(configuration, &format!("Image{n}ArtifactName"));
        let container = config(configuration, &format!("Image{n}ContainerName"));
        match (artifact, container) {
            (Some(artifact), Some(container)) => slots.push((artifact.to_string(), container.to_string())),
            (None, None) => {}
            (Some(_), None) => return Err(format!("Image{n}ArtifactName is set without Image{n}ContainerName")),
            (None, Some(_)) => return Err(format!("Image{n}ContainerName is set without Image{n}ArtifactName")),
        }
    }
    Ok(slots)
}

/// The `ImageURI` of an `imageDetail.json`.
pub fn image_uri(artifact: &str, text: &str) -> Result<String, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("{artifact}::{IMAGE_DETAIL} is not JSON: {e}"))?;
    value
        .get("ImageURI")
        .and_then(Value::as_str)
        .filter(|uri| !uri.is_empty())
        .map(String::from)
        .ok_or_else(|| format!("{artifact}::{IMAGE_DETAIL} has no ImageURI"))
}

/// `taskdef.json` with each `<PLACEHOLDER>` image replaced by its URI. Every placeholder the
/// action names must appear.
pub fn fill_task_definition(text: &str, images: &BTreeMap<String, String>) -> Result<Value, String> {
    let mut filled = text.to_string();
    for (placeholder, uri) in images {
        let marker = format!("<{placeholder}>");
        if !filled.contains(&marker) {
            return Err(format!("{TASK_DEFINITION_TEMPLATE} has no {marker} for the image of {placeholder}"));
        }
        filled = filled.replace(&marker, uri);
    }
    serde_json::from_str(&filled).map_err(|e| format!("{TASK_DEFINITION_TEMPLATE} is not JSON: {e}"))
}

/// The AppSpec with the registered task definition's ARN in place of `<TASK_DEFINITION>`.
pub fn fill_appspec(text: &str, task_definition_arn: &str) -> Result<String, String> {
    if !text.contains(TASK_DEFINITION_PLACEHOLDER) {
        return Err(format!(
            "the AppSpec has no {TASK_DEFINITION_PLACEHOLDER} where the registered task definition goes"
        ));
    }
    Ok(text.replace(TASK_DEFINITION_PLACEHOLDER, task_definition_arn))
}

/// Where a deployment stands (GetDeployment's `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentState {
    InProgress,
    Succeeded,
    Failed(String),
}

pub fn deployment_state(id: &str, status: &str, error: Option<&str>) -> DeploymentState {
    match status {
        "Succeeded" => DeploymentState::Succeeded,
        "Failed" | "Stopped" => DeploymentState::Failed(format!(
            "deployment {id} {}: {}",
            status.to_ascii_lowercase(),
            error.filter(|e| !e.is_empty()).unwrap_or("no reason given")
        )),
        // Created, Queued, InProgress, Baking, Ready (blue/green waiting for traffic).
        _ => DeploymentState::InProgress,
    }
}

/// The statuses of a deployment still running, for finding one a repeated start made.
pub const ACTIVE_STATUSES: &[&str] = &["Created", "Queued", "InProgress", "Baking", "Ready"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_fill_the_task_definition_and_its_arn_the_appspec() {
        let configuration = BTreeMap::from([
            ("Image1ArtifactName".to_string(), "Image".to_string()),
            ("Image1ContainerName".to_string(), "IMAGE1_NAME".to_string()),
        ]);
        let slots = image_slots(&configuration).unwrap();
        assert_eq!(slots, vec![("Image".to_string(), "IMAGE1_NAME".to_string())]);
        let uri = image_uri("Image", r#"{"ImageURI": "1.dkr.ecr/web@sha256:abc"}"#).unwrap();
        let images = BTreeMap::from([("IMAGE1_NAME".to_string(), uri)]);
        let task = fill_task_definition(
            r#"{"family": "web", "containerDefinitions": [{"name": "web", "image": "<IMAGE1_NAME>"}]}"#,
            &images,
        )
        .unwrap();
        assert_eq!(task["containerDefinitions"][0]["image"], "1.dkr.ecr/web@sha256:abc");
        assert!(fill_task_definition(r#"{"family": "web"}"#, &images).unwrap_err().contains("<IMAGE1_NAME>"));
        let appspec = fill_appspec(
            "Resources:\n  - T:\n      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n",
            "arn:td/web:3",
        )
        .unwrap();
        assert!(appspec.contains("TaskDefinition: arn:td/web:3"));
        assert!(fill_appspec("version: 0.0", "arn").is_err());
        let half = BTreeMap::from([("Image2ArtifactName".to_string(), "X".to_string())]);
        assert!(image_slots(&half).is_err());
        assert!(image_uri("Image", r#"{"ImageTags": []}"#).is_err());
    }

    #[test]
    fn deployments_end_succeeded_failed_or_stopped() {
        assert_eq!(deployment_state("d-1", "InProgress", None), DeploymentState::InProgress);
        assert_eq!(deployment_state("d-1", "Ready", None), DeploymentState::InProgress);
        assert_eq!(deployment_state("d-1", "Succeeded", None), DeploymentState::Succeeded);
        assert_eq!(
            deployment_state("d-1", "Failed", Some("HEALTH_CONSTRAINTS: too few healthy instances")),
            DeploymentState::Failed("deployment d-1 failed: HEALTH_CONSTRAINTS: too few healthy instances".into())
        );
        assert!(
            matches!(deployment_state("d-1", "Stopped", None), DeploymentState::Failed(m) if m.contains("stopped"))
        );
    }
}
