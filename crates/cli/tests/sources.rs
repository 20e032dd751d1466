//! Sources and webhooks on this machine, through the real binary: a `file://` repository
//! cloned at a tag, `webhook replay` naming the triggers that match, and `serve
//! --webhook-secret` taking signed deliveries (docs/sources.md).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use pipewright_core::webhooks::{GitHost, signature};

const WAIT: Duration = Duration::from_secs(60);

fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.email=t@example.test", "-c", "user.name=t"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A repository: `main` at v1 (tagged v1) then v2, and a branch `feature` at v3.
struct Repo {
    path: PathBuf,
    v1: String,
    v2: String,
    v3: String,
}

fn repository(dir: &Path) -> Repo {
    let path = dir.join("app");
    std::fs::create_dir_all(&path).unwrap();
    git(&path, &["init", "-q", "-b", "main"]);
    let commit = |content: &str, message: &str| {
        std::fs::write(path.join("app.txt"), content).unwrap();
        git(&path, &["add", "."]);
        git(&path, &["commit", "-qm", message]);
        git(&path, &["rev-parse", "HEAD"])
    };
    let v1 = commit("v1", "first");
    git(&path, &["tag", "-a", "v1", "-m", "release 1"]);
    let v2 = commit("v2", "second");
    git(&path, &["checkout", "-q", "-b", "feature"]);
    let v3 = commit("v3", "feature work");
    git(&path, &["checkout", "-q", "main"]);
    Repo { path, v1, v2, v3 }
}

impl Repo {
    fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }
}

fn connection_pipeline(name: &str, repository: &str, triggers: bool) -> Value {
    let mut pipeline = json!({
        "name": name, "roleArn": "arn:aws:iam::111122223333:role/pipewright", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": "artifacts"},
        "stages": [
            {"name": "Source", "actions": [{"name": "App", "namespace": "Src",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                "configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1:111122223333:connection/local",
                                  "FullRepositoryId": repository, "BranchName": "main"},
                "outputArtifacts": [{"name": "Code"}]}]},
            {"name": "Build", "actions": [{"name": "Show",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["cat app.txt", "echo built #{Src.CommitId} of #{Src.BranchName}"],
                "inputArtifacts": [{"name": "Code"}]}]}
        ]
    });
    if triggers {
        pipeline["triggers"] = json!([{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "App",
            "push": [{"branches": {"includes": ["main"]}, "filePaths": {"excludes": ["docs/**"]}},
                     {"tags": {"includes": ["v*"]}}],
            "pullRequest": [{"events": ["OPEN", "UPDATED"], "branches": {"includes": ["main"]}}]}}]);
    }
    pipeline
}

fn pipewright(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipewright"));
    command.current_dir(dir).arg("--state-dir").arg(dir.join("state")).env("PIPEWRIGHT_PLAIN", "1");
    command
}

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

fn push(repository: &str, reference: &str, commit: &str, files: &[&str]) -> Value {
    json!({"ref": reference, "after": commit, "deleted": false,
           "repository": {"full_name": repository},
           "head_commit": {"id": commit, "message": "pushed", "timestamp": "2026-01-01T00:00:00Z"},
           "commits": [{"id": commit, "added": [], "modified": files, "removed": []}]})
}

fn pull_request(repository: &str, action: &str, number: u64, head: &str) -> Value {
    json!({"action": action, "number": number, "repository": {"full_name": repository},
           "pull_request": {"title": "Feature work", "head": {"ref": "feature", "sha": head}, "base": {"ref": "main"}}})
}

