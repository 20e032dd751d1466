//! Repository webhooks on AWS: GitHub (Enterprise Server) and Bitbucket deliveries to the api
//! function's handler, behind a loopback server standing in for its Function URL, verified
//! with the stack's webhook secret in moto's Secrets Manager and planned against the
//! pipelines of the store; each match starts with trigger `WebhookV2` and the pushed commit,
//! which the source action then fetches from the fake host (docs/sources.md).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use pipewright_api::HttpRequest;
use pipewright_api::protocol::header_pairs;
use pipewright_aws::handlers::api;
use pipewright_aws::settings::Services;
use pipewright_aws::webhook_secret::WebhookSecret;
use pipewright_core::engine::{ExecutionStatus, TriggerType};
use pipewright_core::ports::StateStore;
use pipewright_core::webhooks::{GitHost, signature};

use crate::common::{Stack, stack};
use crate::fake_hosts::{FakeHost, Served, TOKEN, serve};

const SECRET: &[u8] = b"webhook-secret-of-the-team";
const OLD: &str = "1111111111111111111111111111111111111111";
const NEW: &str = "2222222222222222222222222222222222222222";
const PR_HEAD: &str = "3333333333333333333333333333333333333333";

struct Api {
    services: Arc<Services>,
    webhook_secret: WebhookSecret,
}

/// As the function's main routes a request: a webhook delivery, or (here) nothing else.
async fn forward(State(api): State<Arc<Api>>, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let body = to_bytes(body, 30 * 1024 * 1024).await.unwrap_or_default();
    let headers = header_pairs(&headers);
    let request = HttpRequest::from_parts(&method, &uri, &headers, &body);
    match api::webhook(&api.services, &api.webhook_secret, &request, None).await {
        Some((status, answer)) => (StatusCode::from_u16(status).unwrap(), answer.to_string()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The api function's handler on loopback, reading the webhook secret `secret_name`.
async fn serve_api(stack: &Stack, secret_name: &str) -> String {
    let webhook_secret = WebhookSecret::new(stack.services.secrets.clone(), Some(secret_name.to_string()));
    let api = Arc::new(Api { services: stack.services.clone(), webhook_secret });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(forward).with_state(api);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

async fn post(url: &str, headers: &[(String, String)], body: &[u8]) -> (u16, Value) {
    let mut request = pipewright_http::Request::new("POST", url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = pipewright_http::send(request).await.unwrap();
    (response.status, serde_json::from_slice(&response.body).unwrap_or(Value::Null))
}

/// A GitHub delivery of `event`, signed with `secret`.
async fn github(api: &str, event: &str, delivery: &str, body: &Value, secret: &[u8]) -> (u16, Value) {
    let bytes = body.to_string().into_bytes();
    let headers = vec![
        ("X-GitHub-Event".to_string(), event.to_string()),
        ("X-GitHub-Delivery".to_string(), delivery.to_string()),
        ("Content-Type".to_string(), "application/json".to_string()),
        signature::sign(GitHost::GitHub, secret, &bytes),
    ];
    post(&format!("{api}/webhooks/github"), &headers, &bytes).await
}

fn push(reference: &str, commit: &str, files: &[&str]) -> Value {
    json!({"ref": reference, "after": commit, "deleted": false, "repository": {"full_name": "octo/site"},
        "head_commit": {"id": commit, "message": "change", "timestamp": "2026-11-30T10:00:00Z"},
        "commits": [{"id": commit, "added": [], "removed": [], "modified": files}]})
}

fn pull_request(action: &str, number: u64, head: &str) -> Value {
    json!({"action": action, "number": number, "repository": {"full_name": "octo/site"},
        "pull_request": {"number": number, "title": "Faster pages", "head": {"ref": "feature/x", "sha": head},
                         "base": {"ref": "main"}}})
}

fn files(text: &str) -> Vec<(String, String)> {
    vec![("index.html".to_string(), text.to_string()), ("css/site.css".to_string(), "body{}".to_string())]
}

/// The fake host with three commits, main at NEW.
fn host() -> FakeHost {
    FakeHost::new(
        BTreeMap::from([
            (OLD.to_string(), ("first".to_string(), files("<h1>old</h1>"))),
            (NEW.to_string(), ("second".to_string(), files("<h1>new</h1>"))),
            (PR_HEAD.to_string(), ("pr".to_string(), files("<h1>pr</h1>"))),
        ]),
        NEW,
    )
}

/// A connection whose secret (in moto) holds `secret`; its ARN.
async fn connection(stack: &Stack, secret: Value) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    aws_sdk_secretsmanager::Client::new(&stack.sdk)
        .create_secret()
        .name(format!("pipewright/connections/{id}"))
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap();
    format!("arn:aws:codeconnections:us-east-1:123456789012:connection/{id}")
}

/// The stack's webhook secret, as the team creates it; its name.
async fn webhook_secret(stack: &Stack) -> String {
    let name = stack.stack.names.webhook_secret();
    aws_sdk_secretsmanager::Client::new(&stack.sdk)
        .create_secret()
        .name(&name)
        .secret_string(String::from_utf8(SECRET.to_vec()).unwrap())
        .send()
        .await
        .unwrap();
    name
}

/// A V2 pipeline reading `repository` through `connection`, deploying its files under
/// `<name>/<commit>/`, with `triggers` (none: its BranchName decides).
fn pipeline(stack: &Stack, name: &str, connection: &str, repository: &str, triggers: Option<Value>) -> Value {
    let mut declaration = json!({
        "name": name, "roleArn": "arn:aws:iam::123456789012:role/pipewright", "pipelineType": "V2",
        "executionMode": "PARALLEL",
        "artifactStore": {"type": "S3", "location": stack.artifact_bucket()},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Checkout", "namespace": "SourceVariables",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
                "configuration": {"ConnectionArn": connection, "FullRepositoryId": repository, "BranchName": "main"},
                "outputArtifacts": [{"name": "Code"}]}]},
            {"name": "Deploy", "actions": [{
                "name": "Publish",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": stack.deploy_bucket, "Extract": "true",
                                  "ObjectKey": format!("{name}/#{{SourceVariables.CommitId}}")},
                "inputArtifacts": [{"name": "Code"}]}]},
        ],
    });
    if let Some(triggers) = triggers {
        declaration["triggers"] = triggers;
    }
    declaration
}

