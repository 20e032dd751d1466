//! Job results of one execution that arrive together are applied in one load and one commit
//! (`service::handle_together`), leaving the state, the effects and the outbox that handling
//! them one by one leaves; what it cannot apply together it leaves untouched.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::collections::BTreeMap;
use std::path::Path;

use pipewright_core::contract::{action_done, source_done, start, wide_declaration};
use pipewright_core::engine::{Effect, Event, ExecutionStatus};
use pipewright_core::ports::StateStore;
use pipewright_core::service::{self, PipelineCache, Together};
use pipewright_core::time::Timestamp;
use pipewright_local::store::SqliteStore;

fn at(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

/// A store holding execution e1 of a pipeline of `actions` Commands actions side by side,
/// its source done, and the outbox entry of each action's dispatch.
async fn running(dir: &Path, actions: usize) -> (SqliteStore, PipelineCache, BTreeMap<String, String>) {
    let store = SqliteStore::open(&dir.join("state.db")).unwrap();
    let cache = PipelineCache::new(Default::default());
    store.put_pipeline(&wide_declaration("w", actions).unwrap(), at(1)).await.unwrap();
    service::handle(&store, &cache, "w", &start("e1"), at(2), &[]).await.unwrap();
    service::handle(&store, &cache, "w", &source_done("e1"), at(3), &[]).await.unwrap();
    let mut dispatches = BTreeMap::new();
    for entry in store.claim_effects("e1", "test").await.unwrap() {
        if let Effect::Dispatch(dispatch) = entry.effect {
            dispatches.insert(dispatch.action.clone(), entry.id);
        }
    }
    (store, cache, dispatches)
}

fn results(names: &[&str], dispatches: &BTreeMap<String, String>) -> Vec<(Event, Vec<String>)> {
    names.iter().map(|name| (action_done("e1", "Build", name), vec![dispatches[*name].clone()])).collect()
}

/// The outbox as ids, whoever claimed them.
async fn outbox(store: &SqliteStore) -> Vec<String> {
    store.release_effects("e1", "test").await.unwrap();
    let mut ids: Vec<String> = store.claim_effects("e1", "test").await.unwrap().into_iter().map(|e| e.id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn results_applied_together_leave_what_one_by_one_leaves_in_one_commit() {
    let (together_dir, alone_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (together, cache, dispatches) = running(together_dir.path(), 6).await;
    let (alone, alone_cache, _) = running(alone_dir.path(), 6).await;
    // Four of six inside the stage, then the last two, which end it and the execution.
    for (step, names) in [vec!["Make0", "Make2", "Make1", "Make5"], vec!["Make4", "Make3"]].into_iter().enumerate() {
        let batch = results(&names, &dispatches);
        let commits = together.counters().commits;
        let now = at(10 + step as i64);
        let Together::Applied { effects } =
            service::handle_together(&together, &cache, "w", &batch, now).await.unwrap()
        else {
            panic!("step {step}: not applied together")
        };
        assert_eq!(together.counters().commits, commits + 1, "step {step}: one commit");
        let mut one_by_one = Vec::new();
        for (event, completed) in &batch {
            match service::handle(&alone, &alone_cache, "w", event, now, completed).await.unwrap() {
                service::Handled::Applied { effects } => one_by_one.extend(effects),
                stale => panic!("step {step}: {stale:?}"),
            }
        }
        assert_eq!(effects, one_by_one, "step {step}: the same effects, in the same order");
        let (mine, theirs) =
            (together.get_execution("e1").await.unwrap().unwrap(), alone.get_execution("e1").await.unwrap().unwrap());
        assert_eq!(mine.value, theirs.value, "step {step}: the same execution");
        let left = outbox(&together).await;
        assert_eq!(left, outbox(&alone).await, "step {step}: the same outbox");
        assert!(batch.iter().all(|(_, done)| done.iter().all(|id| !left.contains(id))), "dispatches completed");
    }
    let done = together.get_execution("e1").await.unwrap().unwrap().value;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(
        together.pipeline_state("w").await.unwrap().unwrap().value,
        alone.pipeline_state("w").await.unwrap().unwrap().value
    );
}

#[tokio::test]
async fn what_cannot_be_applied_together_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (store, cache, dispatches) = running(dir.path(), 3).await;
    let before = store.get_execution("e1").await.unwrap().unwrap();
    let commits = store.counters().commits;
    // A result twice: the second is stale, which only the handler of one event reports.
    let twice = results(&["Make0", "Make0"], &dispatches);
    // Results of two executions.
    let mut two_executions = results(&["Make1"], &dispatches);
    two_executions.push((action_done("e2", "Build", "Make0"), Vec::new()));
    // A start among them.
    let mut not_results = results(&["Make1"], &dispatches);
    not_results.push((start("e3"), Vec::new()));
    for batch in [twice, two_executions, not_results] {
        let together = service::handle_together(&store, &cache, "w", &batch, at(20)).await.unwrap();
        assert_eq!(together, Together::OneByOne);
    }
    assert_eq!(store.counters().commits, commits, "nothing written");
    assert_eq!(store.get_execution("e1").await.unwrap().unwrap(), before);
    assert!(store.get_execution("e3").await.unwrap().is_none());
}
