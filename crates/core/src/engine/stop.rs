//! StopPipelineExecution (docs/reference/codepipeline.md §3.5): stop and wait lets in-flight
//! actions finish; stop and abandon marks them Abandoned at once. Either way the execution passes
//! through Stopping to Stopped and gives up its stage.

use super::conditions;
use super::context::Context;
use super::event::StopExecution;
use super::flow::{in_flight, settle};
use super::moves::{ActionMove, Change, ConditionMove, ExecutionMove, StageMove};
use super::rejection::{Rejection, Stale};
use super::state::{ExecutionStatus, Position, StopRequest};

pub(crate) fn stop(ctx: &mut Context, event: &StopExecution) -> Result<Option<Stale>, Rejection> {
    let id = event.execution_id.as_str();
    let execution = ctx.target(id)?;
    match execution.status {
        ExecutionStatus::InProgress => {}
        ExecutionStatus::Stopping => {
            let already_abandoning = execution.stop.as_ref().is_some_and(|s| s.abandon);
            if !event.abandon || already_abandoning {
                return Err(Rejection::DuplicatedStopRequest(id.to_string()));
            }
        }
        status => {
            return Err(Rejection::PipelineExecutionNotStoppable {
                id: id.to_string(),
                status: status.as_str().to_string(),
            });
        }
    }
    if event.reason.as_ref().is_some_and(|r| r.chars().count() > 200) {
        return Err(Rejection::Validation("reason: at most 200 characters".to_string()));
    }
    let was_running = execution.status == ExecutionStatus::InProgress;
    let position = execution.position();
    let now = ctx.now;
    let execution = ctx.exec_mut(id)?;
    execution.stop = Some(StopRequest {
        abandon: event.abandon,
        reason: event.reason.clone(),
        by: event.by.clone(),
        requested_at: now,
    });
    if was_running {
        ctx.change(id, Change::Execution(ExecutionMove::Stop))?;
    }
    match position {
        Position::Waiting(stage) => {
            // An inbound execution never enters the stage once stopped.
            ctx.slot(stage).inbound.retain(|waiting| waiting != id);
            ctx.change(id, Change::Execution(ExecutionMove::FinishStop))?;
        }
        Position::InStage(stage) => {
            if was_running {
                ctx.change(id, Change::Stage(stage, StageMove::Stop))?;
            }
            // A condition only gates the stage: a stop of either kind ends its evaluation.
            conditions::end_in_progress(ctx, id, stage, ConditionMove::Abandon)?;
            if event.abandon {
                abandon_in_flight(ctx, id, stage)?;
            }
            settle(ctx, id)?;
        }
        Position::Done => {
            return Err(Rejection::Inconsistent(format!("execution {id} is in progress past its last stage")));
        }
    }
    Ok(None)
}

fn abandon_in_flight(ctx: &mut Context, id: &str, stage: usize) -> Result<(), Rejection> {
    for action in in_flight(ctx, id, stage)? {
        ctx.change(id, Change::Action(stage, action, ActionMove::Abandon))?;
    }
    Ok(())
}
