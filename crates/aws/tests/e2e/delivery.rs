//! At-least-once delivery: every event delivered twice at once, crashes between the commit
//! and the publish, deliveries lost, an outbox left by a stack deployed before outbox batches.
//! The run still completes, once.

use crate::common;

use std::collections::BTreeSet;

use pipewright_aws::bus::Envelope;
use pipewright_aws::handlers::{self, invoke_action, source_change, stage_transition};
use pipewright_core::engine::{ActionStatus, Execution, ExecutionStatus};
use pipewright_core::ports::StateStore;
use pipewright_core::time::Timestamp;
use serde_json::{Value, json};

use common::*;

/// A pipeline whose Commands actions note each run in `runs` (one line per run).
fn counted_pipeline(stack: &Stack, name: &str, runs: &str) -> Value {
    let mut declaration = site_pipeline(stack, name, "SUPERSEDED", false);
    for action in declaration["stages"][1]["actions"].as_array_mut().unwrap() {
        let line = format!("echo {} >> {runs}", action["name"].as_str().unwrap());
        action["commands"].as_array_mut().unwrap().insert(0, json!(line));
    }
    declaration
}

fn single_attempts(execution: &Execution) {
    for stage in &execution.stages {
        for action in &stage.actions {
            assert_eq!(action.attempts.len(), 1, "{}/{} ran once", stage.name, action.name);
            assert_eq!(action.attempts[0].status, ActionStatus::Succeeded);
        }
    }
}

/// The distinct state changes the observer saw: (detail-type, stage, action, state).
fn distinct_changes(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| {
            format!("{} {} {} {}", e["detail-type"], e["detail"]["stage"], e["detail"]["action"], e["detail"]["state"])
        })
        .collect()
}

