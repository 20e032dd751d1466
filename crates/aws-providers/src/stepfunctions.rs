//! The Step Functions invoke action over the SDK (docs/providers.md §8): StartExecution named
//! `<prefix>-<actionExecutionId>` (so a repeated start finds the same execution), then, for a
//! standard machine, DescribeExecution until it ends; its output becomes the output artifact.

use std::collections::BTreeMap;

use aws_sdk_sfn::types::StateMachineType;
use serde::{Deserialize, Serialize};

use pipewright_core::deploy::NextLook;
use pipewright_core::deploy::stepfunctions::{self as decide, State as ExecutionState};
use pipewright_core::engine::FailureType;
use pipewright_providers::Outcome;
use pipewright_providers::deploy::{Progress, Waiting, inputs};

use crate::artifacts::write_output;
use crate::errors::CallError;
use crate::{Step, waiting};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    state_machine: String,
    execution: String,
}

fn console_url(step: &Step<'_>, execution: &str) -> Option<String> {
    step.clients.on_aws.then(|| {
        format!(
            "https://console.aws.amazon.com/states/home?region={}#/v2/executions/details/{execution}",
            step.clients.region
        )
    })
}

fn variables(state: &State) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("StateMachineArn".to_string(), state.state_machine.clone()),
        ("ExecutionArn".to_string(), state.execution.clone()),
    ])
}

/// `next`: a standard execution's end is announced by its status-change event; a look that
/// failed for a moment is looked at again on the ordinary schedule.
fn wait(step: &Step<'_>, state: &State, polls: u32, next: NextLook) -> Progress {
    waiting(
        serde_json::to_value(state).unwrap_or_default(),
        &state.execution,
        format!("execution {} running", state.execution),
        polls,
        console_url(step, &state.execution),
        next,
    )
}

pub async fn start(step: &Step<'_>) -> Progress {
    let sfn = match inputs::stepfunctions(&step.job.dispatch, step.artifacts).await {
        Ok(inputs) => inputs,
        Err(error) => return Progress::Finished(Outcome::Failed(error)),
    };
    let client = &step.clients.sfn;
    let machine = match client.describe_state_machine().state_machine_arn(&sfn.state_machine).send().await {
        Ok(machine) => machine,
        Err(error) => return CallError::of("DescribeStateMachine", &error).failed(),
    };
    let execution = match client
        .start_execution()
        .state_machine_arn(&sfn.state_machine)
        .name(&sfn.name)
        .input(&sfn.input)
        .send()
        .await
    {
        Ok(output) => output.execution_arn().to_string(),
        Err(error) => {
            let error = CallError::of("StartExecution", &error);
            // The name is this attempt's: an execution of that name is the one it started.
            match decide::execution_arn(&sfn.state_machine, &sfn.name) {
                Some(arn) if error.is("ExecutionAlreadyExists") => arn,
                _ => return error.failed(),
            }
        }
    };
    step.say(&format!("StartExecution {} of {}", sfn.name, sfn.state_machine));
    let state = State { state_machine: sfn.state_machine, execution };
    if machine.r#type() == &StateMachineType::Express {
        let summary = format!("express execution {} started", sfn.name);
        return Progress::Finished(Outcome::Succeeded {
            output_variables: variables(&state),
            summary,
            external_execution_url: console_url(step, &state.execution),
            revision: None,
        });
    }
    wait(step, &state, 0, step.announced())
}

pub async fn poll(step: &Step<'_>, waiting: &Waiting) -> Progress {
    let state: State = match serde_json::from_value(waiting.state.clone()) {
        Ok(state) => state,
        Err(error) => return Progress::failed(FailureType::JobFailed, format!("unreadable wait state: {error}")),
    };
    let polls = waiting.polls + 1;
    let output = match step.clients.sfn.describe_execution().execution_arn(&state.execution).send().await {
        Ok(output) => output,
        Err(error) => {
            let error = CallError::of("DescribeExecution", &error);
            return if error.transient { wait(step, &state, polls, NextLook::Polled) } else { error.failed() };
        }
    };
    let name = output.name().unwrap_or(&state.execution).to_string();
    match decide::state(&name, output.status().as_str(), output.error(), output.cause()) {
        ExecutionState::Running => wait(step, &state, polls, step.announced()),
        ExecutionState::Succeeded => {
            let result = output.output().unwrap_or("{}");
            if let Err(error) = write_output(step, &[(decide::OUTPUT_FILE.to_string(), result.to_string())]).await {
                return Progress::Finished(Outcome::Failed(error));
            }
            let summary = format!("execution {name} succeeded");
            step.say(&summary);
            Progress::Finished(Outcome::Succeeded {
                output_variables: variables(&state),
                summary,
                external_execution_url: console_url(step, &state.execution),
                revision: None,
            })
        }
        ExecutionState::Failed(message) => Progress::failed(FailureType::JobFailed, message),
    }
}
