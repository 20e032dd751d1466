//! Starting a worker for an execution that has work but nothing carrying it out: after
//! `start`, a `retry` or an approval from another shell, a detached process
//! (`pipewright worker`); under `serve`, a task of the server's own process.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use std::sync::Arc;

use pipewright_local::backend::{Backend, Launcher, Shared};
use pipewright_local::report::Reporter;

use crate::commands::run;
use crate::output::PlainReporter;

pub struct ProcessLauncher {
    executable: PathBuf,
    state_dir: PathBuf,
    /// `--secret` values for the worker of one execution (the one `start` began), written on
    /// that worker's stdin: never in its arguments or environment, which other processes of
    /// the user can read and the commands it runs would inherit, nor in the state directory.
    secrets: Option<(String, BTreeMap<String, String>)>,
}

impl ProcessLauncher {
    pub fn new(state_dir: PathBuf) -> std::io::Result<ProcessLauncher> {
        Ok(ProcessLauncher { executable: std::env::current_exe()?, state_dir, secrets: None })
    }

    /// Hands `secrets` to the worker launched for `execution_id`, if any are given.
    pub fn with_secrets(self, execution_id: &str, secrets: BTreeMap<String, String>) -> ProcessLauncher {
        let secrets = (!secrets.is_empty()).then(|| (execution_id.to_string(), secrets));
        ProcessLauncher { secrets, ..self }
    }
}

impl Launcher for ProcessLauncher {
    fn launch(&self, pipeline: &str, execution_id: &str) -> std::io::Result<()> {
        let secrets = self.secrets.as_ref().filter(|(id, _)| id == execution_id).map(|(_, secrets)| secrets);
        self.spawn_worker(pipeline, execution_id, secrets)
    }

    fn launch_with_secrets(
        &self,
        pipeline: &str,
        execution_id: &str,
        secrets: &BTreeMap<String, String>,
    ) -> std::io::Result<()> {
        self.spawn_worker(pipeline, execution_id, Some(secrets).filter(|s| !s.is_empty()))
    }

    /// Until the worker is spawned and notes itself, this process stands for it.
    fn will_launch(&self, execution_id: &str) {
        pipewright_local::backend::note_launch(&self.state_dir, execution_id, std::process::id());
    }
}

impl ProcessLauncher {
    /// A detached `pipewright worker` for `execution_id`, handed `secrets` on its stdin.
    fn spawn_worker(
        &self,
        pipeline: &str,
        execution_id: &str,
        secrets: Option<&BTreeMap<String, String>>,
    ) -> std::io::Result<()> {
        let logs = self.state_dir.join("workers");
        fs::create_dir_all(&logs)?;
        let log = OpenOptions::new().create(true).append(true).open(logs.join(format!("{execution_id}.log")))?;
        let mut command = Command::new(&self.executable);
        command
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["worker", "--pipeline", pipeline, "--execution", execution_id])
            .stdin(if secrets.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C in this terminal does not stop it.
            .process_group(0);
        if secrets.is_some() {
            command.arg("--secrets-on-stdin");
        }
        let mut child = command.spawn()?;
        // Until it registers, the marker makes it the execution's worker for other commands.
        pipewright_local::backend::note_launch(&self.state_dir, execution_id, child.id());
        if let (Some(secrets), Some(mut stdin)) = (secrets, child.stdin.take()) {
            // Closed when dropped: the worker reads to the end before it starts.
            stdin.write_all(&serde_json::to_vec(secrets)?)?;
        }
        // Reap it when it ends, so it never lingers as a zombie of a long-lived parent.
        std::thread::spawn(move || child.wait());
        Ok(())
    }
}

/// Under `serve`: each execution's worker is a task in the server's process, not a process of
/// its own, so a start costs no process launch and no second runtime. The worker shares the
/// server's store (one writer connection for the whole process, pooled readers) and its
/// compiled pipelines, reads its execution's run options, and logs to
/// `workers/<execution>.log` as a detached worker does. If the server stops, its executions
/// are orphans that the next command takes up (docs/ARCHITECTURE.md, "Crash safety").
#[derive(Clone)]
pub struct TaskLauncher {
    pub state_dir: PathBuf,
    /// The server's console, for the links of approval messages.
    pub console_url: String,
    pub account: String,
    /// Where sources resolve until the execution's own run options say otherwise.
    pub working_directory: PathBuf,
    /// The server's `--secret` values, for every execution it works (the stored run options
    /// never hold them).
    pub secrets: BTreeMap<String, String>,
    pub runtime: tokio::runtime::Handle,
    /// The server's state directory, store and compiled pipelines, once they are open (the
    /// launcher is made before them).
    pub shared: Arc<std::sync::OnceLock<Shared>>,
}

impl Launcher for TaskLauncher {
    /// Returns at once: even its log file is opened by the task, so that a request that
    /// launches a worker (a start) is answered without waiting on the file system.
    fn launch(&self, pipeline: &str, execution_id: &str) -> std::io::Result<()> {
        let (launcher, pipeline, execution_id) = (self.clone(), pipeline.to_string(), execution_id.to_string());
        // The task works in this process: until it registers, the marker names the server.
        pipewright_local::backend::note_launch(&self.state_dir, &execution_id, std::process::id());
        self.runtime.spawn(async move {
            let log = match launcher.open_log(&execution_id) {
                Ok(log) => log,
                Err(error) => {
                    eprintln!("pipewright serve: could not start a worker for execution {execution_id}: {error}");
                    return;
                }
            };
            let reporter = Arc::new(PlainReporter::to_file(&execution_id, log));
            if let Err(error) = launcher.work(&pipeline, &execution_id, reporter.clone()).await {
                reporter.info(&format!("the worker stopped: {error:#}"));
            }
        });
        Ok(())
    }
}

impl TaskLauncher {
    /// `workers/<execution>.log`, appended to.
    fn open_log(&self, execution_id: &str) -> std::io::Result<fs::File> {
        let logs = self.state_dir.join("workers");
        fs::create_dir_all(&logs)?;
        OpenOptions::new().create(true).append(true).open(logs.join(format!("{execution_id}.log")))
    }

    async fn work(&self, pipeline: &str, execution_id: &str, reporter: Arc<PlainReporter>) -> anyhow::Result<()> {
        let launcher: Arc<dyn Launcher> = Arc::new(self.clone());
        let mut backend = match self.shared.get() {
            Some(shared) => Backend::open_sharing(shared, &self.working_directory, reporter, Some(launcher)),
            None => Backend::open(&self.state_dir, &self.working_directory, reporter, Some(launcher))?,
        };
        backend.console_url = self.console_url.clone();
        backend.providers.account = self.account.clone();
        let options = run::configure_worker(&mut backend, execution_id, &self.secrets).await?;
        if let Some(worker) = run::register_unless_worked(&backend, pipeline, execution_id).await? {
            worker.run(&options).await?;
        }
        Ok(())
    }
}
