//! The ECS standard deploy's decisions (docs/reference/cloudformation.md §8,
//! docs/providers.md "ECS"): `imagedefinitions.json`, which containers get which image, and
//! when the service's rollout is over.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The default `FileName`.
pub const IMAGE_DEFINITIONS: &str = "imagedefinitions.json";
/// `imagedefinitions.json` may hold at most 100 KB.
pub const IMAGE_DEFINITIONS_LIMIT: usize = 100 * 1024;
/// `DeploymentTimeout` when the action does not set it: 60 minutes.
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 60;

/// One entry of `imagedefinitions.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImageDefinition {
    pub name: String,
    #[serde(rename = "imageUri")]
    pub image_uri: String,
}

pub fn parse_image_definitions(file: &str, text: &str) -> Result<Vec<ImageDefinition>, String> {
    if text.len() > IMAGE_DEFINITIONS_LIMIT {
        return Err(format!("{file} is {} bytes; ECS deploy actions read at most 100 KB", text.len()));
    }
    let definitions: Vec<ImageDefinition> = serde_json::from_str(text)
        .map_err(|e| format!("{file} must be a JSON array of {{\"name\": container, \"imageUri\": image}}: {e}"))?;
    if definitions.is_empty() {
        return Err(format!("{file} names no container"));
    }
    Ok(definitions)
}

/// The image each container gets: every entry must name a container of the task definition.
/// An entry naming no container fails the action rather than deploy nothing for a typo (AWS
/// is silent; docs/providers.md §5). Returns container → new image.
pub fn image_updates(
    definitions: &[ImageDefinition],
    containers: &[&str],
    family: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut updates = BTreeMap::new();
    for definition in definitions {
        if !containers.contains(&definition.name.as_str()) {
            return Err(format!(
                "imagedefinitions.json names container {:?}, which task definition {family} does not have (its containers: {})",
                definition.name,
                containers.join(", ")
            ));
        }
        updates.insert(definition.name.clone(), definition.image_uri.clone());
    }
    Ok(updates)
}

/// `DeploymentTimeout`, in minutes.
pub fn deployment_timeout_minutes(value: Option<&str>) -> Result<u32, String> {
    match value {
        None => Ok(DEFAULT_TIMEOUT_MINUTES),
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|m| (1..=60).contains(m))
            .ok_or_else(|| format!("DeploymentTimeout {text:?} must be a number of minutes from 1 to 60")),
    }
}

/// One deployment of a service, as DescribeServices shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deployment {
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED` (deployment circuit breaker); absent for
    /// services without one.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired: i32,
    pub running: i32,
}

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    InProgress,
    /// The service reached a steady state on our task definition.
    Completed,
    Failed(String),
}

/// The steady state of docs/reference/cloudformation.md §8: the PRIMARY deployment runs our
/// task definition and is complete — its rollout state says so, or, without one, every task
/// runs and no older deployment is left.
pub fn rollout(deployments: &[Deployment], task_definition: &str) -> Rollout {
    let Some(primary) = deployments.iter().find(|d| d.status == "PRIMARY") else { return Rollout::InProgress };
    if primary.task_definition != task_definition {
        return Rollout::Failed(format!(
            "the service now runs {} instead of {task_definition}: another deployment replaced this one",
            primary.task_definition
        ));
    }
    match primary.rollout_state.as_deref() {
        Some("COMPLETED") => Rollout::Completed,
        Some("FAILED") => Rollout::Failed(format!(
            "deployment {} failed: {}",
            primary.id,
            primary.rollout_state_reason.as_deref().unwrap_or("no reason given")
        )),
        Some(_) => Rollout::InProgress,
        None if deployments.len() == 1 && primary.running >= primary.desired => Rollout::Completed,
        None => Rollout::InProgress,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_definitions_are_read_and_matched_to_containers() {
        let definitions = parse_image_definitions(
            "imagedefinitions.json",
            r#"[{"name": "web", "imageUri": "1.dkr.ecr.eu-west-1.amazonaws.com/web:abc"}]"#,
        )
        .unwrap();
        let updates = image_updates(&definitions, &["web", "sidecar"], "app").unwrap();
        assert_eq!(updates.len(), 1);
        assert_eq!(updates["web"], "1.dkr.ecr.eu-west-1.amazonaws.com/web:abc");
        let error = image_updates(&definitions, &["api"], "app").unwrap_err();
        assert!(error.contains("\"web\"") && error.contains("api"), "{error}");
        assert!(parse_image_definitions("f", r#"{"name": "web"}"#).is_err());
        assert!(parse_image_definitions("f", "[]").is_err());
    }

    #[test]
    fn the_timeout_is_one_to_sixty_minutes() {
        assert_eq!(deployment_timeout_minutes(None), Ok(60));
        assert_eq!(deployment_timeout_minutes(Some("15")), Ok(15));
        assert!(deployment_timeout_minutes(Some("0")).is_err());
        assert!(deployment_timeout_minutes(Some("soon")).is_err());
    }

    fn deployment(status: &str, task: &str, state: Option<&str>, running: i32) -> Deployment {
        Deployment {
            id: format!("ecs-svc/{status}"),
            status: status.into(),
            task_definition: task.into(),
            rollout_state: state.map(String::from),
            rollout_state_reason: Some("tasks failed to start".into()),
            desired: 2,
            running,
        }
    }

    #[test]
    fn a_rollout_is_over_at_steady_state() {
        let ours = "arn:td/app:5";
        assert_eq!(rollout(&[deployment("PRIMARY", ours, Some("IN_PROGRESS"), 1)], ours), Rollout::InProgress);
        assert_eq!(rollout(&[deployment("PRIMARY", ours, Some("COMPLETED"), 2)], ours), Rollout::Completed);
        assert!(
            matches!(rollout(&[deployment("PRIMARY", ours, Some("FAILED"), 0)], ours), Rollout::Failed(m) if m.contains("tasks failed"))
        );
        // Without a circuit breaker: all tasks running and the old deployment drained.
        let draining = [deployment("PRIMARY", ours, None, 2), deployment("ACTIVE", "arn:td/app:4", None, 1)];
        assert_eq!(rollout(&draining, ours), Rollout::InProgress);
        assert_eq!(rollout(&draining[..1], ours), Rollout::Completed);
        assert!(matches!(
            rollout(&[deployment("PRIMARY", "arn:td/app:6", Some("IN_PROGRESS"), 0)], ours),
            Rollout::Failed(_)
        ));
    }
}
