//! The stand-in stack every end-to-end test runs against: the template's resources in moto
//! (through real HTTP, with the real SDK), the handlers in this process behind the router,
//! an SQS queue observing the CodePipeline-format events, and one subscribed to the approval
//! topic.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use serde_json::{Value, json};

use pipewright_aws::devstack::router::{Router, Target};
use pipewright_aws::devstack::{self, DevStack, StackNames, queue_arn};
use pipewright_aws::settings::Services;
use pipewright_aws::testing;
use pipewright_core::declaration::{Format, PipelineDocument};
use pipewright_core::engine::{Execution, ExecutionStatus};
use pipewright_core::ports::StateStore;

pub const TEMPLATE: &str = include_str!("../../../../template.yaml");
pub const APPROVAL_URL: &str = "https://approvals.example.test/";
/// The router's retry delays in tests: Lambda's two retries, in milliseconds instead of minutes.
pub const RETRY_DELAYS: [std::time::Duration; 2] =
    [std::time::Duration::from_millis(200), std::time::Duration::from_millis(400)];

pub struct Stack {
    pub sdk: SdkConfig,
    pub stack: DevStack,
    pub services: Arc<Services>,
    pub router: Router,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// Receives every event published under source `pipewright`.
    pub observer: String,
    /// Subscribed to the approval topic.
    pub inbox: String,
    /// A versioned bucket the S3 source reads.
    pub source_bucket: String,
    /// Where the S3 deploy writes.
    pub deploy_bucket: String,
}

pub async fn stack() -> Stack {
    stack_with_approval_url(APPROVAL_URL).await
}

