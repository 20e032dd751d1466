//! One state directory and everything that works on it: the store, the artifact directory,
//! the providers' settings, and event submission through the shared handler.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pipewright_core::engine::{Effect, Event, Execution};
use pipewright_core::pipeline::Environment;
use pipewright_core::ports::{StateStore, StoreError};
use pipewright_core::service::{self, Handled, PipelineCache, ServiceError, Together};
use pipewright_core::time::Timestamp;

use crate::providers::ProviderContext;
use crate::report::Reporter;
use crate::sources::SourceOptions;
use crate::store::{SqliteStore, WorkerRecord};
use pipewright_providers::artifacts::ArtifactDir;

/// The region local runs report (events, approval messages).
pub const LOCAL_REGION: &str = "local";

/// A worker whose heartbeat is older than this is taken for dead.
const WORKER_SILENCE_MS: i64 = 15_000;

/// How long a launch marker holds an execution for a process that has not registered as its
/// worker yet: far above a worker's start, and short enough that a launch that came to
/// nothing is taken up again soon.
const LAUNCH_GRACE_MS: i64 = 15_000;

/// Starts a worker process for an execution that has effects but nobody to carry them out.
pub trait Launcher: Send + Sync {
    fn launch(&self, pipeline: &str, execution_id: &str) -> std::io::Result<()>;

    /// Launches the worker of `execution_id` holding `secrets` (`--secret` values, which the
    /// state directory never holds): a child pipeline's worker gets its parent's. A launcher
    /// whose workers share this process's secrets already (`serve`'s tasks) just launches.
    fn launch_with_secrets(
        &self,
        pipeline: &str,
        execution_id: &str,
        _secrets: &BTreeMap<String, String>,
    ) -> std::io::Result<()> {
        self.launch(pipeline, execution_id)
    }

    /// Called before the commit that creates `execution_id`, whose worker this launcher will
    /// launch right after it: a launcher whose worker takes a moment to exist (a process to
    /// spawn) notes the launching process meanwhile ([`note_launch`]).
    fn will_launch(&self, _execution_id: &str) {}
}

/// How an execution was started: what its sources read and whether approvals are automatic.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunOptions {
    /// `--source ACTION=PATH`, with absolute paths.
    pub sources: BTreeMap<String, PathBuf>,
    /// Where git-based sources find their repository without `--source`.
    pub working_directory: PathBuf,
    pub auto_approve: bool,
    /// Where Lambda invoke actions are sent (`cargo lambda watch`'s Invoke API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_endpoint: Option<String>,
    /// CodeBuild projects by name (from an imported template, `--codebuild-project` or
    /// `--buildspec`), for the CodeBuild actions of this execution.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_projects: BTreeMap<String, pipewright_core::build_project::BuildProject>,
    /// `--secret NAME=VALUE`. Never written to the state directory: a worker that takes the
    /// execution over later reads secrets from its own environment.
    #[serde(skip)]
    pub secrets: BTreeMap<String, String>,
    /// Where deploy actions go (`--aws`, `--aws-endpoint`, `--plan`); none chosen when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<crate::deploy::DeployTarget>,
    /// The placeholders of the template this run imported, refused before any AWS call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placeholders: Vec<pipewright_core::import::Placeholder>,
    /// `--keep-workspaces`: actions' workspaces stay after they end (they are removed by
    /// default; their logs always stay).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_workspaces: bool,
}

