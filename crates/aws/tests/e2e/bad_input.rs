//! Bad input gets a clear error naming what is wrong, and nothing half-written: malformed
//! events, an unknown pipeline, an unversioned artifact bucket.

use crate::common;

use pipewright_aws::bus::{COMMAND_SOURCE, Entry, Envelope, START_COMMAND, StartCommand};
use pipewright_aws::devstack::router::{Delivery, Target, deliver};
use pipewright_aws::handlers::{HandlerError, invoke_action, source_change, stage_transition};
use pipewright_core::ports::StateStore;
use serde_json::json;

use common::*;

fn envelope(source: &str, detail_type: &str, detail: serde_json::Value) -> Envelope {
    serde_json::from_value(json!({"id": "1", "source": source, "detail-type": detail_type, "detail": detail})).unwrap()
}

fn rejected(result: Result<serde_json::Value, HandlerError>) -> String {
    match result {
        Err(HandlerError::Rejected(message)) => message,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_events_are_rejected_naming_the_field() {
    let stack = stack().await;
    let services = &stack.services;
    let message =
        rejected(source_change::receive(services, &envelope("aws.s3", "Object Created", json!({"bucket": {}}))).await);
    assert!(message.contains("detail.bucket.name"), "{message}");
    let message = rejected(
        source_change::receive(
            services,
            &envelope("aws.s3", "Object Created", json!({"bucket": {"name": "b"}, "object": {"key": 7}})),
        )
        .await,
    );
    assert!(message.contains("detail.object.key"), "{message}");
    let message = rejected(
        source_change::receive(
            services,
            &envelope(
                "aws.codecommit",
                "CodeCommit Repository State Change",
                json!({"event": "referenceDeleted", "referenceType": "branch"}),
            ),
        )
        .await,
    );
    assert!(message.contains("referenceDeleted"), "{message}");
    let message = rejected(
        source_change::receive(services, &envelope("aws.ec2", "EC2 Instance State-change Notification", json!({})))
            .await,
    );
    assert!(message.contains("aws.ec2"), "{message}");
    let message = rejected(
        source_change::receive(services, &envelope(COMMAND_SOURCE, START_COMMAND, json!({"pipeline": "x"}))).await,
    );
    assert!(message.contains("pipelineName"), "{message}");
    let message = rejected(
        stage_transition::receive(
            services,
            &envelope("pipewright.engine", "Pipewright Engine Event", json!({"pipeline": "p"})),
        )
        .await,
    );
    assert!(message.contains("engine event"), "{message}");
    let message = rejected(
        invoke_action::receive(services, &envelope("pipewright.engine", "Pipewright Action Dispatched", json!({})))
            .await,
    );
    assert!(message.contains("dispatched action"), "{message}");
    // Not even JSON: the delivery is dropped, not retried forever.
    let target = Target::InProcess(services.clone());
    assert!(matches!(deliver(&target, "stage-transition", "{not json").await, Delivery::Rejected(_)));
    // Through the queues too: rejected and deleted, not failed. (The rule passes on only the
    // source buckets' events, so the malformed part is the object.)
    let malformed = json!({
        "source": "aws.s3", "detail-type": "Object Created", "resources": [],
        "detail": {"bucket": {"name": stack.source_bucket}, "object": {"key": 5}},
    });
    stack.put_default_bus(&malformed).await;
    let pumped = stack.router.pump().await.unwrap();
    assert_eq!((pumped.messages, pumped.rejected.len(), pumped.failed.len()), (1, 1, 0), "{pumped:?}");
    assert!(pumped.rejected[0].contains("detail.object.key"), "{pumped:?}");
    assert_eq!(stack.router.pump().await.unwrap().messages, 0, "a rejected event is not delivered again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_pipeline_is_named_in_the_error() {
    let stack = stack().await;
    let command = StartCommand {
        pipeline_name: "nowhere".into(),
        variables: Vec::new(),
        source_revisions: Vec::new(),
        client_request_token: None,
        change: None,
        requested_by: None,
    };
    let message = rejected(
        source_change::receive(
            &stack.services,
            &envelope(COMMAND_SOURCE, START_COMMAND, serde_json::to_value(&command).unwrap()),
        )
        .await,
    );
    assert!(message.contains("PipelineNotFoundException") && message.contains("nowhere"), "{message}");
    // An engine event for it, likewise.
    let event = json!({"pipeline": "nowhere", "event": {"type": "Tick", "executionId": "e"}});
    let result =
        stage_transition::receive(&stack.services, &envelope("pipewright.engine", "Pipewright Engine Event", event))
            .await;
    let message = match result {
        Err(HandlerError::Rejected(message)) => message,
        other => panic!("{other:?}"),
    };
    assert!(message.contains("nowhere"), "{message}");
    // The command through the bus: the rule delivers it, it is rejected, nothing is stored.
    let entry = Entry {
        source: COMMAND_SOURCE.into(),
        detail_type: START_COMMAND.into(),
        detail: serde_json::to_value(&command).unwrap(),
        resources: vec![],
    };
    stack.services.bus.put(vec![entry]).await.unwrap();
    let pumped = stack.router.pump().await.unwrap();
    assert_eq!(pumped.rejected.len(), 1, "{pumped:?}");
    assert!(stack.services.store.list_pipelines().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unversioned_artifact_bucket_is_refused_before_anything_is_written() {
    let stack = stack().await;
    let unversioned = format!("{}-plain", stack.stack.names.stack);
    stack.s3.create_bucket().bucket(&unversioned).send().await.unwrap();
    let mut declaration = site_pipeline(&stack, "unversioned", "SUPERSEDED", false);
    declaration["artifactStore"]["location"] = json!(unversioned);
    stack.put_pipeline(&declaration).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "x")]).await;
    let event: Envelope = serde_json::from_value(stack.object_created("site.zip", &version, &etag)).unwrap();
    let message = match source_change::handle(&stack.services, &event).await {
        Err(HandlerError::Rejected(message)) => message,
        other => panic!("{other:?}"),
    };
    assert!(message.contains(&unversioned) && message.contains("not versioned"), "{message}");
    assert!(
        stack.services.store.list_executions("unversioned", 10, None).await.unwrap().items.is_empty(),
        "no execution was written"
    );
    assert_eq!(stack.router.pump().await.unwrap().messages, 0, "nothing was published");
    assert!(stack.drain(&stack.observer).await.is_empty());
    assert!(stack.objects(&unversioned).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_no_pipeline_watches_starts_nothing() {
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "site", "SUPERSEDED", false)).await;
    let (version, etag) = stack.upload_source("other.zip", &[("a", "b")]).await;
    let event: Envelope = serde_json::from_value(stack.object_created("other.zip", &version, &etag)).unwrap();
    assert!(source_change::handle(&stack.services, &event).await.unwrap().is_empty());
    assert!(stack.services.store.list_executions("site", 10, None).await.unwrap().items.is_empty());
}

/// Stored state that cannot be read fails for good: the delivery is answered as failed and
/// dropped, not retried until the dead-letter queue; a transient failure would stay queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_state_fails_for_good_and_is_not_retried() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "site", "SUPERSEDED", false)).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "x")]).await;
    let event: Envelope = serde_json::from_value(stack.object_created("site.zip", &version, &etag)).unwrap();
    let started = source_change::handle(&stack.services, &event).await.unwrap();
    let id = started[0].execution_id.clone();

    // The execution's body is damaged after the start committed and published its dispatch.
    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .update_item()
        .table_name(stack.services.store.table())
        .key("pk", AttributeValue::S(format!("EXECUTION#{id}")))
        .key("sk", AttributeValue::S("EXECUTION".into()))
        .update_expression("SET body = :damaged")
        .expression_attribute_values(":damaged", AttributeValue::B(aws_smithy_types::Blob::new(b"not gzip".to_vec())))
        .send()
        .await
        .unwrap();
    let error = stack.services.store.get_execution(&id).await.unwrap_err();
    assert!(error.is_permanent(), "{error}");

    // The dispatch meets the damaged execution (invoke-action reads it to check that the job
    // is still current): failed for good, and dropped.
    let mut rejected = Vec::new();
    for _ in 0..20 {
        let pumped = stack.router.pump().await.unwrap();
        assert!(pumped.failed.is_empty(), "nothing is left to be retried: {pumped:?}");
        rejected.extend(pumped.rejected);
        if pumped.messages == 0 && !rejected.is_empty() {
            break;
        }
    }
    assert!(rejected.iter().any(|r| r.contains(": failed for good") && r.contains("unreadable")), "{rejected:?}");
    assert_eq!(stack.router.pump().await.unwrap().messages, 0, "the failed event is not delivered again");

    // The same through the handler: a permanent error, which the function answers without failing.
    let tick = json!({"pipeline": "site", "event": {"type": "Tick", "executionId": id}});
    let result =
        stage_transition::receive(&stack.services, &envelope("pipewright.engine", "Pipewright Engine Event", tick))
            .await;
    assert!(matches!(&result, Err(HandlerError::Permanent(m)) if m.contains("unreadable")), "{result:?}");

    // The minute tick, once the source's deadline has passed: it sets the execution aside
    // instead of failing on it every minute, and goes on serving the others.
    let later =
        pipewright_core::time::Timestamp::from_millis(pipewright_aws::handlers::now().millis() + 2 * 3600 * 1000);
    let report = stage_transition::tick(&stack.services, later).await.unwrap();
    assert_eq!(report.failures.len(), 1, "{report:?}");
    assert!(report.failures[0].contains(&format!("execution {id} set aside")), "{report:?}");
    let again = stage_transition::tick(&stack.services, later).await.unwrap();
    assert!(again.failures.is_empty(), "a set-aside execution is not swept again: {again:?}");
    assert!(stack.services.store.get_execution(&id).await.is_err(), "it stays, for a person to look at");
}
