//! The job workers' protocol: PutJobSuccessResult (with continuation tokens, output variables
//! and execution details), PutJobFailureResult and GetJobDetails. A job id is a capability:
//! a result is accepted only for the live job of the action's current attempt.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::artifact_access::{ArtifactCredentials, ArtifactScope};
use pipewright_core::declaration::ActionOwner;
use pipewright_core::engine::{
    self, ActionFailed, ActionStatus, ActionSucceeded, Dispatch, Effect, Event, Execution, FailureDetails, FailureType,
    JobContinued, JobRef, Revision,
};
use pipewright_core::jobs::lambda_job_event;
use pipewright_core::ports::StateStore;
use pipewright_core::service::Handled;
use pipewright_core::time::Timestamp;

use crate::protocol::{ApiError, check_execution_id, check_text, required};
use crate::{Caller, ControlPlane, service_error, store_error};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessInput {
    pub(crate) job_id: Option<String>,
    current_revision: Option<CurrentRevision>,
    continuation_token: Option<String>,
    execution_details: Option<ExecutionDetails>,
    output_variables: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentRevision {
    revision: Option<String>,
    change_identifier: Option<String>,
    created: Option<f64>,
    revision_summary: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDetails {
    summary: Option<String>,
    external_execution_id: Option<String>,
    percent_complete: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureInput {
    pub(crate) job_id: Option<String>,
    failure_details: Option<FailureDetailsInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureDetailsInput {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
    external_execution_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobInput {
    job_id: Option<String>,
}

/// The live job `job_id`: its execution and where it runs, or the errors CodePipeline gives
/// for an unknown job and for one that is no longer in progress.
pub(crate) struct LiveJob {
    pub(crate) pipeline: String,
    pub(crate) execution: Execution,
    job: JobRef,
}

fn job_not_found(job_id: &str) -> ApiError {
    ApiError::client("JobNotFoundException", format!("Job {job_id} does not exist"))
}

fn not_in_progress(job_id: &str) -> ApiError {
    ApiError::client(
        "InvalidJobStateException",
        format!("Job {job_id} is not in progress: its action finished, or a newer job or attempt replaced it"),
    )
}

pub(crate) async fn live_job<C: ControlPlane>(plane: &C, job_id: Option<String>) -> Result<LiveJob, ApiError> {
    let job_id = required(job_id, "jobId")?;
    check_execution_id(&job_id, "jobId")?;
    let store = plane.store();
    let location = store.find_job(&job_id).await.map_err(store_error)?.ok_or_else(|| job_not_found(&job_id))?;
    let execution = store
        .get_execution(&location.execution_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| job_not_found(&job_id))?
        .value;
    for stage in &execution.stages {
        for action in &stage.actions {
            for attempt in &action.attempts {
                let Some(job) = attempt.job.as_ref().filter(|j| j.id == job_id) else { continue };
                let current = action.attempts.last().is_some_and(|last| last.number == attempt.number);
                if !current || attempt.status != ActionStatus::InProgress {
                    return Err(not_in_progress(&job_id));
                }
                let job = JobRef {
                    execution_id: execution.id.clone(),
                    stage: stage.name.clone(),
                    action: action.name.clone(),
                    attempt: attempt.number,
                    job: job.sequence,
                    condition: None,
                };
                return Ok(LiveJob { pipeline: location.pipeline, execution, job });
            }
        }
        // The job of a rule: LambdaInvoke rules report like Lambda actions.
        for condition in &stage.conditions {
            for rule in &condition.rules {
                let Some(job) = rule.job.as_ref().filter(|j| j.id == job_id) else { continue };
                let job = JobRef {
                    execution_id: execution.id.clone(),
                    stage: stage.name.clone(),
                    action: rule.name.clone(),
                    attempt: condition.number,
                    job: job.sequence,
                    condition: Some(condition.kind),
                };
                if !engine::job_is_live(&execution, &job) {
                    return Err(not_in_progress(&job_id));
                }
                return Ok(LiveJob { pipeline: location.pipeline, execution, job });
            }
        }
    }
    // Recorded, but no attempt holds it now: an earlier job of a continued attempt.
    Err(not_in_progress(&job_id))
}

fn result_of(handled: Handled, job_id: &str) -> Result<Value, ApiError> {
    match handled {
        Handled::Applied { .. } => Ok(json!({})),
        Handled::Stale(_) => Err(not_in_progress(job_id)),
    }
}

/// PutJobSuccessResult, or PutThirdPartyJobSuccessResult (`protocol` ThirdParty).
pub async fn succeed<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    input: SuccessInput,
    protocol: ActionOwner,
) -> Result<Value, ApiError> {
    let job_id = input.job_id.clone().unwrap_or_default();
    let live = live_job(plane, input.job_id).await?;
    check_job_type(plane, caller, &live.execution, &job_id, protocol).await?;
    let details = input.execution_details;
    let summary = details.as_ref().and_then(|d| d.summary.clone());
    if let Some(summary) = &summary {
        check_text(summary, "executionDetails.summary", 1, 2048, |_| true)?;
    }
    let external_execution_id = details.as_ref().and_then(|d| d.external_execution_id.clone());
    let percent_complete = match details.as_ref().and_then(|d| d.percent_complete) {
        None => None,
        Some(p @ 0..=100) => Some(p as u8),
        Some(p) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{p}' at 'executionDetails.percentComplete' failed to satisfy constraint: Member must have value between 0 and 100"
            )));
        }
    };
    let event = match input.continuation_token {
        Some(token) => {
            check_text(&token, "continuationToken", 1, 2048, |_| true)?;
            Event::JobContinued(JobContinued {
                job: live.job,
                continuation_token: token,
                summary,
                percent_complete,
                external_execution_id,
            })
        }
        None => {
            let revision = match input.current_revision {
                None => None,
                Some(r) => Some(Revision {
                    revision_id: required(r.revision, "currentRevision.revision")?,
                    change_identifier: Some(required(r.change_identifier, "currentRevision.changeIdentifier")?),
                    summary: r.revision_summary,
                    url: None,
                    created: r.created.map(|s| Timestamp::from_millis((s * 1000.0) as i64)),
                }),
            };
            Event::ActionSucceeded(ActionSucceeded {
                job: live.job,
                output_variables: input.output_variables.unwrap_or_default(),
                summary,
                external_execution_id,
                external_execution_url: None,
                revision,
                by: Some(caller.name()),
                details: None,
            })
        }
    };
    let handled = plane.submit(&live.pipeline, &event).await.map_err(service_error)?;
    result_of(handled, &job_id)
}