async fn start_from_upload(stack: &Stack, pipeline: &str) -> String {
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>twice</p>")]).await;
    let event = stack.object_created("site.zip", &version, &etag);
    let envelope: Envelope = serde_json::from_value(event).unwrap();
    let started = source_change::handle(&stack.services, &envelope).await;
    // A crash may have been injected: the execution is committed either way.
    let _ = started;
    stack.services.store.list_executions(pipeline, 1, None).await.unwrap().items[0].id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_delivered_twice_at_once_runs_each_step_once() {
    let stack = stack().await;
    let runs = tempfile::NamedTempFile::new().unwrap();
    let runs_path = runs.path().display().to_string();
    stack.put_pipeline(&counted_pipeline(&stack, "twice", &runs_path)).await;
    let router = stack.router.clone().with_copies(2);
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>twice</p>")]).await;
    let event = stack.object_created("site.zip", &version, &etag);
    // The source event itself arrives twice, on two deliveries.
    stack.put_default_bus(&event).await;
    stack.put_default_bus(&event).await;
    let listed = || async { stack.services.store.list_executions("twice", 10, None).await.unwrap().items };
    router.run_until(400, || async { listed().await.first().is_some_and(|e| e.status.is_finished()) }).await.unwrap();

    let executions = listed().await;
    assert_eq!(executions.len(), 1, "the same revision never starts a second execution");
    assert_eq!(executions[0].status, ExecutionStatus::Succeeded);
    single_attempts(&executions[0]);
    let mut lines: Vec<String> = std::fs::read_to_string(runs.path()).unwrap().lines().map(String::from).collect();
    lines.sort();
    assert_eq!(lines, ["Check", "Compile", "Test"], "each job ran exactly once");
    assert_eq!(stack.objects(&stack.deploy_bucket).await.len(), 2, "deployed");

    let events = stack.drain(&stack.observer).await;
    let changes = distinct_changes(&events);
    // Pipeline STARTED/SUCCEEDED + 3 stages × 2 + 5 actions × 2, and nothing else.
    assert_eq!(changes.len(), 2 + 6 + 10, "{changes:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crashes_between_commit_and_publish_are_recovered_by_the_retry() {
    let stack = stack().await;
    let runs = tempfile::NamedTempFile::new().unwrap();
    stack.put_pipeline(&counted_pipeline(&stack, "crashy", &runs.path().display().to_string())).await;
    // The first six commits (start, then the engine events) each crash before publishing;
    // the failed delivery stays in its queue and comes back.
    stack.services.faults.crash_after_commit(6);
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>crash</p>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    let listed = || async { stack.services.store.list_executions("crashy", 10, None).await.unwrap().items };
    let pumped = stack
        .router
        .run_until(600, || async { listed().await.first().is_some_and(|e| e.status.is_finished()) })
        .await
        .unwrap();
    assert!(pumped.failed.len() >= 6, "the crashes happened: {:?}", pumped.failed);
    let execution = &listed().await[0];
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    single_attempts(execution);
    assert_eq!(std::fs::read_to_string(runs.path()).unwrap().lines().count(), 3, "each job ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_whose_event_is_never_retried_is_recovered_by_the_tick() {
    let stack = stack().await;
    let (id, pending) = started_without_relay(&stack, "ticked").await;
    assert_eq!(stack.execution(&id).await.status, ExecutionStatus::InProgress, "committed");
    let job = pending
        .iter()
        .find_map(|effect| match effect {
            pipewright_core::engine::Effect::Dispatch(d) => Some(d.job_id.clone()),
            _ => None,
        })
        .expect("the source's dispatch");
    let location = Some(pipewright_core::ports::JobLocation { pipeline: "ticked".into(), execution_id: id.clone() });
    assert_eq!(stack.services.store.find_job(&job).await.unwrap(), location, "found in its outbox batch");
    stack.router.pump().await.unwrap();
    assert_eq!(
        stack.execution(&id).await.stages[0].actions[0].attempts[0].status,
        ActionStatus::InProgress,
        "nothing was published"
    );

    // Before the grace period the tick leaves the outbox alone (a relay may be under way).
    let report = stage_transition::tick(&stack.services, handlers::now()).await.unwrap();
    assert_eq!(report.relayed, 0);
    let later = Timestamp::from_millis(handlers::now().millis() + 61_000);
    let report = stage_transition::tick(&stack.services, later).await.unwrap();
    assert!(report.relayed >= 2, "{report:?}");
    assert!(stack.services.store.pending_effects(&id).await.unwrap().is_empty());
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);
    // invoke-action ran the source and applied its result: its claim says where the job was.
    assert_eq!(stack.services.store.find_job(&job).await.unwrap(), location, "recorded with its claim");
    single_attempts(&stack.execution(&id).await);
}

/// The start of a pipeline `name` whose relay crashed after the commit: the execution and the
/// effects its outbox holds.
async fn started_without_relay(stack: &Stack, name: &str) -> (String, Vec<pipewright_core::engine::Effect>) {
    stack.put_pipeline(&site_pipeline(stack, name, "SUPERSEDED", false)).await;
    stack.services.faults.crash_after_commit(1);
    let id = start_from_upload(stack, name).await;
    let pending = stack.services.store.pending_effects(&id).await.unwrap();
    assert!(pending.len() >= 2, "its effects wait in the outbox");
    (id, pending)
}

/// The outbox batches of execution `id`, read consistently.
async fn outbox_batches(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let query = dynamo
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S("OUTBOX".into()))
        .expression_attribute_values(":prefix", AttributeValue::S(format!("{id}#")))
        .consistent_read(true);
    query.send().await.unwrap().items.unwrap_or_default()
}

/// `value` as an attribute of gzip JSON, as stacks wrote them before the store's dictionary.
fn gzip_json(value: &Value) -> aws_sdk_dynamodb::types::AttributeValue {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(value.to_string().as_bytes()).unwrap();
    aws_sdk_dynamodb::types::AttributeValue::B(encoder.finish().unwrap().into())
}

/// A stack deployed before deadlines left the outbox wrote them into the batches: one beside
/// a commit's other effects, and a batch of a deadline alone for each build's wait recorded.
/// Read back after a crash, every entry of them leaves the outbox with the rest, so that no
/// batch of deadlines stays behind for the tick to read every minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deadlines_left_in_the_outbox_by_an_earlier_version_leave_it_when_read_back() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = stack().await;
    let (id, pending) = started_without_relay(&stack, "olderwaits").await;
    assert!(
        pending.iter().all(|e| !matches!(e, pipewright_core::engine::Effect::WakeAt(_))),
        "no deadline kept: {pending:?}"
    );

    let dynamo = aws_sdk_dynamodb::Client::new(&pipewright_aws::testing::unmetered_sdk_config().await);
    let table = stack.stack.settings.table.clone();
    let deadline =
        |n: u64| json!({"type": "WakeAt", "id": format!("wake/{id}/Source/Bundle/1/{n}"), "executionId": id, "at": 1});
    // The start's batch with its deadline among its entries, as those stacks wrote it.
    let [batch] = &outbox_batches(&dynamo, &table, &id).await[..] else { panic!("one batch for the start") };
    let blob = batch["effects"].as_b().unwrap().as_ref();
    let mut entries: Vec<Value> =
        serde_json::from_slice(&pipewright_aws::dynamo::stored_json_bytes(blob, "outbox batch").unwrap()).unwrap();
    let last = entries.iter().filter_map(|entry| entry["seq"].as_u64()).max().unwrap();
    entries.push(json!({"effect": deadline(1), "seq": last + 1}));
    let mut older = batch.clone();
    older.insert("effects".into(), gzip_json(&Value::Array(entries)));
    // Written in their commit's transaction, those batches had no `rev` to be checked by.
    older.remove("rev");
    dynamo.put_item().table_name(&table).set_item(Some(older.clone())).send().await.unwrap();
    // And a batch holding a deadline alone.
    let mut alone = older;
    alone.insert("sk".into(), AttributeValue::S(format!("{id}#a-wait-recorded")));
    alone.insert("effects".into(), gzip_json(&json!([{"effect": deadline(2), "seq": last + 2}])));
    dynamo.put_item().table_name(&table).set_item(Some(alone)).send().await.unwrap();
    assert_eq!(stack.services.store.pending_effects(&id).await.unwrap().len(), pending.len() + 2);

    let later = Timestamp::from_millis(handlers::now().millis() + 61_000);
    let report = stage_transition::tick(&stack.services, later).await.unwrap();
    assert!(report.relayed >= pending.len(), "{report:?}");
    assert!(outbox_batches(&dynamo, &table, &id).await.is_empty(), "every batch gone, the deadlines' with the rest");
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);
    single_attempts(&stack.execution(&id).await);
}

