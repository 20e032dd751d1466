//! How executions move through stages: runOrder groups, stage success and failure, stage locks,
//! executions waiting at boundaries, and superseding
//! (docs/reference/codepipeline.md §3.2–3.3, §3.6–3.7).

use super::conditions::{self, begin, entry_pending};
use super::context::Context;
use super::dispatch::dispatch_action;
use super::moves::{Change, ConditionMove, ExecutionMove, StageMove};
use super::rejection::Rejection;
use super::rollback;
use super::state::{
    ActionStatus, ConditionKind, ConditionStatus, ExecutionStatus, ExecutionType, Position, RetryTrigger, StageStatus,
};
use crate::pipeline::{Engage, Mode, RetryMode};

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
        if run.condition_in_progress().is_some() {
            // A condition under evaluation holds the stage (docs/conditions.md).
            return Ok(());
        }
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
            return stage_failed(ctx, id, stage);
        }
        if entry_pending(ctx, id, stage)? {
            // The entry condition is checked before the first group starts, and again after
            // a retry of a stage it kept out.
            return begin(ctx, id, stage, ConditionKind::BeforeEntry);
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
            None if conditions::plan(ctx, id, stage, ConditionKind::OnSuccess)?.is_some() => {
                return begin(ctx, id, stage, ConditionKind::OnSuccess);
            }
            None => return succeed_stage(ctx, id, stage),
        }
    }
}

/// Every action of the stage has finished and one failed: the stage's failure condition
/// decides what follows (docs/conditions.md); without one, the stage fails.
fn stage_failed(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    match conditions::plan(ctx, id, stage, ConditionKind::OnFailure)? {
        Some(plan) if !plan.rules.is_empty() => {
            let execution = ctx.exec(id)?;
            let evaluated = execution.stages[stage]
                .latest_condition(ConditionKind::OnFailure)
                .is_some_and(|c| c.attempt == execution.attempt && c.status != ConditionStatus::Abandoned);
            if evaluated {
                // Decided for this failure already (its result engaged): nothing more.
                return Ok(());
            }
            begin(ctx, id, stage, ConditionKind::OnFailure)
        }
        Some(plan) => {
            let result = plan.result;
            fail_stage(ctx, id, stage, result, None)?;
            settle(ctx, id)
        }
        None => fail_stage(ctx, id, stage, Engage::Fail, None),
    }
}

/// Fails the stage, then does what `result` asks: nothing more (FAIL), one automatic retry
/// (RETRY, once per stage), or the failure and then a rollback (ROLLBACK). `reason` is why,
/// when a condition failed it rather than an action.
pub(crate) fn fail_stage(
    ctx: &mut Context,
    id: &str,
    stage: usize,
    result: Engage,
    reason: Option<String>,
) -> Result<(), Rejection> {
    ctx.change(id, Change::Stage(stage, StageMove::Fail))?;
    let execution = ctx.exec_mut(id)?;
    if let Engage::Retry(mode) = result
        && execution.stages[stage].auto_retries == 0
    {
        // RETRY makes exactly one automatic attempt (docs/reference/codepipeline.md §3.4).
        execution.stages[stage].auto_retries += 1;
        execution.stages[stage].latest_retry_trigger = Some(RetryTrigger::AutomatedStageRetry);
        execution.attempt += 1;
        return restart_stage(ctx, id, stage, mode);
    }
    let summary = match reason {
        Some(reason) => reason,
        None => failure_summary(ctx, id, stage)?,
    };
    ctx.exec_mut(id)?.status_summary = Some(summary);
    ctx.change(id, Change::Execution(ExecutionMove::Fail))?;
    release(ctx, id, stage);
    if result == Engage::Rollback {
        rollback::automatic(ctx, id, stage)?;
    }
    admit(ctx, stage)
}

/// An entry condition with the SKIP result was not met: the stage is Skipped and the
/// execution goes on as if it had succeeded.
pub(crate) fn skip_stage(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    ctx.change(id, Change::Stage(stage, StageMove::Skip))?;
    pass_stage(ctx, id, stage)
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
    // A failure condition still under evaluation has nothing left to decide.
    conditions::end_in_progress(ctx, id, stage, ConditionMove::Abandon)?;
    for action in to_rerun {
        dispatch_action(ctx, id, stage, action)?;
    }
    Ok(())
}

pub(crate) fn succeed_stage(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    ctx.change(id, Change::Stage(stage, StageMove::Succeed))?;
    if ctx.pipeline.stages[stage].rolls_back() && ctx.exec(id)?.execution_type == ExecutionType::Standard {
        // The execution an automatic rollback of this stage returns to.
        ctx.slot(stage).last_succeeded = Some(id.to_string());
    }
    pass_stage(ctx, id, stage)
}

/// The execution leaves a stage it passed (succeeded or skipped): on to the next stage, or
/// the end (a rollback ends after its one stage).
fn pass_stage(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    release(ctx, id, stage);
    let last = stage + 1 == ctx.pipeline.stages.len() || ctx.exec(id)?.execution_type == ExecutionType::Rollback;
    if last {
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

pub(crate) fn release(ctx: &mut Context, id: &str, stage: usize) {
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

pub(crate) fn enter(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    let locks = ctx.pipeline.mode.locks_stages();
    let slot = ctx.slot(stage);
    if locks {
        slot.occupant = Some(id.to_string());
    }
    slot.latest_execution = Some(id.to_string());
    ctx.change(id, Change::Stage(stage, StageMove::Start))?;
    settle(ctx, id)
}
