//! CodeBuild actions through the functions (docs/providers.md, "CodeBuild on AWS"): invoke-action
//! starts the build with the pipeline's overrides and keeps its wait with the attempt; a
//! "CodeBuild Build State Change" event on the default bus finishes the action, the tick's
//! BatchGetBuilds when the event is lost; an abandoned or timed-out action stops its build. Against the
//! strict stand-in's CodeBuild (infra/local/moto_strict.py), where a test plays the build.

use crate::common;

use pipewright_aws::devstack::router::Router;
use pipewright_aws::handlers::invoke_action::Invoked;
use pipewright_aws::handlers::{self, build_events, now, stage_transition};
use pipewright_core::engine::{
    ActionStatus, ConditionKind, Event, Execution, ExecutionStatus, RuleAttempt, RuleStatus, StopExecution, StopWork,
};
use pipewright_core::ports::StateStore;
use pipewright_core::time::Timestamp;
use serde_json::{Value, json};

use common::*;

fn codebuild(stack: &Stack) -> aws_sdk_codebuild::Client {
    aws_sdk_codebuild::Client::new(&stack.sdk)
}

/// A CODEPIPELINE-typed project, as teams define them for pipelines.
async fn project(stack: &Stack, name: &str) {
    project_with(&codebuild(stack), name).await;
}

/// The same, through `client` (another region's).
async fn project_with(client: &aws_sdk_codebuild::Client, name: &str) {
    use aws_sdk_codebuild::types::{
        ArtifactsType, ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment, ProjectSource, SourceType,
    };
    client
        .create_project()
        .name(name)
        // moto wants a location even for a CODEPIPELINE source, which CodeBuild does not.
        .source(ProjectSource::builder().r#type(SourceType::Codepipeline).location("pipeline").build().unwrap())
        .artifacts(
            ProjectArtifacts::builder().r#type(ArtifactsType::Codepipeline).location("pipeline").build().unwrap(),
        )
        .environment(
            ProjectEnvironment::builder()
                .r#type(EnvironmentType::LinuxContainer)
                .image("aws/codebuild/standard:7.0")
                .compute_type(ComputeType::BuildGeneral1Small)
                .build()
                .unwrap(),
        )
        .service_role("arn:aws:iam::123456789012:role/pipewright-build")
        .send()
        .await
        .unwrap();
}

/// S3 source → a CodeBuild build exporting variables → an S3 deploy whose key uses them.
fn build_pipeline(stack: &Stack, name: &str, project: &str) -> Value {
    json!({
        "name": name, "roleArn": "arn:aws:iam::123456789012:role/pipewright", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": stack.artifact_bucket()},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Bundle", "namespace": "SourceVariables",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": stack.source_bucket, "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": "Code"}]}]},
            {"name": "Build", "actions": [{
                "name": "Compile", "namespace": "BuildVariables",
                "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                "configuration": {
                    "ProjectName": project,
                    "EnvironmentVariables": "[{\"name\":\"RELEASE\",\"value\":\"#{SourceVariables.VersionId}\"},{\"name\":\"DB_PASSWORD\",\"value\":\"/app/db\",\"type\":\"PARAMETER_STORE\"}]"
                },
                "inputArtifacts": [{"name": "Code"}],
                "outputArtifacts": [{"name": "Built"}]}]},
            {"name": "Deploy", "actions": [{
                "name": "Publish",
                "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"BucketName": stack.deploy_bucket, "Extract": "false", "ObjectKey": "release-#{BuildVariables.IMAGE_TAG}.zip"},
                "inputArtifacts": [{"name": "Code"}]}]},
        ],
    })
}

/// Pumps until two rounds in a row find nothing to deliver.
async fn drain(router: &Router) {
    let mut idle = 0;
    while idle < 2 {
        let pumped = router.pump().await.unwrap();
        assert!(pumped.failed.is_empty(), "{:?}", pumped.failed);
        if pumped.messages == 0 {
            idle += 1;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        } else {
            idle = 0;
        }
    }
}

async fn latest(stack: &Stack, pipeline: &str) -> Execution {
    let id = stack.services.store.list_executions(pipeline, 1, None).await.unwrap().items[0].id.clone();
    stack.execution(&id).await
}

fn attempt<'a>(execution: &'a Execution, stage: &str, action: &str) -> &'a pipewright_core::engine::ActionAttempt {
    let stage = execution.stages.iter().find(|s| s.name == stage).unwrap();
    stage.actions.iter().find(|a| a.name == action).unwrap().attempts.last().unwrap()
}

/// Releases a source bundle and pumps until the build action waits for its build: the build id.
async fn started_build(stack: &Stack, router: &Router, pipeline: &str) -> (Execution, String) {
    let (version, etag) = stack.upload_source("app.zip", &[("main.c", "int main(){}")]).await;
    stack.put_default_bus(&stack.object_created("app.zip", &version, &etag)).await;
    drain(router).await;
    let execution = latest(stack, pipeline).await;
    let compile = attempt(&execution, "Build", "Compile");
    assert_eq!(compile.status, ActionStatus::InProgress, "{compile:#?}");
    let build_id = compile.external_execution_id.clone().expect("the build's id is the external execution id");
    (execution, build_id)
}

/// Pipeline `app` on its own project, started through its build: the execution and the
/// build's id.
async fn app_build_started(stack: &Stack) -> (Execution, String) {
    let name = format!("pipewright-app-{}", stack.stack.names.stack);
    project(stack, &name).await;
    stack.put_pipeline(&build_pipeline(stack, "app", &name)).await;
    started_build(stack, &stack.router, "app").await
}

/// Pipeline `app` on its own project, its source uploaded and announced: its build's start
/// is on its way once the router delivers.
async fn app_triggered(stack: &Stack) {
    let name = format!("pipewright-app-{}", stack.stack.names.stack);
    project(stack, &name).await;
    stack.put_pipeline(&build_pipeline(stack, "app", &name)).await;
    let (version, etag) = stack.upload_source("app.zip", &[("main.c", "int main(){}")]).await;
    stack.put_default_bus(&stack.object_created("app.zip", &version, &etag)).await;
}

/// The attempts of pipeline `app`'s build action in its latest execution, none before it.
async fn compile_attempts(stack: &Stack) -> Vec<pipewright_core::engine::ActionAttempt> {
    let store = &stack.services.store;
    let Some(listed) = store.list_executions("app", 1, None).await.unwrap().items.pop() else { return Vec::new() };
    let execution = stack.execution(&listed.id).await;
    let build = execution.stages.into_iter().find(|s| s.name == "Build");
    build.into_iter().flat_map(|b| b.actions).flat_map(|a| a.attempts).collect()
}

