//! AWS's limits, through the strict stand-in (infra/local/moto_strict.py): each at the limit
//! and past it, and throttling injected (docs/security.md, "Limits of AWS").

use crate::common;

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde_json::{Value, json};

use pipewright_aws::bus::{self, COMMAND_SOURCE, Entry, START_COMMAND};
use pipewright_aws::dynamo::limits::{ITEM_BYTES, item_size};
use pipewright_core::declaration::{Format, PipelineDocument};
use pipewright_core::engine::ExecutionStatus;
use pipewright_core::ports::{StateStore, StoreError};

use common::*;

/// `stages` stages of `actions` Commands actions, each with three commands of `length`
/// characters made by `text(stage, action, command)`.
fn wide_pipeline(
    stack: &Stack,
    name: &str,
    stages: usize,
    actions: usize,
    text: impl Fn(usize, usize, usize) -> String,
) -> Value {
    let mut declared = vec![json!({"name": "Source", "actions": [{
        "name": "Bundle",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": stack.source_bucket, "S3ObjectKey": "site.zip", "PollForSourceChanges": "false"},
        "outputArtifacts": [{"name": "Code"}]}]})];
    for stage in 1..stages {
        let actions: Vec<Value> = (0..actions)
            .map(|action| {
                json!({
                    "name": format!("Step{action}"),
                    "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                    "commands": (0..3).map(|command| text(stage, action, command)).collect::<Vec<_>>(),
                    "inputArtifacts": [{"name": "Code"}],
                })
            })
            .collect();
        declared.push(json!({"name": format!("Stage{stage}"), "actions": actions}));
    }
    json!({
        "name": name, "roleArn": "arn:aws:iam::123456789012:role/pipewright", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": stack.artifact_bucket()},
        "stages": declared,
    })
}

fn valid(declaration: &Value) -> PipelineDocument {
    let document = PipelineDocument::parse(&declaration.to_string(), Format::Json).unwrap();
    let report = pipewright_core::validate::validate(&document.pipeline);
    assert!(report.errors.is_empty(), "{report}");
    document
}

