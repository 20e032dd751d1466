//! Steering executions from any shell on the state directory: `approve`, `reject`, `retry`,
//! `stop`, `transitions`. Each submits one event through the shared handler; the worker of the
//! execution (or one started for it) carries out what follows.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use pipewright_core::engine::{
    ActionStatus, ApprovalResult, ApprovalStatus, Event, Execution, RetryStage, SetTransition, StopExecution,
};
use pipewright_core::pipeline::RetryMode;
use pipewright_core::service::Handled;
use pipewright_local::backend::{Backend, now};
use pipewright_local::worker::{Worker, WorkerError, WorkerOptions, whoami};

use crate::failure::{self, exit_for, usage};
use crate::launcher::ProcessLauncher;
use crate::output::{self, Style, short, summary};

#[derive(clap::Args)]
pub struct ApprovalArgs {
    /// The pipeline.
    pub(crate) name: String,
    /// The stage of the approval action.
    pub(crate) stage: String,
    /// The approval action.
    pub(crate) action: String,
    /// Why (up to 512 characters).
    #[arg(long, default_value = "")]
    pub(crate) summary: String,
    /// The execution, when several wait at this approval (PARALLEL mode).
    #[arg(long)]
    pub(crate) execution: Option<String>,
}

#[derive(clap::Args)]
pub struct RetryArgs {
    /// The pipeline.
    pub(crate) name: String,
    /// The failed or stopped stage.
    pub(crate) stage: String,
    /// Run every action of the stage again, not only the failed ones.
    #[arg(long)]
    pub(crate) all_actions: bool,
    /// The execution to retry; by default the latest one in the stage.
    #[arg(long)]
    pub(crate) execution: Option<String>,
    /// Stay and show the execution until it ends.
    #[arg(long)]
    pub(crate) wait: bool,
    /// With --wait: print the state-change events as JSON lines.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub struct StopArgs {
    /// The execution to stop.
    pub(crate) execution: String,
    /// Abandon running actions instead of letting them finish.
    #[arg(long)]
    pub(crate) abandon: bool,
    /// Why (up to 200 characters).
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// The execution's pipeline (needed with --endpoint; found from the execution here).
    #[arg(long)]
    pub(crate) pipeline: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum TransitionsCommand {
    /// Hold executions in front of a stage.
    Disable(TransitionArgs),
    /// Let executions into the stage again.
    Enable(TransitionArgs),
}

#[derive(clap::Args)]
pub struct TransitionArgs {
    /// The pipeline.
    pub(crate) name: String,
    /// The stage whose inbound transition changes.
    pub(crate) stage: String,
    /// Why (required to disable: letters, digits, spaces and ! @ ( ) . * ? -).
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

async fn open(state_dir: &Path) -> Result<Backend> {
    crate::commands::status::open_existing(state_dir).await
}

/// The executions waiting at `stage`/`action` for an answer.
fn awaiting(executions: &[Execution], stage: &str, action: &str) -> Vec<(String, String)> {
    executions
        .iter()
        .filter_map(|execution| {
            let s = execution.stage_index(stage)?;
            let a = execution.stages[s].action_index(action)?;
            let attempt = execution.stages[s].actions[a].attempts.last()?;
            (attempt.status == ActionStatus::InProgress).then_some(())?;
            Some((execution.id.clone(), attempt.token.clone()?))
        })
        .collect()
}

pub async fn answer(state_dir: &Path, args: &ApprovalArgs, status: ApprovalStatus) -> Result<ExitCode> {
    let backend = open(state_dir).await?;
    let active = backend.store.active_executions(&args.name).await?;
    let mut waiting = awaiting(&active, &args.stage, &args.action);
    if let Some(execution) = &args.execution {
        waiting.retain(|(id, _)| id == execution);
    }
    let (execution_id, token) = match waiting.len() {
        0 => {
            return Err(anyhow::anyhow!(
                "no execution of {} waits for an answer at {}/{}",
                args.name,
                args.stage,
                args.action
            ));
        }
        1 => waiting.remove(0),
        _ => {
            let ids: Vec<&str> = waiting.iter().map(|(id, _)| id.as_str()).collect();
            return Err(usage(format!(
                "several executions wait at {}/{} ({}); choose one with --execution",
                args.stage,
                args.action,
                ids.join(", ")
            )));
        }
    };
    let event = Event::ApprovalResult(ApprovalResult {
        execution_id: execution_id.clone(),
        stage: args.stage.clone(),
        action: args.action.clone(),
        token,
        status,
        summary: (!args.summary.is_empty()).then(|| args.summary.clone()),
        by: Some(whoami()),
    });
    match backend.submit(&args.name, &event, &[], None).await.map_err(failure::service)? {
        Handled::Applied { .. } => {
            let verb = if status == ApprovalStatus::Approved { "Approved" } else { "Rejected" };
            say!("{verb} {}/{} of execution {}", args.stage, args.action, short(&execution_id));
            Ok(ExitCode::SUCCESS)
        }
        Handled::Stale(_) => Err(anyhow::anyhow!(
            "ApprovalAlreadyCompletedException: {}/{} was already answered",
            args.stage,
            args.action
        )),
    }
}

pub async fn retry(state_dir: &Path, args: &RetryArgs) -> Result<ExitCode> {
    let probe = open(state_dir).await?;
    let state = probe
        .store
        .pipeline_state(&args.name)
        .await?
        .ok_or_else(|| usage(format!("pipeline {} does not exist", args.name)))?
        .value;
    let execution_id = match &args.execution {
        Some(id) => id.clone(),
        None => state
            .stages
            .iter()
            .find(|s| s.name == args.stage)
            .ok_or_else(|| {
                usage(format!("StageNotFoundException: stage \"{}\" does not exist in {}", args.stage, args.name))
            })?
            .latest_execution
            .clone()
            .ok_or_else(|| usage(format!("no execution has entered stage {} yet", args.stage)))?,
    };
    let execution = probe
        .execution(&execution_id)
        .await?
        .ok_or_else(|| usage(format!("execution {execution_id} does not exist")))?;
    let event = Event::RetryStage(RetryStage {
        execution_id: execution_id.clone(),
        stage: args.stage.clone(),
        mode: if args.all_actions { RetryMode::AllActions } else { RetryMode::FailedActions },
        by: Some(whoami()),
        expected_attempt: Some(execution.attempt),
    });
    if !args.wait {
        probe.submit(&args.name, &event, &[], None).await.map_err(failure::service)?;
        say_raw!("{}", serde_json::json!({ "pipelineExecutionId": execution_id }));
        return Ok(ExitCode::SUCCESS);
    }
    let style = Style::choose(args.json);
    let pipeline = probe.cache.pinned(probe.store.as_ref(), &execution).await.map_err(failure::service)?;
    let (reporter, finisher) = output::reporter(style, &pipeline, &execution_id, false);
    let working_directory = std::env::current_dir().context("cannot read the current directory")?;
    let launcher = ProcessLauncher::new(state_dir.to_path_buf())?;
    let mut backend = Backend::open(state_dir, &working_directory, reporter, Some(Arc::new(launcher)))?;
    let options = backend.load_run_options(&execution_id).await?;
    backend.configure(&options);
    crate::deploy_target::install(&mut backend, options.deploy.as_ref()).await;
    match Worker::register(&backend, &args.name, &execution_id).await {
        Ok(worker) => {
            if let Err(error) = worker.submit_own(&event).await {
                finisher.finish();
                return Err(failure::service(error));
            }
            let worker_options = WorkerOptions { auto_approve: options.auto_approve, interactive: false };
            crate::commands::run::follow(&backend, &args.name, worker, &worker_options, style, finisher).await
        }
        // Someone already works this execution: retry, then wait for its end.
        Err(WorkerError::AlreadyWorked { .. }) => {
            backend.submit(&args.name, &event, &[], None).await.map_err(failure::service)?;
            let execution = wait_for_end(&backend, &execution_id).await?;
            finisher.finish();
            say_text!("{}", summary::render(&execution));
            Ok(exit_for(execution.status))
        }
        Err(error) => Err(error.into()),
    }
}

async fn wait_for_end(backend: &Backend, execution_id: &str) -> Result<Execution> {
    loop {
        let execution = backend
            .execution(execution_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("execution {execution_id} vanished"))?;
        if execution.status.is_finished() {
            return Ok(execution);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn stop(state_dir: &Path, args: &StopArgs) -> Result<ExitCode> {
    let backend = open(state_dir).await?;
    let execution = backend.execution(&args.execution).await?.ok_or_else(|| {
        usage(format!("PipelineExecutionNotFoundException: execution {} does not exist", args.execution))
    })?;
    let event = Event::StopExecution(StopExecution {
        execution_id: args.execution.clone(),
        abandon: args.abandon,
        reason: args.reason.clone(),
        by: Some(whoami()),
    });
    backend.submit(&execution.pipeline_name, &event, &[], None).await.map_err(failure::service)?;
    let after = backend.execution(&args.execution).await?.map(|e| e.status);
    say!(
        "{} execution {} ({})",
        if args.abandon { "Stopping and abandoning" } else { "Stopping" },
        short(&args.execution),
        after.map_or("unknown", |s| s.as_str())
    );
    Ok(ExitCode::SUCCESS)
}

impl TransitionsCommand {
    /// The arguments, and whether the transition is to be enabled.
    pub fn parts(&self) -> (&TransitionArgs, bool) {
        match self {
            TransitionsCommand::Disable(args) => (args, false),
            TransitionsCommand::Enable(args) => (args, true),
        }
    }
}

pub async fn transitions(state_dir: &Path, command: &TransitionsCommand) -> Result<ExitCode> {
    let (args, enabled) = command.parts();
    if !enabled && args.reason.is_none() {
        return Err(usage("transitions disable needs --reason (why executions are held)"));
    }
    let backend = open(state_dir).await?;
    let event = Event::SetTransition(SetTransition {
        stage: args.stage.clone(),
        enabled,
        reason: args.reason.clone(),
        by: Some(whoami()),
        requested_at: now(),
    });
    let verb = if enabled { "enabled" } else { "disabled" };
    match backend.submit(&args.name, &event, &[], None).await.map_err(failure::service)? {
        Handled::Applied { .. } => say!("Transition into {} {verb}", args.stage),
        Handled::Stale(_) => say!("Transition into {} was already {verb}", args.stage),
    }
    Ok(ExitCode::SUCCESS)
}