/// Delivers until pipeline `app`'s build is recorded, the first delivery's `operation` on
/// `resource` refused with `error` at each of the SDK's three tries (standard retries): that
/// delivery failed, to be delivered again (Lambda's retry), and none was dead-lettered.
async fn recorded_after_one_failed_delivery(stack: &Stack, operation: &str, resource: &str, error: &str) {
    let recorded = || async { compile_attempts(stack).await.iter().any(|a| a.external_execution_id.is_some()) };
    let pumped = stack.router.run_until(400, recorded).await.unwrap();
    assert_eq!(injected(operation, resource).await, 3, "the first delivery's tries were refused");
    assert_eq!(pumped.failed.len(), 1, "one delivery failed, to be delivered again: {:?}", pumped.failed);
    assert!(pumped.failed[0].contains(error), "{:?}", pumped.failed);
    assert!(pumped.dead_lettered.is_empty(), "{pumped:?}");
}

/// StopPipelineExecution with abandon, applied as the api function applies it.
async fn stop_with_abandon(stack: &Stack, pipeline: &str, execution_id: &str) {
    let stop = Event::StopExecution(StopExecution {
        execution_id: execution_id.to_string(),
        abandon: true,
        reason: Some("wrong branch".into()),
        by: None,
    });
    handlers::apply(&stack.services, pipeline, &stop).await.unwrap();
}

/// Every CodeBuild operation the functions called is one invoke-action's role may call
/// (template.yaml, `BuildProjects`): the stand-in evaluates no IAM.
fn assert_granted(stack: &Stack) {
    for operation in codebuild_calls(stack).keys() {
        assert!(TEMPLATE.contains(&format!("codebuild:{operation}")), "template.yaml grants no codebuild:{operation}");
    }
}

/// The status of the one build `project` has run.
async fn only_build_status(stack: &Stack, project: &str) -> Option<String> {
    let listed = codebuild(stack).list_builds_for_project().project_name(project).send().await.unwrap();
    assert_eq!(listed.ids().len(), 1, "{:?}", listed.ids());
    build(stack, &listed.ids()[0]).await.build_status().map(|s| s.as_str().to_string())
}

async fn build(stack: &Stack, id: &str) -> aws_sdk_codebuild::types::Build {
    let output = codebuild(stack).batch_get_builds().ids(id).send().await.unwrap();
    output.builds()[0].clone()
}

/// Plays CodeBuild: ends the build (infra/local/moto_strict.py, `/_strict/codebuild/finish`).
async fn finish(order: Value) {
    let url = format!("{}/_strict/codebuild/finish", pipewright_aws::testing::endpoint());
    let answer =
        pipewright_http::send(pipewright_http::Request::new("POST", &url).body(order.to_string())).await.unwrap();
    assert!(answer.is_success(), "{}", answer.text());
}