pub fn now() -> Timestamp {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Timestamp::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// What the backends of one process on one state directory share ([`Backend::open_sharing`]).
#[derive(Clone)]
pub struct Shared {
    /// The state directory, made and canonical.
    pub state_dir: PathBuf,
    pub store: Arc<SqliteStore>,
    pub cache: Arc<PipelineCache>,
}

pub struct Backend {
    pub state_dir: PathBuf,
    pub store: Arc<SqliteStore>,
    pub cache: Arc<PipelineCache>,
    pub providers: ProviderContext,
    /// Base URL of `pipewright serve`, for the links of approval messages.
    pub console_url: String,
    pub launcher: Option<Arc<dyn Launcher>>,
}

impl Backend {
    /// Opens (creating if needed) the state directory. Sources resolve against
    /// `working_directory` until [`Backend::configure`] says otherwise.
    pub fn open(
        state_dir: &Path,
        working_directory: &Path,
        reporter: Arc<dyn Reporter>,
        launcher: Option<Arc<dyn Launcher>>,
    ) -> Result<Backend, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create the state directory {}: {e}", state_dir.display()))
        })?;
        let state_dir = state_dir.canonicalize().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let store = Arc::new(SqliteStore::open(&state_dir.join("state.db"))?);
        let cache = Arc::new(PipelineCache::new(Environment { region: Some(LOCAL_REGION.to_string()) }));
        Ok(Backend::assemble(state_dir, store, cache, working_directory, reporter, launcher))
    }

    /// [`Backend::open`] over what a backend already open in this process shares
    /// ([`Backend::shared`]): `serve`'s task workers use the server's one writer connection
    /// (writes queue on its mutex) instead of each waiting on SQLite's file lock, whose busy
    /// handler sleeps, and its compiled pipelines instead of reading and compiling the
    /// declaration again for every execution.
    pub fn open_sharing(
        shared: &Shared,
        working_directory: &Path,
        reporter: Arc<dyn Reporter>,
        launcher: Option<Arc<dyn Launcher>>,
    ) -> Backend {
        let Shared { state_dir, store, cache } = shared.clone();
        Backend::assemble(state_dir, store, cache, working_directory, reporter, launcher)
    }

    /// What another backend of this process on the same state directory can share.
    pub fn shared(&self) -> Shared {
        Shared { state_dir: self.state_dir.clone(), store: self.store.clone(), cache: self.cache.clone() }
    }

    /// A backend on `state_dir` (canonical, made) with its store and cache open.
    fn assemble(
        state_dir: PathBuf,
        store: Arc<SqliteStore>,
        cache: Arc<PipelineCache>,
        working_directory: &Path,
        reporter: Arc<dyn Reporter>,
        launcher: Option<Arc<dyn Launcher>>,
    ) -> Backend {
        let sources = SourceOptions {
            overrides: Default::default(),
            working_directory: working_directory.to_path_buf(),
            exclude: vec![state_dir.clone()],
        };
        let providers = ProviderContext {
            artifacts: ArtifactDir::new(state_dir.join("artifacts")),
            sources,
            work_root: state_dir.join("work"),
            logs_root: state_dir.join("logs"),
            reporter,
            lambda_endpoint: None,
            account: std::env::var("PIPEWRIGHT_ACCOUNT_ID")
                .ok()
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| crate::lambda::LOCAL_ACCOUNT.to_string()),
            build_projects: Default::default(),
            secrets: Default::default(),
            aws_secrets: None,
            codebuild_root: state_dir.join("codebuild"),
            warned_host_tools: Default::default(),
            deploy: Default::default(),
            placeholders: Vec::new(),
            memory: pipewright_providers::deploy::memory::Memory::new(state_dir.join("stacks")),
            starter: None,
            keep_workspaces: false,
            remover: crate::remover::Remover::shared(),
        };
        Backend {
            store,
            cache,
            providers,
            console_url: std::env::var("PIPEWRIGHT_CONSOLE_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:8080".to_string()),
            launcher,
            state_dir,
        }
    }

    /// Sets up the providers for an execution started with `options`.
    pub fn configure(&mut self, options: &RunOptions) {
        self.providers.sources.overrides = options.sources.clone();
        self.providers.sources.working_directory = options.working_directory.clone();
        self.providers.lambda_endpoint = options.lambda_endpoint.clone();
        self.providers.build_projects = options.build_projects.clone();
        self.providers.secrets = options.secrets.clone();
        self.providers.placeholders = options.placeholders.clone();
        self.providers.keep_workspaces = options.keep_workspaces;
        self.providers.starter = Some(Arc::new(LocalStarter {
            store: self.store.clone(),
            cache: self.cache.clone(),
            launcher: self.launcher.clone(),
            options: RunOptions { sources: BTreeMap::new(), ..options.clone() },
        }));
        // AWS targets need the SDK, which this crate does not link: the CLI sets those.
        self.providers.deploy = match options.deploy {
            Some(crate::deploy::DeployTarget::Plan) => crate::deploy::DeployMode::Plan,
            _ => crate::deploy::DeployMode::Unchosen,
        };
    }

    /// How an execution was started; the defaults when it was not recorded.
    pub async fn load_run_options(&self, execution_id: &str) -> Result<RunOptions, StoreError> {
        match self.store.run_options(execution_id).await? {
            Some(body) => serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("stored run options are unreadable: {e}"))),
            None => Ok(RunOptions {
                working_directory: self.providers.sources.working_directory.clone(),
                ..RunOptions::default()
            }),
        }
    }

    pub fn notifications_dir(&self) -> PathBuf {
        self.state_dir.join("notifications")
    }

    /// Applies `event` through the shared handler. Executions the resulting effects concern
    /// that have no live worker get one, except `working_on`, which the caller works itself.
    pub async fn submit(
        &self,
        pipeline: &str,
        event: &Event,
        completed: &[String],
        working_on: Option<&str>,
    ) -> Result<Handled, ServiceError> {
        let handled = service::handle(self.store.as_ref(), &self.cache, pipeline, event, now(), completed).await?;
        if let Handled::Applied { effects } = &handled {
            self.wake_or_launch_workers(pipeline, effects, working_on).await;
        }
        Ok(handled)
    }

    /// Submits a start (`Event::StartExecution`) whose commit also records `options` for
    /// the execution it creates, in the same transaction (`store::with_run_options_of_start`);
    /// a duplicate start keeps the options of the first. The new execution's worker is
    /// launched without the reads [`Backend::submit`] makes for other executions: nothing can
    /// work an execution before the commit that creates it, and the launcher hears of it
    /// before the commit ([`Launcher::will_launch`]), so that other commands launch no second
    /// worker (one without this command's `--secret` values) before the first has registered.
    pub async fn submit_start(
        &self,
        pipeline: &str,
        event: &Event,
        options: &RunOptions,
    ) -> Result<Handled, ServiceError> {
        let Event::StartExecution(start) = event else { return self.submit(pipeline, event, &[], None).await };
        if let Some(launcher) = &self.launcher {
            launcher.will_launch(&start.execution_id);
        }
        let body = run_options_body(options)?;
        let handled = crate::store::with_run_options_of_start(
            &start.execution_id,
            body,
            service::handle(self.store.as_ref(), &self.cache, pipeline, event, now(), &[]),
        )
        .await?;
        if let Handled::Applied { effects } = &handled {
            if let Some(launcher) = &self.launcher
                && effects.iter().any(|effect| effect.execution_id() == start.execution_id)
                && let Err(error) = launcher.launch(pipeline, &start.execution_id)
            {
                let id = &start.execution_id;
                self.providers.reporter.info(&format!("could not start a worker for execution {id}: {error}"));
            }
            // Others it concerns (one it superseded, say) are woken or launched as usual.
            self.wake_or_launch_workers(pipeline, effects, Some(&start.execution_id)).await;
        }
        Ok(handled)
    }

    /// Applies job results of execution `working_on` that arrived together in one commit
    /// ([`service::handle_together`]); `OneByOne` when they must go through [`Backend::submit`]
    /// each.
    pub async fn submit_together(
        &self,
        pipeline: &str,
        events: &[(Event, Vec<String>)],
        working_on: &str,
    ) -> Result<Together, ServiceError> {
        let together = service::handle_together(self.store.as_ref(), &self.cache, pipeline, events, now()).await?;
        if let Together::Applied { effects } = &together {
            self.wake_or_launch_workers(pipeline, effects, Some(working_on)).await;
        }
        Ok(together)
    }

    /// For each execution `effects` concern, except `working_on` (the caller): wakes its
    /// worker (`crate::wake`), and launches one when it has none and is unfinished.
    async fn wake_or_launch_workers(&self, pipeline: &str, effects: &[Effect], working_on: Option<&str>) {
        let mut seen: Vec<&str> = Vec::new();
        for effect in effects {
            let id = effect.execution_id();
            if Some(id) == working_on || seen.contains(&id) {
                continue;
            }
            seen.push(id);
            crate::wake::wake(&self.state_dir, id);
            let Some(launcher) = &self.launcher else { continue };
            if self.has_live_worker(id).await {
                continue;
            }
            let unfinished = matches!(self.store.get_execution(id).await, Ok(Some(e)) if !e.value.status.is_finished());
            if unfinished && let Err(error) = launcher.launch(pipeline, id) {
                self.providers.reporter.info(&format!("could not start a worker for execution {id}: {error}"));
            }
        }
    }

    /// Whether `execution_id` has a live registered worker, or one launched and not yet
    /// registered ([`launched_recently`]).
    pub async fn has_live_worker(&self, execution_id: &str) -> bool {
        matches!(self.store.worker(execution_id).await, Ok(Some(record)) if is_alive(&record, now()))
            || launched_recently(&self.state_dir, execution_id, now())
    }

    /// The execution, if it exists.
    pub async fn execution(&self, id: &str) -> Result<Option<Execution>, StoreError> {
        Ok(self.store.get_execution(id).await?.map(|v| v.value))
    }
}

