//! The Commands action (Compute/AWS/Commands/1) on this machine, as CodePipeline runs it:
//! the commands run in order in one shell session, from a fresh workspace holding the first
//! input artifact (others at `$CODEBUILD_SRC_DIR_<Name>`), and the action fails at the first
//! failing command. Output is streamed with the action's name and kept as its log; output
//! artifacts are collected by their `files` globs and output variables read from the
//! exported environment. The whole process group is killed when the action is abandoned or
//! times out.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use pipewright_core::engine::{Dispatch, FailureType};
use pipewright_core::ports::ArtifactStore;

use crate::{ActionError, ActionOutput, Outcome};

/// How long a process group gets to exit after SIGTERM before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

fn failed(kind: FailureType, message: impl Into<String>) -> Outcome {
    Outcome::Failed(ActionError { kind, message: message.into() })
}

/// `'…'` quoting for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The script: each command, then a check of its status; at the end, the exported
/// environment for the output variables.
fn script(commands: &[String], exports_wanted: bool) -> String {
    let mut script = String::from("cd \"$CODEBUILD_SRC_DIR\" || exit 1\n");
    let total = commands.len();
    for (index, command) in commands.iter().enumerate() {
        let number = index + 1;
        script.push_str(&format!(
            "printf '%s\\n' {}\n",
            shell_quote(&format!("[pipewright] Running command {number}/{total}: {command}"))
        ));
        script.push_str(command);
        script.push('\n');
        script.push_str(&format!(
            "__pipewright_status=$?\nif [ \"$__pipewright_status\" -ne 0 ]; then echo {number} > \"$PIPEWRIGHT_FAILED_FILE\"; \
             printf '[pipewright] Command %s did not exit successfully: exit status %s\\n' {number} \"$__pipewright_status\" >&2; \
             exit \"$__pipewright_status\"; fi\n"
        ));
    }
    // Only when output variables are declared: `env` is one more process per action.
    if exports_wanted {
        script.push_str("env -0 > \"$PIPEWRIGHT_ENV_FILE\"\n");
    }
    script
}

fn shell() -> &'static str {
    if Path::new("/bin/bash").exists() { "/bin/bash" } else { "/bin/sh" }
}

/// `CODEBUILD_SRC_DIR_<Name>` for an input artifact name.
fn source_dir_variable(name: &str) -> String {
    format!("CODEBUILD_SRC_DIR_{name}")
}

/// Where a Commands action runs and what it reports to.
pub struct Session<'a, A> {
    pub artifacts: &'a A,
    pub output: Arc<dyn ActionOutput>,
    /// A directory of its own (emptied first): the workspace and the inputs go under it.
    pub scratch: PathBuf,
    /// Where the action's output is kept, if anywhere.
    pub log: Option<PathBuf>,
}

