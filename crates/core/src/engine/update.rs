//! A new version of the declaration (docs/reference/codepipeline.md §3.6): executions that are
//! running or waiting do not continue on a structure they did not start with. They end Cancelled
//! ("definition updated before completion"), their in-flight actions abandoned.

use std::collections::BTreeMap;

use super::context::Context;
use super::effect::DetailType;
use super::event::PipelineUpdated;
use super::rejection::{Rejection, Stale};
use super::state::{ActionStatus, ExecutionStatus, PipelineState, Position, StageStatus};

pub(crate) fn pipeline_updated(ctx: &mut Context, event: &PipelineUpdated) -> Result<Option<Stale>, Rejection> {
    if event.version <= ctx.world.pipeline.version {
        return Ok(Some(Stale::VersionNotNewer));
    }
    if event.version != ctx.pipeline.version {
        return Err(Rejection::Inconsistent(format!(
            "the update names version {} but the declaration given is version {}",
            event.version, ctx.pipeline.version
        )));
    }
    let active: Vec<String> = ctx
        .world
        .executions
        .values()
        .filter(|e| !e.status.is_finished() && e.pipeline_version < event.version)
        .map(|e| e.id.clone())
        .collect();
    for id in active {
        cancel(ctx, &id)?;
    }
    // The state is laid out anew for the new stages; transitions and the latest execution
    // of a stage carry over where the stage keeps its name.
    let old: BTreeMap<String, _> =
        std::mem::take(&mut ctx.world.pipeline.stages).into_iter().map(|slot| (slot.name.clone(), slot)).collect();
    let mut state = PipelineState::new(ctx.pipeline);
    for slot in &mut state.stages {
        if let Some(previous) = old.get(&slot.name) {
            slot.transition = previous.transition.clone();
            slot.latest_execution = previous.latest_execution.clone();
        }
    }
    ctx.world.pipeline = state;
    Ok(None)
}

/// Ends an execution of an older structure: Cancelled, its in-flight actions abandoned.
pub(crate) fn cancel(ctx: &mut Context, id: &str) -> Result<(), Rejection> {
    let now = ctx.now;
    let execution = ctx.exec_mut(id)?;
    let position = execution.position();
    execution.status = ExecutionStatus::Cancelled;
    execution.status_summary = Some("The pipeline was updated before this execution completed".to_string());
    let mut cancelled_actions = Vec::new();
    if let Position::InStage(stage) = position {
        let run = &mut execution.stages[stage];
        run.status = Some(StageStatus::Cancelled);
        let current = run.run;
        for (index, action) in run.actions.iter_mut().enumerate() {
            if let Some(attempt) = action.attempts.last_mut().filter(|a| a.stage_run == current)
                && attempt.status == ActionStatus::InProgress
            {
                attempt.status = ActionStatus::Abandoned;
                attempt.updated_at = now;
                cancelled_actions.push(index);
            }
        }
        // Events describe the old structure, which the new declaration no longer holds.
        for action in cancelled_actions {
            publish_old_action(ctx, id, stage, action)?;
        }
        ctx.publish_stage(id, stage, "CANCELED")?;
    }
    ctx.publish_pipeline(id, "CANCELED")
}

/// An action event for a structure that is no longer the pipeline's: it carries only what
/// the execution itself records.
fn publish_old_action(ctx: &mut Context, id: &str, stage: usize, action: usize) -> Result<(), Rejection> {
    let execution = ctx.exec(id)?;
    let run = &execution.stages[stage];
    let action_run = &run.actions[action];
    let number = action_run.attempts.last().map_or(0, |a| a.number);
    let mut detail = Context::base_detail(execution, "CANCELED");
    detail.stage = Some(run.name.clone());
    detail.action = Some(action_run.name.clone());
    detail.region = ctx.pipeline.environment.region.clone();
    let id = format!("{}/{}/{}/{}/{number}/CANCELED", execution.id, execution.attempt, run.name, action_run.name);
    ctx.publish(id, DetailType::Action, detail);
    Ok(())
}
