//! The CloudFormation deploy action over the SDK (docs/reference/cloudformation.md §7,
//! docs/providers.md §4). `start` reads the template and parameters, looks at the stack and
//! makes the mode's first call; `poll` looks again and makes the next call when a step is
//! over (a failed stack's deletion, then its creation). Every mutating call carries a token
//! derived from the job, so a start repeated after a crash finds the operation its first run
//! began (by the token on the stack's events) and waits for it instead.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, Tag};
use serde::{Deserialize, Serialize};

use pipewright_core::deploy::NextLook;
use pipewright_core::deploy::cloudformation::{
    self as cfn, ActionMode, ChangeSetKind, ChangeSetState, Operation, Settled, StackEvent, Start,
};
use pipewright_core::deploy::{client_token, config};
use pipewright_core::engine::FailureType;
use pipewright_providers::deploy::inputs::{self, CloudFormationInputs};
use pipewright_providers::deploy::{Progress, Waiting};
use pipewright_providers::{ActionError, Outcome};

use crate::artifacts::write_output;
use crate::errors::CallError;
use crate::{Step, waiting};

/// What a waiting CloudFormation action keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "camelCase")]
enum State {
    /// Decide again from the stack's status: it was busy, or a call failed for a moment.
    Begin,
    /// Our operation on the stack; `then_create` after a failed stack's deletion.
    #[serde(rename_all = "camelCase")]
    Stack {
        stack_id: String,
        operation: Operation,
        #[serde(default)]
        then_create: bool,
    },
    /// Our change set being created.
    #[serde(rename_all = "camelCase")]
    ChangeSet { stack_id: String, change_set_id: String },
}

/// A stack as DescribeStacks shows it.
struct Stack {
    id: String,
    status: String,
    reason: Option<String>,
    outputs: BTreeMap<String, String>,
}

/// Our operation on the stack ends in a `*_COMPLETE` or `*_FAILED` status, which the stack's
/// status-change event announces; a change set being made, a busy stack and a call that
/// failed for a moment are announced by nothing, and looked at on the ordinary schedule.
fn wait(step: &Step<'_>, state: &State, external_id: &str, status: String, polls: u32) -> Progress {
    let url = console_url(step, external_id);
    let next = if matches!(state, State::Stack { .. }) { step.announced() } else { NextLook::Polled };
    waiting(serde_json::to_value(state).unwrap_or_default(), external_id, status, polls, url, next)
}

fn console_url(step: &Step<'_>, stack_id: &str) -> Option<String> {
    (step.clients.on_aws && stack_id.starts_with("arn:")).then(|| {
        format!(
            "https://console.aws.amazon.com/cloudformation/home?region={}#/stacks/stackinfo?stackId={}",
            step.clients.region,
            stack_id.replace(':', "%3A").replace('/', "%2F")
        )
    })
}

fn failed(error: ActionError) -> Progress {
    Progress::Finished(Outcome::Failed(error))
}

/// A transient error waits and begins again; any other ends the action.
fn retry_or_fail(step: &Step<'_>, error: CallError, polls: u32) -> Progress {
    if error.transient {
        step.say(&format!("{error}; trying again"));
        return wait(step, &State::Begin, &stack_name(step), format!("retrying after: {error}"), polls + 1);
    }
    error.failed()
}

fn stack_name(step: &Step<'_>) -> String {
    config(&step.job.dispatch.configuration, "StackName").unwrap_or_default().to_string()
}

pub async fn start(step: &Step<'_>) -> Progress {
    match inputs::cloudformation(&step.job.dispatch, step.artifacts).await {
        Ok(inputs) => begin(step, &inputs, 0).await,
        Err(error) => failed(error),
    }
}

