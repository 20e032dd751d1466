//! `run FILE`, `start NAME` and the hidden `worker`: starting executions and carrying them out
//! on this machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use pipewright_core::engine::{Event, PipelineUpdated, StartExecution, Trigger, TriggerType, VariableOverride};
use pipewright_core::pipeline::{Environment, Pipeline};
use pipewright_core::ports::StateStore;
use pipewright_local::backend::{Backend, RunOptions};
use pipewright_local::report::Reporter;
use pipewright_local::worker::{Worker, WorkerError, WorkerOptions, whoami};

use crate::failure::{self, exit_for, usage};
use crate::launcher::ProcessLauncher;
use crate::output::{self, Style, summary};
use crate::pipeline_file::{self, ImportArgs};

#[derive(clap::Args)]
pub struct StartOptions {
    /// Take source action ACTION's content from PATH: a git repository (its HEAD), a
    /// directory, or a zip file; or from a git URL (any URL git fetches, file:// included),
    /// shallowly, at #REF (a branch, tag or commit) or else at the action's branch; for an
    /// ECR source, an image (`web:v2`, `REGISTRY/web@sha256:…`). Repeatable.
    #[arg(long = "source", value_name = "ACTION=PATH|URL[#REF]|IMAGE", value_parser = parse_pair)]
    pub(crate) sources: Vec<(String, String)>,
    /// Give pipeline variable NAME this value for the execution. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub(crate) vars: Vec<(String, String)>,
    /// Approve every manual approval at once.
    #[arg(long)]
    pub(crate) auto_approve: bool,
    /// Fail any action (approvals included) that runs longer than this many seconds,
    /// instead of its CodePipeline timeout (55 minutes for Commands, 7 days for approvals…).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) action_timeout: Option<u32>,
    /// Print the state-change events as JSON lines (CodePipeline's event format).
    #[arg(long)]
    pub(crate) json: bool,
    /// Send Lambda invoke actions to this Lambda Invoke API (`cargo lambda watch`, e.g.
    /// http://127.0.0.1:9000); the functions report back through `pipewright serve`.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL_LAMBDA")]
    pub(crate) lambda_endpoint: Option<String>,
    /// CodeBuild project NAME, from FILE: the JSON `aws codebuild batch-get-projects --names
    /// NAME` prints, or a buildspec. Repeatable.
    #[arg(long = "codebuild-project", value_name = "NAME=FILE", value_parser = parse_pair)]
    pub(crate) codebuild_projects: Vec<(String, String)>,
    /// Run CodeBuild project NAME with the buildspec at PATH instead of its own. Repeatable.
    #[arg(long = "buildspec", value_name = "NAME=PATH", value_parser = parse_pair)]
    pub(crate) buildspecs: Vec<(String, String)>,
    /// A Parameter Store or Secrets Manager value for builds: NAME is the environment
    /// variable, the parameter name or the secret id. Repeatable. Without it, a secret is read
    /// from SSM or Secrets Manager under `--aws` / `--aws-endpoint`, else from the variable of
    /// the same name in this environment.
    #[arg(long = "secret", value_name = "NAME=VALUE", value_parser = parse_pair)]
    pub(crate) secrets: Vec<(String, String)>,
    #[command(flatten)]
    pub(crate) deploy: crate::deploy_target::DeployFlags,
    /// Keep each action's workspace (`<state-dir>/work/<execution>/<stage>/<action>.<attempt>`;
    /// a Commands action's scripts beside it, in `<action>.<attempt>.run`) after it ends, to
    /// look at; by default it is removed (its log always stays).
    #[arg(long)]
    pub(crate) keep_workspaces: bool,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The pipeline: a declaration (JSON or YAML, bare or `get-pipeline` output), a
    /// CloudFormation/SAM template, a CDK app's `cdk.out`, or `terraform show -json` output.
    pub(crate) file: String,
    #[command(flatten)]
    pub(crate) options: StartOptions,
    #[command(flatten)]
    pub(crate) import: ImportArgs,
}

#[derive(clap::Args)]
pub struct StartArgs {
    /// The pipeline, as stored by an earlier `pipewright run`.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) options: StartOptions,
    /// Stay and show the execution until it ends, instead of leaving it to a background worker.
    #[arg(long)]
    pub(crate) wait: bool,
}

