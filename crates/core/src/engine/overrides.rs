//! OverrideStageCondition (docs/conditions.md): releases an entry or success condition under
//! evaluation, so that the stage goes on as if it had been met.

use super::conditions::override_evaluation;
use super::context::Context;
use super::event::OverrideCondition;
use super::rejection::{Rejection, Stale};
use super::state::{ConditionKind, ConditionStatus, ExecutionStatus, ExecutionType};
use crate::pipeline::Engage;

pub(crate) fn override_condition(ctx: &mut Context, event: &OverrideCondition) -> Result<Option<Stale>, Rejection> {
    let id = event.execution_id.as_str();
    let execution = ctx.target(id)?;
    let stage = execution.stage_index(&event.stage).ok_or_else(|| Rejection::StageNotFound(event.stage.clone()))?;
    let kind = event.condition;
    if kind == ConditionKind::OnFailure {
        return Err(Rejection::Validation("conditionType: must be BEFORE_ENTRY or ON_SUCCESS".to_string()));
    }
    let not_overridable = |why: String| Err(Rejection::ConditionNotOverridable(why));
    let Some(plan) = ctx.pipeline.stages[stage].condition(kind) else {
        return not_overridable(format!("stage \"{}\" has no {} condition", event.stage, kind.field()));
    };
    if plan.result == Engage::Skip {
        return not_overridable(format!(
            "the {} condition of stage \"{}\" has the SKIP result, which cannot be overridden",
            kind.field(),
            event.stage
        ));
    }
    if execution.execution_type == ExecutionType::Rollback {
        return not_overridable(format!("execution {id} is a rollback; it runs without the stage's conditions"));
    }
    let conditions = &execution.stages[stage].conditions;
    let seen_attempt = event.expected_attempt.unwrap_or(execution.attempt);
    let seen = conditions.iter().rposition(|c| c.kind == kind && c.attempt == seen_attempt);
    if seen.is_some_and(|index| conditions[index].status == ConditionStatus::Overridden)
        // A repeat while the execution runs is a duplicate; once it has ended, the override
        // is judged as any other (another execution may hold the stage; nothing is evaluated).
        && !execution.status.is_finished()
    {
        return Ok(Some(Stale::AlreadyOverridden));
    }
    if seen_attempt != execution.attempt {
        return not_overridable(format!(
            "execution {id} has been retried since (attempt {} now, {seen_attempt} seen); read it again",
            execution.attempt
        ));
    }
    let latest = conditions.iter().rposition(|c| c.kind == kind);
    if execution.status == ExecutionStatus::Stopping {
        return Err(Rejection::Conflict(format!("execution {id} is stopping")));
    }
    if ctx.pipeline.mode.locks_stages() {
        let latest_in_stage = ctx.world.pipeline.stages[stage].latest_execution.as_deref();
        if latest_in_stage.is_some_and(|latest| latest != id) {
            return Err(Rejection::NotLatestPipelineExecution(format!(
                "a newer execution ({}) has entered stage \"{}\"; only the latest execution's conditions can be overridden",
                latest_in_stage.unwrap_or_default(),
                event.stage
            )));
        }
    }
    let Some(index) = latest.filter(|&i| execution.stages[stage].conditions[i].status == ConditionStatus::InProgress)
    else {
        let state = latest.map_or("has not been evaluated", |i| match execution.stages[stage].conditions[i].status {
            ConditionStatus::Succeeded => "was met",
            ConditionStatus::Failed => "was not met",
            _ => "is no longer being evaluated",
        });
        return not_overridable(format!(
            "the {} condition of stage \"{}\" in execution {id} {state}; only a condition being evaluated can be overridden",
            kind.field(),
            event.stage
        ));
    };
    override_evaluation(ctx, id, stage, index, event.by.as_deref())?;
    Ok(None)
}