pub async fn poll(step: &Step<'_>, waiting: &Waiting) -> Progress {
    let state: State = match serde_json::from_value(waiting.state.clone()) {
        Ok(state) => state,
        Err(error) => return Progress::failed(FailureType::JobFailed, format!("unreadable wait state: {error}")),
    };
    let polls = waiting.polls + 1;
    match state {
        State::Begin => match inputs::cloudformation(&step.job.dispatch, step.artifacts).await {
            Ok(inputs) => begin(step, &inputs, polls).await,
            Err(error) => failed(error),
        },
        State::Stack { stack_id, operation, then_create } => {
            let stack = match describe(step, &stack_id).await {
                Ok(stack) => stack,
                Err(error) => return retry_or_fail(step, error, polls),
            };
            let status = stack.as_ref().map(|s| s.status.as_str());
            match cfn::settled(operation, status) {
                Settled::Pending => {
                    let status = format!("stack {} {}", stack_name(step), status.unwrap_or("?"));
                    wait(
                        step,
                        &State::Stack { stack_id: stack_id.clone(), operation, then_create },
                        &stack_id,
                        status,
                        polls,
                    )
                }
                Settled::Succeeded if then_create => {
                    match inputs::cloudformation(&step.job.dispatch, step.artifacts).await {
                        Ok(inputs) => {
                            step.say(&format!("stack {} deleted; creating it again", inputs.stack));
                            create(step, &inputs, "replace-create", polls).await
                        }
                        Err(error) => failed(error),
                    }
                }
                Settled::Succeeded if operation == Operation::Delete => {
                    succeeded(step, BTreeMap::new(), format!("stack {} deleted", stack_name(step)), &stack_id)
                }
                Settled::Succeeded => {
                    let summary = format!("stack {} {}", stack_name(step), status.unwrap_or_default());
                    finish(step, stack, summary).await
                }
                Settled::Failed => stack_failed(step, &stack_id, stack.as_ref()).await,
            }
        }
        State::ChangeSet { stack_id, change_set_id } => {
            let output =
                match step.clients.cloudformation.describe_change_set().change_set_name(&change_set_id).send().await {
                    Ok(output) => output,
                    Err(error) => return retry_or_fail(step, CallError::of("DescribeChangeSet", &error), polls),
                };
            let status = output.status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
            match cfn::change_set_state(status, output.status_reason()) {
                ChangeSetState::Pending => wait(
                    step,
                    &State::ChangeSet { stack_id: stack_id.clone(), change_set_id: change_set_id.clone() },
                    &stack_id,
                    format!("change set {status}"),
                    polls,
                ),
                ChangeSetState::Ready => {
                    let summary = format!(
                        "change set {} created for stack {}",
                        output.change_set_name().unwrap_or_default(),
                        stack_name(step)
                    );
                    change_set_made(step, &stack_id, summary).await
                }
                ChangeSetState::Empty => {
                    change_set_made(
                        step,
                        &stack_id,
                        format!("no changes to stack {}: the change set is empty", stack_name(step)),
                    )
                    .await
                }
                ChangeSetState::Failed(message) => Progress::failed(FailureType::JobFailed, message),
            }
        }
    }
}