fn site_triggers() -> Value {
    json!([{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
        "sourceActionName": "Checkout",
        "push": [{"branches": {"includes": ["main"]}, "filePaths": {"excludes": ["docs/**"]}},
                 {"tags": {"includes": ["v*"]}}],
        "pullRequest": [{"events": ["OPEN", "UPDATED"], "branches": {"includes": ["main"]}}]}}])
}

/// A GitHub Enterprise Server connection to the fake host, the webhook secret, the `site`
/// pipeline, and the api function's handler: its URL.
async fn github_site(stack: &Stack, served: &Served) -> String {
    let secret_name = webhook_secret(stack).await;
    let arn = connection(
        stack,
        json!({"providerType": "GitHubEnterpriseServer", "token": TOKEN, "baseUrl": served.github_api}),
    )
    .await;
    stack.put_pipeline(&pipeline(stack, "site", &arn, "octo/site", Some(site_triggers()))).await;
    serve_api(stack, &secret_name).await
}

async fn execution_ids(stack: &Stack, pipeline: &str) -> Vec<String> {
    let page = stack.services.store.list_executions(pipeline, 100, None).await.unwrap();
    page.items.into_iter().map(|e| e.id).collect()
}

fn started(answer: &Value) -> Vec<Value> {
    answer["started"].as_array().cloned().unwrap_or_else(|| panic!("no started list: {answer}"))
}

