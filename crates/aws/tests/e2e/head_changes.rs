//! A change of the pipeline head and of one execution, committed on DynamoDB as two single
//! writes (the head first, with a marker naming the execution's commit and keeping the state
//! it replaced; `dynamo::head_changes`): what the readers of the head make of one whose
//! execution's write happened, never will, or has not yet.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use pipewright_aws::dynamo::DynamoStore;
use pipewright_aws::testing;
use pipewright_core::contract::{declaration, source_done, start};
use pipewright_core::engine::{self, Event, PipelineState, Step, World};
use pipewright_core::pipeline::{Environment, Pipeline};
use pipewright_core::ports::{Changes, StateStore, StoreError};
use pipewright_core::time::Timestamp;

use crate::dynamo_contract::{fresh, outbox_of};

type Item = HashMap<String, AttributeValue>;

/// A fresh table holding pipeline `p`.
async fn with_pipeline() -> DynamoStore {
    let store = fresh().await;
    store.put_pipeline(&declaration("p", "make").unwrap(), pipewright_aws::handlers::now()).await.unwrap();
    store
}

/// The change `event` makes over what the store loads to decide it (a load that also keeps
/// the head's state, which a marker keeps), as the shared handler would commit it.
async fn decided(store: &DynamoStore, event: &Event) -> Changes {
    let snapshot = store.load("p", event).await.unwrap();
    let mut declaration = declaration("p", "make").unwrap();
    declaration.version = Some(1);
    let pipeline = Pipeline::compile(declaration, Environment::default()).unwrap();
    let world = World {
        pipeline: snapshot.state.value.clone(),
        executions: snapshot.executions.iter().map(|(id, read)| (id.clone(), read.value.clone())).collect(),
    };
    let now = pipewright_aws::handlers::now();
    let Ok(Step::Applied(mut applied)) = engine::apply(&pipeline, world, event, now) else { panic!("applies") };
    let executions = applied
        .changed_executions
        .iter()
        .map(|id| (applied.world.executions.remove(id).unwrap(), snapshot.executions.get(id).map(|read| read.version)))
        .collect();
    Changes {
        pipeline: "p".into(),
        expected_state_version: snapshot.state.version,
        state_relied_on: engine::relies_on_state(event, applied.pipeline_changed),
        state: applied.pipeline_changed.then(|| applied.world.pipeline.clone()),
        executions,
        effects: applied.effects,
        completed_effects: Vec::new(),
    }
}

/// A client whose calls the stand-in's meter leaves out.
async fn client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&testing::unmetered_sdk_config().await)
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), AttributeValue::S(pk.into())), ("sk".to_string(), AttributeValue::S(sk.into()))])
}

/// An item as stored, read consistently and unmetered.
async fn raw(store: &DynamoStore, pk: &str, sk: &str) -> Option<Item> {
    let client = client().await;
    let read = client.get_item().table_name(store.table()).set_key(Some(key(pk, sk))).consistent_read(true);
    read.send().await.unwrap().item
}

async fn head(store: &DynamoStore) -> Item {
    raw(store, "PIPELINE#p", "HEAD").await.expect("the head")
}

async fn execution_item(store: &DynamoStore, id: &str) -> Option<Item> {
    raw(store, &format!("EXECUTION#{id}"), "EXECUTION").await
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|value| value.as_n().ok()).map(|value| value.parse().unwrap())
}

/// Removes execution `id`'s item, as if its start's put had never been sent.
async fn undo_start(store: &DynamoStore, id: &str) {
    let item = key(&format!("EXECUTION#{id}"), "EXECUTION");
    client().await.delete_item().table_name(store.table()).set_key(Some(item)).send().await.unwrap();
}

async fn shown(store: &DynamoStore) -> PipelineState {
    store.load_view("p").await.unwrap().state.value
}

/// The ids of the effects the outbox keeps of `changes`.
fn kept(store: &DynamoStore, changes: &Changes) -> Vec<String> {
    changes.effects.iter().filter(|effect| store.keeps_effect(effect)).map(|effect| effect.id().to_string()).collect()
}