/// Run options as the store keeps them.
pub(crate) fn run_options_body(options: &RunOptions) -> Result<String, ServiceError> {
    serde_json::to_string(options).map_err(|e| ServiceError::Store(StoreError::Refused(e.to_string())))
}

/// Starts child pipelines of this state directory (the CodePipeline invoke action); the
/// child's execution gets a worker of its own, the parent's run options and its `--secret`
/// values, but not its `--source` overrides, which name the parent's actions.
struct LocalStarter {
    store: Arc<SqliteStore>,
    cache: Arc<PipelineCache>,
    launcher: Option<Arc<dyn Launcher>>,
    options: RunOptions,
}

impl crate::deploy::PipelineStarter for LocalStarter {
    fn start<'a>(
        &'a self,
        child: &'a pipewright_core::deploy::codepipeline::Child,
        execution_id: &'a str,
        by: &'a str,
    ) -> pipewright_providers::deploy::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let body = serde_json::to_string(&self.options).map_err(|e| e.to_string())?;
            self.store.set_run_options(execution_id, &body).await.map_err(|e| e.to_string())?;
            // Before the commit, as for every start: no other command's resume of the new
            // execution (a worker without the secrets) comes between it and its worker.
            if let Some(launcher) = &self.launcher {
                launcher.will_launch(execution_id);
            }
            let seed = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
            let event = pipewright_core::deploy::codepipeline::start_event(child, execution_id, &seed, by);
            match service::handle(self.store.as_ref(), &self.cache, &child.pipeline, &event, now(), &[]).await {
                Ok(_) => {}
                Err(ServiceError::PipelineNotFound(name)) => {
                    return Err(format!(
                        "pipeline {name} is not stored in this state directory; run it once with `pipewright run FILE`"
                    ));
                }
                Err(error) => return Err(error.to_string()),
            }
            if let Some(launcher) = &self.launcher {
                launcher
                    .launch_with_secrets(&child.pipeline, execution_id, &self.options.secrets)
                    .map_err(|e| format!("cannot start its worker: {e}"))?;
            }
            Ok(())
        })
    }
}

