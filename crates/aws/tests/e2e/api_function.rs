//! The api function's handler behind a local HTTP server (standing in for its Function URL),
//! driven by the real aws-sdk-codepipeline with SigV4 signing, over the stand-in stack in
//! moto: create a pipeline, start it, approve through PutApprovalResult with the token of
//! GetPipelineState, and see it succeed, its effects carried out by the functions.

use crate::common;

use std::sync::Arc;

use aws_sdk_codepipeline::config::{Credentials, Region};
use aws_sdk_codepipeline::error::ProvideErrorMetadata;
use aws_sdk_codepipeline::types::{
    ActionCategory, ActionOwner, ActionTypeId, ApprovalResult, ApprovalStatus, ArtifactDetails, StageRetryMode,
    StageTransitionType,
};
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};

use pipewright_api::protocol::header_pairs;
use pipewright_api::{Authenticator, HttpRequest};
use pipewright_aws::handlers::api;
use pipewright_aws::settings::{Services, api_key_ring, api_keys};
use pipewright_aws::webhook_secret::WebhookSecret;

use common::*;

struct Served {
    services: Arc<Services>,
    authenticator: Authenticator,
    webhook_secret: WebhookSecret,
}

async fn forward(
    State(served): State<Arc<Served>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = to_bytes(body, 2 * 1024 * 1024).await.unwrap_or_default();
    let mut headers = header_pairs(&headers);
    // What a Function URL adds (it says https there; this stand-in is plain HTTP).
    headers.push(("x-forwarded-proto".to_string(), "http".to_string()));
    let request = HttpRequest::from_parts(&method, &uri, &headers, &body);
    // As the function's main routes them: a webhook delivery, or the API.
    if let Some((status, answer)) = api::webhook(&served.services, &served.webhook_secret, &request, None).await {
        return (axum::http::StatusCode::from_u16(status).unwrap(), answer.to_string()).into_response();
    }
    let response = api::request(&served.services, &served.authenticator, request).await;
    (
        axum::http::StatusCode::from_u16(response.status).unwrap(),
        [("content-type", "application/x-amz-json-1.1")],
        response.body_bytes(),
    )
        .into_response()
}

/// The api function's keys, as it reads them at init: the full key and the job workers'.
async fn stack_keys(stack: &Stack) -> (String, String, Authenticator) {
    let (full, _) = secret_text(stack, &stack.stack.api_keys_arn).await;
    let (job_workers, _) = secret_text(stack, &stack.stack.job_worker_key_arn).await;
    let value: serde_json::Value = serde_json::from_str(&full).unwrap();
    let authenticator = api_key_ring(&full, Some(&job_workers)).expect("the stack's API keys parse");
    (value["accessKeyId"].as_str().unwrap().into(), value["secretAccessKey"].as_str().unwrap().into(), authenticator)
}

/// A secret's text, and the access key it holds.
async fn secret_text(stack: &Stack, arn: &str) -> (String, (String, String)) {
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.sdk);
    let text = secrets.get_secret_value().secret_id(arn).send().await.unwrap().secret_string().unwrap().to_string();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let key =
        (value["accessKeyId"].as_str().unwrap().to_string(), value["secretAccessKey"].as_str().unwrap().to_string());
    (text, key)
}