/// The start, then the source's result that moves the execution to the next stage: each a
/// write of the head with its marker, then of the execution, which records the head's `rev`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_change_holds_once_its_execution_records_it() {
    let store = with_pipeline().await;
    let started = decided(&store, &start("e1")).await;
    store.commit(started.clone()).await.unwrap();
    let at_start = head(&store).await;
    let head_rev = number(&at_start, "rev").unwrap();
    assert_eq!(at_start["pending_execution"], AttributeValue::S("e1".into()), "{at_start:?}");
    assert_eq!(number(&at_start, "pending_rev"), Some(1), "the rev the start makes");
    assert!(at_start.contains_key("before"), "the state it replaced");
    let execution = execution_item(&store, "e1").await.unwrap();
    assert_eq!(number(&execution, "headed"), Some(head_rev));
    assert_eq!(&shown(&store).await, started.state.as_ref().unwrap());

    let moved = decided(&store, &source_done("e1")).await;
    assert!(moved.state.is_some(), "the execution leaves the source's stage");
    store.commit(moved.clone()).await.unwrap();
    let after = head(&store).await;
    assert_eq!(number(&after, "rev"), Some(head_rev + 1));
    assert_eq!(number(&after, "pending_rev"), Some(2));
    assert_eq!(number(&execution_item(&store, "e1").await.unwrap(), "headed"), Some(head_rev + 1));
    assert_eq!(&shown(&store).await, moved.state.as_ref().unwrap());
    assert_eq!(&store.load("p", &source_done("e1")).await.unwrap().state.value, moved.state.as_ref().unwrap());
}

/// A writer gone between its two writes: the head holds the marker, the execution never
/// changed. A view shows the state the change replaced and writes nothing; a decision waits a
/// little, then fences the writer off by moving the execution's `rev` (and nothing else), after
/// which the change and its outbox batch are orphans and the next change commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_change_whose_execution_write_never_lands_is_undone_by_the_next_decision() {
    let store = with_pipeline().await;
    let client = client().await;
    let started = decided(&store, &start("e1")).await;
    store.commit(started.clone()).await.unwrap();
    let saved = execution_item(&store, "e1").await.unwrap();
    let moved = decided(&store, &source_done("e1")).await;
    store.commit(moved.clone()).await.unwrap();
    // Undo the execution's write, as if it had never been sent.
    client.put_item().table_name(store.table()).set_item(Some(saved.clone())).send().await.unwrap();
    assert!(outbox_of(&store, "e1").await.iter().any(|batch| batch["sk"].as_s().unwrap().ends_with("@2")));

    assert_eq!(&shown(&store).await, started.state.as_ref().unwrap(), "a view shows the state replaced");
    assert_eq!(execution_item(&store, "e1").await.unwrap(), saved, "and writes nothing");

    let snapshot = store.load("p", &source_done("e1")).await.unwrap();
    assert_eq!(&snapshot.state.value, started.state.as_ref().unwrap(), "a decision sees the state replaced");
    let fenced = execution_item(&store, "e1").await.unwrap();
    assert_eq!(number(&fenced, "rev"), Some(2), "the writer is fenced off");
    assert_eq!(fenced["body"], saved["body"], "the execution itself is as it was");
    assert_eq!(snapshot.executions["e1"].version, 2);
    // The stale writer's execution write, were it sent now, could not land.
    let stale = store.commit(Changes { state: None, state_relied_on: false, ..moved.clone() }).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict(_)), "{stale:?}");
    // Its batch is an orphan: never carried out, and removed.
    let pending = store.pending_effects("e1").await.unwrap();
    assert!(pending.iter().all(|entry| !kept(&store, &moved).contains(&entry.id().to_string())), "{pending:?}");
    assert!(outbox_of(&store, "e1").await.iter().all(|batch| !batch["sk"].as_s().unwrap().ends_with("@2")));

    // The same result, decided again, commits.
    let again = decided(&store, &source_done("e1")).await;
    store.commit(again.clone()).await.unwrap();
    assert_eq!(&shown(&store).await, again.state.as_ref().unwrap());
    assert_eq!(number(&execution_item(&store, "e1").await.unwrap(), "rev"), Some(3));
}

