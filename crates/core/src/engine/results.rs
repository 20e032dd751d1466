//! Results that finish or advance an action: job success, failure and continuation,
//! approval answers, and deadlines (docs/reference/codepipeline.md §3.3, §4, §5, §9.1).

use super::conditions::{self, conclude, finish_rule};
use super::context::Context;
use super::dispatch::{build_dispatch, next_deadline, resolve, schedule_wake};
use super::effect::Effect;
use super::event::{ActionFailed, ActionSucceeded, ApprovalResult, ApprovalStatus, JobContinued, JobRef, Tick};
use super::flow::settle;
use super::moves::{ActionMove, Change};
use super::rejection::{Rejection, Stale};
use super::state::{ActionStatus, ArtifactRevision, ErrorDetails, Job, RuleStatus};
use crate::ids;
use crate::providers::{LAMBDA_HEARTBEAT_MINUTES, ProviderKind};

/// All output variables of one action together: at most 122,880 bytes
/// (docs/reference/codepipeline.md §1.6).
pub const MAX_OUTPUT_VARIABLES_BYTES: usize = 122_880;

/// The stage, evaluation and rule indexes of a rule's job, if the job is its current one.
fn locate_rule(ctx: &Context, job: &JobRef) -> Result<Result<(usize, usize, usize), Stale>, Rejection> {
    let execution = ctx.target(&job.execution_id)?;
    let stage = execution.stage_index(&job.stage).ok_or_else(|| Rejection::StageNotFound(job.stage.clone()))?;
    let kind = job.condition.ok_or_else(|| Rejection::Validation("the job is not a rule's".to_string()))?;
    let run = &execution.stages[stage];
    let latest = run.conditions.iter().filter(|c| c.kind == kind).map(|c| c.number).max().unwrap_or(0);
    let Some(condition) = run.conditions.iter().rposition(|c| c.kind == kind && c.number == job.attempt) else {
        return Ok(Err(Stale::OldAttempt { current: latest, given: job.attempt }));
    };
    let Some(rule) = run.conditions[condition].rules.iter().position(|r| r.name == job.action) else {
        return Err(Rejection::Validation(format!(
            "the {} condition of stage \"{}\" has no rule \"{}\"",
            kind.field(),
            job.stage,
            job.action
        )));
    };
    let attempt = &run.conditions[condition].rules[rule];
    if attempt.status != RuleStatus::InProgress {
        return Ok(Err(Stale::ActionFinished { status: attempt.status.as_str() }));
    }
    let current_job = attempt.job.as_ref().map_or(0, |j| j.sequence);
    if current_job != job.job {
        let recorded = attempt.external_execution_id.clone();
        return Ok(Err(Stale::OldJob { current: current_job, given: job.job, recorded }));
    }
    Ok(Ok((stage, condition, rule)))
}

/// A rule's job ended: the rule succeeds or fails, and its condition may now be decided.
fn rule_result(
    ctx: &mut Context,
    job: &JobRef,
    result: Result<String, ErrorDetails>,
    external: (Option<String>, Option<String>),
    by: Option<String>,
) -> Result<Option<Stale>, Rejection> {
    let at = match locate_rule(ctx, job)? {
        Ok(found) => found,
        Err(stale) => return Ok(Some(stale)),
    };
    let id = job.execution_id.as_str();
    let attempt = &mut ctx.exec_mut(id)?.stages[at.0].conditions[at.1].rules[at.2];
    // A Commands rule's build id, kept from its wait, outlives the result, as an action's does.
    let own = attempt.rule_execution_id.clone();
    attempt.external_execution_id = kept_external_id(attempt.external_execution_id.take(), external.0, &own);
    if external.1.is_some() {
        attempt.external_execution_url = external.1;
    }
    attempt.last_updated_by = by;
    finish_rule(ctx, id, at, result)?;
    conclude(ctx, id, at.0, at.1)?;
    Ok(None)
}

