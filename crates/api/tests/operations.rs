//! The API's operations over a real store (SQLite), through `handle` as the transports call
//! it, with nobody carrying out the effects: what each operation decides and records.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use serde_json::{Value, json};

use pipewright_api::protocol::CONTENT_TYPE;
use pipewright_api::{Authenticator, ControlPlane, HttpRequest, handle};
use pipewright_core::engine::{Dispatch, Effect, Event};
use pipewright_core::pipeline::Environment;
use pipewright_core::service::{self, Handled, PipelineCache, ServiceError};
use pipewright_core::time::Timestamp;
use pipewright_local::store::SqliteStore;

struct TestPlane {
    store: SqliteStore,
    cache: PipelineCache,
    /// What `now` answers.
    clock: Timestamp,
    /// Every effect the handler committed, in order: the dispatched jobs among them.
    effects: std::sync::Mutex<Vec<Effect>>,
    _dir: tempfile::TempDir,
}

impl TestPlane {
    fn new() -> TestPlane {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        TestPlane {
            store,
            cache: PipelineCache::new(Environment { region: Some("us-east-1".into()) }),
            clock: Timestamp::from_millis(1_800_000_000_000),
            effects: Default::default(),
            _dir: dir,
        }
    }

    /// Another process on the same store (a cache of its own), whose clock reads `clock`.
    fn beside(other: &TestPlane, clock: i64) -> TestPlane {
        TestPlane {
            store: SqliteStore::open(&other._dir.path().join("state.db")).unwrap(),
            cache: PipelineCache::new(Environment { region: Some("us-east-1".into()) }),
            clock: Timestamp::from_millis(clock),
            effects: Default::default(),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn call(&self, operation: &str, body: Value) -> (u16, Value) {
        let headers = vec![
            ("X-Amz-Target".to_string(), format!("CodePipeline_20150709.{operation}")),
            ("Content-Type".to_string(), CONTENT_TYPE.to_string()),
            // An open server takes the key a request names as its caller.
            (
                "Authorization".to_string(),
                "AWS4-HMAC-SHA256 Credential=tester/20270115/us-east-1/codepipeline/aws4_request, SignedHeaders=host, Signature=0".to_string(),
            ),
        ];
        let bytes = serde_json::to_vec(&body).unwrap();
        let request = HttpRequest { method: "POST", path: "/", query: "", headers: &headers, body: &bytes };
        let response = handle(self, &Authenticator::Open, request).await;
        (response.status, response.body)
    }

    /// `operation` signed with `access_key`/`secret`, as an SDK signs it, to a server that
    /// takes `keys`.
    async fn call_signed(
        &self,
        keys: &Authenticator,
        (access_key, secret): (&str, &str),
        operation: &str,
        body: Value,
    ) -> (u16, Value) {
        use pipewright_api::sigv4::{Credentials, Signer};
        let signer = Signer {
            credentials: Credentials {
                access_key: access_key.to_string(),
                secret_key: secret.to_string(),
                session_token: None,
            },
            region: "us-east-1".to_string(),
            service: "codepipeline".to_string(),
        };
        let mut headers = vec![
            ("host".to_string(), "localhost".to_string()),
            ("x-amz-target".to_string(), format!("CodePipeline_20150709.{operation}")),
            ("content-type".to_string(), CONTENT_TYPE.to_string()),
        ];
        let bytes = serde_json::to_vec(&body).unwrap();
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.clock.millis() as u64);
        signer.sign("POST", "http://localhost/", &mut headers, &bytes, at).unwrap();
        let request = HttpRequest { method: "POST", path: "/", query: "", headers: &headers, body: &bytes };
        let response = handle(self, keys, request).await;
        (response.status, response.body)
    }

    async fn ok(&self, operation: &str, body: Value) -> Value {
        let (status, body) = self.call(operation, body).await;
        assert_eq!(status, 200, "{operation}: {body}");
        body
    }

    async fn error(&self, operation: &str, body: Value) -> String {
        let (status, body) = self.call(operation, body).await;
        assert_eq!(status, 400, "{operation} should fail: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        body["__type"].as_str().unwrap().to_string()
    }
}

impl ControlPlane for TestPlane {
    type Store = SqliteStore;

    fn store(&self) -> &SqliteStore {
        &self.store
    }

    fn cache(&self) -> &PipelineCache {
        &self.cache
    }

    fn now(&self) -> Timestamp {
        self.clock
    }

    fn account(&self) -> &str {
        "111122223333"
    }

    fn region(&self) -> &str {
        "us-east-1"
    }

    /// Every Commands action keeps a log here, and it is hostile.
    fn action_log(&self, _execution_id: &str, stage: &str, action: &str, attempt: u32) -> Option<String> {
        Some(format!("log of {stage}/{action} #{attempt}\n{HOSTILE}"))
    }

    async fn submit(&self, pipeline: &str, event: &Event) -> Result<Handled, ServiceError> {
        let handled = service::handle(&self.store, &self.cache, pipeline, event, self.now(), &[]).await?;
        if let Handled::Applied { effects } = &handled {
            self.effects.lock().unwrap().extend(effects.iter().cloned());
        }
        Ok(handled)
    }
}

/// Text that would break out of the markup if it were not escaped: a script, an attribute
/// break-out into an element with a handler, a `javascript:` URL, a terminal escape, a NUL and
/// a right-to-left override.
const HOSTILE: &str =
    "<script>alert(1)</script>\"'><img src=x onerror=alert(2)> javascript:alert(3) \u{1b}[31mred\u{0}\u{202e}";

fn declaration(name: &str) -> Value {
    json!({
        "name": name,
        "roleArn": "arn:aws:iam::111122223333:role/pipewright",
        "artifactStore": { "type": "S3", "location": "artifacts-bucket" },
        "pipelineType": "V2",
        "stages": [
            { "name": "Source", "actions": [{
                "name": "Src",
                "actionTypeId": { "category": "Source", "owner": "AWS", "provider": "S3", "version": "1" },
                "configuration": { "S3Bucket": "uploads", "S3ObjectKey": "src.zip" },
                "outputArtifacts": [{ "name": "Code" }] }] },
            { "name": "Gate", "actions": [{
                "name": "Approve",
                "actionTypeId": { "category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1" } }] }
        ]
    })
}

/// A declaration's stages as CodePipeline answers them: every action with its run order, its
/// artifact lists, its configuration and its region (the pipeline's own) written out.
fn normalised(mut stages: Value) -> Value {
    for stage in stages.as_array_mut().unwrap() {
        for action in stage["actions"].as_array_mut().unwrap() {
            let action = action.as_object_mut().unwrap();
            action.entry("region").or_insert(json!("us-east-1"));
            action.entry("runOrder").or_insert(json!(1));
            action.entry("inputArtifacts").or_insert(json!([]));
            action.entry("outputArtifacts").or_insert(json!([]));
            action.entry("configuration").or_insert(json!({}));
        }
    }
    stages
}

#[tokio::test]
async fn create_get_update_list_and_delete_a_pipeline() {
    let plane = TestPlane::new();
    let created = plane.ok("CreatePipeline", json!({ "pipeline": declaration("web") })).await;
    assert_eq!(created["pipeline"]["version"], 1);
    assert_eq!(
        plane.error("CreatePipeline", json!({ "pipeline": declaration("web") })).await,
        "PipelineNameInUseException"
    );

    let got = plane.ok("GetPipeline", json!({ "name": "web" })).await;
    assert_eq!(got["pipeline"]["stages"], normalised(declaration("web")["stages"].clone()), "defaults written out");
    assert_eq!(got["pipeline"]["executionMode"], "SUPERSEDED");
    let mut untyped = declaration("untyped");
    untyped.as_object_mut().unwrap().remove("pipelineType");
    let created = plane.ok("CreatePipeline", json!({ "pipeline": untyped })).await;
    assert_eq!(
        (&created["pipeline"]["pipelineType"], &created["pipeline"]["executionMode"]),
        (&json!("V1"), &json!("SUPERSEDED")),
        "a pipeline naming no type is V1, and says so"
    );
    plane.ok("DeletePipeline", json!({ "name": "untyped" })).await;
    // What GetPipeline answered, written back, is the same declaration: no new version.
    let mut read_back = got["pipeline"].clone();
    read_back.as_object_mut().unwrap().remove("version");
    let rewritten = plane.ok("UpdatePipeline", json!({ "pipeline": read_back })).await;
    assert_eq!(rewritten["pipeline"]["version"], 1, "{rewritten}");
    assert_eq!(rewritten["pipeline"]["stages"], got["pipeline"]["stages"]);
    let first = plane.ok("ListPipelineExecutions", json!({ "pipelineName": "web" })).await;
    assert_eq!(
        first["pipelineExecutionSummaries"][0]["trigger"]["triggerType"], "CreatePipeline",
        "creation starts one"
    );
    assert_eq!(got["metadata"]["pipelineArn"], "arn:aws:codepipeline:us-east-1:111122223333:web");
    assert_eq!(got["metadata"]["created"], 1_800_000_000.0);

    let mut changed = declaration("web");
    changed["stages"][1]["name"] = json!("Approval");
    let updated = plane.ok("UpdatePipeline", json!({ "pipeline": changed })).await;
    assert_eq!(updated["pipeline"]["version"], 2);
    assert_eq!(plane.ok("GetPipeline", json!({ "name": "web", "version": 1 })).await["pipeline"]["version"], 1);
    assert_eq!(
        plane.error("GetPipeline", json!({ "name": "web", "version": 3 })).await,
        "PipelineVersionNotFoundException"
    );
    assert_eq!(
        plane.error("UpdatePipeline", json!({ "pipeline": declaration("nope") })).await,
        "ResourceNotFoundException"
    );

    plane.ok("CreatePipeline", json!({ "pipeline": declaration("api") })).await;
    let listed = plane.ok("ListPipelines", json!({})).await;
    let names: Vec<&str> =
        listed["pipelines"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "web"]);
    assert_eq!(listed["pipelines"][1]["version"], 2);

    plane.ok("DeletePipeline", json!({ "name": "web" })).await;
    plane.ok("DeletePipeline", json!({ "name": "web" })).await; // idempotent
    assert_eq!(plane.error("GetPipeline", json!({ "name": "web" })).await, "PipelineNotFoundException");
}

#[tokio::test]
async fn list_pipelines_pages_with_next_tokens() {
    let plane = TestPlane::new();
    for name in ["a", "b", "c"] {
        plane.ok("CreatePipeline", json!({ "pipeline": declaration(name) })).await;
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({ "maxResults": 2 });
        if let Some(token) = &token {
            input["nextToken"] = json!(token);
        }
        let page = plane.ok("ListPipelines", input).await;
        names.extend(page["pipelines"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()));
        match page["nextToken"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(plane.error("ListPipelines", json!({ "maxResults": 0 })).await, "ValidationException");
    assert_eq!(plane.error("ListPipelines", json!({ "nextToken": "x" })).await, "InvalidNextTokenException");
}

#[tokio::test]
async fn an_invalid_declaration_names_every_problem_and_stores_nothing() {
    let plane = TestPlane::new();
    let mut broken = declaration("broken");
    broken["stages"][1]["actions"][0]["runOrder"] = json!(0);
    broken["stages"][1]["actions"][0]["inputArtifacts"] = json!([{ "name": "Missing" }]);
    let (status, body) = plane.call("CreatePipeline", json!({ "pipeline": broken })).await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "InvalidActionDeclarationException");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("stages[1].actions[0].runOrder"), "{message}");
    assert!(message.contains("stages[1].actions[0].inputArtifacts[0]"), "{message}");
    let mut one_stage = declaration("short");
    one_stage["stages"].as_array_mut().unwrap().pop();
    assert_eq!(plane.error("CreatePipeline", json!({ "pipeline": one_stage })).await, "InvalidStructureException");
    assert_eq!(plane.error("CreatePipeline", json!({})).await, "ValidationException");
    assert_eq!(plane.ok("ListPipelines", json!({})).await["pipelines"], json!([]));
}

/// Stage names, and each stage's action names, of a GetPipelineState answer.
fn layout(state: &Value) -> Vec<(String, Vec<String>)> {
    let names = |list: &Value, key: &str| -> Vec<String> {
        list.as_array().unwrap().iter().map(|item| item[key].as_str().unwrap().to_string()).collect()
    };
    state["stageStates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stage| (stage["stageName"].as_str().unwrap().to_string(), names(&stage["actionStates"], "actionName")))
        .collect()
}

#[tokio::test]
async fn a_pipeline_created_again_under_its_name_is_never_taken_for_the_deleted_one() {
    // Versions of a pipeline created again start over at 1: an API process that compiled
    // version 1 of the deleted pipeline must not answer or start with it.
    let first = TestPlane::new();
    let other = TestPlane::beside(&first, 1_800_000_060_000);
    first.ok("CreatePipeline", json!({ "pipeline": declaration("again") })).await;
    let before = first.ok("GetPipelineState", json!({ "name": "again" })).await;
    assert_eq!(layout(&before)[1], ("Gate".to_string(), vec!["Approve".to_string()]));

    // Another process deletes it and creates another under the same name: another source,
    // a stage more, and executions that run side by side (a start dispatches its source at
    // once, beside the one CreatePipeline started).
    let mut again = declaration("again");
    again["executionMode"] = json!("PARALLEL");
    again["stages"][0]["actions"][0]["configuration"]["S3ObjectKey"] = json!("next.zip");
    again["stages"][1]["actions"][0]["name"] = json!("Check");
    let gate = again["stages"][1].clone();
    again["stages"].as_array_mut().unwrap().push(json!({ "name": "Release", "actions": gate["actions"] }));
    other.ok("DeletePipeline", json!({ "name": "again" })).await;
    other.ok("CreatePipeline", json!({ "pipeline": again })).await;

    // The first process answers and starts with the new one. The state and the executions
    // it shows are one read, and the declaration, once compiled, is not read again.
    let reads = first.store.counters().reads;
    let state = first.ok("GetPipelineState", json!({ "name": "again" })).await;
    assert_eq!(first.store.counters().reads - reads, 2, "the state with its executions, and the new declaration");
    let reads = first.store.counters().reads;
    let again = first.ok("GetPipelineState", json!({ "name": "again" })).await;
    assert_eq!(first.store.counters().reads - reads, 1, "the state with its executions only");
    assert_eq!(again, state);
    assert_eq!(state["pipelineVersion"], 1);
    let expected = vec![
        ("Source".to_string(), vec!["Src".to_string()]),
        ("Gate".to_string(), vec!["Check".to_string()]),
        ("Release".to_string(), vec!["Check".to_string()]),
    ];
    assert_eq!(layout(&state), expected);
    first.effects.lock().unwrap().clear();
    first.ok("StartPipelineExecution", json!({ "name": "again" })).await;
    let keys: Vec<String> = first
        .effects
        .lock()
        .unwrap()
        .iter()
        .filter_map(|effect| match effect {
            Effect::Dispatch(dispatch) => dispatch.configuration.get("S3ObjectKey").cloned(),
            _ => None,
        })
        .collect();
    assert_eq!(keys, ["next.zip"], "the source of the pipeline as it is now");

    // The process that deleted it forgets the deleted one too, even at the same moment.
    other.ok("DeletePipeline", json!({ "name": "again" })).await;
    other.ok("CreatePipeline", json!({ "pipeline": declaration("again") })).await;
    let recreated = other.ok("GetPipelineState", json!({ "name": "again" })).await;
    assert_eq!(layout(&recreated), layout(&before));
}

#[tokio::test]
async fn an_execution_of_a_pipeline_created_again_is_read_with_its_own_declaration() {
    // An execution pins its version, and a pipeline created again numbers its versions from 1
    // again: a process that compiled version 1 of the deleted pipeline must not read the new
    // pipeline's executions with it.
    let first = TestPlane::new();
    let other = TestPlane::beside(&first, 1_800_000_060_000);
    first.ok("CreatePipeline", json!({ "pipeline": declaration("pinned") })).await;
    let source_key = |listed: &Value| -> Vec<String> {
        let details = listed["actionExecutionDetails"].as_array().unwrap();
        details.iter().map(|d| d["input"]["configuration"]["S3ObjectKey"].as_str().unwrap().to_string()).collect()
    };
    let listed = first.ok("ListActionExecutions", json!({ "pipelineName": "pinned" })).await;
    assert_eq!(source_key(&listed), ["src.zip"], "version 1 of the first pipeline is compiled");

    let mut again = declaration("pinned");
    again["stages"][0]["actions"][0]["configuration"]["S3ObjectKey"] = json!("next.zip");
    other.ok("DeletePipeline", json!({ "name": "pinned" })).await;
    other.ok("CreatePipeline", json!({ "pipeline": again })).await;

    // The new pipeline's first execution pins its version 1; the first process reads it with
    // the new declaration, and so does every way in that reads an execution by its version.
    let listed = first.ok("ListActionExecutions", json!({ "pipelineName": "pinned" })).await;
    assert_eq!(source_key(&listed), ["next.zip"]);
    let listed = other.ok("ListActionExecutions", json!({ "pipelineName": "pinned" })).await;
    assert_eq!(source_key(&listed), ["next.zip"]);
}

#[tokio::test]
async fn start_records_an_execution_that_waits_for_its_approval() {
    let plane = TestPlane::new();
    plane.ok("CreatePipeline", json!({ "pipeline": declaration("web") })).await;
    let started = plane.ok("StartPipelineExecution", json!({ "name": "web", "clientRequestToken": "t-1" })).await;
    let id = started["pipelineExecutionId"].as_str().unwrap().to_string();
    let again = plane.ok("StartPipelineExecution", json!({ "name": "web", "clientRequestToken": "t-1" })).await;
    assert_eq!(again["pipelineExecutionId"], id.as_str(), "the same token is the same execution");
    let execution = plane.ok("GetPipelineExecution", json!({ "pipelineName": "web", "pipelineExecutionId": id })).await;
    assert_eq!(execution["pipelineExecution"]["status"], "InProgress");
    assert_eq!(execution["pipelineExecution"]["trigger"]["triggerType"], "StartPipelineExecution");
    assert_eq!(execution["pipelineExecution"]["trigger"]["triggerDetail"], "tester");
    let history = plane.ok("ListPipelineExecutions", json!({ "pipelineName": "web" })).await;
    let summaries = history["pipelineExecutionSummaries"].as_array().unwrap();
    assert_eq!(summaries.len(), 2, "the one CreatePipeline started, and this one");
    assert_eq!(summaries[0]["pipelineExecutionId"], id.as_str());
    assert_eq!(summaries[1]["trigger"]["triggerType"], "CreatePipeline");

    // Nobody carries out the source here; its stage shows the first execution running, the
    // new one waiting for the stage.
    let state = plane.ok("GetPipelineState", json!({ "name": "web" })).await;
    assert_eq!(state["pipelineVersion"], 1);
    assert_eq!(state["stageStates"][0]["latestExecution"]["status"], "InProgress");
    assert_eq!(state["stageStates"][0]["latestExecution"]["pipelineExecutionId"], summaries[1]["pipelineExecutionId"]);

    assert_eq!(
        plane
            .error("StartPipelineExecution", json!({ "name": "web", "variables": [{ "name": "Nope", "value": "x" }] }))
            .await,
        "ValidationException"
    );
    assert_eq!(plane.error("StartPipelineExecution", json!({ "name": "missing" })).await, "PipelineNotFoundException");
    // With a token too, a missing pipeline is reported as such.
    let token_of_web = json!({ "name": "missing", "clientRequestToken": "t-1" });
    assert_eq!(plane.error("StartPipelineExecution", token_of_web).await, "PipelineNotFoundException");
    plane.ok("CreatePipeline", json!({ "pipeline": declaration("api") })).await;
    let reused = plane.ok("StartPipelineExecution", json!({ "name": "api", "clientRequestToken": "t-1" })).await;
    assert_ne!(reused["pipelineExecutionId"], id.as_str(), "the same token of another pipeline is another execution");
    assert_eq!(
        plane
            .error(
                "GetPipelineExecution",
                json!({ "pipelineName": "web", "pipelineExecutionId": "00000000-0000-4000-8000-000000000000" })
            )
            .await,
        "PipelineExecutionNotFoundException"
    );
}

#[tokio::test]
async fn steering_operations_check_their_inputs_before_changing_anything() {
    let plane = TestPlane::new();
    plane.ok("CreatePipeline", json!({ "pipeline": declaration("web") })).await;
    let id = plane.ok("StartPipelineExecution", json!({ "name": "web" })).await["pipelineExecutionId"].clone();
    let retry = |stage: &str, mode: &str| json!({ "pipelineName": "web", "stageName": stage, "pipelineExecutionId": id, "retryMode": mode });
    assert_eq!(
        plane.error("RetryStageExecution", retry("Source", "FAILED_ACTIONS")).await,
        "StageNotRetryableException"
    );
    assert_eq!(plane.error("RetryStageExecution", retry("Nope", "FAILED_ACTIONS")).await, "StageNotFoundException");
    assert_eq!(plane.error("RetryStageExecution", retry("Source", "SOME")).await, "ValidationException");

    let transition = json!({ "pipelineName": "web", "stageName": "Gate", "transitionType": "Inbound" });
    assert_eq!(
        plane.error("DisableStageTransition", transition.clone()).await,
        "ValidationException",
        "reason required"
    );
    let mut with_reason = transition.clone();
    with_reason["reason"] = json!("Freeze (until Monday)");
    plane.ok("DisableStageTransition", with_reason).await;
    let state = plane.ok("GetPipelineState", json!({ "name": "web" })).await;
    assert_eq!(state["stageStates"][1]["inboundTransitionState"]["enabled"], false);
    assert_eq!(state["stageStates"][1]["inboundTransitionState"]["disabledReason"], "Freeze (until Monday)");
    assert_eq!(state["stageStates"][1]["inboundTransitionState"]["lastChangedBy"], "tester");
    let mut bad_reason = transition.clone();
    bad_reason["reason"] = json!("semi;colon");
    assert_eq!(plane.error("DisableStageTransition", bad_reason).await, "ValidationException");
    assert!(state["stageStates"][0].get("inboundTransitionState").is_none(), "the first stage has none");
    // The last stage has no outbound transition; the first stage's is the next one's inbound.
    let mut outbound = transition.clone();
    outbound["transitionType"] = json!("Outbound");
    assert_eq!(plane.error("EnableStageTransition", outbound).await, "ValidationException");
    let source_out = json!({ "pipelineName": "web", "stageName": "Source", "transitionType": "Outbound" });
    plane.ok("EnableStageTransition", source_out.clone()).await;
    let state = plane.ok("GetPipelineState", json!({ "name": "web" })).await;
    assert_eq!(state["stageStates"][1]["inboundTransitionState"]["enabled"], true, "enabled through Source's outbound");
    let mut disabled = source_out.clone();
    disabled["reason"] = json!("Hold after the source");
    plane.ok("DisableStageTransition", disabled).await;
    let state = plane.ok("GetPipelineState", json!({ "name": "web" })).await;
    assert_eq!(state["stageStates"][1]["inboundTransitionState"]["disabledReason"], "Hold after the source");
    plane.ok("EnableStageTransition", transition).await;

    let approval = |token: &str| {
        json!({ "pipelineName": "web", "stageName": "Gate", "actionName": "Approve",
                "result": { "summary": "ok", "status": "Approved" }, "token": token })
    };
    assert_eq!(
        plane.error("PutApprovalResult", approval("00000000-0000-4000-8000-000000000000")).await,
        "InvalidApprovalTokenException"
    );
    let mut wrong_action = approval("t");
    wrong_action["actionName"] = json!("Other");
    assert_eq!(plane.error("PutApprovalResult", wrong_action).await, "ActionNotFoundException");

    let stop = json!({ "pipelineName": "web", "pipelineExecutionId": id, "abandon": true, "reason": "no" });
    plane.ok("StopPipelineExecution", stop.clone()).await;
    let execution = plane.ok("GetPipelineExecution", json!({ "pipelineName": "web", "pipelineExecutionId": id })).await;
    assert_eq!(execution["pipelineExecution"]["status"], "Stopped");
    assert_eq!(plane.error("StopPipelineExecution", stop).await, "PipelineExecutionNotStoppableException");
}

#[tokio::test]
async fn bad_requests_get_aws_style_errors() {
    let plane = TestPlane::new();
    let unknown = plane.call("LaunchRockets", json!({})).await;
    assert_eq!((unknown.0, unknown.1["__type"].as_str()), (400, Some("UnknownOperationException")));
    // Every operation is served: one called without its required members is a
    // ValidationException naming the member, never an unknown operation.
    for (operation, member) in
        [("ListWebhooks", None), ("PutWebhook", Some("webhook")), ("TagResource", Some("resourceArn"))]
    {
        let (status, body) = plane.call(operation, json!({})).await;
        match member {
            None => assert_eq!(status, 200, "{operation}: {body}"),
            Some(member) => {
                assert_eq!(
                    (status, body["__type"].as_str()),
                    (400, Some("ValidationException")),
                    "{operation}: {body}"
                );
                assert!(body["message"].as_str().unwrap().contains(member), "{operation}: {body}");
            }
        }
    }
    let mistyped = plane.call("GetPipeline", json!({ "name": ["web"] })).await;
    assert_eq!(mistyped.1["__type"], "SerializationException");
    assert!(mistyped.1["message"].as_str().unwrap().contains("'name'"), "{}", mistyped.1);
    let missing = plane.call("GetPipelineState", json!({})).await;
    assert_eq!(missing.1["__type"], "ValidationException");
    assert!(missing.1["message"].as_str().unwrap().contains("'name'"));
    let bad_id = plane.call("GetPipelineExecution", json!({ "pipelineName": "web", "pipelineExecutionId": "x" })).await;
    assert_eq!(bad_id.1["__type"], "ValidationException");
}

impl TestPlane {
    /// The execution CreatePipeline started for `pipeline` (its oldest).
    async fn created_execution(&self, pipeline: &str) -> String {
        let history = self.ok("ListPipelineExecutions", json!({ "pipelineName": pipeline })).await;
        let oldest = history["pipelineExecutionSummaries"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(oldest["trigger"]["triggerType"], "CreatePipeline");
        oldest["pipelineExecutionId"].as_str().unwrap().to_string()
    }

    /// The dispatches of `action` so far, oldest first.
    fn dispatches(&self, action: &str) -> Vec<Dispatch> {
        let effects = self.effects.lock().unwrap();
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Dispatch(d) if d.action == action => Some((**d).clone()),
                _ => None,
            })
            .collect()
    }
}

fn lambda_pipeline() -> Value {
    json!({
        "name": "jobs",
        "roleArn": "arn:aws:iam::111122223333:role/pipewright",
        "artifactStore": { "type": "S3", "location": "artifacts-bucket" },
        "pipelineType": "V2",
        "stages": [
            { "name": "Source", "actions": [{
                "name": "Src", "namespace": "SourceVariables",
                "actionTypeId": { "category": "Source", "owner": "AWS", "provider": "S3", "version": "1" },
                "configuration": { "S3Bucket": "uploads", "S3ObjectKey": "src.zip" },
                "outputArtifacts": [{ "name": "Code" }] }] },
            { "name": "Invoke", "actions": [{
                "name": "Worker", "namespace": "Fn",
                "actionTypeId": { "category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1" },
                "configuration": { "FunctionName": "job-worker", "UserParameters": "rev #{SourceVariables.VersionId}" },
                "inputArtifacts": [{ "name": "Code" }],
                "outputArtifacts": [{ "name": "Built" }] }] },
            { "name": "Use", "actions": [{
                "name": "Echo",
                "actionTypeId": { "category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1" },
                "commands": ["echo #{Fn.Answer}"],
                "inputArtifacts": [{ "name": "Built" }] }] }
        ]
    })
}

#[tokio::test]
async fn job_workers_complete_jobs_with_continuations_and_output_variables() {
    let plane = TestPlane::new();
    plane.ok("CreatePipeline", json!({ "pipeline": lambda_pipeline() })).await;
    let execution = json!(plane.created_execution("jobs").await);

    // The source's job, completed as a worker would, with the revision it fetched.
    let source_job = plane.dispatches("Src")[0].job_id.clone();
    plane
        .ok(
            "PutJobSuccessResult",
            json!({ "jobId": source_job, "currentRevision": { "revision": "v-17", "changeIdentifier": "v-17" },
                    "outputVariables": { "VersionId": "v-17" } }),
        )
        .await;
    assert_eq!(
        plane.error("PutJobSuccessResult", json!({ "jobId": source_job })).await,
        "InvalidJobStateException",
        "a finished job takes no second result"
    );

    let first = plane.dispatches("Worker")[0].clone();
    let details = plane.ok("GetJobDetails", json!({ "jobId": first.job_id })).await["jobDetails"].clone();
    assert_eq!(details["id"], first.job_id.as_str());
    assert_eq!(details["accountId"], "111122223333");
    let data = &details["data"];
    assert_eq!(data["actionConfiguration"]["configuration"]["UserParameters"], "rev v-17", "variables resolved");
    assert_eq!(data["actionTypeId"]["provider"], "Lambda");
    assert_eq!(data["pipelineContext"]["pipelineExecutionId"], execution);
    assert_eq!(data["pipelineContext"]["stage"]["name"], "Invoke");
    assert_eq!(data["inputArtifacts"][0]["name"], "Code");
    assert_eq!(data["inputArtifacts"][0]["location"]["s3Location"]["bucketName"], "artifacts-bucket");
    assert!(data.get("continuationToken").is_none());

    // A continuation keeps the action running and starts a new job carrying the token.
    plane
        .ok(
            "PutJobSuccessResult",
            json!({ "jobId": first.job_id, "continuationToken": "step-2",
                    "executionDetails": { "summary": "half way", "percentComplete": 50 } }),
        )
        .await;
    let second = plane.dispatches("Worker")[1].clone();
    assert_ne!(second.job_id, first.job_id);
    assert_eq!(plane.error("GetJobDetails", json!({ "jobId": first.job_id })).await, "InvalidJobStateException");
    let details = plane.ok("GetJobDetails", json!({ "jobId": second.job_id })).await;
    assert_eq!(details["jobDetails"]["data"]["continuationToken"], "step-2");
    let state = plane.ok("GetPipelineState", json!({ "name": "jobs" })).await;
    let worker = &state["stageStates"][1]["actionStates"][0]["latestExecution"];
    assert_eq!(worker["status"], "InProgress");
    assert_eq!(worker["percentComplete"], 50);

    plane
        .ok(
            "PutJobSuccessResult",
            json!({ "jobId": second.job_id, "outputVariables": { "Answer": "42" },
                    "executionDetails": { "summary": "built", "externalExecutionId": "run-9" } }),
        )
        .await;
    let echo = plane.dispatches("Echo");
    assert_eq!(echo[0].commands, ["echo 42"], "the worker's output variable feeds the next action");
    let listed = plane
        .ok("ListActionExecutions", json!({ "pipelineName": "jobs", "filter": { "pipelineExecutionId": execution } }))
        .await;
    let worker = listed["actionExecutionDetails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["actionName"] == "Worker")
        .unwrap()
        .clone();
    assert_eq!(worker["status"], "Succeeded");
    assert_eq!(worker["output"]["outputVariables"]["Answer"], "42");
    assert_eq!(worker["output"]["executionResult"]["externalExecutionId"], "run-9");

    // The Commands job fails through the protocol too; then nothing more is accepted.
    let echo_job = echo[0].job_id.clone();
    assert_eq!(
        plane
            .error(
                "PutJobFailureResult",
                json!({ "jobId": echo_job, "failureDetails": { "type": "Nope", "message": "x" } })
            )
            .await,
        "ValidationException"
    );
    plane
        .ok(
            "PutJobFailureResult",
            json!({ "jobId": echo_job, "failureDetails": { "type": "JobFailed", "message": "boom" } }),
        )
        .await;
    let finished =
        plane.ok("GetPipelineExecution", json!({ "pipelineName": "jobs", "pipelineExecutionId": execution })).await;
    assert_eq!(finished["pipelineExecution"]["status"], "Failed");
    assert_eq!(
        plane
            .error(
                "PutJobFailureResult",
                json!({ "jobId": echo_job, "failureDetails": { "type": "JobFailed", "message": "again" } })
            )
            .await,
        "InvalidJobStateException"
    );
    assert_eq!(
        plane.error("PutJobSuccessResult", json!({ "jobId": "00000000-0000-4000-8000-000000000000" })).await,
        "JobNotFoundException"
    );
    assert_eq!(plane.error("GetJobDetails", json!({ "jobId": "not-a-job" })).await, "ValidationException");
}

mod console {
    use super::*;
    use pipewright_api::console::{ConsoleAuth, Page, handle as page};

    fn open() -> ConsoleAuth {
        ConsoleAuth::new(Authenticator::Open, false, b"test csrf secret".to_vec())
    }

    async fn get(plane: &TestPlane, auth: &ConsoleAuth, path: &str, cookie: Option<&str>) -> Page {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let headers: Vec<(String, String)> =
            cookie.map(|c| ("Cookie".to_string(), c.to_string())).into_iter().collect();
        page(plane, auth, HttpRequest { method: "GET", path, query, headers: &headers, body: b"" }).await
    }

    async fn post(plane: &TestPlane, auth: &ConsoleAuth, path: &str, cookie: &str, form: &str) -> Page {
        let headers = vec![
            ("Cookie".to_string(), cookie.to_string()),
            ("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string()),
        ];
        page(plane, auth, HttpRequest { method: "POST", path, query: "", headers: &headers, body: form.as_bytes() })
            .await
    }

    fn header<'a>(page: &'a Page, name: &str) -> Option<&'a str> {
        page.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn text(page: &Page) -> String {
        String::from_utf8_lossy(&page.body).into_owned()
    }

    #[tokio::test]
    async fn pages_show_the_pipeline_and_forms_need_their_csrf_token() {
        let plane = TestPlane::new();
        plane.ok("CreatePipeline", json!({ "pipeline": declaration("web") })).await;
        let auth = open();
        let list = get(&plane, &auth, "/", None).await;
        assert_eq!(list.status, 200);
        assert!(text(&list).contains(r#"<a class="pipeline-link" href="/pipelines/web">web</a>"#));
        let cookie = header(&list, "set-cookie").unwrap().split(';').next().unwrap().to_string();
        let nonce = cookie.split_once('=').unwrap().1.to_string();

        let view = text(&get(&plane, &auth, "/pipelines/web", Some(&cookie)).await);
        let token = view.split(r#"name="csrf" value=""#).nth(1).unwrap().split('"').next().unwrap().to_string();
        assert_ne!(token, nonce, "the form token is the server's, not the cookie");
        for needle in [
            r#"data-stage="Source""#,
            r#"data-stage="Gate""#,
            r#"data-action="Gate/Approve" data-status="Idle""#,
            "Release change",
        ] {
            assert!(view.contains(needle), "{needle} in {view}");
        }
        // A form without the token changes nothing, nor one that echoes the cookie (the old
        // double-submit scheme, which a site that can plant cookies could satisfy).
        let forged = post(&plane, &auth, "/pipelines/web/start", &cookie, "csrf=0123").await;
        assert_eq!(forged.status, 403);
        let planted = post(&plane, &auth, "/pipelines/web/start", &cookie, &format!("csrf={nonce}")).await;
        assert_eq!(planted.status, 403);
        // A token is bound to its cookie: another browser's cookie with this token fails.
        let other_cookie = "pw_csrf=ffffffffffffffffffffffffffffffff";
        let swapped = post(&plane, &auth, "/pipelines/web/start", other_cookie, &format!("csrf={token}")).await;
        assert_eq!(swapped.status, 403);
        assert!(
            plane.ok("ListPipelineExecutions", json!({ "pipelineName": "web" })).await["pipelineExecutionSummaries"][1]
                .is_null(),
            "only the execution CreatePipeline started"
        );
        let started = post(&plane, &auth, "/pipelines/web/start", &cookie, &format!("csrf={token}")).await;
        assert_eq!((started.status, header(&started, "location")), (303, Some("/pipelines/web")));
        let history = plane.ok("ListPipelineExecutions", json!({ "pipelineName": "web" })).await;
        let id = history["pipelineExecutionSummaries"][0]["pipelineExecutionId"].as_str().unwrap().to_string();

        let fragment = text(&get(&plane, &auth, "/pipelines/web?fragment=1", Some(&cookie)).await);
        assert!(fragment.starts_with("<h1>web</h1>"), "the live part alone: {fragment}");
        assert!(fragment.contains(&format!(r#"data-execution="{id}""#)));
        let history = text(&get(&plane, &auth, "/pipelines/web/executions", Some(&cookie)).await);
        assert!(history.contains(&format!(
            r#"<tr class="execution" data-execution="{id}" data-status="InProgress" data-type="STANDARD">"#
        )));
        let detail = get(&plane, &auth, &format!("/pipelines/web/executions/{id}"), Some(&cookie)).await;
        assert!(text(&detail).contains(r#"<table class="timeline">"#));

        // A rejected operation comes back as a message on the page.
        let refused = post(
            &plane,
            &auth,
            "/pipelines/web/approve",
            &cookie,
            &format!("csrf={token}&stage=Gate&action=Approve&token=00000000-0000-4000-8000-000000000000&status=Approved&summary=x"),
        )
        .await;
        assert_eq!(refused.status, 303);
        assert!(header(&refused, "location").unwrap().contains("error=InvalidApprovalTokenException"));
        // A cross-site form is refused even with the token.
        let headers =
            vec![("Cookie".to_string(), cookie.clone()), ("Sec-Fetch-Site".to_string(), "cross-site".to_string())];
        let body = format!("csrf={token}");
        let request = HttpRequest {
            method: "POST",
            path: "/pipelines/web/stop",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        assert_eq!(page(&plane, &auth, request).await.status, 403);
        // Logs take names and an execution id only.
        let traversal =
            get(&plane, &auth, &format!("/pipelines/web/executions/{id}/logs/..%2F../x/1"), Some(&cookie)).await;
        assert_eq!(traversal.status, 400);
        assert_eq!(get(&plane, &auth, "/pipelines/nope", Some(&cookie)).await.status, 404);
        assert_eq!(get(&plane, &auth, "/static/console.js", None).await.status, 200);
    }

    #[tokio::test]
    async fn with_keys_the_console_asks_for_a_session() {
        let plane = TestPlane::new();
        let auth = ConsoleAuth::new(
            Authenticator::Keys([("KEY".to_string(), "a-long-enough-secret".to_string())].into()),
            true,
            b"test csrf secret".to_vec(),
        );
        let anonymous = get(&plane, &auth, "/", None).await;
        assert_eq!((anonymous.status, header(&anonymous, "location")), (303, Some("/login")));
        let headers = vec![("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string())];
        let login = |body: &'static str| HttpRequest {
            method: "POST",
            path: "/login",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        assert_eq!(page(&plane, &auth, login("accessKeyId=KEY&secretAccessKey=wrong")).await.status, 403);
        // A job worker's key, and an action type's, sign in to nothing.
        let mut ring = pipewright_api::KeyRing::of_api_key("KEY".to_string(), "a-long-enough-secret".to_string());
        ring.job_workers.insert("JOBS".to_string(), "the-job-workers-secret".to_string());
        let with_workers = ConsoleAuth::new(Authenticator::Keys(ring), true, b"test csrf secret".to_vec());
        let worker =
            page(&plane, &with_workers, login("accessKeyId=JOBS&secretAccessKey=the-job-workers-secret")).await;
        assert_eq!(worker.status, 403);
        let farm = serde_json::from_value(
            json!({ "category": "Build", "owner": "Custom", "provider": "Farm", "version": "1" }),
        );
        let farm_key = pipewright_api::action_type_keys::key_id(&farm.unwrap());
        let farm_secret = pipewright_api::action_type_keys::secret("a-long-enough-secret", &farm_key);
        let body = format!("accessKeyId={farm_key}&secretAccessKey={farm_secret}");
        let request =
            HttpRequest { method: "POST", path: "/login", query: "", headers: &headers, body: body.as_bytes() };
        assert_eq!(page(&plane, &with_workers, request).await.status, 403);
        let signed_in = page(&plane, &auth, login("accessKeyId=KEY&secretAccessKey=a-long-enough-secret")).await;
        assert_eq!(signed_in.status, 303);
        let cookie = header(&signed_in, "set-cookie").unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Strict"));
        let session = cookie.split(';').next().unwrap().to_string();
        assert_eq!(get(&plane, &auth, "/", Some(&session)).await.status, 200);
    }

    /// The form token of a console page.
    fn form_token(view: &str) -> String {
        view.split(r#"name="csrf" value=""#).nth(1).unwrap().split('"').next().unwrap().to_string()
    }

    /// A V2 pipeline whose Deploy stage waits for a deployment window (09:00–17:59 UTC on
    /// weekdays; the plane's clock says 08:00 on a Friday).
    fn gated_pipeline() -> Value {
        json!({
            "name": "gated",
            "roleArn": "arn:aws:iam::111122223333:role/pipewright",
            "artifactStore": { "type": "S3", "location": "artifacts-bucket" },
            "pipelineType": "V2",
            "stages": [
                { "name": "Source", "actions": [{
                    "name": "Src",
                    "actionTypeId": { "category": "Source", "owner": "AWS", "provider": "S3", "version": "1" },
                    "configuration": { "S3Bucket": "uploads", "S3ObjectKey": "src.zip" },
                    "outputArtifacts": [{ "name": "Code" }] }] },
                { "name": "Deploy",
                  "beforeEntry": { "conditions": [{ "result": "FAIL", "rules": [{ "name": "OfficeHours",
                      "ruleTypeId": { "category": "Rule", "owner": "AWS", "provider": "DeploymentWindow", "version": "1" },
                      "configuration": { "Cron": "* * 9-17 ? * MON-FRI *" } }] }] },
                  "actions": [{
                    "name": "Ship",
                    "actionTypeId": { "category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1" },
                    "commands": ["./ship"], "inputArtifacts": [{ "name": "Code" }] }] }
            ]
        })
    }

    impl TestPlane {
        /// Completes the newest job of `action`.
        async fn succeed_job(&self, action: &str) {
            let job = self.dispatches(action).last().unwrap().job_id.clone();
            self.ok(
                "PutJobSuccessResult",
                json!({ "jobId": job, "currentRevision": { "revision": "r1", "changeIdentifier": "c1" } }),
            )
            .await;
        }

        async fn execution_status(&self, pipeline: &str, id: &str) -> String {
            let execution =
                self.ok("GetPipelineExecution", json!({ "pipelineName": pipeline, "pipelineExecutionId": id })).await;
            execution["pipelineExecution"]["status"].as_str().unwrap().to_string()
        }
    }

    /// The pipeline view shows a held entry condition with its rule; its Override button
    /// releases it, and the Rollback button starts a ROLLBACK execution that the history and
    /// execution pages mark. Neither form works without its token.
    #[tokio::test]
    async fn override_releases_a_held_condition_and_rollback_returns_to_the_last_success() {
        let plane = TestPlane::new();
        plane.ok("CreatePipeline", json!({ "pipeline": gated_pipeline() })).await;
        let first = plane.created_execution("gated").await;
        plane.succeed_job("Src").await;
        let auth = open();
        let cookie = {
            let list = get(&plane, &auth, "/", None).await;
            header(&list, "set-cookie").unwrap().split(';').next().unwrap().to_string()
        };

        let view = text(&get(&plane, &auth, "/pipelines/gated", Some(&cookie)).await);
        let token = form_token(&view);
        for needle in [
            r#"<div class="condition" data-condition="BEFORE_ENTRY" data-status="InProgress">"#,
            r#"<li class="rule" data-rule="OfficeHours" data-status="InProgress"><span class="rule-name">OfficeHours</span>"#,
            "Waiting for the deployment window to open",
            r#"<form class="override" method="post" action="/pipelines/gated/override" data-stage="Deploy">"#,
            r#"<input type="hidden" name="condition" value="BEFORE_ENTRY">"#,
        ] {
            assert!(view.contains(needle), "{needle} in {view}");
        }
        assert!(!view.contains(r#"class="rollback""#), "no execution has succeeded in Deploy yet: {view}");
        assert!(plane.dispatches("Ship").is_empty(), "held by the window");

        let form = format!("stage=Deploy&execution={first}&condition=BEFORE_ENTRY");
        for refused in [form.clone(), format!("csrf=0123&{form}"), format!("csrf={}&{form}", "0".repeat(64))] {
            let page = post(&plane, &auth, "/pipelines/gated/override", &cookie, &refused).await;
            assert_eq!(page.status, 403, "{refused}");
        }
        let other_cookie = "pw_csrf=ffffffffffffffffffffffffffffffff";
        let swapped =
            post(&plane, &auth, "/pipelines/gated/override", other_cookie, &format!("csrf={token}&{form}")).await;
        assert_eq!(swapped.status, 403);
        assert!(plane.dispatches("Ship").is_empty(), "a refused form releases nothing");

        let released = post(&plane, &auth, "/pipelines/gated/override", &cookie, &format!("csrf={token}&{form}")).await;
        assert_eq!((released.status, header(&released, "location")), (303, Some("/pipelines/gated")));
        assert_eq!(plane.dispatches("Ship").len(), 1, "the stage's actions run");
        let state = plane.ok("GetPipelineState", json!({ "name": "gated" })).await;
        let condition = &state["stageStates"][1]["beforeEntryConditionState"]["latestExecution"];
        assert_eq!(condition["status"], "Overridden", "{state}");
        let view = text(&get(&plane, &auth, "/pipelines/gated", Some(&cookie)).await);
        assert!(view.contains(r#"data-condition="BEFORE_ENTRY" data-status="Overridden""#), "{view}");
        assert!(!view.contains(r#"class="override""#), "nothing left to override: {view}");
        // A repeated post (a double click) changes nothing and answers as the first did.
        let again = post(&plane, &auth, "/pipelines/gated/override", &cookie, &format!("csrf={token}&{form}")).await;
        assert_eq!((again.status, header(&again, "location")), (303, Some("/pipelines/gated")));
        assert_eq!(plane.dispatches("Ship").len(), 1);
        plane.succeed_job("Ship").await;
        assert_eq!(plane.execution_status("gated", &first).await, "Succeeded");

        // A second release, let through the same way, succeeds too: Deploy can return to the first.
        let started = post(&plane, &auth, "/pipelines/gated/start", &cookie, &format!("csrf={token}")).await;
        assert_eq!(started.status, 303);
        let history = plane.ok("ListPipelineExecutions", json!({ "pipelineName": "gated" })).await;
        let second = history["pipelineExecutionSummaries"][0]["pipelineExecutionId"].as_str().unwrap().to_string();
        plane.succeed_job("Src").await;
        let form = format!("stage=Deploy&execution={second}&condition=BEFORE_ENTRY");
        let released = post(&plane, &auth, "/pipelines/gated/override", &cookie, &format!("csrf={token}&{form}")).await;
        assert_eq!(header(&released, "location"), Some("/pipelines/gated"));
        plane.succeed_job("Ship").await;
        assert_eq!(plane.execution_status("gated", &second).await, "Succeeded");

        let view = text(&get(&plane, &auth, "/pipelines/gated", Some(&cookie)).await);
        let rollback_form = format!(
            r#"<form class="rollback" method="post" action="/pipelines/gated/rollback" data-stage="Deploy"><input type="hidden" name="csrf" value="{token}"><input type="hidden" name="stage" value="Deploy"><input type="hidden" name="target" value="{first}">"#
        );
        assert!(view.contains(&rollback_form), "Deploy rolls back to the first execution: {view}");
        assert_eq!(view.matches(r#"class="rollback""#).count(), 1, "not the source stage: {view}");

        let form = format!("stage=Deploy&target={first}");
        for refused in [form.clone(), format!("csrf=0123&{form}")] {
            let page = post(&plane, &auth, "/pipelines/gated/rollback", &cookie, &refused).await;
            assert_eq!(page.status, 403, "{refused}");
        }
        let history = plane.ok("ListPipelineExecutions", json!({ "pipelineName": "gated" })).await;
        assert_eq!(history["pipelineExecutionSummaries"].as_array().unwrap().len(), 2, "a refused form starts nothing");

        let rolled = post(&plane, &auth, "/pipelines/gated/rollback", &cookie, &format!("csrf={token}&{form}")).await;
        assert_eq!((rolled.status, header(&rolled, "location")), (303, Some("/pipelines/gated")));
        let history = plane.ok("ListPipelineExecutions", json!({ "pipelineName": "gated" })).await;
        let rollback = &history["pipelineExecutionSummaries"][0];
        assert_eq!(rollback["executionType"], "ROLLBACK", "{history}");
        assert_eq!(rollback["trigger"]["triggerType"], "ManualRollback");
        assert_eq!(rollback["rollbackMetadata"]["rollbackTargetPipelineExecutionId"], first.as_str());
        let rollback_id = rollback["pipelineExecutionId"].as_str().unwrap().to_string();
        assert_eq!(plane.dispatches("Ship").len(), 3, "the rollback runs Deploy again, without its condition");

        let target_link = format!(
            r#"<span class="tag rollback">Rollback</span> to <a class="rollback-target" href="/pipelines/gated/executions/{first}">{}</a>"#,
            &first[..8]
        );
        let history = text(&get(&plane, &auth, "/pipelines/gated/executions", Some(&cookie)).await);
        assert!(
            history.contains(&format!(
                r#"<tr class="execution" data-execution="{rollback_id}" data-status="InProgress" data-type="ROLLBACK">"#
            )),
            "{history}"
        );
        assert!(history.contains(&target_link), "{history}");
        assert!(history.contains("ManualRollback console"), "the trigger: {history}");
        assert_eq!(history.matches("tag rollback").count(), 1, "standard executions are not marked: {history}");
        let execution =
            text(&get(&plane, &auth, &format!("/pipelines/gated/executions/{rollback_id}"), Some(&cookie)).await);
        assert!(execution.contains(r#"data-type="ROLLBACK""#) && execution.contains(&target_link), "{execution}");
        // While the rollback runs Deploy, neither button is offered there, and a stale form's
        // post is refused by RollbackStage, which the page says.
        let view = text(&get(&plane, &auth, "/pipelines/gated", Some(&cookie)).await);
        assert!(!view.contains(r#"class="rollback""#) && !view.contains(r#"class="override""#), "{view}");
        let stale = post(&plane, &auth, "/pipelines/gated/rollback", &cookie, &format!("csrf={token}&{form}")).await;
        assert_eq!(stale.status, 303);
        assert!(
            header(&stale, "location").unwrap().starts_with("/pipelines/gated?error=ConflictException"),
            "{stale:?}"
        );
        plane.succeed_job("Ship").await;
        assert_eq!(plane.execution_status("gated", &rollback_id).await, "Succeeded");
        // Deploy now shows the rollback: the newest other success is the second execution.
        let view = text(&get(&plane, &auth, "/pipelines/gated", Some(&cookie)).await);
        assert!(view.contains(&format!(r#"<input type="hidden" name="target" value="{second}">"#)), "{view}");
    }

    /// A pipeline whose every piece of text from outside is hostile, taken through a source
    /// revision, an approval and a failure: every page shows that text, escaped.
    #[tokio::test]
    async fn every_page_escapes_hostile_text() {
        let plane = TestPlane::new();
        // Names take only [A-Za-z0-9.@_-]: the model's own limit, used to the full.
        let (pipeline, stage, action) = ("h@ck.e-r_1", "St@ge.1-_", "Ap.pr@ve-_");
        plane
            .ok(
                "CreatePipeline",
                json!({ "pipeline": {
                    "name": pipeline, "roleArn": "arn:aws:iam::111122223333:role/p",
                    "artifactStore": { "type": "S3", "location": "artifacts-bucket" }, "pipelineType": "V2",
                    "stages": [
                        { "name": "Source", "actions": [{ "name": "Src", "namespace": "SourceVariables",
                            "actionTypeId": { "category": "Source", "owner": "AWS", "provider": "S3", "version": "1" },
                            "configuration": { "S3Bucket": "uploads", "S3ObjectKey": "src.zip" },
                            "outputArtifacts": [{ "name": "Code" }] }] },
                        { "name": stage, "actions": [{ "name": action,
                            "actionTypeId": { "category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1" },
                            "configuration": { "CustomData": format!("{HOSTILE} #{{SourceVariables.VersionId}}"),
                                               "ExternalEntityLink": "javascript:alert(4)" } }] },
                        { "name": "Build", "actions": [{ "name": "Compile",
                            "actionTypeId": { "category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1" },
                            "commands": ["make"], "inputArtifacts": [{ "name": "Code" }] }],
                          // A failure condition whose rule fails with a hostile message.
                          "onFailure": { "result": "ROLLBACK", "conditions": [{ "rules": [{ "name": "Pr@be",
                            "ruleTypeId": { "category": "Rule", "owner": "AWS", "provider": "Commands", "version": "1" },
                            "commands": ["./probe"], "inputArtifacts": [{ "name": "Code" }] }] }] } } ] } }),
            )
            .await;
        let id = plane.created_execution(pipeline).await;
        // The commit message, the revision and an output variable are hostile.
        let source_job = plane.dispatches("Src")[0].job_id.clone();
        plane
            .ok(
                "PutJobSuccessResult",
                json!({ "jobId": source_job,
                        "currentRevision": { "revision": "<b>rev</b>", "changeIdentifier": "c", "revisionSummary": HOSTILE },
                        "outputVariables": { "VersionId": HOSTILE } }),
            )
            .await;
        let state = plane.ok("GetPipelineState", json!({ "name": pipeline })).await;
        let token =
            state["stageStates"][1]["actionStates"][0]["latestExecution"]["token"].as_str().unwrap().to_string();

        let auth = open();
        let cookie = {
            let list = get(&plane, &auth, "/", None).await;
            header(&list, "set-cookie").unwrap().split(';').next().unwrap().to_string()
        };
        let base = format!("/pipelines/{pipeline}");
        // While the approval waits: its comments, link and review page.
        let mut pages = vec![
            ("pipeline view, approval waiting", format!("{base}?fragment=1"), true),
            ("approval page", format!("{base}/approve/{stage}/{action}?token={token}"), true),
        ];
        let mut rendered = Vec::new();
        for (what, path, _) in &pages {
            rendered.push((what.to_string(), path.clone(), get(&plane, &auth, path, Some(&cookie)).await));
        }
        let waiting = text(&rendered[0].2);
        assert!(waiting.contains(r#"<span class="external-link">javascript:alert(4)</span>"#), "{waiting}");
        // The approval's summary is hostile; then the build fails with a hostile message, and
        // the transition into the build is disabled (its reason's pattern allows nothing hostile).
        plane
            .ok(
                "PutApprovalResult",
                json!({ "pipelineName": pipeline, "stageName": stage, "actionName": action, "token": token,
                        "result": { "status": "Approved", "summary": HOSTILE } }),
            )
            .await;
        let build_job = plane.dispatches("Compile")[0].job_id.clone();
        plane
            .ok(
                "PutJobFailureResult",
                json!({ "jobId": build_job, "failureDetails": { "type": "JobFailed", "message": HOSTILE } }),
            )
            .await;
        let probe_job = plane.dispatches("Pr@be")[0].job_id.clone();
        plane
            .ok(
                "PutJobFailureResult",
                json!({ "jobId": probe_job, "failureDetails": { "type": "JobFailed", "message": HOSTILE } }),
            )
            .await;
        plane
            .ok(
                "DisableStageTransition",
                json!({ "pipelineName": pipeline, "stageName": "Build", "transitionType": "Inbound", "reason": "Freeze (2 days)!" }),
            )
            .await;
        pages = vec![
            ("pipeline list", "/".to_string(), false),
            ("pipeline view", base.clone(), true),
            ("pipeline view, live part", format!("{base}?fragment=1"), true),
            (
                "pipeline view with an error",
                format!("{base}?error={}", pipewright_api::protocol::percent_encode(HOSTILE)),
                true,
            ),
            ("history", format!("{base}/executions"), true),
            ("execution", format!("{base}/executions/{id}"), true),
            ("approval page, answered", format!("{base}/approve/{stage}/{action}?token={token}"), false),
            (
                "approval page of a stage named in the URL",
                format!("{base}/approve/{}/x", pipewright_api::protocol::percent_encode(HOSTILE)),
                true,
            ),
        ];
        for (what, path, _) in &pages {
            rendered.push((what.to_string(), path.clone(), get(&plane, &auth, path, Some(&cookie)).await));
        }
        let shows_hostile_text = [true, true].into_iter().chain(pages.iter().map(|(_, _, shows)| *shows));
        for ((what, path, page), shows) in rendered.iter().zip(shows_hostile_text) {
            let body = text(page);
            assert_eq!(header(page, "content-type"), Some("text/html; charset=utf-8"), "{what}");
            assert_eq!(header(page, "x-content-type-options"), Some("nosniff"), "{what}");
            let lower = body.to_ascii_lowercase();
            let whole_page = !path.contains("fragment=1");
            assert_eq!(lower.matches("<script").count(), usize::from(whole_page), "{what}: only console.js: {body}");
            // No element, attribute or URL of the hostile text is live.
            for injected in ["<img", "<b>", "\"'>", "href=\"javascript:"] {
                assert!(!lower.contains(injected), "{what}: {injected} in {body}");
            }
            for control in ['\u{1b}', '\u{0}', '\u{202e}'] {
                assert!(!body.contains(control), "{what}: {control:?} in {body}");
            }
            if shows {
                assert!(
                    body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                    "{what} shows the text, escaped: {body}"
                );
                assert!(body.contains("\u{241b}[31m"), "{what} shows ESC as ␛: {body}");
            }
        }
        // Each piece of hostile text reached the page it belongs on.
        let view = text(&rendered[3].2);
        assert!(view.contains(r#"<p class="error">&lt;script&gt;"#), "the failure message: {view}");
        assert!(view.contains(r#"<p class="detail">&lt;script&gt;"#), "the approval summary: {view}");
        assert!(view.contains(r#"<span class="reason">Freeze (2 days)!</span>"#), "the transition's reason: {view}");
        assert!(
            view.contains(
                r#"<li class="rule" data-rule="Pr@be" data-status="Failed"><span class="rule-name">Pr@be</span>"#
            ),
            "the failure condition's rule: {view}"
        );
        assert!(view.contains(r#"<span class="detail"> &lt;script&gt;"#), "the rule's summary: {view}");
        assert!(
            view.contains(r#"<p class="detail">Rule Pr@be failed: &lt;script&gt;"#),
            "the condition's summary: {view}"
        );
        let history = text(&rendered[6].2);
        assert!(history.contains("Src: &lt;b&gt;rev&lt;/ &lt;script&gt;"), "the commit message: {history}");
        let execution = text(&rendered[7].2);
        assert!(execution.contains("VersionId = &lt;script&gt;"), "the output variable: {execution}");
        let approval = text(&rendered[1].2);
        assert!(approval.contains("<dt>Comments</dt><dd>&lt;script&gt;"), "the approval's comments: {approval}");
        assert!(approval.contains(r#"<span class="external-link">javascript:alert(4)</span>"#), "{approval}");
        // A log is plain text, never sniffed, run or framed, whatever it holds.
        let log = get(&plane, &auth, &format!("{base}/executions/{id}/logs/Build/Compile/1"), Some(&cookie)).await;
        assert_eq!(log.status, 200);
        assert!(text(&log).contains(HOSTILE));
        assert_eq!(header(&log, "content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(header(&log, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&log, "x-frame-options"), Some("DENY"));
        assert!(header(&log, "content-security-policy").is_some_and(|csp| csp.contains("default-src 'none'")));
    }
}

/// A job worker (a Lambda function an invoke action calls) is user code: its key reports
/// jobs, and can neither read the pipeline's state (where an approval's token is), approve
/// its own gate, nor change the pipeline. The full key can do all of it.
#[tokio::test]
async fn a_job_workers_key_reports_jobs_and_nothing_else() {
    let plane = TestPlane::new();
    let mut declaration = lambda_pipeline();
    declaration["stages"].as_array_mut().unwrap().push(json!({ "name": "Gate", "actions": [{ "name": "Approve",
        "actionTypeId": { "category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1" } }] }));
    plane.ok("CreatePipeline", json!({ "pipeline": declaration })).await;
    let mut ring = pipewright_api::KeyRing::from([("ADMIN".to_string(), "admin-secret-0123456789".to_string())]);
    ring.job_workers.insert("JOBS".to_string(), "jobs-secret-0123456789".to_string());
    let keys = Authenticator::Keys(ring);
    let (admin, jobs) = (("ADMIN", "admin-secret-0123456789"), ("JOBS", "jobs-secret-0123456789"));

    let source_job = plane.dispatches("Src")[0].job_id.clone();
    let (status, body) = plane.call_signed(&keys, jobs, "GetJobDetails", json!({ "jobId": source_job })).await;
    assert_eq!(status, 200, "{body}");
    let result = json!({ "jobId": source_job, "currentRevision": { "revision": "v-1", "changeIdentifier": "v-1" } });
    let (status, body) = plane.call_signed(&keys, jobs, "PutJobSuccessResult", result).await;
    assert_eq!(status, 200, "{body}");

    let refused = [
        ("GetPipelineState", json!({ "name": "jobs" })),
        ("GetPipeline", json!({ "name": "jobs" })),
        ("UpdatePipeline", json!({ "pipeline": lambda_pipeline() })),
        ("DeletePipeline", json!({ "name": "jobs" })),
        ("StartPipelineExecution", json!({ "name": "jobs" })),
        // Polling would hand out any waiting job of an action type, with its credentials.
        (
            "PollForJobs",
            json!({ "actionTypeId": { "category": "Build", "owner": "Custom", "provider": "X", "version": "1" } }),
        ),
        ("AcknowledgeJob", json!({ "jobId": source_job, "nonce": "1" })),
        (
            "PutApprovalResult",
            json!({ "pipelineName": "jobs", "stageName": "Gate", "actionName": "Approve",
            "result": { "summary": "self-approved", "status": "Approved" }, "token": "00000000-0000-4000-8000-000000000000" }),
        ),
    ];
    for (operation, input) in refused {
        let (status, body) = plane.call_signed(&keys, jobs, operation, input).await;
        assert_eq!((status, body["__type"].as_str()), (400, Some("AccessDeniedException")), "{operation}: {body}");
    }
    // The full key reads what the job worker's may not; a key nobody issued is refused.
    let (status, body) = plane.call_signed(&keys, admin, "GetPipelineState", json!({ "name": "jobs" })).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = plane.call_signed(&keys, ("JOBS", "wrong-secret-0123456789"), "GetJobDetails", json!({})).await;
    assert_eq!(status, 403);
}

/// A custom action's worker polls, and a poll hands out any waiting job of the type it names,
/// with write credentials for its outputs: it holds its action type's key, derived from the
/// API key, which polls, acknowledges, reads and reports jobs of that type and is refused
/// another type's jobs and every other operation.
#[tokio::test]
async fn an_action_types_key_works_on_jobs_of_that_type_only() {
    use pipewright_api::action_type_keys;
    use pipewright_core::declaration::ActionTypeId;
    let plane = TestPlane::new();
    let build_type =
        |provider: &str| json!({ "category": "Build", "owner": "Custom", "provider": provider, "version": "1" });
    for provider in ["Farm", "Other"] {
        plane
            .ok(
                "CreateCustomActionType",
                json!({ "category": "Build", "provider": provider, "version": "1",
                "inputArtifactDetails": { "minimumCount": 1, "maximumCount": 1 },
                "outputArtifactDetails": { "minimumCount": 0, "maximumCount": 0 } }),
            )
            .await;
    }
    let mut declaration = lambda_pipeline();
    let partner_type = json!({ "category": "Build", "owner": "ThirdParty", "provider": "Partner", "version": "1" });
    let mut actions: Vec<Value> = ["Farm", "Other"]
        .map(|provider| {
            json!({ "name": provider, "actionTypeId": build_type(provider), "inputArtifacts": [{ "name": "Code" }] })
        })
        .into();
    actions.push(json!({ "name": "Partner", "actionTypeId": partner_type, "inputArtifacts": [{ "name": "Code" }] }));
    declaration["stages"][1] = json!({ "name": "Build", "actions": actions });
    declaration["stages"].as_array_mut().unwrap().truncate(2);
    plane.ok("CreatePipeline", json!({ "pipeline": declaration })).await;
    let source_job = plane.dispatches("Src")[0].job_id.clone();
    let revision = json!({ "jobId": source_job, "currentRevision": { "revision": "v-1", "changeIdentifier": "v-1" } });
    plane.ok("PutJobSuccessResult", revision).await;

    let api_secret = "admin-secret-0123456789";
    let keys = Authenticator::Keys(pipewright_api::KeyRing::of_api_key("ADMIN".into(), api_secret.into()));
    let farm: ActionTypeId = serde_json::from_value(build_type("Farm")).unwrap();
    let farm_key = action_type_keys::key_id(&farm);
    let farm_secret = action_type_keys::secret(api_secret, &farm_key);
    let worker = (farm_key.as_str(), farm_secret.as_str());
    let (status, polled) =
        plane.call_signed(&keys, worker, "PollForJobs", json!({ "actionTypeId": build_type("Farm") })).await;
    assert_eq!(status, 200, "{polled}");
    let job = polled["jobs"][0].clone();
    assert_eq!(job["data"]["pipelineContext"]["action"]["name"], "Farm", "{polled}");
    let theirs = plane.ok("PollForJobs", json!({ "actionTypeId": build_type("Other") })).await["jobs"][0].clone();
    assert_eq!(theirs["data"]["pipelineContext"]["action"]["name"], "Other", "{theirs}");

    let other_partner = json!({ "category": "Deploy", "owner": "ThirdParty", "provider": "Partner", "version": "1" });
    let refused = [
        ("PollForJobs", json!({ "actionTypeId": build_type("Other") })),
        ("AcknowledgeJob", json!({ "jobId": theirs["id"], "nonce": theirs["nonce"] })),
        ("GetJobDetails", json!({ "jobId": theirs["id"] })),
        ("PutJobSuccessResult", json!({ "jobId": theirs["id"] })),
        (
            "PutJobFailureResult",
            json!({ "jobId": theirs["id"], "failureDetails": { "type": "JobFailed", "message": "x" } }),
        ),
        ("PollForThirdPartyJobs", json!({ "actionTypeId": other_partner })),
        ("GetPipelineState", json!({ "name": "jobs" })),
        ("ListPipelines", json!({})),
        (
            "CreateCustomActionType",
            json!({ "category": "Build", "provider": "Farm", "version": "2",
            "inputArtifactDetails": { "minimumCount": 0, "maximumCount": 1 },
            "outputArtifactDetails": { "minimumCount": 0, "maximumCount": 1 } }),
        ),
    ];
    for (operation, input) in refused {
        let (status, body) = plane.call_signed(&keys, worker, operation, input).await;
        assert_eq!((status, body["__type"].as_str()), (400, Some("AccessDeniedException")), "{operation}: {body}");
    }
    let (status, body) =
        plane.call_signed(&keys, worker, "AcknowledgeJob", json!({ "jobId": job["id"], "nonce": job["nonce"] })).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = plane.call_signed(&keys, worker, "GetJobDetails", json!({ "jobId": job["id"] })).await;
    assert_eq!((status, &body["jobDetails"]["id"]), (200, &job["id"]), "{body}");
    let (status, body) = plane.call_signed(&keys, worker, "PutJobSuccessResult", json!({ "jobId": job["id"] })).await;
    assert_eq!(status, 200, "{body}");

    // A partner type's key works through the partner operations, where its client token is
    // asked for, and not through GetJobDetails and the rest, which would skip it; another
    // type's key is refused there before anything of the job is told.
    let partner: ActionTypeId = serde_json::from_value(partner_type.clone()).unwrap();
    let partner_key = action_type_keys::key_id(&partner);
    let partner_secret = action_type_keys::secret(api_secret, &partner_key);
    let partner_worker = (partner_key.as_str(), partner_secret.as_str());
    let (status, polled) = plane
        .call_signed(&keys, partner_worker, "PollForThirdPartyJobs", json!({ "actionTypeId": partner_type }))
        .await;
    assert_eq!(status, 200, "{polled}");
    let partner_job = polled["jobs"][0]["jobId"].clone();
    let token = json!("the-partners-token");
    let details = json!({ "jobId": partner_job, "clientToken": token });
    for (caller, operation, input) in [
        (partner_worker, "GetJobDetails", json!({ "jobId": partner_job })),
        (partner_worker, "PutJobSuccessResult", json!({ "jobId": partner_job })),
        (worker, "GetThirdPartyJobDetails", details.clone()),
        (worker, "GetThirdPartyJobDetails", json!({ "jobId": theirs["id"], "clientToken": token })),
    ] {
        let (status, body) = plane.call_signed(&keys, caller, operation, input).await;
        assert_eq!((status, body["__type"].as_str()), (400, Some("AccessDeniedException")), "{operation}: {body}");
        assert!(!body["message"].as_str().unwrap().contains("Other"), "the job's type is not told: {body}");
    }
    let (status, body) = plane.call_signed(&keys, partner_worker, "GetThirdPartyJobDetails", details).await;
    assert_eq!(status, 200, "{body}");
    let nonce = body["jobDetails"]["nonce"].clone();
    let acknowledged = json!({ "jobId": partner_job, "nonce": nonce, "clientToken": token });
    let (status, body) = plane.call_signed(&keys, partner_worker, "AcknowledgeThirdPartyJob", acknowledged).await;
    assert_eq!(status, 200, "{body}");
    let result = json!({ "jobId": partner_job, "clientToken": token });
    let (status, body) = plane.call_signed(&keys, partner_worker, "PutThirdPartyJobSuccessResult", result).await;
    assert_eq!(status, 200, "{body}");

    // A key made from another API key, or taken by a server without its API key, is not one.
    let forged = action_type_keys::secret("another-secret-0123456789", &farm_key);
    let (status, _) = plane.call_signed(&keys, (&farm_key, &forged), "PollForJobs", json!({})).await;
    assert_eq!(status, 403);
    let without = Authenticator::Keys(pipewright_api::KeyRing::from([("ADMIN".to_string(), api_secret.to_string())]));
    let (status, _) = plane.call_signed(&without, worker, "PollForJobs", json!({})).await;
    assert_eq!(status, 403);
}

fn github_pipeline(name: &str) -> Value {
    json!({
        "name": name,
        "roleArn": "arn:aws:iam::111122223333:role/pipewright",
        "artifactStore": { "type": "S3", "location": "artifacts-bucket" },
        "stages": [
            { "name": "Source", "actions": [{
                "name": "Src",
                "actionTypeId": { "category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1" },
                "configuration": { "Owner": "octo", "Repo": "app", "Branch": "main", "OAuthToken": "gh-token", "PollForSourceChanges": "false" },
                "outputArtifacts": [{ "name": "Code" }] }] },
            { "name": "Gate", "actions": [{
                "name": "Approve",
                "actionTypeId": { "category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1" } }] }
        ]
    })
}

fn webhook(name: &str, pipeline: &str) -> Value {
    json!({
        "name": name, "targetPipeline": pipeline, "targetAction": "Src",
        "filters": [{ "jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}" }],
        "authentication": "GITHUB_HMAC",
        "authenticationConfiguration": { "SecretToken": "s3cret" }
    })
}

#[tokio::test]
async fn webhooks_are_put_listed_paged_and_deleted_with_botocores_errors() {
    let plane = TestPlane::new();
    plane.ok("CreatePipeline", json!({ "pipeline": github_pipeline("app") })).await;
    let put = plane
        .ok("PutWebhook", json!({ "webhook": webhook("app-push", "app"), "tags": [{"key": "team", "value": "web"}] }))
        .await;
    let item = &put["webhook"];
    assert_eq!(item["arn"], "arn:aws:codepipeline:us-east-1:111122223333:webhook:app-push");
    assert_eq!(item["definition"]["authenticationConfiguration"]["SecretToken"], "****", "the secret is redacted");
    assert_eq!(item["definition"]["filters"][0]["matchEquals"], "refs/heads/{Branch}");
    assert_eq!(item["tags"], json!([{"key": "team", "value": "web"}]));
    let url = item["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("webhooks/codepipeline/app-push?t="), "{url}");

    // An update keeps the URL; deleting and creating again gives a new one.
    let mut changed = webhook("app-push", "app");
    changed["filters"] = json!([]);
    let updated = plane.ok("PutWebhook", json!({ "webhook": changed })).await;
    assert_eq!(updated["webhook"]["url"], url);
    assert_eq!(updated["webhook"]["definition"]["filters"], json!([]));
    assert_eq!(updated["webhook"]["tags"], json!([{"key": "team", "value": "web"}]), "tags stay");

    let refusals = [
        (json!({ "webhook": webhook("w", "missing") }), "PipelineNotFoundException"),
        (json!({}), "ValidationException"),
        (json!({ "webhook": { "name": "w" } }), "ValidationException"),
        (json!({ "webhook": webhook("bad name", "app") }), "ValidationException"),
        (json!({ "webhook": webhook("w", "app"), "tags": [{"key": "aws:x", "value": "y"}] }), "InvalidTagsException"),
        (
            json!({ "webhook": webhook("w", "app"), "tags": (0..51).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect::<Vec<_>>() }),
            "TooManyTagsException",
        ),
    ];
    for (input, expected) in refusals {
        assert_eq!(plane.error("PutWebhook", input.clone()).await, expected, "{input}");
    }
    let mut ip_without_range = webhook("w", "app");
    ip_without_range["authentication"] = json!("IP");
    assert_eq!(
        plane.error("PutWebhook", json!({ "webhook": ip_without_range })).await,
        "InvalidWebhookAuthenticationParametersException"
    );
    let mut bad_path = webhook("w", "app");
    bad_path["filters"][0]["jsonPath"] = json!("$..ref");
    assert_eq!(plane.error("PutWebhook", json!({ "webhook": bad_path })).await, "InvalidWebhookFilterPatternException");
    let mut wrong_action = webhook("w", "app");
    wrong_action["targetAction"] = json!("Approve");
    assert_eq!(plane.error("PutWebhook", json!({ "webhook": wrong_action })).await, "ValidationException");

    for name in ["b-hook", "c-hook"] {
        plane.ok("PutWebhook", json!({ "webhook": webhook(name, "app") })).await;
    }
    let first = plane.ok("ListWebhooks", json!({ "MaxResults": 2 })).await;
    let names = |page: &Value| -> Vec<String> {
        page["webhooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["definition"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&first), ["app-push", "b-hook"]);
    let token = first["NextToken"].as_str().unwrap();
    let second = plane.ok("ListWebhooks", json!({ "NextToken": token, "MaxResults": 2 })).await;
    assert_eq!(names(&second), ["c-hook"]);
    assert!(second.get("NextToken").is_none());
    assert_eq!(plane.error("ListWebhooks", json!({ "NextToken": "bogus" })).await, "InvalidNextTokenException");
    assert_eq!(plane.error("ListWebhooks", json!({ "MaxResults": 101 })).await, "ValidationException");

    // Registering needs the webhook, a GitHub target, and a deployment that reaches GitHub.
    assert_eq!(
        plane.error("RegisterWebhookWithThirdParty", json!({ "webhookName": "nope" })).await,
        "WebhookNotFoundException"
    );
    assert_eq!(
        plane.error("DeregisterWebhookWithThirdParty", json!({ "webhookName": "nope" })).await,
        "WebhookNotFoundException"
    );
    let (status, body) = plane.call("RegisterWebhookWithThirdParty", json!({ "webhookName": "app-push" })).await;
    assert_eq!((status, body["__type"].as_str()), (400, Some("ValidationException")));
    assert!(body["message"].as_str().unwrap().contains("octo/app"), "{body}");

    plane.ok("DeleteWebhook", json!({ "name": "app-push" })).await;
    plane.ok("DeleteWebhook", json!({ "name": "app-push" })).await; // already deleted: still a success
    let recreated = plane.ok("PutWebhook", json!({ "webhook": webhook("app-push", "app") })).await;
    assert_ne!(recreated["webhook"]["url"], url, "a re-created webhook has a new URL");
    assert_eq!(names(&plane.ok("ListWebhooks", json!({})).await), ["app-push", "b-hook", "c-hook"]);
}

/// A pipeline reading octo/app on main through a connection, needing the variable `Stage`
/// when `with_variable`.
fn connection_pipeline(name: &str, with_variable: bool) -> Value {
    let mut declaration = declaration(name);
    declaration["stages"][0]["actions"][0] = json!({"name": "App",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
        "configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1:111122223333:connection/c1",
                          "FullRepositoryId": "octo/app", "BranchName": "main"},
        "outputArtifacts": [{"name": "Code"}]});
    if with_variable {
        declaration["variables"] = json!([{"name": "Stage"}]);
    }
    declaration
}

/// A git source's revision is a commit id: anything else is refused, naming the field the
/// operation has.
#[tokio::test]
async fn a_git_sources_action_revision_is_a_commit_id() {
    let plane = TestPlane::new();
    plane.ok("CreatePipeline", json!({"pipeline": connection_pipeline("app", false)})).await;
    let revision = |id: &str| {
        json!({"pipelineName": "app", "stageName": "Source", "actionName": "App",
               "actionRevision": {"revisionId": id, "revisionChangeId": "c", "created": 1}})
    };
    let (status, body) = plane.call("PutActionRevision", revision("--upload-pack=touch /tmp/x")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("actionRevision.revisionId:"), "{body}");
    plane.ok("PutActionRevision", revision("0123456789abcdef0123456789abcdef01234567")).await;
}

/// A GitHub push to main of octo/app, signed with `secret`: its headers and body.
fn signed_push(secret: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
    use pipewright_core::webhooks::{GitHost, signature};
    let body = json!({"ref": "refs/heads/main", "after": "c0ffee", "repository": {"full_name": "octo/app"}})
        .to_string()
        .into_bytes();
    let headers = vec![
        ("X-GitHub-Event".to_string(), "push".to_string()),
        ("X-GitHub-Delivery".to_string(), "d-1".to_string()),
        signature::sign(GitHost::GitHub, secret, &body),
    ];
    (headers, body)
}

async fn webhook_executions(plane: &TestPlane, pipeline: &str) -> usize {
    let listed = plane.ok("ListPipelineExecutions", json!({"pipelineName": pipeline})).await;
    let summaries = listed["pipelineExecutionSummaries"].as_array().unwrap();
    summaries.iter().filter(|s| s["trigger"]["triggerType"] == "WebhookV2").count()
}

#[tokio::test]
async fn a_repository_delivery_is_refused_or_started_once() {
    use pipewright_api::repository_webhooks::{MAX_DELIVERY_BYTES, deliver};
    use pipewright_api::webhook_delivery::Refused;
    use pipewright_core::webhooks::GitHost;
    let plane = TestPlane::new();
    plane.ok("CreatePipeline", json!({"pipeline": connection_pipeline("app", false)})).await;
    let (headers, body) = signed_push(b"s3cret");
    let missing = Err(Refused { status: 503, message: "no secret".into() });
    assert_eq!(deliver(&plane, GitHost::GitHub, missing, &headers, &body).await.0, 503);
    let (status, answer) = deliver(&plane, GitHost::GitHub, Ok(b"other"), &headers, &body).await;
    assert_eq!(status, 401, "{answer}");
    let huge = vec![b' '; MAX_DELIVERY_BYTES + 1];
    assert_eq!(deliver(&plane, GitHost::GitHub, Ok(b"s3cret"), &headers, &huge).await.0, 413);
    // GitHub's default content type, a form, is not the JSON a delivery must be.
    let form = b"payload=%7B%7D".to_vec();
    let (mut form_headers, _) = signed_push(b"s3cret");
    form_headers[2] = pipewright_core::webhooks::signature::sign(GitHost::GitHub, b"s3cret", &form);
    let (status, answer) = deliver(&plane, GitHost::GitHub, Ok(b"s3cret"), &form_headers, &form).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(webhook_executions(&plane, "app").await, 0, "a refused delivery starts nothing");

    let (status, answer) = deliver(&plane, GitHost::GitHub, Ok(b"s3cret"), &headers, &body).await;
    assert_eq!((status, answer["started"][0]["new"].as_bool()), (202, Some(true)), "{answer}");
    let (_, again) = deliver(&plane, GitHost::GitHub, Ok(b"s3cret"), &headers, &body).await;
    assert_eq!(again["started"][0]["new"], false, "{again}");
    assert_eq!(again["started"][0]["executionId"], answer["started"][0]["executionId"]);
    assert_eq!(webhook_executions(&plane, "app").await, 1);
}

#[tokio::test]
async fn a_start_the_engine_refuses_is_reported_for_its_pipeline() {
    use pipewright_core::webhooks::GitHost;
    let plane = TestPlane::new();
    // CreatePipeline's own first execution is refused the same way, and the pipeline stays.
    plane.ok("CreatePipeline", json!({"pipeline": connection_pipeline("needs-stage", true)})).await;
    let (headers, body) = signed_push(b"s3cret");
    let (status, answer) =
        pipewright_api::repository_webhooks::deliver(&plane, GitHost::GitHub, Ok(b"s3cret"), &headers, &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["started"], json!([]));
    let entry = &answer["events"][0]["pipelines"][0];
    assert!(entry["error"].as_str().is_some_and(|e| e.contains("Stage")), "{answer}");
    assert!(entry.get("executionId").is_none(), "{answer}");
}