/// A start whose execution was never written: a decision fences it off with an item in the
/// execution's place, which no read takes for an execution; a start decided on a later head
/// replaces it, the fenced-off one never can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_fenced_off_is_never_created_and_a_later_start_replaces_the_fence() {
    let store = with_pipeline().await;
    let never_ran = shown(&store).await;
    let started = decided(&store, &start("e1")).await;
    store.commit(started.clone()).await.unwrap();
    undo_start(&store, "e1").await;
    assert_eq!(shown(&store).await, never_ran);

    let snapshot = store.load("p", &start("e1")).await.unwrap();
    assert_eq!(snapshot.state.value, never_ran, "the start did not happen");
    let fence = execution_item(&store, "e1").await.expect("an item in the execution's place");
    assert_eq!(number(&fence, "fenced"), number(&head(&store).await, "rev"), "naming the start's head change");
    assert!(fence.contains_key("expires_at"), "kept a while if nothing replaces it");
    assert!(store.get_execution("e1").await.unwrap().is_none(), "not an execution");
    assert!(store.list_executions("p", 10, None).await.unwrap().items.is_empty());

    // The fenced-off start's own write of the execution is refused.
    let mut put = started.executions[0].0.clone();
    put.updated_at = Timestamp::from_millis(put.updated_at.millis() + 1);
    let stale = Changes { state: None, state_relied_on: false, executions: vec![(put, None)], ..started.clone() };
    assert!(matches!(store.commit(stale).await, Err(StoreError::Conflict(_))));
    assert!(store.get_execution("e1").await.unwrap().is_none());

    let again = decided(&store, &start("e1")).await;
    store.commit(again.clone()).await.unwrap();
    let created = execution_item(&store, "e1").await.unwrap();
    assert!(!created.contains_key("fenced"), "{created:?}");
    assert_eq!(store.get_execution("e1").await.unwrap().unwrap().value, again.executions[0].0);
    assert_eq!(&shown(&store).await, again.state.as_ref().unwrap());
}

/// A head change whose execution moved on between the read and the write (a result of a
/// parallel action committed first) loses the race: the head keeps the marker, which every
/// reader takes for an orphan at once, without waiting or fencing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_change_that_loses_the_race_for_its_execution_is_undone_at_once() {
    let store = with_pipeline().await;
    let client = client().await;
    let started = decided(&store, &start("e1")).await;
    store.commit(started.clone()).await.unwrap();
    let moved = decided(&store, &source_done("e1")).await;
    client
        .update_item()
        .table_name(store.table())
        .set_key(Some(key("EXECUTION#e1", "EXECUTION")))
        .update_expression("SET rev = rev + :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let lost = store.commit(moved.clone()).await.unwrap_err();
    assert!(matches!(lost, StoreError::Conflict(_)), "{lost:?}");
    assert_eq!(number(&head(&store).await, "pending_rev"), Some(2), "the head was written");
    assert!(outbox_of(&store, "e1").await.iter().all(|batch| !batch["sk"].as_s().unwrap().ends_with("@2")));

    let snapshot = store.load("p", &source_done("e1")).await.unwrap();
    assert_eq!(&snapshot.state.value, started.state.as_ref().unwrap());
    assert_eq!(number(&execution_item(&store, "e1").await.unwrap(), "rev"), Some(2), "nothing fenced");
    assert_eq!(&shown(&store).await, started.state.as_ref().unwrap());
}

/// A write of the head by a function of an earlier version (during a `sam deploy`) sets the
/// state and `rev` and leaves the marker it does not know: the marker names another `rev`,
/// and that write's state holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_left_by_a_write_that_did_not_know_it_is_ignored() {
    let store = with_pipeline().await;
    let client = client().await;
    let started = decided(&store, &start("e1")).await;
    store.commit(started.clone()).await.unwrap();
    let at_start = head(&store).await;
    // The earlier version's commit, which wrote the same state one rev on (a transition
    // disabled and enabled again, say), and left the marker.
    let rewrite = "SET #state = :state, rev = rev + :one";
    client
        .update_item()
        .table_name(store.table())
        .set_key(Some(key("PIPELINE#p", "HEAD")))
        .update_expression(rewrite)
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":state", at_start["state"].clone())
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    // Its execution then moved on without the marker's head rev: read, the marker would be
    // an orphan, and the state it replaced (a pipeline that never ran) would hold.
    client
        .update_item()
        .table_name(store.table())
        .set_key(Some(key("EXECUTION#e1", "EXECUTION")))
        .update_expression("SET rev = rev + :one REMOVE headed")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let state = store.load("p", &source_done("e1")).await.unwrap().state;
    assert_eq!(state.version, number(&at_start, "rev").unwrap() + 1);
    assert_eq!(&state.value, started.state.as_ref().unwrap(), "the state that write stored");
    assert_eq!(&shown(&store).await, started.state.as_ref().unwrap());
}

