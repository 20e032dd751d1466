//! Local recovery, by performing the fault: `kill -9` of `pipewright run` at several points,
//! then another command on the same state directory takes the execution up. An action the
//! killed process was running fails as interrupted (it is not run again), an approval stays
//! awaited, and a retry finishes the execution. Every wait is for an event in the state.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::{Value, json};

mod common;
use common::Serve;

// Generous: the suite runs its tests in parallel on two cores, next to other builds.
const WAIT: Duration = Duration::from_secs(90);

/// A state directory, a source directory, and `hold`: while it exists, the commands that
/// wait on it keep running (they end when the test removes it, or with the directory).
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let scratch = Scratch { dir: tempfile::tempdir().expect("temp dir") };
        std::fs::create_dir_all(scratch.path().join("src")).unwrap();
        std::fs::write(scratch.path().join("src/app.txt"), "version 1\n").unwrap();
        std::fs::write(scratch.hold(), "").unwrap();
        scratch
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn hold(&self) -> PathBuf {
        self.path().join("hold")
    }

    /// The lines `echo NAME >> runs` appended: one per time a command ran.
    fn runs(&self) -> Vec<String> {
        std::fs::read_to_string(self.path().join("runs")).unwrap_or_default().lines().map(String::from).collect()
    }

    /// A command that records that it ran, as `name`.
    fn record(&self, name: &str) -> String {
        format!("echo {name} >> {}", self.path().join("runs").display())
    }

    /// Commands that record that they ran as `name`, then, as process `<name>.pid`, wait while
    /// `hold` exists.
    fn held_command(&self, name: &str) -> Vec<String> {
        let pid = self.path().join(format!("{name}.pid"));
        let wait = format!("while [ -f {} ]; do sleep 0.1; done", self.hold().display());
        vec![self.record(name), format!("echo $$ > {}; {wait}", pid.display())]
    }

    /// Whether the process that wrote `<name>.pid` still runs (a zombie does not).
    fn still_runs(&self, name: &str) -> bool {
        let pid = std::fs::read_to_string(self.path().join(format!("{name}.pid"))).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))
    }

    fn write(&self, declaration: &Value) -> String {
        let file = self.path().join("pipeline.json");
        std::fs::write(&file, serde_json::to_string_pretty(declaration).unwrap()).unwrap();
        file.display().to_string()
    }

    fn source(&self) -> String {
        format!("Source={}", self.path().join("src").display())
    }

    fn pipewright(&self) -> Command {
        let mut command = Command::cargo_bin("pipewright").expect("binary");
        command.current_dir(self.path()).arg("--state-dir").arg(self.path().join("state")).env("PIPEWRIGHT_PLAIN", "1");
        command
    }

    /// `pipewright run FILE` in the background.
    fn spawn_run(&self, file: &str) -> Child {
        StdCommand::new(env!("CARGO_BIN_EXE_pipewright"))
            .current_dir(self.path())
            .arg("--state-dir")
            .arg(self.path().join("state"))
            .args(["run", file, "--source", &self.source()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pipewright run")
    }

    /// `pipewright status NAME --json`: GetPipelineState (and, as every command, the
    /// take-over of orphaned executions).
    fn status(&self) -> Value {
        let output = self.pipewright().args(["status", "recover", "--json"]).output().unwrap();
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    }

    /// The latest execution of `stage`/`action`, from `status --json`.
    fn action(&self, stage: &str, action: &str) -> Value {
        let status = self.status();
        let stages = status["stageStates"].as_array().cloned().unwrap_or_default();
        let stage = stages.into_iter().find(|s| s["stageName"] == stage).unwrap_or(Value::Null);
        let actions = stage["actionStates"].as_array().cloned().unwrap_or_default();
        actions
            .into_iter()
            .find(|a| a["actionName"] == action)
            .map(|a| a["latestExecution"].clone())
            .unwrap_or_default()
    }

    /// The newest execution, from `history --json`.
    fn latest(&self) -> Value {
        let output = self.pipewright().args(["history", "recover", "--json"]).output().unwrap();
        let value: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        value["pipelineExecutionSummaries"][0].clone()
    }

    /// Whether a worker process was launched for `execution` (its log is opened at launch).
    fn worker_launched(&self, execution: &str) -> bool {
        self.path().join("state/workers").join(format!("{execution}.log")).exists()
    }
}

/// `kill -9`, and reaped: a zombie would still look like a live process.
fn kill_9(mut run: Child) {
    run.kill().unwrap();
    run.wait().unwrap();
}

#[track_caller]
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pipeline(stages: Vec<Value>) -> Value {
    let source = json!({"name": "Source", "actions": [{
        "name": "Source",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "uploads", "S3ObjectKey": "app.zip"},
        "outputArtifacts": [{"name": "Src"}]
    }]});
    json!({
        "name": "recover",
        "roleArn": "arn:aws:iam::111122223333:role/pipewright",
        "artifactStore": {"type": "S3", "location": "local-artifacts"},
        "pipelineType": "V2",
        "executionMode": "QUEUED",
        "stages": std::iter::once(source).chain(stages).collect::<Vec<_>>(),
    })
}

fn commands(name: &str, commands: &[String]) -> Value {
    json!({
        "name": name,
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": commands,
        "inputArtifacts": [{"name": "Src"}],
    })
}

fn stage(name: &str, actions: Vec<Value>) -> Value {
    json!({"name": name, "actions": actions})
}