#[derive(clap::Args)]
pub struct WorkerArgs {
    #[arg(long)]
    pub(crate) pipeline: String,
    #[arg(long)]
    pub(crate) execution: String,
    /// Reads the `--secret` values of the command that launched it from stdin, a JSON object
    /// (`ProcessLauncher`): never from its arguments, its environment or the state directory.
    #[arg(long, hide = true)]
    pub(crate) secrets_on_stdin: bool,
}

pub(crate) fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

fn open(state_dir: &Path, reporter: Arc<dyn Reporter>) -> Result<Backend> {
    open_launching(state_dir, reporter, process_launcher(state_dir)?)
}

fn process_launcher(state_dir: &Path) -> Result<ProcessLauncher> {
    ProcessLauncher::new(state_dir.to_path_buf()).context("cannot find the pipewright executable")
}

fn open_launching(state_dir: &Path, reporter: Arc<dyn Reporter>, launcher: ProcessLauncher) -> Result<Backend> {
    let working_directory = std::env::current_dir().context("cannot read the current directory")?;
    Backend::open(state_dir, &working_directory, reporter, Some(Arc::new(launcher))).map_err(anyhow::Error::new)
}

/// Opens the state directory and takes up its orphaned executions, except `working_on`, which
/// this process works itself. (Background workers do not: each launched one would launch
/// the others' workers again before they register.)
async fn open_resuming(
    state_dir: &Path,
    reporter: Arc<dyn Reporter>,
    working_on: Option<&str>,
    launcher: ProcessLauncher,
) -> Result<Backend> {
    let backend = open_launching(state_dir, reporter, launcher)?;
    pipewright_local::recovery::resume_orphans(&backend, working_on).await?;
    Ok(backend)
}

/// The run options of `options`, checked against the pipeline's source actions.
fn run_options(
    pipeline: &Pipeline,
    options: &StartOptions,
    profile: Option<&str>,
    region: Option<&str>,
) -> Result<RunOptions> {
    let working_directory = std::env::current_dir().context("cannot read the current directory")?;
    let sources_stage = &pipeline.stages[0];
    let mut sources = std::collections::BTreeMap::new();
    for (action, path) in &options.sources {
        let Some(index) = sources_stage.action_index(action) else {
            let names: Vec<&str> = sources_stage.actions.iter().map(|a| a.name.as_str()).collect();
            return Err(usage(format!(
                "--source {action}={path}: pipeline {} has no source action named \"{action}\" (its source actions: {})",
                pipeline.name,
                names.join(", ")
            )));
        };
        let takes_images = sources_stage.actions[index].kind == Some(pipewright_core::providers::ProviderKind::Ecr);
        sources.insert(action.clone(), source_location(action, path, &working_directory, takes_images)?);
    }
    let build_projects =
        crate::build_projects::from_flags(&options.codebuild_projects, &options.buildspecs, &working_directory)?;
    Ok(RunOptions {
        sources,
        working_directory,
        auto_approve: options.auto_approve,
        lambda_endpoint: options.lambda_endpoint.clone(),
        build_projects,
        secrets: crate::build_projects::secrets(&options.secrets),
        deploy: options.deploy.chosen(profile, region),
        placeholders: Vec::new(),
        keep_workspaces: options.keep_workspaces,
    })
}

/// Where `--source ACTION=VALUE` takes a source from: a git URL (`[#ref]`) or, for an action
/// that `takes_images` (an ECR source's, or any when the pipeline is not known yet), an image
/// reference as given; or a path made absolute, which must exist.
pub(crate) fn source_location(
    action: &str,
    value: &str,
    working_directory: &Path,
    takes_images: bool,
) -> Result<PathBuf> {
    let path = PathBuf::from(value);
    let absolute = if path.is_absolute() { path } else { working_directory.join(path) };
    if absolute.exists() {
        return Ok(absolute);
    }
    let image = takes_images && pipewright_local::sources::is_image_reference(value);
    if image || pipewright_local::sources::git_url(value).is_some() {
        return Ok(PathBuf::from(value));
    }
    Err(usage(format!("--source {action}={}: no such file or directory", absolute.display())))
}

fn interactive(style: Style, options: &StartOptions) -> bool {
    use std::io::IsTerminal;
    style != Style::Json && !options.auto_approve && std::io::stdin().is_terminal()
}