/// The mode's first call, from the stack's current status.
async fn begin(step: &Step<'_>, inputs: &CloudFormationInputs, polls: u32) -> Progress {
    let stack = match describe(step, &inputs.stack).await {
        Ok(stack) => stack,
        Err(error) => return retry_or_fail(step, error, polls),
    };
    // A start repeated after a crash waits for what its first run began.
    if let Some(existing) = &stack {
        match events(step, &existing.id).await {
            Ok(events) => {
                if let Some(operation) = cfn::started_by(&events, &step.job.dispatch.job_id) {
                    step.say(&format!(
                        "stack {} is already under this job's {operation:?}; waiting for it",
                        inputs.stack
                    ));
                    let then_create = inputs.mode == ActionMode::ReplaceOnFailure && operation == Operation::Delete;
                    let state = State::Stack { stack_id: existing.id.clone(), operation, then_create };
                    return wait(
                        step,
                        &state,
                        &existing.id,
                        format!("stack {} {}", inputs.stack, existing.status),
                        polls,
                    );
                }
            }
            Err(error) => return retry_or_fail(step, error, polls),
        }
    }
    let status = stack.as_ref().map(|s| s.status.as_str());
    let decision = cfn::start(inputs.mode, &inputs.stack, status);
    step.say(&format!(
        "{} stack {}: {}; {decision:?}",
        inputs.mode.as_str(),
        inputs.stack,
        status.unwrap_or("does not exist")
    ));
    match decision {
        Start::Create => create(step, inputs, "create", polls).await,
        Start::Update => update(step, inputs, stack, polls).await,
        Start::Replace | Start::Delete => {
            let Some(stack) = stack else { return Progress::failed(FailureType::JobFailed, "the stack vanished") };
            let then_create = decision == Start::Replace;
            let token = client_token(&step.job.dispatch.job_id, if then_create { "replace-delete" } else { "delete" });
            let mut request =
                step.clients.cloudformation.delete_stack().stack_name(&stack.id).client_request_token(token);
            if let Some(role) = &inputs.role_arn {
                request = request.role_arn(role);
            }
            match request.send().await {
                Ok(_) => {
                    let state = State::Stack { stack_id: stack.id.clone(), operation: Operation::Delete, then_create };
                    wait(step, &state, &stack.id, format!("stack {} DELETE_IN_PROGRESS", inputs.stack), polls)
                }
                Err(error) => retry_or_fail(step, CallError::of("DeleteStack", &error), polls),
            }
        }
        Start::NothingToDelete => {
            succeeded(step, BTreeMap::new(), format!("stack {} does not exist: nothing to delete", inputs.stack), "")
        }
        Start::CreateChangeSet(kind) => create_change_set(step, inputs, kind, stack, polls).await,
        Start::ExecuteChangeSet => execute_change_set(step, inputs, stack, polls).await,
        Start::WaitForStack => {
            let id = stack.as_ref().map_or(inputs.stack.clone(), |s| s.id.clone());
            let status =
                format!("stack {} is busy ({}); waiting for it to settle", inputs.stack, status.unwrap_or_default());
            step.say(&status);
            wait(step, &State::Begin, &id, status, polls)
        }
        Start::Fail(message) => Progress::failed(FailureType::JobFailed, message),
    }
}

fn parameters(inputs: &CloudFormationInputs) -> Vec<Parameter> {
    inputs.parameters.iter().map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build()).collect()
}

fn tags(inputs: &CloudFormationInputs) -> Option<Vec<Tag>> {
    (!inputs.tags.is_empty()).then(|| inputs.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect())
}

fn capabilities(inputs: &CloudFormationInputs) -> Option<Vec<Capability>> {
    let mut capabilities: Vec<String> = inputs.capabilities.clone();
    // A template with a transform (SAM) cannot be created without it.
    if inputs.template.as_ref().is_some_and(|t| t.shape.has_transform)
        && !capabilities.iter().any(|c| c == "CAPABILITY_AUTO_EXPAND")
    {
        capabilities.push("CAPABILITY_AUTO_EXPAND".to_string());
    }
    (!capabilities.is_empty()).then(|| capabilities.iter().map(|c| Capability::from(c.as_str())).collect())
}

/// `TemplateBody`, or `TemplateURL` of a copy in the artifact store for a template over
/// 51,200 bytes.
enum Body {
    Inline(String),
    Url(String),
}

async fn template_body(step: &Step<'_>, inputs: &CloudFormationInputs) -> Result<Body, ActionError> {
    let template = inputs
        .template
        .as_ref()
        .ok_or_else(|| pipewright_providers::deploy::configuration_error("TemplatePath is required"))?;
    if template.text.len() <= cfn::TEMPLATE_BODY_LIMIT {
        return Ok(Body::Inline(template.text.clone()));
    }
    let dispatch = &step.job.dispatch;
    let artifact = template.path.split("::").next().unwrap_or_default();
    let (bucket, _) = crate::artifacts::s3_object(step, artifact).await?;
    let key = format!("{}/templates/{}.template", dispatch.pipeline, dispatch.job_id);
    let kms = dispatch.encryption_key.as_ref().map(|k| k.id.as_str());
    let mut request =
        step.regional.s3.put_object().bucket(&bucket).key(&key).body(template.text.clone().into_bytes().into());
    if let Some(kms) = kms {
        request = request.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms).ssekms_key_id(kms);
    }
    request.send().await.map_err(|e| ActionError {
        kind: FailureType::SystemUnavailable,
        message: format!("cannot stage the template in s3://{bucket}/{key}: {}", CallError::of("PutObject", &e)),
    })?;
    Ok(Body::Url(format!("https://{bucket}.s3.{}.amazonaws.com/{key}", step.clients.region)))
}