pub async fn run<A: ArtifactStore>(
    dispatch: &Dispatch,
    session: Session<'_, A>,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let scratch = session.scratch.as_path();
    let started = Instant::now();
    let _ = fs::remove_dir_all(scratch);
    let workspace = scratch.join("src");
    let inputs_dir = scratch.join("inputs");
    if let Err(e) = fs::create_dir_all(&workspace) {
        return failed(FailureType::JobFailed, format!("cannot create the workspace: {e}"));
    }
    let mut environment: Vec<(String, String)> = vec![
        ("CODEBUILD_SRC_DIR".into(), workspace.display().to_string()),
        ("CODEBUILD_BUILD_ID".into(), format!("pipewright:{}", dispatch.action_execution_id)),
        ("CODEPIPELINE_PIPELINE_NAME".into(), dispatch.pipeline.clone()),
        ("CODEPIPELINE_EXECUTION_ID".into(), dispatch.execution_id.clone()),
    ];
    for (index, input) in dispatch.input_artifacts.iter().enumerate() {
        let target = if index == 0 { workspace.clone() } else { inputs_dir.join(&input.name) };
        if let Err(e) = session.artifacts.unpack(&input.location, &target).await {
            return failed(FailureType::JobFailed, format!("cannot unpack input artifact {}: {e}", input.name));
        }
        environment.push((source_dir_variable(&input.name), target.display().to_string()));
    }
    for variable in &dispatch.environment_variables {
        let value = if variable.kind == "SECRETS_MANAGER" {
            match std::env::var(&variable.name) {
                Ok(value) => value,
                Err(_) => {
                    return failed(
                        FailureType::ConfigurationError,
                        format!(
                            "environment variable {} reads the Secrets Manager secret {:?}, which needs the AWS backend; \
                             to run here, set {} in pipewright's own environment",
                            variable.name, variable.value, variable.name
                        ),
                    );
                }
            }
        } else {
            variable.value.clone()
        };
        environment.push((variable.name.clone(), value));
    }
    let script_path = scratch.join("commands.sh");
    let env_file = scratch.join("exported.env");
    let failed_file = scratch.join("failed-command");
    if let Err(e) = fs::write(&script_path, script(&dispatch.commands, !dispatch.output_variables.is_empty())) {
        return failed(FailureType::JobFailed, format!("cannot write the command script: {e}"));
    }

    let mut command = Command::new(shell());
    command
        .arg(&script_path)
        .current_dir(&workspace)
        .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PIPEWRIGHT_ENV_FILE", &env_file)
        .env("PIPEWRIGHT_FAILED_FILE", &failed_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return failed(FailureType::JobFailed, format!("cannot start {}: {e}", shell())),
    };
    let group = child.id().map(|id| Pid::from_raw(id as i32));

    // Both streams feed one writer, so the log keeps their interleaving.
    let (lines, mut received) = mpsc::unbounded_channel::<String>();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(lines);
    let output = session.output.clone();
    let (stage, action) = (dispatch.stage.clone(), dispatch.action.clone());
    let log_writer = {
        let log_path = session.log.clone();
        tokio::spawn(async move {
            let mut log = None;
            if let Some(path) = &log_path {
                if let Some(parent) = path.parent() {
                    let _ = tokio::fs::create_dir_all(parent).await;
                }
                log = tokio::fs::File::create(path).await.ok();
            }
            while let Some(line) = received.recv().await {
                output.line(&stage, &action, &line);
                if let Some(file) = log.as_mut() {
                    let _ = file.write_all(format!("{line}\n").as_bytes()).await;
                }
            }
            if let Some(file) = log.as_mut() {
                let _ = file.flush().await;
            }
        })
    };

    let status = tokio::select! {
        status = child.wait() => status,
        () = async { let _ = cancel.wait_for(|stop| *stop).await; } => {
            terminate(group, &mut child).await;
            let _ = log_writer.await;
            return Outcome::Cancelled;
        }
    };
    let _ = log_writer.await;
    let log_url = session.log.as_ref().map(|path| format!("file://{}", path.display()));
    let log_hint = session.log.as_ref().map(|path| format!(" (log: {})", path.display())).unwrap_or_default();
    let status = match status {
        Ok(status) => status,
        Err(e) => return failed(FailureType::JobFailed, format!("lost the command process: {e}")),
    };
    if !status.success() {
        let code = status.code().map_or_else(|| "a signal".to_string(), |c| format!("exit status {c}"));
        let which = fs::read_to_string(&failed_file).ok().and_then(|n| n.trim().parse::<usize>().ok());
        let message = match which.and_then(|n| dispatch.commands.get(n - 1).map(|c| (n, c))) {
            Some((n, command)) => format!("command {n} of {} failed with {code}: {command}", dispatch.commands.len()),
            None => format!("the commands ended with {code}"),
        };
        return failed(FailureType::JobFailed, format!("{message}{log_hint}"));
    }
    for output in &dispatch.output_artifacts {
        match session.artifacts.pack(&output.location, &workspace, &output.files, &[]).await {
            Ok(0) if !output.files.is_empty() => {
                return failed(
                    FailureType::JobFailed,
                    format!(
                        "no files match the patterns of output artifact {} ({})",
                        output.name,
                        output.files.join(", ")
                    ),
                );
            }
            Ok(_) => {}
            Err(e) => {
                return failed(FailureType::JobFailed, format!("cannot store output artifact {}: {e}", output.name));
            }
        }
    }
    let exported = read_environment(&env_file);
    let output_variables: BTreeMap<String, String> = dispatch
        .output_variables
        .iter()
        .filter_map(|name| exported.get(name).map(|value| (name.clone(), value.clone())))
        .collect();
    Outcome::Succeeded {
        output_variables,
        summary: format!("Ran {} command(s) in {:.1}s", dispatch.commands.len(), started.elapsed().as_secs_f64()),
        external_execution_url: log_url,
        revision: None,
    }
}

/// SIGTERM to the whole group, then SIGKILL if it does not exit in time.
async fn terminate(group: Option<Pid>, child: &mut tokio::process::Child) {
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGTERM);
        if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = child.wait().await;
        }
        // Children that outlived the shell are in the same group.
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// `env -0` output: NUL-separated `NAME=value` entries.
fn read_environment(path: &PathBuf) -> BTreeMap<String, String> {
    let Ok(bytes) = fs::read(path) else { return BTreeMap::new() };
    bytes
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            text.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn the_script_checks_every_command_and_exports_the_environment() {
        let text = script(&["make".to_string(), "echo 'done'".to_string()], true);
        assert!(text.contains("Running command 1/2: make"));
        assert!(text.contains("echo 1 > \"$PIPEWRIGHT_FAILED_FILE\""));
        assert!(text.contains("echo 2 > \"$PIPEWRIGHT_FAILED_FILE\""));
        assert!(text.trim_end().ends_with("env -0 > \"$PIPEWRIGHT_ENV_FILE\""));
        assert!(!script(&["make".to_string()], false).contains("env -0"));
    }
}