/// The "CodeBuild Build State Change" event of a build, as CodeBuild sends it.
fn state_change(build: &aws_sdk_codebuild::types::Build) -> Value {
    let variables: Vec<Value> = build
        .environment()
        .unwrap()
        .environment_variables()
        .iter()
        .map(|v| json!({"name": v.name(), "value": v.value(), "type": v.r#type().map_or("PLAINTEXT", |t| t.as_str())}))
        .collect();
    json!({
        "source": "aws.codebuild", "detail-type": "CodeBuild Build State Change",
        "resources": [build.arn().unwrap()],
        "detail": {
            "build-status": build.build_status().unwrap().as_str(),
            "project-name": build.project_name().unwrap(),
            "build-id": build.arn().unwrap(),
            "current-phase": "COMPLETED", "current-phase-context": "[]", "version": "1",
            "additional-information": {"build-complete": true, "environment": {"environment-variables": variables}}
        }
    })
}

fn codebuild_calls(stack: &Stack) -> std::collections::BTreeMap<String, u64> {
    stack
        .services
        .calls
        .snapshot()
        .into_iter()
        .filter_map(|(name, count)| name.strip_prefix("CodeBuild.").map(|op| (op.to_string(), count)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_starts_with_the_overrides_once_and_its_event_completes_the_action() {
    let stack = stack().await;
    let name = format!("pipewright-app-{}", stack.stack.names.stack);
    project(&stack, &name).await;
    stack.put_pipeline(&build_pipeline(&stack, "app", &name)).await;
    // Every delivery twice, at once: the dispatch, the engine events and the build's event.
    let doubled = stack.router.clone().with_copies(2);
    let (execution, build_id) = started_build(&stack, &doubled, "app").await;
    // A build's start holds no claim: a delivery that finds the job still live calls
    // StartBuild (the second may come after the first's wait is recorded, and not run), and
    // CodeBuild's idempotency token gives both the one build.
    let starts = codebuild_calls(&stack).get("StartBuild").copied().unwrap_or(0);
    assert!((1..=2).contains(&starts), "the start delivered twice: {starts} StartBuild");
    assert_eq!(only_build_status(&stack, &name).await.as_deref(), Some("IN_PROGRESS"), "one build");

    let started = build(&stack, &build_id).await;
    let code = &attempt(&execution, "Source", "Bundle").output_artifacts[0].location;
    let source = started.source().unwrap();
    assert_eq!(source.r#type().as_str(), "S3");
    assert_eq!(source.location(), Some(format!("{}/{}", code.bucket, code.key).as_str()));
    let built = &attempt(&execution, "Build", "Compile");
    let artifacts = started.artifacts().unwrap();
    assert_eq!(artifacts.location(), Some(stack.artifact_bucket().as_str()), "{artifacts:?}");
    let variables: Vec<(String, String, String)> = started
        .environment()
        .unwrap()
        .environment_variables()
        .iter()
        .map(|v| (v.name().to_string(), v.value().to_string(), v.r#type().map_or("", |t| t.as_str()).to_string()))
        .collect();
    let version = attempt(&execution, "Source", "Bundle").output_variables["VersionId"].clone();
    assert!(variables.contains(&("RELEASE".into(), version, "PLAINTEXT".into())), "resolved: {variables:?}");
    assert!(variables.contains(&("DB_PASSWORD".into(), "/app/db".into(), "PARAMETER_STORE".into())));
    assert!(variables.contains(&("CODEPIPELINE_EXECUTION_ID".into(), execution.id.clone(), "PLAINTEXT".into())));
    assert!(built.external_execution_url.is_none(), "no console link against an emulator");

    finish(json!({"id": build_id, "status": "SUCCEEDED", "exported": {"IMAGE_TAG": "abc123"}})).await;
    // No tick runs here: only the event can finish the action.
    stack.put_default_bus(&state_change(&build(&stack, &build_id).await)).await;
    drain(&doubled).await;
    let done = stack.execution(&execution.id).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    let compile = attempt(&done, "Build", "Compile");
    assert_eq!(compile.output_variables.get("IMAGE_TAG").map(String::as_str), Some("abc123"));
    assert_eq!(compile.external_execution_id.as_deref(), Some(build_id.as_str()), "the build's id outlives its result");
    let deployed = stack.objects(&stack.deploy_bucket).await;
    assert!(
        deployed.contains_key("release-abc123.zip"),
        "#{{BuildVariables.IMAGE_TAG}} reached the deploy: {deployed:?}"
    );
    assert_eq!(codebuild_calls(&stack).get("StartBuild").copied(), Some(starts), "no build started after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ticks_looks_at_a_running_build_thin_out_and_its_event_still_ends_the_action_at_once() {
    let stack = stack().await;
    let (execution, build_id) = app_build_started(&stack).await;
    // Nine minutes of ticks while the build runs: each look is a dispatch event, an
    // invocation, a claim and a commit. Each look's wait (1, 2, 4, 8 minutes) is counted from
    // the look, recorded at the real clock, which barely moves here: the looks fall at the
    // simulated minutes 1, 2, 4 and 8, where every tick looked before. Each tick is 59 s into
    // its minute, so that the sequence holds while the looks take up to 59 s of real time.
    stack.services.calls.reset();
    let base = now().millis();
    let mut looked_at = Vec::new();
    for minute in 1..=9 {
        let looks_before = stack.services.calls.snapshot().get("CodeBuild.BatchGetBuilds").copied().unwrap_or(0);
        stage_transition::tick(&stack.services, Timestamp::from_millis(base + minute * 60_000 + 59_000)).await.unwrap();
        drain(&stack.router).await;
        if stack.services.calls.snapshot().get("CodeBuild.BatchGetBuilds").copied().unwrap_or(0) > looks_before {
            looked_at.push(minute);
        }
    }
    assert_eq!(looked_at, [1, 2, 4, 8], "the minutes the tick looked at the running build");
    assert_eq!(stack.status(&execution.id).await, Some(ExecutionStatus::InProgress));
    // The build's end comes as its event, which makes the look at once (no tick runs here).
    finish(json!({"id": build_id, "status": "SUCCEEDED", "exported": {"IMAGE_TAG": "abc123"}})).await;
    stack.put_default_bus(&state_change(&build(&stack, &build_id).await)).await;
    drain(&stack.router).await;
    let done = stack.execution(&execution.id).await;
    assert_eq!(attempt(&done, "Build", "Compile").status, ActionStatus::Succeeded, "{done:#?}");
    assert_eq!(done.status, ExecutionStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_event_is_recovered_by_the_tick_and_a_failed_build_names_its_phase() {
    let stack = stack().await;
    let (execution, build_id) = app_build_started(&stack).await;
    finish(json!({"id": build_id, "status": "FAILED", "phase": "BUILD", "code": "COMMAND_EXECUTION_ERROR",
                  "message": "Error while executing command: make. Reason: exit status 2"}))
    .await;
    // The event never comes; the tick's look (a minute later) finds the build's end.
    drain(&stack.router).await;
    assert_eq!(stack.status(&execution.id).await, Some(ExecutionStatus::InProgress));
    let later = Timestamp::from_millis(now().millis() + 61_000);
    stage_transition::tick(&stack.services, later).await.unwrap();
    drain(&stack.router).await;
    let done = stack.execution(&execution.id).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:#?}");
    let compile = attempt(&done, "Build", "Compile");
    let message = compile.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    assert!(
        message.starts_with("Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR"),
        "{message}"
    );
    assert!(compile.output_variables.is_empty(), "a failed build exports nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_with_abandon_stops_the_build() {
    let stack = stack().await;
    let (execution, build_id) = app_build_started(&stack).await;
    stop_with_abandon(&stack, "app", &execution.id).await;
    drain(&stack.router).await;
    assert_eq!(stack.status(&execution.id).await, Some(ExecutionStatus::Stopped));
    assert_eq!(build(&stack, &build_id).await.build_status().map(|s| s.as_str()), Some("STOPPED"));
    assert_eq!(codebuild_calls(&stack).get("StopBuild"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_still_running_when_its_action_times_out_is_stopped() {
    let stack = stack().await;
    let (execution, build_id) = app_build_started(&stack).await;
    // The tick after the action's deadline: the build still runs.
    let deadline = attempt(&execution, "Build", "Compile").deadline;
    stage_transition::tick(&stack.services, Timestamp::from_millis(deadline.millis() + 1_000)).await.unwrap();
    drain(&stack.router).await;
    let done = stack.execution(&execution.id).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:#?}");
    let compile = attempt(&done, "Build", "Compile");
    let message = compile.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    assert!(message.starts_with("The action timed out"), "{message}");
    assert_eq!(build(&stack, &build_id).await.build_status().map(|s| s.as_str()), Some("STOPPED"));
    assert_eq!(codebuild_calls(&stack).get("StopBuild"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_that_fails_on_its_own_is_not_stopped() {
    let stack = stack().await;
    let (execution, build_id) = app_build_started(&stack).await;
    finish(json!({"id": build_id, "status": "FAILED", "phase": "BUILD"})).await;
    stack.put_default_bus(&state_change(&build(&stack, &build_id).await)).await;
    drain(&stack.router).await;
    assert_eq!(stack.status(&execution.id).await, Some(ExecutionStatus::Failed));
    assert_eq!(codebuild_calls(&stack).get("StopBuild"), None, "its FAILED state change stops nothing");
}

const CONNECTION: &str = "arn:aws:codeconnections:us-east-1:123456789012:connection/6b1e0f0a";

/// Pipeline `app` on its own project, its source a clone reference uploaded and announced:
/// its build's start is on its way once the router delivers.
async fn app_triggered_with_a_clone_reference(stack: &Stack) {
    let name = format!("pipewright-app-{}", stack.stack.names.stack);
    project(stack, &name).await;
    stack.put_pipeline(&build_pipeline(stack, "app", &name)).await;
    // What a connection source with OutputArtifactFormat CODEBUILD_CLONE_REF hands on.
    let reference = json!({
        "cloneUrl": "https://github.com/octo/app.git", "commit": "4c1b3f0e9d2a", "branch": "main",
        "fullRepositoryName": "octo/app", "providerType": "GitHub", "connectionArn": CONNECTION,
    });
    let (version, etag) = stack.upload_source("app.zip", &[("codebuild-clone-ref.json", &reference.to_string())]).await;
    stack.put_default_bus(&stack.object_created("app.zip", &version, &etag)).await;
}

/// The build of pipeline `app`'s latest execution clones the reference's commit itself,
/// through its connection.
async fn assert_the_build_clones_the_reference(stack: &Stack) {
    let execution = latest(stack, "app").await;
    let compile = attempt(&execution, "Build", "Compile");
    assert_eq!(compile.status, ActionStatus::InProgress, "{compile:#?}");
    let started = build(stack, compile.external_execution_id.as_deref().unwrap()).await;
    let source = started.source().unwrap();
    assert_eq!(source.r#type().as_str(), "GITHUB");
    assert_eq!(source.location(), Some("https://github.com/octo/app.git"));
    assert_eq!(started.source_version(), Some("4c1b3f0e9d2a"));
    let auth = source.auth().expect("the connection is the source's auth");
    assert_eq!((auth.r#type().as_str(), auth.resource()), ("CODECONNECTIONS", Some(CONNECTION)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clone_reference_as_primary_source_is_cloned_by_codebuild_through_its_connection() {
    let stack = stack().await;
    app_triggered_with_a_clone_reference(&stack).await;
    drain(&stack.router).await;
    assert_the_build_clones_the_reference(&stack).await;
}

/// A clone reference S3 cannot serve yet (503 to every try of the SDK; a HEAD's error has no
/// body, so no code, and is known by its status): the start is delivered again, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clone_reference_s3_cannot_serve_yet_is_read_again_not_failed() {
    let stack = stack().await;
    // The source action copies from the source bucket: only the build's look names the store.
    let in_the_store = format!("/{}/", stack.artifact_bucket());
    inject("HeadObject", &in_the_store, 3, "ServiceUnavailable").await;
    app_triggered_with_a_clone_reference(&stack).await;
    recorded_after_one_failed_delivery(&stack, "HeadObject", &in_the_store, "HeadObject").await;
    assert_the_build_clones_the_reference(&stack).await;
}

/// Pipeline `app` whose build runs in us-west-2, on its own project there, and whose deploy,
/// at home, publishes what the build wrote in us-west-2: the regional store's bucket, and
/// us-west-2's S3 and CodeBuild clients.
async fn app_built_in_the_west(stack: &Stack) -> (String, aws_sdk_s3::Client, aws_sdk_codebuild::Client) {
    let west = aws_config::Region::new("us-west-2");
    let west_codebuild =
        aws_sdk_codebuild::Client::from_conf(aws_sdk_codebuild::config::Builder::from(&stack.sdk).region(west).build());
    let (regional_bucket, west_s3) = stack.regional_store("us-west-2").await;
    let name = format!("pipewright-app-{}", stack.stack.names.stack);
    project_with(&west_codebuild, &name).await;
    let mut pipeline = build_pipeline(stack, "app", &name);
    let home = pipeline.as_object_mut().unwrap().remove("artifactStore").unwrap();
    pipeline["artifactStores"] =
        json!({"us-east-1": home, "us-west-2": {"type": "S3", "location": regional_bucket.clone()}});
    pipeline["stages"][1]["actions"][0]["region"] = json!("us-west-2");
    pipeline["stages"][2]["actions"][0]["inputArtifacts"] = json!([{"name": "Built"}]);
    stack.put_pipeline(&pipeline).await;
    (regional_bucket, west_s3, west_codebuild)
}

/// A build in another region reads its input from that region's artifact store, where S3
/// itself copied it (CopyObject): no byte of the artifact passes through invoke-action, which
/// is why builds' jobs run in the function with little memory (template.yaml,
/// InvokeActionLightFunction).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_in_another_region_works_in_that_regions_store_which_the_next_action_reads() {
    let stack = stack().await;
    let (regional_bucket, west_s3, west_codebuild) = app_built_in_the_west(&stack).await;
    // The stand-in refuses what S3 refuses: a client of another region than the bucket's.
    let refused = stack.s3.head_bucket().bucket(&regional_bucket).send().await;
    assert!(refused.is_err(), "a us-east-1 client reached a us-west-2 bucket");

    let (execution, build_id) = started_build(&stack, &stack.router, "app").await;
    let code = &attempt(&execution, "Source", "Bundle").output_artifacts[0].location;
    let started = west_codebuild.batch_get_builds().ids(&build_id).send().await.unwrap().builds()[0].clone();
    let source = started.source().unwrap();
    assert_eq!(source.location(), Some(format!("{regional_bucket}/{}", code.key).as_str()), "{source:?}");
    let read = |client: &aws_sdk_s3::Client, bucket: &str, key: &str| {
        let request = client.get_object().bucket(bucket).key(key).send();
        async move { request.await.unwrap().body.collect().await.unwrap().into_bytes().to_vec() }
    };
    assert_eq!(
        read(&west_s3, &regional_bucket, &code.key).await,
        read(&stack.s3, &code.bucket, &code.key).await,
        "the same bytes"
    );
    let calls = stack.services.calls.snapshot();
    // The S3 source's copy into the home store, and the build's input into us-west-2's.
    assert_eq!(calls.get("S3.CopyObject"), Some(&2), "copied by S3, not read and put: {calls:?}");
    assert_eq!(calls.get("S3.GetObject"), Some(&1), "the S3 deploy's read alone: {calls:?}");
    // CodeBuild writes in its own region: the output's place is the regional store.
    let built = attempt(&execution, "Build", "Compile");
    let output = built.output_artifacts[0].location.clone();
    assert_eq!(output.bucket, regional_bucket);
    assert_eq!(started.artifacts().unwrap().location(), Some(regional_bucket.as_str()));
    // Its state-change event stays on us-west-2's default bus, where the stack has no rule:
    // the tick looks at it on the ordinary schedule, not as a backstop minutes away.
    let token = built.job.as_ref().and_then(|job| job.continuation_token.clone()).expect("the wait");
    let wait: Value = serde_json::from_str(&token).unwrap();
    assert!(wait["pollAfterSeconds"].as_u64().is_some_and(|after| after < 60), "{wait}");

    // Plays CodeBuild: the output zip where the override says, then the build's end.
    let zip = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
    west_s3.put_object().bucket(&regional_bucket).key(&output.key).body(zip.clone().into()).send().await.unwrap();
    finish(json!({"id": build_id, "status": "SUCCEEDED", "exported": {"IMAGE_TAG": "west"}, "region": "us-west-2"}))
        .await;
    stage_transition::tick(&stack.services, Timestamp::from_millis(now().millis() + 31_000)).await.unwrap();
    drain(&stack.router).await;
    let done = stack.execution(&execution.id).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    let deployed = read(&stack.s3, &stack.deploy_bucket, "release-west.zip").await;
    assert_eq!(deployed, zip, "the us-west-2 output, read by the deploy at home");
}

/// A build's start that cannot copy its input into the action region's store (S3 slowing it
/// down past the SDK's three tries) started nothing, and another delivery of the same start
/// may be recording its build at that moment: it is delivered again, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_input_copy_throttled_past_the_sdks_tries_is_delivered_again_not_failed() {
    let stack = stack().await;
    let (regional_bucket, _, west_codebuild) = app_built_in_the_west(&stack).await;
    // The copy into the regional store only: the source's copy at home names another bucket.
    let into_the_west = format!("/{regional_bucket}/");
    inject("CopyObject", &into_the_west, 3, "SlowDown").await;
    let (version, etag) = stack.upload_source("app.zip", &[("main.c", "int main(){}")]).await;
    stack.put_default_bus(&stack.object_created("app.zip", &version, &etag)).await;
    recorded_after_one_failed_delivery(&stack, "CopyObject", &into_the_west, "SlowDown").await;
    let compile = attempt(&latest(&stack, "app").await, "Build", "Compile").clone();
    assert_eq!(compile.status, ActionStatus::InProgress, "{compile:#?}");
    let name = format!("pipewright-app-{}", stack.stack.names.stack);
    let listed = west_codebuild.list_builds_for_project().project_name(&name).send().await.unwrap();
    assert_eq!(listed.ids(), [compile.external_execution_id.unwrap()], "one build, the recorded one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commands_action_in_another_region_fails_saying_where_commands_run() {
    let stack = stack().await;
    let mut pipeline = build_pipeline(&stack, "far", "unused");
    let home = pipeline.as_object_mut().unwrap().remove("artifactStore").unwrap();
    let west_store = format!("{}-west", stack.artifact_bucket());
    pipeline["artifactStores"] = json!({"us-east-1": home, "us-west-2": {"type": "S3", "location": west_store}});
    pipeline["stages"][1]["actions"][0] = json!({
        "name": "Compile", "region": "us-west-2",
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["make"], "inputArtifacts": [{"name": "Code"}]
    });
    pipeline["stages"].as_array_mut().unwrap().truncate(2);
    stack.put_pipeline(&pipeline).await;
    let (version, etag) = stack.upload_source("app.zip", &[("main.c", "int main(){}")]).await;
    stack.put_default_bus(&stack.object_created("app.zip", &version, &etag)).await;
    drain(&stack.router).await;

    let done = latest(&stack, "far").await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:#?}");
    let error = attempt(&done, "Build", "Compile").error.clone().expect("the action's error");
    assert!(error.message.contains("in the stack's CodeBuild project, in us-east-1"), "{}", error.message);
    assert!(error.message.contains("region is us-west-2"), "{}", error.message);
    assert_eq!(codebuild_calls(&stack).get("StartBuild"), None, "no build started where no project is");
}

/// S3 source → CodeBuild builds side by side (`actions`) → one more build (`Package`).
fn parallel_builds_pipeline(stack: &Stack, name: &str, project: &str, actions: &[&str]) -> Value {
    let build = |action: &str| {
        json!({"name": action, "runOrder": 1,
               "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
               "configuration": {"ProjectName": project}, "inputArtifacts": [{"name": "Code"}]})
    };
    json!({
        "name": name, "roleArn": "arn:aws:iam::123456789012:role/pipewright", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": stack.artifact_bucket()},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Bundle",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": stack.source_bucket, "S3ObjectKey": "app.zip", "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": "Code"}]}]},
            {"name": "Build", "actions": actions.iter().map(|action| build(action)).collect::<Vec<_>>()},
            {"name": "Package", "actions": [build("Package")]},
        ],
    })
}

/// The parallel builds `actions` of pipeline `parallel` started and ended: the execution as
/// their waits left it, and the ids of the builds in the order of their jobs' ids (the
/// earliest build's first).
async fn parallel_builds_ended(stack: &Stack, actions: &[&str]) -> (Execution, Vec<String>) {
    let name = format!("pipewright-app-{}", stack.stack.names.stack);
    project(stack, &name).await;
    stack.put_pipeline(&parallel_builds_pipeline(stack, "parallel", &name, actions)).await;
    let (version, etag) = stack.upload_source("app.zip", &[("main.c", "int main(){}")]).await;
    stack.put_default_bus(&stack.object_created("app.zip", &version, &etag)).await;
    drain(&stack.router).await;
    let execution = latest(stack, "parallel").await;
    let mut builds = Vec::new();
    for action in actions {
        let build_id = attempt(&execution, "Build", action).external_execution_id.clone().expect("its build waits");
        let job = handlers::build_events::waiting_job(&stack.services, &execution.id, &build_id).await.unwrap();
        builds.push((job.expect("a job waits for the build").job_id, build_id));
    }
    builds.sort();
    for (_, build_id) in &builds {
        finish(json!({"id": build_id, "status": "SUCCEEDED"})).await;
    }
    (execution, builds.into_iter().map(|(_, build_id)| build_id).collect())
}

/// The look at one build's end, as its event makes it.
async fn look(stack: &Stack, build_id: &str) -> Invoked {
    let event = state_change(&build(stack, build_id).await);
    handlers::build_events::build_state_changed(&stack.services, &event["detail"]).await.unwrap()
}

async fn version(stack: &Stack, execution: &str) -> u64 {
    stack.services.store.get_execution(execution).await.unwrap().unwrap().version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn builds_that_end_together_are_recorded_in_one_commit_by_the_look_at_the_earlier() {
    let stack = stack().await;
    let (execution, builds) = parallel_builds_ended(&stack, &["Lint", "Unit"]).await;
    let [earlier, later] = &builds[..] else { panic!("two builds: {builds:?}") };
    recorded_by_one_look(&stack, &execution.id, earlier, later).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_look_at_the_later_build_records_both_when_the_earlier_look_does_not_come() {
    let stack = stack().await;
    let (execution, builds) = parallel_builds_ended(&stack, &["Lint", "Unit"]).await;
    let [earlier, later] = &builds[..] else { panic!("two builds: {builds:?}") };
    // The earlier build's event is late: the later look waits for its look, then records both.
    recorded_by_one_look(&stack, &execution.id, later, earlier).await;
}

/// The look at build `first` records both builds' results in one commit; the event of
/// `second` comes next, while the next stage's build starts: its result is recorded, nothing
/// is written, and the event is not tried again.
async fn recorded_by_one_look(stack: &Stack, execution: &str, first: &str, second: &str) {
    let waited = version(stack, execution).await;
    look(stack, first).await;
    let recorded = stack.execution(execution).await;
    for action in ["Lint", "Unit"] {
        assert_eq!(attempt(&recorded, "Build", action).status, ActionStatus::Succeeded, "{recorded:#?}");
    }
    assert_eq!(version(stack, execution).await, waited + 1, "both results in one commit");
    let stale = look(stack, second).await;
    assert!(matches!(stale, Invoked::Stale(_)), "{stale:?}");
    assert_eq!(version(stack, execution).await, waited + 1);
    drain(&stack.router).await;
    assert_package_started_once(stack, execution).await;
}

/// The stage after the two builds started once: its build waits.
async fn assert_package_started_once(stack: &Stack, execution: &str) {
    let moved_on = stack.execution(execution).await;
    let package = &moved_on.stages.iter().find(|s| s.name == "Package").unwrap().actions[0];
    assert_eq!(package.attempts.len(), 1, "{moved_on:#?}");
    assert_eq!(package.attempts[0].status, ActionStatus::InProgress);
    assert!(package.attempts[0].external_execution_id.is_some(), "its build started: {moved_on:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn looks_at_builds_that_end_together_do_not_race_for_the_execution() {
    let stack = stack().await;
    let (execution, builds) = parallel_builds_ended(&stack, &["Lint", "Unit"]).await;
    let [earlier, later] = &builds[..] else { panic!("two builds: {builds:?}") };
    let waited = version(&stack, &execution.id).await;
    let table = stack.stack.settings.table.clone();
    let refused_before = refused_writes(&table).await;
    // Both events at once, as CodeBuild sends them for builds that end together.
    let (later_look, earlier_look) = tokio::join!(look(&stack, later), look(&stack, earlier));
    assert!(matches!(earlier_look, Invoked::Finished(_)), "{earlier_look:?}");
    // The later look stops once its result is recorded, before looking at its build again.
    assert!(matches!(later_look, Invoked::Stale(_)), "{later_look:?}");
    assert_eq!(version(&stack, &execution.id).await, waited + 1, "both results in one commit");
    // The later look waited for the earlier one's commit instead of writing against it.
    assert_eq!(refused_writes(&table).await, refused_before, "no write refused");
    drain(&stack.router).await;
    assert_package_started_once(&stack, &execution.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn later_looks_that_give_up_on_the_earliest_record_once_between_them() {
    let stack = stack().await;
    let (execution, builds) = parallel_builds_ended(&stack, &["Lint", "Unit", "Docs"]).await;
    let [_, second, third] = &builds[..] else { panic!("three builds: {builds:?}") };
    let waited = version(&stack, &execution.id).await;
    let table = stack.stack.settings.table.clone();
    let refused_before = refused_writes(&table).await;
    // The earliest build's event is late; the two later looks give up on it at the same
    // moment: the second records all three, the third waits for it instead of racing it.
    let (third_look, second_look) = tokio::join!(look(&stack, third), look(&stack, second));
    assert!(matches!(second_look, Invoked::Finished(_)), "{second_look:?}");
    assert!(matches!(third_look, Invoked::Stale(_)), "{third_look:?}");
    let recorded = stack.execution(&execution.id).await;
    for action in ["Lint", "Unit", "Docs"] {
        assert_eq!(attempt(&recorded, "Build", action).status, ActionStatus::Succeeded, "{recorded:#?}");
    }
    assert_eq!(version(&stack, &execution.id).await, waited + 1, "the three results in one commit");
    assert_eq!(refused_writes(&table).await, refused_before, "no write refused");
    drain(&stack.router).await;
    assert_package_started_once(&stack, &execution.id).await;
}

/// The stand-in's count of `table`'s writes refused by their condition.
async fn refused_writes(table: &str) -> f64 {
    let url = format!("{}/_strict/billing", pipewright_aws::testing::endpoint());
    let answer = pipewright_http::send(pipewright_http::Request::new("GET", &url)).await.unwrap();
    let report: Value = serde_json::from_slice(&answer.body).unwrap();
    let kinds = report[table]["write_units_by_item"].as_object().cloned().unwrap_or_default();
    kinds.iter().filter(|(kind, _)| kind.contains("(condition failed)")).filter_map(|(_, units)| units.as_f64()).sum()
}

/// The `ruled` pipeline (the build pipeline with a Commands rule, Smoke, before its Build
/// stage) started, the rule's build running: the execution and the build's id.
async fn ruled_build_started(stack: &Stack) -> (Execution, String) {
    ruled_pipeline_triggered(stack).await;
    drain(&stack.router).await;
    let execution = latest(stack, "ruled").await;
    let smoke = smoke_rule(&execution);
    let build_id = smoke.external_execution_id.clone().expect("the rule's build is its external execution id");
    assert_eq!(smoke.status, RuleStatus::InProgress, "{execution:#?}");
    assert_eq!(smoke.job.as_ref().map(|job| job.sequence), Some(2), "its wait kept on its next job");
    assert_eq!(attempt(&execution, "Source", "Bundle").status, ActionStatus::Succeeded);
    (execution, build_id)
}

/// The `ruled` pipeline put, and its source uploaded: the execution's deliveries are on
/// their way, not yet delivered. The rule's commands outlast every test, so that the test,
/// not the stand-in's shell, ends its build.
async fn ruled_pipeline_triggered(stack: &Stack) {
    let name = format!("pipewright-app-{}", stack.stack.names.stack);
    project(stack, &name).await;
    let mut declaration = build_pipeline(stack, "ruled", &name);
    declaration["stages"][1]["beforeEntry"] = json!({"conditions": [{"result": "FAIL", "rules": [{
        "name": "Smoke", "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["sleep 60", "test -f main.c"], "inputArtifacts": [{"name": "Code"}]}]}]});
    stack.put_pipeline(&declaration).await;
    let (version, etag) = stack.upload_source("app.zip", &[("main.c", "int main(){}")]).await;
    stack.put_default_bus(&stack.object_created("app.zip", &version, &etag)).await;
}

fn smoke_rule(execution: &Execution) -> RuleAttempt {
    let build = execution.stages.iter().find(|s| s.name == "Build").unwrap();
    build.conditions.iter().flat_map(|c| &c.rules).find(|r| r.name == "Smoke").cloned().expect("the rule ran")
}

/// A Commands rule on AWS is a build of the stack's Commands project: its start keeps the
/// build's wait on the rule, the build's event makes the look, and the result decides the
/// condition (a passing rule lets the stage run; a failing one fails the execution).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commands_rule_runs_as_a_build_and_its_result_decides_the_condition() {
    let stack = stack().await;
    let (_, build_id) = ruled_build_started(&stack).await;
    finish(json!({"id": build_id, "status": "SUCCEEDED"})).await;
    stack.put_default_bus(&state_change(&build(&stack, &build_id).await)).await;
    drain(&stack.router).await;
    let entered = latest(&stack, "ruled").await;
    let passed = smoke_rule(&entered);
    assert_eq!(passed.status, RuleStatus::Succeeded, "{entered:#?}");
    assert_eq!(passed.external_execution_id.as_deref(), Some(build_id.as_str()), "the build's id outlives the result");
    let compile = attempt(&entered, "Build", "Compile");
    assert_eq!(compile.status, ActionStatus::InProgress, "the stage runs once its condition is met");
    assert_eq!(codebuild_calls(&stack).get("StartBuild"), Some(&2), "the rule's build, then the action's");
    assert_eq!(codebuild_calls(&stack).get("StopBuild"), None, "a rule that ends with its build stops nothing");
}

/// A stop with abandon while a Commands rule's build runs abandons the rule and stops its
/// build (the engine's StopWork, on the stack's bus): nobody would look at it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commands_rule_abandoned_while_its_build_runs_has_its_build_stopped() {
    let stack = stack().await;
    let (execution, build_id) = ruled_build_started(&stack).await;
    stop_with_abandon(&stack, "ruled", &execution.id).await;
    drain(&stack.router).await;
    let stopped = stack.execution(&execution.id).await;
    assert_eq!(stopped.status, ExecutionStatus::Stopped, "{stopped:#?}");
    assert_eq!(smoke_rule(&stopped).status, RuleStatus::Abandoned);
    assert_eq!(build(&stack, &build_id).await.build_status().map(|s| s.as_str()), Some("STOPPED"));
    assert_eq!(codebuild_calls(&stack).get("StopBuild"), Some(&1));
    // The message delivered again (EventBridge's at-least-once): the build stays stopped.
    let again = StopWork {
        id: format!("stop/{}", smoke_rule(&stopped).rule_execution_id),
        pipeline: "ruled".into(),
        pipeline_version: stopped.pipeline_version,
        execution_id: execution.id.clone(),
        stage: "Build".into(),
        condition: ConditionKind::BeforeEntry,
        rule: "Smoke".into(),
        external_execution_id: build_id.clone(),
    };
    let invoked = build_events::work_abandoned(&stack.services, &again).await.unwrap();
    assert!(matches!(invoked, Invoked::HandedOff(_)), "{invoked:?}");
    assert_eq!(build(&stack, &build_id).await.build_status().map(|s| s.as_str()), Some("STOPPED"));
}

/// A Commands rule whose build outlives the rule's timeout fails the rule, and its build is
/// stopped; the condition's FAIL result fails the execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commands_rule_that_times_out_has_its_build_stopped() {
    let stack = stack().await;
    let (execution, build_id) = ruled_build_started(&stack).await;
    let deadline = smoke_rule(&execution).deadline.expect("a Commands rule has a deadline");
    let after = Timestamp::from_millis(deadline.millis() + 1_000);
    stage_transition::tick(&stack.services, after).await.unwrap();
    drain(&stack.router).await;
    let done = stack.execution(&execution.id).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:#?}");
    let smoke = smoke_rule(&done);
    assert_eq!(smoke.status, RuleStatus::Failed);
    let message = smoke.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    assert!(message.starts_with("The rule timed out"), "{message}");
    assert_eq!(build(&stack, &build_id).await.build_status().map(|s| s.as_str()), Some("STOPPED"));
    assert_eq!(codebuild_calls(&stack).get("StopBuild"), Some(&1));
    // The tick comes again: the rule has ended, nothing is stopped twice.
    stage_transition::tick(&stack.services, Timestamp::from_millis(after.millis() + 60_000)).await.unwrap();
    drain(&stack.router).await;
    assert_eq!(codebuild_calls(&stack).get("StopBuild"), Some(&1));
}

/// Delivers what is on its way while a stop with abandon of `pipeline`'s latest execution
/// lands as soon as the stand-in holds back a StartBuild of `project`: the execution's id.
async fn stop_while_a_build_starts(stack: &Stack, pipeline: &str, project: &str) -> String {
    let stop_while_starting = async {
        until_a_call_is_held(project).await;
        let execution = latest(stack, pipeline).await;
        stop_with_abandon(stack, pipeline, &execution.id).await;
        execution.id
    };
    let ((), execution_id) = tokio::join!(drain(&stack.router), stop_while_starting);
    drain(&stack.router).await;
    execution_id
}

/// A stop with abandon that lands while a Commands rule's build is being started: the rule
/// ends with no build recorded (its abandonment has nothing to stop), the start's wait then
/// comes back stale, and the start stops the build it began, which nobody would look at.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rule_abandoned_while_its_build_starts_has_that_build_stopped_by_its_start() {
    let stack = stack().await;
    let commands = stack.stack.names.commands_project();
    delay("StartBuild", &commands, 4.0, 1).await;
    ruled_pipeline_triggered(&stack).await;
    let execution_id = stop_while_a_build_starts(&stack, "ruled", &commands).await;
    let stopped = stack.execution(&execution_id).await;
    assert_eq!(stopped.status, ExecutionStatus::Stopped, "{stopped:#?}");
    let smoke = smoke_rule(&stopped);
    assert_eq!((smoke.status, smoke.external_execution_id.as_deref()), (RuleStatus::Abandoned, None));
    assert_eq!(codebuild_calls(&stack).get("StartBuild"), Some(&1));
    assert_eq!(codebuild_calls(&stack).get("StopBuild"), Some(&1), "the start stops what it began");
    assert_eq!(only_build_status(&stack, &commands).await.as_deref(), Some("STOPPED"));
    assert_granted(&stack);
}

/// The same for an action: its ABANDONED state change finds no build to stop, its start does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_action_abandoned_while_its_build_starts_has_that_build_stopped_by_its_start() {
    let stack = stack().await;
    let name = format!("pipewright-app-{}", stack.stack.names.stack);
    project(&stack, &name).await;
    stack.put_pipeline(&build_pipeline(&stack, "app", &name)).await;
    delay("StartBuild", &name, 4.0, 1).await;
    let (version, etag) = stack.upload_source("app.zip", &[("main.c", "int main(){}")]).await;
    stack.put_default_bus(&stack.object_created("app.zip", &version, &etag)).await;
    let execution_id = stop_while_a_build_starts(&stack, "app", &name).await;
    let stopped = stack.execution(&execution_id).await;
    assert_eq!(stopped.status, ExecutionStatus::Stopped, "{stopped:#?}");
    let compile = attempt(&stopped, "Build", "Compile");
    assert_eq!((compile.status, compile.external_execution_id.as_deref()), (ActionStatus::Abandoned, None));
    assert_eq!(codebuild_calls(&stack).get("StartBuild"), Some(&1));
    assert_eq!(codebuild_calls(&stack).get("StopBuild"), Some(&1), "the start stops what it began");
    assert_eq!(only_build_status(&stack, &name).await.as_deref(), Some("STOPPED"));
}

/// Writes nowhere: a provider's lines, in a test that calls it directly.
struct Quiet;

impl pipewright_providers::ActionOutput for Quiet {
    fn line(&self, _stage: &str, _action: &str, _line: &str) {}
}

/// A Commands start delivered again after its first delivery started the build and failed
/// before recording it (a crash, a store that would not take the result): the new StartBuild
/// carries new presigned URLs under the same idempotency token, which CodeBuild refuses as a
/// mismatch; the start finds the first build by the job it carries and records it, and no
/// second build runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commands_start_delivered_again_records_the_build_its_first_delivery_started() {
    use pipewright_core::engine::{Effect, work_in_flight};
    use pipewright_providers::deploy::{DeployJob, Deployer, Progress};
    let stack = stack().await;
    ruled_pipeline_triggered(&stack).await;
    // Up to the rule's start, which is on its way.
    let store = &stack.services.store;
    let rule_started = || async {
        let Some(listed) = store.list_executions("ruled", 1, None).await.unwrap().items.pop() else { return false };
        let execution = stack.execution(&listed.id).await;
        let build = execution.stages.iter().find(|s| s.name == "Build");
        build.is_some_and(|b| b.conditions.iter().flat_map(|c| &c.rules).any(|r| r.name == "Smoke"))
    };
    stack.router.run_until(100, rule_started).await.unwrap();
    let execution = latest(&stack, "ruled").await;
    let pipeline = stack.services.cache.pinned(store, &execution).await.unwrap();
    let start = work_in_flight(&pipeline, &execution, now())
        .into_iter()
        .find_map(|work| match work.effect {
            Effect::Dispatch(dispatch) if dispatch.condition.is_some() => Some(*dispatch),
            _ => None,
        })
        .expect("the rule's start is in flight");
    assert_eq!(start.continuation_token, None);
    // The first delivery: its build started, its result never recorded.
    let job = DeployJob { dispatch: start, regional_store: None };
    let Progress::Waiting(first) = stack.services.deployer.start(&job, &Quiet).await else {
        panic!("the first delivery's build started")
    };
    // The delivery again, a second later: its presigned URLs are new.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    drain(&stack.router).await;
    let smoke = smoke_rule(&latest(&stack, "ruled").await);
    assert_eq!(smoke.status, RuleStatus::InProgress, "{smoke:#?}");
    assert_eq!(smoke.external_execution_id.as_deref(), Some(first.external_id.as_str()), "the first build, recorded");
    let calls = codebuild_calls(&stack);
    assert_eq!((calls.get("StartBuild"), calls.get("ListBuildsForProject")), (Some(&2), Some(&1)), "{calls:?}");
    let commands = stack.stack.names.commands_project();
    assert_eq!(only_build_status(&stack, &commands).await.as_deref(), Some("IN_PROGRESS"), "one build runs");
    assert_granted(&stack);
    finish(json!({"id": first.external_id, "status": "SUCCEEDED"})).await;
}

/// A build's start whose delivery is lost (it holds no claim) is sent again by the ticks of
/// the two minutes after the grace any lost work has; lost each time, not by every tick after
/// that but a claim's lease later (`stage_transition::BUILD_START_RESENDS`): a start still at
/// work is not run again each minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_build_start_is_sent_again_after_the_grace_then_once_per_lease() {
    let stack = stack().await;
    app_triggered(&stack).await;
    let compile_started = || async { !compile_attempts(&stack).await.is_empty() };
    stack.router.run_until(100, compile_started).await.unwrap();
    // The start's delivery is lost.
    stack.purge_queues_of("invoke-action").await;
    let execution = latest(&stack, "app").await;
    let since = attempt(&execution, "Build", "Compile").started_at;
    let tick = |seconds: i64| {
        stage_transition::tick(&stack.services, Timestamp::from_millis(since.millis() + seconds * 1_000))
    };
    let starts = || codebuild_calls(&stack).get("StartBuild").copied().unwrap_or(0);
    tick(90).await.unwrap();
    drain(&stack.router).await;
    assert_eq!(starts(), 0, "not within the grace");
    for seconds in [150, 210] {
        assert_eq!(tick(seconds).await.unwrap().resent, 1, "the ticks of the turn after the grace: {seconds} s");
        // Lost again.
        stack.purge_queues_of("invoke-action").await;
    }
    for seconds in [270, 330, 600, 1_020] {
        assert_eq!(tick(seconds).await.unwrap().resent, 0, "not at every tick: {seconds} s");
    }
    drain(&stack.router).await;
    assert_eq!(starts(), 0);
    assert_eq!(tick(1_110).await.unwrap().resent, 1, "a claim's lease after the first resend");
    drain(&stack.router).await;
    assert_eq!(starts(), 1, "sent again");
    let compile = attempt(&latest(&stack, "app").await, "Build", "Compile").clone();
    assert!(compile.external_execution_id.is_some(), "the build's wait recorded: {compile:#?}");
}

/// A build's start whose StartBuild stays throttled past the SDK's own tries started
/// nothing: the delivery fails to be delivered again (Lambda's retry), where it used to fail
/// the action, and the retry starts the build. Another delivery of the same start may be
/// recording its build meanwhile, which a failure reported first would have thrown away.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_start_throttled_past_the_sdks_tries_is_delivered_again_not_failed() {
    let stack = stack().await;
    let name = format!("pipewright-app-{}", stack.stack.names.stack);
    // Every try of the SDK (three, standard retries) of the first delivery.
    inject("StartBuild", &name, 3, "ThrottlingException").await;
    app_triggered(&stack).await;
    recorded_after_one_failed_delivery(&stack, "StartBuild", &name, "ThrottlingException").await;
    let compile = attempt(&latest(&stack, "app").await, "Build", "Compile").clone();
    assert_eq!(compile.status, ActionStatus::InProgress, "{compile:#?}");
    assert_eq!(only_build_status(&stack, &name).await.as_deref(), Some("IN_PROGRESS"), "one build");
}
