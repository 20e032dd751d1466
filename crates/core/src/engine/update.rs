//! A new version of the declaration (docs/reference/codepipeline.md §3.6): executions that are
//! running or waiting do not continue on a structure they did not start with. They end Cancelled
//! ("definition updated before completion"), their in-flight actions abandoned.

use std::collections::BTreeMap;

use super::conditions;
use super::context::Context;
use super::event::PipelineUpdated;
use super::flow::in_flight;
use super::moves::{ActionMove, Change, ConditionMove, ExecutionMove, StageMove};
use super::rejection::{Rejection, Stale};
use super::state::{PipelineState, Position};

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
    let execution = ctx.exec_mut(id)?;
    let position = execution.position();
    execution.status_summary = Some("The pipeline was updated before this execution completed".to_string());
    if let Position::InStage(stage) = position {
        for action in in_flight(ctx, id, stage)? {
            ctx.change(id, Change::Action(stage, action, ActionMove::Cancel))?;
        }
        conditions::end_in_progress(ctx, id, stage, ConditionMove::Cancel)?;
        ctx.change(id, Change::Stage(stage, StageMove::Cancel))?;
    }
    ctx.change(id, Change::Execution(ExecutionMove::Cancel))
}
