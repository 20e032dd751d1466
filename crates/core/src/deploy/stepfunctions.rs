//! The Step Functions invoke action (docs/reference/codepipeline.md §2, docs/providers.md
//! "Step Functions"): the execution's name and input, and how it ended.

use std::collections::BTreeMap;

use super::config;

/// The file of the output artifact that holds a standard execution's output (the docs say
/// the artifact receives the output and name no file: docs/providers.md).
pub const OUTPUT_FILE: &str = "output.json";

/// `<ExecutionNamePrefix>-<actionExecutionId>` (or the id alone), at most 80 characters: one
/// name per attempt, so a repeated StartExecution finds the execution the first one started.
pub fn execution_name(configuration: &BTreeMap<String, String>, action_execution_id: &str) -> String {
    let name = match config(configuration, "ExecutionNamePrefix") {
        Some(prefix) => format!("{prefix}-{action_execution_id}"),
        None => action_execution_id.to_string(),
    };
    name.chars().take(80).collect()
}

/// Where the input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Literal(String),
    /// A file of the input artifact.
    File(String),
}

pub fn input(configuration: &BTreeMap<String, String>) -> Result<Input, String> {
    let given = config(configuration, "Input");
    match config(configuration, "InputType").unwrap_or("Literal") {
        "Literal" => {
            let text = given.unwrap_or("{}");
            serde_json::from_str::<serde_json::Value>(text).map_err(|e| format!("Input is not JSON: {e}"))?;
            Ok(Input::Literal(text.to_string()))
        }
        "FilePath" => Ok(Input::File(
            given.ok_or("InputType FilePath needs Input: the path of the file in the input artifact")?.to_string(),
        )),
        other => Err(format!("InputType {other:?} is not Literal or FilePath")),
    }
}

/// The ARN an execution of `state_machine_arn` named `name` has.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> Option<String> {
    let (head, machine) = state_machine_arn.rsplit_once(":stateMachine:")?;
    Some(format!("{head}:execution:{machine}:{name}"))
}

/// Where an execution stands (DescribeExecution's `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Running,
    Succeeded,
    Failed(String),
}

pub fn state(name: &str, status: &str, error: Option<&str>, cause: Option<&str>) -> State {
    match status {
        "SUCCEEDED" => State::Succeeded,
        "RUNNING" | "PENDING_REDRIVE" => State::Running,
        other => {
            let detail = [error, cause].into_iter().flatten().filter(|t| !t.is_empty()).collect::<Vec<_>>().join(": ");
            State::Failed(format!(
                "execution {name} {}{}",
                other.to_ascii_lowercase().replace('_', " "),
                if detail.is_empty() { String::new() } else { format!(": {detail}") }
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configuration(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn names_and_inputs() {
        assert_eq!(execution_name(&configuration(&[("ExecutionNamePrefix", "deploy")]), "abc"), "deploy-abc");
        assert_eq!(execution_name(&configuration(&[]), "abc"), "abc");
        assert_eq!(execution_name(&configuration(&[("ExecutionNamePrefix", &"p".repeat(90))]), "abc").len(), 80);
        assert_eq!(input(&configuration(&[])), Ok(Input::Literal("{}".into())));
        assert_eq!(input(&configuration(&[("Input", r#"{"a": 1}"#)])), Ok(Input::Literal(r#"{"a": 1}"#.into())));
        assert!(input(&configuration(&[("Input", "not json")])).is_err());
        assert_eq!(
            input(&configuration(&[("InputType", "FilePath"), ("Input", "in.json")])),
            Ok(Input::File("in.json".into()))
        );
        assert!(input(&configuration(&[("InputType", "FilePath")])).is_err());
        assert!(input(&configuration(&[("InputType", "Url")])).is_err());
    }

    #[test]
    fn arns_and_states() {
        assert_eq!(
            execution_arn("arn:aws:states:eu-west-1:1:stateMachine:Flow", "deploy-abc").as_deref(),
            Some("arn:aws:states:eu-west-1:1:execution:Flow:deploy-abc")
        );
        assert_eq!(state("n", "RUNNING", None, None), State::Running);
        assert_eq!(state("n", "SUCCEEDED", None, None), State::Succeeded);
        assert_eq!(
            state("n", "FAILED", Some("Boom"), Some("it broke")),
            State::Failed("execution n failed: Boom: it broke".into())
        );
        assert_eq!(state("n", "TIMED_OUT", None, None), State::Failed("execution n timed out".into()));
    }
}
