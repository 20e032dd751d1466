//! Stage conditions (docs/conditions.md): an evaluation runs every rule of the condition
//! together; it is met when every rule succeeds, and not met as soon as one fails, when the
//! condition's result engages. VariableCheck and DeploymentWindow rules are decided here,
//! against the execution's variables and the engine's `now`; Commands, LambdaInvoke and
//! CloudWatchAlarm rules are jobs, dispatched like actions, whose results come back as events.

use std::collections::BTreeMap;

use super::context::Context;
use super::dispatch::{resolve_commands, resolve_configuration, resolve_inputs};
use super::effect::{Dispatch, Effect, StopWork, WakeAt};
use super::flow::{self, settle};
use super::moves::{Change, ConditionMove, RuleMove};
use super::rejection::Rejection;
use super::state::{
    ConditionKind, ConditionRun, ConditionStatus, ErrorDetails, Execution, ExecutionType, Job, RuleAttempt, RuleStatus,
};
use crate::cron::Window;
use crate::declaration::{ActionCategory, ActionOwner, ActionTypeId, RuleDeclaration};
use crate::ids;
use crate::pipeline::{ConditionPlan, Engage, Pipeline};
use crate::rule_types::RuleProvider;
use crate::time::Timestamp;

/// A rule run by a provider fails after this long unless it declares `timeoutInMinutes`.
pub const DEFAULT_RULE_TIMEOUT_MINUTES: u32 = 60;

/// The stage's `kind` condition, if it governs this execution: a rollback runs its stage
/// without the stage's conditions (docs/conditions.md).
pub(crate) fn plan<'p>(
    ctx: &Context<'p>,
    id: &str,
    stage: usize,
    kind: ConditionKind,
) -> Result<Option<&'p ConditionPlan>, Rejection> {
    let pipeline: &'p Pipeline = ctx.pipeline;
    if ctx.exec(id)?.execution_type == ExecutionType::Rollback {
        return Ok(None);
    }
    Ok(pipeline.stages[stage].condition(kind))
}

/// Whether the stage's entry condition still has to be met in its current run.
pub(crate) fn entry_pending(ctx: &Context, id: &str, stage: usize) -> Result<bool, Rejection> {
    if plan(ctx, id, stage, ConditionKind::BeforeEntry)?.is_none() {
        return Ok(false);
    }
    let run = &ctx.exec(id)?.stages[stage];
    let met = run.conditions.iter().any(|c| {
        c.kind == ConditionKind::BeforeEntry
            && c.stage_run == run.run
            && matches!(c.status, ConditionStatus::Succeeded | ConditionStatus::Overridden)
    });
    Ok(!met)
}

/// Starts an evaluation of the stage's `kind` condition and decides what it can at once.
pub(crate) fn begin(ctx: &mut Context, id: &str, stage: usize, kind: ConditionKind) -> Result<(), Rejection> {
    let Some(plan) = plan(ctx, id, stage, kind)? else {
        return Ok(());
    };
    let now = ctx.now;
    let execution = ctx.exec(id)?;
    let run = &execution.stages[stage];
    let number = u32::try_from(run.conditions.iter().filter(|c| c.kind == kind).count()).unwrap_or(u32::MAX - 1) + 1;
    let evaluation = ConditionRun {
        kind,
        number,
        attempt: execution.attempt,
        stage_run: run.run,
        // The Start move sets it.
        status: ConditionStatus::InProgress,
        summary: None,
        started_at: now,
        updated_at: now,
        rules: Vec::new(),
    };
    let index = ctx.start_condition(id, stage, evaluation)?;
    for rule in 0..plan.rules.len() {
        start_rule(ctx, id, stage, index, rule)?;
        // One rule that fails decides the condition: the others need not start.
        if ctx.exec(id)?.stages[stage].conditions[index].rules[rule].status == RuleStatus::Failed {
            break;
        }
    }
    conclude(ctx, id, stage, index)
}

/// What a rule runs with, resolved.
struct ResolvedRule {
    configuration: BTreeMap<String, String>,
    inputs: Vec<super::state::ArtifactRef>,
}

