//! The deploy providers through the functions (docs/providers.md §13): invoke-action starts a
//! deploy within the dispatch's invocation, a wait goes back as a continuation kept with the
//! attempt, and the tick — run here a minute ahead of the clock — sends the next look. Against
//! moto's CloudFormation, ECS and Step Functions, through real HTTP with the real SDK.

use crate::common;

use pipewright_aws::devstack::router::Router;
use pipewright_aws::handlers::{now, stage_transition};
use pipewright_core::engine::{ActionStatus, Execution, ExecutionStatus};
use pipewright_core::ports::StateStore;
use pipewright_core::time::Timestamp;
use serde_json::{Value, json};

use common::*;

const ROLE: &str = "arn:aws:iam::123456789012:role/cloudformation";

/// A topic whose name and environment are parameters; both are outputs.
const TOPIC_TEMPLATE: &str = "AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  TopicName:
    Type: String
  Env:
    Type: String
    Default: dev
Resources:
  AppTopic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Ref TopicName
Outputs:
  TopicArn:
    Value: !Ref AppTopic
  Env:
    Value: !Ref Env
";

fn source_stage(key: &str) -> Value {
    json!({"name": "Source", "actions": [{
        "name": "Bundle",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "SOURCE", "S3ObjectKey": key, "PollForSourceChanges": "false"},
        "outputArtifacts": [{"name": "Code"}]}]})
}

fn cloudformation(name: &str, configuration: Value, outputs: &[&str]) -> Value {
    json!({
        "name": name, "namespace": "Infra",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
        "configuration": configuration,
        "inputArtifacts": [{"name": "Code"}],
        "outputArtifacts": outputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
    })
}

fn pipeline(stack: &Stack, name: &str, key: &str, stages: Vec<Value>) -> Value {
    let mut all = vec![source_stage(key)];
    all.extend(stages);
    let mut declaration = json!({
        "name": name, "roleArn": "arn:aws:iam::123456789012:role/pipewright", "pipelineType": "V2",
        "executionMode": "QUEUED",
        "artifactStore": {"type": "S3", "location": stack.artifact_bucket()},
        "stages": all,
    });
    declaration["stages"][0]["actions"][0]["configuration"]["S3Bucket"] = json!(stack.source_bucket);
    declaration
}

/// The stack pipeline: its template and parameters from the source, the stack's outputs as
/// variables and as a file, and a later action publishing that file under `#{Infra.Env}`.
fn stack_pipeline(stack: &Stack, name: &str, stack_name: &str) -> Value {
    let deploy = cloudformation(
        "Stack",
        json!({
            "ActionMode": "CREATE_UPDATE", "StackName": stack_name, "RoleArn": ROLE,
            "TemplatePath": "Code::template.yaml",
            "ParameterOverrides": r#"{"TopicName": {"Fn::GetParam": ["Code", "params.json", "TopicName"]}, "Env": {"Fn::GetParam": ["Code", "params.json", "Env"]}}"#,
            "OutputFileName": "outputs.json",
        }),
        &["StackOutputs"],
    );
    let publish = json!({
        "name": "Outputs",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"BucketName": stack.deploy_bucket, "Extract": "true", "ObjectKey": "#{Infra.Env}"},
        "inputArtifacts": [{"name": "StackOutputs"}]});
    pipeline(
        stack,
        name,
        "infra.zip",
        vec![json!({"name": "Infra", "actions": [deploy]}), json!({"name": "Publish", "actions": [publish]})],
    )
}

fn params(topic: &str, env: &str) -> String {
    json!({"TopicName": topic, "Env": env}).to_string()
}

/// Uploads a source bundle and delivers its event, then runs the pipeline's new execution to
/// its end: the functions are pumped until nothing is left to deliver, then the tick runs a
/// minute ahead, `ticks` times each (two is a duplicated schedule), which sends the waiting
/// deploys' next looks.
async fn release(
    stack: &Stack,
    (router, ticks): (&Router, usize),
    pipeline: &str,
    key: &str,
    files: &[(&str, &str)],
) -> Execution {
    let before = latest(stack, pipeline).await.map(|e| e.id);
    let (version, etag) = stack.upload_source(key, files).await;
    stack.put_default_bus(&stack.object_created(key, &version, &etag)).await;
    for _ in 0..30 {
        drain_deliveries(router).await;
        if let Some(execution) = latest(stack, pipeline).await
            && Some(&execution.id) != before.as_ref()
            && execution.status.is_finished()
        {
            return stack.execution(&execution.id).await;
        }
        let later = Timestamp::from_millis(now().millis() + 61_000);
        for _ in 0..ticks {
            stage_transition::tick(&stack.services, later).await.unwrap();
        }
    }
    panic!("{pipeline}: the execution did not finish");
}

/// Pumps until two rounds in a row find nothing to deliver; how many messages were delivered.
async fn drain_deliveries(router: &Router) -> usize {
    drain_by_function(router).await.values().sum()
}

