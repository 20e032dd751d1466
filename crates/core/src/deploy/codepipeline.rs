//! The CodePipeline invoke action (Invoke/AWS/CodePipeline): a pipeline starting another, with
//! variables and source revisions passed on (docs/providers.md "CodePipeline invoke").

use std::collections::BTreeMap;

use serde::Deserialize;

use super::config;
use crate::engine::{Event, SourceRevisionOverride, StartExecution, Trigger, TriggerType, VariableOverride};

/// What to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub pipeline: String,
    pub variables: Vec<VariableOverride>,
    pub source_revisions: Vec<SourceRevisionOverride>,
}

#[derive(Deserialize)]
struct Variable {
    name: String,
    value: String,
}

/// `PipelineName`, `Variables` (a JSON array of `{name, value}`) and `SourceRevisions` (a JSON
/// array of `{actionName, revisionType, revisionValue}`, as StartPipelineExecution takes them).
pub fn child(configuration: &BTreeMap<String, String>) -> Result<Child, String> {
    let pipeline = config(configuration, "PipelineName").ok_or("PipelineName is required")?.to_string();
    let variables = match config(configuration, "Variables") {
        Some(text) => serde_json::from_str::<Vec<Variable>>(text)
            .map_err(|e| format!("Variables must be a JSON array of {{\"name\", \"value\"}}: {e}"))?
            .into_iter()
            .map(|v| VariableOverride { name: v.name, value: v.value })
            .collect(),
        None => Vec::new(),
    };
    let source_revisions = match config(configuration, "SourceRevisions") {
        Some(text) => serde_json::from_str::<Vec<SourceRevisionOverride>>(text).map_err(|e| {
            format!(
                "SourceRevisions must be a JSON array of {{\"actionName\", \"revisionType\", \"revisionValue\"}}: {e}"
            )
        })?,
        None => Vec::new(),
    };
    Ok(Child { pipeline, variables, source_revisions })
}

/// The child's execution id: derived from the parent's job, so a repeated start starts one
/// execution.
pub fn child_execution_id(job_id: &str, pipeline: &str) -> String {
    crate::ids::uuid_from(&["invoked-pipeline", job_id, pipeline])
}

/// The start of the child: StartPipelineExecution's semantics, triggered by the parent's action
/// (`by`: `pipeline/stage/action`).
pub fn start_event(child: &Child, execution_id: &str, seed: &str, by: &str) -> Event {
    Event::StartExecution(StartExecution {
        execution_id: execution_id.to_string(),
        seed: seed.to_string(),
        trigger: Trigger {
            trigger_type: TriggerType::StartPipelineExecution,
            trigger_detail: Some(format!("CodePipeline invoke action {by}")),
        },
        variables: child.variables.clone(),
        source_revisions: child.source_revisions.clone(),
        action_timeout_seconds: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_revisions_are_passed_on() {
        let configuration = BTreeMap::from([
            ("PipelineName".to_string(), "deploy-service".to_string()),
            ("Variables".to_string(), r#"[{"name": "Env", "value": "prod"}]"#.to_string()),
            (
                "SourceRevisions".to_string(),
                r#"[{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "abc123"}]"#.to_string(),
            ),
        ]);
        let child = child(&configuration).unwrap();
        assert_eq!(child.pipeline, "deploy-service");
        assert_eq!(child.variables[0].value, "prod");
        assert_eq!(child.source_revisions[0].revision_value, "abc123");
        assert!(super::child(&BTreeMap::new()).is_err());
        assert_eq!(child_execution_id("job", "p"), child_execution_id("job", "p"));
        assert_ne!(child_execution_id("job", "p"), child_execution_id("job2", "p"));
    }
}