/// The rule's configuration and inputs; its commands are resolved too, so that one that
/// cannot be fails the rule before it is dispatched.
fn resolve_rule(declaration: &RuleDeclaration, execution: &Execution) -> Result<ResolvedRule, ErrorDetails> {
    resolve_commands(declaration.commands.as_deref(), execution)?;
    Ok(ResolvedRule {
        configuration: resolve_configuration(declaration.configuration.as_ref(), execution)?,
        inputs: resolve_inputs(declaration.input_artifacts.iter().flatten().map(|a| a.name.as_str()), execution)?,
    })
}

fn configuration_error(message: String) -> ErrorDetails {
    ErrorDetails { code: "ConfigurationError".to_string(), message }
}

/// Starts rule `rule` of the evaluation at `condition`.
fn start_rule(ctx: &mut Context, id: &str, stage: usize, condition: usize, rule: usize) -> Result<(), Rejection> {
    let pipeline = ctx.pipeline;
    let now = ctx.now;
    let execution = ctx.exec(id)?;
    let evaluation = &execution.stages[stage].conditions[condition];
    let kind = evaluation.kind;
    let Some(rule_plan) = pipeline.stages[stage].condition(kind).and_then(|c| c.rules.get(rule)) else {
        return Err(Rejection::Inconsistent(format!(
            "stage {stage} has no rule {rule} in its {} condition",
            kind.field()
        )));
    };
    let Some(declaration) = pipeline.rule_declaration(stage, kind, rule) else {
        return Err(Rejection::Inconsistent(format!("rule {} is not declared", rule_plan.name)));
    };
    let rule_execution_id = ids::rule_execution_id(
        &execution.id,
        &execution.stages[stage].name,
        kind.as_str(),
        evaluation.number,
        &rule_plan.name,
    );
    let timeout = rule_plan
        .timeout_minutes
        .or_else(|| rule_plan.provider.filter(|p| p.is_job()).map(|_| DEFAULT_RULE_TIMEOUT_MINUTES));
    let resolution = resolve_rule(declaration, execution);
    let seed = execution.seed.clone();
    let mut attempt = RuleAttempt {
        name: rule_plan.name.clone(),
        rule_execution_id: rule_execution_id.clone(),
        // The Start move sets it.
        status: RuleStatus::InProgress,
        started_at: now,
        updated_at: now,
        deadline: timeout.map(|minutes| now.plus_minutes(minutes)),
        recheck_at: None,
        job: None,
        resolved_configuration: BTreeMap::new(),
        input_artifacts: Vec::new(),
        summary: None,
        error: None,
        external_execution_id: None,
        external_execution_url: None,
        last_updated_by: None,
    };
    let resolved = match resolution {
        Ok(resolved) => resolved,
        Err(error) => {
            let index = ctx.start_rule(id, stage, condition, attempt)?;
            return finish_rule(ctx, id, (stage, condition, index), Err(error));
        }
    };
    attempt.resolved_configuration = resolved.configuration.clone();
    attempt.input_artifacts = resolved.inputs.clone();
    let provider = rule_plan.provider;
    if provider.is_some_and(RuleProvider::is_job) {
        attempt.job = Some(Job {
            id: ids::job_id(&seed, &rule_execution_id, 1),
            sequence: 1,
            continuation_token: None,
            heartbeat_deadline: None,
        });
    }
    let index = ctx.start_rule(id, stage, condition, attempt)?;
    let at = (stage, condition, index);
    match provider {
        None => finish_rule(
            ctx,
            id,
            at,
            Err(configuration_error(format!(
                "rule provider \"{}\" is not one Pipewright runs (ListRuleTypes lists them)",
                declaration.rule_type_id.provider
            ))),
        ),
        Some(RuleProvider::VariableCheck) => finish_rule(ctx, id, at, variable_check(&resolved.configuration)),
        Some(RuleProvider::DeploymentWindow) => check_window(ctx, id, at),
        Some(_) => {
            let dispatch = build_rule_dispatch(ctx, id, at)?;
            ctx.emit(Effect::Dispatch(Box::new(dispatch)));
            schedule_rule_wake(ctx, id, at)
        }
    }
}

