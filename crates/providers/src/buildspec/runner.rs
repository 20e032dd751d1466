//! Runs a buildspec's commands and phases on this machine (docs/codebuild.md "Shell
//! semantics", "Phases after a failure"): each command is its own script run by the chosen
//! shell, in its own process group; a phase stops at its first failing command, then runs
//! its `finally`; `on-failure: RETRY…` runs the phase again. A timeout or a stop kills the
//! running command's process group and runs no `finally`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::time::Instant;

use super::console::Console;
use super::model::{Phase, PhaseName, Version};
use super::phases::retries;
use super::shell_state::{DumpFiles, ShellState, read_dump, script};

/// How long a process group gets to exit after SIGTERM before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// How the runner narrates: CodeBuild's phase log, or the Commands action's numbered lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Narration {
    Build,
    Commands,
}

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseStatus {
    Succeeded,
    Failed,
    TimedOut,
    Stopped,
}

impl PhaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Succeeded => "SUCCEEDED",
            PhaseStatus::Failed => "FAILED",
            PhaseStatus::TimedOut => "TIMED_OUT",
            PhaseStatus::Stopped => "STOPPED",
        }
    }
}

/// The command that failed a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedCommand {
    /// 1-based, counted across the phase's `commands` then `finally`.
    pub number: usize,
    pub text: String,
    /// `exit status 2`, or `a signal`.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseEnd {
    pub status: PhaseStatus,
    /// CodeBuild's phase context: status code and message.
    pub context: Option<(String, String)>,
    pub command: Option<FailedCommand>,
}

enum CommandEnd {
    Exited(i32),
    Signalled,
    Cancelled,
    TimedOut,
    NotStarted(String),
}

pub struct Runner<'a> {
    pub console: &'a Console,
    pub narration: Narration,
    pub version: Version,
    /// The shell's absolute path.
    pub shell: PathBuf,
    /// Where scripts and state dumps go (made if missing).
    pub scratch: PathBuf,
    /// The build's starting environment and directory (what version 0.1 always starts from).
    pub initial: ShellState,
    /// The state the next command starts from.
    pub state: ShellState,
    pub cancel: watch::Receiver<bool>,
    pub deadline: Option<Instant>,
    /// A phase failed already (CODEBUILD_BUILD_SUCCEEDING=0).
    pub build_failed: bool,
    /// The phase whose last command dumps no state: nothing runs or reads it after that
    /// command (`build::last_undumped_phase`).
    pub undumped_phase: Option<PhaseName>,
    groups: Vec<Pid>,
    scripts: usize,
}