/// A command as people write them: long, and much like its neighbours.
fn long_command(stage: usize, action: usize, command: usize) -> String {
    format!(
        "docker run --rm -v \"$PWD:/src\" -w /src -e STAGE=stage-{stage} -e STEP=step-{action} \
         registry.example.test/build/toolchain:2026.11 ./scripts/run-step.sh --stage {stage} --step {action} \
         --part {command} --report reports/{stage}-{action}-{command}.xml --cache /tmp/cache/{stage} \
         --retries 3 --timeout 900 --verbose && echo done {stage}/{action}/{command}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declaration_of_10_stages_of_50_actions_over_400_kb_as_json_is_stored_whole() {
    let stack = stack().await;
    // Ten stages: the source, then nine of 50 actions.
    let declaration = wide_pipeline(&stack, "wide", 10, 50, long_command);
    let json = declaration.to_string();
    assert!(json.len() > ITEM_BYTES, "over 400 KB as JSON: {} bytes", json.len());
    let document = valid(&declaration);
    let stored = stack.services.store.put_pipeline(&document.pipeline, pipewright_aws::handlers::now()).await.unwrap();
    assert_eq!((stored.version, stored.created), (1, true));

    let read = stack.services.store.get_pipeline("wide", None).await.unwrap().unwrap();
    assert_eq!(read.declaration.stages.len(), 10);
    assert_eq!(read.declaration.stages[9].actions.len(), 50);
    assert_eq!(read.declaration.stages, document.pipeline.stages, "read back whole");
    assert!(stack.services.store.list_pipelines().await.unwrap().iter().any(|p| p.declaration.name == "wide"));

    let stored = raw_item(&stack, "PIPELINE#wide", "DECLARATION#0000000001").await;
    let size = item_size(&stored);
    println!("a declaration of {} bytes as JSON is an item of {size} bytes", json.len());
    assert!(size < ITEM_BYTES / 4, "{size}");
}

/// An item of the state table as stored.
async fn raw_item(stack: &Stack, pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .get_item()
        .table_name(&stack.stack.settings.table)
        .key("pk", AttributeValue::S(pk.to_string()))
        .key("sk", AttributeValue::S(sk.to_string()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declaration_too_large_even_compressed_is_refused_by_name_and_nothing_is_written() {
    let stack = stack().await;
    // Commands that do not compress: random hex, 1 MB of it.
    let random = |stage: usize, action: usize, command: usize| {
        let hex: String = (0..20).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect();
        format!("echo {stage}-{action}-{command} {hex}")
    };
    let declaration = wide_pipeline(&stack, "huge", 10, 50, random);
    let document = valid(&declaration);
    let error =
        stack.services.store.put_pipeline(&document.pipeline, pipewright_aws::handlers::now()).await.unwrap_err();
    assert!(matches!(error, StoreError::Refused(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("pipeline huge") && message.contains("400 KB"), "{message}");
    assert!(stack.services.store.get_pipeline("huge", None).await.unwrap().is_none(), "nothing was written");

    // A pipeline stored small, then updated past the limit, keeps its version.
    let small = wide_pipeline(&stack, "grows", 2, 1, long_command);
    stack.services.store.put_pipeline(&valid(&small).pipeline, pipewright_aws::handlers::now()).await.unwrap();
    let grown = wide_pipeline(&stack, "grows", 10, 50, random);
    let error =
        stack.services.store.put_pipeline(&valid(&grown).pipeline, pipewright_aws::handlers::now()).await.unwrap_err();
    assert!(error.to_string().contains("pipeline grows"), "{error}");
    let kept = stack.services.store.get_pipeline("grows", None).await.unwrap().unwrap();
    assert_eq!((kept.version, kept.declaration.stages.len()), (1, 2), "the stored version is untouched");
}

/// An item of `bytes` bytes, as DynamoDB measures it.
fn item_of(pk: &str, bytes: usize) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.to_string())),
        ("sk".to_string(), AttributeValue::S("X".to_string())),
        ("b".to_string(), AttributeValue::B(Vec::new().into())),
    ]);
    let padding = bytes - item_size(&item);
    item.insert("b".to_string(), AttributeValue::B(vec![7u8; padding].into()));
    assert_eq!(item_size(&item), bytes);
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stand_in_refuses_an_item_one_byte_past_400_kb_with_dynamodbs_errors() {
    let stack = stack().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.stack.settings.table.clone();
    dynamo.put_item().table_name(&table).set_item(Some(item_of("LIMIT#at", ITEM_BYTES))).send().await.unwrap();
    let error = dynamo
        .put_item()
        .table_name(&table)
        .set_item(Some(item_of("LIMIT#past", ITEM_BYTES + 1)))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(error.meta().code(), Some("ValidationException"));
    assert_eq!(error.meta().message(), Some("Item size has exceeded the maximum allowed size"));

    // In a transaction: cancelled, the item's reason ValidationError, nothing written.
    let put = |item| {
        TransactWriteItem::builder()
            .put(Put::builder().table_name(&table).set_item(Some(item)).build().unwrap())
            .build()
    };
    let error = dynamo
        .transact_write_items()
        .transact_items(put(item_of("LIMIT#small", 100)))
        .transact_items(put(item_of("LIMIT#past", ITEM_BYTES + 1)))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = &error else {
        panic!("a cancelled transaction: {error:?}")
    };
    let codes: Vec<&str> = cancelled.cancellation_reasons().iter().filter_map(|r| r.code()).collect();
    assert_eq!(codes, ["None", "ValidationError"]);
    let small = dynamo.get_item().table_name(&table).set_key(Some(key("LIMIT#small"))).send().await.unwrap();
    assert!(small.item.is_none(), "nothing of the cancelled transaction was written");

    // Eleven items of 381 KB: past 4 MB in all.
    let mut transaction = dynamo.transact_write_items();
    for i in 0..11 {
        transaction = transaction.transact_items(put(item_of(&format!("LIMIT#{i}"), 390 * 1024)));
    }
    let error = transaction.send().await.unwrap_err().into_service_error();
    assert_eq!(error.meta().code(), Some("ValidationException"), "{error:?}");
}

fn key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.to_string())),
        ("sk".to_string(), AttributeValue::S("X".to_string())),
    ])
}