/// Moves an execution's outbox batches into its item's `outbox` map, with the `outbox` index
/// keys, as a stack deployed before outbox batches wrote them.
async fn as_written_before_batches(dynamo: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue;
    let read_stored = |blob: &AttributeValue| -> Value {
        let json = pipewright_aws::dynamo::stored_json_bytes(blob.as_b().unwrap().as_ref(), "outbox batch").unwrap();
        serde_json::from_slice(&json).unwrap()
    };
    let batches = outbox_batches(dynamo, table, id).await;
    let mut outbox = std::collections::HashMap::new();
    let mut committed_at = String::new();
    for batch in &batches {
        committed_at = batch["committed_at"].as_n().unwrap().clone();
        for stored in read_stored(&batch["effects"]).as_array().unwrap() {
            // Those stacks wrote gzip.
            let entry = std::collections::HashMap::from([("effect".to_string(), gzip_json(stored))]);
            outbox.insert(stored["effect"]["id"].as_str().unwrap().to_string(), AttributeValue::M(entry));
        }
        let sk = batch["sk"].clone();
        let key = [("pk".to_string(), AttributeValue::S("OUTBOX".into())), ("sk".to_string(), sk)];
        dynamo.delete_item().table_name(table).set_key(Some(key.into())).send().await.unwrap();
    }
    let entries = outbox.len();
    dynamo
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("EXECUTION#{id}")))
        .key("sk", AttributeValue::S("EXECUTION".into()))
        .update_expression("SET outbox = :outbox, outbox_pk = :pk, outbox_sk = :sk")
        .expression_attribute_values(":outbox", AttributeValue::M(outbox))
        .expression_attribute_values(":pk", AttributeValue::S("OUTBOX".into()))
        .expression_attribute_values(":sk", AttributeValue::S(format!("{committed_at:0>15}#{id}")))
        .send()
        .await
        .unwrap();
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outbox_written_before_batches_is_still_relayed_by_the_tick() {
    let stack = stack().await;
    let (id, pending) = started_without_relay(&stack, "upgraded").await;
    let dynamo = aws_sdk_dynamodb::Client::new(&pipewright_aws::testing::unmetered_sdk_config().await);
    let table = stack.stack.settings.table.clone();
    assert_eq!(as_written_before_batches(&dynamo, &table, &id).await, pending.len());
    assert_eq!(stack.services.store.pending_effects(&id).await.unwrap(), pending, "read as they were, in order");

    let later = Timestamp::from_millis(handlers::now().millis() + 61_000);
    let report = stage_transition::tick(&stack.services, later).await.unwrap();
    assert_eq!(report.relayed, pending.len(), "{report:?}");
    assert!(stack.services.store.pending_effects(&id).await.unwrap().is_empty());
    let item = dynamo
        .get_item()
        .table_name(&table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("EXECUTION#{id}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("EXECUTION".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!item.contains_key("outbox_pk"), "out of the outbox index once drained");
    // Its next commits write batches; the run ends as any other.
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);
    single_attempts(&stack.execution(&id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatch_nobody_picked_up_is_sent_again_by_the_tick() {
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "lost", "SUPERSEDED", false)).await;
    let id = start_from_upload(&stack, "lost").await;
    // The dispatch of the source action is lost on its way to invoke-action.
    stack.purge_queues_of("invoke-action").await;
    stack.router.pump().await.unwrap();
    assert_eq!(stack.execution(&id).await.stages[0].actions[0].attempts[0].status, ActionStatus::InProgress);

    let soon = stage_transition::tick(&stack.services, handlers::now()).await.unwrap();
    assert_eq!(soon.resent, 0, "work is given two minutes to be picked up");
    let later = Timestamp::from_millis(handlers::now().millis() + 121_000);
    let report = stage_transition::tick(&stack.services, later).await.unwrap();
    assert_eq!(report.resent, 1, "{report:?}");
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);

    // Once claimed, work is not sent again (it is running, or ran).
    let again = stage_transition::tick(&stack.services, Timestamp::from_millis(handlers::now().millis() + 121_000))
        .await
        .unwrap();
    assert_eq!(again.resent, 0);
}

/// `detail-type state` of each event, as a queue holds them.
fn kinds(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| format!("{} {}", e["detail-type"].as_str().unwrap_or(""), e["detail"]["state"])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_actions_start_carries_its_first_job_which_a_later_delivery_does_not_run_again() {
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "carried", "SUPERSEDED", false)).await;
    let id = start_from_upload(&stack, "carried").await;
    // What the start sent invoke-action: the source action's STARTED, no dispatch of its own,
    // to the function that moves no artifact bytes (S3 copies an S3 source's object itself).
    let (heavy, light) =
        (&stack.stack.queues["InvokeActionFunction"], &stack.stack.queues["InvokeActionLightFunction"]);
    assert!(stack.drain(heavy).await.is_empty());
    let queued = stack.drain(light).await;
    assert_eq!(kinds(&queued), ["CodePipeline Action Execution State Change \"STARTED\""], "{queued:#?}");
    let started: Envelope = serde_json::from_value(queued[0].clone()).unwrap();
    let ran = invoke_action::receive(&stack.services, &started).await.unwrap();
    assert_eq!(ran["invoked"], "succeeded", "{ran}");
    let source = &stack.execution(&id).await.stages[0].actions[0];
    assert_eq!(source.attempts.len(), 1);
    assert_eq!(source.attempts[0].status, ActionStatus::Succeeded);
    // The next stage's two first actions (Check runs second) were sent the same way, to the
    // function of builds (Commands actions run in CodeBuild).
    assert!(stack.drain(heavy).await.is_empty());
    let next = stack.drain(light).await;
    assert_eq!(kinds(&next), ["CodePipeline Action Execution State Change \"STARTED\""; 2], "{next:#?}");

    // Delivered again once the job has run: the job is no longer the action's live one, and
    // nothing runs twice (two deliveries at once meet at the job's claim,
    // `every_event_delivered_twice_at_once_runs_each_step_once`).
    let again = invoke_action::receive(&stack.services, &started).await.unwrap();
    assert_eq!(again["invoked"], "stale", "{again}");
    assert_eq!(stack.execution(&id).await.stages[0].actions[0].attempts.len(), 1);

    for event in next {
        stack.put_custom_bus(&event).await;
    }
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);
    single_attempts(&stack.execution(&id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approvals_start_does_not_reach_invoke_action_and_carries_no_job() {
    let stack = stack().await;
    let started_by = |category: &str, provider: &str| {
        json!({"source": "pipewright", "detail-type": "CodePipeline Action Execution State Change",
               "detail": {"pipeline": "p", "execution-id": "e", "stage": "Gate", "action": "Approve",
                          "state": "STARTED", "version": 1, "pipeline-execution-attempt": 1,
                          "type": {"owner": "AWS", "category": category, "provider": provider, "version": "1"}}})
    };
    let started = |category: &str| started_by(category, "Manual");
    stack.put_custom_bus(&started("Approval")).await;
    stack.put_custom_bus(&started("Build")).await;
    let queued = stack.drain_queues_of("invoke-action").await;
    let categories: Vec<&str> = queued.iter().filter_map(|e| e["detail"]["type"]["category"].as_str()).collect();
    assert_eq!(categories, ["Build"], "only a start that may carry a job: {queued:#?}");
    // Through moto's own matching too, each start reaches one of invoke-action's two
    // functions by its provider: builds and Lambda invokes the one with little memory.
    for (provider, function) in [
        ("CodeBuild", "InvokeActionLightFunction"),
        ("Lambda", "InvokeActionLightFunction"),
        ("S3", "InvokeActionFunction"),
        ("CloudFormation", "InvokeActionFunction"),
    ] {
        stack.put_custom_bus(&started_by("Build", provider)).await;
        let (heavy, light) =
            (&stack.stack.queues["InvokeActionFunction"], &stack.stack.queues["InvokeActionLightFunction"]);
        let (to_heavy, to_light) = (stack.drain(heavy).await, stack.drain(light).await);
        let reached: Vec<&str> =
            [("InvokeActionFunction", to_heavy.len()), ("InvokeActionLightFunction", to_light.len())]
                .iter()
                .flat_map(|(name, count)| std::iter::repeat_n(*name, *count))
                .collect();
        assert_eq!(reached, [function], "{provider}'s start");
    }
    // Delivered anyway, an approval's start (here of an execution that does not exist) runs
    // nothing.
    let envelope: Envelope = serde_json::from_value(started("Approval")).unwrap();
    let answered = invoke_action::receive(&stack.services, &envelope).await.unwrap();
    assert_eq!(answered["invoked"], "stale", "{answered}");
}