async fn create(step: &Step<'_>, inputs: &CloudFormationInputs, token_step: &str, polls: u32) -> Progress {
    let body = match template_body(step, inputs).await {
        Ok(body) => body,
        Err(error) => return failed(error),
    };
    let mut request = step
        .clients
        .cloudformation
        .create_stack()
        .stack_name(&inputs.stack)
        .set_parameters(Some(parameters(inputs)))
        .set_capabilities(capabilities(inputs))
        .set_tags(tags(inputs))
        .set_role_arn(inputs.role_arn.clone())
        .set_stack_policy_body(inputs.stack_policy.clone())
        .client_request_token(client_token(&step.job.dispatch.job_id, token_step));
    request = match body {
        Body::Inline(text) => request.template_body(text),
        Body::Url(url) => request.template_url(url),
    };
    match request.send().await {
        Ok(output) => {
            let id = output.stack_id().unwrap_or(&inputs.stack).to_string();
            step.say(&format!("CreateStack {}: {id}", inputs.stack));
            let state = State::Stack { stack_id: id.clone(), operation: Operation::Create, then_create: false };
            wait(step, &state, &id, format!("stack {} CREATE_IN_PROGRESS", inputs.stack), polls)
        }
        // Someone created it meanwhile: decide again from what it is now.
        Err(error) if CallError::of("CreateStack", &error).is("AlreadyExistsException") => {
            wait(step, &State::Begin, &inputs.stack, format!("stack {} appeared meanwhile", inputs.stack), polls)
        }
        Err(error) => retry_or_fail(step, CallError::of("CreateStack", &error), polls),
    }
}

async fn update(step: &Step<'_>, inputs: &CloudFormationInputs, stack: Option<Stack>, polls: u32) -> Progress {
    let Some(stack) = stack else { return Progress::failed(FailureType::JobFailed, "the stack vanished") };
    let body = match template_body(step, inputs).await {
        Ok(body) => body,
        Err(error) => return failed(error),
    };
    let mut request = step
        .clients
        .cloudformation
        .update_stack()
        .stack_name(&stack.id)
        .set_parameters(Some(parameters(inputs)))
        .set_capabilities(capabilities(inputs))
        .set_tags(tags(inputs))
        .set_role_arn(inputs.role_arn.clone())
        .set_stack_policy_body(inputs.stack_policy.clone())
        .client_request_token(client_token(&step.job.dispatch.job_id, "update"));
    request = match body {
        Body::Inline(text) => request.template_body(text),
        Body::Url(url) => request.template_url(url),
    };
    match request.send().await {
        Ok(_) => {
            step.say(&format!("UpdateStack {}", inputs.stack));
            let state = State::Stack { stack_id: stack.id.clone(), operation: Operation::Update, then_create: false };
            wait(step, &state, &stack.id, format!("stack {} UPDATE_IN_PROGRESS", inputs.stack), polls)
        }
        Err(error) => {
            let error = CallError::of("UpdateStack", &error);
            if cfn::is_no_changes(&error.message) {
                step.say(&format!("stack {}: no updates are to be performed", inputs.stack));
                let summary = format!("stack {} unchanged: no updates are to be performed", inputs.stack);
                return finish(step, Some(stack), summary).await;
            }
            retry_or_fail(step, error, polls)
        }
    }
}