/// An event for the observer (source `pipewright`) of `bytes` bytes as EventBridge measures it.
fn event_of(bytes: usize, index: usize) -> Entry {
    let source = "pipewright";
    let detail_type = "Limit Test";
    let overhead =
        source.len() + detail_type.len() + json!({"pipeline": "limits", "index": index, "pad": ""}).to_string().len();
    Entry {
        source: source.to_string(),
        detail_type: detail_type.to_string(),
        detail: json!({"pipeline": "limits", "index": index, "pad": "x".repeat(bytes - overhead)}),
        resources: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn putevents_are_batched_by_256_kb_and_an_event_past_it_is_refused_by_name() {
    let stack = stack().await;
    // The stand-in refuses a request over 256 KB, as EventBridge does.
    let events = aws_sdk_eventbridge::Client::new(&stack.sdk);
    let entry = |e: &Entry| {
        aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(stack.stack.names.bus())
            .source(&e.source)
            .detail_type(&e.detail_type)
            .detail(e.detail.to_string())
            .build()
    };
    let two = [event_of(200 * 1024, 0), event_of(200 * 1024, 1)];
    let error = events
        .put_events()
        .entries(entry(&two[0]))
        .entries(entry(&two[1]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(error.meta().code(), Some("ValidationException"), "{error:?}");

    // The bus puts them in requests under the limit: one event at exactly 256 KB, and three of
    // 100 KB, in as many requests as it takes.
    let mut batch: Vec<Entry> = (0..3).map(|i| event_of(100 * 1024, i)).collect();
    batch.push(event_of(bus::MAX_REQUEST_BYTES, 3));
    let before = stack.services.calls.snapshot().get("EventBridge.PutEvents").copied().unwrap_or(0);
    stack.services.bus.put(batch).await.unwrap();
    let requests = stack.services.calls.snapshot()["EventBridge.PutEvents"] - before;
    assert_eq!(requests, 3, "[100 KB, 100 KB], [100 KB], [256 KB]");
    let mut seen: Vec<u64> = Vec::new();
    for _ in 0..50 {
        seen.extend(stack.drain(&stack.observer).await.iter().filter_map(|e| e["detail"]["index"].as_u64()));
        if seen.len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3], "every event arrived");

    // One byte more: refused for good, naming it, and nothing of its batch is put.
    let before = stack.services.calls.snapshot()["EventBridge.PutEvents"];
    let error =
        stack.services.bus.put(vec![event_of(100, 0), event_of(bus::MAX_REQUEST_BYTES + 1, 1)]).await.unwrap_err();
    assert!(error.is_permanent(), "{error}");
    let message = error.to_string();
    assert!(message.contains("'Limit Test' of pipeline limits") && message.contains("256 KB"), "{message}");
    assert_eq!(stack.services.calls.snapshot()["EventBridge.PutEvents"], before, "no request was made");
}

/// Starts `pipeline` through the bus, as the CLI does.
async fn start_on_bus(stack: &Stack, pipeline: &str) {
    let command = json!({"pipelineName": pipeline, "clientRequestToken": uuid::Uuid::new_v4().to_string()});
    let entry = Entry {
        source: COMMAND_SOURCE.to_string(),
        detail_type: START_COMMAND.to_string(),
        detail: command,
        resources: Vec::new(),
    };
    stack.services.bus.put(vec![entry]).await.unwrap();
}

/// Throttles enough for every try of one delivery's commit of its change of the head (the SDK
/// tries each write [`SDK_ATTEMPTS`] times, the handler backs off between its own tries),
/// then `extra` more.
async fn throttle_head_writes(table: &str, deliveries: u32, extra: u32) -> u32 {
    let tries = pipewright_core::backoff::THROTTLED.retries + 1;
    let count = deliveries * tries * SDK_ATTEMPTS + extra;
    // The head is written first among the change's single writes that are updates.
    inject("UpdateItem", table, count, "ThrottlingException").await;
    count
}

/// How many times the SDK sends a throttled request before it gives up (its standard retry).
const SDK_ATTEMPTS: u32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttled_writes_back_off_and_the_run_completes() {
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "throttled", "SUPERSEDED", false)).await;
    let table = stack.stack.settings.table.clone();
    // The start's commit is throttled past the SDK's and the handler's tries: the event
    // fails, and is delivered again after the retry delay, whose first try is throttled too
    // and whose second commits.
    let count = throttle_head_writes(&table, 1, SDK_ATTEMPTS).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>throttled</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    let listed = || async { stack.services.store.list_executions("throttled", 10, None).await.unwrap().items };
    let pumped = stack
        .router
        .run_until(600, || async { listed().await.first().is_some_and(|e| e.status.is_finished()) })
        .await
        .unwrap();
    assert_eq!(injected("UpdateItem", &table).await, u64::from(count), "all throttled");
    let throttled: Vec<&String> = pumped.failed.iter().filter(|f| f.contains("ThrottlingException")).collect();
    assert_eq!(
        throttled.len(),
        1,
        "the delivery whose commit stayed throttled past its backoff failed, to be retried: {:?}",
        pumped.failed
    );
    assert!(pumped.dead_lettered.is_empty(), "{pumped:?}");
    assert_eq!(listed().await[0].status, ExecutionStatus::Succeeded);
    assert!(outbox_batches(&stack).await.is_empty(), "no batch of a throttled commit is left behind");
}

/// A stage move whose write of the execution fails after the head's (throttled past the SDK's
/// attempts) leaves the head's marker behind with nothing to settle it. The handler's next try
/// finds the change under way, waits, fences it off and decides again: the run ends once, and
/// the orphaned change's outbox batch is never carried out (no state change is put twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_head_change_whose_execution_write_fails_is_fenced_off_and_the_run_ends_once() {
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "fenced", "SUPERSEDED", false)).await;
    let (table, bus) = (stack.stack.settings.table.clone(), stack.stack.settings.bus.clone());
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>fenced</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    let listed = || async { stack.services.store.list_executions("fenced", 10, None).await.unwrap().items };
    stack.router.run_until(100, || async { !listed().await.is_empty() }).await.unwrap();
    let execution = listed().await[0].id.clone();
    // The first update naming the execution's key is the source's result, which moves it on.
    let resource = format!("EXECUTION#{execution}");
    inject("UpdateItem", &resource, SDK_ATTEMPTS, "ThrottlingException").await;
    let pumped = stack
        .router
        .run_until(600, || async { listed().await.first().is_some_and(|e| e.status.is_finished()) })
        .await
        .unwrap();
    assert_eq!(injected("UpdateItem", &resource).await, u64::from(SDK_ATTEMPTS));
    assert!(pumped.failed.is_empty() && pumped.dead_lettered.is_empty(), "the handler's own try: {pumped:?}");
    assert_eq!(listed().await[0].status, ExecutionStatus::Succeeded);
    // The pipeline's 2, each of the 3 stages' 2, each of the 5 actions' 2: none twice.
    assert_eq!(billed(&table, &bus).await.events, 18.0);
    assert!(outbox_batches(&stack).await.is_empty(), "the orphan's batch is removed");
}