pub async fn run(state_dir: &Path, args: &RunArgs, profile: Option<&str>, region: Option<&str>) -> Result<ExitCode> {
    // Values are asked on a terminal whatever --auto-approve says; JSON output never asks.
    let asks = !args.options.json && std::io::IsTerminal::is_terminal(&std::io::stdin());
    let candidate = pipeline_file::prepare(&args.file, &args.import, region, asks, true)?;
    let declaration = candidate.declaration.clone();
    let pipeline = Pipeline::compile(declaration.clone(), Environment::default()).map_err(|r| usage(r.to_string()))?;
    let mut options = run_options(&pipeline, &args.options, profile, region)?;
    if let Some(imported) = &candidate.imported {
        options.placeholders = imported.placeholders.clone();
        for project in &imported.projects {
            options.build_projects.entry(project.name.clone()).or_insert_with(|| project.clone());
        }
    }
    let style = Style::choose(args.options.json);
    let execution_id = uuid::Uuid::new_v4().to_string();
    let (reporter, finisher) = output::reporter(style, &pipeline, &execution_id, interactive(style, &args.options));
    let mut backend =
        open_resuming(state_dir, reporter.clone(), Some(&execution_id), process_launcher(state_dir)?).await?;
    backend.configure(&options);
    crate::deploy_target::install(&mut backend, options.deploy.as_ref()).await;
    let put = backend.store.put_pipeline(&declaration, pipewright_local::backend::now()).await?;
    if put.changed && !put.created {
        reporter.info(&format!("pipeline {} updated to version {}", pipeline.name, put.version));
        let update = Event::PipelineUpdated(PipelineUpdated { version: put.version });
        backend.submit(&pipeline.name, &update, &[], None).await.map_err(failure::service)?;
    }
    if put.changed
        && let Some(imported) = &candidate.imported
    {
        // What CloudFormation does after creating or updating the pipeline.
        for transition in &imported.disabled_transitions {
            let event = Event::SetTransition(pipewright_core::engine::SetTransition {
                stage: transition.stage_name.clone(),
                enabled: false,
                reason: Some(transition.reason.clone()),
                by: Some("the template's DisableInboundStageTransitions".to_string()),
                requested_at: pipewright_local::backend::now(),
            });
            backend.submit(&pipeline.name, &event, &[], None).await.map_err(failure::service)?;
            reporter.info(&format!(
                "the template disables the transition into {} ({}); `pipewright transitions enable {} {}` lets executions in",
                transition.stage_name, transition.reason, pipeline.name, transition.stage_name
            ));
        }
    }
    start_and_follow(&backend, &pipeline.name, &execution_id, &options, &args.options, style, finisher, "run").await
}

pub async fn start(
    state_dir: &Path,
    args: &StartArgs,
    profile: Option<&str>,
    region: Option<&str>,
) -> Result<ExitCode> {
    let execution_id = uuid::Uuid::new_v4().to_string();
    // The worker launched for this execution gets the `--secret` values on its stdin.
    let secrets = crate::build_projects::secrets(&args.options.secrets);
    let launcher = process_launcher(state_dir)?.with_secrets(&execution_id, secrets);
    let probe = open_resuming(state_dir, Arc::new(pipewright_local::report::Silent), None, launcher).await?;
    let pipeline = probe.cache.current(probe.store.as_ref(), &args.name).await.map_err(failure::service)?;
    let options = run_options(&pipeline, &args.options, profile, region)?;
    if args.wait {
        let style = Style::choose(args.options.json);
        let (reporter, finisher) = output::reporter(style, &pipeline, &execution_id, interactive(style, &args.options));
        let mut backend = open(state_dir, reporter)?;
        backend.configure(&options);
        crate::deploy_target::install(&mut backend, options.deploy.as_ref()).await;
        return start_and_follow(
            &backend,
            &pipeline.name,
            &execution_id,
            &options,
            &args.options,
            style,
            finisher,
            "start",
        )
        .await;
    }
    // No worker here: the start's commit (which records its options) launches one in the
    // background, as serve's starts do.
    probe
        .submit_start(&pipeline.name, &start_event(&execution_id, &args.options, "start"), &options)
        .await
        .map_err(failure::service)?;
    say_raw!("{}", serde_json::json!({ "pipelineExecutionId": execution_id }));
    Ok(ExitCode::SUCCESS)
}

fn start_event(execution_id: &str, options: &StartOptions, command: &str) -> Event {
    let seed = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    Event::StartExecution(StartExecution {
        execution_id: execution_id.to_string(),
        seed,
        trigger: Trigger {
            trigger_type: TriggerType::StartPipelineExecution,
            trigger_detail: Some(format!("pipewright {command} by {}", whoami())),
        },
        variables: options
            .vars
            .iter()
            .map(|(name, value)| VariableOverride { name: name.clone(), value: value.clone() })
            .collect(),
        source_revisions: Vec::new(),
        action_timeout_seconds: options.action_timeout,
    })
}

