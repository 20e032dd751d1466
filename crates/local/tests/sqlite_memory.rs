//! The store turns SQLite's memory statistics off before its first connection: with them on,
//! every allocation SQLite makes takes one mutex shared by the whole process, on which
//! `serve`'s requests and its executions' store calls wait for each other.
//!
//! A test binary of its own with a single test: the setting only takes if nothing in the
//! process has used SQLite before the store is opened.

#![allow(clippy::unwrap_used, reason = "a test binary: what fails it panics")]

use pipewright_core::contract::declaration;
use pipewright_core::ports::StateStore;
use pipewright_core::time::Timestamp;
use pipewright_local::store::SqliteStore;

#[tokio::test]
async fn sqlite_keeps_no_memory_statistics_once_the_store_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
    store.put_pipeline(&declaration("p", "make").unwrap(), Timestamp::from_millis(1)).await.unwrap();
    assert!(store.get_pipeline("p", None).await.unwrap().is_some());
    // With the statistics on, this counts every byte SQLite holds: its page cache, the
    // connections, their statements. Off, it stays at zero.
    assert_eq!(unsafe { rusqlite::ffi::sqlite3_memory_used() }, 0);
}
