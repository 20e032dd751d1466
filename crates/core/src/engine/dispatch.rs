//! Starting one attempt of an action: resolve its variables and artifacts, set its deadline,
//! and ask a provider (or a person) to run it.

use std::collections::BTreeMap;

use super::context::Context;
use super::effect::{ApprovalRequest, Dispatch, Effect, OutputArtifactRef, ResolvedEnvironmentVariable, WakeAt};
use super::moves::{ActionMove, Change};
use super::rejection::Rejection;
use super::state::{ActionAttempt, ActionStatus, ArtifactLocation, ArtifactRef, ErrorDetails, Execution, Job};
use crate::ids;
use crate::pipeline::Pipeline;
use crate::providers::{LAMBDA_HEARTBEAT_MINUTES, ProviderKind};
use crate::time::Timestamp;
use crate::variables::{self, CODEPIPELINE_NAMESPACE, PIPELINE_VARIABLES_NAMESPACE};

/// A resolved action configuration may be at most 100 KB (docs/reference/codepipeline.md §1.6).
const MAX_RESOLVED_CONFIGURATION_BYTES: usize = 100 * 1024;

/// What an action runs with, every variable and artifact resolved.
pub(crate) struct Resolved {
    pub configuration: BTreeMap<String, String>,
    pub commands: Vec<String>,
    pub environment: Vec<ResolvedEnvironmentVariable>,
    pub inputs: Vec<ArtifactRef>,
    pub outputs: Vec<OutputArtifactRef>,
}

/// Resolves the action's inputs for the attempt `action_execution_id`, or says why it cannot
/// run (a `ConfigurationError`, as CodePipeline reports it).
pub(crate) fn resolve(
    pipeline: &Pipeline,
    execution: &Execution,
    stage: usize,
    action: usize,
    action_execution_id: &str,
) -> Result<Resolved, ErrorDetails> {
    let declaration = pipeline.action_declaration(stage, action);
    let lookup = variable_lookup(execution);
    let configuration = resolve_configuration(declaration.configuration.as_ref(), execution)?;
    let commands = resolve_commands(declaration.commands.as_deref(), execution)?;
    let environment = declaration
        .environment_variables
        .iter()
        .flatten()
        .map(|variable| {
            Ok(ResolvedEnvironmentVariable {
                name: variable.name.clone(),
                value: variables::resolve(&variable.value, &lookup)
                    .map_err(|e| configuration_error(&format!("environment variable {}", variable.name), e))?,
                kind: variable.variable_type.as_ref().map_or("PLAINTEXT", |t| t.as_str()).to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let inputs = resolve_inputs(declaration.input_names(), execution)?;
    let bucket =
        pipeline.artifact_store(declaration.region.as_deref()).map(|store| store.location.clone()).unwrap_or_default();
    let outputs = declaration
        .output_artifacts
        .iter()
        .flatten()
        .map(|output| OutputArtifactRef {
            name: output.name.clone(),
            location: ArtifactLocation {
                bucket: bucket.clone(),
                key: artifact_key(&pipeline.name, &output.name, &execution.seed, action_execution_id),
            },
            files: output.files.clone().unwrap_or_default(),
        })
        .collect();
    Ok(Resolved { configuration, commands, environment, inputs, outputs })
}

/// How `#{namespace.key}` references resolve in an execution.
pub(crate) fn variable_lookup<'e>(execution: &'e Execution) -> impl Fn(&str, &str) -> Option<&'e str> {
    move |namespace: &str, key: &str| -> Option<&'e str> {
        match namespace {
            CODEPIPELINE_NAMESPACE => (key == "PipelineExecutionId").then_some(execution.id.as_str()),
            PIPELINE_VARIABLES_NAMESPACE => execution.variables.get(key).map(String::as_str),
            other => execution.namespaces.get(other)?.get(key).map(String::as_str),
        }
    }
}

fn configuration_error(what: &str, error: variables::ResolveError) -> ErrorDetails {
    ErrorDetails { code: "ConfigurationError".to_string(), message: format!("{what}: {error}") }
}

/// A configuration with every variable resolved, within the size limit.
pub(crate) fn resolve_configuration<'c>(
    declared: Option<impl IntoIterator<Item = (&'c String, &'c String)>>,
    execution: &Execution,
) -> Result<BTreeMap<String, String>, ErrorDetails> {
    let lookup = variable_lookup(execution);
    let mut configuration = BTreeMap::new();
    for (key, value) in declared.into_iter().flatten() {
        let resolved =
            variables::resolve(value, &lookup).map_err(|e| configuration_error(&format!("configuration {key}"), e))?;
        configuration.insert(key.clone(), resolved);
    }
    let size: usize = configuration.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_RESOLVED_CONFIGURATION_BYTES {
        return Err(ErrorDetails {
            code: "ConfigurationError".to_string(),
            message: format!(
                "the resolved configuration is {size} bytes; the limit is {MAX_RESOLVED_CONFIGURATION_BYTES}"
            ),
        });
    }
    Ok(configuration)
}