#[test]
fn a_file_url_source_is_cloned_at_a_tag() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path());
    let mut pipeline = connection_pipeline("tagged", "octo/app", false);
    pipeline["stages"][1]["actions"][0]["commands"] = json!(["test \"$(cat app.txt)\" = v1", "test ! -e .git"]);
    let file = write(temp.path(), "tagged.json", &pipeline);
    let output = pipewright(temp.path())
        .arg("run")
        .arg(&file)
        .arg("--source")
        .arg(format!("App={}#v1", repo.url()))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains(&repo.v1[..8]), "the tag's commit is the revision: {text}");
    assert!(!text.contains(&repo.v2[..8]), "{text}");

    // Without #ref, the action's branch (main) is fetched: v2.
    pipeline["stages"][1]["actions"][0]["commands"] = json!(["test \"$(cat app.txt)\" = v2"]);
    let file = write(temp.path(), "tagged.json", &pipeline);
    let output = pipewright(temp.path())
        .arg("run")
        .arg(&file)
        .arg("--source")
        .arg(format!("App={}", repo.url()))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    // A ref the repository does not have fails the source, naming it.
    let output = pipewright(temp.path())
        .arg("run")
        .arg(&file)
        .arg("--source")
        .arg(format!("App={}#nope", repo.url()))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("nope"), "{}", String::from_utf8_lossy(&output.stdout));
    // An image reference is a path like any other for a source that is not ECR's: bad usage.
    let output = pipewright(temp.path()).arg("run").arg(&file).args(["--source", "App=web:v2"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such file or directory"));
}

/// An ECR source runs without an `imageDetail.json` written by hand: the image its
/// configuration names, or the one `--source` names, pinned to a digest when given.
#[test]
fn an_ecr_source_writes_the_image_detail_of_the_image_it_names() {
    let temp = tempfile::tempdir().unwrap();
    let pipeline = json!({
        "name": "images", "roleArn": "arn:aws:iam::111122223333:role/pipewright",
        "artifactStore": {"type": "S3", "location": "local-artifacts"},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Image", "namespace": "Img",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "ECR", "version": "1"},
                "configuration": {"RepositoryName": "web", "ImageTag": "release"},
                "outputArtifacts": [{"name": "ImageArtifact"}]}]},
            {"name": "Check", "actions": [{
                "name": "Check",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": [
                    "grep -q '\"ImageURI\": \"#{Img.ImageURI}\"' imageDetail.json",
                    "echo uri=#{Img.ImageURI} registry=#{Img.RegistryId} tag=#{Img.ImageTag}"],
                "inputArtifacts": [{"name": "ImageArtifact"}]}]}
        ]
    });
    let file = write(temp.path(), "images.json", &pipeline);
    let run = |source: Option<&str>| {
        let mut command = pipewright(temp.path());
        command.arg("run").arg(&file);
        if let Some(source) = source {
            command.arg("--source").arg(format!("Image={source}"));
        }
        let output = command.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(0), "{text}");
        text
    };
    let text = run(None);
    assert!(text.contains("uri=localhost/web:release registry=000000000000 tag=release"), "{text}");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let text = run(Some(&format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@{digest}")));
    assert!(
        text.contains(&format!(
            "uri=123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@{digest} registry=123456789012 tag=latest"
        )),
        "{text}"
    );
    // A path that does not exist and names no image is still an error naming it.
    let output =
        pipewright(temp.path()).arg("run").arg(&file).args(["--source", "Image=./no/such/dir"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "bad usage");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such file or directory"));
}

#[test]
fn webhook_replay_names_the_triggers_that_match_and_starts_them_once() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path());
    for (name, repository) in [("web", "octo/app"), ("other", "octo/other")] {
        let file = write(temp.path(), &format!("{name}.json"), &connection_pipeline(name, repository, true));
        let status = pipewright(temp.path())
            .arg("run")
            .arg(&file)
            .arg("--source")
            .arg(format!("App={}", repo.url()))
            .output()
            .unwrap()
            .status;
        assert!(status.success(), "store {name}");
    }
    let replay = |file: &Path, event: &str, extra: &[&str]| {
        let output = pipewright(temp.path())
            .args(["webhook", "replay"])
            .arg(file)
            .args(["--event", event])
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };

    let main = write(temp.path(), "main.json", &push("octo/app", "refs/heads/main", &repo.v2, &["app.txt"]));
    let dry = replay(&main, "push", &["--dry-run"]);
    assert!(dry.contains("web: would start: App: starts by push[0] (branch main)"), "{dry}");
    assert!(dry.contains("other: does not start: no connection source action reads this repository"), "{dry}");

    let feature = write(temp.path(), "feature.json", &push("octo/app", "refs/heads/feature", &repo.v3, &["app.txt"]));
    let dry = replay(&feature, "push", &["--dry-run"]);
    assert!(dry.contains("web: does not start: App: push[0]: feature matches none of the includes [main]"), "{dry}");
    let docs = write(temp.path(), "docs.json", &push("octo/app", "refs/heads/main", &repo.v2, &["docs/guide.md"]));
    assert!(replay(&docs, "push", &["--dry-run"]).contains("no changed file passes the filePaths filter"));
    let tag = write(temp.path(), "tag.json", &push("octo/app", "refs/tags/v1", &repo.v1, &[]));
    assert!(replay(&tag, "push", &["--dry-run"]).contains("web: would start: App: starts by push[1] (tag v1)"));
    let pr = write(temp.path(), "pr.json", &pull_request("octo/app", "opened", 5, &repo.v3));
    let dry = replay(&pr, "pull_request", &["--dry-run"]);
    assert!(dry.contains("pull request #5 OPEN (feature -> main"), "{dry}");
    assert!(dry.contains("web: would start: App: starts by pullRequest[0] (OPEN)"), "{dry}");

    let source = format!("App={}", repo.url());
    let started = replay(&main, "push", &["--delivery-id", "d-1", "--source", &source]);
    assert!(started.contains("web: started execution"), "{started}");
    let again = replay(&main, "push", &["--delivery-id", "d-1", "--source", &source]);
    assert!(again.contains("web: already started by this delivery"), "{again}");

    let deadline = Instant::now() + WAIT;
    loop {
        let output = pipewright(temp.path()).args(["history", "web", "--json"]).output().unwrap();
        let history: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        let summaries = history["pipelineExecutionSummaries"].as_array().cloned().unwrap_or_default();
        let webhook: Vec<&Value> = summaries.iter().filter(|s| s["trigger"]["triggerType"] == "WebhookV2").collect();
        assert!(webhook.len() <= 1, "one execution per delivery: {history}");
        if webhook.first().is_some_and(|s| s["status"] == "Succeeded") {
            assert_eq!(webhook[0]["sourceRevisions"][0]["revisionId"], repo.v2.as_str(), "{history}");
            break;
        }
        assert!(Instant::now() < deadline, "the replayed execution did not succeed: {history}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `pipewright serve --webhook-secret` on a free port.
struct Server {
    /// Stops the server when the test ends.
    _serve: common::Serve,
    address: String,
}

impl Server {
    fn start(dir: &Path, repo: &Repo) -> Server {
        let app = format!("App={}", repo.url());
        let legacy = format!("Legacy={}", repo.url());
        let state = dir.join("state");
        let serve =
            common::Serve::start(dir, &state, &["--webhook-secret", "s3cret", "--source", &app, "--source", &legacy]);
        let address = serve.endpoint.trim_start_matches("http://").to_string();
        Server { _serve: serve, address }
    }

    /// A POST over plain HTTP: (status, JSON body).
    fn post(&self, path: &str, headers: &[(String, String)], body: &[u8]) -> (u16, Value) {
        let mut stream = std::net::TcpStream::connect(&self.address).unwrap();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.address,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let text = String::from_utf8_lossy(&response);
        let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn api(&self, operation: &str, input: Value) -> Value {
        let headers = vec![
            ("X-Amz-Target".to_string(), format!("CodePipeline_20150709.{operation}")),
            ("Content-Type".to_string(), "application/x-amz-json-1.1".to_string()),
        ];
        let (status, body) = self.post("/", &headers, input.to_string().as_bytes());
        assert_eq!(status, 200, "{operation}: {body}");
        body
    }

    fn deliver(&self, event: &str, delivery: &str, body: &Value, secret: &[u8]) -> (u16, Value) {
        let bytes = body.to_string().into_bytes();
        let headers = vec![
            ("X-GitHub-Event".to_string(), event.to_string()),
            ("X-GitHub-Delivery".to_string(), delivery.to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
            signature::sign(GitHost::GitHub, secret, &bytes),
        ];
        self.post("/webhooks/github", &headers, &bytes)
    }

    fn executions(&self, pipeline: &str, trigger: &str) -> Vec<Value> {
        let listed = self.api("ListPipelineExecutions", json!({"pipelineName": pipeline}));
        listed["pipelineExecutionSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["trigger"]["triggerType"] == trigger)
            .cloned()
            .collect()
    }

    /// Waits for the execution to succeed; the Source action's output variables.
    fn source_variables(&self, pipeline: &str, id: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let execution =
                self.api("GetPipelineExecution", json!({"pipelineName": pipeline, "pipelineExecutionId": id}));
            let status = execution["pipelineExecution"]["status"].clone();
            if status == "Succeeded" {
                break;
            }
            assert!(status != "Failed" && Instant::now() < deadline, "execution {id}: {execution}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let actions =
            self.api("ListActionExecutions", json!({"pipelineName": pipeline, "filter": {"pipelineExecutionId": id}}));
        let source =
            actions["actionExecutionDetails"].as_array().unwrap().iter().find(|a| a["stageName"] == "Source").cloned();
        source.unwrap()["output"]["outputVariables"].clone()
    }
}

#[test]
fn serve_takes_signed_deliveries_and_refuses_bad_signatures() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path());
    let server = Server::start(temp.path(), &repo);
    server.api("CreatePipeline", json!({"pipeline": connection_pipeline("web", "octo/app", true)}));

    let main = push("octo/app", "refs/heads/main", &repo.v2, &["app.txt"]);
    let (status, body) = server.deliver("push", "d-bad", &main, b"not-the-secret");
    assert_eq!(status, 401, "{body}");
    assert!(body["message"].as_str().unwrap().contains("X-Hub-Signature-256"), "{body}");
    let (status, _) =
        server.post("/webhooks/github", &[("X-GitHub-Event".into(), "push".into())], main.to_string().as_bytes());
    assert_eq!(status, 401, "an unsigned delivery is refused");
    assert!(server.executions("web", "WebhookV2").is_empty(), "a refused delivery starts nothing");

    let (status, body) = server.deliver("push", "d-1", &main, b"s3cret");
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["started"][0]["new"], true, "{body}");
    let id = body["started"][0]["executionId"].as_str().unwrap().to_string();
    let (_, again) = server.deliver("push", "d-1", &main, b"s3cret");
    assert_eq!(
        again["started"][0],
        json!({"pipeline": "web", "executionId": id, "new": false}),
        "a redelivery starts nothing new"
    );
    // The delivery-id header is not signed: a captured delivery sent again under a new id is
    // the same delivery, and cannot run an old commit again.
    let (_, replayed) = server.deliver("push", "d-replayed", &main, b"s3cret");
    assert_eq!(replayed["started"][0]["new"], false, "{replayed}");
    assert_eq!(replayed["started"][0]["executionId"], id.as_str(), "{replayed}");
    let variables = server.source_variables("web", &id);
    assert_eq!(variables["CommitId"], repo.v2.as_str());
    assert_eq!(variables["BranchName"], "main");
    assert_eq!(variables["FullRepositoryName"], "octo/app");

    let (_, other) =
        server.deliver("push", "d-2", &push("octo/app", "refs/heads/feature", &repo.v3, &["app.txt"]), b"s3cret");
    assert_eq!(other["started"], json!([]), "{other}");
    assert!(
        other["events"][0]["pipelines"][0]["verdict"].as_str().unwrap().contains("feature matches none"),
        "{other}"
    );
    let (_, docs) =
        server.deliver("push", "d-3", &push("octo/app", "refs/heads/main", &repo.v2, &["docs/a.md"]), b"s3cret");
    assert_eq!(docs["started"], json!([]), "{docs}");
    let (status, ping) = server.deliver("ping", "d-4", &json!({"zen": "Keep it simple."}), b"s3cret");
    assert_eq!(status, 202);
    assert!(ping["ignored"].as_str().unwrap().contains("ping"), "{ping}");

    // A pull request opened, then updated: two executions carrying its variables.
    let (_, opened) =
        server.deliver("pull_request", "d-5", &pull_request("octo/app", "opened", 9, &repo.v3), b"s3cret");
    let (_, updated) =
        server.deliver("pull_request", "d-6", &pull_request("octo/app", "synchronize", 9, &repo.v3), b"s3cret");
    let (_, closed) =
        server.deliver("pull_request", "d-7", &pull_request("octo/app", "closed", 9, &repo.v3), b"s3cret");
    assert_eq!(closed["started"], json!([]), "CLOSED is not among the trigger's events: {closed}");
    let ids: Vec<String> =
        [&opened, &updated].iter().map(|b| b["started"][0]["executionId"].as_str().unwrap().to_string()).collect();
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        let variables = server.source_variables("web", id);
        assert_eq!(variables["PullRequestId"], "9");
        assert_eq!(variables["PullRequestTitle"], "Feature work");
        assert_eq!(variables["SourceBranchName"], "feature");
        assert_eq!(variables["DestinationBranchName"], "main");
        assert_eq!(variables["CommitId"], repo.v3.as_str());
    }
    assert_eq!(server.executions("web", "WebhookV2").len(), 3);
}

#[test]
fn a_putwebhook_webhook_starts_its_pipeline_only_with_a_valid_signature() {
    let temp = tempfile::tempdir().unwrap();
    let repo = repository(temp.path());
    let server = Server::start(temp.path(), &repo);
    let legacy = json!({
        "name": "legacy", "roleArn": "arn:aws:iam::111122223333:role/pipewright",
        "artifactStore": {"type": "S3", "location": "artifacts"},
        "stages": [
            {"name": "Source", "actions": [{"name": "Legacy",
                "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
                "configuration": {"Owner": "octo", "Repo": "app", "Branch": "main", "OAuthToken": "unused", "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": "Code"}]}]},
            {"name": "Gate", "actions": [{"name": "Approve",
                "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]}
        ]
    });
    server.api("CreatePipeline", json!({"pipeline": legacy}));
    let put = server.api(
        "PutWebhook",
        json!({"webhook": {
        "name": "legacy-push", "targetPipeline": "legacy", "targetAction": "Legacy",
        "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}],
        "authentication": "GITHUB_HMAC", "authenticationConfiguration": {"SecretToken": "hook-secret"}}}),
    );
    let url = put["webhook"]["url"].as_str().unwrap().to_string();
    let path = url.strip_prefix(&format!("http://{}", server.address)).unwrap_or_else(|| panic!("{url}")).to_string();
    assert!(path.starts_with("/webhooks/codepipeline/legacy-push?t="), "{path}");

    let body = push("octo/app", "refs/heads/main", &repo.v2, &["app.txt"]).to_string().into_bytes();
    let signed = |secret: &[u8]| {
        vec![
            ("X-GitHub-Event".to_string(), "push".to_string()),
            ("X-GitHub-Delivery".to_string(), "g-1".to_string()),
            signature::sign(GitHost::GitHub, secret, &body),
        ]
    };
    let (status, refused) = server.post(&path, &signed(b"wrong"), &body);
    assert_eq!(status, 401, "{refused}");
    assert!(server.executions("legacy", "Webhook").is_empty(), "a wrong signature starts nothing");
    let (status, _) = server.post("/webhooks/codepipeline/legacy-push?t=guess", &signed(b"hook-secret"), &body);
    assert_eq!(status, 404, "a URL without the webhook's token reaches nothing");

    let (status, started) = server.post(&path, &signed(b"hook-secret"), &body);
    assert_eq!(status, 202, "{started}");
    let executions = server.executions("legacy", "Webhook");
    assert_eq!(executions.len(), 1);
    assert_eq!(
        executions[0]["trigger"]["triggerDetail"],
        "arn:aws:codepipeline:local:000000000000:webhook:legacy-push"
    );
    assert_eq!(executions[0]["pipelineExecutionId"], started["started"][0]["executionId"]);
    // The signed body, sent again under another delivery id, is the same delivery.
    let mut replayed = signed(b"hook-secret");
    replayed[1].1 = "g-replayed".to_string();
    let (status, again) = server.post(&path, &replayed, &body);
    assert_eq!(status, 202, "{again}");
    assert_eq!(server.executions("legacy", "Webhook").len(), 1, "a replay starts nothing: {again}");

    // The filter: a push to another branch starts nothing.
    let other = push("octo/app", "refs/heads/feature", &repo.v3, &[]).to_string().into_bytes();
    let headers = vec![
        ("X-GitHub-Event".to_string(), "push".to_string()),
        signature::sign(GitHost::GitHub, b"hook-secret", &other),
    ];
    let (status, filtered) = server.post(&path, &headers, &other);
    assert_eq!(status, 202);
    assert!(filtered["message"].as_str().unwrap().contains("refs/heads/feature"), "{filtered}");
    assert_eq!(server.executions("legacy", "Webhook").len(), 1);
}
