//! `pipewright serve` driven by CodePipeline's real clients: boto3 and the aws CLI (from
//! PyPI, in infra/local/.venv-clients; `bash infra/local/clients.sh install` sets it up, and
//! tests/run.sh does so itself). Only the endpoint differs from talking to AWS.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

mod common;
use common::{Serve, wait_for};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn clients_venv() -> PathBuf {
    let venv = std::env::var_os("PIPEWRIGHT_CLIENTS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join("infra/local/.venv-clients"));
    assert!(
        venv.join("bin/python").exists() && venv.join("bin/aws").exists(),
        "the aws CLI and boto3 are not installed in {}: run `bash infra/local/clients.sh install`",
        venv.display()
    );
    venv
}

/// A `pipewright serve` on a free loopback port, over a state directory of its own, run from
/// a git repository (for the CodeCommit source of hello-service) with `--source Src=…`.
struct Server {
    /// Held for its lifetime: serve stops when the server is dropped.
    _serve: Serve,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("index.html"), "<p>hello</p>\n").unwrap();
        for args in [
            vec!["init", "-q", "-b", "main"],
            vec!["add", "."],
            vec!["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "first"],
        ] {
            let status = Command::new("git").args(&args).current_dir(&repo).status().unwrap();
            assert!(status.success(), "git {args:?}");
        }
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("app.txt"), "v1\n").unwrap();
        let source = format!("Src={}", src.display());
        let args: Vec<&str> = ["--source", source.as_str()].into_iter().chain(extra.iter().copied()).collect();
        let serve = Serve::start(&repo, &dir.path().join("state"), &args);
        Server { endpoint: serve.endpoint.clone(), _serve: serve, dir }
    }

    fn boto3(&self, scenario: &str) {
        self.boto3_in("boto3_scenarios.py", scenario);
    }

    /// Runs `scenario` of the boto3 script `script` in tests/api/.
    fn boto3_in(&self, script: &str, scenario: &str) {
        let script = repository().join("tests/api").join(script);
        let output = Command::new(clients_venv().join("bin/python"))
            .arg(script)
            .args([self.endpoint.as_str(), scenario])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "boto3 scenario {scenario} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `aws codepipeline ARGS… --endpoint-url …`: (exit code, stdout, stderr).
    fn aws(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(clients_venv().join("bin/aws"))
            .arg("codepipeline")
            .args(args)
            .args(["--endpoint-url", &self.endpoint, "--region", "us-east-1", "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", "AKIDPIPEWRIGHTCLI")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn aws_json(&self, args: &[&str]) -> Value {
        let (code, stdout, stderr) = self.aws(args);
        assert_eq!(code, 0, "aws codepipeline {args:?}: {stderr}");
        if stdout.trim().is_empty() { Value::Null } else { serde_json::from_str(&stdout).unwrap() }
    }

    /// Stops and abandons the execution CreatePipeline started (as CodePipeline does), so
    /// that the test's own execution is the one that runs; waits until it has ended.
    fn stop_first_execution(&self, pipeline: &str) {
        let first = wait_for("CreatePipeline's execution", || {
            let listed = self.aws_json(&["list-pipeline-executions", "--pipeline-name", pipeline]);
            let summaries = listed["pipelineExecutionSummaries"].as_array()?.clone();
            let first = summaries.into_iter().find(|s| s["trigger"]["triggerType"] == "CreatePipeline")?;
            first["pipelineExecutionId"].as_str().map(str::to_string)
        });
        let (code, _, stderr) = self.aws(&[
            "stop-pipeline-execution",
            "--pipeline-name",
            pipeline,
            "--pipeline-execution-id",
            &first,
            "--abandon",
        ]);
        assert!(code == 0 || stderr.contains("PipelineExecutionNotStoppableException"), "{stderr}");
        wait_for("CreatePipeline's execution to end", || {
            let got = self.aws_json(&[
                "get-pipeline-execution",
                "--pipeline-name",
                pipeline,
                "--pipeline-execution-id",
                &first,
            ]);
            (!matches!(got["pipelineExecution"]["status"].as_str(), Some("InProgress" | "Stopping"))).then_some(())
        });
    }
}

/// True when `answered` holds everything of `sent`: CodePipeline answers a declaration
/// normalised (defaults written out: runOrder, empty artifact lists, …) and masks secret
/// configuration values as `****`.
fn contains(answered: &Value, sent: &Value) -> bool {
    match (answered, sent) {
        (Value::Object(answered), Value::Object(sent)) => {
            sent.iter().all(|(key, value)| answered.get(key).is_some_and(|got| contains(got, value)))
        }
        (Value::Array(answered), Value::Array(sent)) => {
            answered.len() == sent.len() && answered.iter().zip(sent).all(|(got, value)| contains(got, value))
        }
        (Value::String(masked), Value::String(_)) if masked == "****" => true,
        _ => answered == sent,
    }
}

#[test]
fn boto3_gets_the_declaration_as_codepipeline_answers_it() {
    // The pipelines' region, which answers put on every action: `--region`, else `local`.
    Server::start_with(&["--region", "us-east-1"]).boto3_in("boto3_operations.py", "declaration_as_aws_answers");
}

#[test]
fn boto3_tags_pipelines_and_custom_action_types() {
    Server::start().boto3_in("boto3_operations.py", "tags");
}

#[test]
fn boto3_lists_and_gets_action_types() {
    Server::start().boto3_in("boto3_operations.py", "action_types");
}

#[test]
fn boto3_puts_an_action_revision_once() {
    Server::start().boto3_in("boto3_operations.py", "put_action_revision");
}

#[test]
fn boto3_partner_jobs_and_deploy_targets_answer_codepipelines_errors() {
    Server::start().boto3_in("boto3_operations.py", "third_party_jobs_and_targets");
}

#[test]
fn boto3_creates_runs_and_approves_a_pipeline_to_success() {
    Server::start().boto3("approval_to_success");
}

#[test]
fn boto3_stage_conditions_gate_hold_and_are_overridden() {
    Server::start().boto3("conditions_gate_and_override");
}

#[test]
fn boto3_override_of_a_stopping_execution_is_a_conflict() {
    Server::start().boto3("conditions_busy_while_stopping");
}

#[test]
fn boto3_rollback_restores_the_last_good_release() {
    Server::start().boto3("rollback_restores_the_last_good_release");
}

#[test]
fn boto3_retries_a_failed_stage_after_a_fix() {
    Server::start().boto3("retry_after_fix");
}

#[test]
fn boto3_stops_and_abandons_an_execution() {
    Server::start().boto3("stop_and_abandon");
}

#[test]
fn boto3_holds_an_execution_at_a_disabled_transition() {
    Server::start().boto3("transition_hold");
}

#[test]
fn boto3_gets_codepipelines_errors_and_bad_input_changes_nothing() {
    Server::start().boto3("errors_and_bad_input");
}

#[test]
fn with_keys_the_server_verifies_sigv4_signatures() {
    Server::start_with(&["--access-key", "AKIDPIPEWRIGHTTEST", "--secret-key", "secret"]).boto3("authentication");
}

/// Every (operation, error) pair of botocore's model: provoked, or named with the reason
/// Pipewright never answers it (tests/api/boto3_errors.py).
#[test]
fn boto3_gets_every_error_the_model_lists_for_each_operation() {
    Server::start().boto3_in("boto3_errors.py", "every_error");
}

#[test]
fn boto3_custom_action_workers_poll_acknowledge_and_complete_a_job() {
    Server::start().boto3("custom_action_workers");
}

/// A custom action's worker signs with its action type's key, which `pipewright worker-key`
/// makes from the server's API key: it completes its type's jobs through boto3 and is refused
/// everything else.
#[test]
fn boto3_custom_action_workers_sign_with_their_action_types_key() {
    // A worker key lets its holder test guesses of the API secret offline: it must be long.
    let (api_key, api_secret) = ("AKIDPIPEWRIGHTADMIN", "a-random-api-secret-Zq7w3Kx9");
    let server = Server::start_with(&["--access-key", api_key, "--secret-key", api_secret]);
    let output = Command::new(env!("CARGO_BIN_EXE_pipewright"))
        .args(["worker-key", "--action-type-id", "category=Build,owner=Custom,provider=Farm,version=1"])
        .env("AWS_ACCESS_KEY_ID", api_key)
        .env("AWS_SECRET_ACCESS_KEY", api_secret)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((&key["ActionTypeId"]["provider"], &key["MadeFrom"]), (&json!("Farm"), &json!(api_key)), "{key}");
    std::fs::write(server.dir.path().join("worker-key.json"), &output.stdout).unwrap();
    let admin = json!({ "AccessKeyId": api_key, "SecretAccessKey": api_secret });
    std::fs::write(server.dir.path().join("api-key.json"), admin.to_string()).unwrap();
    server.boto3("workers_sign_with_their_action_types_key");

    // Without the API key, or for an AWS-owned type, no key is made.
    let refused = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipewright"));
        command
            .args(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE");
        command.env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null").envs(env.iter().copied());
        let output = command.output().unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, stderr) =
        refused(&["worker-key", "--action-type-id", "category=Build,owner=Custom,provider=Farm,version=1"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("AWS_ACCESS_KEY_ID"), "{stderr}");
    let keys = [("AWS_ACCESS_KEY_ID", api_key), ("AWS_SECRET_ACCESS_KEY", api_secret)];
    let (code, stderr) =
        refused(&["worker-key", "--action-type-id", "category=Invoke,owner=AWS,provider=Lambda,version=1"], &keys);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--action-type-id.owner"), "{stderr}");
    let farm = ["worker-key", "--action-type-id", "category=Build,owner=Custom,provider=Farm,version=1"];
    let short = [("AWS_ACCESS_KEY_ID", "AKIDPIPEWRIGHTTEST"), ("AWS_SECRET_ACCESS_KEY", "secret")];
    let (code, stderr) = refused(&farm, &short);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("shorter than 20 characters"), "{stderr}");
    let session = [keys[0], keys[1], ("AWS_SESSION_TOKEN", "token")];
    let (code, stderr) = refused(&farm, &session);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("session token"), "{stderr}");
}

/// An output artifact three times the API's body limit streams through serve's S3 endpoint;
/// a body swapped under the upload's signature is refused and leaves no object.
#[test]
fn boto3_job_workers_upload_large_outputs_streamed() {
    Server::start().boto3("large_outputs_stream_through_the_s3_endpoint");
}

#[test]
fn boto3_start_is_idempotent_by_client_request_token() {
    Server::start().boto3("start_is_idempotent_by_client_request_token");
}

/// A GET of an `http://127.0.0.1:PORT/…` URL: the whole response as text.
fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (address, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET /{path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// One HTTP/1.1 request over TCP with the given `Host` header: the whole response as text.
fn http_raw(endpoint: &str, method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &str) -> String {
    use std::io::{Read, Write};
    let address = endpoint.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// DNS rebinding: a page on attacker.example rebinds its name to 127.0.0.1 and, being
/// same-origin with itself, calls the API and posts console forms. Its requests carry its own
/// name as Host; the server answers only its loopback names (or those given --allow-host).
#[test]
fn a_rebound_host_reaches_neither_the_api_nor_the_console() {
    let server = Server::start();
    let port = server.endpoint.rsplit(':').next().unwrap().to_string();
    let evil = format!("attacker.example:{port}");
    let create = serde_json::json!({ "pipeline": {
        "name": "rebound", "roleArn": "arn:aws:iam::123456789012:role/x",
        "artifactStore": { "type": "S3", "location": "bucket" },
        "stages": [
            { "name": "Source", "actions": [{ "name": "Src", "actionTypeId": { "category": "Source", "owner": "AWS", "provider": "S3", "version": "1" },
              "configuration": { "S3Bucket": "b", "S3ObjectKey": "k" }, "outputArtifacts": [{ "name": "Out" }] }] },
            { "name": "Run", "actions": [{ "name": "Id", "actionTypeId": { "category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1" },
              "commands": ["id"], "inputArtifacts": [{ "name": "Out" }] }] } ] } })
    .to_string();
    let api =
        [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "CodePipeline_20150709.CreatePipeline")];
    let refused = http_raw(&server.endpoint, "POST", "/", &evil, &api, &create);
    assert!(refused.starts_with("HTTP/1.1 421"), "{refused}");
    assert!(refused.contains("--allow-host"), "the refusal says how to allow a name: {refused}");
    let console = http_raw(&server.endpoint, "GET", "/", &evil, &[], "");
    assert!(console.starts_with("HTTP/1.1 421"), "{console}");
    let form = http_raw(
        &server.endpoint,
        "POST",
        "/pipelines/rebound/start",
        &evil,
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Origin", &format!("http://{evil}"))],
        "csrf=x",
    );
    assert!(form.starts_with("HTTP/1.1 421"), "{form}");
    // Nothing was created; the loopback names still work.
    let list =
        [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "CodePipeline_20150709.ListPipelines")];
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let listed = http_raw(&server.endpoint, "POST", "/", &host, &list, "{}");
        assert!(listed.starts_with("HTTP/1.1 200") && listed.contains(r#""pipelines":[]"#), "{listed}");
    }
    // Through a name the user allows (a tunnel's), a server without keys takes webhooks
    // only: anyone who reaches the tunnel could otherwise create a pipeline whose commands run
    // on this machine.
    let tunnel = Server::start_with(&["--allow-host", "tunnel.example", "--webhook-secret", "s3cret"]);
    let refused = http_raw(&tunnel.endpoint, "POST", "/", "tunnel.example", &api, &create);
    assert!(refused.starts_with("HTTP/1.1 403") && refused.contains("--access-key"), "{refused}");
    assert!(refused.contains(r#""__type":"AccessDeniedException""#), "as an SDK reads it: {refused}");
    let console = http_raw(&tunnel.endpoint, "GET", "/", "tunnel.example", &[], "");
    assert!(console.starts_with("HTTP/1.1 403"), "{console}");
    let push = r#"{"ref": "refs/heads/main", "after": "0123456789abcdef0123456789abcdef01234567"}"#;
    let unsigned = [("Content-Type", "application/json"), ("X-GitHub-Event", "push")];
    let webhook = http_raw(&tunnel.endpoint, "POST", "/webhooks/github", "tunnel.example", &unsigned, push);
    // Refused for its missing signature, by the webhook's own check.
    assert!(webhook.starts_with("HTTP/1.1 401") && !webhook.contains("--access-key"), "{webhook}");
    let port = tunnel.endpoint.rsplit(':').next().unwrap().to_string();
    let local = http_raw(&tunnel.endpoint, "POST", "/", &format!("127.0.0.1:{port}"), &list, "{}");
    assert!(local.starts_with("HTTP/1.1 200"), "loopback stays open: {local}");
    // With keys, the API is served there, to signed requests only.
    let keyed = Server::start_with(&["--allow-host", "tunnel.example", "--access-key", "AK", "--secret-key", "SK"]);
    let unsigned = http_raw(&keyed.endpoint, "POST", "/", "tunnel.example", &list, "{}");
    assert!(!unsigned.contains("--access-key") && !unsigned.starts_with("HTTP/1.1 200"), "{unsigned}");
    assert!(unsigned.contains("Exception"), "the API's own refusal: {unsigned}");
    // …and the console, which asks for a session.
    let console = http_raw(&keyed.endpoint, "GET", "/", "tunnel.example", &[], "");
    assert!(console.starts_with("HTTP/1.1 303") && console.contains("/login"), "{console}");
}

#[test]
fn the_aws_cli_creates_starts_approves_and_reads_a_pipeline() {
    let server = Server::start();
    let file = repository().join("infra/pipelines/hello-service-v2.json");
    let created = server.aws_json(&["create-pipeline", "--pipeline", &format!("file://{}", file.display())]);
    assert_eq!(created["pipeline"]["name"], "hello-service");
    assert_eq!(created["pipeline"]["version"], 1);
    let listed = server.aws_json(&["list-pipelines"]);
    assert_eq!(listed["pipelines"][0]["name"], "hello-service");
    assert_eq!(listed["pipelines"][0]["executionMode"], "QUEUED");
    let got = server.aws_json(&["get-pipeline", "--name", "hello-service"]);
    assert!(got["metadata"]["pipelineArn"].as_str().unwrap().ends_with(":hello-service"), "{got}");
    server.stop_first_execution("hello-service");

    let deploy_dir = server.dir.path().join("deployed");
    let started = server.aws_json(&[
        "start-pipeline-execution",
        "--name",
        "hello-service",
        "--variables",
        &format!("name=DeployDir,value={}", deploy_dir.display()),
    ]);
    let execution_id = started["pipelineExecutionId"].as_str().unwrap().to_string();
    let token = wait_for("the approval", || {
        let state = server.aws_json(&["get-pipeline-state", "--name", "hello-service"]);
        let gate = state["stageStates"].as_array()?.iter().find(|s| s["stageName"] == "Approve")?.clone();
        let latest = gate["actionStates"][0]["latestExecution"].clone();
        (latest["status"] == "InProgress").then(|| latest["token"].as_str().map(str::to_string)).flatten()
    });
    // The approval message's review link opens this server's console, which shows the
    // approval and its form; the GET decides nothing.
    let message = server.dir.path().join(format!("state/notifications/{execution_id}/Approve/ReleaseGate.1.json"));
    let message: Value = serde_json::from_str(&std::fs::read_to_string(&message).unwrap()).unwrap();
    let link = message["approval"]["approvalReviewLink"].as_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("{}/pipelines/hello-service/approve/Approve/ReleaseGate?token=", server.endpoint)),
        "{link}"
    );
    let page = http_get(&link);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains(r#"<form class="approval""#), "{page}");
    server.aws_json(&[
        "put-approval-result",
        "--pipeline-name",
        "hello-service",
        "--stage-name",
        "Approve",
        "--action-name",
        "ReleaseGate",
        "--result",
        "summary=Ship it,status=Approved",
        "--token",
        &token,
    ]);
    let status = wait_for("the end of the execution", || {
        let history = server.aws_json(&["list-pipeline-executions", "--pipeline-name", "hello-service"]);
        let mine = history["pipelineExecutionSummaries"]
            .as_array()?
            .iter()
            .find(|s| s["pipelineExecutionId"] == execution_id.as_str())?
            .clone();
        (mine["status"] != "InProgress").then(|| mine["status"].as_str().unwrap_or_default().to_string())
    });
    assert_eq!(status, "Succeeded");
    assert!(deploy_dir.is_dir(), "the Deploy stage installed into the DeployDir variable");

    // The error names the aws CLI prints.
    let (code, _, stderr) = server.aws(&["get-pipeline-state", "--name", "missing"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("(PipelineNotFoundException)"), "{stderr}");
    let (code, _, stderr) = server.aws(&[
        "put-approval-result",
        "--pipeline-name",
        "hello-service",
        "--stage-name",
        "Approve",
        "--action-name",
        "ReleaseGate",
        "--result",
        "summary=again,status=Approved",
        "--token",
        "00000000-0000-4000-8000-000000000000",
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("(InvalidApprovalTokenException)"), "{stderr}");
    let (code, _, stderr) = server.aws(&[
        "retry-stage-execution",
        "--pipeline-name",
        "hello-service",
        "--stage-name",
        "Build",
        "--pipeline-execution-id",
        &execution_id,
        "--retry-mode",
        "FAILED_ACTIONS",
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("(StageNotRetryableException)"), "{stderr}");
    assert_eq!(server.aws_json(&["list-webhooks"])["webhooks"], serde_json::json!([]));
    let rule_types = server.aws_json(&["list-rule-types"])["ruleTypes"].clone();
    assert!(
        rule_types.as_array().is_some_and(|types| types.iter().any(|t| t["id"]["provider"] == "VariableCheck")),
        "{rule_types}"
    );

    let deleted = server.aws(&["delete-pipeline", "--name", "hello-service"]);
    assert_eq!(deleted.0, 0, "{}", deleted.2);
    assert_eq!(server.aws_json(&["list-pipelines"])["pipelines"], serde_json::json!([]));
}

#[test]
fn a_lambda_job_worker_under_cargo_lambda_watch_completes_its_jobs() {
    let watch_port = pipewright_aws::testing::watch::free_port();
    let server = Server::start_with(&["--lambda-endpoint", &format!("http://127.0.0.1:{watch_port}")]);
    // The function reports to this server and reads and writes artifacts through it.
    let environment: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL_CODEPIPELINE", server.endpoint.as_str()),
        ("AWS_ENDPOINT_URL_S3", server.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDJOBWORKER"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let watch = pipewright_aws::testing::watch::Watch::start(watch_port, &environment).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.boto3("lambda_job_worker")));
    if let Err(failure) = result {
        eprintln!("cargo lambda watch:\n{}", watch.log_tail());
        std::panic::resume_unwind(failure);
    }
}

/// `pipewright --endpoint URL …`, signing with `secret`.
fn remote_cli(server: &Server, secret: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipewright"));
    command
        .args(["--endpoint", &server.endpoint])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "AKIDPIPEWRIGHTCLI")
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env_remove("PIPEWRIGHT_STATE_DIR")
        .current_dir(repository())
        .stdin(Stdio::null());
    command
}

#[test]
fn the_pipewright_cli_drives_a_server_with_endpoint() {
    let server = Server::start_with(&["--access-key", "AKIDPIPEWRIGHTCLI", "--secret-key", "cli-secret"]);
    let deploy_dir = server.dir.path().join("deployed-by-cli");
    let run = remote_cli(
        &server,
        "cli-secret",
        &["run", "infra/pipelines/hello-service-v2.json", "--var", &format!("DeployDir={}", deploy_dir.display())],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // From another process, as a person would: wait for the approval, then approve it.
    wait_for("the approval", || {
        let output = remote_cli(&server, "cli-secret", &["status", "hello-service", "--json"]).output().ok()?;
        let state: Value = serde_json::from_slice(&output.stdout).ok()?;
        let gate = state["stageStates"].as_array()?.iter().find(|s| s["stageName"] == "Approve")?.clone();
        (gate["actionStates"][0]["latestExecution"]["status"] == "InProgress").then_some(())
    });
    let approved =
        remote_cli(&server, "cli-secret", &["approve", "hello-service", "Approve", "ReleaseGate", "--summary", "LGTM"])
            .output()
            .unwrap();
    assert!(approved.status.success(), "{}", String::from_utf8_lossy(&approved.stderr));
    let finished = run.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&finished.stdout);
    assert_eq!(finished.status.code(), Some(0), "{shown}{}", String::from_utf8_lossy(&finished.stderr));
    assert!(shown.contains("CreatePipeline hello-service: version 1"), "{shown}");
    assert!(shown.contains("Approve/ReleaseGate SUCCEEDED  LGTM"), "{shown}");
    assert!(shown.contains("Succeeded"), "{shown}");
    assert!(deploy_dir.is_dir());

    let history = remote_cli(&server, "cli-secret", &["history", "hello-service"]).output().unwrap();
    assert!(String::from_utf8_lossy(&history.stdout).contains("Succeeded StartPipelineExecution"));
    let disabled =
        remote_cli(&server, "cli-secret", &["transitions", "disable", "hello-service", "Deploy", "--reason", "Freeze"])
            .output()
            .unwrap();
    assert!(disabled.status.success(), "{}", String::from_utf8_lossy(&disabled.stderr));
    let status = remote_cli(&server, "cli-secret", &["status", "hello-service"]).output().unwrap();
    assert!(String::from_utf8_lossy(&status.stdout).contains("[transition disabled: Freeze]"));

    // Errors: exit 2 for what does not exist or is missing, 1 for a refused signature.
    let missing = remote_cli(&server, "cli-secret", &["status", "nope"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("PipelineNotFoundException"));
    let stop = remote_cli(&server, "cli-secret", &["stop", "00000000-0000-4000-8000-000000000000"]).output().unwrap();
    assert_eq!(stop.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&stop.stderr).contains("--pipeline"));
    let forged = remote_cli(&server, "not-the-secret", &["status", "hello-service"]).output().unwrap();
    assert_eq!(forged.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&forged.stderr).contains("InvalidSignatureException"));
    let bad_url =
        remote_cli(&server, "cli-secret", &["--endpoint", "ftp://x", "status", "hello-service"]).output().unwrap();
    assert_eq!(bad_url.status.code(), Some(2));
}

/// The round trip of an imported pipeline: `pipewright export` of a template, then
/// `aws codepipeline create-pipeline --cli-input-json` against `pipewright serve`, then
/// `get-pipeline`: the same declaration comes back.
#[test]
fn exported_templates_round_trip_through_create_and_get_pipeline() {
    let server = Server::start();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/templates");
    let cases: [(&str, &[&str]); 5] = [
        ("codebuild-pipeline.yaml", &["--parameter", "Environment=production", "--parameter", "GitHubOwner=acme"]),
        ("sam-pipeline.yaml", &["--parameter", "FullRepositoryId=acme/app", "--parameter", "MainGitBranch=main"]),
        ("cdk-pipelines/cdk.out", &[]),
        ("commands-pipeline.yaml", &["--parameter", "Greeting=hi"]),
        ("terraform-show.json", &[]),
    ];
    for (file, extra) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_pipewright"))
            .arg("export")
            .arg(fixtures.join(file))
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "export {file}: {}", String::from_utf8_lossy(&output.stderr));
        let exported: Value = serde_json::from_slice(&output.stdout).unwrap();
        let input = server.dir.path().join("input.json");
        std::fs::write(&input, &output.stdout).unwrap();
        let created = server.aws_json(&["create-pipeline", "--cli-input-json", &format!("file://{}", input.display())]);
        let name = exported["pipeline"]["name"].as_str().unwrap();
        assert_eq!(created["pipeline"]["name"], name, "{file}");
        if exported.get("tags").is_some() {
            assert_eq!(created["tags"], exported["tags"], "{file}");
        }
        let mut fetched = server.aws_json(&["get-pipeline", "--name", name]);
        assert_eq!(fetched["pipeline"]["version"], 1, "{file}");
        fetched["pipeline"].as_object_mut().unwrap().remove("version");
        assert!(contains(&fetched["pipeline"], &exported["pipeline"]), "{file}: {fetched} holds {exported}");
    }
}

/// `pipewright --endpoint … run TEMPLATE`: CreatePipeline with the template's tags, its
/// disabled transitions, then an execution.
#[test]
fn endpoint_run_creates_a_template_pipeline_with_its_tags_and_transitions() {
    let server = Server::start();
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/templates/codebuild-pipeline.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_pipewright"))
        .args(["--endpoint", &server.endpoint, "run"])
        .arg(&template)
        .args(["--parameter", "DeployBucket=acme-deploy"])
        .env("AWS_ACCESS_KEY_ID", "AKIDPIPEWRIGHTCLI")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("CreatePipeline orders-service-staging: version 1"), "{text}");
    assert!(text.contains("DisableStageTransition orders-service-staging Deploy"), "{text}");
    let state = server.aws_json(&["get-pipeline-state", "--name", "orders-service-staging"]);
    let deploy = state["stageStates"].as_array().unwrap().iter().find(|s| s["stageName"] == "Deploy").unwrap().clone();
    assert_eq!(deploy["inboundTransitionState"]["enabled"], false, "{deploy}");
    assert_eq!(
        deploy["inboundTransitionState"]["disabledReason"],
        "Deploys are held until the release manager opens them"
    );
    let source = &state["stageStates"][0]["actionStates"][0]["latestExecution"]["status"];
    assert_eq!(source, "Succeeded", "{state}");
}