pub(crate) fn resolve_commands(
    declared: Option<&[String]>,
    execution: &Execution,
) -> Result<Vec<String>, ErrorDetails> {
    let lookup = variable_lookup(execution);
    declared
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, command)| {
            variables::resolve(command, &lookup).map_err(|e| configuration_error(&format!("commands[{i}]"), e))
        })
        .collect()
}

/// The locations of the named input artifacts, each produced earlier in the execution.
pub(crate) fn resolve_inputs<'n>(
    names: impl IntoIterator<Item = &'n str>,
    execution: &Execution,
) -> Result<Vec<ArtifactRef>, ErrorDetails> {
    names
        .into_iter()
        .map(|name| match execution.artifacts.get(name) {
            Some(location) => Ok(ArtifactRef { name: name.to_string(), location: location.clone() }),
            None => Err(ErrorDetails {
                code: "ConfigurationError".to_string(),
                message: format!("input artifact \"{name}\" was not produced in this execution"),
            }),
        })
        .collect()
}

/// `<pipeline>/<artifact name, first 10 characters>/<id>`, CodePipeline's key layout.
fn artifact_key(pipeline: &str, artifact: &str, seed: &str, action_execution_id: &str) -> String {
    let short_name: String = artifact.chars().take(10).collect();
    format!("{pipeline}/{short_name}/{}", ids::short_from(&[seed, action_execution_id, artifact], 7))
}

/// Starts a new attempt of `action`.
pub(crate) fn dispatch_action(ctx: &mut Context, id: &str, stage: usize, action: usize) -> Result<(), Rejection> {
    let pipeline = ctx.pipeline;
    let plan = &pipeline.stages[stage].actions[action];
    let now = ctx.now;
    let execution = ctx.exec(id)?;
    let run = &execution.stages[stage];
    let number = u32::try_from(run.actions[action].attempts.len()).unwrap_or(u32::MAX - 1) + 1;
    let action_execution_id = ids::action_execution_id(&execution.id, &run.name, &plan.name, number);
    let resolution = resolve(pipeline, execution, stage, action, &action_execution_id);
    let timeout_ms = i64::from(plan.timeout_minutes) * 60_000;
    let timeout_ms = execution.action_timeout_seconds.map_or(timeout_ms, |cap| timeout_ms.min(i64::from(cap) * 1000));
    let deadline = Timestamp::from_millis(now.millis().saturating_add(timeout_ms));
    let heartbeat = (plan.kind == Some(ProviderKind::Lambda)).then(|| now.plus_minutes(LAMBDA_HEARTBEAT_MINUTES));
    let seed = execution.seed.clone();
    let stage_run = run.run;

    let mut attempt = ActionAttempt {
        number,
        stage_run,
        action_execution_id: action_execution_id.clone(),
        // The Start move sets it.
        status: ActionStatus::InProgress,
        started_at: now,
        updated_at: now,
        deadline,
        job: None,
        token: None,
        resolved_configuration: BTreeMap::new(),
        input_artifacts: Vec::new(),
        output_artifacts: Vec::new(),
        output_variables: BTreeMap::new(),
        summary: None,
        error: None,
        external_execution_id: None,
        external_execution_url: None,
        percent_complete: None,
        last_updated_by: None,
        details: None,
    };
    let resolved = match resolution {
        Ok(resolved) => resolved,
        Err(error) => {
            // It starts and fails at once, as CodePipeline reports a ConfigurationError.
            ctx.start_attempt(id, stage, action, attempt)?;
            if let Some(failed) = ctx.exec_mut(id)?.stages[stage].actions[action].attempts.last_mut() {
                failed.error = Some(error);
            }
            return ctx.change(id, Change::Action(stage, action, ActionMove::Fail));
        }
    };
    attempt.resolved_configuration = resolved.configuration.clone();
    attempt.input_artifacts = resolved.inputs.clone();
    attempt.output_artifacts =
        resolved.outputs.iter().map(|o| ArtifactRef { name: o.name.clone(), location: o.location.clone() }).collect();
    if plan.is_approval() {
        attempt.token = Some(ids::approval_token(&seed, &action_execution_id));
    } else {
        attempt.job = Some(Job {
            id: ids::job_id(&seed, &action_execution_id, 1),
            sequence: 1,
            continuation_token: None,
            heartbeat_deadline: heartbeat,
        });
    }
    ctx.start_attempt(id, stage, action, attempt)?;
    if plan.is_approval() {
        let request = approval_request(ctx, id, stage, action, &resolved)?;
        ctx.emit(Effect::RequestApproval(Box::new(request)));
    } else {
        let dispatch = build_dispatch(ctx, id, stage, action, resolved)?;
        ctx.emit(Effect::Dispatch(Box::new(dispatch)));
    }
    schedule_wake(ctx, id, stage, action)
}

