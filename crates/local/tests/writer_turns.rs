//! `serve`'s task workers (the store's background handle) take turns per pipeline from a load
//! to its commit (`SqliteStore::update`), so that they do not lose races to each other.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::sync::Arc;

use pipewright_core::contract::{declaration, start};
use pipewright_core::ports::StateStore;
use pipewright_core::service::{self, Handled};
use pipewright_local::backend::{Backend, now};
use pipewright_local::report::Silent;

/// Starts of one pipeline submitted all at once through `store`: how many commits lost a race.
async fn concurrent_starts(backend: &Backend, store: Arc<pipewright_local::store::SqliteStore>, count: usize) -> u64 {
    let before = store.counters().conflicts;
    let handlers: Vec<_> = (0..count)
        .map(|i| {
            let (store, cache) = (store.clone(), backend.cache.clone());
            tokio::spawn(async move {
                service::handle(store.as_ref(), &cache, "p", &start(&format!("e{i}")), now(), &[]).await
            })
        })
        .collect();
    for handler in handlers {
        let handled = handler.await.unwrap().unwrap();
        assert!(matches!(handled, Handled::Applied { .. }), "{handled:?}");
    }
    store.counters().conflicts - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn background_handlers_of_one_pipeline_take_turns_and_lose_no_race() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::open(&dir.path().join("state"), dir.path(), Arc::new(Silent), None).unwrap();
    backend.store.put_pipeline(&declaration("p", "make").unwrap(), now()).await.unwrap();
    let background = Arc::new(backend.store.for_background_work());
    assert_eq!(concurrent_starts(&backend, background, 40).await, 0, "no lost race among background handlers");
    for i in 0..40 {
        assert!(backend.execution(&format!("e{i}")).await.unwrap().is_some(), "e{i} committed");
    }
}
