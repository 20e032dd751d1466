//! Starting a detached worker process (`pipewright worker`) for an execution that has work but
//! no process carrying it out: after `start`, a `retry` or an approval from another shell.

use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use pipewright_local::backend::Launcher;

pub struct ProcessLauncher {
    executable: PathBuf,
    /// Environment variables the workers get besides this process's own.
    env: Vec<(String, String)>,
    state_dir: PathBuf,
}

impl ProcessLauncher {
    pub fn new(state_dir: PathBuf) -> std::io::Result<ProcessLauncher> {
        Ok(ProcessLauncher { executable: std::env::current_exe()?, state_dir, env: Vec::new() })
    }

    /// Gives every worker `name=value` in its environment.
    pub fn with_env(mut self, name: &str, value: &str) -> ProcessLauncher {
        self.env.push((name.to_string(), value.to_string()));
        self
    }
}

impl Launcher for ProcessLauncher {
    fn launch(&self, pipeline: &str, execution_id: &str) -> std::io::Result<()> {
        let logs = self.state_dir.join("workers");
        fs::create_dir_all(&logs)?;
        let log = OpenOptions::new().create(true).append(true).open(logs.join(format!("{execution_id}.log")))?;
        let mut child = Command::new(&self.executable)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["worker", "--pipeline", pipeline, "--execution", execution_id])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group: a Ctrl-C in this terminal does not stop it.
            .process_group(0)
            .spawn()?;
        // Reap it when it ends, so it never lingers as a zombie of a long-lived parent.
        std::thread::spawn(move || child.wait());
        Ok(())
    }
}