pub(crate) fn approval_request(
    ctx: &Context,
    id: &str,
    stage: usize,
    action: usize,
    resolved: &Resolved,
) -> Result<ApprovalRequest, Rejection> {
    let execution = ctx.exec(id)?;
    let run = &execution.stages[stage];
    let action_run = &run.actions[action];
    let attempt = latest(action_run, &action_run.name)?;
    let config = |key: &str| resolved.configuration.get(key).cloned();
    Ok(ApprovalRequest {
        id: format!("approval/{}/{}/{}/{}", execution.id, run.name, action_run.name, attempt.number),
        pipeline: execution.pipeline_name.clone(),
        execution_id: execution.id.clone(),
        stage: run.name.clone(),
        action: action_run.name.clone(),
        attempt: attempt.number,
        action_execution_id: attempt.action_execution_id.clone(),
        token: attempt.token.clone().unwrap_or_default(),
        expires: attempt.deadline,
        notification_arn: config("NotificationArn"),
        custom_data: config("CustomData"),
        external_entity_link: config("ExternalEntityLink"),
    })
}

fn latest<'a>(run: &'a super::state::ActionRun, name: &str) -> Result<&'a ActionAttempt, Rejection> {
    run.attempts.last().ok_or_else(|| Rejection::Inconsistent(format!("action {name} has no attempt")))
}

/// The dispatch of the current job of the action's latest attempt.
pub(crate) fn build_dispatch(
    ctx: &Context,
    id: &str,
    stage: usize,
    action: usize,
    resolved: Resolved,
) -> Result<Dispatch, Rejection> {
    let pipeline = ctx.pipeline;
    let declaration = pipeline.action_declaration(stage, action);
    let execution = ctx.exec(id)?;
    let run = &execution.stages[stage];
    let action_run = &run.actions[action];
    let attempt = latest(action_run, &action_run.name)?;
    let job = attempt
        .job
        .as_ref()
        .ok_or_else(|| Rejection::Inconsistent(format!("action {} has no job", action_run.name)))?;
    let store = pipeline.artifact_store(declaration.region.as_deref());
    Ok(Dispatch {
        id: format!("dispatch/{}/{}/{}/{}/{}", execution.id, run.name, action_run.name, attempt.number, job.sequence),
        pipeline: execution.pipeline_name.clone(),
        pipeline_version: execution.pipeline_version,
        execution_id: execution.id.clone(),
        stage: run.name.clone(),
        action: action_run.name.clone(),
        attempt: attempt.number,
        action_execution_id: attempt.action_execution_id.clone(),
        job_id: job.id.clone(),
        job_sequence: job.sequence,
        action_type: declaration.action_type_id.clone(),
        region: declaration.region.clone().or_else(|| pipeline.environment.region.clone()),
        role_arn: declaration.role_arn.clone(),
        namespace: declaration.namespace.clone(),
        configuration: resolved.configuration,
        commands: resolved.commands,
        environment_variables: resolved.environment,
        output_variables: declaration.output_variables.clone().unwrap_or_default(),
        input_artifacts: resolved.inputs,
        output_artifacts: resolved.outputs,
        encryption_key: store.and_then(|s| s.encryption_key.clone()),
        continuation_token: job.continuation_token.clone(),
        source_revision: execution.source_revision_overrides.iter().find(|o| o.action_name == action_run.name).cloned(),
        deadline: attempt.deadline,
        source_revisions: execution.artifact_revisions.clone(),
        condition: None,
    })
}

/// Asks for a `Tick` when the attempt's next deadline passes.
pub(crate) fn schedule_wake(ctx: &mut Context, id: &str, stage: usize, action: usize) -> Result<(), Rejection> {
    let execution = ctx.exec(id)?;
    let run = &execution.stages[stage];
    let action_run = &run.actions[action];
    let attempt = latest(action_run, &action_run.name)?;
    let (at, job) = next_deadline(attempt);
    let wake = WakeAt {
        id: format!("wake/{}/{}/{}/{}/{job}", execution.id, run.name, action_run.name, attempt.number),
        execution_id: execution.id.clone(),
        at,
    };
    ctx.emit(Effect::WakeAt(wake));
    Ok(())
}

/// The earliest deadline of an attempt, and its job sequence (0 without a job).
pub fn next_deadline(attempt: &ActionAttempt) -> (Timestamp, u32) {
    match &attempt.job {
        Some(job) => (job.heartbeat_deadline.map_or(attempt.deadline, |h| h.min(attempt.deadline)), job.sequence),
        None => (attempt.deadline, 0),
    }
}