#[test]
fn a_command_running_when_run_is_killed_fails_as_interrupted_and_a_retry_finishes() {
    let scratch = Scratch::new();
    let file = scratch.write(&pipeline(vec![
        stage("Build", vec![commands("Work", &scratch.held_command("work"))]),
        stage("Ship", vec![commands("Ship", &[scratch.record("ship")])]),
    ]));
    let run = scratch.spawn_run(&file);
    let pid_written = || std::fs::read_to_string(scratch.path().join("work.pid")).is_ok_and(|p| p.ends_with('\n'));
    wait_until("Work runs", pid_written);
    assert!(scratch.still_runs("work"));
    kill_9(run);
    // Another command on the state directory takes the execution over; the new worker fails
    // the action the killed process was running, instead of running it again.
    wait_until("Work failed", || scratch.action("Build", "Work")["status"] == "Failed");
    let work = scratch.action("Build", "Work");
    let message = work["errorDetails"]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.starts_with("interrupted: the worker running this action (pid "), "{work}");
    assert!(message.contains("retry the stage"), "{message}");
    wait_until("the execution failed", || scratch.latest()["status"] == "Failed");
    assert_eq!(scratch.runs(), ["work"], "the interrupted command did not run again");
    assert_eq!(scratch.action("Ship", "Ship"), Value::Null, "nothing after it ran");
    // The command outlived `run` (its own process group); the take-over stopped it.
    wait_until("the interrupted command stopped", || !scratch.still_runs("work"));
    // RetryStageExecution runs it again, and the execution finishes.
    std::fs::remove_file(scratch.hold()).unwrap();
    scratch.pipewright().args(["retry", "recover", "Build", "--wait"]).assert().success();
    assert_eq!(scratch.latest()["status"], "Succeeded");
    assert_eq!(scratch.runs(), ["work", "work", "ship"], "the retry ran Work once more, then Ship");
}

#[test]
fn an_execution_killed_between_actions_goes_on_without_running_the_finished_action_again() {
    let scratch = Scratch::new();
    let file = scratch.write(&pipeline(vec![
        stage("Build", vec![commands("Make", &[scratch.record("make")])]),
        stage("Deploy", vec![commands("Ship", &[scratch.record("ship")])]),
    ]));
    // Store the pipeline with a first run, then hold executions between Make and Ship.
    scratch.pipewright().args(["run", &file, "--source", &scratch.source()]).assert().success();
    assert_eq!(scratch.runs(), ["make", "ship"]);
    scratch.pipewright().args(["transitions", "disable", "recover", "Deploy", "--reason", "Hold"]).assert().success();
    let run = scratch.spawn_run(&file);
    wait_until("Make finished and the execution waits in front of Deploy", || {
        scratch.status()["stageStates"][2]["inboundExecution"].is_object()
    });
    let execution = scratch.latest()["pipelineExecutionId"].as_str().unwrap().to_string();
    kill_9(run);
    // `status` launches a worker for the execution whose worker died.
    wait_until("a worker took the execution over", || {
        let _ = scratch.status();
        scratch.worker_launched(&execution)
    });
    scratch.pipewright().args(["transitions", "enable", "recover", "Deploy"]).assert().success();
    wait_until("the execution succeeded", || scratch.latest()["status"] == "Succeeded");
    assert_eq!(scratch.runs(), ["make", "ship", "make", "ship"], "Make ran once, Ship ran after the take-over");
}

#[test]
fn an_approval_awaited_when_run_is_killed_is_still_awaited_and_its_answer_finishes_the_execution() {
    let scratch = Scratch::new();
    let approval = json!({"name": "Approve",
        "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}});
    let file = scratch.write(&pipeline(vec![
        stage("Hold", vec![approval]),
        stage("Done", vec![commands("Finish", &[scratch.record("finish")])]),
    ]));
    let run = scratch.spawn_run(&file);
    wait_until("the approval waits", || scratch.action("Hold", "Approve")["token"].is_string());
    let execution = scratch.latest()["pipelineExecutionId"].as_str().unwrap().to_string();
    kill_9(run);
    wait_until("a worker took the execution over", || {
        let _ = scratch.status();
        scratch.worker_launched(&execution)
    });
    assert_eq!(scratch.action("Hold", "Approve")["status"], "InProgress", "the approval is still awaited");
    assert_eq!(scratch.latest()["status"], "InProgress");
    scratch.pipewright().args(["approve", "recover", "Hold", "Approve"]).assert().success();
    wait_until("the execution succeeded", || scratch.latest()["status"] == "Succeeded");
    assert_eq!(scratch.runs(), ["finish"]);
}

#[test]
fn a_running_serve_takes_up_an_execution_whose_run_was_killed() {
    let scratch = Scratch::new();
    let file = scratch.write(&pipeline(vec![stage("Build", vec![commands("Work", &scratch.held_command("work"))])]));
    // Store the pipeline (its first run is released at once), then start serve.
    std::fs::remove_file(scratch.hold()).unwrap();
    scratch.pipewright().args(["run", &file, "--source", &scratch.source()]).assert().success();
    std::fs::write(scratch.hold(), "").unwrap();
    let serve = Serve::start(scratch.path(), &scratch.path().join("state"), &[]);
    assert!(serve.endpoint.starts_with("http://127.0.0.1:"), "{}", serve.endpoint);
    let run = scratch.spawn_run(&file);
    wait_until("Work runs again", || scratch.runs() == ["work", "work"]);
    let execution = scratch.latest()["pipelineExecutionId"].as_str().unwrap().to_string();
    kill_9(run);
    // No other command runs from here until serve has launched a worker for the execution.
    wait_until("serve launched a worker", || scratch.worker_launched(&execution));
    wait_until("the execution failed", || scratch.latest()["status"] == "Failed");
    assert!(scratch.action("Build", "Work")["errorDetails"]["message"].as_str().unwrap().starts_with("interrupted"));
    assert_eq!(scratch.runs(), ["work", "work"], "the interrupted command did not run again");
    wait_until("the interrupted command stopped", || !scratch.still_runs("work"));
}