/// A VariableCheck: `Variable` (resolved) against `Value` by `Operator`
/// (docs/conditions.md, "VariableCheck").
fn variable_check(configuration: &BTreeMap<String, String>) -> Result<String, ErrorDetails> {
    let get = |key: &str| {
        configuration.get(key).ok_or_else(|| configuration_error(format!("configuration {key} is required")))
    };
    let (variable, value, operator) = (get("Variable")?, get("Value")?, get("Operator")?);
    let holds = match operator.as_str() {
        "EQ" => variable == value,
        "NE" => variable != value,
        "CONTAINS" => variable.contains(value.as_str()),
        "MATCHES" => crate::import::pattern::matches(value, variable).ok_or_else(|| {
            configuration_error(format!("configuration Value: \"{value}\" is not a regular expression"))
        })?,
        other => {
            return Err(configuration_error(format!(
                "configuration Operator: \"{other}\" is not EQ, NE, CONTAINS or MATCHES"
            )));
        }
    };
    let described = format!("\"{variable}\" {operator} \"{value}\"");
    if holds {
        Ok(format!("{described} holds"))
    } else {
        Err(ErrorDetails { code: "JobFailed".to_string(), message: format!("{described} does not hold") })
    }
}

/// A DeploymentWindow: succeeds when the window is open at `now`; otherwise the rule waits,
/// and the engine looks again when the window next opens.
fn check_window(ctx: &mut Context, id: &str, at: (usize, usize, usize)) -> Result<(), Rejection> {
    let now = ctx.now;
    let attempt = rule(ctx, id, at)?;
    let configuration = &attempt.resolved_configuration;
    let window = match configuration.get("Cron") {
        None => Err("configuration Cron is required".to_string()),
        Some(cron) => Window::parse(cron, configuration.get("TimeZone").map(String::as_str))
            .map_err(|e| format!("configuration Cron: {e}")),
    };
    let window = match window {
        Ok(window) => window,
        Err(message) => return finish_rule(ctx, id, at, Err(configuration_error(message))),
    };
    match window.next_opening(now) {
        Some(opening) if opening <= now => finish_rule(ctx, id, at, Ok("The deployment window is open".to_string())),
        Some(opening) => {
            let attempt = rule_mut(ctx, id, at)?;
            attempt.recheck_at = Some(opening);
            attempt.summary = Some(format!("Waiting for the deployment window to open at {opening}"));
            schedule_rule_wake(ctx, id, at)
        }
        None => finish_rule(
            ctx,
            id,
            at,
            Err(ErrorDetails {
                code: "JobFailed".to_string(),
                message: "The deployment window never opens again".to_string(),
            }),
        ),
    }
}

fn rule<'c>(
    ctx: &'c Context,
    id: &str,
    (stage, condition, rule): (usize, usize, usize),
) -> Result<&'c RuleAttempt, Rejection> {
    ctx.exec(id)?.stages[stage].conditions[condition]
        .rules
        .get(rule)
        .ok_or_else(|| Rejection::Inconsistent(format!("rule {rule} has not started")))
}

fn rule_mut<'c>(
    ctx: &'c mut Context,
    id: &str,
    (stage, condition, rule): (usize, usize, usize),
) -> Result<&'c mut RuleAttempt, Rejection> {
    ctx.exec_mut(id)?.stages[stage].conditions[condition]
        .rules
        .get_mut(rule)
        .ok_or_else(|| Rejection::Inconsistent(format!("rule {rule} has not started")))
}

/// Ends a rule: a summary on success, the error on failure. The condition is not concluded
/// here; [`begin`] and the result handlers do that.
pub(crate) fn finish_rule(
    ctx: &mut Context,
    id: &str,
    at: (usize, usize, usize),
    result: Result<String, ErrorDetails>,
) -> Result<(), Rejection> {
    let attempt = rule_mut(ctx, id, at)?;
    attempt.recheck_at = None;
    let by = match result {
        Ok(summary) => {
            attempt.summary = Some(summary);
            RuleMove::Succeed
        }
        Err(error) => {
            attempt.summary = Some(error.message.chars().take(2048).collect());
            attempt.error = Some(error);
            RuleMove::Fail
        }
    };
    ctx.change(id, Change::Rule(at.0, at.1, at.2, by))
}

