//! How executions move through stages: runOrder groups, stage success and failure, stage locks,
//! executions waiting at boundaries, and superseding
//! (docs/reference/codepipeline.md §3.2–3.3, §3.6–3.7).

use super::context::Context;
use super::dispatch::dispatch_action;
use super::moves::{Change, ExecutionMove, StageMove};
use super::rejection::Rejection;
use super::state::{ActionStatus, ExecutionStatus, Position, RetryTrigger, StageStatus};
use crate::pipeline::{Mode, RetryMode};

/// Moves an execution forward as far as it can go now: starts the next runOrder group, or
/// finishes its stage when nothing is in flight.
pub(crate) fn settle(ctx: &mut Context, id: &str) -> Result<(), Rejection> {
    loop {
        let execution = ctx.exec(id)?;
        if execution.status.is_finished() {
            return Ok(());
        }
        let Position::InStage(stage) = execution.position() else {
            return Ok(());
        };
        let run = &execution.stages[stage];
        let mut in_flight = 0;
        let mut failed = 0;
        for index in 0..run.actions.len() {
            match run.current(index).map(|a| a.status) {
                Some(ActionStatus::InProgress) => in_flight += 1,
                Some(status) if status.needs_retry() => failed += 1,
                _ => {}
            }
        }
        if execution.status == ExecutionStatus::Stopping {
            if in_flight == 0 {
                finish_stop(ctx, id, stage)?;
            }
            return Ok(());
        }
        if in_flight > 0 {
            // A failure waits for the rest of its group to finish
            // (docs/reference/codepipeline.md §3.3).
            return Ok(());
        }
        if failed > 0 {
            if fail_stage(ctx, id, stage)? == AfterFailure::Retried {
                continue;
            }
            return Ok(());
        }
        let pending_group =
            ctx.pipeline.stages[stage].groups.iter().position(|group| group.iter().any(|&a| run.current(a).is_none()));
        match pending_group {
            Some(group) => {
                let actions = ctx.pipeline.stages[stage].groups[group].clone();
                for action in actions {
                    dispatch_action(ctx, id, stage, action)?;
                }
            }
            None => {
                succeed_stage(ctx, id, stage)?;
                return Ok(());
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum AfterFailure {
    Retried,
    Failed,
}

fn fail_stage(ctx: &mut Context, id: &str, stage: usize) -> Result<AfterFailure, Rejection> {
    ctx.change(id, Change::Stage(stage, StageMove::Fail))?;
    let auto_retry = ctx.pipeline.stages[stage].auto_retry;
    let execution = ctx.exec_mut(id)?;
    if let Some(mode) = auto_retry.filter(|_| execution.stages[stage].auto_retries == 0) {
        // onFailure: RETRY makes exactly one automatic attempt
        // (docs/reference/codepipeline.md §3.4).
        execution.stages[stage].auto_retries += 1;
        execution.stages[stage].latest_retry_trigger = Some(RetryTrigger::AutomatedStageRetry);
        execution.attempt += 1;
        restart_stage(ctx, id, stage, mode)?;
        return Ok(AfterFailure::Retried);
    }
    let summary = failure_summary(ctx, id, stage)?;
    ctx.exec_mut(id)?.status_summary = Some(summary);
    ctx.change(id, Change::Execution(ExecutionMove::Fail))?;
    leave_stage(ctx, id, stage).map(|()| AfterFailure::Failed)
}

fn failure_summary(ctx: &Context, id: &str, stage: usize) -> Result<String, Rejection> {
    let execution = ctx.exec(id)?;
    let run = &execution.stages[stage];
    let failed: Vec<String> = (0..run.actions.len())
        .filter_map(|a| {
            let attempt = run.current(a)?;
            attempt.status.needs_retry().then(|| match &attempt.error {
                Some(error) => format!("{}: {}", run.actions[a].name, error.message),
                None => format!("{}: {}", run.actions[a].name, attempt.status.as_str()),
            })
        })
        .collect();
    Ok(format!("Stage \"{}\" failed. {}", run.name, failed.join("; ")))
}

/// Starts a stage again for a retry: FAILED_ACTIONS runs the failed and abandoned actions of
/// the current group again; ALL_ACTIONS starts the stage from its first group.
pub(crate) fn restart_stage(ctx: &mut Context, id: &str, stage: usize, mode: RetryMode) -> Result<(), Rejection> {
    let execution = ctx.exec_mut(id)?;
    let run = &mut execution.stages[stage];
    let was_running = run.status == Some(StageStatus::InProgress);
    let to_rerun: Vec<usize> = match mode {
        RetryMode::AllActions => {
            run.run += 1;
            Vec::new()
        }
        RetryMode::FailedActions => (0..run.actions.len())
            .filter(|&a| run.current(a).is_some_and(|attempt| attempt.status.needs_retry()))
            .collect(),
    };
    if !was_running {
        ctx.change(id, Change::Stage(stage, StageMove::Resume))?;
    }
    for action in to_rerun {
        dispatch_action(ctx, id, stage, action)?;
    }
    Ok(())
}

fn succeed_stage(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    ctx.change(id, Change::Stage(stage, StageMove::Succeed))?;
    release(ctx, id, stage);
    if stage + 1 == ctx.pipeline.stages.len() {
        ctx.exec_mut(id)?.status_summary = None;
        ctx.change(id, Change::Execution(ExecutionMove::Succeed))?;
    } else {
        arrive(ctx, id, stage + 1)?;
    }
    admit(ctx, stage)
}

fn finish_stop(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    ctx.change(id, Change::Stage(stage, StageMove::FinishStop))?;
    ctx.change(id, Change::Execution(ExecutionMove::FinishStop))?;
    leave_stage(ctx, id, stage)
}

/// Gives up the stage lock and lets the next waiting execution in.
pub(crate) fn leave_stage(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    release(ctx, id, stage);
    admit(ctx, stage)
}

/// The actions of `stage` whose attempt of the stage's current run is in progress.
pub(crate) fn in_flight(ctx: &Context, id: &str, stage: usize) -> Result<Vec<usize>, Rejection> {
    let run = &ctx.exec(id)?.stages[stage];
    Ok((0..run.actions.len())
        .filter(|&a| run.current(a).is_some_and(|attempt| attempt.status == ActionStatus::InProgress))
        .collect())
}

fn release(ctx: &mut Context, id: &str, stage: usize) {
    let slot = ctx.slot(stage);
    if slot.occupant.as_deref() == Some(id) {
        slot.occupant = None;
    }
}

/// Whether an execution may enter `stage` now, ahead of anyone waiting.
fn is_open(ctx: &Context, stage: usize) -> bool {
    let slot = &ctx.world.pipeline.stages[stage];
    slot.transition.enabled && (!ctx.pipeline.mode.locks_stages() || slot.occupant.is_none())
}

/// An execution reaches the boundary in front of `stage`: it enters, or waits there.
pub(crate) fn arrive(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    if ctx.pipeline.mode == Mode::Superseded {
        // At most one execution waits at a boundary: the newer one replaces it
        // (docs/reference/codepipeline.md §3.6).
        let waiting = std::mem::take(&mut ctx.slot(stage).inbound);
        for older in waiting {
            supersede(ctx, &older)?;
        }
    }
    if is_open(ctx, stage) && ctx.world.pipeline.stages[stage].inbound.is_empty() {
        enter(ctx, id, stage)
    } else {
        ctx.slot(stage).inbound.push(id.to_string());
        Ok(())
    }
}

fn supersede(ctx: &mut Context, id: &str) -> Result<(), Rejection> {
    if ctx.exec(id)?.status.is_finished() {
        return Ok(());
    }
    ctx.exec_mut(id)?.status_summary = Some("Superseded by a newer execution at a stage boundary".to_string());
    ctx.change(id, Change::Execution(ExecutionMove::Supersede))
}

/// Lets waiting executions into `stage` while it is open: one for a locking mode, all of
/// them in PARALLEL mode.
pub(crate) fn admit(ctx: &mut Context, stage: usize) -> Result<(), Rejection> {
    while is_open(ctx, stage) && !ctx.world.pipeline.stages[stage].inbound.is_empty() {
        let next = ctx.slot(stage).inbound.remove(0);
        if ctx.exec(&next)?.status.is_finished() {
            continue;
        }
        enter(ctx, &next, stage)?;
    }
    Ok(())
}

fn enter(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    let locks = ctx.pipeline.mode.locks_stages();
    let slot = ctx.slot(stage);
    if locks {
        slot.occupant = Some(id.to_string());
    }
    slot.latest_execution = Some(id.to_string());
    ctx.change(id, Change::Stage(stage, StageMove::Start))?;
    settle(ctx, id)
}
