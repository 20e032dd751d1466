//! Disabling and enabling the inbound transition of a stage (docs/reference/codepipeline.md §3.8).

use super::context::Context;
use super::event::SetTransition;
use super::flow::admit;
use super::moves::{Change, ExecutionMove};
use super::rejection::{Rejection, Stale};
use crate::validate::names::{Charset, name_problem};

/// A transition disabled longer than this does not let its held execution through.
const HOLD_EXPIRY_DAYS: u32 = 30;

pub(crate) fn set_transition(ctx: &mut Context, event: &SetTransition) -> Result<Option<Stale>, Rejection> {
    let stage =
        ctx.world.pipeline.stage_index(&event.stage).ok_or_else(|| Rejection::StageNotFound(event.stage.clone()))?;
    if stage == 0 {
        return Err(Rejection::Validation(format!(
            "stageName: \"{}\" is the first stage; it has no inbound transition",
            event.stage
        )));
    }
    if !event.enabled {
        let reason = event.reason.as_deref().unwrap_or_default();
        if let Some(problem) = name_problem(reason, 1, 300, Charset::DisabledReason) {
            return Err(Rejection::Validation(format!("reason: {problem}")));
        }
    }
    let transition = &ctx.world.pipeline.stages[stage].transition;
    if transition.last_changed_at.is_some_and(|last| last > event.requested_at) {
        return Ok(Some(Stale::TransitionOutdated));
    }
    let same_state =
        transition.enabled == event.enabled && (event.enabled || transition.disabled_reason == event.reason);
    if same_state {
        return Ok(Some(Stale::TransitionUnchanged));
    }
    let held_too_long = !transition.enabled
        && event.enabled
        && transition.last_changed_at.is_some_and(|since| event.requested_at >= since.plus_days(HOLD_EXPIRY_DAYS));

    let slot = ctx.slot(stage);
    slot.transition.enabled = event.enabled;
    slot.transition.disabled_reason = if event.enabled { None } else { event.reason.clone() };
    slot.transition.last_changed_by = event.by.clone();
    slot.transition.last_changed_at = Some(event.requested_at);
    if !event.enabled {
        return Ok(None);
    }
    if held_too_long {
        // After 30 days the held revision no longer resumes: a new change must be released.
        for held in std::mem::take(&mut ctx.slot(stage).inbound) {
            if !ctx.exec(&held)?.status.is_finished() {
                ctx.exec_mut(&held)?.status_summary = Some(format!(
                    "Held at stage \"{}\" behind a transition disabled for more than {HOLD_EXPIRY_DAYS} days; release a new change",
                    event.stage
                ));
                ctx.change(&held, Change::Execution(ExecutionMove::Cancel))?;
            }
        }
    }
    admit(ctx, stage)?;
    Ok(None)
}