/// Asks for a `Tick` when the rule next needs a look (its deadline, or its window).
fn schedule_rule_wake(ctx: &mut Context, id: &str, at: (usize, usize, usize)) -> Result<(), Rejection> {
    let execution = ctx.exec(id)?;
    let stage = &execution.stages[at.0];
    let evaluation = &stage.conditions[at.1];
    let attempt = rule(ctx, id, at)?;
    let Some(due) = attempt.next_due() else { return Ok(()) };
    let wake = WakeAt {
        id: format!(
            "wake/{}/{}/{}/{}/{}/{}",
            execution.id,
            stage.name,
            evaluation.kind.as_str(),
            evaluation.number,
            attempt.name,
            due.millis()
        ),
        execution_id: execution.id.clone(),
        at: due,
    };
    ctx.emit(Effect::WakeAt(wake));
    Ok(())
}

/// The dispatch of a rule's job, as first sent (also rebuilt by `work_in_flight`).
pub(crate) fn build_rule_dispatch(ctx: &Context, id: &str, at: (usize, usize, usize)) -> Result<Dispatch, Rejection> {
    let pipeline = ctx.pipeline;
    let execution = ctx.exec(id)?;
    let stage = &execution.stages[at.0];
    let evaluation = &stage.conditions[at.1];
    let attempt = rule(ctx, id, at)?;
    let job =
        attempt.job.as_ref().ok_or_else(|| Rejection::Inconsistent(format!("rule {} has no job", attempt.name)))?;
    let declaration = pipeline
        .rule_declaration(at.0, evaluation.kind, at.2)
        .ok_or_else(|| Rejection::Inconsistent(format!("rule {} is not declared", attempt.name)))?;
    let store = pipeline.artifact_store(declaration.region.as_deref());
    Ok(Dispatch {
        id: format!(
            "dispatch/{}/{}/{}/{}/{}/{}",
            execution.id,
            stage.name,
            evaluation.kind.as_str(),
            evaluation.number,
            attempt.name,
            job.sequence
        ),
        pipeline: execution.pipeline_name.clone(),
        pipeline_version: execution.pipeline_version,
        execution_id: execution.id.clone(),
        stage: stage.name.clone(),
        action: attempt.name.clone(),
        attempt: evaluation.number,
        action_execution_id: attempt.rule_execution_id.clone(),
        job_id: job.id.clone(),
        job_sequence: job.sequence,
        action_type: ActionTypeId {
            category: ActionCategory::parse("Rule"),
            owner: ActionOwner::Aws,
            provider: declaration.rule_type_id.provider.clone(),
            version: declaration.rule_type_id.version.clone().unwrap_or_else(|| "1".to_string()),
        },
        region: declaration.region.clone().or_else(|| pipeline.environment.region.clone()),
        role_arn: declaration.role_arn.clone(),
        namespace: None,
        configuration: attempt.resolved_configuration.clone(),
        commands: resolve_commands(declaration.commands.as_deref(), execution).map_err(|e| {
            Rejection::Inconsistent(format!("commands of rule {} no longer resolve: {}", attempt.name, e.message))
        })?,
        environment_variables: Vec::new(),
        output_variables: Vec::new(),
        input_artifacts: attempt.input_artifacts.clone(),
        output_artifacts: Vec::new(),
        encryption_key: store.and_then(|s| s.encryption_key.clone()),
        continuation_token: job.continuation_token.clone(),
        source_revision: None,
        deadline: attempt.deadline.unwrap_or_else(|| ctx.now.plus_minutes(DEFAULT_RULE_TIMEOUT_MINUTES)),
        source_revisions: execution.artifact_revisions.clone(),
        condition: Some(evaluation.kind),
    })
}