/// PutJobFailureResult, or PutThirdPartyJobFailureResult (`protocol` ThirdParty).
pub async fn fail<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    input: FailureInput,
    protocol: ActionOwner,
) -> Result<Value, ApiError> {
    let job_id = input.job_id.clone().unwrap_or_default();
    let details = required(input.failure_details, "failureDetails")?;
    let kind = match required(details.kind, "failureDetails.type")?.as_str() {
        "JobFailed" => FailureType::JobFailed,
        "ConfigurationError" => FailureType::ConfigurationError,
        "PermissionError" => FailureType::PermissionError,
        "RevisionOutOfSync" => FailureType::RevisionOutOfSync,
        "RevisionUnavailable" => FailureType::RevisionUnavailable,
        "SystemUnavailable" => FailureType::SystemUnavailable,
        other => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'failureDetails.type' failed to satisfy constraint: Member must satisfy enum value set: [JobFailed, ConfigurationError, PermissionError, RevisionOutOfSync, RevisionUnavailable, SystemUnavailable]"
            )));
        }
    };
    let message = required(details.message, "failureDetails.message")?;
    check_text(&message, "failureDetails.message", 1, 5000, |_| true)?;
    let live = live_job(plane, input.job_id).await?;
    check_job_type(plane, caller, &live.execution, &job_id, protocol).await?;
    let event = Event::ActionFailed(ActionFailed {
        job: live.job,
        failure: FailureDetails { kind, message, external_execution_id: details.external_execution_id },
        details: None,
    });
    let handled = plane.submit(&live.pipeline, &event).await.map_err(service_error)?;
    result_of(handled, &job_id)
}