/// The stack, with approval links pointing at `approval_url`.
pub async fn stack_with_approval_url(approval_url: &str) -> Stack {
    let sdk = testing::sdk_config().await;
    let names = StackNames::new(testing::unique("pw"));
    // Each stack's S3 rule takes only its own source bucket, as a deployed stack takes only
    // the buckets of its SourceBucketPattern: another test's uploads never reach it.
    let source_bucket = format!("pipewright-source-{}", names.stack);
    // Likewise its CodeCommit and ECR rules take only repositories named after the stack, and
    // its CodeBuild rule only its own projects' builds (`pipewright-app-<stack>`).
    let repositories = format!("{}-*", names.stack);
    let parameters = devstack::Parameters::from([
        ("SourceBucketPattern".to_string(), source_bucket.clone()),
        ("CodeCommitRepositoryPattern".to_string(), repositories.clone()),
        ("EcrRepositoryPattern".to_string(), repositories),
        ("CodeBuildProjectPattern".to_string(), format!("pipewright-app-{}", names.stack)),
    ]);
    let stack = devstack::create(&sdk, names, TEMPLATE, Some(approval_url.to_string()), &parameters)
        .await
        .expect("create the stack in moto");
    let services = Arc::new(Services::new(&sdk, stack.settings.clone(), true).await.expect("services"));
    let router =
        Router::new(&sdk, &stack, Target::InProcess(services.clone())).with_retry_delays(RETRY_DELAYS.to_vec());
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let sqs = aws_sdk_sqs::Client::new(&sdk);

    let observer = sqs
        .create_queue()
        .queue_name(format!("{}-observer", stack.names.stack))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let rule = format!("{}-observer", stack.names.stack);
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(stack.names.bus())
        .event_pattern(json!({"source": ["pipewright"]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(stack.names.bus())
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("observer")
                .arn(queue_arn(&sqs, &observer).await.unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let inbox =
        sqs.create_queue().queue_name(format!("{}-inbox", stack.names.stack)).send().await.unwrap().queue_url.unwrap();
    let sns = aws_sdk_sns::Client::new(&sdk);
    sns.subscribe()
        .topic_arn(&stack.topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn(&sqs, &inbox).await.unwrap())
        .send()
        .await
        .unwrap();

    let deploy_bucket = format!("pipewright-deploy-{}", stack.names.stack);
    for bucket in [&source_bucket, &deploy_bucket] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    versioning(&s3, &source_bucket).await;
    Stack { sdk, stack, services, router, s3, sqs, observer, inbox, source_bucket, deploy_bucket }
}

pub async fn versioning(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .unwrap();
}

/// A zip of `files` (name → content).
pub fn zip(files: &[(&str, &str)]) -> Vec<u8> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut buffer);
        for (name, content) in files {
            writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            writer.write_all(content.as_bytes()).unwrap();
        }
        writer.finish().unwrap();
    }
    buffer.into_inner()
}

impl Stack {
    /// An artifact store of `region` beside the stack's own (`<artifact bucket>-<region>`),
    /// and an S3 client of that region: the stand-in, as S3, serves a bucket only to a client
    /// of its region.
    pub async fn regional_store(&self, region: &str) -> (String, aws_sdk_s3::Client) {
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk)
                .region(aws_config::Region::new(region.to_string()))
                .force_path_style(true)
                .build(),
        );
        let bucket = format!("{}-{region}", self.artifact_bucket());
        let location = aws_sdk_s3::types::BucketLocationConstraint::from(region);
        let configuration =
            aws_sdk_s3::types::CreateBucketConfiguration::builder().location_constraint(location).build();
        client.create_bucket().bucket(&bucket).create_bucket_configuration(configuration).send().await.unwrap();
        (bucket, client)
    }

    pub fn artifact_bucket(&self) -> String {
        self.stack.names.bucket()
    }

    /// Uploads the source bundle; its version id and ETag.
    pub async fn upload_source(&self, key: &str, files: &[(&str, &str)]) -> (String, String) {
        let output = self
            .s3
            .put_object()
            .bucket(&self.source_bucket)
            .key(key)
            .body(ByteStream::from(zip(files)))
            .send()
            .await
            .unwrap();
        (output.version_id.unwrap(), output.e_tag.unwrap().trim_matches('"').to_string())
    }

    /// The "Object Created" event S3 sends EventBridge for that upload.
    pub fn object_created(&self, key: &str, version_id: &str, etag: &str) -> Value {
        json!({
            "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
            "resources": [format!("arn:aws:s3:::{}", self.source_bucket)],
            "detail": {"version": "0", "bucket": {"name": self.source_bucket},
                       "object": {"key": key, "size": 100, "etag": etag, "version-id": version_id, "sequencer": "00"},
                       "request-id": "R", "requester": "123456789012", "reason": "PutObject"}
        })
    }

    /// Puts an event on the account's default bus, as AWS services do.
    pub async fn put_default_bus(&self, event: &Value) {
        self.put_bus(event, None).await
    }

    /// Puts `event` (source, detail-type, detail, resources) on the stack's own bus.
    pub async fn put_custom_bus(&self, event: &Value) {
        self.put_bus(event, Some(&self.stack.settings.bus)).await
    }

    async fn put_bus(&self, event: &Value, bus: Option<&str>) {
        let events = aws_sdk_eventbridge::Client::new(&self.sdk);
        let output = events
            .put_events()
            .entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .set_event_bus_name(bus.map(String::from))
                    .source(event["source"].as_str().unwrap())
                    .detail_type(event["detail-type"].as_str().unwrap())
                    .detail(event["detail"].to_string())
                    .set_resources(
                        event["resources"]
                            .as_array()
                            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect()),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(output.failed_entry_count, 0);
    }

    /// Stores a declaration, as CreatePipeline will.
    pub async fn put_pipeline(&self, declaration: &Value) {
        let document = PipelineDocument::parse(&declaration.to_string(), Format::Json).unwrap();
        let report = pipewright_core::validate::validate(&document.pipeline);
        assert!(report.errors.is_empty(), "{report}");
        self.services.store.put_pipeline(&document.pipeline, pipewright_aws::handlers::now()).await.unwrap();
    }

    pub async fn execution(&self, id: &str) -> Execution {
        self.services.store.get_execution(id).await.unwrap().unwrap_or_else(|| panic!("execution {id} exists")).value
    }

    pub async fn status(&self, id: &str) -> Option<ExecutionStatus> {
        self.services.store.get_execution(id).await.unwrap().map(|e| e.value.status)
    }

    /// Pumps until the execution finishes.
    pub async fn run_to_end(&self, id: &str) -> ExecutionStatus {
        self.router
            .run_until(400, || async { self.status(id).await.is_some_and(|s| s.is_finished()) })
            .await
            .unwrap_or_else(|e| panic!("execution {id} did not finish: {e}"));
        self.status(id).await.unwrap()
    }

    /// Drains a queue: every message body.
    /// Empties the queues of every function that runs `binary` (invoke-action has two).
    pub async fn purge_queues_of(&self, binary: &str) {
        for queue in self.stack.queues_of(binary) {
            self.sqs.purge_queue().queue_url(&queue).send().await.unwrap();
        }
    }

    /// What the queues of every function that runs `binary` hold, taken out.
    pub async fn drain_queues_of(&self, binary: &str) -> Vec<Value> {
        let mut bodies = Vec::new();
        for queue in self.stack.queues_of(binary) {
            bodies.extend(self.drain(&queue).await);
        }
        bodies
    }

    pub async fn drain(&self, queue: &str) -> Vec<Value> {
        let mut bodies = Vec::new();
        loop {
            let output = self.sqs.receive_message().queue_url(queue).max_number_of_messages(10).send().await.unwrap();
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for message in messages {
                bodies.push(serde_json::from_str(message.body().unwrap_or("null")).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// The objects of a bucket: key → content.
    pub async fn objects(&self, bucket: &str) -> BTreeMap<String, String> {
        let listed = self.s3.list_objects_v2().bucket(bucket).send().await.unwrap();
        let mut objects = BTreeMap::new();
        for object in listed.contents() {
            let key = object.key().unwrap().to_string();
            let body =
                self.s3.get_object().bucket(bucket).key(&key).send().await.unwrap().body.collect().await.unwrap();
            objects.insert(key, String::from_utf8_lossy(&body.into_bytes()).into_owned());
        }
        objects
    }
}

fn commands(name: &str, run_order: u32, inputs: &[&str], commands: &[&str], output: Option<(&str, &[&str])>) -> Value {
    let mut action = json!({
        "name": name, "runOrder": run_order,
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": commands,
        "inputArtifacts": inputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
    });
    if let Some((artifact, files)) = output {
        action["outputArtifacts"] = json!([{"name": artifact, "files": files}]);
    }
    action
}

/// The site pipeline: S3 source → two parallel builds then a sequential check → approval →
/// S3 deploy.
pub fn site_pipeline(stack: &Stack, name: &str, mode: &str, with_approval: bool) -> Value {
    let mut stages = vec![
        json!({"name": "Source", "actions": [{
            "name": "Bundle", "namespace": "SourceVariables",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"S3Bucket": stack.source_bucket, "S3ObjectKey": "site.zip", "PollForSourceChanges": "false"},
            "outputArtifacts": [{"name": "Code"}]}]}),
        json!({"name": "Build", "actions": [
            commands("Test", 1, &["Code"], &["test -f index.html", "echo tested #{SourceVariables.VersionId}"], None),
            commands("Compile", 1, &["Code"], &["mkdir -p dist", "cp index.html dist/", "echo '#{SourceVariables.VersionId}' > dist/version.txt"], Some(("Site", &["dist/**"]))),
            commands("Check", 2, &["Site"], &["test -f dist/index.html"], None),
        ]}),
    ];
    if with_approval {
        stages.push(json!({"name": "Gate", "actions": [{
            "name": "Approve",
            "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
            "configuration": {"NotificationArn": stack.stack.topic_arn, "CustomData": "Ship version #{SourceVariables.VersionId}?",
                              "ExternalEntityLink": "https://example.test/diff"}}]}));
    }
    stages.push(json!({"name": "Deploy", "actions": [{
        "name": "Publish",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"BucketName": stack.deploy_bucket, "Extract": "true", "ObjectKey": "live", "CacheControl": "max-age=60"},
        "inputArtifacts": [{"name": "Site"}]}]}));
    json!({
        "name": name, "roleArn": "arn:aws:iam::123456789012:role/pipewright", "pipelineType": "V2", "executionMode": mode,
        "artifactStore": {"type": "S3", "location": stack.artifact_bucket()},
        "stages": stages,
    })
}

/// Makes the stand-in answer the next `count` calls of `operation` naming `resource` with
/// `error` (infra/local/moto_strict.py, `/_strict/throttle`).
pub async fn inject(operation: &str, resource: &str, count: u32, error: &str) {
    let order = json!({"operation": operation, "resource": resource, "count": count, "error": error});
    let url = format!("{}/_strict/throttle", pipewright_aws::testing::endpoint());
    let request = pipewright_http::Request::new("POST", &url).body(order.to_string());
    let answer = pipewright_http::send(request).await.unwrap();
    assert!(answer.is_success(), "{}", answer.text());
}

/// Makes the stand-in hold the next `count` calls of `operation` naming `resource` for
/// `seconds` before it serves them (infra/local/moto_strict.py, `/_strict/delay`).
pub async fn delay(operation: &str, resource: &str, seconds: f64, count: u32) {
    let order = json!({"operation": operation, "resource": resource, "seconds": seconds, "count": count});
    let url = format!("{}/_strict/delay", pipewright_aws::testing::endpoint());
    let request = pipewright_http::Request::new("POST", &url).body(order.to_string());
    let answer = pipewright_http::send(request).await.unwrap();
    assert!(answer.is_success(), "{}", answer.text());
}

/// Waits until the stand-in holds back a call naming `resource` (`delay`); panics after a
/// minute (the router's rounds before the call, on a loaded machine, take seconds).
pub async fn until_a_call_is_held(resource: &str) {
    let url = format!("{}/_strict/delay", pipewright_aws::testing::endpoint());
    for _ in 0..3000 {
        let answer = pipewright_http::send(pipewright_http::Request::new("GET", &url)).await.unwrap();
        let report: Value = serde_json::from_slice(&answer.body).unwrap();
        if report["waiting"][resource].as_u64().unwrap_or(0) > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no call was held back within a minute");
}

/// How many calls of `operation` naming `resource` the stand-in answered with an injected error.
pub async fn injected(operation: &str, resource: &str) -> u64 {
    let url = format!("{}/_strict/throttle", pipewright_aws::testing::endpoint());
    let answer = pipewright_http::send(pipewright_http::Request::new("GET", &url)).await.unwrap();
    let report: Value = serde_json::from_slice(&answer.body).unwrap();
    report["answered"][format!("{operation} {resource}")].as_u64().unwrap_or(0)
}

/// What AWS would bill for one table's and one bus's requests so far, as
/// the stand-in measures it (infra/local/moto_strict.py, `/_strict/billing`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Billed {
    pub write_units: f64,
    pub read_units: f64,
    pub events: f64,
}

impl std::ops::Sub for Billed {
    type Output = Billed;
    fn sub(self, before: Billed) -> Billed {
        Billed {
            write_units: self.write_units - before.write_units,
            read_units: self.read_units - before.read_units,
            events: self.events - before.events,
        }
    }
}

pub async fn billed(table: &str, bus: &str) -> Billed {
    let url = format!("{}/_strict/billing", pipewright_aws::testing::endpoint());
    let answer = pipewright_http::send(pipewright_http::Request::new("GET", &url)).await.unwrap();
    let report: Value = serde_json::from_slice(&answer.body).unwrap();
    let number = |resource: &str, field: &str| report[resource][field].as_f64().unwrap_or(0.0);
    Billed {
        write_units: number(table, "write_units"),
        read_units: number(table, "read_units"),
        events: number(bus, "events"),
    }
}