async fn create_change_set(
    step: &Step<'_>,
    inputs: &CloudFormationInputs,
    kind: ChangeSetKind,
    stack: Option<Stack>,
    polls: u32,
) -> Progress {
    let name = inputs.change_set.clone().unwrap_or_default();
    let cloudformation = &step.clients.cloudformation;
    // "Deletes it, then creates a new one": a change set of the same name is replaced.
    if stack.is_some() {
        match cloudformation.describe_change_set().stack_name(&inputs.stack).change_set_name(&name).send().await {
            Ok(existing) => {
                if let Err(error) = cloudformation
                    .delete_change_set()
                    .stack_name(&inputs.stack)
                    .change_set_name(existing.change_set_id().unwrap_or(&name))
                    .send()
                    .await
                {
                    return retry_or_fail(step, CallError::of("DeleteChangeSet", &error), polls);
                }
                step.say(&format!("deleted the earlier change set {name}"));
            }
            Err(error) => {
                let error = CallError::of("DescribeChangeSet", &error);
                if !(error.is("ChangeSetNotFound") || error.is("ChangeSetNotFoundException")) {
                    return retry_or_fail(step, error, polls);
                }
            }
        }
    }
    let body = match template_body(step, inputs).await {
        Ok(body) => body,
        Err(error) => return failed(error),
    };
    let mut request = cloudformation
        .create_change_set()
        .stack_name(&inputs.stack)
        .change_set_name(&name)
        .change_set_type(ChangeSetType::from(kind.as_str()))
        .set_parameters(Some(parameters(inputs)))
        .set_capabilities(capabilities(inputs))
        .set_tags(tags(inputs))
        .set_role_arn(inputs.role_arn.clone())
        .client_token(client_token(&step.job.dispatch.job_id, "changeset"));
    request = match body {
        Body::Inline(text) => request.template_body(text),
        Body::Url(url) => request.template_url(url),
    };
    match request.send().await {
        Ok(output) => {
            let change_set_id = output.id().unwrap_or(&name).to_string();
            let stack_id = output.stack_id().unwrap_or(&inputs.stack).to_string();
            step.say(&format!("CreateChangeSet {name} ({}) for stack {}", kind.as_str(), inputs.stack));
            wait(
                step,
                &State::ChangeSet { stack_id: stack_id.clone(), change_set_id },
                &stack_id,
                "change set CREATE_PENDING".into(),
                polls,
            )
        }
        Err(error) => {
            let error = CallError::of("CreateChangeSet", &error);
            // Some emulators refuse an empty change set at once; AWS creates it FAILED.
            if cfn::is_no_changes(&error.message) {
                let id = stack.as_ref().map_or(inputs.stack.clone(), |s| s.id.clone());
                return change_set_made(
                    step,
                    &id,
                    format!("no changes to stack {}: the change set is empty", inputs.stack),
                )
                .await;
            }
            retry_or_fail(step, error, polls)
        }
    }
}

async fn execute_change_set(
    step: &Step<'_>,
    inputs: &CloudFormationInputs,
    stack: Option<Stack>,
    polls: u32,
) -> Progress {
    let Some(stack) = stack else { return Progress::failed(FailureType::JobFailed, "the stack vanished") };
    let name = inputs.change_set.clone().unwrap_or_default();
    let cloudformation = &step.clients.cloudformation;
    let change_set = match cloudformation
        .describe_change_set()
        .stack_name(&stack.id)
        .change_set_name(&name)
        .send()
        .await
    {
        Ok(change_set) => change_set,
        Err(error) => {
            let error = CallError::of("DescribeChangeSet", &error);
            if error.is("ChangeSetNotFound") || error.is("ChangeSetNotFoundException") {
                return Progress::failed(
                    FailureType::JobFailed,
                    format!(
                        "change set {name} of stack {} does not exist: CloudFormation removes a change set once it is executed or its execution fails; retry the stage with all actions so that CHANGE_SET_REPLACE makes it again",
                        inputs.stack
                    ),
                );
            }
            return retry_or_fail(step, error, polls);
        }
    };
    let status = change_set.status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
    let execution = change_set.execution_status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
    // A REVIEW_IN_PROGRESS stack is created by its change set; any other is updated.
    let operation = if stack.status == "REVIEW_IN_PROGRESS" { Operation::Create } else { Operation::Update };
    if cfn::change_set_state(status, change_set.status_reason()) == ChangeSetState::Empty {
        let summary = format!("no changes to stack {}: change set {name} is empty", inputs.stack);
        return finish(step, Some(stack), summary).await;
    }
    match execution {
        "AVAILABLE" => {
            let token = client_token(&step.job.dispatch.job_id, "execute");
            let request = cloudformation
                .execute_change_set()
                .stack_name(&stack.id)
                .change_set_name(change_set.change_set_id().unwrap_or(&name))
                .client_request_token(token);
            if let Err(error) = request.send().await {
                return retry_or_fail(step, CallError::of("ExecuteChangeSet", &error), polls);
            }
            step.say(&format!("ExecuteChangeSet {name} of stack {}", inputs.stack));
        }
        "EXECUTE_IN_PROGRESS" | "EXECUTE_COMPLETE" => {
            step.say(&format!("change set {name} is {execution}: waiting for the stack"));
        }
        other => {
            return Progress::failed(
                FailureType::JobFailed,
                format!(
                    "change set {name} of stack {} cannot be executed: it is {status}, execution {other}{}",
                    inputs.stack,
                    change_set.status_reason().map(|r| format!(" ({r})")).unwrap_or_default()
                ),
            );
        }
    }
    let state = State::Stack { stack_id: stack.id.clone(), operation, then_create: false };
    wait(step, &state, &stack.id, format!("stack {} executing change set {name}", inputs.stack), polls)
}