/// The stage and action indexes of a job's action, if the job is its current one.
fn locate(ctx: &Context, job: &JobRef) -> Result<Result<(usize, usize), Stale>, Rejection> {
    let execution = ctx.target(&job.execution_id)?;
    let stage = execution.stage_index(&job.stage).ok_or_else(|| Rejection::StageNotFound(job.stage.clone()))?;
    let action = execution.stages[stage]
        .action_index(&job.action)
        .ok_or_else(|| Rejection::ActionNotFound { stage: job.stage.clone(), action: job.action.clone() })?;
    if ctx.pipeline.stages[stage].actions[action].is_approval() {
        return Err(Rejection::Validation(format!(
            "\"{}\" is a manual approval; answer it with PutApprovalResult",
            job.action
        )));
    }
    let Some(attempt) = execution.stages[stage].actions[action].attempts.last() else {
        return Err(Rejection::InvalidJobState(format!("action \"{}\" has not started", job.action)));
    };
    if attempt.number != job.attempt {
        return Ok(Err(Stale::OldAttempt { current: attempt.number, given: job.attempt }));
    }
    if attempt.status != ActionStatus::InProgress {
        return Ok(Err(Stale::ActionFinished { status: attempt.status.as_str() }));
    }
    let current_job = attempt.job.as_ref().map_or(0, |j| j.sequence);
    if current_job != job.job {
        let recorded = attempt.external_execution_id.clone();
        return Ok(Err(Stale::OldJob { current: current_job, given: job.job, recorded }));
    }
    Ok(Ok((stage, action)))
}

pub(crate) fn action_succeeded(ctx: &mut Context, event: &ActionSucceeded) -> Result<Option<Stale>, Rejection> {
    if event.job.condition.is_some() {
        let summary = event.summary.clone().unwrap_or_else(|| "The rule succeeded".to_string());
        let external = (event.external_execution_id.clone(), event.external_execution_url.clone());
        return rule_result(ctx, &event.job, Ok(summary), external, event.by.clone());
    }
    let (stage, action) = match locate(ctx, &event.job)? {
        Ok(found) => found,
        Err(stale) => return Ok(Some(stale)),
    };
    let size: usize = event.output_variables.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_OUTPUT_VARIABLES_BYTES {
        return Err(Rejection::OutputVariablesSizeExceeded { size, limit: MAX_OUTPUT_VARIABLES_BYTES });
    }
    let id = event.job.execution_id.as_str();
    let namespace = ctx.pipeline.stages[stage].actions[action].namespace.clone();
    let execution = ctx.exec_mut(id)?;
    let action_name = execution.stages[stage].actions[action].name.clone();
    let Some(attempt) = execution.stages[stage].actions[action].attempts.last_mut() else {
        return Err(Rejection::Inconsistent(format!("action {action_name} has no attempt")));
    };
    attempt.output_variables = event.output_variables.clone();
    attempt.summary = event.summary.clone();
    attempt.external_execution_id = kept_external_id(
        attempt.external_execution_id.take(),
        event.external_execution_id.clone(),
        &attempt.action_execution_id,
    );
    attempt.external_execution_url = event.external_execution_url.clone();
    attempt.last_updated_by = event.by.clone();
    attempt.percent_complete = Some(100);
    attempt.details = event.details.clone();
    let outputs = attempt.output_artifacts.clone();
    for output in &outputs {
        execution.artifacts.insert(output.name.clone(), output.location.clone());
    }
    if let Some(namespace) = namespace {
        execution.namespaces.insert(namespace, event.output_variables.clone());
    }
    if let (Some(revision), Some(output)) = (&event.revision, outputs.first()) {
        execution.artifact_revisions.retain(|r| r.action_name != action_name);
        execution.artifact_revisions.push(ArtifactRevision {
            name: output.name.clone(),
            action_name,
            revision_id: revision.revision_id.clone(),
            revision_change_identifier: revision.change_identifier.clone(),
            revision_summary: revision.summary.clone(),
            revision_url: revision.url.clone(),
            created: revision.created,
        });
    }
    ctx.change(id, Change::Action(stage, action, ActionMove::Succeed))?;
    settle(ctx, id)?;
    Ok(None)
}