/// Decides the evaluation at `condition` once its rules allow: met when every rule
/// succeeded, not met as soon as one failed (the others are abandoned). Then the execution
/// goes on, or the condition's result engages.
pub(crate) fn conclude(ctx: &mut Context, id: &str, stage: usize, condition: usize) -> Result<(), Rejection> {
    let evaluation = &ctx.exec(id)?.stages[stage].conditions[condition];
    if evaluation.status != ConditionStatus::InProgress {
        return Ok(());
    }
    let kind = evaluation.kind;
    let failed = evaluation.rules.iter().find(|r| r.status == RuleStatus::Failed);
    let met = match failed {
        Some(rule) => {
            let why = rule.error.as_ref().map_or("failed".to_string(), |e| e.message.clone());
            let summary = format!("Rule {} failed: {why}", rule.name);
            abandon_rules(ctx, id, stage, condition)?;
            ctx.exec_mut(id)?.stages[stage].conditions[condition].summary = Some(summary.chars().take(2048).collect());
            ctx.change(id, Change::Condition(stage, condition, ConditionMove::Fail))?;
            false
        }
        None if evaluation.rules.iter().all(|r| r.status == RuleStatus::Succeeded) => {
            ctx.exec_mut(id)?.stages[stage].conditions[condition].summary = Some("All rules succeeded".to_string());
            ctx.change(id, Change::Condition(stage, condition, ConditionMove::Succeed))?;
            true
        }
        None => return Ok(()),
    };
    if met { proceed(ctx, id, stage, kind) } else { engage(ctx, id, stage, condition) }
}

/// The condition is met (or overridden): the execution goes on.
pub(crate) fn proceed(ctx: &mut Context, id: &str, stage: usize, kind: ConditionKind) -> Result<(), Rejection> {
    match kind {
        ConditionKind::BeforeEntry => settle(ctx, id),
        ConditionKind::OnSuccess => flow::succeed_stage(ctx, id, stage),
        // A stage whose failure condition is met fails as it would without one.
        ConditionKind::OnFailure => flow::fail_stage(ctx, id, stage, Engage::Fail, None),
    }
}

/// The condition is not met: its result engages.
fn engage(ctx: &mut Context, id: &str, stage: usize, condition: usize) -> Result<(), Rejection> {
    let evaluation = &ctx.exec(id)?.stages[stage].conditions[condition];
    let kind = evaluation.kind;
    let why = evaluation.summary.clone().unwrap_or_default();
    let result = plan(ctx, id, stage, kind)?.map_or(Engage::Fail, |p| p.result);
    let stage_name = ctx.exec(id)?.stages[stage].name.clone();
    let reason = format!("The {} condition of stage \"{stage_name}\" was not met ({why})", kind.field());
    match (kind, result) {
        (ConditionKind::BeforeEntry, Engage::Skip) => flow::skip_stage(ctx, id, stage),
        (_, result) => flow::fail_stage(ctx, id, stage, result, Some(reason)),
    }?;
    settle(ctx, id)
}

/// Abandons the rules of the evaluation still in progress.
fn abandon_rules(ctx: &mut Context, id: &str, stage: usize, condition: usize) -> Result<(), Rejection> {
    let running: Vec<usize> = ctx.exec(id)?.stages[stage].conditions[condition]
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == RuleStatus::InProgress)
        .map(|(i, _)| i)
        .collect();
    for rule in running {
        let attempt = rule_mut(ctx, id, (stage, condition, rule))?;
        attempt.recheck_at = None;
        ctx.change(id, Change::Rule(stage, condition, rule, RuleMove::Abandon))?;
        stop_work(ctx, id, (stage, condition, rule))?;
    }
    Ok(())
}

/// Whether the provider of rule `rule` of the stage's `kind` condition runs its work on a
/// service and waits for it (a Commands rule's build): its job can continue, and its work
/// outlives the rule unless stopped.
pub(crate) fn waits_on_service(pipeline: &Pipeline, stage: usize, kind: ConditionKind, rule: usize) -> bool {
    pipeline
        .rule_declaration(stage, kind, rule)
        .and_then(|declared| RuleProvider::of(&declared.rule_type_id.provider))
        .and_then(RuleProvider::action_kind)
        .is_some_and(crate::deploy::waits_on_service)
}

/// Asks for the work of a rule that ended without its result (abandoned, timed out) to be
/// stopped: a build it started would otherwise run to its end, unwatched. Only a rule whose
/// provider waits for a service has its work's id recorded while it runs
/// (`results::rule_continued`), against the version the execution runs; nothing for one whose
/// work's start has not been recorded (its start's result is then stale, and invoke-action
/// stops what it started).
fn stop_work(ctx: &mut Context, id: &str, at: (usize, usize, usize)) -> Result<(), Rejection> {
    let execution = ctx.exec(id)?;
    let attempt = rule(ctx, id, at)?;
    let Some(external_execution_id) = attempt.external_execution_id.clone() else { return Ok(()) };
    let stop = StopWork {
        id: format!("stop/{}", attempt.rule_execution_id),
        pipeline: execution.pipeline_name.clone(),
        pipeline_version: execution.pipeline_version,
        execution_id: execution.id.clone(),
        stage: execution.stages[at.0].name.clone(),
        condition: execution.stages[at.0].conditions[at.1].kind,
        rule: attempt.name.clone(),
        external_execution_id,
    };
    ctx.emit(Effect::StopWork(Box::new(stop)));
    Ok(())
}

