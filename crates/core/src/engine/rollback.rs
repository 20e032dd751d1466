//! Rolling a stage back (docs/reference/codepipeline.md §3.9, docs/conditions.md): a new
//! execution of type ROLLBACK runs one stage again with the artifacts and variables of an
//! earlier execution that succeeded in it. RollbackStage asks for one (trigger
//! `ManualRollback`); a stage whose failure, or unmet condition, has the ROLLBACK result
//! starts one itself (`AutomatedRollback`), to the last execution that succeeded there.

use super::context::Context;
use super::event::RollbackStage;
use super::flow::enter;
use super::rejection::{Rejection, Stale};
use super::state::{
    ActionRun, Execution, ExecutionStatus, ExecutionType, RollbackOf, StageRun, StageStatus, Trigger, TriggerType,
};
use crate::ids;
use crate::pipeline::Mode;

pub(crate) fn rollback_stage(ctx: &mut Context, event: &RollbackStage) -> Result<Option<Stale>, Rejection> {
    if ctx.world.executions.contains_key(&event.execution_id) {
        return Ok(Some(Stale::DuplicateStart));
    }
    if event.execution_id.is_empty() || event.seed.is_empty() {
        return Err(Rejection::Validation("a rollback needs an execution id and a seed".to_string()));
    }
    let stage = ctx.pipeline.stage_index(&event.stage).ok_or_else(|| Rejection::StageNotFound(event.stage.clone()))?;
    let target = ctx.target(&event.target_execution_id)?;
    check(ctx, target, stage)?;
    if let Some(busy) = busy(ctx, stage) {
        let rolling_back = ctx.world.executions.get(&busy).is_some_and(|e| e.execution_type == ExecutionType::Rollback);
        let why = format!("stage \"{}\" is running execution {busy}; roll it back once the stage is free", event.stage);
        return Err(if rolling_back {
            // Another rollback of the stage is under way: the pipeline is busy.
            Rejection::Conflict(format!("a rollback is under way: {why}"))
        } else {
            Rejection::UnableToRollbackStage(why)
        });
    }
    start(ctx, event, stage)
}

/// Why `target` cannot be what `stage` rolls back to, if it cannot.
fn check(ctx: &Context, target: &Execution, stage: usize) -> Result<(), Rejection> {
    let name = &ctx.pipeline.stages[stage].name;
    if ctx.pipeline.mode == Mode::Parallel {
        return Err(Rejection::UnableToRollbackStage(
            "a pipeline in PARALLEL mode cannot roll back a stage".to_string(),
        ));
    }
    if stage == 0 {
        return Err(Rejection::UnableToRollbackStage(format!(
            "\"{name}\" is the source stage; it cannot be rolled back"
        )));
    }
    if target.execution_type == ExecutionType::Rollback {
        return Err(Rejection::UnableToRollbackStage(format!(
            "execution {} is itself a rollback; roll back to a standard execution",
            target.id
        )));
    }
    if target.pipeline_version != ctx.pipeline.version {
        return Err(Rejection::PipelineExecutionOutdated(format!(
            "execution {} ran version {} of the pipeline; the pipeline is at version {}",
            target.id, target.pipeline_version, ctx.pipeline.version
        )));
    }
    if target.stages[stage].status != Some(StageStatus::Succeeded) {
        return Err(Rejection::UnableToRollbackStage(format!(
            "execution {} did not succeed in stage \"{name}\"",
            target.id
        )));
    }
    Ok(())
}

/// The execution inside the stage, if any.
fn busy(ctx: &Context, stage: usize) -> Option<String> {
    ctx.world.pipeline.stages[stage].occupant.clone()
}

fn start(ctx: &mut Context, event: &RollbackStage, stage: usize) -> Result<Option<Stale>, Rejection> {
    let pipeline = ctx.pipeline;
    let target = ctx.target(&event.target_execution_id)?;
    let execution = Execution {
        id: event.execution_id.clone(),
        pipeline_name: pipeline.name.clone(),
        pipeline_version: pipeline.version,
        pipeline_created: pipeline.created,
        mode: pipeline.mode,
        // The Start move sets it.
        status: ExecutionStatus::InProgress,
        status_summary: None,
        trigger: event.trigger.clone(),
        started_at: ctx.now,
        updated_at: ctx.now,
        attempt: 1,
        seed: event.seed.clone(),
        variables: target.variables.clone(),
        source_revision_overrides: target.source_revision_overrides.clone(),
        action_timeout_seconds: target.action_timeout_seconds,
        stop: None,
        stages: pipeline
            .stages
            .iter()
            .map(|s| StageRun {
                name: s.name.clone(),
                status: None,
                run: 1,
                auto_retries: 0,
                manual_retries: 0,
                latest_retry_trigger: None,
                actions: s.actions.iter().map(|a| ActionRun { name: a.name.clone(), attempts: Vec::new() }).collect(),
                conditions: Vec::new(),
            })
            .collect(),
        artifacts: target.artifacts.clone(),
        namespaces: target.namespaces.clone(),
        artifact_revisions: target.artifact_revisions.clone(),
        execution_type: ExecutionType::Rollback,
        rollback: Some(RollbackOf { stage: event.stage.clone(), target_execution_id: target.id.clone() }),
    };
    let id = execution.id.clone();
    ctx.start_execution(execution)?;
    // A rollback goes straight into its stage, ahead of executions waiting there and past a
    // disabled transition: it is the remedy, not a new change (docs/conditions.md).
    enter(ctx, &id, stage)?;
    Ok(None)
}

/// The automatic rollback of `stage`, which execution `failed` has just failed and left:
/// to the last execution that succeeded there, if there is one (docs/conditions.md).
pub(crate) fn automatic(ctx: &mut Context, failed: &str, stage: usize) -> Result<(), Rejection> {
    let execution = ctx.exec(failed)?;
    if execution.execution_type == ExecutionType::Rollback {
        return Ok(());
    }
    let stage_name = execution.stages[stage].name.clone();
    let (seed, attempt) = (execution.seed.clone(), execution.attempt.to_string());
    let target = ctx.world.pipeline.stages[stage].last_succeeded.clone().filter(|t| t != failed);
    let refusal = match target.as_deref().map(|t| ctx.exec(t)) {
        None => Some(format!("no earlier execution succeeded in stage \"{stage_name}\"")),
        Some(Err(error)) => return Err(error),
        Some(Ok(target)) => check(ctx, target, stage).err().map(|e| e.to_string()),
    };
    if let Some(why) = refusal {
        let summary = ctx.exec(failed)?.status_summary.clone().unwrap_or_default();
        ctx.exec_mut(failed)?.status_summary = Some(format!("{summary} No automatic rollback: {why}."));
        return Ok(());
    }
    let target = target.unwrap_or_default();
    let event = RollbackStage {
        // Derived, so that the same failure always starts the same rollback.
        execution_id: ids::uuid_from(&["rollback", failed, &stage_name, &attempt]),
        seed: ids::uuid_from(&["rollback-seed", &seed, &stage_name, &attempt]),
        stage: stage_name,
        target_execution_id: target,
        trigger: Trigger { trigger_type: TriggerType::AutomatedRollback, trigger_detail: Some(failed.to_string()) },
    };
    if ctx.world.executions.contains_key(&event.execution_id) {
        return Ok(());
    }
    start(ctx, &event, stage).map(|_| ())
}