pub(crate) fn action_failed(ctx: &mut Context, event: &ActionFailed) -> Result<Option<Stale>, Rejection> {
    let message: String = event.failure.message.chars().take(5000).collect();
    let error = ErrorDetails { code: event.failure.kind.as_str().to_string(), message };
    if event.job.condition.is_some() {
        let external = (event.failure.external_execution_id.clone(), None);
        return rule_result(ctx, &event.job, Err(error), external, None);
    }
    let (stage, action) = match locate(ctx, &event.job)? {
        Ok(found) => found,
        Err(stale) => return Ok(Some(stale)),
    };
    fail_attempt(ctx, &event.job.execution_id, stage, action, error, event.failure.external_execution_id.clone())?;
    if let Some(details) = &event.details {
        let run = &mut ctx.exec_mut(&event.job.execution_id)?.stages[stage].actions[action];
        if let Some(attempt) = run.attempts.last_mut() {
            attempt.details = Some(details.clone());
        }
    }
    settle(ctx, &event.job.execution_id)?;
    Ok(None)
}

fn fail_attempt(
    ctx: &mut Context,
    id: &str,
    stage: usize,
    action: usize,
    error: ErrorDetails,
    external_execution_id: Option<String>,
) -> Result<(), Rejection> {
    let execution = ctx.exec_mut(id)?;
    let run = &mut execution.stages[stage].actions[action];
    let name = run.name.clone();
    let attempt =
        run.attempts.last_mut().ok_or_else(|| Rejection::Inconsistent(format!("action {name} has no attempt")))?;
    attempt.error = Some(error);
    if external_execution_id.is_some() {
        attempt.external_execution_id =
            kept_external_id(attempt.external_execution_id.take(), external_execution_id, &attempt.action_execution_id);
    }
    ctx.change(id, Change::Action(stage, action, ActionMove::Fail))
}

/// The external id an attempt keeps when its result arrives: the reported one, unless that
/// is only the action execution's own id (what a provider without an id of its own reports)
/// and a progress report already recorded the job's real one, such as the build a CodeBuild
/// action waited on, which CodePipeline shows as the action's external execution id.
fn kept_external_id(recorded: Option<String>, reported: Option<String>, own: &str) -> Option<String> {
    match (recorded, reported) {
        (Some(recorded), Some(reported)) if reported == own => Some(recorded),
        (recorded, None) => recorded,
        (_, reported) => reported,
    }
}

/// A continuation token ends the current job and starts the next one
/// (docs/reference/codepipeline.md §5).
pub(crate) fn job_continued(ctx: &mut Context, event: &JobContinued) -> Result<Option<Stale>, Rejection> {
    if event.job.condition.is_some() {
        return rule_continued(ctx, event);
    }
    let (stage, action) = match locate(ctx, &event.job)? {
        Ok(found) => found,
        Err(stale) => return Ok(Some(stale)),
    };
    valid_token(&event.continuation_token)?;
    let id = event.job.execution_id.as_str();
    let now = ctx.now;
    let lambda = ctx.pipeline.stages[stage].actions[action].kind == Some(ProviderKind::Lambda);
    let execution = ctx.exec_mut(id)?;
    let seed = execution.seed.clone();
    let run = &mut execution.stages[stage].actions[action];
    let name = run.name.clone();
    let attempt =
        run.attempts.last_mut().ok_or_else(|| Rejection::Inconsistent(format!("action {name} has no attempt")))?;
    attempt.updated_at = now;
    attempt.summary = event.summary.clone().or(attempt.summary.take());
    attempt.percent_complete = event.percent_complete.or(attempt.percent_complete);
    if event.external_execution_id.is_some() {
        attempt.external_execution_id = event.external_execution_id.clone();
    }
    let action_execution_id = attempt.action_execution_id.clone();
    let Some(job) = attempt.job.as_mut() else {
        return Err(Rejection::Inconsistent(format!("action {name} has no job")));
    };
    next_job(job, &seed, &action_execution_id, &event.continuation_token);
    if lambda {
        job.heartbeat_deadline = Some(now.plus_minutes(LAMBDA_HEARTBEAT_MINUTES));
    }
    let execution = ctx.exec(id)?;
    let resolved = resolve(ctx.pipeline, execution, stage, action, &action_execution_id)
        .map_err(|e| Rejection::Inconsistent(format!("inputs of {name} no longer resolve: {}", e.message)))?;
    let dispatch = build_dispatch(ctx, id, stage, action, resolved)?;
    // A deploy provider's continuation is its wait for a service: the token is kept with the
    // attempt and the next look is the tick's to send, not an immediate job
    // (docs/providers.md §13).
    let waits_for_tick = ctx.pipeline.stages[stage].actions[action].kind.is_some_and(crate::deploy::waits_on_service);
    if !waits_for_tick {
        ctx.emit(Effect::Dispatch(Box::new(dispatch)));
    }
    schedule_wake(ctx, id, stage, action)?;
    Ok(None)
}

