//! Services' events about work an action waits for (docs/providers.md §13, "CodeBuild on
//! AWS"). A provider's wait is kept with its attempt and looked at again by the minute tick;
//! an event saying the work ended makes that look happen now: the waiting job is rebuilt
//! from the execution and run through invoke-action's own path ([`dispatched`]), which asks
//! the service for the result (a build's look holds no claim: of the event's look and the
//! tick's at once, the first to commit wins and the other's is stale).
//! An event that is lost changes nothing: the tick's look comes anyway.

use serde_json::Value;

use pipewright_core::deploy::codebuild as build;
use std::sync::Arc;

use pipewright_core::engine::{Dispatch, Effect, Execution, StopWork, work_in_flight};
use pipewright_core::pipeline::Pipeline;
use pipewright_core::ports::StateStore;
use pipewright_core::providers::ProviderKind;
use pipewright_core::rule_types::RuleProvider;
use pipewright_providers::deploy::Waiting;

use super::HandlerError;
use super::invoke_action::{Invoked, dispatched_as_read};
use crate::bus::DispatchMessage;
use crate::settings::Services;

/// The job of `execution_id` that waits for `external_id` (a build id, a stack id…), as it
/// would be sent now; `None` when no job of the execution waits for it any more.
pub async fn waiting_job(
    services: &Services,
    execution_id: &str,
    external_id: &str,
) -> Result<Option<Dispatch>, HandlerError> {
    let Some(execution) = services.store.get_execution(execution_id).await? else { return Ok(None) };
    waiting_job_of(services, &execution.value, external_id).await
}

/// [`waiting_job`], of `execution` as read.
async fn waiting_job_of(
    services: &Services,
    execution: &Execution,
    external_id: &str,
) -> Result<Option<Dispatch>, HandlerError> {
    let execution_id = &execution.id;
    let mut starting = false;
    for dispatch in jobs_in_flight(services, execution).await? {
        match pipewright_core::deploy::deploy_wait(&dispatch) {
            Some(token) => {
                if serde_json::from_str::<Waiting>(token).is_ok_and(|waiting| waiting.external_id == external_id) {
                    return Ok(Some(dispatch));
                }
            }
            None => starting |= build::is_build_start(&dispatch),
        }
    }
    // A build can end before its start's wait is recorded (the build started, the engine
    // has not yet applied the continuation): a later delivery finds it. The tick looks
    // anyway, so this only makes the event count sooner. Other actions starting, or a build
    // whose result is recorded (with an earlier build's, `ended_together`), are no reason to
    // try again.
    if starting && !build::build_recorded(execution, external_id) {
        return Err(HandlerError::Retryable(format!(
            "{execution_id} has an action still starting: the wait for {external_id} may not be recorded yet"
        )));
    }
    Ok(None)
}

/// The pipeline version `execution` runs, from the function's cache; a store that cannot be
/// read now is worth another try.
pub(super) async fn pinned_pipeline(services: &Services, execution: &Execution) -> Result<Arc<Pipeline>, HandlerError> {
    services
        .cache
        .pinned(&services.store, execution)
        .await
        .map_err(|e| HandlerError::Retryable(format!("cannot load pipeline {}: {e}", execution.pipeline_name)))
}

/// The jobs `execution` has in flight, rebuilt as they were sent (`work_in_flight`); none once
/// it has finished.
pub(super) async fn jobs_in_flight(services: &Services, execution: &Execution) -> Result<Vec<Dispatch>, HandlerError> {
    if execution.status.is_finished() {
        return Ok(Vec::new());
    }
    let pipeline = pinned_pipeline(services, execution).await?;
    let work = work_in_flight(&pipeline, execution, super::now()).into_iter();
    Ok(work
        .filter_map(|work| if let Effect::Dispatch(dispatch) = work.effect { Some(*dispatch) } else { None })
        .collect())
}

/// Looks now at the wait of `execution_id` for `external_id`.
pub async fn look_now(services: &Services, execution_id: &str, external_id: &str) -> Result<Invoked, HandlerError> {
    let Some(execution) = services.store.get_execution(execution_id).await?.map(|read| read.value) else {
        return Ok(Invoked::Stale(format!("execution {execution_id} is not found")));
    };
    let waiting = waiting_job_of(services, &execution, external_id).await;
    if let Ok(Some(dispatch)) = waiting {
        // The look holds no claim: it is checked against this read (`dispatched_as_read`).
        let message = DispatchMessage::new(dispatch.pipeline.clone(), dispatch);
        return dispatched_as_read(services, &message, Some(execution)).await;
    }
    // No look to run now. An earlier delivery of this event may have committed the look's
    // result and failed before its relay (or an action's start is still to be applied):
    // publish what the execution's outbox holds, as a stale engine event does, so that the
    // execution moves on whatever becomes of this delivery.
    super::relay_pending(services, &execution.pipeline_name, execution_id).await?;
    waiting?;
    Ok(Invoked::Stale(format!("no action of {execution_id} waits for {external_id}")))
}

