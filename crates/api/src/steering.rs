//! RetryStageExecution, DisableStageTransition, EnableStageTransition, PutApprovalResult.

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::engine::{ApprovalResult, ApprovalStatus, Event, Execution, RetryStage, SetTransition, Stale};
use pipewright_core::pipeline::RetryMode;
use pipewright_core::service::Handled;

use crate::protocol::{ApiError, check_execution_id, check_text, required, required_name};
use crate::reads::{execution_of, waits};
use crate::{Caller, ControlPlane, seconds, service_error};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryInput {
    pipeline_name: Option<String>,
    stage_name: Option<String>,
    pipeline_execution_id: Option<String>,
    retry_mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionInput {
    pipeline_name: Option<String>,
    stage_name: Option<String>,
    transition_type: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalInput {
    pipeline_name: Option<String>,
    stage_name: Option<String>,
    action_name: Option<String>,
    result: Option<ApprovalResultInput>,
    token: Option<String>,
}

#[derive(Deserialize)]
pub struct ApprovalResultInput {
    summary: Option<String>,
    status: Option<String>,
}

pub async fn retry<C: ControlPlane>(plane: &C, caller: &Caller, input: RetryInput) -> Result<Value, ApiError> {
    let pipeline = required_name(input.pipeline_name, "pipelineName")?;
    let stage = required_name(input.stage_name, "stageName")?;
    let id = required(input.pipeline_execution_id, "pipelineExecutionId")?;
    check_execution_id(&id, "pipelineExecutionId")?;
    let mode = match required(input.retry_mode, "retryMode")?.as_str() {
        "FAILED_ACTIONS" => RetryMode::FailedActions,
        "ALL_ACTIONS" => RetryMode::AllActions,
        other => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'retryMode' failed to satisfy constraint: Member must satisfy enum value set: [FAILED_ACTIONS, ALL_ACTIONS]"
            )));
        }
    };
    let execution = execution_of(plane, &pipeline, &id).await?;
    let event = Event::RetryStage(RetryStage {
        execution_id: id.clone(),
        stage,
        mode,
        by: Some(caller.name()),
        expected_attempt: Some(execution.attempt),
    });
    plane.submit(&pipeline, &event).await.map_err(service_error)?;
    Ok(json!({ "pipelineExecutionId": id }))
}

/// `[a-zA-Z0-9!@ \(\)\.\*\?\-]+`: the reason of DisableStageTransition.
fn reason_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '@' | ' ' | '(' | ')' | '.' | '*' | '?' | '-')
}

pub async fn transition<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    input: TransitionInput,
    enabled: bool,
) -> Result<Value, ApiError> {
    let pipeline = required_name(input.pipeline_name, "pipelineName")?;
    let named = required_name(input.stage_name, "stageName")?;
    let outbound = match required(input.transition_type, "transitionType")?.as_str() {
        "Inbound" => false,
        "Outbound" => true,
        other => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'transitionType' failed to satisfy constraint: Member must satisfy enum value set: [Inbound, Outbound]"
            )));
        }
    };
    let reason = if enabled {
        None
    } else {
        let reason = required(input.reason, "reason")?;
        check_text(&reason, "reason", 1, 300, reason_char)?;
        Some(reason)
    };
    let pipeline_version = plane.cache().current(plane.store(), &pipeline).await.map_err(service_error)?;
    let Some(index) = pipeline_version.stage_index(&named) else {
        return Err(ApiError::client(
            "StageNotFoundException",
            format!("Stage '{named}' does not exist in pipeline '{pipeline}'"),
        ));
    };
    // A stage's outbound transition is the one gate between it and the next stage, shown as
    // that stage's inbound transition (GetPipelineState has no other).
    let stage = if outbound {
        match pipeline_version.stages.get(index + 1) {
            Some(next) => next.name.clone(),
            None => {
                return Err(ApiError::validation(format!(
                    "stageName: \"{named}\" is the last stage; it has no outbound transition"
                )));
            }
        }
    } else {
        named
    };
    let event = Event::SetTransition(SetTransition {
        stage,
        enabled,
        reason,
        by: Some(caller.name()),
        requested_at: plane.now(),
    });
    plane.submit(&pipeline, &event).await.map_err(service_error)?;
    Ok(json!({}))
}

