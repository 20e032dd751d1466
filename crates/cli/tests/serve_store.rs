//! `pipewright serve` and its SQLite store: SQLite work never runs on the async runtime, so
//! a write waiting for another process's lock does not stop the server answering reads and
//! console pages; and stored data that cannot be read is a 500, not a 503 to retry.
//!
//! HTTP requests and the other process are `python3` (standard library only).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

mod common;
use common::{Serve, fetch, wait_for};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

/// Holds the database's write lock (`BEGIN IMMEDIATE`) until a line arrives on stdin.
const HOLD_LOCK: &str = r#"
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"#;

struct Server {
    serve: Serve,
    dir: tempfile::TempDir,
}

impl Server {
    /// A `serve` on a free loopback port with a pipeline `demo` of one source directory and
    /// one Commands action.
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("app.txt"), "v1\n").unwrap();
        let source = format!("Src={}", src.display());
        let serve = Serve::start(dir.path(), &dir.path().join("state"), &["--source", &source]);
        let server = Server { serve, dir };
        let pipeline = json!({"pipeline": {
        "name": "demo", "roleArn": "arn:aws:iam::123456789012:role/pipewright", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": "artifacts"},
        "stages": [
            {"name": "Source", "actions": [{"name": "Src",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "configuration": {"RepositoryName": "demo", "BranchName": "main"},
                "outputArtifacts": [{"name": "Code"}]}]},
            {"name": "Build", "actions": [{"name": "Check",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["test -f app.txt"], "inputArtifacts": [{"name": "Code"}]}]}
        ]}});
        server.api_ok("CreatePipeline", &pipeline);
        server
    }

    fn api(&self, operation: &str, body: &Value) -> (u16, Value) {
        let (status, text) = fetch("POST", &format!("{}/", self.serve.endpoint), operation, &body.to_string());
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    fn api_ok(&self, operation: &str, body: &Value) -> Value {
        let (status, answer) = self.api(operation, body);
        assert_eq!(status, 200, "{operation}: {answer}");
        answer
    }

    fn page(&self, path: &str) -> (u16, String) {
        fetch("GET", &format!("{}{path}", self.serve.endpoint), "", "")
    }

    fn database(&self) -> std::path::PathBuf {
        self.dir.path().join("state/state.db")
    }

    /// Waits for an execution to end, so that its worker is done with the state directory.
    fn wait_until_finished(&self, id: &str) -> String {
        for _ in 0..600 {
            let answer =
                self.api_ok("GetPipelineExecution", &json!({"pipelineName": "demo", "pipelineExecutionId": id}));
            let status = answer["pipelineExecution"]["status"].as_str().unwrap_or_default().to_string();
            if !matches!(status.as_str(), "InProgress" | "Stopping") {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("execution {id} did not finish");
    }
}

/// Another process holding the write lock of `database`, until `release`.
struct LockHolder {
    child: Child,
    stdin: ChildStdin,
}

impl LockHolder {
    fn hold(database: &Path) -> LockHolder {
        let mut child = Command::new("python3")
            .args(["-c", HOLD_LOCK])
            .arg(database)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked", "the lock holder did not take the lock");
        let stdin = child.stdin.take().unwrap();
        LockHolder { child, stdin }
    }

    fn release(mut self) {
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
        assert!(self.child.wait().unwrap().success());
    }
}

#[test]
fn serve_answers_reads_and_pages_while_a_write_waits_for_another_process_s_lock() {
    let server = Arc::new(Server::start());
    let first = server.api_ok("StartPipelineExecution", &json!({"name": "demo"}));
    let first = first["pipelineExecutionId"].as_str().unwrap().to_string();
    assert_eq!(server.wait_until_finished(&first), "Succeeded");

    let lock = LockHolder::hold(&server.database());
    // A write: it waits for the lock (up to the busy timeout) on a blocking thread.
    let written = Arc::new(AtomicBool::new(false));
    let start = {
        let (server, written) = (server.clone(), written.clone());
        std::thread::spawn(move || {
            let answer = server.api("StartPipelineExecution", &json!({"name": "demo"}));
            written.store(true, Ordering::SeqCst);
            answer
        })
    };
    // Give the start time to reach SQLite and wait there: whatever it holds, the reads below
    // must not wait for it.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(!written.load(Ordering::SeqCst), "the start cannot commit while the lock is held");

    let state = server.api_ok("GetPipelineState", &json!({"name": "demo"}));
    assert_eq!(state["stageStates"][1]["latestExecution"]["status"], "Succeeded", "{state}");
    let listed = server.api_ok("ListPipelineExecutions", &json!({"pipelineName": "demo"}));
    assert_eq!(listed["pipelineExecutionSummaries"][0]["pipelineExecutionId"], first.as_str(), "{listed}");
    let (status, page) = server.page("/pipelines/demo");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&first[..8]), "the pipeline page shows the finished execution");
    let (status, _) = server.page("/");
    assert_eq!(status, 200);
    assert!(!written.load(Ordering::SeqCst), "every read above was answered while the start still waited for the lock");

    lock.release();
    let (status, started) = start.join().unwrap();
    assert_eq!(status, 200, "the waiting start commits once the lock is released: {started}");
    let second = started["pipelineExecutionId"].as_str().unwrap();
    assert_eq!(server.wait_until_finished(second), "Succeeded");
}

