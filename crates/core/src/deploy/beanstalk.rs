//! Elastic Beanstalk (docs/providers.md "Elastic Beanstalk"): the application version an
//! action creates, and when the environment's update is over.

/// The version label: one per attempt, so a repeated start creates nothing new (an existing
/// label answers "already exists", which is taken as done). At most 100 characters.
pub fn version_label(action_execution_id: &str) -> String {
    format!("pipewright-{action_execution_id}").chars().take(100).collect()
}

/// Where an environment update stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    InProgress,
    Succeeded,
    Failed(String),
}

/// The environment after UpdateEnvironment: `Ready` again with our version is success; `Ready`
/// with another version means Beanstalk rolled back; an `ERROR` event since the update began
/// names the failure.
pub fn update_state(environment: &str, status: &str, version: Option<&str>, ours: &str, errors: &[String]) -> Update {
    if status != "Ready" {
        return match errors.first() {
            Some(error) if status == "Terminated" || status == "Terminating" => {
                Update::Failed(format!("environment {environment} is {status}: {error}"))
            }
            _ if status == "Terminated" => Update::Failed(format!("environment {environment} was terminated")),
            _ => Update::InProgress,
        };
    }
    if version == Some(ours) {
        return Update::Succeeded;
    }
    Update::Failed(format!(
        "environment {environment} is Ready with version {} instead of {ours}{}",
        version.unwrap_or("(none)"),
        errors.first().map(|e| format!(": {e}")).unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_per_attempt_and_bounded() {
        assert_eq!(version_label("abc"), "pipewright-abc");
        assert!(version_label(&"x".repeat(200)).len() <= 100);
    }

    #[test]
    fn an_update_ends_ready_on_our_version() {
        assert_eq!(update_state("web", "Updating", Some("v1"), "v2", &[]), Update::InProgress);
        assert_eq!(update_state("web", "Ready", Some("v2"), "v2", &[]), Update::Succeeded);
        let rolled_back = update_state("web", "Ready", Some("v1"), "v2", &["Failed to deploy application.".into()]);
        assert!(
            matches!(rolled_back, Update::Failed(m) if m.contains("instead of v2") && m.contains("Failed to deploy"))
        );
        assert!(matches!(update_state("web", "Terminated", None, "v2", &[]), Update::Failed(_)));
    }
}