impl<'a> Runner<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        console: &'a Console,
        narration: Narration,
        version: Version,
        shell: PathBuf,
        scratch: PathBuf,
        initial: ShellState,
        cancel: watch::Receiver<bool>,
        deadline: Option<Instant>,
    ) -> Runner<'a> {
        Runner {
            console,
            narration,
            version,
            shell,
            scratch,
            state: initial.clone(),
            initial,
            cancel,
            deadline,
            build_failed: false,
            undumped_phase: None,
            groups: Vec::new(),
            scripts: 0,
        }
    }

    /// Runs one command; with `last` true no state is dumped, as nothing reads it afterwards.
    async fn run_command(&mut self, command: &str, succeeding: bool, last: bool) -> CommandEnd {
        self.scripts += 1;
        let path = self.scratch.join(format!("command-{}.sh", self.scripts));
        let dump = DumpFiles::under(&self.scratch);
        let carries = self.version == Version::V0_2 && !last;
        if carries {
            if let Err(e) = fs::create_dir_all(&self.scratch) {
                return CommandEnd::NotStarted(format!("cannot create the build's scratch directory: {e}"));
            }
            for file in [&dump.variables, &dump.exports, &dump.options, &dump.cwd] {
                let _ = fs::remove_file(file);
            }
        }
        let start = if self.version == Version::V0_2 { self.state.clone() } else { self.initial.clone() };
        let text = script(command, &start, carries.then_some(&dump));
        let mut shell = Command::new(&self.shell);
        match inline_script(&self.shell, command, &text, &start) {
            // `$0` names the script as when the shell reads it from a file, so the shell's
            // messages read the same ("…/command-1.sh: line 1: …").
            Some(inline) => shell.arg("-c").arg(inline).arg(&path),
            None => {
                let written = fs::create_dir_all(&self.scratch).and_then(|()| fs::write(&path, &text));
                if let Err(e) = written {
                    return CommandEnd::NotStarted(format!("cannot write the command script: {e}"));
                }
                shell.arg(&path)
            }
        };
        let cwd = if start.cwd.is_dir() { start.cwd.clone() } else { self.initial.cwd.clone() };
        let (stdout, stderr) = match self.console.stdio() {
            Ok(pair) => pair,
            Err(e) => return CommandEnd::NotStarted(format!("cannot connect the command's output: {e}")),
        };
        let mut child = match shell
            .env_clear()
            .envs(&start.exported)
            .env("CODEBUILD_BUILD_SUCCEEDING", if succeeding { "1" } else { "0" })
            .current_dir(cwd)
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return CommandEnd::NotStarted(format!("cannot start {}: {e}", self.shell.display())),
        };
        let group = child.id().map(|id| Pid::from_raw(id as i32));
        if let Some(group) = group {
            self.groups.push(group);
        }
        let deadline = self.deadline;
        let mut cancel = self.cancel.clone();
        let end = tokio::select! {
            status = child.wait() => match status {
                Ok(status) => match status.code() {
                    Some(code) => CommandEnd::Exited(code),
                    None => CommandEnd::Signalled,
                },
                Err(e) => CommandEnd::NotStarted(format!("lost the command's process: {e}")),
            },
            () = async { let _ = cancel.wait_for(|stop| *stop).await; } => CommandEnd::Cancelled,
            () = async { match deadline { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => CommandEnd::TimedOut,
        };
        if matches!(end, CommandEnd::Cancelled | CommandEnd::TimedOut) {
            terminate(group, &mut child).await;
            return end;
        }
        if carries {
            let read = |p: &PathBuf| fs::read_to_string(p).unwrap_or_default();
            if let Some(state) =
                read_dump(&read(&dump.variables), &read(&dump.exports), &read(&dump.options), &read(&dump.cwd))
            {
                self.state = state;
            }
        }
        end
    }

    /// Runs `commands` until one fails; `first` numbers them for the narration.
    async fn run_block(
        &mut self,
        commands: &[String],
        first: usize,
        total: usize,
        phase_failed: &mut bool,
        undumped_last: bool,
    ) -> Result<Option<FailedCommand>, PhaseStatus> {
        for (index, command) in commands.iter().enumerate() {
            let number = first + index;
            match self.narration {
                Narration::Build => self.console.say(&format!("[pipewright] Running command {command}")),
                Narration::Commands => {
                    self.console.say(&format!("[pipewright] Running command {number}/{total}: {command}"))
                }
            }
            let succeeding = !self.build_failed && !*phase_failed;
            let last = undumped_last && index + 1 == commands.len();
            let reason = match self.run_command(command, succeeding, last).await {
                CommandEnd::Exited(0) => continue,
                CommandEnd::Exited(code) => format!("exit status {code}"),
                CommandEnd::Signalled => "a signal".to_string(),
                CommandEnd::NotStarted(why) => why,
                CommandEnd::Cancelled => return Err(PhaseStatus::Stopped),
                CommandEnd::TimedOut => return Err(PhaseStatus::TimedOut),
            };
            match self.narration {
                Narration::Build => {
                    self.console.say(&format!("[pipewright] Command did not exit successfully {command} {reason}"))
                }
                Narration::Commands => {
                    self.console.say(&format!("[pipewright] Command {number} did not exit successfully: {reason}"))
                }
            }
            *phase_failed = true;
            return Ok(Some(FailedCommand { number, text: command.clone(), reason }));
        }
        Ok(None)
    }

    /// Runs one phase: its commands, then its `finally`, again while `on-failure` retries.
    pub async fn run_phase(&mut self, name: PhaseName, phase: Option<&Phase>) -> PhaseEnd {
        let Some(phase) = phase.filter(|p| !p.commands.is_empty() || !p.finally.is_empty()) else {
            if self.narration == Narration::Build {
                self.console.say(&format!("[pipewright] No commands found for phase name: {}", name.key()));
            }
            return PhaseEnd { status: PhaseStatus::Succeeded, context: None, command: None };
        };
        let total = phase.commands.len() + phase.finally.len();
        let mut retried = 0;
        loop {
            let mut phase_failed = false;
            let undumped = self.undumped_phase == Some(name);
            let mut failure = match self.run_block(&phase.commands, 1, total, &mut phase_failed, undumped).await {
                Ok(failure) => failure,
                Err(status) => return PhaseEnd { status, context: None, command: None },
            };
            let finally_failure =
                match self.run_block(&phase.finally, phase.commands.len() + 1, total, &mut phase_failed, false).await {
                    Ok(failure) => failure,
                    Err(status) => return PhaseEnd { status, context: None, command: None },
                };
            failure = failure.or(finally_failure);
            let Some(command) = failure else {
                return PhaseEnd { status: PhaseStatus::Succeeded, context: None, command: None };
            };
            let message = format!("Error while executing command: {}. Reason: {}", command.text, command.reason);
            if retries(phase.on_failure.as_ref(), retried, &message) {
                retried += 1;
                self.console
                    .say(&format!("[pipewright] Phase {} failed; retrying it (retry {retried})", name.phase_type()));
                continue;
            }
            return PhaseEnd {
                status: PhaseStatus::Failed,
                context: Some(("COMMAND_EXECUTION_ERROR".to_string(), message)),
                command: Some(command),
            };
        }
    }

    /// A variable's value in the current state (exported or not).
    pub fn variable(&self, name: &str) -> Option<String> {
        self.state.get(name).cloned()
    }

    /// The current state's variables, exported and not.
    pub fn variables(&self) -> BTreeMap<String, String> {
        let mut all = self.state.local.clone();
        all.extend(self.state.exported.clone());
        all
    }

    /// Kills whatever the build's commands left running (CodeBuild's container ends with
    /// the build).
    pub async fn finish(&mut self) {
        let alive: Vec<Pid> = self.groups.drain(..).filter(|g| killpg(*g, None).is_ok()).collect();
        if alive.is_empty() {
            return;
        }
        for group in &alive {
            let _ = killpg(*group, Signal::SIGTERM);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        for group in &alive {
            let _ = killpg(*group, Signal::SIGKILL);
        }
    }
}

/// The largest script handed to the shell as its `-c` argument instead of a file: Linux takes
/// at most 128 KiB in one argument.
const INLINE_SCRIPT: usize = 64 * 1024;

/// Words in a command that could tell a script passed with `-c` from one read from a file:
/// what names the script (`$0`, `BASH_SOURCE`, `caller`), what lists the shell's variables
/// (`BASH_EXECUTION_STRING` is set with `-c`), and what may turn on `verbose`, which would
/// echo the empty line added below.
const SCRIPT_AWARE: &[&str] = &[
    "$0",
    "${0",
    "BASH_SOURCE",
    "BASH_EXECUTION_STRING",
    "caller",
    "set",
    "declare",
    "typeset",
    "compgen",
    "source",
    ". ",
    "eval",
    "SHELLOPTS",
];

/// The `-c` argument that runs `text` exactly as bash runs it from a file, when it can be
/// passed so: a file costs an inode created and removed per command, the largest cost of a
/// local action on ext4 (docs/codebuild.md, "Shell semantics"; docs/benchmarks.md, "stop
/// 24"). Only for bash (dash does not echo `-c` input under `set -v`), and not when the
/// script is large, assigns variables carried from an earlier command (an argument is visible
/// to every user of the machine in `ps`, and those values may be secrets the build read),
/// starts with `verbose` on, or has a word of [`SCRIPT_AWARE`]. The added empty line keeps
/// bash from replacing itself with the last command (it does so with `-c` only), which
/// would change what a command killed by a signal reports (`a signal` instead of `exit
/// status 137`, without bash's `Killed` line).
fn inline_script(shell: &Path, command: &str, text: &str, start: &ShellState) -> Option<String> {
    let bash = shell.file_name().is_some_and(|name| name == "bash");
    let verbose = start.options.iter().any(|option| option == "set -o verbose")
        || start.exported.get("SHELLOPTS").is_some_and(|options| options.contains("verbose"));
    let aware = SCRIPT_AWARE.iter().any(|word| command.contains(word));
    let inline = bash && !verbose && !aware && start.local.is_empty() && text.len() <= INLINE_SCRIPT;
    inline.then(|| format!("{text}\n"))
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::ActionOutput;

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);

    impl ActionOutput for Lines {
        fn line(&self, _: &str, _: &str, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    fn state(cwd: &Path) -> ShellState {
        ShellState::new(std::env::vars().collect(), cwd.to_path_buf())
    }

    /// Runs `command` as the last command of a build in bash; what it ended with, its lines,
    /// and whether its script was a file.
    async fn run_last(command: &str) -> (i32, Vec<String>, bool) {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        let lines = Arc::new(Lines::default());
        let console = Console::open(lines.clone(), "S".into(), "A".into(), None, vec![]).unwrap();
        let (_stop, cancel) = watch::channel(false);
        let mut runner = Runner::new(
            &console,
            Narration::Commands,
            Version::V0_2,
            PathBuf::from("/bin/bash"),
            scratch.clone(),
            state(dir.path()),
            cancel,
            None,
        );
        let code = match runner.run_command(command, true, true).await {
            CommandEnd::Exited(code) => code,
            CommandEnd::Signalled => -1,
            _ => -2,
        };
        drop(runner);
        console.close().await;
        let said = lines.0.lock().unwrap().clone();
        (code, said, scratch.join("command-1.sh").exists())
    }

    #[tokio::test]
    async fn a_command_passed_with_dash_c_ends_as_from_a_file() {
        // bash would exec the last command of a `-c` script, and a signal would end the
        // command instead of bash reporting 128 + its number.
        let (code, lines, file) = run_last("bash -c 'kill -KILL $$'").await;
        assert_eq!(code, 137, "{lines:?}");
        assert!(
            lines.iter().any(|line| line.contains("command-1.sh: line 1:") && line.contains("Killed")),
            "{lines:?}"
        );
        assert!(!file, "no script file");
        let (code, lines, _) = run_last("no-such-command-here").await;
        assert_eq!(code, 127);
        assert!(
            lines.iter().any(|line| line.ends_with("command-1.sh: line 1: no-such-command-here: command not found")),
            "{lines:?}"
        );
    }

    #[tokio::test]
    async fn a_command_that_could_tell_runs_from_a_file() {
        let (code, lines, file) = run_last("cat \"$0\"").await;
        assert_eq!(code, 0, "{lines:?}");
        assert!(file);
        assert_eq!(lines, ["cat \"$0\""], "the script holds the command");
    }

    #[test]
    fn only_scripts_bash_runs_alike_either_way_are_passed_inline() {
        let bash = Path::new("/bin/bash");
        let start = state(Path::new("/"));
        assert_eq!(inline_script(bash, "make test", "make test\n", &start).as_deref(), Some("make test\n\n"));
        assert_eq!(inline_script(Path::new("/bin/sh"), "make test", "make test\n", &start), None);
        for command in ["set -v; make", "source env.sh", ". ./env.sh", "echo $0", "eval \"$X\"", "declare -p"] {
            assert_eq!(inline_script(bash, command, command, &start), None, "{command}");
        }
        let mut carried = start.clone();
        carried.local.insert("TOKEN".into(), "secret".into());
        assert_eq!(inline_script(bash, "make", "TOKEN=secret\nmake\n", &carried), None, "no values in argv");
        let mut verbose = start.clone();
        verbose.options.push("set -o verbose".into());
        assert_eq!(inline_script(bash, "make", "set -o verbose\nmake\n", &verbose), None);
        let large = "x".repeat(INLINE_SCRIPT + 1);
        assert_eq!(inline_script(bash, "make", &large, &start), None);
    }
}