/// Ends an evaluation in progress without deciding it: `Abandon` (a stop, a retry) or
/// `Cancel` (a pipeline update). Its rules are abandoned.
pub(crate) fn end_in_progress(ctx: &mut Context, id: &str, stage: usize, by: ConditionMove) -> Result<(), Rejection> {
    let Some(condition) = ctx.exec(id)?.stages[stage].condition_in_progress() else { return Ok(()) };
    abandon_rules(ctx, id, stage, condition)?;
    ctx.change(id, Change::Condition(stage, condition, by))
}

/// OverrideStageCondition's release of the evaluation at `condition`.
pub(crate) fn override_evaluation(
    ctx: &mut Context,
    id: &str,
    stage: usize,
    condition: usize,
    by: Option<&str>,
) -> Result<(), Rejection> {
    abandon_rules(ctx, id, stage, condition)?;
    let who = by.map(|b| format!(" by {b}")).unwrap_or_default();
    let evaluation = &mut ctx.exec_mut(id)?.stages[stage].conditions[condition];
    evaluation.summary = Some(format!("Overridden{who}"));
    let kind = evaluation.kind;
    ctx.change(id, Change::Condition(stage, condition, ConditionMove::Override))?;
    proceed(ctx, id, stage, kind)
}

/// Looks again at every rule of the execution that is due at `now`: a deadline passed fails
/// the rule, a deployment window is checked again. True when anything changed.
pub(crate) fn tick_rules(ctx: &mut Context, id: &str) -> Result<bool, Rejection> {
    let now = ctx.now;
    let mut due = Vec::new();
    for (s, run) in ctx.exec(id)?.stages.iter().enumerate() {
        let Some(c) = run.condition_in_progress() else { continue };
        for (r, attempt) in run.conditions[c].rules.iter().enumerate() {
            if attempt.next_due().is_some_and(|at| at <= now) {
                let timed_out = attempt.deadline.is_some_and(|d| d <= now);
                due.push(((s, c, r), timed_out));
            }
        }
    }
    let changed = !due.is_empty();
    let mut concluded = Vec::new();
    for (at, timed_out) in due {
        if timed_out {
            let attempt = rule(ctx, id, at)?;
            let minutes = attempt.deadline.map_or(0, |d| (d.millis() - attempt.started_at.millis()) / 60_000);
            let error = ErrorDetails {
                code: "JobFailed".to_string(),
                message: format!("The rule timed out after {minutes} minutes"),
            };
            finish_rule(ctx, id, at, Err(error))?;
            stop_work(ctx, id, at)?;
        } else {
            check_window(ctx, id, at)?;
        }
        if !concluded.contains(&(at.0, at.1)) {
            concluded.push((at.0, at.1));
        }
    }
    for (stage, condition) in concluded {
        conclude(ctx, id, stage, condition)?;
    }
    Ok(changed)
}

/// The earliest time anything of the execution in progress needs the engine: an action's
/// deadline, a rule's deadline or its deployment window.
pub fn next_due(execution: &Execution) -> Option<Timestamp> {
    if execution.status.is_finished() {
        return None;
    }
    let actions = execution
        .stages
        .iter()
        .flat_map(|stage| stage.actions.iter())
        .filter_map(|action| action.attempts.last())
        .filter(|attempt| attempt.status == super::state::ActionStatus::InProgress)
        .map(|attempt| super::dispatch::next_deadline(attempt).0);
    let rules = execution
        .stages
        .iter()
        .flat_map(|stage| stage.conditions.iter())
        .flat_map(|c| c.rules.iter())
        .filter_map(RuleAttempt::next_due);
    actions.chain(rules).min()
}