/// CHANGE_SET_REPLACE is done: the outputs are the current stack's, when it exists.
async fn change_set_made(step: &Step<'_>, stack_id: &str, summary: String) -> Progress {
    match describe(step, stack_id).await {
        Ok(Some(stack)) if stack.status != "REVIEW_IN_PROGRESS" => finish(step, Some(stack), summary).await,
        Ok(_) => succeeded(step, BTreeMap::new(), summary, stack_id),
        Err(error) => retry_or_fail(step, error, 0),
    }
}

/// Success: the stack's outputs become the output variables and the `OutputFileName` file.
async fn finish(step: &Step<'_>, stack: Option<Stack>, summary: String) -> Progress {
    let dispatch = &step.job.dispatch;
    let mode = config(&dispatch.configuration, "ActionMode").and_then(|m| ActionMode::parse(m).ok());
    let outputs = match (&stack, mode) {
        (Some(stack), Some(mode)) if mode.gives_outputs() => stack.outputs.clone(),
        _ => BTreeMap::new(),
    };
    if let Some(file) = config(&dispatch.configuration, "OutputFileName")
        && let Err(error) = write_output(step, &[(file.to_string(), cfn::outputs_file(&outputs))]).await
    {
        return failed(error);
    }
    let id = stack.as_ref().map(|s| s.id.clone()).unwrap_or_default();
    succeeded(step, outputs, summary, &id)
}

fn succeeded(step: &Step<'_>, outputs: BTreeMap<String, String>, summary: String, stack_id: &str) -> Progress {
    step.say(&summary);
    Progress::Finished(Outcome::Succeeded {
        output_variables: outputs,
        summary,
        external_execution_url: console_url(step, stack_id),
        revision: None,
    })
}

async fn stack_failed(step: &Step<'_>, stack_id: &str, stack: Option<&Stack>) -> Progress {
    let name = stack_name(step);
    let Some(stack) = stack else {
        return Progress::failed(FailureType::JobFailed, format!("stack {name} no longer exists"));
    };
    let events = events(step, stack_id).await.unwrap_or_default();
    let message = cfn::failure_message(&name, &stack.status, stack.reason.as_deref(), &events);
    step.say(&message);
    Progress::failed(FailureType::JobFailed, message)
}

/// The stack by name or id; `None` when it does not exist.
async fn describe(step: &Step<'_>, stack: &str) -> Result<Option<Stack>, CallError> {
    match step.clients.cloudformation.describe_stacks().stack_name(stack).send().await {
        Ok(output) => Ok(output.stacks().first().map(|s| Stack {
            id: s.stack_id().unwrap_or(stack).to_string(),
            status: s.stack_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            reason: s.stack_status_reason().map(String::from),
            outputs: s
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value().unwrap_or_default().to_string())))
                .collect(),
        })),
        Err(error) => {
            let error = CallError::of("DescribeStacks", &error);
            if error.is("ValidationError") && error.message.contains("does not exist") { Ok(None) } else { Err(error) }
        }
    }
}

/// The stack's newest events (one page, newest first).
async fn events(step: &Step<'_>, stack_id: &str) -> Result<Vec<StackEvent>, CallError> {
    let output = step
        .clients
        .cloudformation
        .describe_stack_events()
        .stack_name(stack_id)
        .send()
        .await
        .map_err(|e| CallError::of("DescribeStackEvents", &e))?;
    Ok(output
        .stack_events()
        .iter()
        .map(|e| StackEvent {
            logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
            resource_type: e.resource_type().unwrap_or_default().to_string(),
            status: e.resource_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            reason: e.resource_status_reason().map(String::from),
            client_request_token: e.client_request_token().map(String::from),
        })
        .collect())
}