/// [`drain_deliveries`], counted by the function (logical id) each delivery went to.
async fn drain_by_function(router: &Router) -> std::collections::BTreeMap<String, usize> {
    let mut idle = 0;
    let mut delivered = std::collections::BTreeMap::new();
    while idle < 2 {
        let pumped = router.pump().await.unwrap();
        assert!(pumped.failed.is_empty(), "{:?}", pumped.failed);
        for (function, count) in pumped.by_function {
            *delivered.entry(function).or_default() += count;
        }
        if pumped.messages == 0 {
            idle += 1;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        } else {
            idle = 0;
        }
    }
    delivered
}

async fn latest(stack: &Stack, pipeline: &str) -> Option<Execution> {
    stack.services.store.list_executions(pipeline, 1, None).await.unwrap().items.into_iter().next()
}

fn attempt<'a>(execution: &'a Execution, stage: &str, action: &str) -> &'a pipewright_core::engine::ActionAttempt {
    let stage = execution.stages.iter().find(|s| s.name == stage).unwrap();
    stage.actions.iter().find(|a| a.name == action).unwrap().attempts.last().unwrap()
}

fn cloudformation_client(stack: &Stack) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(&stack.sdk)
}

async fn stack_status(stack: &Stack, name: &str) -> Option<String> {
    let described = cloudformation_client(stack).describe_stacks().stack_name(name).send().await.ok()?;
    described.stacks().first().and_then(|s| s.stack_status()).map(|s| s.as_str().to_string())
}

/// CloudFormation calls counted since the last reset: `UpdateStack` → count.
fn cloudformation_calls(stack: &Stack) -> std::collections::BTreeMap<String, u64> {
    stack
        .services
        .calls
        .snapshot()
        .into_iter()
        .filter_map(|(name, count)| name.strip_prefix("CloudFormation.").map(|op| (op.to_string(), count)))
        .collect()
}