fn valid_token(token: &str) -> Result<(), Rejection> {
    if token.is_empty() || token.len() > 2048 {
        return Err(Rejection::Validation("continuationToken: must be 1 to 2048 characters".to_string()));
    }
    Ok(())
}

/// A rule's job continues only where its provider waits for a service (a Commands rule's
/// build, which CodeBuild runs): the token is kept on the rule's next job for the tick's next
/// look and the build's event, as an action's is. Any other rule reports its success or
/// failure (a LambdaInvoke rule's function cannot continue, as on CodePipeline).
fn rule_continued(ctx: &mut Context, event: &JobContinued) -> Result<Option<Stale>, Rejection> {
    let (stage, condition, rule) = match locate_rule(ctx, &event.job)? {
        Ok(found) => found,
        Err(stale) => return Ok(Some(stale)),
    };
    let kind = ctx.exec(&event.job.execution_id)?.stages[stage].conditions[condition].kind;
    if !super::conditions::waits_on_service(ctx.pipeline, stage, kind, rule) {
        return Err(Rejection::Validation(
            "continuationToken: a rule's job cannot continue; report its success or failure".to_string(),
        ));
    }
    valid_token(&event.continuation_token)?;
    let now = ctx.now;
    let execution = ctx.exec_mut(&event.job.execution_id)?;
    let seed = execution.seed.clone();
    let attempt = &mut execution.stages[stage].conditions[condition].rules[rule];
    attempt.updated_at = now;
    attempt.summary = event.summary.clone().or(attempt.summary.take());
    if event.external_execution_id.is_some() {
        attempt.external_execution_id = event.external_execution_id.clone();
    }
    let (rule_execution_id, name) = (attempt.rule_execution_id.clone(), attempt.name.clone());
    let job = attempt.job.as_mut().ok_or_else(|| Rejection::Inconsistent(format!("rule {name} has no job")))?;
    next_job(job, &seed, &rule_execution_id, &event.continuation_token);
    Ok(None)
}

/// The job after `job`, which carries `token`: the next sequence, and its id.
fn next_job(job: &mut Job, seed: &str, execution_of_job: &str, token: &str) {
    job.sequence += 1;
    job.id = ids::job_id(seed, execution_of_job, job.sequence);
    job.continuation_token = Some(token.to_string());
}

/// PutApprovalResult (docs/reference/codepipeline.md §4).
pub(crate) fn approval_result(ctx: &mut Context, event: &ApprovalResult) -> Result<Option<Stale>, Rejection> {
    let execution = ctx.target(&event.execution_id)?;
    let stage = execution.stage_index(&event.stage).ok_or_else(|| Rejection::StageNotFound(event.stage.clone()))?;
    let action = execution.stages[stage]
        .action_index(&event.action)
        .ok_or_else(|| Rejection::ActionNotFound { stage: event.stage.clone(), action: event.action.clone() })?;
    if !ctx.pipeline.stages[stage].actions[action].is_approval() {
        return Err(Rejection::Validation(format!("\"{}\" is not a manual approval action", event.action)));
    }
    if event.summary.as_ref().is_some_and(|s| s.chars().count() > 512) {
        return Err(Rejection::Validation("result.summary: at most 512 characters".to_string()));
    }
    let attempt = execution.stages[stage].actions[action].attempts.last().ok_or_else(|| {
        Rejection::InvalidApprovalToken(format!("no approval of \"{}\" has been requested", event.action))
    })?;
    if attempt.token.as_deref() != Some(event.token.as_str()) {
        return Err(Rejection::InvalidApprovalToken(format!(
            "the token does not match the current approval of \"{}\" in stage \"{}\"",
            event.action, event.stage
        )));
    }
    if attempt.status != ActionStatus::InProgress {
        return Ok(Some(Stale::ActionFinished { status: attempt.status.as_str() }));
    }
    if ctx.now >= attempt.deadline {
        return Err(Rejection::InvalidApprovalToken(format!("the approval expired at {}", attempt.deadline)));
    }
    let id = event.execution_id.as_str();
    let execution = ctx.exec_mut(id)?;
    let Some(attempt) = execution.stages[stage].actions[action].attempts.last_mut() else {
        return Err(Rejection::Inconsistent("approval attempt vanished".to_string()));
    };
    attempt.summary = event.summary.clone();
    attempt.last_updated_by = event.by.clone();
    let answer = match event.status {
        ApprovalStatus::Approved => ActionMove::Succeed,
        ApprovalStatus::Rejected => {
            let who = event.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            let why = event.summary.as_deref().map(|s| format!(": {s}")).unwrap_or_default();
            attempt.error =
                Some(ErrorDetails { code: "JobFailed".to_string(), message: format!("Rejected{who}{why}") });
            ActionMove::Fail
        }
    };
    ctx.change(id, Change::Action(stage, action, answer))?;
    settle(ctx, id)?;
    Ok(None)
}

