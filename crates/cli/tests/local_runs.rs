//! Local mode end to end: the real `pipewright` binary runs real declarations on this
//! machine, with several processes sharing one state directory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::{Value, json};

// Generous: the suite runs its tests in parallel on two cores, next to other builds.
const WAIT: Duration = Duration::from_secs(90);

/// A scratch directory with a state directory and a source directory.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let scratch = Scratch { dir: tempfile::tempdir().expect("temp dir") };
        std::fs::create_dir_all(scratch.source()).unwrap();
        std::fs::write(scratch.source().join("app.txt"), "version 1\n").unwrap();
        scratch
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    fn source(&self) -> PathBuf {
        self.path().join("src")
    }

    fn write(&self, name: &str, declaration: &Value) -> String {
        let file = self.path().join(format!("{name}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(declaration).unwrap()).unwrap();
        file.display().to_string()
    }

    fn pipewright(&self) -> Command {
        let mut command = Command::cargo_bin("pipewright").expect("binary");
        command.current_dir(self.path()).arg("--state-dir").arg(self.state()).env("PIPEWRIGHT_PLAIN", "1");
        command
    }

    /// `pipewright run` in the background, its output collected.
    fn spawn(&self, args: &[&str]) -> Running {
        let mut child = StdCommand::new(env!("CARGO_BIN_EXE_pipewright"))
            .current_dir(self.path())
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pipewright");
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        Running { child, output }
    }

    fn status(&self, name: &str) -> Value {
        let output = self.pipewright().args(["status", name, "--json"]).output().unwrap();
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    }

    fn history(&self, name: &str) -> Vec<Value> {
        let output = self.pipewright().args(["history", name, "--json"]).output().unwrap();
        let value: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        value["pipelineExecutionSummaries"].as_array().cloned().unwrap_or_default()
    }

    /// The latest execution of `action` in `stage`, from `status --json`.
    fn action(&self, name: &str, stage: &str, action: &str) -> Value {
        let status = self.status(name);
        let stages = status["stageStates"].as_array().cloned().unwrap_or_default();
        let stage = stages.iter().find(|s| s["stageName"] == stage).cloned().unwrap_or(Value::Null);
        let actions = stage["actionStates"].as_array().cloned().unwrap_or_default();
        actions.iter().find(|a| a["actionName"] == action).map(|a| a["latestExecution"].clone()).unwrap_or(Value::Null)
    }

    fn stage(&self, name: &str, stage: &str) -> Value {
        let status = self.status(name);
        status["stageStates"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["stageName"] == stage).cloned())
            .unwrap_or(Value::Null)
    }
}

/// A background `pipewright`, killed if the test ends first.
struct Running {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Running {
    fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "pipewright did not end; output so far:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[track_caller]
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- declarations -------------------------------------------------------------------------

fn pipeline(name: &str, mode: &str, stages: Vec<Value>) -> Value {
    json!({
        "name": name,
        "roleArn": "arn:aws:iam::111122223333:role/pipewright",
        "artifactStore": {"type": "S3", "location": "local-artifacts"},
        "pipelineType": "V2",
        "executionMode": mode,
        "variables": [{"name": "Target", "defaultValue": "unset"}, {"name": "Marker", "defaultValue": "/nonexistent"}],
        "stages": stages,
    })
}

fn source_stage() -> Value {
    json!({"name": "Source", "actions": [{
        "name": "Source",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "uploads", "S3ObjectKey": "app.zip"},
        "outputArtifacts": [{"name": "Src"}]
    }]})
}

fn commands(name: &str, run_order: u32, inputs: &[&str], commands: &[&str]) -> Value {
    json!({
        "name": name, "runOrder": run_order,
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": commands,
        "inputArtifacts": inputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
    })
}

fn approval(name: &str) -> Value {
    json!({"name": name, "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
           "configuration": {"CustomData": "Ship it?"}})
}

fn stage(name: &str, actions: Vec<Value>) -> Value {
    json!({"name": name, "actions": actions})
}

fn execution_id_of(output: &str) -> Option<String> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|event| event["detail"]["execution-id"].as_str().map(String::from))
}

// ---- tests --------------------------------------------------------------------------------