/// A stack in another region: its template copied into that region's store, its outputs file
/// written there, and published by the S3 deploy at home, which reads it from there. The
/// stand-in serves each store only to a client of its region, as S3 does (docs/providers.md
/// §11).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stack_in_another_region_writes_its_outputs_to_that_regions_store_for_the_next_action() {
    let stack = stack().await;
    let (west_store, west_s3) = stack.regional_store("us-west-2").await;
    let stack_name = format!("far-{}", stack.stack.names.stack);
    let topic = format!("far-{}", stack.stack.names.stack);
    let mut declaration = stack_pipeline(&stack, "far", &stack_name);
    let home = declaration.as_object_mut().unwrap().remove("artifactStore").unwrap();
    declaration["artifactStores"] = json!({"us-east-1": home, "us-west-2": {"type": "S3", "location": west_store}});
    declaration["stages"][1]["actions"][0]["region"] = json!("us-west-2");
    stack.put_pipeline(&declaration).await;

    let files = [("template.yaml", TOPIC_TEMPLATE), ("params.json", &params(&topic, "west") as &str)];
    let done = release(&stack, (&stack.router, 1), "far", "infra.zip", &files).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    let west_cloudformation = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&stack.sdk).region(aws_config::Region::new("us-west-2")).build(),
    );
    let described = west_cloudformation.describe_stacks().stack_name(&stack_name).send().await.unwrap();
    assert_eq!(described.stacks()[0].stack_status().map(|s| s.as_str()), Some("CREATE_COMPLETE"));
    assert_eq!(stack_status(&stack, &stack_name).await, None, "not in the home region");
    let outputs = &attempt(&done, "Infra", "Stack").output_artifacts[0].location;
    assert_eq!(outputs.bucket, west_store, "the output lives in the action's region");
    let written = west_s3.get_object().bucket(&outputs.bucket).key(&outputs.key).send().await;
    assert!(written.is_ok(), "the outputs file, in the us-west-2 store");
    let published = stack.objects(&stack.deploy_bucket).await;
    let file = published.get("west/outputs.json").unwrap_or_else(|| panic!("{published:?}"));
    assert!(file.contains(&topic), "published at home from the us-west-2 store: {file}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stack_is_created_updated_left_unchanged_and_deleted_and_its_outputs_feed_a_later_action() {
    let stack = stack().await;
    let stack_name = format!("app-{}", stack.stack.names.stack);
    let topic = format!("topic-{}", stack.stack.names.stack);
    stack.put_pipeline(&stack_pipeline(&stack, "infra", &stack_name)).await;

    // Created, with its parameters from the source artifact.
    let created = release(
        &stack,
        (&stack.router, 1),
        "infra",
        "infra.zip",
        &[("template.yaml", TOPIC_TEMPLATE), ("params.json", &params(&topic, "staging"))],
    )
    .await;
    assert_eq!(created.status, ExecutionStatus::Succeeded, "{created:#?}");
    assert_eq!(stack_status(&stack, &stack_name).await.as_deref(), Some("CREATE_COMPLETE"));
    let deployed = attempt(&created, "Infra", "Stack");
    let jobs = deployed.job.as_ref().map_or(0, |job| job.sequence);
    assert!(jobs >= 2, "the stack was started in one job and checked by the tick in a later one: {jobs}");
    assert_eq!(deployed.output_variables.get("Env").map(String::as_str), Some("staging"));
    assert!(deployed.output_variables.get("TopicArn").is_some_and(|arn| arn.ends_with(&topic)), "{deployed:?}");
    let published = stack.objects(&stack.deploy_bucket).await;
    let outputs = published.get("staging/outputs.json").unwrap_or_else(|| panic!("{published:?}"));
    assert!(outputs.contains(&topic), "the outputs file went to the key the Env output named: {outputs}");

    // Updated: the parameter the artifact gives changed.
    let updated = release(
        &stack,
        (&stack.router, 1),
        "infra",
        "infra.zip",
        &[("template.yaml", TOPIC_TEMPLATE), ("params.json", &params(&topic, "prod"))],
    )
    .await;
    assert_eq!(updated.status, ExecutionStatus::Succeeded, "{updated:#?}");
    assert_eq!(stack_status(&stack, &stack_name).await.as_deref(), Some("UPDATE_COMPLETE"));
    assert_eq!(attempt(&updated, "Infra", "Stack").output_variables.get("Env").map(String::as_str), Some("prod"));
    assert!(stack.objects(&stack.deploy_bucket).await.contains_key("prod/outputs.json"));

    // Unchanged: no updates to perform is a success, and the stack is left as it was.
    stack.services.calls.reset();
    let unchanged = release(
        &stack,
        (&stack.router, 1),
        "infra",
        "infra.zip",
        &[("template.yaml", TOPIC_TEMPLATE), ("params.json", &params(&topic, "prod"))],
    )
    .await;
    assert_eq!(unchanged.status, ExecutionStatus::Succeeded, "{unchanged:#?}");
    let summary = attempt(&unchanged, "Infra", "Stack").summary.clone().unwrap_or_default();
    assert!(summary.to_lowercase().contains("no update") || summary.contains("unchanged"), "{summary}");
    assert_eq!(stack_status(&stack, &stack_name).await.as_deref(), Some("UPDATE_COMPLETE"));

    // Deleted, by a second pipeline's DELETE_ONLY action.
    let teardown = pipeline(
        &stack,
        "teardown",
        "teardown.zip",
        vec![json!({"name": "Remove", "actions": [cloudformation(
            "Stack",
            json!({"ActionMode": "DELETE_ONLY", "StackName": stack_name, "RoleArn": ROLE}),
            &[],
        )]})],
    );
    stack.put_pipeline(&teardown).await;
    let removed = release(&stack, (&stack.router, 1), "teardown", "teardown.zip", &[("README", "teardown")]).await;
    assert_eq!(removed.status, ExecutionStatus::Succeeded, "{removed:#?}");
    let status = stack_status(&stack, &stack_name).await;
    assert!(status.is_none() || status.as_deref() == Some("DELETE_COMPLETE"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_template_fails_the_action_naming_the_resource() {
    let stack = stack().await;
    let broken_template = "Resources:
  AppTopic:
    Type: AWS::SNS::Topic
  AppAlias:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !GetAtt AppTopic.NoSuchAttribute
";
    let deploy = cloudformation(
        "Stack",
        json!({"ActionMode": "CREATE_UPDATE", "StackName": format!("broken-{}", stack.stack.names.stack),
               "RoleArn": ROLE, "TemplatePath": "Code::template.yaml"}),
        &[],
    );
    stack
        .put_pipeline(&pipeline(&stack, "broken", "broken.zip", vec![json!({"name": "Infra", "actions": [deploy]})]))
        .await;
    let failed =
        release(&stack, (&stack.router, 1), "broken", "broken.zip", &[("template.yaml", broken_template)]).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    let action = attempt(&failed, "Infra", "Stack");
    assert_eq!(action.status, ActionStatus::Failed);
    let message = action.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    assert!(message.contains("AppTopic"), "the failure names the resource: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_dispatch_starts_exactly_one_stack_update() {
    let stack = stack().await;
    let stack_name = format!("twice-{}", stack.stack.names.stack);
    let topic = format!("twice-{}", stack.stack.names.stack);
    stack.put_pipeline(&stack_pipeline(&stack, "twice", &stack_name)).await;
    let files = |env: &'static str| {
        let params = params(&topic, env);
        move || vec![("template.yaml".to_string(), TOPIC_TEMPLATE.to_string()), ("params.json".to_string(), params)]
    };
    let first = files("staging")();
    let first: Vec<(&str, &str)> = first.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    let created = release(&stack, (&stack.router, 1), "twice", "infra.zip", &first).await;
    assert_eq!(created.status, ExecutionStatus::Succeeded);

    // Every delivery twice, at once: the dispatch, the engine events, and each tick.
    stack.services.calls.reset();
    let doubled = stack.router.clone().with_copies(2);
    let second = files("prod")();
    let second: Vec<(&str, &str)> = second.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    let updated = release(&stack, (&doubled, 2), "twice", "infra.zip", &second).await;
    assert_eq!(updated.status, ExecutionStatus::Succeeded, "{updated:#?}");
    assert_eq!(stack_status(&stack, &stack_name).await.as_deref(), Some("UPDATE_COMPLETE"));
    let calls = cloudformation_calls(&stack);
    assert_eq!(calls.get("UpdateStack"), Some(&1), "one stack update: {calls:?}");
    assert_eq!(calls.get("CreateStack"), None, "{calls:?}");
    for stage in &updated.stages {
        for action in &stage.actions {
            assert_eq!(action.attempts.len(), 1, "{}/{} ran once", stage.name, action.name);
        }
    }
}

/// moto runs Step Functions executions (instead of leaving them RUNNING) once told to.
async fn moto_runs_state_machines() {
    let url = format!("{}/moto-api/config", pipewright_aws::testing::endpoint());
    let request = pipewright_http::Request::new("POST", &url)
        .header("Content-Type", "application/json")
        .body(json!({"stepfunctions": {"execute_state_machine": true}}).to_string());
    let answer = pipewright_http::send(request).await.unwrap();
    assert!(answer.is_success(), "{}", answer.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_functions_execution_is_awaited_and_its_output_becomes_an_artifact() {
    moto_runs_state_machines().await;
    let stack = stack().await;
    // The machine lives in an account of its own, reached through the action's roleArn, as a
    // deploy into another account is (docs/providers.md §11). (moto runs one execution per
    // account and region: a fresh account keeps the test repeatable on one server.)
    let account = format!("{:012}", uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000);
    let role = format!("arn:aws:iam::{account}:role/pipewright-action-sfn");
    let assumed = aws_sdk_sts::Client::new(&stack.sdk)
        .assume_role()
        .role_arn(&role)
        .role_session_name("test")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let credentials = aws_sdk_sfn::config::Credentials::new(
        assumed.access_key_id(),
        assumed.secret_access_key(),
        Some(assumed.session_token().to_string()),
        None,
        "assumed",
    );
    let sfn = aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(&stack.sdk).credentials_provider(credentials).build(),
    );
    let definition = json!({"StartAt": "Release", "States": {"Release": {"Type": "Pass", "End": true}}});
    let machine = sfn
        .create_state_machine()
        .name(format!("release-{}", stack.stack.names.stack))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/pipewright-deploy-sfn")
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    let invoke = json!({
        "name": "Workflow", "namespace": "Flow", "roleArn": role,
        "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "StepFunctions", "version": "1"},
        "configuration": {"StateMachineArn": machine, "ExecutionNamePrefix": "release", "InputType": "Literal",
                          "Input": r#"{"release": "v1"}"#},
        "outputArtifacts": [{"name": "Result"}]});
    let publish = json!({
        "name": "Result",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"BucketName": stack.deploy_bucket, "Extract": "true", "ObjectKey": "flow"},
        "inputArtifacts": [{"name": "Result"}]});
    let declaration = pipeline(
        &stack,
        "flow",
        "flow.zip",
        vec![json!({"name": "Run", "actions": [invoke]}), json!({"name": "Publish", "actions": [publish]})],
    );
    stack.put_pipeline(&declaration).await;
    let done = release(&stack, (&stack.router, 1), "flow", "flow.zip", &[("README", "flow")]).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    let ran = attempt(&done, "Run", "Workflow");
    assert_eq!(ran.output_variables.get("StateMachineArn"), Some(&machine));
    assert!(machine.contains(&account), "{machine}");
    let execution = ran.output_variables.get("ExecutionArn").cloned().unwrap_or_default();
    assert!(execution.contains(&format!(":release-{}", ran.action_execution_id)), "{execution}");
    let described = sfn.describe_execution().execution_arn(&execution).send().await.unwrap();
    assert_eq!(described.status().as_str(), "SUCCEEDED");
    let published = stack.objects(&stack.deploy_bucket).await;
    let output: Value =
        serde_json::from_str(published.get("flow/output.json").unwrap_or_else(|| panic!("{published:?}"))).unwrap();
    assert_eq!(output, json!({"release": "v1"}), "the execution's output is the artifact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ecs_service_gets_the_new_image() {
    use aws_sdk_ecs::types::ContainerDefinition;
    let stack = stack().await;
    let ecs = aws_sdk_ecs::Client::new(&stack.sdk);
    let cluster = format!("pipewright-{}", stack.stack.names.stack);
    ecs.create_cluster().cluster_name(&cluster).send().await.unwrap();
    let container = |image: &str| ContainerDefinition::builder().name("web").image(image).memory(128).build();
    let current = ecs
        .register_task_definition()
        .family(format!("web-{}", stack.stack.names.stack))
        .container_definitions(container("registry.example/web:v1"))
        .send()
        .await
        .unwrap()
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .unwrap();
    ecs.create_service()
        .cluster(&cluster)
        .service_name("web")
        .task_definition(&current)
        .desired_count(1)
        .send()
        .await
        .unwrap();
    let deploy = json!({
        "name": "Roll",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "ECS", "version": "1"},
        "configuration": {"ClusterName": cluster, "ServiceName": "web"},
        "inputArtifacts": [{"name": "Code"}]});
    stack
        .put_pipeline(&pipeline(&stack, "service", "images.zip", vec![json!({"name": "Deploy", "actions": [deploy]})]))
        .await;
    let images = json!([{"name": "web", "imageUri": "registry.example/web:v2"}]).to_string();
    let done =
        release(&stack, (&stack.router, 1), "service", "images.zip", &[("imagedefinitions.json", &images)]).await;

    let service = ecs.describe_services().cluster(&cluster).services("web").send().await.unwrap();
    let running = service.services()[0].task_definition().unwrap().to_string();
    assert_ne!(running, current, "the service runs a new revision");
    let described = ecs
        .describe_task_definition()
        .task_definition(&running)
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let images: Vec<_> =
        described.task_definition().unwrap().container_definitions().iter().filter_map(|c| c.image()).collect();
    assert_eq!(images, ["registry.example/web:v2"]);
    assert!(described.tags().iter().any(|t| t.key() == Some("pipewright:job")), "the revision names its job");
    // moto registers the revision and points the service at it, but keeps the service's
    // deployment on the old revision: the rollout it reports never completes there. On AWS
    // UpdateService makes a new primary deployment, and the wait ends when it completes
    // (core::deploy::ecs::rollout, unit-tested).
    let rolled = attempt(&done, "Deploy", "Roll");
    let message = rolled.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    assert!(
        rolled.status == ActionStatus::Succeeded || message.contains(&format!("instead of {running}")),
        "{rolled:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_codedeploy_dispatch_creates_one_deployment_from_the_artifact() {
    let stack = stack().await;
    let codedeploy = aws_sdk_codedeploy::Client::new(&stack.sdk);
    let application = format!("pipewright-{}", stack.stack.names.stack);
    codedeploy.create_application().application_name(&application).send().await.unwrap();
    codedeploy
        .create_deployment_group()
        .application_name(&application)
        .deployment_group_name("fleet")
        .service_role_arn("arn:aws:iam::123456789012:role/pipewright-deploy-codedeploy")
        .send()
        .await
        .unwrap();
    let deploy = json!({
        "name": "Fleet",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeploy", "version": "1"},
        "configuration": {"ApplicationName": application, "DeploymentGroupName": "fleet"},
        "inputArtifacts": [{"name": "Code"}]});
    stack
        .put_pipeline(&pipeline(&stack, "fleet", "bundle.zip", vec![json!({"name": "Deploy", "actions": [deploy]})]))
        .await;
    stack.services.calls.reset();
    let doubled = stack.router.clone().with_copies(2);
    let (version, etag) = stack.upload_source("bundle.zip", &[("appspec.yml", "version: 0.0\nos: linux\n")]).await;
    stack.put_default_bus(&stack.object_created("bundle.zip", &version, &etag)).await;
    // Every delivery twice, and each tick twice, for three minutes of the deployment.
    let mut invoked = std::collections::BTreeMap::new();
    for _ in 0..3 {
        invoked.extend(drain_by_function(&doubled).await);
        let later = Timestamp::from_millis(now().millis() + 61_000);
        for _ in 0..2 {
            stage_transition::tick(&stack.services, later).await.unwrap();
        }
    }
    invoked.extend(drain_by_function(&doubled).await);
    // The S3 source, the deployment's start (CodeDeploy takes the bundle from S3) and its
    // looks move no artifact bytes: none of them runs in the 1024 MB function.
    assert!(invoked.contains_key("InvokeActionLightFunction"), "{invoked:?}");
    assert!(!invoked.contains_key("InvokeActionFunction"), "{invoked:?}");

    let listed =
        codedeploy.list_deployments().application_name(&application).deployment_group_name("fleet").send().await;
    let deployments = listed.unwrap().deployments().to_vec();
    assert_eq!(deployments.len(), 1, "one deployment: {deployments:?}");
    let calls = stack.services.calls.snapshot();
    assert_eq!(calls.get("CodeDeploy.CreateDeployment"), Some(&1), "{calls:?}");
    let execution = latest(&stack, "fleet").await.unwrap();
    let fleet = attempt(&execution, "Deploy", "Fleet");
    // moto answers GetDeployment with a time the SDK cannot read, so the first look fails
    // there; on AWS the tick looks each minute until the deployment ends
    // (core::deploy::codedeploy, unit-tested).
    let message = fleet.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    assert!(fleet.status == ActionStatus::InProgress || message.starts_with("GetDeployment"), "{fleet:#?}");
    // Read as raw JSON: the SDK cannot read moto's times (above).
    let request = pipewright_http::Request::new("POST", pipewright_aws::testing::endpoint())
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", "CodeDeploy_20141006.GetDeployment")
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20261202/us-east-1/codedeploy/aws4_request")
        .body(json!({"deploymentId": deployments[0]}).to_string());
    let answer: Value = serde_json::from_str(&pipewright_http::send(request).await.unwrap().text()).unwrap();
    let location = &answer["deploymentInfo"]["revision"]["s3Location"];
    let code = execution.stages[0].actions[0].attempts[0].output_artifacts[0].location.clone();
    assert_eq!(
        (location["bucket"].as_str(), location["key"].as_str()),
        (Some(code.bucket.as_str()), Some(code.key.as_str())),
        "{answer}"
    );
}

/// A stack's status change, as CloudFormation puts it on the account's default bus.
fn stack_status_change(stack_id: &str, status: &str) -> Value {
    json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "CloudFormation Stack Status Change", "source": "aws.cloudformation",
        "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
        "resources": [stack_id],
        "detail": {"stack-id": stack_id, "status-details": {"status": status, "status-reason": ""},
                   "client-request-token": ""}
    })
}

/// The early look (docs/providers.md §13): the stack's status-change event, put on the default
/// bus as CloudFormation puts it, reaches stage-transition through the template's rule, which
/// sends the waiting action's next look at once: the action completes with no tick at all.
/// An event for a stack no action waits on, and the same event again once the action is
/// done, make no look.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stack_status_event_completes_the_waiting_action_without_a_tick() {
    let stack = stack().await;
    // Within the template's default DeployStackPrefix, which the event rule is scoped to.
    let stack_name = format!("pipewright-early-{}", stack.stack.names.stack);
    let topic = format!("early-{}", stack.stack.names.stack);
    stack.put_pipeline(&stack_pipeline(&stack, "early", &stack_name)).await;
    let files = [("template.yaml", TOPIC_TEMPLATE), ("params.json", &params(&topic, "staging") as &str)];
    let (version, etag) = stack.upload_source("infra.zip", &files).await;
    stack.put_default_bus(&stack.object_created("infra.zip", &version, &etag)).await;
    drain_deliveries(&stack.router).await;

    // Started, and waiting: moto created the stack at once, but only a look can tell.
    let started = latest(&stack, "early").await.unwrap();
    let waiting = attempt(&started, "Infra", "Stack");
    assert_eq!(waiting.status, ActionStatus::InProgress, "{started:#?}");
    assert_eq!(stack_status(&stack, &stack_name).await.as_deref(), Some("CREATE_COMPLETE"));
    // The stack's own event announces the creation's end, so the tick's look is a backstop,
    // a minute away, and thins out from there (core::deploy::NextLook).
    let token = waiting.job.as_ref().and_then(|job| job.continuation_token.clone()).expect("the wait");
    let wait: Value = serde_json::from_str(&token).unwrap();
    assert_eq!(wait["pollAfterSeconds"], 60, "{wait}");
    let stack_id =
        cloudformation_client(&stack).describe_stacks().stack_name(&stack_name).send().await.unwrap().stacks()[0]
            .stack_id()
            .unwrap()
            .to_string();

    // Another stack's event (within the prefix, so the rule passes it on): no look.
    stack.services.calls.reset();
    let unknown = format!("arn:aws:cloudformation:us-east-1:123456789012:stack/pipewright-other-{}/1", topic);
    stack.put_default_bus(&stack_status_change(&unknown, "UPDATE_COMPLETE")).await;
    assert!(drain_deliveries(&stack.router).await >= 1, "stage-transition received the event");
    assert_eq!(cloudformation_calls(&stack), Default::default(), "no look for a stack nobody waits on");
    let unchanged = stack.execution(&started.id).await;
    assert_eq!(attempt(&unchanged, "Infra", "Stack"), waiting, "the waiting action is untouched");

    // Its own stack's event, twice: one look, and the action succeeds, then the pipeline.
    let event = stack_status_change(&stack_id, "CREATE_COMPLETE");
    stack.put_default_bus(&event).await;
    stack.put_default_bus(&event).await;
    let invoked = drain_by_function(&stack.router).await;
    // The look only calls CloudFormation: it runs in the 256 MB function, as every look does;
    // the 1024 MB one runs the next stage's S3 deploy alone, which unzips the outputs file.
    assert!(invoked.get("InvokeActionLightFunction").is_some_and(|looks| *looks >= 1), "{invoked:?}");
    assert_eq!(invoked.get("InvokeActionFunction"), Some(&1), "{invoked:?}");
    let done = stack.execution(&started.id).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    let deployed = attempt(&done, "Infra", "Stack");
    assert_eq!(deployed.output_variables.get("Env").map(String::as_str), Some("staging"));
    let calls = cloudformation_calls(&stack);
    assert_eq!(calls.get("DescribeStacks"), Some(&1), "one look for the duplicated event: {calls:?}");

    // A stale event, after the action finished: nothing.
    stack.services.calls.reset();
    stack.put_default_bus(&event).await;
    assert!(drain_deliveries(&stack.router).await >= 1);
    assert_eq!(cloudformation_calls(&stack), Default::default());
}

/// CodeDeployToECS through the functions: the task definition from the artifact's
/// `taskdef.json`, its image filled from `imageDetail.json`, is registered; the AppSpec names
/// it; one deployment is created even with every delivery and tick doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codedeploy_to_ecs_registers_the_filled_task_definition_and_deploys_it_once() {
    let stack = stack().await;
    let codedeploy = aws_sdk_codedeploy::Client::new(&stack.sdk);
    let application = format!("pipewright-ecs-{}", stack.stack.names.stack);
    codedeploy
        .create_application()
        .application_name(&application)
        .compute_platform(aws_sdk_codedeploy::types::ComputePlatform::Ecs)
        .send()
        .await
        .unwrap();
    codedeploy
        .create_deployment_group()
        .application_name(&application)
        .deployment_group_name("blue-green")
        .service_role_arn("arn:aws:iam::123456789012:role/pipewright-deploy-codedeploy")
        .send()
        .await
        .unwrap();
    let family = format!("web-bg-{}", stack.stack.names.stack);
    let deploy = json!({
        "name": "BlueGreen",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeployToECS", "version": "1"},
        "configuration": {"ApplicationName": application, "DeploymentGroupName": "blue-green",
                          "TaskDefinitionTemplateArtifact": "Code", "AppSpecTemplateArtifact": "Code",
                          "Image1ArtifactName": "Code", "Image1ContainerName": "IMAGE1_NAME"},
        "inputArtifacts": [{"name": "Code"}]});
    stack
        .put_pipeline(&pipeline(
            &stack,
            "bluegreen",
            "release.zip",
            vec![json!({"name": "Deploy", "actions": [deploy]})],
        ))
        .await;
    let taskdef = json!({"family": family, "containerDefinitions": [
        {"name": "web", "image": "<IMAGE1_NAME>", "memory": 128, "portMappings": [{"containerPort": 80}]}]})
    .to_string();
    let appspec = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n        LoadBalancerInfo:\n          ContainerName: web\n          ContainerPort: 80\n";
    let image = json!({"ImageURI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:0123abcd"}).to_string();
    stack.services.calls.reset();
    let doubled = stack.router.clone().with_copies(2);
    let files = [("taskdef.json", taskdef.as_str()), ("appspec.yaml", appspec), ("imageDetail.json", image.as_str())];
    let (version, etag) = stack.upload_source("release.zip", &files).await;
    stack.put_default_bus(&stack.object_created("release.zip", &version, &etag)).await;
    for _ in 0..3 {
        drain_deliveries(&doubled).await;
        let later = Timestamp::from_millis(now().millis() + 61_000);
        for _ in 0..2 {
            stage_transition::tick(&stack.services, later).await.unwrap();
        }
    }
    drain_deliveries(&doubled).await;

    let calls = stack.services.calls.snapshot();
    assert_eq!(calls.get("CodeDeploy.CreateDeployment"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ECS.RegisterTaskDefinition"), Some(&1), "{calls:?}");
    let ecs = aws_sdk_ecs::Client::new(&stack.sdk);
    let registered = ecs.describe_task_definition().task_definition(&family).send().await.unwrap();
    let registered = registered.task_definition().unwrap();
    let images: Vec<_> = registered.container_definitions().iter().filter_map(|c| c.image()).collect();
    assert_eq!(images, ["123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:0123abcd"]);
    let arn = registered.task_definition_arn().unwrap().to_string();

    let listed =
        codedeploy.list_deployments().application_name(&application).deployment_group_name("blue-green").send().await;
    let deployments = listed.unwrap().deployments().to_vec();
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    // Read as raw JSON: the SDK cannot read moto's times (see the CodeDeploy test).
    let request = pipewright_http::Request::new("POST", pipewright_aws::testing::endpoint())
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("X-Amz-Target", "CodeDeploy_20141006.GetDeployment")
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20261202/us-east-1/codedeploy/aws4_request")
        .body(json!({"deploymentId": deployments[0]}).to_string());
    let answer: Value = serde_json::from_str(&pipewright_http::send(request).await.unwrap().text()).unwrap();
    let revision = &answer["deploymentInfo"]["revision"];
    assert_eq!(revision["revisionType"], "AppSpecContent", "{answer}");
    let content = revision["appSpecContent"]["content"].as_str().unwrap_or_default();
    assert!(
        content.contains(&format!("TaskDefinition: {arn}")),
        "the AppSpec names the registered revision: {content}"
    );
    let execution = latest(&stack, "bluegreen").await.unwrap();
    let action = attempt(&execution, "Deploy", "BlueGreen");
    let message = action.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    // moto's GetDeployment times (above): on AWS the wait goes on until the deployment ends.
    assert!(action.status == ActionStatus::InProgress || message.starts_with("GetDeployment"), "{action:#?}");
}

/// Elastic Beanstalk through the functions, to the end: an application version from the
/// input artifact (moto_strict.py checks the bundle is where Beanstalk reads it), the
/// environment updated to it, and the tick's look finding it Ready on that version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_elastic_beanstalk_environment_is_updated_to_a_version_of_the_artifact() {
    let stack = stack().await;
    let beanstalk = aws_sdk_elasticbeanstalk::Client::new(&stack.sdk);
    let application = format!("pipewright-eb-{}", stack.stack.names.stack);
    let environment: String = format!("web-{}", stack.stack.names.stack).chars().take(40).collect();
    beanstalk.create_application().application_name(&application).send().await.unwrap();
    beanstalk
        .create_environment()
        .application_name(&application)
        .environment_name(&environment)
        .solution_stack_name("64bit Amazon Linux 2023 v5.7.0 running Tomcat 10 Corretto 21")
        .send()
        .await
        .unwrap();
    let deploy = json!({
        "name": "Web",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "ElasticBeanstalk", "version": "1"},
        "configuration": {"ApplicationName": application, "EnvironmentName": environment},
        "inputArtifacts": [{"name": "Code"}]});
    stack
        .put_pipeline(&pipeline(&stack, "beanstalk", "app.zip", vec![json!({"name": "Deploy", "actions": [deploy]})]))
        .await;
    stack.services.calls.reset();
    let done = release(&stack, (&stack.router, 1), "beanstalk", "app.zip", &[("index.html", "<h1>v2</h1>")]).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    let web = attempt(&done, "Deploy", "Web");
    let label = format!("pipewright-{}", web.action_execution_id);
    assert!(web.summary.as_deref().is_some_and(|s| s.contains(&label)), "{web:#?}");
    assert!(web.job.as_ref().is_some_and(|job| job.sequence >= 2), "started, then looked at by the tick: {web:#?}");
    let described =
        beanstalk.describe_environments().application_name(&application).environment_names(&environment).send().await;
    let described = described.unwrap();
    let running = described.environments().first().and_then(|e| e.version_label()).unwrap_or_default().to_string();
    assert_eq!(running, label);
    let calls = stack.services.calls.snapshot();
    assert_eq!(calls.get("Elastic Beanstalk.CreateApplicationVersion"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("Elastic Beanstalk.UpdateEnvironment"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("Elastic Beanstalk.DescribeEnvironments"), Some(&2), "Updating, then Ready: {calls:?}");
}

/// An ECS service's state-change event (the service named in its `resources`) makes the
/// waiting ECS action look at once, with no tick; another service's event makes no look.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ecs_service_event_makes_the_waiting_rollout_look_without_a_tick() {
    use aws_sdk_ecs::types::ContainerDefinition;
    let stack = stack().await;
    let ecs = aws_sdk_ecs::Client::new(&stack.sdk);
    // Within the template's default EcsServicePattern, which the event rule is scoped to.
    let cluster = format!("pipewright-events-{}", stack.stack.names.stack);
    ecs.create_cluster().cluster_name(&cluster).send().await.unwrap();
    let current = ecs
        .register_task_definition()
        .family(format!("api-{}", stack.stack.names.stack))
        .container_definitions(
            ContainerDefinition::builder().name("api").image("registry.example/api:v1").memory(128).build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .unwrap();
    let service_arn = ecs
        .create_service()
        .cluster(&cluster)
        .service_name("api")
        .task_definition(&current)
        .desired_count(1)
        .send()
        .await
        .unwrap()
        .service
        .and_then(|s| s.service_arn)
        .unwrap();
    let deploy = json!({
        "name": "Roll",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "ECS", "version": "1"},
        "configuration": {"ClusterName": cluster, "ServiceName": "api"},
        "inputArtifacts": [{"name": "Code"}]});
    stack
        .put_pipeline(&pipeline(&stack, "rollout", "images.zip", vec![json!({"name": "Deploy", "actions": [deploy]})]))
        .await;
    let images = json!([{"name": "api", "imageUri": "registry.example/api:v2"}]).to_string();
    let (version, etag) = stack.upload_source("images.zip", &[("imagedefinitions.json", &images)]).await;
    stack.put_default_bus(&stack.object_created("images.zip", &version, &etag)).await;
    drain_deliveries(&stack.router).await;
    let started = latest(&stack, "rollout").await.unwrap();
    let waiting = attempt(&started, "Deploy", "Roll").clone();
    assert_eq!(waiting.status, ActionStatus::InProgress, "{started:#?}");
    let looks = |stack: &Stack| stack.services.calls.snapshot().get("ECS.DescribeServices").copied().unwrap_or(0);
    let event = |resource: &str| {
        json!({
            "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "ECS Deployment State Change",
            "source": "aws.ecs", "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
            "resources": [resource],
            "detail": {"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED", "deploymentId": "ecs-svc/1"}
        })
    };

    stack.services.calls.reset();
    stack.put_default_bus(&event(&format!("{service_arn}-other"))).await;
    assert!(drain_deliveries(&stack.router).await >= 1, "stage-transition received the event");
    assert_eq!(looks(&stack), 0, "no look for a service nobody waits on");
    assert_eq!(attempt(&stack.execution(&started.id).await, "Deploy", "Roll"), &waiting);

    stack.put_default_bus(&event(&service_arn)).await;
    drain_deliveries(&stack.router).await;
    assert_eq!(looks(&stack), 1, "one look, at once");
    let looked = stack.execution(&started.id).await;
    let after = attempt(&looked, "Deploy", "Roll");
    assert!(
        after.status != ActionStatus::InProgress
            || after.job.as_ref().map(|j| j.sequence) > waiting.job.as_ref().map(|j| j.sequence),
        "the look moved the action on: {after:#?}"
    );
}