#[allow(clippy::too_many_arguments)]
async fn start_and_follow(
    backend: &Backend,
    pipeline: &str,
    execution_id: &str,
    options: &RunOptions,
    start: &StartOptions,
    style: Style,
    finisher: output::Finisher,
    command: &str,
) -> Result<ExitCode> {
    // Registered before the execution exists, so that no other process starts a worker for it;
    // the start's commit writes its run options and claims what it sets off for this worker.
    let worker = Worker::register(backend, pipeline, execution_id).await?;
    if let Err(error) = worker.start(&start_event(execution_id, start, command), options).await {
        finisher.finish();
        return Err(failure::service(error));
    }
    let worker_options = WorkerOptions { auto_approve: options.auto_approve, interactive: interactive(style, start) };
    follow(backend, pipeline, worker, &worker_options, style, finisher).await
}

/// Works the execution to its end; a first Ctrl-C stops it (abandoning running actions), a
/// second leaves at once.
pub async fn follow(
    backend: &Backend,
    pipeline: &str,
    worker: Worker<'_>,
    options: &WorkerOptions,
    style: Style,
    finisher: output::Finisher,
) -> Result<ExitCode> {
    let execution_id = worker.execution_id().to_string();
    let work = worker.run(options);
    tokio::pin!(work);
    let mut interrupted = false;
    let execution = loop {
        tokio::select! {
            result = &mut work => break result,
            signal = tokio::signal::ctrl_c() => {
                if signal.is_err() || interrupted {
                    finisher.finish();
                    return Ok(ExitCode::from(130));
                }
                interrupted = true;
                let stop = Event::StopExecution(pipewright_core::engine::StopExecution {
                    execution_id: execution_id.clone(),
                    abandon: true,
                    reason: Some("Interrupted (Ctrl-C)".to_string()),
                    by: Some(whoami()),
                });
                let _ = backend.submit(pipeline, &stop, &[], Some(&execution_id)).await;
            }
        }
    };
    finisher.finish();
    let execution = execution.map_err(anyhow::Error::new)?;
    if style != Style::Json {
        say_text!("{}", summary::render(&execution));
    }
    Ok(exit_for(execution.status))
}

/// `pipewright worker`: a background process carrying out one execution.
pub async fn worker(state_dir: &Path, args: &WorkerArgs) -> Result<ExitCode> {
    let reporter: Arc<dyn Reporter> = Arc::new(output::PlainReporter::new(&args.execution, false));
    let secrets = if args.secrets_on_stdin { secrets_from_stdin()? } else { BTreeMap::new() };
    let mut backend = open(state_dir, reporter)?;
    let options = configure_worker(&mut backend, &args.execution, &secrets).await?;
    let Some(worker) = register_unless_worked(&backend, &args.pipeline, &args.execution).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    follow(&backend, &args.pipeline, worker, &options, Style::Plain, output::Finisher::none()).await
}

/// The `--secret` values a launching command wrote on this worker's stdin.
fn secrets_from_stdin() -> Result<BTreeMap<String, String>> {
    let text = std::io::read_to_string(std::io::stdin()).context("cannot read the secrets on stdin")?;
    serde_json::from_str(&text).context("the secrets on stdin are not a JSON object of strings")
}

/// Sets `backend` up for a worker of `execution` as the execution was started: its run
/// options, its deploy target, and `secrets` (`--secret` values, which the stored run options
/// never hold).
pub async fn configure_worker(
    backend: &mut Backend,
    execution: &str,
    secrets: &BTreeMap<String, String>,
) -> Result<WorkerOptions> {
    let options = RunOptions { secrets: secrets.clone(), ..backend.load_run_options(execution).await? };
    backend.configure(&options);
    crate::deploy_target::install(backend, options.deploy.as_ref()).await;
    Ok(WorkerOptions { auto_approve: options.auto_approve, interactive: false })
}

/// The worker of `execution`, or `None` when another one already carries it out.
pub async fn register_unless_worked<'b>(
    backend: &'b Backend,
    pipeline: &str,
    execution: &str,
) -> Result<Option<Worker<'b>>> {
    match Worker::register(backend, pipeline, execution).await {
        Ok(worker) => Ok(Some(worker)),
        Err(WorkerError::AlreadyWorked { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}