/// A worker is alive while its process exists and its heartbeat is recent.
pub fn is_alive(record: &WorkerRecord, now: Timestamp) -> bool {
    let recent = now.millis() - record.heartbeat.millis() < WORKER_SILENCE_MS;
    recent && process_exists(record.pid)
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// Where a launcher notes the process that will work an execution until it has registered
/// (`workers/<execution>.launched`: its pid and the launch time).
pub fn launch_marker(state_dir: &Path, execution_id: &str) -> PathBuf {
    state_dir.join("workers").join(format!("{execution_id}.launched"))
}

/// Notes that process `pid` will work `execution_id` ([`launched_recently`]). Written whole
/// (a new file renamed over the old), so that a reader never sees half of it. A failed write
/// only leaves the moment before registration open to a second launch: the work goes on.
pub fn note_launch(state_dir: &Path, execution_id: &str, pid: u32) {
    let marker = launch_marker(state_dir, execution_id);
    let partial = marker.with_extension(format!("launched.{}", uuid::Uuid::new_v4().simple()));
    let written = std::fs::create_dir_all(state_dir.join("workers"))
        .and_then(|()| std::fs::write(&partial, format!("{pid} {}", now().millis())))
        .and_then(|()| std::fs::rename(&partial, &marker));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
}

/// Removes the launch marker of `execution_id`: its worker has registered, and its record
/// speaks for it from then on.
pub fn forget_launch(state_dir: &Path, execution_id: &str) {
    let _ = std::fs::remove_file(launch_marker(state_dir, execution_id));
}

/// Whether a process was noted as the coming worker of `execution_id` less than
/// `LAUNCH_GRACE_MS` ago and still runs: it counts as the execution's worker until it
/// registers. Without this, a command that looked for orphans in that moment (a `status`
/// right after `start`) launched a second worker, without the `--secret` values `start` gave
/// the first, and the second could register first.
pub fn launched_recently(state_dir: &Path, execution_id: &str, now: Timestamp) -> bool {
    let Ok(text) = std::fs::read_to_string(launch_marker(state_dir, execution_id)) else { return false };
    let mut fields = text.split_whitespace().map(str::parse::<i64>);
    let (Some(Ok(pid)), Some(Ok(at))) = (fields.next(), fields.next()) else { return false };
    now.millis() - at < LAUNCH_GRACE_MS && u32::try_from(pid).is_ok_and(process_exists)
}