/// Every execution of `pipeline` whose `stage`/`action` ever had `token`: the stage's latest
/// execution first, then every unfinished one (several wait at once in PARALLEL mode).
async fn holder_of_token<C: ControlPlane>(
    plane: &C,
    pipeline: &str,
    stage: &str,
    action: &str,
    token: &str,
) -> Result<Option<Execution>, ApiError> {
    let has_token = |execution: &Execution| {
        execution
            .stage_index(stage)
            .and_then(|s| execution.stages[s].action_index(action).map(|a| &execution.stages[s].actions[a]))
            .is_some_and(|run| run.attempts.iter().any(|attempt| attempt.token.as_deref() == Some(token)))
    };
    if let Some(execution) = crate::reads::latest_in_stage(plane, pipeline, stage).await?
        && has_token(&execution)
    {
        return Ok(Some(execution));
    }
    Ok(crate::reads::active_executions(plane, pipeline).await?.into_iter().find(|e| has_token(e)))
}

pub async fn approval<C: ControlPlane>(plane: &C, caller: &Caller, input: ApprovalInput) -> Result<Value, ApiError> {
    let pipeline = required_name(input.pipeline_name, "pipelineName")?;
    let stage = required_name(input.stage_name, "stageName")?;
    let action = required_name(input.action_name, "actionName")?;
    let result = required(input.result, "result")?;
    let status = match required(result.status, "result.status")?.as_str() {
        "Approved" => ApprovalStatus::Approved,
        "Rejected" => ApprovalStatus::Rejected,
        other => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'result.status' failed to satisfy constraint: Member must satisfy enum value set: [Approved, Rejected]"
            )));
        }
    };
    let summary = required(result.summary, "result.summary")?;
    check_text(&summary, "result.summary", 0, 512, |_| true)?;
    let token = required(input.token, "token")?;
    let pipeline_version = plane.cache().current(plane.store(), &pipeline).await.map_err(service_error)?;
    let Some(s) = pipeline_version.stage_index(&stage) else {
        return Err(ApiError::client(
            "StageNotFoundException",
            format!("Stage '{stage}' does not exist in pipeline '{pipeline}'"),
        ));
    };
    if pipeline_version.stages[s].action_index(&action).is_none() {
        return Err(ApiError::client(
            "ActionNotFoundException",
            format!("Action '{action}' does not exist in stage '{stage}' of pipeline '{pipeline}'"),
        ));
    }
    let Some(execution) = holder_of_token(plane, &pipeline, &stage, &action, &token).await? else {
        return Err(ApiError::client(
            "InvalidApprovalTokenException",
            format!("The token for {stage}/{action} of pipeline '{pipeline}' is not valid"),
        ));
    };
    if waits(&execution, &stage, &action) != Some(true) {
        return Err(already_completed(&stage, &action));
    }
    let event = Event::ApprovalResult(ApprovalResult {
        execution_id: execution.id.clone(),
        stage: stage.clone(),
        action: action.clone(),
        token,
        status,
        summary: (!summary.is_empty()).then_some(summary),
        by: Some(caller.name()),
    });
    match plane.submit(&pipeline, &event).await.map_err(service_error)? {
        Handled::Applied { .. } => Ok(json!({ "approvedAt": seconds(plane.now()) })),
        Handled::Stale(Stale::ActionFinished { .. }) | Handled::Stale(_) => Err(already_completed(&stage, &action)),
    }
}

fn already_completed(stage: &str, action: &str) -> ApiError {
    ApiError::client(
        "ApprovalAlreadyCompletedException",
        format!("The approval {stage}/{action} has already been answered, or is no longer waiting"),
    )
}