async fn serve(stack: &Stack, authenticator: Authenticator) -> String {
    let webhook_secret = WebhookSecret::new(stack.services.secrets.clone(), None);
    let served = Arc::new(Served { services: stack.services.clone(), authenticator, webhook_secret });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(forward).with_state(served);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

fn client(endpoint: &str, key: &str, secret: &str) -> aws_sdk_codepipeline::Client {
    let config = aws_sdk_codepipeline::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .build();
    aws_sdk_codepipeline::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rust_sdk_drives_a_pipeline_through_the_api_function() {
    let stack = stack().await;
    let (key, secret, authenticator) = stack_keys(&stack).await;
    let endpoint = serve(&stack, authenticator).await;
    let codepipeline = client(&endpoint, &key, &secret);

    let declaration = site_pipeline(&stack, "through-api", "SUPERSEDED", true);
    let input = sdk_declaration(&declaration);
    stack.upload_source("site.zip", &[("index.html", "<p>via the API</p>")]).await;
    // CreatePipeline starts the first execution, as CodePipeline does: the one followed here.
    let created = codepipeline.create_pipeline().pipeline(input).send().await.expect("CreatePipeline");
    assert_eq!(created.pipeline().unwrap().version(), Some(1));
    let listed = codepipeline.list_pipelines().send().await.unwrap();
    assert_eq!(listed.pipelines()[0].name(), Some("through-api"));

    let history = codepipeline.list_pipeline_executions().pipeline_name("through-api").send().await.unwrap();
    let first = &history.pipeline_execution_summaries()[0];
    assert_eq!(first.trigger().and_then(|t| t.trigger_type()).map(|t| t.as_str()), Some("CreatePipeline"));
    let execution_id = first.pipeline_execution_id().unwrap().to_string();

    // The functions carry the execution to the approval.
    stack
        .router
        .run_until(400, || async {
            let state = codepipeline.get_pipeline_state().name("through-api").send().await.unwrap();
            state.stage_states().iter().any(|s| {
                s.stage_name() == Some("Gate")
                    && s.action_states()[0].latest_execution().and_then(|e| e.token()).is_some()
            })
        })
        .await
        .expect("the approval waits");
    let state = codepipeline.get_pipeline_state().name("through-api").send().await.unwrap();
    let gate = state.stage_states().iter().find(|s| s.stage_name() == Some("Gate")).unwrap();
    let token = gate.action_states()[0].latest_execution().unwrap().token().unwrap().to_string();

    // A job worker's key (user code holds it) may not read the state nor approve the gate.
    let (_, (job_key, job_secret)) = secret_text(&stack, &stack.stack.job_worker_key_arn).await;
    let worker = client(&endpoint, &job_key, &job_secret);
    let denied = worker.get_pipeline_state().name("through-api").send().await.unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"), "{denied:?}");
    let denied = worker
        .put_approval_result()
        .pipeline_name("through-api")
        .stage_name("Gate")
        .action_name("Approve")
        .token(&token)
        .result(ApprovalResult::builder().summary("self-approved").status(ApprovalStatus::Approved).build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"), "{denied:?}");
    let unknown = worker.get_job_details().job_id("00000000-0000-4000-8000-000000000000").send().await.unwrap_err();
    assert_eq!(unknown.code(), Some("JobNotFoundException"), "the job protocol is open to it: {unknown:?}");

    // A custom action's workers sign with their type's key, made from the stack's API key
    // (`pipewright worker-key`): it polls that type, and nothing else.
    let build_type = |provider: &str| {
        let id = ActionTypeId::builder().category(ActionCategory::Build).owner(ActionOwner::Custom);
        id.provider(provider).version("1").build().unwrap()
    };
    let details = ArtifactDetails::builder().minimum_count(0).maximum_count(1).build();
    let created = codepipeline
        .create_custom_action_type()
        .category(ActionCategory::Build)
        .provider("Farm")
        .version("1")
        .input_artifact_details(details.clone())
        .output_artifact_details(details)
        .send()
        .await;
    created.expect("CreateCustomActionType");
    let farm_type: pipewright_core::declaration::ActionTypeId = serde_json::from_value(
        serde_json::json!({"category": "Build", "owner": "Custom", "provider": "Farm", "version": "1"}),
    )
    .unwrap();
    let farm_key = pipewright_api::action_type_keys::key_id(&farm_type);
    let farm_worker = client(&endpoint, &farm_key, &pipewright_api::action_type_keys::secret(&secret, &farm_key));
    let polled = farm_worker.poll_for_jobs().action_type_id(build_type("Farm")).send().await.expect("its own type");
    assert!(polled.jobs().is_empty(), "{polled:?}");
    let denied = farm_worker.poll_for_jobs().action_type_id(build_type("Other")).send().await.unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"), "{denied:?}");
    let denied = farm_worker.get_pipeline_state().name("through-api").send().await.unwrap_err();
    assert_eq!(denied.code(), Some("AccessDeniedException"), "{denied:?}");

    let wrong = codepipeline
        .put_approval_result()
        .pipeline_name("through-api")
        .stage_name("Gate")
        .action_name("Approve")
        .token("00000000-0000-4000-8000-000000000000")
        .result(ApprovalResult::builder().summary("forged").status(ApprovalStatus::Approved).build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Some("InvalidApprovalTokenException"));
    codepipeline
        .put_approval_result()
        .pipeline_name("through-api")
        .stage_name("Gate")
        .action_name("Approve")
        .token(&token)
        .result(ApprovalResult::builder().summary("Ship it").status(ApprovalStatus::Approved).build().unwrap())
        .send()
        .await
        .expect("PutApprovalResult");
    assert_eq!(stack.run_to_end(&execution_id).await, pipewright_core::engine::ExecutionStatus::Succeeded);
    let history = codepipeline.list_pipeline_executions().pipeline_name("through-api").send().await.unwrap();
    let summary = &history.pipeline_execution_summaries()[0];
    assert_eq!(summary.pipeline_execution_id(), Some(execution_id.as_str()));
    assert_eq!(summary.status().map(|s| s.as_str()), Some("Succeeded"));
    assert!(stack.objects(&stack.deploy_bucket).await.contains_key("live/dist/index.html"), "deployed");

    // A succeeded stage is not retryable; a job that finished takes no result; an unknown
    // job does not exist.
    let retry = codepipeline
        .retry_stage_execution()
        .pipeline_name("through-api")
        .stage_name("Build")
        .pipeline_execution_id(&execution_id)
        .retry_mode(StageRetryMode::FailedActions)
        .send()
        .await
        .unwrap_err();
    assert_eq!(retry.code(), Some("StageNotRetryableException"));
    let execution = stack.execution(&execution_id).await;
    let finished_job = execution.stages[0].actions[0].attempts[0].job.as_ref().unwrap().id.clone();
    let late = codepipeline.put_job_success_result().job_id(&finished_job).send().await.unwrap_err();
    assert_eq!(late.code(), Some("InvalidJobStateException"), "{late:?}");
    let unknown =
        codepipeline.get_job_details().job_id("00000000-0000-4000-8000-000000000000").send().await.unwrap_err();
    assert_eq!(unknown.code(), Some("JobNotFoundException"));

    // Transitions through the SDK's enum.
    codepipeline
        .disable_stage_transition()
        .pipeline_name("through-api")
        .stage_name("Deploy")
        .transition_type(StageTransitionType::Inbound)
        .reason("Freeze")
        .send()
        .await
        .unwrap();
    let state = codepipeline.get_pipeline_state().name("through-api").send().await.unwrap();
    let deploy = state.stage_states().iter().find(|s| s.stage_name() == Some("Deploy")).unwrap();
    assert!(!deploy.inbound_transition_state().unwrap().enabled());
}

/// PutWebhook through the api function answers a URL under the function's own; a delivery
/// signed with the webhook's secret and passing its filter starts the pipeline with trigger
/// `Webhook` (once per delivery id); a wrong signature or a filtered-out branch starts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_put_through_the_api_function_starts_its_pipeline() {
    let stack = stack().await;
    let (key, secret, authenticator) = stack_keys(&stack).await;
    let endpoint = serve(&stack, authenticator).await;
    let codepipeline = client(&endpoint, &key, &secret);
    let declaration = site_pipeline(&stack, "hooked", "QUEUED", false);
    codepipeline.create_pipeline().pipeline(sdk_declaration(&declaration)).send().await.expect("CreatePipeline");
    let webhook = aws_sdk_codepipeline::types::WebhookDefinition::builder()
        .name("hooked-main")
        .target_pipeline("hooked")
        .target_action("Bundle")
        .filters(
            aws_sdk_codepipeline::types::WebhookFilterRule::builder()
                .json_path("$.ref")
                .match_equals("refs/heads/main")
                .build()
                .unwrap(),
        )
        .authentication(aws_sdk_codepipeline::types::WebhookAuthenticationType::GithubHmac)
        .authentication_configuration(
            aws_sdk_codepipeline::types::WebhookAuthConfiguration::builder().secret_token("hook-secret").build(),
        )
        .build()
        .unwrap();
    let put = codepipeline.put_webhook().webhook(webhook).send().await.expect("PutWebhook");
    let url = put.webhook().unwrap().url().to_string();
    assert!(url.starts_with(&format!("{endpoint}/webhooks/codepipeline/hooked-main?t=")), "{url}");

    let deliver = |body: &str, key: &[u8], delivery: &str| {
        let signature = format!("sha256={}", hex::encode(pipewright_core::mac::hmac_sha256(key, body.as_bytes())));
        let request = pipewright_http::Request::new("POST", &url)
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", &signature)
            .body(body.to_string());
        async move { pipewright_http::send(request).await.unwrap() }
    };
    let triggered =
        |history: &aws_sdk_codepipeline::operation::list_pipeline_executions::ListPipelineExecutionsOutput| {
            history
                .pipeline_execution_summaries()
                .iter()
                .filter(|s| s.trigger().and_then(|t| t.trigger_type()).map(|t| t.as_str()) == Some("Webhook"))
                .count()
        };
    let push = r#"{"ref": "refs/heads/main", "after": "0123456789abcdef0123456789abcdef01234567"}"#;
    let forged = deliver(push, b"not-the-secret", "d-1").await;
    assert_eq!(forged.status, 401, "{}", forged.text());
    let other_branch = deliver(r#"{"ref": "refs/heads/dev"}"#, b"hook-secret", "d-2").await;
    assert_eq!(other_branch.status, 202, "{}", other_branch.text());
    assert!(other_branch.text().contains("nothing started"), "{}", other_branch.text());
    let history = codepipeline.list_pipeline_executions().pipeline_name("hooked").send().await.unwrap();
    assert_eq!(triggered(&history), 0, "neither a forged nor a filtered delivery starts anything");

    let started = deliver(push, b"hook-secret", "d-3").await;
    assert_eq!(started.status, 202, "{}", started.text());
    let answer: serde_json::Value = serde_json::from_slice(&started.body).unwrap();
    assert_eq!(answer["started"][0]["new"], true, "{answer}");
    let again = deliver(push, b"hook-secret", "d-3").await;
    let repeated: serde_json::Value = serde_json::from_slice(&again.body).unwrap();
    assert_eq!(repeated["started"][0]["executionId"], answer["started"][0]["executionId"], "{repeated}");
    assert_eq!(repeated["started"][0]["new"], false, "a redelivery starts nothing new");
    let history = codepipeline.list_pipeline_executions().pipeline_name("hooked").send().await.unwrap();
    assert_eq!(triggered(&history), 1, "one execution per delivery id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_function_refuses_what_is_not_signed_with_the_stacks_key() {
    let stack = stack().await;
    let (key, secret, authenticator) = stack_keys(&stack).await;
    let endpoint = serve(&stack, authenticator).await;
    let wrong_secret = client(&endpoint, &key, "not-the-secret").list_pipelines().send().await.unwrap_err();
    assert_eq!(wrong_secret.code(), Some("InvalidSignatureException"));
    let wrong_key = client(&endpoint, "AKIDSOMEONE", &secret).list_pipelines().send().await.unwrap_err();
    assert_eq!(wrong_key.code(), Some("UnrecognizedClientException"));
    // An unsigned POST, as anybody on the internet could send to a Function URL.
    let unsigned = pipewright_http::send(
        pipewright_http::Request::new("POST", &format!("{endpoint}/"))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "CodePipeline_20150709.DeletePipeline")
            .body(r#"{"name":"x"}"#),
    )
    .await
    .unwrap();
    assert_eq!(unsigned.status, 403);
    assert!(unsigned.text().contains("MissingAuthenticationTokenException"), "{}", unsigned.text());
    assert!(client(&endpoint, &key, &secret).list_pipelines().send().await.is_ok());
    assert!(api_keys(r#"{"accessKeyId": "k"}"#).is_err(), "a secret without a secretAccessKey is refused");
}

/// A stage of CodePipeline's JSON as the SDK's type.
/// The SDK's own shape of a declaration, built from CodePipeline's JSON through its builder API.
fn sdk_declaration(declaration: &serde_json::Value) -> aws_sdk_codepipeline::types::PipelineDeclaration {
    let mut builder = aws_sdk_codepipeline::types::PipelineDeclaration::builder()
        .name(declaration["name"].as_str().unwrap())
        .role_arn(declaration["roleArn"].as_str().unwrap())
        .pipeline_type(aws_sdk_codepipeline::types::PipelineType::V2)
        .execution_mode(aws_sdk_codepipeline::types::ExecutionMode::from(
            declaration["executionMode"].as_str().unwrap(),
        ))
        .artifact_store(
            aws_sdk_codepipeline::types::ArtifactStore::builder()
                .r#type(aws_sdk_codepipeline::types::ArtifactStoreType::S3)
                .location(declaration["artifactStore"]["location"].as_str().unwrap())
                .build()
                .unwrap(),
        );
    for stage in declaration["stages"].as_array().unwrap() {
        builder = builder.stages(stage_of(stage));
    }
    builder.build().unwrap()
}

fn stage_of(stage: &serde_json::Value) -> aws_sdk_codepipeline::types::StageDeclaration {
    use aws_sdk_codepipeline::types::{
        ActionCategory, ActionDeclaration, ActionOwner, ActionTypeId, InputArtifact, OutputArtifact, StageDeclaration,
    };
    let mut builder = StageDeclaration::builder().name(stage["name"].as_str().unwrap());
    for action in stage["actions"].as_array().unwrap() {
        let type_id = &action["actionTypeId"];
        let mut a = ActionDeclaration::builder().name(action["name"].as_str().unwrap()).action_type_id(
            ActionTypeId::builder()
                .category(ActionCategory::from(type_id["category"].as_str().unwrap()))
                .owner(ActionOwner::from(type_id["owner"].as_str().unwrap()))
                .provider(type_id["provider"].as_str().unwrap())
                .version(type_id["version"].as_str().unwrap())
                .build()
                .unwrap(),
        );
        if let Some(n) = action["runOrder"].as_i64() {
            a = a.run_order(n as i32);
        }
        if let Some(ns) = action["namespace"].as_str() {
            a = a.namespace(ns);
        }
        for (k, v) in action["configuration"].as_object().into_iter().flatten() {
            a = a.configuration(k, v.as_str().unwrap());
        }
        for c in action["commands"].as_array().into_iter().flatten() {
            a = a.commands(c.as_str().unwrap());
        }
        for i in action["inputArtifacts"].as_array().into_iter().flatten() {
            a = a.input_artifacts(InputArtifact::builder().name(i["name"].as_str().unwrap()).build().unwrap());
        }
        for o in action["outputArtifacts"].as_array().into_iter().flatten() {
            let mut out = OutputArtifact::builder().name(o["name"].as_str().unwrap());
            for f in o["files"].as_array().into_iter().flatten() {
                out = out.files(f.as_str().unwrap());
            }
            a = a.output_artifacts(out.build().unwrap());
        }
        builder = builder.actions(a.build().unwrap());
    }
    builder.build().unwrap()
}
