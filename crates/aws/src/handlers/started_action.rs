//! An action's STARTED state change carries the action's first job (`bus::commit_entries`;
//! docs/ARCHITECTURE.md, "A start carries its job"). The relay publishes that event for users'
//! rules anyway, so the bus carries no dispatch of its own for the job. Here the job is
//! rebuilt from the execution, as the tick rebuilds work nobody picked up
//! (`engine::work_in_flight`), and run through invoke-action's own path. That path claims the
//! job, so a redelivered event and the tick's re-sent dispatch never both run it (a build's
//! start excepted: CodeBuild's idempotency token makes it once, `invoke_action::claim_of`).

use serde_json::Value;

use pipewright_core::engine::{Dispatch, Execution};
use pipewright_core::ports::StateStore;

use super::HandlerError;
use super::build_events::jobs_in_flight;
use super::invoke_action::{Invoked, dispatched_as_read};
use crate::bus::DispatchMessage;
use crate::settings::Services;

/// A "CodePipeline Action Execution State Change" with state STARTED, from the stack's bus.
pub async fn action_started(services: &Services, detail: &Value) -> Result<Invoked, HandlerError> {
    let text = |key: &str| detail.get(key).and_then(Value::as_str).unwrap_or_default();
    let (execution_id, stage, action) = (text("execution-id"), text("stage"), text("action"));
    if execution_id.is_empty() || stage.is_empty() || action.is_empty() {
        return Err(HandlerError::Rejected(
            "an action's STARTED state change names its execution-id, stage and action".to_string(),
        ));
    }
    let Some(execution) = services.store.get_execution(execution_id).await? else {
        return Ok(Invoked::Stale(format!("execution {execution_id} is not found")));
    };
    let execution = execution.value;
    match first_job(services, &execution, stage, action).await? {
        Some(dispatch) => {
            let message = DispatchMessage::new(execution.pipeline_name.clone(), dispatch);
            dispatched_as_read(services, &message, Some(execution)).await
        }
        None => {
            // An earlier delivery of this event may have run the job and committed its result,
            // then failed before its relay: publish what the execution's outbox still holds,
            // as a stale dispatch does, so that the execution moves on.
            super::relay_pending(services, &execution.pipeline_name, execution_id).await?;
            Ok(Invoked::Stale(format!("{stage}/{action} of {execution_id} has no first job waiting to run")))
        }
    }
}

/// The first job of the action's current attempt, as first sent, while it is the action's
/// live job: not a look at a wait (those travel as dispatches of their own) nor a rule's.
async fn first_job(
    services: &Services,
    execution: &Execution,
    stage: &str,
    action: &str,
) -> Result<Option<Dispatch>, HandlerError> {
    Ok(jobs_in_flight(services, execution).await?.into_iter().find(|dispatch| {
        dispatch.stage == stage
            && dispatch.action == action
            && dispatch.condition.is_none()
            && dispatch.continuation_token.is_none()
    }))
}