#[test]
fn a_multi_stage_run_passes_artifacts_between_parallel_and_sequential_actions_then_deploys_to_a_var_path() {
    let scratch = Scratch::new();
    let mut compile =
        commands("Compile", 1, &["Src"], &["mkdir -p bin", "cp app.txt bin/app", "export BUILD_ID=build-42"]);
    compile["outputArtifacts"] = json!([{"name": "Binary", "files": ["bin/**"]}]);
    compile["namespace"] = json!("CompileVars");
    compile["outputVariables"] = json!(["BUILD_ID"]);
    let mut docs = commands("Docs", 1, &["Src"], &["mkdir -p site", "echo '<h1>docs</h1>' > site/index.html"]);
    docs["outputArtifacts"] = json!([{"name": "Site", "files": ["site/*"]}]);
    let mut package = commands(
        "Package",
        2,
        &["Binary", "Site"],
        &[
            "test -f bin/app",
            "test -f \"$CODEBUILD_SRC_DIR_Site/site/index.html\"",
            "mkdir -p out && cp bin/app \"$CODEBUILD_SRC_DIR_Site/site/index.html\" out/",
            "echo #{CompileVars.BUILD_ID} > out/BUILD",
        ],
    );
    package["outputArtifacts"] = json!([{"name": "Release", "files": ["out/**"]}]);
    let mut deploy = commands("Install", 1, &["Release"], &["mkdir -p \"$TARGET\"", "cp -r out/. \"$TARGET\"/"]);
    deploy["environmentVariables"] = json!([{"name": "TARGET", "value": "#{variables.Target}"}]);
    let declaration = pipeline(
        "artifacts",
        "SUPERSEDED",
        vec![source_stage(), stage("Build", vec![compile, docs, package]), stage("Deploy", vec![deploy])],
    );
    let file = scratch.write("artifacts", &declaration);
    let target = scratch.path().join("deployed");
    let assert = scratch
        .pipewright()
        .args(["run", &file, "--source", &format!("Source={}", scratch.source().display())])
        .args(["--var", &format!("Target={}", target.display())])
        .assert()
        .success();
    let output = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert_eq!(std::fs::read_to_string(target.join("app")).unwrap(), "version 1\n");
    assert_eq!(std::fs::read_to_string(target.join("BUILD")).unwrap(), "build-42\n");
    assert!(target.join("index.html").exists());
    // Compile and Docs ran side by side, Package after both.
    let position = |needle: &str| output.find(needle).unwrap_or_else(|| panic!("{needle} missing in\n{output}"));
    assert!(position("Build/Docs STARTED") < position("Build/Compile SUCCEEDED").max(position("Build/Docs SUCCEEDED")));
    assert!(position("Build/Compile SUCCEEDED") < position("Build/Package STARTED"));
    assert!(position("Build/Docs SUCCEEDED") < position("Build/Package STARTED"));
    assert!(output.contains("[Build/Package] [pipewright] Running command 4/4: echo build-42 > out/BUILD"), "{output}");
    assert!(output.contains("Execution ") && output.contains(" Succeeded in "), "summary table:\n{output}");
}

/// The one stored zip of the artifact `name` of pipeline `pipeline`.
#[cfg(unix)]
fn stored_artifact(state: &Path, pipeline: &str, name: &str) -> PathBuf {
    let dir = state.join("artifacts/local-artifacts").join(pipeline).join(name);
    let zips: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(zips.len(), 1, "{zips:?}");
    zips[0].clone()
}

#[cfg(unix)]
#[test]
fn a_source_passed_on_unchanged_is_stored_once_and_a_change_in_place_leaves_it_whole() {
    use std::os::unix::fs::MetadataExt;
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.source().join("lib")).unwrap();
    std::fs::write(scratch.source().join("lib/data.txt"), "data\n".repeat(10_000)).unwrap();
    let mut one = commands("One", 1, &["Src"], &["true"]);
    one["outputArtifacts"] = json!([{"name": "One", "files": ["**/*"]}]);
    // Appends through the same inode: the workspace's copy changes, never the stored input.
    let mut two = commands("Two", 2, &["One"], &["echo changed >> app.txt"]);
    two["outputArtifacts"] = json!([{"name": "Two", "files": ["**/*"]}]);
    let check = commands(
        "Check",
        3,
        &["Src", "Two"],
        &[
            "test \"$(cat app.txt)\" = 'version 1'",
            "test \"$(tail -n 1 \"$CODEBUILD_SRC_DIR_Two/app.txt\")\" = changed",
        ],
    );
    let declaration = pipeline("passon", "SUPERSEDED", vec![source_stage(), stage("Pass", vec![one, two, check])]);
    let file = scratch.write("passon", &declaration);
    scratch
        .pipewright()
        .args(["run", &file, "--source", &format!("Source={}", scratch.source().display())])
        .assert()
        .success();
    let state = scratch.state();
    let inode = |name: &str| std::fs::metadata(stored_artifact(&state, "passon", name)).unwrap().ino();
    assert_eq!(inode("Src"), inode("One"), "the output passed on unchanged is the source's stored zip");
    assert_ne!(inode("Src"), inode("Two"));
    let contents = std::fs::read_dir(state.join("artifacts/.content")).unwrap().count();
    assert_eq!(contents, 2, "one zip per content");
}