/// Under `serve`, an execution's worker is a task of the server's own process: its commands
/// are children of the server, and it logs where a detached worker would.
#[test]
fn serve_carries_executions_out_in_its_own_process() {
    let server = Server::start();
    let parent = server.dir.path().join("parent.txt");
    let declaration = server.api_ok("GetPipeline", &json!({"name": "demo"}));
    let mut pipeline = declaration["pipeline"].clone();
    pipeline["stages"][1]["actions"][0]["commands"] = json!([format!("echo $PPID > {}", parent.display())]);
    server.api_ok("UpdatePipeline", &json!({"pipeline": pipeline}));
    let started = server.api_ok("StartPipelineExecution", &json!({"name": "demo"}));
    let id = started["pipelineExecutionId"].as_str().unwrap().to_string();
    assert_eq!(server.wait_until_finished(&id), "Succeeded");
    let recorded = std::fs::read_to_string(&parent).unwrap();
    assert_eq!(recorded.trim(), server.serve.pid().to_string(), "the command's parent is serve itself");
    let log = std::fs::read_to_string(server.dir.path().join(format!("state/workers/{id}.log"))).unwrap();
    assert!(log.contains("Source/Src SUCCEEDED"), "the worker's log: {log}");
}

/// A server stopped with Ctrl-C while one of its workers runs an action exits 0 without
/// waiting for it, and the next server finds the execution an orphan and ends the action as
/// interrupted, as for any worker that stopped.
#[test]
fn serve_stopped_with_ctrl_c_while_an_action_runs_exits_cleanly() {
    let mut server = Server::start();
    let pid_file = server.dir.path().join("command.pid");
    let declaration = server.api_ok("GetPipeline", &json!({"name": "demo"}));
    let mut pipeline = declaration["pipeline"].clone();
    pipeline["stages"][1]["actions"][0]["commands"] =
        json!([format!("echo $$ > {}; exec sleep 60", pid_file.display())]);
    server.api_ok("UpdatePipeline", &json!({"pipeline": pipeline}));
    let started = server.api_ok("StartPipelineExecution", &json!({"name": "demo"}));
    let id = started["pipelineExecutionId"].as_str().unwrap().to_string();
    let command: i32 = wait_for("the action's command to start", || {
        std::fs::read_to_string(&pid_file).ok().filter(|text| text.ends_with('\n'))?.trim().parse().ok()
    });

    let status = server.serve.interrupt();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(command), nix::sys::signal::Signal::SIGTERM);
    assert!(status.success(), "serve's exit after Ctrl-C with a worker running: {status:?}");

    // The next server finds the execution's worker gone and ends the action as interrupted.
    let state = server.dir.path().join("state");
    let next = Serve::start(server.dir.path(), &state, &[]);
    let server = Server { serve: next, dir: server.dir };
    assert_eq!(server.wait_until_finished(&id), "Failed");
    let execution = server.api_ok("GetPipelineExecution", &json!({"pipelineName": "demo", "pipelineExecutionId": id}));
    let summary = execution["pipelineExecution"]["statusSummary"].as_str().unwrap_or_default().to_string();
    assert!(summary.contains("interrupted"), "{execution}");
}

#[test]
fn a_corrupt_execution_is_an_internal_failure_not_a_retry() {
    let server = Server::start();
    let started = server.api_ok("StartPipelineExecution", &json!({"name": "demo"}));
    let id = started["pipelineExecutionId"].as_str().unwrap().to_string();
    server.wait_until_finished(&id);
    let damage = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
                  c.execute(\"UPDATE executions SET body = '{\\\"id\\\": 7' WHERE id = ?\", (sys.argv[2],)); c.commit()";
    let status = Command::new("python3").args(["-c", damage]).arg(server.database()).arg(&id).status().unwrap();
    assert!(status.success());
    let (status, answer) =
        server.api("GetPipelineExecution", &json!({"pipelineName": "demo", "pipelineExecutionId": id}));
    assert_eq!(status, 500, "a permanent failure, which a client must not retry as a 503: {answer}");
    assert_eq!(answer["__type"], "InternalFailure", "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("unreadable")), "{answer}");

    // The CLI says so too, and fails.
    let output = Command::new(env!("CARGO_BIN_EXE_pipewright"))
        .arg("--state-dir")
        .arg(server.dir.path().join("state"))
        .args(["history", "demo"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("stored data is corrupt") && stderr.contains("unreadable"), "{stderr}");
}