fn verdict(answer: &Value) -> String {
    answer["events"][0]["pipelines"][0]["verdict"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_to_main_runs_exactly_that_commit_and_a_redelivery_starts_nothing_new() {
    let stack = stack().await;
    let host = host();
    let served = serve(host.clone()).await;
    let api = github_site(&stack, &served).await;

    // A push of the older commit to main: that commit, not main's head, is deployed.
    let (status, answer) = github(&api, "push", "d-1", &push("refs/heads/main", OLD, &["index.html"]), SECRET).await;
    assert_eq!(status, 202, "{answer}");
    let first = started(&answer);
    assert_eq!(first.len(), 1, "{answer}");
    assert_eq!((first[0]["pipeline"].as_str(), first[0]["new"].as_bool()), (Some("site"), Some(true)));
    let id = first[0]["executionId"].as_str().unwrap().to_string();
    assert_eq!(answer["events"][0]["pipelines"][0]["executionId"], json!(id), "{answer}");
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);
    let execution = stack.execution(&id).await;
    assert_eq!(execution.trigger.trigger_type, TriggerType::WebhookV2);
    assert_eq!(execution.namespaces["SourceVariables"]["CommitId"], OLD);
    assert_eq!(execution.namespaces["SourceVariables"]["BranchName"], "main");
    let objects = stack.objects(&stack.deploy_bucket).await;
    assert_eq!(objects.get(&format!("site/{OLD}/index.html")).map(String::as_str), Some("<h1>old</h1>"), "{objects:?}");
    assert_eq!(objects.get(&format!("site/{OLD}/css/site.css")).map(String::as_str), Some("body{}"));
    assert!(host.saw(&format!("zipball octo/site {OLD}")));

    // The host redelivers it: the same execution, not a new one.
    let (status, again) = github(&api, "push", "d-1", &push("refs/heads/main", OLD, &["index.html"]), SECRET).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(started(&again), vec![json!({"pipeline": "site", "executionId": id, "new": false})]);

    // Two deliveries of one push at once (a redelivery racing the first): one execution.
    let body = push("refs/heads/main", NEW, &["index.html"]);
    let (one, two) =
        tokio::join!(github(&api, "push", "d-2", &body, SECRET), github(&api, "push", "d-2", &body, SECRET));
    assert_eq!((one.0, two.0), (202, 202), "{} {}", one.1, two.1);
    let (one, two) = (&started(&one.1)[0], &started(&two.1)[0]);
    assert_eq!(one["executionId"], two["executionId"]);
    let news = [one["new"].as_bool().unwrap(), two["new"].as_bool().unwrap()];
    assert_eq!(news.iter().filter(|n| **n).count(), 1, "exactly one of them started it: {one} {two}");
    let ids = execution_ids(&stack, "site").await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    let raced = one["executionId"].as_str().unwrap();
    assert_eq!(stack.run_to_end(raced).await, ExecutionStatus::Succeeded);
    let objects = stack.objects(&stack.deploy_bucket).await;
    assert_eq!(objects.get(&format!("site/{NEW}/index.html")).map(String::as_str), Some("<h1>new</h1>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn triggers_filter_deliveries_and_pull_requests_carry_their_variables() {
    let stack = stack().await;
    let host = host();
    let served = serve(host.clone()).await;
    let api = github_site(&stack, &served).await;

    // Refused: a wrong signature, and none at all. Nothing starts.
    let body = push("refs/heads/main", NEW, &["index.html"]);
    let (status, answer) = github(&api, "push", "d-bad", &body, b"not-the-secret").await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("X-Hub-Signature-256"), "{answer}");
    let unsigned = [("X-GitHub-Event".to_string(), "push".to_string())];
    let (status, _) = post(&format!("{api}/webhooks/github"), &unsigned, body.to_string().as_bytes()).await;
    assert_eq!(status, 401);
    assert!(execution_ids(&stack, "site").await.is_empty(), "a refused delivery starts nothing");

    // Another branch, and a push that changes only docs: nothing, with the reason.
    let (status, other) = github(&api, "push", "d-2", &push("refs/heads/feature", NEW, &["index.html"]), SECRET).await;
    assert_eq!((status, started(&other)), (202, vec![]), "{other}");
    assert!(verdict(&other).contains("feature matches none"), "{other}");
    let (_, docs) =
        github(&api, "push", "d-3", &push("refs/heads/main", NEW, &["docs/a.md", "docs/b.md"]), SECRET).await;
    assert_eq!(started(&docs), Vec::<Value>::new(), "{docs}");
    assert!(verdict(&docs).contains("no changed file passes"), "{docs}");
    assert!(execution_ids(&stack, "site").await.is_empty());

    // A tag matches the tag trigger.
    let (_, tag) = github(&api, "push", "d-4", &push("refs/tags/v1.0", NEW, &[]), SECRET).await;
    assert_eq!(started(&tag).len(), 1, "{tag}");
    assert!(verdict(&tag).contains("tag v1.0"), "{tag}");

    // A pull request opened, then updated: two executions carrying its variables; closed: none.
    let mut ids = Vec::new();
    for (delivery, action) in [("d-5", "opened"), ("d-6", "synchronize")] {
        let (status, answer) = github(&api, "pull_request", delivery, &pull_request(action, 7, PR_HEAD), SECRET).await;
        assert_eq!(status, 202, "{answer}");
        let started = started(&answer);
        assert_eq!((started.len(), &started[0]["new"]), (1, &json!(true)), "{answer}");
        ids.push(started[0]["executionId"].as_str().unwrap().to_string());
    }
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert_eq!(stack.run_to_end(id).await, ExecutionStatus::Succeeded);
        let execution = stack.execution(id).await;
        assert_eq!(execution.trigger.trigger_type, TriggerType::WebhookV2);
        let variables = &execution.namespaces["SourceVariables"];
        assert_eq!(variables["PullRequestId"], "7");
        assert_eq!(variables["PullRequestTitle"], "Faster pages");
        assert_eq!(variables["SourceBranchName"], "feature/x");
        assert_eq!(variables["DestinationBranchName"], "main");
        assert_eq!(variables["CommitId"], PR_HEAD);
    }
    let objects = stack.objects(&stack.deploy_bucket).await;
    assert_eq!(objects.get(&format!("site/{PR_HEAD}/index.html")).map(String::as_str), Some("<h1>pr</h1>"));
    let (_, closed) = github(&api, "pull_request", "d-7", &pull_request("closed", 7, PR_HEAD), SECRET).await;
    assert_eq!(started(&closed), Vec::<Value>::new(), "{closed}");
    assert!(verdict(&closed).contains("CLOSED is not one of its events"), "{closed}");
    assert_eq!(execution_ids(&stack, "site").await.len(), 3, "the tag and the two pull request events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bitbucket_and_gitlab_deliveries_are_verified_and_started() {
    let stack = stack().await;
    let host = host();
    let served = serve(host.clone()).await;
    let arn = connection(
        &stack,
        json!({"providerType": "Bitbucket", "token": TOKEN, "baseUrl": served.bitbucket_api,
               "webUrl": served.bitbucket_web}),
    )
    .await;
    // No triggers: a push to the action's BranchName starts it.
    stack.put_pipeline(&pipeline(&stack, "bb-site", &arn, "team/site", None)).await;

    // Before the team creates the secret, deliveries are refused with what to do.
    let secret_name = stack.stack.names.webhook_secret();
    let api = serve_api(&stack, &secret_name).await;
    let body = json!({"repository": {"full_name": "team/site"}, "push": {"changes": [
        {"new": {"type": "branch", "name": "main", "target": {"hash": OLD, "message": "first", "date": "2026-11-30T10:00:00+00:00"}}}
    ]}})
    .to_string()
    .into_bytes();
    let delivery = |secret: &[u8]| {
        vec![
            ("X-Event-Key".to_string(), "repo:push".to_string()),
            ("X-Request-UUID".to_string(), "bb-1".to_string()),
            signature::sign(GitHost::Bitbucket, secret, &body),
        ]
    };
    let url = format!("{api}/webhooks/bitbucket");
    let (status, answer) = post(&url, &delivery(SECRET), &body).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains(&format!("{secret_name} does not exist")), "{answer}");
    assert!(execution_ids(&stack, "bb-site").await.is_empty());

    // Created (the function reads it at the next delivery): a bad signature is refused.
    assert_eq!(webhook_secret(&stack).await, secret_name);
    let (status, answer) = post(&url, &delivery(b"guess"), &body).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("X-Hub-Signature"), "{answer}");
    assert!(execution_ids(&stack, "bb-site").await.is_empty());

    let (status, answer) = post(&url, &delivery(SECRET), &body).await;
    assert_eq!(status, 202, "{answer}");
    let started = started(&answer);
    assert_eq!(started.len(), 1, "{answer}");
    let id = started[0]["executionId"].as_str().unwrap();
    assert_eq!(stack.run_to_end(id).await, ExecutionStatus::Succeeded);
    let variables = &stack.execution(id).await.namespaces["SourceVariables"];
    assert_eq!((variables["CommitId"].as_str(), variables["ProviderType"].as_str()), (OLD, "Bitbucket"));
    let objects = stack.objects(&stack.deploy_bucket).await;
    assert_eq!(objects.get(&format!("bb-site/{OLD}/index.html")).map(String::as_str), Some("<h1>old</h1>"));
    assert!(host.saw(&format!("bitbucket archive team/site {OLD}.zip")));
    let (_, again) = post(&url, &delivery(SECRET), &body).await;
    assert_eq!(again["started"][0]["new"], false, "{again}");
    assert_eq!(execution_ids(&stack, "bb-site").await.len(), 1);

    // GitLab proves a delivery with the secret itself, in X-Gitlab-Token.
    let gitlab = connection(&stack, json!({"providerType": "GitLab", "token": TOKEN})).await;
    stack.put_pipeline(&pipeline(&stack, "gl-app", &gitlab, "group/sub/app", None)).await;
    let body = json!({"object_kind": "push", "ref": "refs/heads/main", "after": NEW, "checkout_sha": NEW,
        "project": {"path_with_namespace": "group/sub/app"}, "total_commits_count": 1,
        "commits": [{"id": NEW, "message": "second", "timestamp": "2026-11-30T10:00:00Z",
                     "added": [], "modified": ["index.html"], "removed": []}]})
    .to_string()
    .into_bytes();
    let delivery = |secret: &[u8]| {
        vec![
            ("X-Gitlab-Event".to_string(), "Push Hook".to_string()),
            ("X-Gitlab-Event-UUID".to_string(), "gl-1".to_string()),
            signature::sign(GitHost::GitLab, secret, &body),
        ]
    };
    let url = format!("{api}/webhooks/gitlab");
    let (status, answer) = post(&url, &delivery(b"guess"), &body).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("X-Gitlab-Token"), "{answer}");
    let (status, answer) = post(&url, &delivery(SECRET), &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["started"].as_array().map(Vec::len), Some(1), "{answer}");
    assert_eq!(answer["started"][0]["pipeline"], "gl-app", "only the pipeline of that repository: {answer}");
    let execution = stack.execution(answer["started"][0]["executionId"].as_str().unwrap()).await;
    assert_eq!(execution.trigger.trigger_type, TriggerType::WebhookV2);
    let revision = &execution.source_revision_overrides[0];
    assert_eq!((revision.action_name.as_str(), revision.revision_value.as_str()), ("Checkout", NEW));
    assert_eq!(revision.variables["ProviderType"], "GitLab");

    // The warm function keeps the secret it read (for a minute): a changed secret is not read
    // at every delivery.
    aws_sdk_secretsmanager::Client::new(&stack.sdk)
        .put_secret_value()
        .secret_id(&secret_name)
        .secret_string("rotated")
        .send()
        .await
        .unwrap();
    let (status, kept) = post(&url, &delivery(SECRET), &body).await;
    assert_eq!(status, 202, "{kept}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_clone_source_hands_on_a_clone_reference_to_the_pushed_commit() {
    let stack = stack().await;
    let host = host();
    let served = serve(host.clone()).await;
    let secret_name = webhook_secret(&stack).await;
    let arn = connection(
        &stack,
        json!({"providerType": "GitHubEnterpriseServer", "token": TOKEN, "baseUrl": served.github_api}),
    )
    .await;
    let mut declaration = pipeline(&stack, "full", &arn, "octo/site", None);
    declaration["stages"][0]["actions"][0]["configuration"]["OutputArtifactFormat"] = json!("CODEBUILD_CLONE_REF");
    stack.put_pipeline(&declaration).await;
    let api = serve_api(&stack, &secret_name).await;

    let (status, answer) = github(&api, "push", "d-1", &push("refs/heads/main", OLD, &["index.html"]), SECRET).await;
    assert_eq!(status, 202, "{answer}");
    let id = started(&answer)[0]["executionId"].as_str().unwrap().to_string();
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);
    // The artifact is the reference alone (the S3 deploy extracted it), and no archive was fetched.
    let objects = stack.objects(&stack.deploy_bucket).await;
    let deployed: Vec<&String> = objects.keys().filter(|k| k.starts_with("full/")).collect();
    assert_eq!(deployed, vec![&format!("full/{OLD}/codebuild-clone-ref.json")], "{objects:?}");
    let reference: Value = serde_json::from_str(&objects[&format!("full/{OLD}/codebuild-clone-ref.json")]).unwrap();
    let web = served.github_api.trim_end_matches("/api/v3");
    assert_eq!(
        reference,
        json!({"cloneUrl": format!("{web}/octo/site.git"), "commit": OLD, "branch": "main",
               "fullRepositoryName": "octo/site", "providerType": "GitHubEnterpriseServer", "connectionArn": arn})
    );
    assert!(host.saw(&format!("commit octo/site {OLD}")));
    assert!(!host.requests.lock().unwrap().iter().any(|r| r.starts_with("zipball")));
}