#[test]
fn the_example_pipeline_runs_end_to_end_from_a_git_repository() {
    let scratch = Scratch::new();
    let repo = scratch.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("README.md"), "hello\n").unwrap();
    let git = |args: &[&str]| {
        let status = StdCommand::new("git").current_dir(&repo).args(args).status().unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&[
        "-c",
        "user.email=t@example.com",
        "-c",
        "user.name=Tester",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "Empty start",
    ]);
    git(&["add", "README.md"]);
    git(&["-c", "user.email=t@example.com", "-c", "user.name=Tester", "commit", "-q", "-m", "Add the readme"]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/pipelines/hello-service-v2.json");
    let deploy = scratch.path().join("deploy");
    let assert = scratch
        .pipewright()
        .current_dir(&repo)
        .args([
            "run",
            &example.display().to_string(),
            "--auto-approve",
            "--var",
            &format!("DeployDir={}", deploy.display()),
        ])
        .assert()
        .success();
    let output = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(output.contains("Add the readme"), "the source is the repository's HEAD:\n{output}");
    assert!(output.contains("testing on branch main"), "{output}");
    let release = std::fs::read_to_string(deploy.join("RELEASE")).unwrap();
    assert!(release.starts_with("release-"), "{release}");
    assert!(deploy.join("README.md").exists());
    // The approval message was written as CodePipeline's SNS body.
    let notifications = scratch.state().join("notifications");
    let message_file =
        walk(&notifications).into_iter().find(|p| p.extension().is_some_and(|e| e == "json")).expect("a message file");
    let message: Value = serde_json::from_str(&std::fs::read_to_string(message_file).unwrap()).unwrap();
    assert_eq!(message["approval"]["pipelineName"], "hello-service");
    assert_eq!(message["approval"]["stageName"], "Approve");
    assert_eq!(message["approval"]["token"].as_str().unwrap().len(), 36);
    assert!(message["approval"]["customData"].as_str().unwrap().starts_with("Install release-"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn checking_pipeline(name: &str) -> Value {
    pipeline(
        name,
        "SUPERSEDED",
        vec![
            source_stage(),
            stage(
                "Build",
                vec![
                    commands("Check", 1, &["Src"], &["echo checking", "test -f #{variables.Marker}"]),
                    commands("After", 2, &["Src"], &["echo after"]),
                ],
            ),
        ],
    )
}

#[test]
fn a_failing_action_exits_1_names_the_action_and_later_actions_never_run() {
    let scratch = Scratch::new();
    let file = scratch.write("checking", &checking_pipeline("checking"));
    let assert = scratch
        .pipewright()
        .args(["run", &file, "--source", &format!("Source={}", scratch.source().display())])
        .assert()
        .code(1);
    let output = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        output.contains("Build/Check FAILED  command 2 of 2 failed with exit status 1: test -f /nonexistent"),
        "{output}"
    );
    assert!(!output.contains("Build/After STARTED"), "{output}");
    let after = output.lines().find(|l| l.trim_start().starts_with("Build") && l.contains("After")).unwrap_or_default();
    assert!(after.ends_with("did not run"), "the summary says After did not run:\n{output}");
    assert_eq!(scratch.action("checking", "Build", "After"), Value::Null);
    assert_eq!(scratch.action("checking", "Build", "Check")["status"], "Failed");
}

#[test]
fn a_failed_stage_is_retried_after_a_fix() {
    let scratch = Scratch::new();
    let file = scratch.write("checking", &checking_pipeline("checking"));
    let marker = scratch.path().join("fixed");
    let source = format!("Source={}", scratch.source().display());
    let marker_var = format!("Marker={}", marker.display());
    scratch.pipewright().args(["run", &file, "--source", &source, "--var", &marker_var]).assert().code(1);
    std::fs::write(&marker, "").unwrap();
    let assert = scratch.pipewright().args(["retry", "checking", "Build", "--wait"]).assert().success();
    let output = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(output.contains("pipeline checking RESUMED"), "{output}");
    assert!(output.contains("Build/After SUCCEEDED"), "{output}");
    assert!(output.contains("Succeeded (attempt 2)"), "{output}");
    let history = scratch.history("checking");
    assert_eq!(history.len(), 1, "a retry continues the same execution");
    assert_eq!(history[0]["status"], "Succeeded");
    // Nothing left to retry now.
    scratch
        .pipewright()
        .args(["retry", "checking", "Build"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("StageNotRetryableException"));
}

fn slow_pipeline(name: &str, slow: &[&str]) -> Value {
    pipeline(
        name,
        "SUPERSEDED",
        vec![
            source_stage(),
            stage("Build", vec![commands("Slow", 1, &["Src"], slow), commands("Later", 2, &["Src"], &["echo later"])]),
        ],
    )
}

#[test]
fn stop_and_wait_lets_the_running_action_finish_and_starts_nothing_else() {
    let scratch = Scratch::new();
    // Slow runs until the test has stopped the execution, however slow the machine.
    let gate = scratch.path().join("stopped");
    let wait_for_stop = gate_command(&gate);
    let file = scratch.write("slow", &slow_pipeline("slow", &[&wait_for_stop, "echo slept"]));
    let mut run =
        scratch.spawn(&["run", &file, "--json", "--source", &format!("Source={}", scratch.source().display())]);
    wait_until("Slow is running", || scratch.action("slow", "Build", "Slow")["status"] == "InProgress");
    let execution = execution_id_of(&run.output()).expect("an execution id in the JSON stream");
    scratch.pipewright().args(["stop", &execution, "--reason", "testing stop"]).assert().success();
    scratch
        .pipewright()
        .args(["stop", &execution])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("DuplicatedStopRequestException"));
    std::fs::write(&gate, "").unwrap();
    assert_eq!(run.wait(), 3, "{}", run.output());
    assert_eq!(scratch.action("slow", "Build", "Slow")["status"], "Succeeded");
    assert_eq!(scratch.action("slow", "Build", "Later"), Value::Null);
    assert_eq!(scratch.history("slow")[0]["status"], "Stopped");
    assert_eq!(scratch.history("slow")[0]["stopTrigger"]["reason"], "testing stop");
    let output = run.output();
    assert!(output.contains("\"stop-execution-comments\":\"testing stop\""), "{output}");
}

#[test]
fn stop_and_abandon_kills_the_running_action_at_once() {
    let scratch = Scratch::new();
    let pid_file = scratch.path().join("pid");
    let command = format!("echo $$ > {}", pid_file.display());
    // Far longer than any wait here: the run can end only if abandoning kills the action.
    let file = scratch.write("abandon", &slow_pipeline("abandon", &[&command, "sleep 600"]));
    let mut run =
        scratch.spawn(&["run", &file, "--json", "--source", &format!("Source={}", scratch.source().display())]);
    wait_until("Slow wrote its pid", || {
        pid_file.exists() && !std::fs::read_to_string(&pid_file).unwrap().trim().is_empty()
    });
    let execution = execution_id_of(&run.output()).unwrap();
    scratch.pipewright().args(["stop", &execution, "--abandon"]).assert().success();
    assert_eq!(run.wait(), 3, "abandoning does not wait for the action");
    assert_eq!(scratch.action("abandon", "Build", "Slow")["status"], "Abandoned");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    wait_until("the abandoned shell is gone", || !Path::new(&format!("/proc/{pid}")).exists());
}

/// A custom action's job waits for a job worker, which nothing on this machine is: the run
/// says so, and what to do, instead of waiting in silence.
#[test]
fn a_run_says_what_a_custom_actions_job_waits_for() {
    let scratch = Scratch::new();
    let custom = json!({"name": "Checkout",
        "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "InHouseBuild", "version": "2"},
        "inputArtifacts": [{"name": "Src"}]});
    let file =
        scratch.write("custom", &pipeline("custom", "QUEUED", vec![source_stage(), stage("Build", vec![custom])]));
    let mut run = scratch.spawn(&["run", &file, "--source", &format!("Source={}", scratch.source().display())]);
    let said = "Build/Checkout: the job of Custom/InHouseBuild/2 waits for a job worker, which polls PollForJobs through `pipewright serve` on this state directory; `pipewright stop` ends the execution";
    wait_until("the run says what the job waits for", || run.output().contains(said));
    assert!(run.is_running(), "the job still waits for its worker: {}", run.output());
}

/// A Commands rule of an entry condition is stopped as an action is: its shell is killed when
/// the execution is stopped with abandon (on AWS, its build: docs/conditions.md, "On AWS").
#[test]
fn stop_and_abandon_kills_a_running_rules_commands() {
    let scratch = Scratch::new();
    let pid_file = scratch.path().join("pid");
    let mut build = stage("Build", vec![commands("Later", 1, &["Src"], &["echo later"])]);
    build["beforeEntry"] = json!({"conditions": [{"result": "FAIL", "rules": [{
        "name": "Soak", "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": [format!("echo $$ > {}", pid_file.display()), "sleep 600".to_string()],
        "inputArtifacts": [{"name": "Src"}]}]}]});
    let file = scratch.write("soak", &pipeline("soak", "SUPERSEDED", vec![source_stage(), build]));
    let mut run =
        scratch.spawn(&["run", &file, "--json", "--source", &format!("Source={}", scratch.source().display())]);
    wait_until("Soak wrote its pid", || {
        pid_file.exists() && !std::fs::read_to_string(&pid_file).unwrap().trim().is_empty()
    });
    let execution = execution_id_of(&run.output()).unwrap();
    scratch.pipewright().args(["stop", &execution, "--abandon"]).assert().success();
    assert_eq!(run.wait(), 3, "abandoning does not wait for the rule");
    assert_eq!(scratch.history("soak")[0]["status"], "Stopped");
    assert_eq!(scratch.action("soak", "Build", "Later"), Value::Null, "the stage never ran");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    wait_until("the abandoned rule's shell is gone", || !Path::new(&format!("/proc/{pid}")).exists());
}

fn gated(name: &str, mode: &str) -> Value {
    pipeline(
        name,
        mode,
        vec![
            source_stage(),
            stage("Hold", vec![approval("Approve")]),
            stage("Done", vec![commands("Finish", 1, &["Src"], &["echo finished"])]),
        ],
    )
}

#[test]
fn an_approval_is_answered_from_a_second_process() {
    let scratch = Scratch::new();
    let file = scratch.write("gated", &gated("gated", "SUPERSEDED"));
    let source = format!("Source={}", scratch.source().display());
    let mut run = scratch.spawn(&["run", &file, "--source", &source]);
    wait_until("the approval waits", || scratch.action("gated", "Hold", "Approve")["token"].is_string());
    assert!(run.is_running(), "the run waits for the answer");
    scratch
        .pipewright()
        .args(["approve", "gated", "Hold", "Approve", "--summary", "reviewed"])
        .assert()
        .success()
        .stdout(predicates::str::contains("Approved Hold/Approve"));
    assert_eq!(run.wait(), 0, "{}", run.output());
    assert_eq!(scratch.action("gated", "Hold", "Approve")["summary"], "reviewed");
    scratch.pipewright().args(["approve", "gated", "Hold", "Approve"]).assert().code(1);

    let mut rejected = scratch.spawn(&["run", &file, "--source", &source]);
    wait_until("the second approval waits", || scratch.action("gated", "Hold", "Approve")["token"].is_string());
    scratch.pipewright().args(["reject", "gated", "Hold", "Approve", "--summary", "not today"]).assert().success();
    assert_eq!(rejected.wait(), 1);
    assert!(rejected.output().contains("Rejected by"), "{}", rejected.output());
}

#[test]
fn superseded_the_older_execution_waiting_at_a_boundary_is_replaced() {
    let scratch = Scratch::new();
    let file = scratch.write("gated", &gated("gated", "SUPERSEDED"));
    let source = format!("Source={}", scratch.source().display());
    let mut first = scratch.spawn(&["run", &file, "--source", &source, "--json"]);
    wait_until("the first execution holds the approval stage", || {
        scratch.action("gated", "Hold", "Approve")["token"].is_string()
    });
    let mut second = scratch.spawn(&["run", &file, "--source", &source, "--json"]);
    wait_until("the second waits in front of Hold", || scratch.stage("gated", "Hold")["inboundExecution"].is_object());
    let second_id = execution_id_of(&second.output()).unwrap();
    assert_eq!(scratch.stage("gated", "Hold")["inboundExecution"]["pipelineExecutionId"], second_id.as_str());
    let mut third = scratch.spawn(&["run", &file, "--source", &source, "--json"]);
    assert_eq!(second.wait(), 3, "the older waiting execution is superseded:\n{}", second.output());
    assert!(second.output().contains("\"state\":\"SUPERSEDED\""));
    let third_id = execution_id_of(&third.output()).unwrap();
    wait_until("the third waits in front of Hold", || {
        scratch.stage("gated", "Hold")["inboundExecution"]["pipelineExecutionId"] == third_id.as_str()
    });
    assert!(first.is_running(), "the execution inside the stage is never superseded");
    scratch.pipewright().args(["approve", "gated", "Hold", "Approve"]).assert().success();
    assert_eq!(first.wait(), 0);
    wait_until("the third reaches the approval", || scratch.action("gated", "Hold", "Approve")["token"].is_string());
    scratch.pipewright().args(["approve", "gated", "Hold", "Approve"]).assert().success();
    assert_eq!(third.wait(), 0);
    let statuses: Vec<String> =
        scratch.history("gated").iter().map(|e| e["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(statuses, ["Succeeded", "Superseded", "Succeeded"]);
}

/// A command that waits until `gate` exists (at most two minutes, so that a failed test
/// leaves no process behind for long): a test opens it once it has seen what it waits for.
fn gate_command(gate: &std::path::Path) -> String {
    format!("for i in $(seq 1200); do [ -e '{}' ] && break; sleep 0.1; done", gate.display())
}

#[test]
fn queued_executions_go_through_a_stage_in_the_order_they_arrived() {
    let scratch = Scratch::new();
    let order = scratch.path().join("order");
    let record = format!("echo $CODEPIPELINE_EXECUTION_ID >> {}", order.display());
    // The first holds Work until the test has seen the other two queued behind it.
    let gate = scratch.path().join("both-queued");
    let hold = gate_command(&gate);
    let declaration = pipeline(
        "queue",
        "QUEUED",
        vec![source_stage(), stage("Work", vec![commands("Record", 1, &["Src"], &[&hold, &record])])],
    );
    let file = scratch.write("queue", &declaration);
    let source = format!("Source={}", scratch.source().display());
    let mut runs = Vec::new();
    let mut ids = Vec::new();
    for n in 0..3 {
        let run = scratch.spawn(&["run", &file, "--source", &source, "--json"]);
        wait_until("the execution has started", || execution_id_of(&run.output()).is_some());
        ids.push(execution_id_of(&run.output()).unwrap());
        runs.push(run);
        if n == 0 {
            wait_until("the first holds Work", || scratch.action("queue", "Work", "Record")["status"] == "InProgress");
        }
    }
    wait_until("two wait in the queue", || {
        scratch.stage("queue", "Work")["inboundExecutions"].as_array().is_some_and(|a| a.len() == 2)
    });
    std::fs::write(&gate, "").unwrap();
    for run in &mut runs {
        assert_eq!(run.wait(), 0, "{}", run.output());
    }
    let recorded: Vec<String> = std::fs::read_to_string(&order).unwrap().lines().map(String::from).collect();
    assert_eq!(recorded, ids, "FIFO");
    assert!(scratch.history("queue").iter().all(|e| e["status"] == "Succeeded"), "none superseded");
}

#[test]
fn a_disabled_transition_holds_an_execution_until_it_is_enabled() {
    let scratch = Scratch::new();
    let declaration = pipeline(
        "held",
        "SUPERSEDED",
        vec![
            source_stage(),
            stage("Build", vec![commands("Make", 1, &["Src"], &["echo made"])]),
            stage("Deploy", vec![commands("Ship", 1, &["Src"], &["echo shipped"])]),
        ],
    );
    let file = scratch.write("held", &declaration);
    let source = format!("Source={}", scratch.source().display());
    // Store the pipeline with a first run, then hold Deploy.
    scratch.pipewright().args(["run", &file, "--source", &source]).assert().success();
    scratch
        .pipewright()
        .args(["transitions", "disable", "held", "Deploy"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--reason"));
    scratch
        .pipewright()
        .args(["transitions", "disable", "held", "Deploy", "--reason", "Release freeze"])
        .assert()
        .success();
    let mut run = scratch.spawn(&["run", &file, "--source", &source]);
    wait_until("the execution waits in front of Deploy", || {
        scratch.stage("held", "Deploy")["inboundExecution"].is_object()
    });
    let stage = scratch.stage("held", "Deploy");
    assert_eq!(stage["inboundTransitionState"]["enabled"], false);
    assert_eq!(stage["inboundTransitionState"]["disabledReason"], "Release freeze");
    std::thread::sleep(Duration::from_millis(500));
    assert!(run.is_running(), "held while the transition is disabled");
    scratch.pipewright().args(["transitions", "enable", "held", "Deploy"]).assert().success();
    assert_eq!(run.wait(), 0, "{}", run.output());
    assert!(run.output().contains("Deploy/Ship SUCCEEDED"));
}

#[test]
fn an_action_that_runs_too_long_times_out_and_is_killed() {
    let scratch = Scratch::new();
    // Far longer than the wait for the run: it ends only if the timed-out action is killed.
    let file = scratch.write("slow", &slow_pipeline("slow", &["sleep 600"]));
    let assert = scratch
        .pipewright()
        .args(["run", &file, "--action-timeout", "1", "--source", &format!("Source={}", scratch.source().display())])
        .timeout(WAIT)
        .assert()
        .code(1);
    let output = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(output.contains("Build/Slow FAILED  The action timed out after 1 second"), "{output}");
    assert_eq!(scratch.action("slow", "Build", "Later"), Value::Null);
}

#[test]
fn json_output_is_a_stream_of_codepipeline_events() {
    let scratch = Scratch::new();
    let file = scratch.write("checking", &checking_pipeline("checking"));
    let marker = scratch.path().join("marker");
    std::fs::write(&marker, "").unwrap();
    let assert = scratch
        .pipewright()
        .args(["run", &file, "--json", "--source", &format!("Source={}", scratch.source().display())])
        .args(["--var", &format!("Marker={}", marker.display())])
        .assert()
        .success();
    let events: Vec<Value> = String::from_utf8(assert.get_output().stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    assert!(events.iter().all(|e| e["source"] == "pipewright" && e["detail"]["pipeline"] == "checking"));
    assert_eq!(events.first().unwrap()["detail-type"], "CodePipeline Pipeline Execution State Change");
    assert_eq!(events.first().unwrap()["detail"]["state"], "STARTED");
    assert_eq!(events.last().unwrap()["detail"]["state"], "SUCCEEDED");
    let action = events.iter().find(|e| e["detail-type"] == "CodePipeline Action Execution State Change").unwrap();
    assert_eq!(action["detail"]["type"]["provider"], "S3");
    assert_eq!(action["resources"][0], "arn:aws:codepipeline:local:000000000000:checking");
}

#[test]
fn bad_input_gets_a_clear_error_and_exit_2_without_a_panic() {
    let scratch = Scratch::new();
    let good = scratch.write("checking", &checking_pipeline("checking"));
    let mut broken = checking_pipeline("broken");
    broken["stages"][1]["actions"][1]["runOrder"] = json!(0);
    let broken = scratch.write("broken", &broken);
    scratch
        .pipewright()
        .args(["status", "checking"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no pipelines in"));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["run".into(), "missing.json".into()], "cannot read missing.json"),
        (vec!["run".into(), broken.clone()], "stages[1].actions[1].runOrder: is 0"),
        (vec!["run".into(), good.clone(), "--bogus".into()], "--bogus"),
        (vec!["run".into(), good.clone(), "--source".into(), "Nope=src".into()], "no source action named \"Nope\""),
        (vec!["run".into(), good.clone(), "--source".into(), "Source=missing-dir".into()], "no such file or directory"),
        (vec!["run".into(), good.clone(), "--source".into(), "no-equals".into()], "expected NAME=VALUE"),
        (
            vec![
                "run".into(),
                good.clone(),
                "--source".into(),
                "Source=src".into(),
                "--var".into(),
                "Unknown=1".into(),
            ],
            "declares no variable \"Unknown\"",
        ),
        (vec!["approve".into(), "checking".into()], "<STAGE>"),
    ];
    for (args, expected) in cases {
        let assert = scratch.pipewright().args(&args).assert().code(2);
        let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert!(stderr.contains(expected), "{args:?}: expected {expected:?} in\n{stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // An S3 source without --source names the flag.
    let assert = scratch.pipewright().args(["run", &good]).assert().code(1);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("give --source Source=PATH"), "{stdout}");
    scratch.pipewright().args(["status", "nope"]).assert().code(2).stderr(predicates::str::contains("does not exist"));
    scratch.pipewright().args(["stop", "00000000-0000-4000-8000-000000000000"]).assert().code(2);
}

#[test]
fn on_a_terminal_the_run_shows_a_live_view_and_asks_for_the_approval() {
    let scratch = Scratch::new();
    let file = scratch.write("gated", &gated("gated", "SUPERSEDED"));
    let command = format!(
        "{} --state-dir {} run {file} --source Source={}",
        env!("CARGO_BIN_EXE_pipewright"),
        scratch.state().display(),
        scratch.source().display()
    );
    // `script` gives the run a terminal; the answer is typed once the question is asked.
    let mut child = StdCommand::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(scratch.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script(1) from util-linux");
    wait_until("the approval waits", || scratch.action("gated", "Hold", "Approve")["token"].is_string());
    std::thread::sleep(Duration::from_millis(300));
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"a\nreviewed at the terminal\n").unwrap();
        stdin.flush().unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("Approve Hold/Approve of gated"), "the question:\n{text}");
    assert!(text.contains("✔"), "the live view marks finished actions:\n{text}");
    assert_eq!(scratch.action("gated", "Hold", "Approve")["summary"], "reviewed at the terminal");
    assert_eq!(scratch.history("gated")[0]["status"], "Succeeded");
}

#[test]
fn escape_sequences_from_commands_and_messages_are_shown_not_obeyed_on_the_terminal() {
    let scratch = Scratch::new();
    // Output that would put text on the clipboard (OSC 52) and clear the screen; a command
    // whose text (and so whose failure message) holds an escape sequence.
    let hostile = pipeline(
        "hostile",
        "SUPERSEDED",
        vec![
            source_stage(),
            stage(
                "Build",
                vec![commands(
                    "Noisy",
                    1,
                    &["Src"],
                    &["printf '\\033]52;c;cHduZWQ=\\007\\033[2Jcleared\\n'", "echo \u{1b}[31m\u{9b}red && false"],
                )],
            ),
        ],
    );
    let file = scratch.write("hostile", &hostile);
    let assert = scratch
        .pipewright()
        .args(["run", &file, "--source", &format!("Source={}", scratch.source().display())])
        .assert()
        .code(1);
    let output = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let obeyed = |text: &str| text.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    assert!(!obeyed(&output), "run printed a control character:\n{output:?}");
    assert!(output.contains("^[]52;c;cHduZWQ=^G^[[2Jcleared"), "the output is shown:\n{output}");
    assert!(output.contains("^[[31m<U+009B>red"), "the failure message is shown:\n{output}");

    for command in [&["status", "hostile"][..], &["history", "hostile"][..]] {
        let shown = scratch.pipewright().args(command).output().unwrap();
        let text = String::from_utf8(shown.stdout).unwrap();
        assert!(!obeyed(&text), "{command:?} printed a control character:\n{text:?}");
    }
    assert!(
        scratch.action("hostile", "Build", "Noisy")["errorDetails"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\u{1b}[31m\u{9b}red")),
        "--json keeps the raw text"
    );
}

#[test]
fn stages_and_actions_named_dot_dot_keep_their_workspaces_and_logs_inside_their_execution() {
    let scratch = Scratch::new();
    let mut ids = Vec::new();
    for name in ["climb-a", "climb-b"] {
        let declaration = pipeline(
            name,
            "SUPERSEDED",
            vec![source_stage(), stage("..", vec![commands("..", 1, &["Src"], &["pwd", &format!("echo {name}")])])],
        );
        let file = scratch.write(name, &declaration);
        let assert = scratch
            .pipewright()
            .args(["run", &file, "--json", "--source", &format!("Source={}", scratch.source().display())])
            .assert()
            .success();
        let output = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
        ids.push(execution_id_of(&output).unwrap_or_else(|| panic!("an execution id in:\n{output}")));
    }
    let logs = scratch.state().join("logs");
    let mut top: Vec<String> =
        std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    top.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(top, expected, "nothing climbed out of an execution's directory");
    for (id, name) in ids.iter().zip(["climb-a", "climb-b"]) {
        let log = std::fs::read_to_string(logs.join(id).join("%2E%2E").join("%2E%2E.1.log")).unwrap();
        assert!(
            log.contains(name) && log.contains(id.as_str()),
            "each execution has its own log and workspace:\n{log}"
        );
    }
}
