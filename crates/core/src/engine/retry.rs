//! RetryStageExecution (docs/reference/codepipeline.md §3.4): which stage may be retried, by whom,
//! and how.

use super::context::Context;
use super::event::RetryStage;
use super::flow::{restart_stage, settle};
use super::moves::{Change, ExecutionMove};
use super::rejection::{Rejection, Stale};
use super::state::{ActionStatus, ExecutionStatus, Position, RetryTrigger, StageStatus};
use crate::pipeline::RetryMode;

pub(crate) fn retry_stage(ctx: &mut Context, event: &RetryStage) -> Result<Option<Stale>, Rejection> {
    let id = event.execution_id.as_str();
    let execution = ctx.target(id)?;
    let stage = execution.stage_index(&event.stage).ok_or_else(|| Rejection::StageNotFound(event.stage.clone()))?;
    if event.expected_attempt.is_some_and(|expected| expected != execution.attempt) {
        return Ok(Some(Stale::RetryAlreadyApplied));
    }
    let not_retryable = |why: String| Err(Rejection::StageNotRetryable(why));
    match execution.status {
        ExecutionStatus::Superseded => {
            return not_retryable("a superseded execution cannot be retried".into());
        }
        ExecutionStatus::Succeeded => {
            return not_retryable("the execution succeeded; there is nothing to retry".into());
        }
        ExecutionStatus::Cancelled => {
            return not_retryable("the execution was cancelled by a pipeline update and cannot be retried".into());
        }
        ExecutionStatus::Stopping => {
            return Err(Rejection::Conflict("the execution is stopping; retry it once it has stopped".into()));
        }
        ExecutionStatus::InProgress | ExecutionStatus::Failed | ExecutionStatus::Stopped => {}
    }
    if execution.pipeline_version != ctx.pipeline.version {
        return not_retryable(format!(
            "the pipeline changed (version {} → {}) since this execution ran",
            execution.pipeline_version, ctx.pipeline.version
        ));
    }
    if execution.position() != Position::InStage(stage) {
        return not_retryable(format!("execution {id} did not fail or stop in stage \"{}\"", event.stage));
    }
    let run = &execution.stages[stage];
    let statuses: Vec<Option<ActionStatus>> =
        (0..run.actions.len()).map(|a| run.current(a).map(|at| at.status)).collect();
    let in_flight = statuses.contains(&Some(ActionStatus::InProgress));
    let any_failed = statuses.iter().flatten().any(|s| s.needs_retry());
    match (execution.status, run.status) {
        (ExecutionStatus::Failed, Some(StageStatus::Failed))
        | (ExecutionStatus::Stopped, Some(StageStatus::Stopped)) => {}
        // A failed action may be retried while the rest of its group still runs
        // (docs/reference/codepipeline.md §3.3).
        (ExecutionStatus::InProgress, Some(StageStatus::InProgress)) if any_failed => {
            if event.mode == RetryMode::AllActions {
                return not_retryable(
                    "ALL_ACTIONS needs every action of the stage finished; some are still in progress".into(),
                );
            }
        }
        _ => {
            return not_retryable(format!("stage \"{}\" has no failed actions to retry", event.stage));
        }
    }
    if event.mode == RetryMode::AllActions && in_flight {
        return not_retryable(
            "ALL_ACTIONS needs every action of the stage finished; some are still in progress".into(),
        );
    }
    if ctx.pipeline.mode.locks_stages() {
        let slot = &ctx.world.pipeline.stages[stage];
        let holder = slot.occupant.as_deref().filter(|holder| *holder != id);
        let latest = slot.latest_execution.as_deref();
        if holder.is_some() || latest.is_some_and(|latest| latest != id) {
            return Err(Rejection::NotLatestPipelineExecution(format!(
                "a newer execution ({}) has entered stage \"{}\"; only the latest execution of a stage can be retried",
                holder.or(latest).unwrap_or_default(),
                event.stage
            )));
        }
    }

    let resuming = execution.status != ExecutionStatus::InProgress;
    let execution = ctx.exec_mut(id)?;
    execution.attempt += 1;
    execution.stages[stage].manual_retries += 1;
    execution.stages[stage].latest_retry_trigger = Some(RetryTrigger::ManualStageRetry);
    if resuming {
        execution.status_summary = None;
        execution.stop = None;
        if ctx.pipeline.mode.locks_stages() {
            ctx.slot(stage).occupant = Some(id.to_string());
        }
        ctx.change(id, Change::Execution(ExecutionMove::Resume))?;
    }
    restart_stage(ctx, id, stage, event.mode)?;
    settle(ctx, id)?;
    Ok(None)
}