/// Fails every in-progress action of the execution whose deadline has passed.
pub(crate) fn tick(ctx: &mut Context, event: &Tick) -> Result<Option<Stale>, Rejection> {
    let id = event.execution_id.as_str();
    let now = ctx.now;
    let execution = ctx.target(id)?;
    if execution.status.is_finished() {
        return Ok(Some(Stale::NothingDue));
    }
    if conditions::tick_rules(ctx, id)? {
        return Ok(None);
    }
    let execution = ctx.target(id)?;
    let mut expired = Vec::new();
    for (stage, run) in execution.stages.iter().enumerate() {
        for (action, action_run) in run.actions.iter().enumerate() {
            let Some(attempt) = action_run.attempts.last().filter(|a| a.status == ActionStatus::InProgress) else {
                continue;
            };
            let (due, _) = next_deadline(attempt);
            if now < due {
                continue;
            }
            let plan = &ctx.pipeline.stages[stage].actions[action];
            let allowed = describe_duration(attempt.deadline.millis() - attempt.started_at.millis());
            let message = if plan.is_approval() {
                format!("The approval expired: no answer within {allowed}")
            } else if now < attempt.deadline {
                format!("No result for job within {LAMBDA_HEARTBEAT_MINUTES} minutes")
            } else {
                format!("The action timed out after {allowed}")
            };
            expired.push((stage, action, message));
        }
    }
    if expired.is_empty() {
        return Ok(Some(Stale::NothingDue));
    }
    for (stage, action, message) in expired {
        fail_attempt(ctx, id, stage, action, ErrorDetails { code: "JobFailed".to_string(), message }, None)?;
    }
    settle(ctx, id)?;
    Ok(None)
}

/// `55 minutes`, `3 seconds`, `2 hours`, `7 days`: a timeout as people say it.
fn describe_duration(millis: i64) -> String {
    let seconds = millis.max(0) / 1000;
    let (value, unit) = match seconds {
        s if s % 86_400 == 0 && s >= 86_400 => (s / 86_400, "day"),
        s if s % 3600 == 0 && s >= 3600 => (s / 3600, "hour"),
        s if s % 60 == 0 && s >= 60 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{value} {unit}{}", if value == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::kept_external_id;

    #[test]
    fn a_result_without_an_id_of_its_own_keeps_the_job_id_recorded_while_it_ran() {
        let some = |s: &str| Some(s.to_string());
        // A build's id, recorded while it ran, outlives the generic id of its result.
        assert_eq!(kept_external_id(some("proj:build-1"), some("aex-1"), "aex-1"), some("proj:build-1"));
        assert_eq!(kept_external_id(some("proj:build-1"), None, "aex-1"), some("proj:build-1"));
        // A result that names an id of its own wins; with nothing recorded the result's stands.
        assert_eq!(kept_external_id(some("proj:build-1"), some("deploy-9"), "aex-1"), some("deploy-9"));
        assert_eq!(kept_external_id(None, some("aex-1"), "aex-1"), some("aex-1"));
        assert_eq!(kept_external_id(None, None, "aex-1"), None);
    }
}