/// The job `job_id` of a live job as it was dispatched: the engine rebuilds it from the
/// stored execution.
pub(crate) async fn dispatched<C: ControlPlane>(
    plane: &C,
    execution: &Execution,
    job_id: &str,
) -> Result<Dispatch, ApiError> {
    let version = plane.cache().pinned(plane.store(), execution).await.map_err(service_error)?;
    engine::work_in_flight(&version, execution, plane.now())
        .into_iter()
        .find_map(|work| match work.effect {
            Effect::Dispatch(d) if d.job_id == job_id => Some(*d),
            _ => None,
        })
        .ok_or_else(|| not_in_progress(job_id))
}

/// Refuses a caller signed with one action type's key when job `job_id` of `execution` is of
/// another type, or of the other protocol than `protocol` (`action_type_keys::check_job`);
/// other callers are not asked about, at no read.
pub(crate) async fn check_job_type<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    execution: &Execution,
    job_id: &str,
    protocol: ActionOwner,
) -> Result<(), ApiError> {
    if caller.action_type_key.is_none() {
        return Ok(());
    }
    let dispatch = dispatched(plane, execution, job_id).await?;
    crate::action_type_keys::check_job(caller, &dispatch.action_type, protocol)
}

/// The `artifactCredentials` of live job `job_id` and the objects they reach: what an
/// artifact store endpoint checks a request signed with a job's credentials against. A job
/// that ended (or never was) reaches nothing.
pub async fn job_artifact_access<C: ControlPlane>(
    plane: &C,
    job_id: &str,
) -> Result<(ArtifactCredentials, ArtifactScope), ApiError> {
    let live = live_job(plane, Some(job_id.to_string())).await?;
    let dispatch = dispatched(plane, &live.execution, job_id).await?;
    let credentials = plane.artifact_credentials(&live.execution, &dispatch).await.map_err(ApiError::internal)?;
    Ok((credentials, ArtifactScope::of(&dispatch)))
}

/// `JobData` of a job (and `ThirdPartyJobData`): its configuration, artifacts with their
/// `artifactCredentials`, continuation token, `actionTypeId` and `pipelineContext`.
pub(crate) async fn job_data<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    execution: &Execution,
    dispatch: &Dispatch,
) -> Result<Value, ApiError> {
    let credentials = plane.artifact_credentials(execution, dispatch).await.map_err(|message| ApiError {
        status: 503,
        exception: "ServiceUnavailableException",
        message: format!("cannot make the job's artifact credentials: {message}"),
    })?;
    let event = lambda_job_event(dispatch, plane.account(), &credentials);
    let mut data = event["CodePipeline.job"]["data"].clone();
    data["actionTypeId"] = json!(dispatch.action_type);
    data["pipelineContext"] = json!({
        "pipelineName": dispatch.pipeline,
        "stage": { "name": dispatch.stage },
        "action": { "name": dispatch.action, "actionExecutionId": dispatch.action_execution_id },
        "pipelineArn": crate::arn(plane, caller, &dispatch.pipeline),
        "pipelineExecutionId": execution.id,
    });
    Ok(data)
}

pub async fn details<C: ControlPlane>(plane: &C, caller: &Caller, input: JobInput) -> Result<Value, ApiError> {
    let job_id = input.job_id.clone().unwrap_or_default();
    let live = live_job(plane, input.job_id).await?;
    let dispatch = dispatched(plane, &live.execution, &job_id).await?;
    crate::action_type_keys::check_job(caller, &dispatch.action_type, ActionOwner::Custom)?;
    let data = job_data(plane, caller, &live.execution, &dispatch).await?;
    Ok(json!({ "jobDetails": { "id": job_id, "accountId": plane.account(), "data": data } }))
}
