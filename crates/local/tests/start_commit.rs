//! A start is one write transaction: the run options of the execution it creates are written
//! in the commit that creates it (`Backend::submit_start`), never apart from it, and the new
//! execution's worker is launched without further reads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pipewright_core::contract::{declaration, start};
use pipewright_core::engine::Stale;
use pipewright_core::ports::StateStore;
use pipewright_core::service::{Handled, ServiceError};
use pipewright_local::backend::{Backend, Launcher, RunOptions, now};
use pipewright_local::report::Silent;

/// Records the launches it is asked for.
#[derive(Default)]
struct Launches(Mutex<Vec<String>>);

impl Launcher for Launches {
    fn launch(&self, _pipeline: &str, execution_id: &str) -> std::io::Result<()> {
        self.0.lock().unwrap().push(execution_id.to_string());
        Ok(())
    }
}

fn options(source: &str) -> RunOptions {
    RunOptions {
        sources: [("Source".to_string(), PathBuf::from(source))].into(),
        working_directory: PathBuf::from("/work/dir"),
        auto_approve: true,
        ..RunOptions::default()
    }
}

async fn backend(dir: &Path, launches: Arc<Launches>) -> Backend {
    let backend = Backend::open(&dir.join("state"), dir, Arc::new(Silent), Some(launches)).unwrap();
    backend.store.put_pipeline(&declaration("p", "make").unwrap(), now()).await.unwrap();
    backend
}

#[tokio::test]
async fn a_start_writes_its_run_options_in_its_own_commit_and_launches_its_worker() {
    let dir = tempfile::tempdir().unwrap();
    let launches = Arc::new(Launches::default());
    let backend = backend(dir.path(), launches.clone()).await;
    let before = backend.store.counters();
    let handled = backend.submit_start("p", &start("e1"), &options("/src/one")).await.unwrap();
    assert!(matches!(handled, Handled::Applied { .. }), "{handled:?}");
    let after = backend.store.counters();
    assert_eq!(after.writes - before.writes, 1, "one write transaction: the start with its run options");
    assert_eq!(after.commits - before.commits, 1);
    assert_eq!(backend.load_run_options("e1").await.unwrap(), options("/src/one"));
    assert_eq!(*launches.0.lock().unwrap(), ["e1"], "its worker is launched");

    // Seen from another connection to the file: both are there.
    let other = Backend::open(&dir.path().join("state"), dir.path(), Arc::new(Silent), None).unwrap();
    assert_eq!(other.load_run_options("e1").await.unwrap(), options("/src/one"));
    assert!(other.execution("e1").await.unwrap().is_some());
}

#[tokio::test]
async fn a_duplicate_start_keeps_the_first_starts_options_and_launches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let launches = Arc::new(Launches::default());
    let backend = backend(dir.path(), launches.clone()).await;
    backend.submit_start("p", &start("e1"), &options("/src/one")).await.unwrap();
    let again = backend.submit_start("p", &start("e1"), &options("/src/two")).await.unwrap();
    assert_eq!(again, Handled::Stale(Stale::DuplicateStart));
    assert_eq!(backend.load_run_options("e1").await.unwrap(), options("/src/one"));
    assert_eq!(*launches.0.lock().unwrap(), ["e1"], "launched once");
}

#[tokio::test]
async fn a_start_that_does_not_commit_records_no_options() {
    let dir = tempfile::tempdir().unwrap();
    let launches = Arc::new(Launches::default());
    let backend = backend(dir.path(), launches.clone()).await;
    let missing = backend.submit_start("absent", &start("e1"), &options("/src/one")).await;
    assert!(matches!(missing, Err(ServiceError::PipelineNotFound(_))), "{missing:?}");
    assert!(backend.store.run_options("e1").await.unwrap().is_none());
    assert!(launches.0.lock().unwrap().is_empty());
}

/// The options belong to the start in scope only: commits of other executions made while it
/// runs (a worker's, in the same process) write none.
#[tokio::test]
async fn only_the_commit_creating_the_started_execution_writes_its_options() {
    let dir = tempfile::tempdir().unwrap();
    let launches = Arc::new(Launches::default());
    let backend = backend(dir.path(), launches.clone()).await;
    let body = serde_json::to_string(&options("/src/one")).unwrap();
    let handled = pipewright_local::store::with_run_options_of_start("e1", body, async {
        backend.submit("p", &start("e2"), &[], None).await.unwrap()
    })
    .await;
    assert!(matches!(handled, Handled::Applied { .. }));
    assert!(backend.store.run_options("e1").await.unwrap().is_none());
    assert!(backend.store.run_options("e2").await.unwrap().is_none());
}

/// `serve`'s task workers open their backend over the server's (`Backend::open_sharing`): the
/// declaration the start compiled serves the new execution's worker, without a read of the
/// store. A backend of its own reads and compiles it again.
#[tokio::test]
async fn a_worker_sharing_the_servers_backend_finds_the_declaration_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let launches = Arc::new(Launches::default());
    let backend = backend(dir.path(), launches.clone()).await;
    backend.submit_start("p", &start("e1"), &options("/src/one")).await.unwrap();

    let shared = backend.shared();
    let worker = Backend::open_sharing(&shared, dir.path(), Arc::new(Silent), None);
    assert_eq!(worker.state_dir, backend.state_dir);
    let execution = worker.execution("e1").await.unwrap().unwrap();
    let before = worker.store.counters();
    let pipeline = worker.cache.pinned(worker.store.as_ref(), &execution).await.unwrap();
    assert_eq!(worker.store.counters().reads, before.reads, "no read: compiled when the start was submitted");
    assert_eq!(pipeline.name, "p");

    let own = Backend::open(&dir.path().join("state"), dir.path(), Arc::new(Silent), None).unwrap();
    let before = own.store.counters();
    own.cache.pinned(own.store.as_ref(), &execution).await.unwrap();
    assert_eq!(own.store.counters().reads - before.reads, 1, "a backend of its own reads the declaration");
}