/// A "CodeBuild Build State Change" event from the default bus.
pub async fn build_state_changed(services: &Services, detail: &Value) -> Result<Invoked, HandlerError> {
    let Some(event) = build::build_event(detail) else {
        return Ok(Invoked::Stale("a build Pipewright did not start".to_string()));
    };
    if !build::is_final(&event.status) {
        return Ok(Invoked::Stale(format!("build {} is {}", event.build_id, event.status)));
    }
    look_now(services, &event.execution_id, &event.build_id).await
}

/// A rule's work the engine no longer waits for (`StopWork`, a "Pipewright Work Abandoned"
/// message): a Commands rule's build is stopped, in the rule's region and as its role, read
/// from the version the execution ran. Stopping a build twice, or one that has ended, changes
/// nothing. A version no longer stored (the pipeline deleted) leaves the stack's own region
/// and role, where Commands builds run.
pub async fn work_abandoned(services: &Services, stop: &StopWork) -> Result<Invoked, HandlerError> {
    let pipeline = super::invoke_action::pipeline_version(services, &stop.pipeline, stop.pipeline_version).await?;
    let declared = pipeline.as_deref().and_then(|p| p.rule_named(&stop.stage, stop.condition, &stop.rule));
    if let Some(declared) = declared
        && RuleProvider::of(&declared.rule_type_id.provider).and_then(RuleProvider::action_kind)
            != Some(ProviderKind::Commands)
    {
        return Ok(Invoked::Stale(format!("{} rules leave nothing to stop", declared.rule_type_id.provider)));
    }
    let region = declared
        .and_then(|d| d.region.clone())
        .or_else(|| pipeline.as_deref().and_then(|p| p.environment.region.clone()));
    let role = declared.and_then(|d| d.role_arn.clone());
    let build_id = &stop.external_execution_id;
    services
        .deployer
        .stop_build(region.as_deref(), role.as_deref(), build_id)
        .await
        .map_err(HandlerError::Retryable)?;
    Ok(Invoked::HandedOff(format!("StopBuild {build_id} (rule {}/{})", stop.stage, stop.rule)))
}

/// An action state change on the stack's bus: a CodeBuild or Commands action abandoned, or
/// timed out, while its build runs stops the build (AWS is silent on the first;
/// docs/providers.md, "CodeBuild on AWS").
pub async fn action_abandoned(services: &Services, detail: &Value) -> Result<Invoked, HandlerError> {
    let text = |key: &str| detail.get(key).and_then(Value::as_str).unwrap_or_default();
    if !matches!(text("state"), "ABANDONED" | "FAILED") {
        return Ok(Invoked::Stale(format!("action state {}: nothing to stop", text("state"))));
    }
    let (execution_id, stage, action) = (text("execution-id"), text("stage"), text("action"));
    let Some(execution) = services.store.get_execution(execution_id).await? else {
        return Ok(Invoked::Stale(format!("execution {execution_id} is not found")));
    };
    let execution = execution.value;
    let attempt = execution
        .stage_index(stage)
        .and_then(|s| execution.stages[s].action_index(action).map(|a| &execution.stages[s].actions[a]))
        .and_then(|run| run.attempts.last());
    let Some(attempt) = attempt else {
        return Ok(Invoked::Stale(format!("{stage}/{action} of {execution_id} has no attempt")));
    };
    let Some(build_id) = build::build_to_stop(attempt).map(String::from) else {
        return Ok(Invoked::Stale(format!(
            "{stage}/{action} of {execution_id} leaves no build running ({:?})",
            attempt.status
        )));
    };
    let pipeline = pinned_pipeline(services, &execution).await?;
    let declared = pipeline
        .declaration
        .stages
        .iter()
        .find(|s| s.name == stage)
        .and_then(|s| s.actions.iter().find(|a| a.name == action));
    let (region, role) = declared.map_or((None, None), |a| (a.region.clone(), a.role_arn.clone()));
    services
        .deployer
        .stop_build(region.as_deref(), role.as_deref(), &build_id)
        .await
        .map_err(HandlerError::Retryable)?;
    Ok(Invoked::HandedOff(format!("StopBuild {build_id}")))
}