/// A start decided again after an earlier start of the same execution was fenced off: while
/// its own put has not landed, the earlier fence does not orphan it (its put would still
/// replace that item); a decision waits, then fences it off in its turn, replacing the fence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_decided_again_after_a_fence_is_pending_until_fenced_in_its_turn() {
    let store = with_pipeline().await;
    let client = client().await;
    let never_ran = shown(&store).await;
    store.commit(decided(&store, &start("e1")).await).await.unwrap();
    undo_start(&store, "e1").await;
    store.load("p", &start("e1")).await.unwrap();
    let first_fence = execution_item(&store, "e1").await.expect("the first start fenced off");

    // The start decided again writes the head; its put has not landed yet.
    let again = decided(&store, &start("e1")).await;
    store.commit(again.clone()).await.unwrap();
    let head_rev = number(&head(&store).await, "rev").unwrap();
    client.put_item().table_name(store.table()).set_item(Some(first_fence.clone())).send().await.unwrap();
    assert!(number(&first_fence, "fenced").unwrap() < head_rev);

    let snapshot = store.load("p", &start("e1")).await.unwrap();
    assert_eq!(snapshot.state.value, never_ran, "fenced off in its turn, not taken for done");
    let fence = execution_item(&store, "e1").await.unwrap();
    assert_eq!(number(&fence, "fenced"), Some(head_rev), "the fence names this start now");
    // Its put, were it sent now, is refused.
    let put = Changes { state: None, state_relied_on: false, ..again };
    assert!(matches!(store.commit(put).await, Err(StoreError::Conflict(_))));
    assert!(store.get_execution("e1").await.unwrap().is_none());
}

/// Twins (one event delivered twice at once) put the same outbox batch. The twin whose head
/// write is refused, while the other is between its two writes, leaves the batch they share:
/// once the other's execution write lands, its effects are there to carry out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twin_refused_leaves_the_batch_the_other_twin_is_committing() {
    let store = with_pipeline().await;
    let client = client().await;
    let (moved, before, landed) = moved_after_start(&store).await;
    // The first twin between its writes: its head written, its execution not yet.
    client.put_item().table_name(store.table()).set_item(Some(before)).send().await.unwrap();
    let shared = || batches_of_rev_2(&store);
    assert_eq!(shared().await, 1);

    let refused = store.commit(moved.clone()).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "the head moved: {refused:?}");
    assert_eq!(shared().await, 1, "the batch the first twin is committing stays");

    // The first twin's execution write lands: its effects are there.
    client.put_item().table_name(store.table()).set_item(Some(landed)).send().await.unwrap();
    let pending: Vec<String> = store.pending_effects("e1").await.unwrap().iter().map(|e| e.id().to_string()).collect();
    assert!(kept(&store, &moved).iter().all(|id| pending.contains(id)), "{pending:?}");
}

/// A writer whose head write is refused (a lost race, or a twin of the change that wrote the
/// head) writes nothing else: no batch for a sweep to read, and none put again after the
/// other writer's relay removed it, which would send its effects out a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_refused_at_the_head_puts_no_batch() {
    let store = with_pipeline().await;
    let client = client().await;
    let (moved, before, _) = moved_after_start(&store).await;
    let at_its_rev = || batches_of_rev_2(&store);
    assert_eq!(at_its_rev().await, 1);
    // The first twin just after its head write: neither its batch nor its execution written.
    store.complete_effects("e1", &kept(&store, &moved)).await.unwrap();
    client.put_item().table_name(store.table()).set_item(Some(before)).send().await.unwrap();
    assert_eq!(at_its_rev().await, 0);

    // The second twin reads the execution as the first left it, and is refused at the head.
    let refused = store.commit(moved.clone()).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "the head moved: {refused:?}");
    assert_eq!(at_its_rev().await, 0, "nothing written but the refused head");
}

/// Execution `e1` started, then moved on by its source's result: the move's changes, and the
/// execution item before and after the move.
async fn moved_after_start(store: &DynamoStore) -> (Changes, Item, Item) {
    store.commit(decided(store, &start("e1")).await).await.unwrap();
    let before = execution_item(store, "e1").await.unwrap();
    let moved = decided(store, &source_done("e1")).await;
    store.commit(moved.clone()).await.unwrap();
    (moved, before, execution_item(store, "e1").await.unwrap())
}

/// The outbox batches of `e1`'s commit of `rev` 2 (the move's).
async fn batches_of_rev_2(store: &DynamoStore) -> usize {
    outbox_of(store, "e1").await.iter().filter(|batch| batch["sk"].as_s().unwrap().ends_with("@2")).count()
}