/// The outbox batches in the table, read unmetered.
async fn outbox_batches(stack: &Stack) -> Vec<HashMap<String, AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(&pipewright_aws::testing::unmetered_sdk_config().await);
    let query = client
        .query()
        .table_name(&stack.stack.settings.table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("OUTBOX".into()))
        .consistent_read(true);
    query.send().await.unwrap().items.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provisioned_throughput_exceeded_is_retried_by_the_sdk() {
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "busy", "SUPERSEDED", false)).await;
    let table = stack.stack.settings.table.clone();
    inject("GetItem", &table, 2, "ProvisionedThroughputExceededException").await;
    stack.services.calls.reset();
    let read = stack.services.store.get_pipeline("busy", None).await.unwrap();
    assert!(read.is_some());
    assert_eq!(injected("GetItem", &table).await, 2, "two attempts were throttled");
    assert_eq!(stack.services.calls.snapshot()["DynamoDB.GetItem"], 2, "the head and the declaration");
    assert_eq!(stack.services.calls.attempts()["DynamoDB.GetItem"], 4, "the SDK retried the throttled read twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_refused_for_good_is_not_retried() {
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "invalid", "SUPERSEDED", false)).await;
    let table = stack.stack.settings.table.clone();
    // The start's first write (its outbox batch) is refused as too large: permanent.
    inject("PutItem", &table, 1, "ValidationException").await;
    start_on_bus(&stack, "invalid").await;
    let mut pumped = stack.router.pump().await.unwrap();
    for _ in 0..20 {
        if pumped.messages > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        pumped = stack.router.pump().await.unwrap();
    }
    assert!(pumped.failed.is_empty(), "not failed, so not retried: {pumped:?}");
    assert!(
        pumped.rejected.iter().any(|r| r.contains("failed for good") && r.contains("ValidationException")),
        "{pumped:?}"
    );
    assert_eq!(injected("PutItem", &table).await, 1);
    tokio::time::sleep(RETRY_DELAYS[1]).await;
    assert_eq!(stack.router.pump().await.unwrap().messages, 0, "the event is not delivered again");
    assert!(stack.services.store.list_executions("invalid", 10, None).await.unwrap().items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_event_is_retried_after_each_delay_then_dead_lettered() {
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "doomed", "SUPERSEDED", false)).await;
    let table = stack.stack.settings.table.clone();
    // Every delivery's commit is throttled, each of its tries (the SDK's and the handler's
    // own backoff included): the first delivery and both retries fail.
    throttle_head_writes(&table, 3, 0).await;
    start_on_bus(&stack, "doomed").await;
    let mut failures: Vec<Instant> = Vec::new();
    let mut dead = Vec::new();
    for _ in 0..200 {
        let round = stack.router.pump().await.unwrap();
        failures.extend(round.failed.iter().map(|_| Instant::now()));
        dead.extend(round.dead_lettered);
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(failures.len(), 3, "delivered three times: {failures:?}");
    assert!(failures[1] - failures[0] >= RETRY_DELAYS[0], "the first retry waits its delay");
    assert!(failures[2] - failures[1] >= RETRY_DELAYS[1], "the second retry waits its delay");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].starts_with("source-change: after 3 attempts"), "{dead:?}");

    let dead_letters = stack.drain(&stack.stack.dead_letter_queues["source-change"]).await;
    assert_eq!(dead_letters.len(), 1);
    assert_eq!(dead_letters[0]["detail"]["pipelineName"], "doomed", "the event itself");
    assert_eq!(stack.router.pump().await.unwrap().messages, 0, "and nothing is left to deliver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_are_not_in_send_order() {
    let stack = stack().await;
    // Twenty events in one queue: a pump delivers them in an order of its own.
    let entries: Vec<Entry> = (0..20)
        .map(|i| Entry {
            source: COMMAND_SOURCE.to_string(),
            detail_type: START_COMMAND.to_string(),
            detail: json!({"pipelineName": format!("absent-{i:02}")}),
            resources: Vec::new(),
        })
        .collect();
    stack.services.bus.put(entries).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..50 {
        let round = stack.router.pump().await.unwrap();
        order.extend(round.rejected.iter().filter_map(|r| r.split("absent-").nth(1).map(|n| n[..2].to_string())));
        if order.len() >= 20 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(order.len(), 20, "{order:?}");
    let mut sorted = order.clone();
    sorted.sort();
    assert_ne!(order, sorted, "delivered in send order");
}

/// A pipeline whose `Emit` action exports `Big` of `length` random characters (namespace
/// `Emitted`), and whose `Use` action reads it back through `#{Emitted.Big}`.
fn variables_pipeline(stack: &Stack, name: &str, length: usize) -> Value {
    let mut declaration = wide_pipeline(stack, name, 1, 0, long_command);
    declaration["stages"].as_array_mut().unwrap().push(json!({"name": "Build", "actions": [
        {"name": "Emit", "runOrder": 1, "namespace": "Emitted", "outputVariables": ["Big"],
         "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
         "commands": [format!("export Big=$(tr -dc A-Za-z0-9 </dev/urandom | head -c {length})")],
         "inputArtifacts": [{"name": "Code"}]},
        {"name": "Use", "runOrder": 2,
         "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
         "commands": [format!("test \"$(printf %s '#{{Emitted.Big}}' | wc -c)\" -eq {length}")],
         "inputArtifacts": [{"name": "Code"}]},
    ]}));
    declaration
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_variables_at_codepipelines_limit_are_stored_once_and_the_run_commits() {
    let stack = stack().await;
    // "Big" and its value: 122,880 bytes, CodePipeline's limit for one action.
    let length = pipewright_core::engine::MAX_OUTPUT_VARIABLES_BYTES - "Big".len();
    stack.put_pipeline(&variables_pipeline(&stack, "variables", length)).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>variables</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    let listed = || async { stack.services.store.list_executions("variables", 10, None).await.unwrap().items };
    stack
        .router
        .run_until(600, || async { listed().await.first().is_some_and(|e| e.status.is_finished()) })
        .await
        .unwrap();
    let execution = &listed().await[0];
    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{execution:#?}");
    let emitted = &execution.stages[1].actions[0].attempts[0].output_variables["Big"];
    assert_eq!(emitted.len(), length);
    assert_eq!(&execution.namespaces["Emitted"]["Big"], emitted, "the namespace reads back whole");

    let stored = raw_item(&stack, &format!("EXECUTION#{}", execution.id), "EXECUTION").await;
    let size = item_size(&stored);
    println!("the execution item holding {length} bytes of variables (and their use): {size} bytes");
    assert!(size < ITEM_BYTES, "{size}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_variables_one_byte_past_the_limit_fail_the_action_by_name() {
    let stack = stack().await;
    let length = pipewright_core::engine::MAX_OUTPUT_VARIABLES_BYTES - "Big".len() + 1;
    stack.put_pipeline(&variables_pipeline(&stack, "too-many", length)).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>too many</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    let listed = || async { stack.services.store.list_executions("too-many", 10, None).await.unwrap().items };
    let pumped = stack
        .router
        .run_until(600, || async { listed().await.first().is_some_and(|e| e.status.is_finished()) })
        .await
        .unwrap();
    let execution = &listed().await[0];
    assert_eq!(execution.status, ExecutionStatus::Failed, "{execution:#?}");
    let emit = &execution.stages[1].actions[0].attempts[0];
    let error = emit.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
    assert!(error.contains("122881 bytes exceed the limit of 122880"), "{error}");
    assert!(pumped.rejected.is_empty(), "the result is not refused, the action fails: {pumped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_result_that_would_take_the_execution_past_400_kb_fails_the_action_visibly() {
    let stack = stack().await;
    // Five parallel actions, each with random variables at the limit (about 92 KB gzipped):
    // the execution item cannot hold all five.
    let length = pipewright_core::engine::MAX_OUTPUT_VARIABLES_BYTES - "Big".len();
    let mut declaration = wide_pipeline(&stack, "heavy", 1, 0, long_command);
    let actions: Vec<Value> = (0..5)
        .map(|i| {
            json!({"name": format!("Emit{i}"), "namespace": format!("Emitted{i}"), "outputVariables": ["Big"],
                   "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                   "commands": [format!("export Big=$(tr -dc A-Za-z0-9 </dev/urandom | head -c {length})")],
                   "inputArtifacts": [{"name": "Code"}]})
        })
        .collect();
    declaration["stages"].as_array_mut().unwrap().push(json!({"name": "Build", "actions": actions}));
    stack.put_pipeline(&declaration).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>heavy</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    let listed = || async { stack.services.store.list_executions("heavy", 10, None).await.unwrap().items };
    stack
        .router
        .run_until(600, || async { listed().await.first().is_some_and(|e| e.status.is_finished()) })
        .await
        .unwrap();
    let execution = &listed().await[0];
    assert_eq!(execution.status, ExecutionStatus::Failed);
    let errors: Vec<String> = execution.stages[1]
        .actions
        .iter()
        .filter_map(|a| a.attempts.last().and_then(|t| t.error.as_ref()).map(|e| e.message.clone()))
        .collect();
    assert!(!errors.is_empty());
    assert!(
        errors.iter().all(|e| e.contains("cannot be stored") && e.contains("400 KB")),
        "the failure names the limit: {errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_widest_stage_commits_within_every_transaction_and_expression_limit() {
    let stack = stack().await;
    // 50 parallel actions, CodePipeline's most in one stage: entering the stage dispatches all
    // of them in one change (a job location each, and every effect in the execution's outbox).
    let declaration = wide_pipeline(&stack, "widest", 2, 50, |stage, action, command| {
        format!("test -n \"{}\"", long_command(stage, action, command))
    });
    stack.put_pipeline(&declaration).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>wide</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    let listed = || async { stack.services.store.list_executions("widest", 10, None).await.unwrap().items };
    let pumped = stack
        .router
        .run_until(1200, || async { listed().await.first().is_some_and(|e| e.status.is_finished()) })
        .await
        .unwrap();
    let execution = &listed().await[0];
    let errors: Vec<String> = execution
        .stages
        .iter()
        .flat_map(|s| &s.actions)
        .filter_map(|a| a.attempts.last().and_then(|t| t.error.as_ref()).map(|e| e.message.clone()))
        .collect();
    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{errors:?} {pumped:?}");
    assert_eq!(execution.stages[1].actions.len(), 50);
    assert!(pumped.rejected.is_empty() && pumped.dead_lettered.is_empty(), "{pumped:?}");
}
