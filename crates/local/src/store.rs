//! The SQLite state store: one file in the state directory, shared by every `pipewright`
//! process working there. It keeps the same contract as the DynamoDB store: a commit is one
//! transaction whose conditions are version numbers, and a stale write is a `Conflict`.
//!
//! WAL mode lets readers work while one writer commits; writers take the write lock up front
//! (`BEGIN IMMEDIATE`) and wait for each other through the busy timeout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};

use pipewright_core::declaration::PipelineDeclaration;
use pipewright_core::engine::{Effect, Event, Execution, Needs, PipelineState, executions_needed, executions_shown};
use pipewright_core::ports::{
    Changes, Decision, JobLocation, OutboxEntry, Page, PutOutcome, Snapshot, StateStore, StoreError, StoredPipeline,
    Versioned,
};
use pipewright_core::storage::{Cursor, from_json, page, page_size, same_structure, stamped, to_json};
use pipewright_core::time::Timestamp;

use crate::execution_rows::{self, Cache, HEAD_COLUMNS, HeadRow, Traffic, counted_json};
use crate::own_effects::Claiming;
use crate::prepared::{self, Prepared};
use crate::write_gate::{WriteGate, WritePriority};
use crate::writer_turns::WriterTurns;

// Pages a commit writes: a table keyed by text whose rows are small is WITHOUT ROWID, its
// rows stored in the key's own b-tree, so that writing one row writes one page, not the
// table's and its key index's (`execution_parts`, whose rows are not small, is the exception
// its schema explains). `outbox.seq` orders an execution's effects: a plain rowid is one
// more than the largest present, so it is above every row still there, which is all that order needs;
// AUTOINCREMENT would also write `sqlite_sequence` in every commit that adds effects.
// Stores created before these keep their tables, which behave the same.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS declarations (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS pipelines (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    state TEXT NOT NULL,
    state_rev INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    finished INTEGER NOT NULL,
    rev INTEGER NOT NULL,
    body TEXT NOT NULL,
    parts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS executions_by_pipeline ON executions (pipeline, started_at DESC, seq DESC);
CREATE INDEX IF NOT EXISTS active_executions ON executions (pipeline, finished);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    pipeline TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    body TEXT NOT NULL,
    claimed_by TEXT
);
CREATE INDEX IF NOT EXISTS outbox_by_execution ON outbox (execution_id, seq);
CREATE TABLE IF NOT EXISTS run_options (
    execution_id TEXT PRIMARY KEY,
    body TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    execution_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_by_pipeline ON jobs (pipeline);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workers (
    execution_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    pid INTEGER NOT NULL,
    heartbeat INTEGER NOT NULL
) WITHOUT ROWID;
";

/// A registered worker: the process carrying out an execution's effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRecord {
    pub owner: String,
    pub pid: u32,
    pub heartbeat: Timestamp,
}

/// The store. Every call runs on tokio's blocking threads, never on the async runtime: a
/// write may wait up to the busy timeout for another process's lock, and the requests of
/// `pipewright serve` keep being answered meanwhile. Writes go through one connection, one
/// transaction at a time; reads take a connection of their own (WAL lets them read while
/// any writer, here or in another process, holds the write lock).
pub struct SqliteStore {
    shared: Arc<Connections>,
    /// The database file and its identity when opened (none in memory).
    file: Option<(PathBuf, (u64, u64))>,
    /// Whether this handle's writes go before others' ([`SqliteStore::for_background_work`]).
    priority: WritePriority,
}

struct Connections {
    writer: Mutex<Connection>,
    /// Whose turn it is on `writer`: requests before background work (`crate::write_gate`).
    gate: WriteGate,
    /// `None` for an in-memory database, which no other connection can see: reads use the
    /// writer.
    readers: Option<Readers>,
    counters: Counters,
    /// The executions last read or written, to diff a commit against and to skip re-reading
    /// an execution whose version did not move.
    cache: Cache,
    /// The background handlers' turns per pipeline ([`SqliteStore::update`]).
    turns: WriterTurns,
}

/// What this store did, counted since it was opened: tests read them to show what a piece of
/// work costs (never a time).
#[derive(Debug, Default)]
struct Counters {
    /// Work on the writer connection other than heartbeats: each takes SQLite's write lock
    /// (`BEGIN IMMEDIATE` or a single writing statement). Every write adds to exactly one of
    /// this and `heartbeats`, so a reading never sees half of one (a test compares the two).
    writes: AtomicU64,
    /// `claim_effects` calls: one per poll of a worker.
    claims: AtomicU64,
    /// Those that found unclaimed entries and took the write lock to claim them.
    claim_writes: AtomicU64,
    /// Reads: each a trip to a read connection (or to the writer's, in memory).
    reads: AtomicU64,
    /// Worker heartbeats (writes that an idle worker still makes, one per `HEARTBEAT`).
    heartbeats: AtomicU64,
    /// Commits that wrote (one per event applied).
    commits: AtomicU64,
    /// Outbox entries removed in a write of their own (`complete_effects`), not with a commit.
    removals: AtomicU64,
    /// Commits refused because another writer committed first (a lost race).
    conflicts: AtomicU64,
    /// Bytes of stored values written by commits and read by loads and reads of executions
    /// (the pipeline state, execution heads and parts, effects).
    traffic: Traffic,
}

/// What a write is counted as.
#[derive(Debug, Clone, Copy)]
enum WriteKind {
    Change,
    Heartbeat,
}

/// A reading of the store's [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounters {
    /// Write locks taken, heartbeats included.
    pub writes: u64,
    pub claims: u64,
    /// Claims that wrote (entries were waiting); a worker's own commits claim without one.
    pub claim_writes: u64,
    /// Trips to a read connection.
    pub reads: u64,
    pub heartbeats: u64,
    pub commits: u64,
    /// Writes that only removed outbox entries carried out (`complete_effects`).
    pub removals: u64,
    /// Commits that lost their race to another writer (`Conflict`).
    pub conflicts: u64,
    /// Bytes of stored values that commits wrote: what one event costs is the difference
    /// over one commit.
    pub bytes_written: u64,
    /// Bytes of stored values read for loads and executions.
    pub bytes_read: u64,
}

/// Read connections to the same file, opened on demand and kept for the next read.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle read connections kept open; more are opened while more reads run at once.
const IDLE_READERS: usize = 4;

/// A panic on another thread cannot leave a connection inconsistent (transactions roll back
/// when dropped): recover it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Connections {
    fn write<T>(
        &self,
        priority: WritePriority,
        kind: WriteKind,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let counter = match kind {
            WriteKind::Change => &self.counters.writes,
            WriteKind::Heartbeat => &self.counters.heartbeats,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let _turn = self.gate.enter(priority);
        work(&mut lock(&self.writer))
    }

    fn read<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.counters.reads.fetch_add(1, Ordering::Relaxed);
        let Some(readers) = &self.readers else { return work(&mut lock(&self.writer)) };
        let idle = lock(&readers.idle).pop();
        let mut connection = match idle {
            Some(connection) => connection,
            None => open_reader(&readers.path)?,
        };
        let result = work(&mut connection);
        let mut idle = lock(&readers.idle);
        if idle.len() < IDLE_READERS {
            idle.push(connection);
        }
        result
    }
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path).map_err(sqlite)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    connection.execute_batch("PRAGMA query_only = ON;").map_err(sqlite)?;
    skip_checkpoint_on_close(&connection)?;
    prepared::keep_prepared(&connection).map_err(sqlite)?;
    Ok(connection)
}

/// Puts the file in WAL mode (a no-op once it is). While another connection sets up the same
/// new file, SQLite answers "busy" at once instead of calling the busy handler: wait for it
/// here, as for any lock, up to the busy timeout.
fn switch_to_wal(connection: &Connection) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    loop {
        match connection.execute_batch("PRAGMA journal_mode = WAL;") {
            Err(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == rusqlite::ErrorCode::DatabaseBusy && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            done => return done.map_err(sqlite),
        }
    }
}

/// The version of the tables this build creates, kept in the file's `user_version`. Raise it
/// with any change to `SCHEMA`, `execution_rows::SCHEMA` or `execution_rows::migrate`.
const SCHEMA_VERSION: i64 = 2;

/// Creates what is missing of the tables, unless the file says it has them all. Then in one
/// transaction: one commit instead of one per statement, and two processes opening a new
/// store at once never see half of it. A store already set up is opened without the write
/// lock (which `serve` may be holding) and without parsing the schema again.
fn set_up_schema(connection: &mut Connection) -> Result<(), StoreError> {
    let version = |connection: &Connection| {
        connection.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).map_err(sqlite)
    };
    if version(connection)? >= SCHEMA_VERSION {
        return Ok(());
    }
    // Rolled back when dropped on an error.
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
    if version(&tx)? < SCHEMA_VERSION {
        tx.execute_batch(SCHEMA).map_err(sqlite)?;
        execution_rows::migrate(&tx)?;
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};")).map_err(sqlite)?;
    }
    tx.commit().map_err(sqlite)
}

/// Turns off SQLite's memory statistics for this process, before its first connection (later
/// SQLite refuses the setting, and nothing changes). With them on, every allocation SQLite
/// makes, on any connection, takes one mutex shared by the whole process: under `serve` the
/// writer, the pooled readers and every execution's calls all meet on it. Nothing in
/// Pipewright reads the statistics or sets SQLite's soft heap limit, which needs them.
fn without_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. SQLite refuses (SQLITE_MISUSE) any
        // configuration once it is initialized, and the Once keeps two threads from calling it
        // at the same time.
        let _ = unsafe { rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int) };
    });
}

/// The last connection to close leaves the WAL as it is instead of copying it into the file
/// (three `fsync`s at the end of every run). With `synchronous = NORMAL` a commit is not
/// synced anyway; the next open reads the WAL as it is, and the automatic checkpoint (every
/// 1,000 pages) copies it over. So `state.db-wal` and `state.db-shm` stay beside the file,
/// and the three are the store.
fn skip_checkpoint_on_close(connection: &Connection) -> Result<(), StoreError> {
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map(drop).map_err(sqlite)
}

/// Claims the execution's effects nobody has claimed, for `owner`, in one write transaction.
fn claim_waiting(connection: &mut Connection, execution_id: &str, owner: &str) -> Result<Vec<OutboxEntry>, StoreError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
    let entries = claim_waiting_in(&tx, execution_id, owner)?;
    tx.commit().map_err(sqlite)?;
    Ok(entries)
}

/// Claims the execution's effects nobody has claimed, for `owner`, in the write transaction
/// `tx`; returns them in the order they were committed.
fn claim_waiting_in(tx: &Connection, execution_id: &str, owner: &str) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut entries = Vec::new();
    {
        let mut statement = tx
            .prepare_cached(
                "SELECT id, pipeline, body FROM outbox WHERE execution_id = ? AND claimed_by IS NULL ORDER BY seq",
            )
            .map_err(sqlite)?;
        let rows = statement
            .query_map([execution_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(sqlite)?;
        for row in rows {
            let (id, pipeline, body) = row.map_err(sqlite)?;
            entries.push(OutboxEntry {
                id,
                pipeline,
                execution_id: execution_id.to_string(),
                effect: from_json(&body, "effect")?,
            });
        }
    }
    if !entries.is_empty() {
        tx.run(
            "UPDATE outbox SET claimed_by = ? WHERE execution_id = ? AND claimed_by IS NULL",
            params![owner, execution_id],
        )
        .map_err(sqlite)?;
    }
    Ok(entries)
}

/// Runs store work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::Unavailable(format!("the SQLite call did not finish: {error}")))?
}

/// A SQLite failure as a store error: a damaged file, or a stored value of another type than
/// the schema's, is corrupt and stays so; anything else (busy, locked, I/O) may pass.
pub(crate) fn sqlite(error: rusqlite::Error) -> StoreError {
    use rusqlite::{Error, ErrorCode};
    match &error {
        Error::SqliteFailure(failure, _)
            if matches!(
                failure.code,
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase | ErrorCode::TypeMismatch
            ) =>
        {
            StoreError::Corrupt(error.to_string())
        }
        Error::FromSqlConversionFailure(..)
        | Error::IntegralValueOutOfRange(..)
        | Error::InvalidColumnType(..)
        | Error::Utf8Error(..) => StoreError::Corrupt(error.to_string()),
        _ => StoreError::Unavailable(error.to_string()),
    }
}

fn in_list(count: usize) -> String {
    vec!["?"; count].join(",")
}

impl SqliteStore {
    /// The pipeline state and the executions `needs` names for it, in one read transaction.
    async fn snapshot(
        &self,
        pipeline: &str,
        needs: impl FnOnce(&PipelineState) -> Needs + Send + 'static,
    ) -> Result<Snapshot, StoreError> {
        let pipeline = pipeline.to_owned();
        let shared = self.shared.clone();
        self.read(move |connection| {
            let pipeline = pipeline.as_str();
            // One read transaction: the state and the executions are from the same moment.
            let tx = connection.transaction_with_behavior(TransactionBehavior::Deferred).map_err(sqlite)?;
            let (state, state_version, declaration_version, created): (String, u64, u32, i64) = tx
                .one("SELECT state, state_rev, version, created FROM pipelines WHERE name = ?", [pipeline], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
                .map_err(sqlite)?
                .ok_or_else(|| StoreError::NotFound(format!("pipeline {pipeline}")))?;
            shared.counters.traffic.read(state.len());
            let state: PipelineState = from_json(&state, "pipeline state")?;
            let needs = needs(&state);
            let mut executions = BTreeMap::new();
            let mut read = |sql: &str, args: Vec<String>| -> Result<(), StoreError> {
                for row in head_rows(&tx, sql, rusqlite::params_from_iter(args))? {
                    if !executions.contains_key(&row.id) {
                        let versioned = shared.versioned(&tx, row)?;
                        executions.insert(versioned.value.id.clone(), versioned);
                    }
                }
                Ok(())
            };
            let ids: Vec<String> = needs.executions.into_iter().collect();
            if !ids.is_empty() {
                read(
                    &format!(
                        "SELECT {HEAD_COLUMNS} FROM executions WHERE pipeline = ? AND id IN ({})",
                        in_list(ids.len())
                    ),
                    {
                        let mut args = vec![pipeline.to_string()];
                        args.extend(ids);
                        args
                    },
                )?;
            }
            if needs.all_active {
                read(
                    &format!("SELECT {HEAD_COLUMNS} FROM executions WHERE pipeline = ? AND finished = 0"),
                    vec![pipeline.to_string()],
                )?;
            }
            Ok(Snapshot {
                declaration_version,
                created: Timestamp::from_millis(created),
                state: Versioned { value: state, version: state_version },
                executions,
            })
        })
        .await
    }

    /// Opens (creating if needed) the store at `path` (`:memory:` for a private in-memory
    /// database).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let in_memory = path == Path::new(":memory:");
        let created = !in_memory && !path.exists();
        without_memory_statistics();
        let mut connection = Connection::open(path).map_err(sqlite)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // A new file is set up without a sync per step (the switch to WAL alone syncs a
        // rollback journal, the file and its folder) and synced once at the end. A crash of
        // the process meanwhile loses nothing: a file left empty or without its tables is set
        // up again by the next open, as every statement below only creates what is missing.
        if created {
            connection.execute_batch("PRAGMA synchronous = OFF;").map_err(sqlite)?;
        }
        switch_to_wal(&connection)?;
        set_up_schema(&mut connection)?;
        connection.execute_batch("PRAGMA synchronous = NORMAL;").map_err(sqlite)?;
        if created {
            std::fs::File::open(path).and_then(|file| file.sync_all()).map_err(|error| {
                StoreError::Unavailable(format!("syncing the new store {}: {error}", path.display()))
            })?;
        }
        skip_checkpoint_on_close(&connection)?;
        prepared::keep_prepared(&connection).map_err(sqlite)?;
        let readers = (!in_memory).then(|| Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) });
        let counters = Counters::default();
        let file = readers.as_ref().and_then(|r| Some((r.path.clone(), file_identity(&r.path)?)));
        let shared = Connections {
            writer: Mutex::new(connection),
            gate: WriteGate::default(),
            readers,
            counters,
            cache: Cache::default(),
            turns: WriterTurns::default(),
        };
        Ok(SqliteStore { shared: Arc::new(shared), file, priority: WritePriority::Foreground })
    }

    /// The same store (connections, cache, counters), for work nobody waits on at the moment
    /// (`serve`'s task workers): its writes let the requests' writes go first, for a while
    /// (`crate::write_gate`).
    pub fn for_background_work(&self) -> SqliteStore {
        SqliteStore { shared: self.shared.clone(), file: self.file.clone(), priority: WritePriority::Background }
    }

    /// What this store has done since it was opened.
    pub fn counters(&self) -> StoreCounters {
        let counters = &self.shared.counters;
        let heartbeats = counters.heartbeats.load(Ordering::Relaxed);
        StoreCounters {
            writes: counters.writes.load(Ordering::Relaxed) + heartbeats,
            claims: counters.claims.load(Ordering::Relaxed),
            claim_writes: counters.claim_writes.load(Ordering::Relaxed),
            reads: counters.reads.load(Ordering::Relaxed),
            heartbeats,
            commits: counters.commits.load(Ordering::Relaxed),
            removals: counters.removals.load(Ordering::Relaxed),
            conflicts: counters.conflicts.load(Ordering::Relaxed),
            bytes_written: counters.traffic.written.load(Ordering::Relaxed),
            bytes_read: counters.traffic.read.load(Ordering::Relaxed),
        }
    }

    /// Runs `work` in a write transaction's connection, off the async runtime.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_counted_as(WriteKind::Change, work).await
    }

    async fn write_counted_as<T: Send + 'static>(
        &self,
        kind: WriteKind,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (shared, priority) = (self.shared.clone(), self.priority);
        blocking(move || shared.write(priority, kind, work)).await
    }

    /// One statement that writes, off the async runtime: how many rows it changed.
    async fn execute(&self, sql: &'static str, values: Vec<Value>) -> Result<usize, StoreError> {
        self.execute_counted_as(WriteKind::Change, sql, values).await
    }

    async fn execute_counted_as(
        &self,
        kind: WriteKind,
        sql: &'static str,
        values: Vec<Value>,
    ) -> Result<usize, StoreError> {
        let work = move |connection: &mut Connection| connection.run(sql, params_from_iter(values)).map_err(sqlite);
        self.write_counted_as(kind, work).await
    }

    /// The row a query finds, if any, as `row` reads it, off the async runtime.
    async fn query_row<T: Send + 'static>(
        &self,
        sql: &'static str,
        values: Vec<Value>,
        row: fn(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        self.read(move |connection| connection.one(sql, params_from_iter(values), row).optional().map_err(sqlite)).await
    }

    /// Runs `work` on a read connection, off the async runtime.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = self.shared.clone();
        blocking(move || shared.read(work)).await
    }

    /// The executions that have not finished, of every pipeline.
    pub async fn active_executions(&self, pipeline: &str) -> Result<Vec<Execution>, StoreError> {
        let pipeline = pipeline.to_owned();
        let shared = self.shared.clone();
        self.read(move |connection| {
            let sql = format!(
                "SELECT {HEAD_COLUMNS} FROM executions WHERE pipeline = ? AND finished = 0 ORDER BY started_at, seq"
            );
            let rows = head_rows(connection, &sql, [pipeline])?;
            rows.into_iter().map(|row| shared.execution(connection, row)).collect()
        })
        .await
    }

    /// The pipeline state as stored, and its version.
    pub async fn pipeline_state(&self, pipeline: &str) -> Result<Option<Versioned<PipelineState>>, StoreError> {
        let pipeline = pipeline.to_owned();
        self.read(move |connection| {
            let pipeline = pipeline.as_str();
            let row: Option<(String, u64)> = connection
                .one("SELECT state, state_rev FROM pipelines WHERE name = ?", [pipeline], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(sqlite)?;
            row.map(|(state, version)| Ok(Versioned { value: from_json(&state, "pipeline state")?, version }))
                .transpose()
        })
        .await
    }

    /// Records `owner` (process `pid`) as the worker of an execution, unless a live worker
    /// holds it; `is_alive` decides about the one on record. In the same write, claims for
    /// `owner` the execution's effects nobody has claimed: a worker launched for a commit
    /// (under `serve`, each start's) takes up its work without a second write.
    pub async fn register_worker(
        &self,
        execution_id: &str,
        owner: &str,
        pid: u32,
        now: Timestamp,
        is_alive: impl Fn(&WorkerRecord) -> bool + Send + 'static,
    ) -> Result<Result<Registered, WorkerRecord>, StoreError> {
        let execution_id = execution_id.to_owned();
        let owner = owner.to_owned();
        self.write(move |connection| {
            let execution_id = execution_id.as_str();
            let owner = owner.as_str();
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
            let current = worker_row(&tx, execution_id)?;
            if let Some(record) = &current
                && record.owner != owner
                && is_alive(record)
            {
                return Ok(Err(record.clone()));
            }
            tx.run(
                "INSERT INTO workers (execution_id, owner, pid, heartbeat) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (execution_id) DO UPDATE SET owner = ?2, pid = ?3, heartbeat = ?4",
                params![execution_id, owner, pid, now.millis()],
            )
            .map_err(sqlite)?;
            let claimed = claim_waiting_in(&tx, execution_id, owner)?;
            tx.commit().map_err(sqlite)?;
            let previous = current.map(|r| r.owner).filter(|previous| previous != owner);
            Ok(Ok(Registered { previous, claimed }))
        })
        .await
    }

    /// Records that `owner` is alive; false when another worker has taken the execution over.
    /// Removes the outbox entries `carried_out` in the same write, so that an idle worker
    /// takes one write lock per heartbeat; nothing when `owner` is no longer the registered
    /// worker, whose successor carries them out again.
    pub async fn heartbeat(
        &self,
        execution_id: &str,
        owner: &str,
        now: Timestamp,
        carried_out: &[String],
    ) -> Result<bool, StoreError> {
        let (execution_id, owner, carried_out) = (execution_id.to_owned(), owner.to_owned(), carried_out.to_vec());
        self.write_counted_as(WriteKind::Heartbeat, move |connection| {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
            let sql = "UPDATE workers SET heartbeat = ? WHERE execution_id = ? AND owner = ?";
            let registered = tx.execute(sql, params![now.millis(), execution_id, owner]).map_err(sqlite)? == 1;
            if registered {
                delete_outbox(&tx, &execution_id, &carried_out)?;
            }
            tx.commit().map_err(sqlite)?;
            Ok(registered)
        })
        .await
    }

    pub async fn worker(&self, execution_id: &str) -> Result<Option<WorkerRecord>, StoreError> {
        self.query_row(WORKER, vec![text(execution_id)], worker_record).await
    }

    /// Keeps how an execution was started (its sources, its approval mode), for any worker
    /// that later takes it up.
    pub async fn set_run_options(&self, execution_id: &str, body: &str) -> Result<(), StoreError> {
        let sql = "INSERT INTO run_options (execution_id, body) VALUES (?1, ?2) ON CONFLICT (execution_id) DO UPDATE SET body = ?2";
        self.execute(sql, vec![text(execution_id), text(body)]).await.map(drop)
    }

    pub async fn run_options(&self, execution_id: &str) -> Result<Option<String>, StoreError> {
        let sql = "SELECT body FROM run_options WHERE execution_id = ?";
        self.query_row(sql, vec![text(execution_id)], |r| r.get(0)).await
    }

    /// A worker's last write, when it stops: the entries it carried out leave the outbox, those
    /// it claimed and did not carry out are released for the next worker, and it unregisters.
    /// One write lock, not three; nothing of another worker's is touched.
    pub async fn finish_worker(
        &self,
        execution_id: &str,
        owner: &str,
        carried_out: &[String],
    ) -> Result<(), StoreError> {
        let (execution_id, owner, carried_out) = (execution_id.to_owned(), owner.to_owned(), carried_out.to_vec());
        self.write(move |connection| {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
            delete_outbox(&tx, &execution_id, &carried_out)?;
            tx.run(RELEASE_CLAIMS, params![execution_id, owner]).map_err(sqlite)?;
            tx.run(UNREGISTER, params![execution_id, owner]).map_err(sqlite)?;
            tx.commit().map_err(sqlite)
        })
        .await
    }

    pub async fn unregister_worker(&self, execution_id: &str, owner: &str) -> Result<(), StoreError> {
        self.execute(UNREGISTER, vec![text(execution_id), text(owner)]).await.map(drop)
    }

    /// Unfinished executions that someone has worked or must work: those with effects in the
    /// outbox (claimed or not) or a worker on record, with that worker. One read; the outbox
    /// and the workers table hold only live work, so it stays small however long the history.
    pub async fn executions_needing_workers(&self) -> Result<Vec<WorkNeeded>, StoreError> {
        self.read(|connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT e.pipeline, e.id, w.owner, w.pid, w.heartbeat FROM executions e
                     LEFT JOIN workers w ON w.execution_id = e.id
                     WHERE e.id IN (SELECT execution_id FROM outbox UNION SELECT execution_id FROM workers)
                       AND e.finished = 0",
                )
                .map_err(sqlite)?;
            let rows = statement
                .query_map([], |r| {
                    let worker = match r.get::<_, Option<String>>(2)? {
                        Some(owner) => {
                            Some(WorkerRecord { owner, pid: r.get(3)?, heartbeat: Timestamp::from_millis(r.get(4)?) })
                        }
                        None => None,
                    };
                    Ok(WorkNeeded { pipeline: r.get(0)?, execution_id: r.get(1)?, worker })
                })
                .map_err(sqlite)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sqlite)
        })
        .await
    }

    /// The effects of an execution claimed by workers other than `owner`, with who claimed
    /// each. Once `owner` is the registered worker, those claimants are dead or displaced.
    pub async fn claims_of_others(
        &self,
        execution_id: &str,
        owner: &str,
    ) -> Result<Vec<(String, OutboxEntry)>, StoreError> {
        let execution_id = execution_id.to_owned();
        let owner = owner.to_owned();
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT claimed_by, id, pipeline, body FROM outbox
                     WHERE execution_id = ?1 AND claimed_by IS NOT NULL AND claimed_by != ?2 ORDER BY seq",
                )
                .map_err(sqlite)?;
            let rows = statement
                .query_map(params![execution_id, owner], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
                })
                .map_err(sqlite)?;
            let mut claims = Vec::new();
            for row in rows {
                let (claimant, id, pipeline, body) = row.map_err(sqlite)?;
                let effect = from_json(&body, "effect")?;
                claims.push((claimant, OutboxEntry { id, pipeline, execution_id: execution_id.clone(), effect }));
            }
            Ok(claims)
        })
        .await
    }

    /// Puts the effects claimed by workers other than `owner` back in the outbox, for `owner`
    /// to claim.
    pub async fn release_claims_of_others(&self, execution_id: &str, owner: &str) -> Result<(), StoreError> {
        let sql =
            "UPDATE outbox SET claimed_by = NULL WHERE execution_id = ? AND claimed_by IS NOT NULL AND claimed_by != ?";
        self.execute(sql, vec![text(execution_id), text(owner)]).await.map(drop)
    }

    /// Whether the file this store opened is still the one at its path: false once the state
    /// directory was removed (or replaced), which an open connection does not notice.
    pub fn is_still_on_disk(&self) -> bool {
        match &self.file {
            Some((path, identity)) => file_identity(path).is_some_and(|current| current == *identity),
            None => true,
        }
    }
}

tokio::task_local! {
    /// The run options of the execution a start creates ([`with_run_options_of_start`]):
    /// (its id, the options' JSON).
    static RUN_OPTIONS_OF_START: (String, String);
}

/// Runs `work` (the submission of a start) so that the commit creating execution
/// `execution_id` also writes its run options, in the same transaction: a start is one write
/// transaction, and a crash leaves either both or neither. A commit that does not create that
/// execution (a duplicate start) writes no options, so those of the first start stay.
pub async fn with_run_options_of_start<T>(execution_id: &str, body: String, work: impl Future<Output = T>) -> T {
    RUN_OPTIONS_OF_START.scope((execution_id.to_string(), body), work).await
}

/// Writes the run options of the start in scope when `executions` creates its execution.
fn write_run_options_of_start(
    connection: &Connection,
    executions: &[(Execution, Option<u64>)],
    run_options: Option<&(String, String)>,
) -> Result<(), StoreError> {
    let Some((execution_id, body)) = run_options else { return Ok(()) };
    if executions.iter().any(|(execution, expected)| expected.is_none() && &execution.id == execution_id) {
        connection
            .run(
                "INSERT INTO run_options (execution_id, body) VALUES (?1, ?2)
                 ON CONFLICT (execution_id) DO UPDATE SET body = ?2",
                params![execution_id, body],
            )
            .map_err(sqlite)?;
    }
    Ok(())
}

/// A worker registered: the worker it took the execution over from, if any, and the effects
/// it claimed in the registration's write.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub previous: Option<String>,
    pub claimed: Vec<OutboxEntry>,
}

/// An unfinished execution with work, and the worker on record for it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkNeeded {
    pub pipeline: String,
    pub execution_id: String,
    pub worker: Option<WorkerRecord>,
}

/// The device and inode of a file: the same path may later name another file.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

const WORKER: &str = "SELECT owner, pid, heartbeat FROM workers WHERE execution_id = ?";
/// Puts the effects a worker claimed (execution, owner) back for the next one to claim.
const RELEASE_CLAIMS: &str = "UPDATE outbox SET claimed_by = NULL WHERE execution_id = ? AND claimed_by = ?";
/// Removes a worker's registration (execution, owner), only if it is still the registered one.
const UNREGISTER: &str = "DELETE FROM workers WHERE execution_id = ? AND owner = ?";

fn worker_record(row: &rusqlite::Row) -> rusqlite::Result<WorkerRecord> {
    Ok(WorkerRecord { owner: row.get(0)?, pid: row.get(1)?, heartbeat: Timestamp::from_millis(row.get(2)?) })
}

fn worker_row(connection: &Connection, execution_id: &str) -> Result<Option<WorkerRecord>, StoreError> {
    connection.one(WORKER, [execution_id], worker_record).optional().map_err(sqlite)
}

/// A string parameter of [`SqliteStore::execute`] and [`SqliteStore::query_row`].
fn text(value: &str) -> Value {
    Value::Text(value.to_string())
}

/// A declaration row: its body, version, and when the pipeline and the version were created.
fn stored_pipeline((body, version, created, updated): (String, u32, i64, i64)) -> Result<StoredPipeline, StoreError> {
    Ok(StoredPipeline {
        declaration: from_json(&body, "declaration")?,
        version,
        created: Timestamp::from_millis(created),
        updated: Timestamp::from_millis(updated),
    })
}

fn declaration_body(declaration: &PipelineDeclaration, version: u32) -> Result<String, StoreError> {
    to_json(&stamped(declaration, version))
}

impl StateStore for SqliteStore {
    fn bytes_written(&self) -> Option<u64> {
        Some(self.counters().bytes_written)
    }

    /// The port's load, decision and commit; the background handlers of one process
    /// (`serve`'s task workers) take turns per pipeline for it (`crate::writer_turns`): they
    /// share one writer connection, so waiting for the one before costs less than loading the
    /// same state, losing the race to it and trying again after a pause. Foreground handlers
    /// (requests, a command's own worker) take none, and load on a read connection while a
    /// worker commits: deciding under the write lock instead, or with the workers' turns, made
    /// the starts of `serve` slower (docs/benchmarks.md, "stop 43" and "stop 44").
    async fn update<T: Send>(
        &self,
        pipeline: &str,
        event: &Event,
        decide: impl FnOnce(Snapshot) -> Decision<T> + Send,
    ) -> Result<T, StoreError> {
        let _turn = match self.priority {
            WritePriority::Background => Some(self.shared.turns.enter(pipeline).await),
            WritePriority::Foreground => None,
        };
        pipewright_core::ports::load_decide_commit(self, pipeline, event, decide).await
    }

    async fn pause(&self, ceiling: std::time::Duration) {
        let entropy = uuid::Uuid::new_v4().as_u64_pair().0;
        tokio::time::sleep(pipewright_core::backoff::jittered(ceiling, entropy)).await;
    }

    async fn put_pipeline(&self, declaration: &PipelineDeclaration, now: Timestamp) -> Result<PutOutcome, StoreError> {
        let declaration = declaration.clone();
        self.write(move |connection| {
            let declaration = &declaration;
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
            let name = declaration.name.as_str();
            let current: Option<(u32, String)> = tx
                .one(
                    "SELECT p.version, d.body FROM pipelines p JOIN declarations d ON d.name = p.name AND d.version = p.version
                     WHERE p.name = ?",
                    [name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sqlite)?;
            let outcome = match current {
                None => {
                    let state = PipelineState::for_declaration(declaration, 1);
                    tx.run(
                        "INSERT INTO declarations (name, version, body, created) VALUES (?, 1, ?, ?)",
                        params![name, declaration_body(declaration, 1)?, now.millis()],
                    )
                    .map_err(sqlite)?;
                    tx.run(
                        "INSERT INTO pipelines (name, version, created, updated, state, state_rev) VALUES (?, 1, ?, ?, ?, 1)",
                        params![name, now.millis(), now.millis(), to_json(&state)?],
                    )
                    .map_err(sqlite)?;
                    PutOutcome { version: 1, created: true, changed: true }
                }
                Some((version, body)) => {
                    let stored: PipelineDeclaration = from_json(&body, "declaration")?;
                    if same_structure(&stored, declaration) {
                        PutOutcome { version, created: false, changed: false }
                    } else {
                        let next = version + 1;
                        tx.run(
                            "INSERT INTO declarations (name, version, body, created) VALUES (?, ?, ?, ?)",
                            params![name, next, declaration_body(declaration, next)?, now.millis()],
                        )
                        .map_err(sqlite)?;
                        tx.run(
                            "UPDATE pipelines SET version = ?, updated = ? WHERE name = ?",
                            params![next, now.millis(), name],
                        )
                        .map_err(sqlite)?;
                        PutOutcome { version: next, created: false, changed: true }
                    }
                }
            };
            tx.commit().map_err(sqlite)?;
            Ok(outcome)
        })
        .await
    }

    async fn get_pipeline(&self, name: &str, version: Option<u32>) -> Result<Option<StoredPipeline>, StoreError> {
        let name = name.to_owned();
        self.read(move |connection| {
            let name = name.as_str();
            let row: Option<(String, u32, i64, i64)> = connection
                .one(
                    "SELECT d.body, d.version, p.created, d.created FROM declarations d JOIN pipelines p ON p.name = d.name
                     WHERE d.name = ?1 AND d.version = COALESCE(?2, p.version)",
                    params![name, version],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(sqlite)?;
            row.map(stored_pipeline).transpose()
        })
        .await
    }

    async fn list_pipelines(&self) -> Result<Vec<StoredPipeline>, StoreError> {
        self.read(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT d.body, d.version, p.created, d.created FROM pipelines p
                     JOIN declarations d ON d.name = p.name AND d.version = p.version ORDER BY p.name",
                )
                .map_err(sqlite)?;
            let rows = statement
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
                })
                .map_err(sqlite)?;
            rows.map(|row| stored_pipeline(row.map_err(sqlite)?)).collect()
        })
        .await
    }

    async fn delete_pipeline(&self, name: &str) -> Result<(), StoreError> {
        let name_for_cache = name;
        let name = name.to_owned();
        self.write(move |connection| {
            let name = name.as_str();
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
            for table in ["workers", "run_options", "execution_parts"] {
                tx.run(
                    &format!(
                        "DELETE FROM {table} WHERE execution_id IN (SELECT id FROM executions WHERE pipeline = ?)"
                    ),
                    [name],
                )
                .map_err(sqlite)?;
            }
            for table in [
                "declarations WHERE name",
                "pipelines WHERE name",
                "executions WHERE pipeline",
                "outbox WHERE pipeline",
                "jobs WHERE pipeline",
            ] {
                tx.execute(&format!("DELETE FROM {table} = ?"), [name]).map_err(sqlite)?;
            }
            tx.commit().map_err(sqlite)
        })
        .await?;
        self.shared.cache.forget_pipeline(name_for_cache);
        Ok(())
    }

    async fn load(&self, pipeline: &str, event: &Event) -> Result<Snapshot, StoreError> {
        let event = event.clone();
        self.snapshot(pipeline, move |state| executions_needed(state, &event)).await
    }

    async fn load_view(&self, pipeline: &str) -> Result<Snapshot, StoreError> {
        self.snapshot(pipeline, executions_shown).await
    }

    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        let shared = self.shared.clone();
        let run_options = RUN_OPTIONS_OF_START.try_with(Clone::clone).ok();
        let claiming = Claiming::in_scope();
        self.write(move |connection| {
            let traffic = &shared.counters.traffic;
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
            let pipeline = changes.pipeline.as_str();
            let conflict = |what: String| {
                shared.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                Err(StoreError::Conflict(what))
            };
            let current: Option<u64> = tx
                .one("SELECT state_rev FROM pipelines WHERE name = ?", [pipeline], |r| r.get(0))
                .optional()
                .map_err(sqlite)?;
            match current {
                None => return Err(StoreError::NotFound(format!("pipeline {pipeline}"))),
                Some(version)
                    if (changes.state.is_some() || changes.state_relied_on)
                        && version != changes.expected_state_version =>
                {
                    return conflict(format!(
                        "pipeline {pipeline} state is at version {version}, not {}",
                        changes.expected_state_version
                    ));
                }
                Some(_) => {}
            }
            if let Some(state) = &changes.state {
                tx.run(
                    "UPDATE pipelines SET state = ?, state_rev = state_rev + 1 WHERE name = ?",
                    params![counted_json(state, traffic)?, pipeline],
                )
                .map_err(sqlite)?;
            }
            write_run_options_of_start(&tx, &changes.executions, run_options.as_ref())?;
            let mut written = Vec::new();
            for (execution, expected) in &changes.executions {
                match execution_rows::write(&tx, pipeline, execution, *expected, &shared.cache, traffic)? {
                    Some(done) => written.push(done),
                    // Dropping the transaction rolls back everything written so far.
                    None => return conflict(format!("execution {} changed since it was read", execution.id)),
                }
            }
            let mut claimed = Vec::new();
            for effect in &changes.effects {
                let execution_id = effect.execution_id();
                let owner = claiming.as_ref().and_then(|claiming| claiming.owner_of(effect));
                let inserted = tx
                    .run(
                        "INSERT OR IGNORE INTO outbox (id, pipeline, execution_id, body, claimed_by)
                         VALUES (?, ?, ?, ?, ?)",
                        params![effect.id(), pipeline, execution_id, counted_json(effect, traffic)?, owner],
                    )
                    .map_err(sqlite)?;
                // An entry already there (ignored) is not this commit's to hand back.
                if owner.is_some() && inserted == 1 {
                    claimed.push(OutboxEntry {
                        id: effect.id().to_string(),
                        pipeline: pipeline.to_string(),
                        execution_id: execution_id.to_string(),
                        effect: effect.clone(),
                    });
                }
                if let Effect::Dispatch(dispatch) = effect {
                    tx.run(
                        "INSERT OR IGNORE INTO jobs (id, pipeline, execution_id) VALUES (?, ?, ?)",
                        params![dispatch.job_id, pipeline, dispatch.execution_id],
                    )
                    .map_err(sqlite)?;
                }
            }
            // The completed entries belong to the executions this change writes, or to the event's.
            for chunk in changes.completed_effects.chunks(500) {
                let sql = format!("DELETE FROM outbox WHERE id IN ({})", in_list(chunk.len()));
                tx.execute(&sql, rusqlite::params_from_iter(chunk)).map_err(sqlite)?;
            }
            tx.commit().map_err(sqlite)?;
            shared.counters.commits.fetch_add(1, Ordering::Relaxed);
            if let Some(claiming) = &claiming {
                claiming.committed(claimed);
            }
            for ((execution, _), done) in changes.executions.into_iter().zip(written) {
                execution_rows::remember(&shared.cache, execution, done);
            }
            Ok(())
        })
        .await
    }

    async fn put_record_if_absent(&self, kind: &str, key: &str, value: &str) -> Result<bool, StoreError> {
        let sql = "INSERT OR IGNORE INTO records (kind, key, value) VALUES (?, ?, ?)";
        Ok(self.execute(sql, vec![text(kind), text(key), text(value)]).await? == 1)
    }

    async fn replace_record(&self, kind: &str, key: &str, expected: &str, value: &str) -> Result<bool, StoreError> {
        let (kind, key, expected, value) = (kind.to_owned(), key.to_owned(), expected.to_owned(), value.to_owned());
        self.write(move |connection| {
            let written = connection
                .run(
                    "UPDATE records SET value = ? WHERE kind = ? AND key = ? AND value = ?",
                    params![value, kind, key, expected],
                )
                .map_err(sqlite)?;
            Ok(written == 1)
        })
        .await
    }

    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        let sql = "SELECT value FROM records WHERE kind = ? AND key = ?";
        self.query_row(sql, vec![text(kind), text(key)], |r| r.get(0)).await
    }

    async fn list_records(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        let kind = kind.to_owned();
        self.read(move |connection| {
            let kind = kind.as_str();
            let mut statement = connection
                .prepare_cached("SELECT key, value FROM records WHERE kind = ? ORDER BY key")
                .map_err(sqlite)?;
            let rows = statement.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?))).map_err(sqlite)?;
            rows.map(|row| row.map_err(sqlite)).collect()
        })
        .await
    }

    async fn delete_record(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM records WHERE kind = ? AND key = ?", vec![text(kind), text(key)]).await.map(drop)
    }

    async fn find_job(&self, job_id: &str) -> Result<Option<JobLocation>, StoreError> {
        let sql = "SELECT pipeline, execution_id FROM jobs WHERE id = ?";
        self.query_row(sql, vec![text(job_id)], |r| Ok(JobLocation { pipeline: r.get(0)?, execution_id: r.get(1)? }))
            .await
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Versioned<Execution>>, StoreError> {
        let id = id.to_owned();
        let shared = self.shared.clone();
        self.read(move |connection| {
            let rows = head_rows(connection, &format!("SELECT {HEAD_COLUMNS} FROM executions WHERE id = ?"), [id])?;
            rows.into_iter().next().map(|row| shared.versioned(connection, row)).transpose()
        })
        .await
    }

    async fn list_executions(
        &self,
        pipeline: &str,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<Page<Execution>, StoreError> {
        // Executions that started in the same millisecond are in the order they were stored.
        let after = match next_token {
            None => (i64::MAX, i64::MAX),
            Some(token) => {
                let cursor = Cursor::from_token(token)?;
                (cursor.started_at, cursor.key.parse().map_err(|_| StoreError::InvalidNextToken)?)
            }
        };
        let size = page_size(limit);
        let pipeline = pipeline.to_owned();
        let shared = self.shared.clone();
        self.read(move |connection| {
            let (from_started, from_seq): (i64, i64) = after;
            let fetch = i64::try_from(size + 1).unwrap_or(i64::MAX);
            let rows: Vec<(HeadRow, i64, i64)> = {
                let mut statement = connection
                    .prepare_cached(&format!(
                        "SELECT {HEAD_COLUMNS}, started_at, seq FROM executions
                         WHERE pipeline = ?1 AND (started_at < ?2 OR (started_at = ?2 AND seq < ?3))
                         ORDER BY started_at DESC, seq DESC LIMIT ?4"
                    ))
                    .map_err(sqlite)?;
                let rows = statement
                    .query_map(params![pipeline, from_started, from_seq, fetch], |r| {
                        Ok((HeadRow::from_row(r)?, r.get::<_, i64>(4)?, r.get::<_, i64>(5)?))
                    })
                    .map_err(sqlite)?;
                rows.collect::<Result<_, _>>().map_err(sqlite)?
            };
            let mut read = Vec::new();
            for (row, started_at, seq) in rows {
                read.push((shared.execution(connection, row)?, Cursor { started_at, key: seq.to_string() }));
            }
            Ok(page(read, size))
        })
        .await
    }

    /// Every effect: a worker schedules its wake-ups from the deadlines it claims.
    fn keeps_effect(&self, _effect: &Effect) -> bool {
        true
    }

    async fn claim_effects(&self, execution_id: &str, owner: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        self.shared.counters.claims.fetch_add(1, Ordering::Relaxed);
        // Read first: a worker polls many times for every effect committed, and an empty poll
        // must not take the write lock that every other worker and writer waits for.
        // The look and the claim on one trip to a blocking thread, not two.
        let execution_id = execution_id.to_owned();
        let owner = owner.to_owned();
        let (shared, priority) = (self.shared.clone(), self.priority);
        blocking(move || {
            let sql = "SELECT EXISTS (SELECT 1 FROM outbox WHERE execution_id = ? AND claimed_by IS NULL)";
            let waiting = shared.read(|connection| {
                connection.one(sql, [execution_id.as_str()], |r| r.get::<_, bool>(0)).map_err(sqlite)
            })?;
            if !waiting {
                return Ok(Vec::new());
            }
            shared.counters.claim_writes.fetch_add(1, Ordering::Relaxed);
            shared.write(priority, WriteKind::Change, |connection| claim_waiting(connection, &execution_id, &owner))
        })
        .await
    }

    async fn complete_effects(&self, execution_id: &str, ids: &[String]) -> Result<(), StoreError> {
        let execution_id = execution_id.to_owned();
        let ids = ids.to_vec();
        self.shared.counters.removals.fetch_add(1, Ordering::Relaxed);
        self.write(move |connection| {
            let execution_id = execution_id.as_str();
            let ids = ids.as_slice();
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
            delete_outbox(&tx, execution_id, ids)?;
            tx.commit().map_err(sqlite)
        })
        .await
    }

    async fn release_effects(&self, execution_id: &str, owner: &str) -> Result<(), StoreError> {
        self.execute(RELEASE_CLAIMS, vec![text(execution_id), text(owner)]).await.map(drop)
    }
}

impl Connections {
    /// The execution of a row ([`execution_rows::read`]).
    fn execution(&self, connection: &Connection, row: HeadRow) -> Result<Execution, StoreError> {
        execution_rows::read(connection, row, &self.cache, &self.counters.traffic)
    }

    fn versioned(&self, connection: &Connection, row: HeadRow) -> Result<Versioned<Execution>, StoreError> {
        let version = row.version;
        Ok(Versioned { value: self.execution(connection, row)?, version })
    }
}

/// The execution rows a query selecting [`HEAD_COLUMNS`] finds.
fn head_rows(connection: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<HeadRow>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(sqlite)?;
    let rows = statement.query_map(args, HeadRow::from_row).map_err(sqlite)?;
    rows.collect::<Result<_, _>>().map_err(sqlite)
}

fn delete_outbox(connection: &Connection, execution_id: &str, ids: &[String]) -> Result<(), StoreError> {
    for chunk in ids.chunks(500) {
        let sql = format!("DELETE FROM outbox WHERE execution_id = ? AND id IN ({})", in_list(chunk.len()));
        let args = std::iter::once(execution_id).chain(chunk.iter().map(String::as_str));
        connection.execute(&sql, rusqlite::params_from_iter(args)).map_err(sqlite)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract runs against an in-memory database; sharing a file between processes is
    /// tested below.
    async fn fresh() -> SqliteStore {
        SqliteStore::open(Path::new(":memory:")).expect("open")
    }

    pipewright_core::store_contract_tests!(fresh());

    #[tokio::test]
    async fn two_processes_share_one_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let first = SqliteStore::open(&path).unwrap();
        let second = SqliteStore::open(&path).unwrap();
        let declaration = pipewright_core::contract::declaration("shared", "make").unwrap();
        first.put_pipeline(&declaration, Timestamp::from_millis(1)).await.unwrap();
        assert_eq!(second.get_pipeline("shared", None).await.unwrap().unwrap().version, 1);
        let state = second.pipeline_state("shared").await.unwrap().unwrap();
        let changes = |state: &Versioned<PipelineState>| Changes {
            pipeline: "shared".into(),
            expected_state_version: state.version,
            state_relied_on: true,
            state: Some(state.value.clone()),
            executions: Vec::new(),
            effects: Vec::new(),
            completed_effects: Vec::new(),
        };
        first.commit(changes(&state)).await.unwrap();
        assert!(matches!(second.commit(changes(&state)).await, Err(StoreError::Conflict(_))));
    }

    /// Each process keeps the executions it read or wrote; another process's commit moves the
    /// version, so each reads the other's parts and diffs against what is stored, never
    /// against a stale copy.
    #[tokio::test]
    async fn two_processes_taking_turns_on_one_execution_read_each_others_commits() {
        use pipewright_core::contract::{action_done, source_done, start, wide_declaration};
        use pipewright_core::service::{self, PipelineCache};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let (first, second) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
        let cache = PipelineCache::new(Default::default());
        first.put_pipeline(&wide_declaration("w", 6).unwrap(), Timestamp::from_millis(1)).await.unwrap();
        let mut events = vec![start("e1"), source_done("e1")];
        events.extend((0..6).map(|i| action_done("e1", "Build", &format!("Make{i}"))));
        for (turn, event) in events.iter().enumerate() {
            let (writer, reader) = if turn % 2 == 0 { (&first, &second) } else { (&second, &first) };
            let at = Timestamp::from_millis(10 + turn as i64);
            service::handle(writer, &cache, "w", event, at, &[]).await.unwrap();
            let written = writer.get_execution("e1").await.unwrap().unwrap();
            assert_eq!(reader.get_execution("e1").await.unwrap().unwrap(), written, "turn {turn}");
            let fresh = SqliteStore::open(&path).unwrap();
            assert_eq!(fresh.get_execution("e1").await.unwrap().unwrap(), written, "turn {turn}: from the parts");
        }
        let done = first.get_execution("e1").await.unwrap().unwrap().value;
        assert_eq!(done.status, pipewright_core::engine::ExecutionStatus::Succeeded);
    }

    /// On a runtime of one thread, a write waiting for another connection's lock leaves the
    /// runtime free: reads are answered meanwhile, and the write commits once the lock goes.
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_waiting_for_a_lock_holds_up_no_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
        let declaration = pipewright_core::contract::declaration("p", "make").unwrap();
        store.put_pipeline(&declaration, Timestamp::from_millis(1)).await.unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let writer = store.clone();
        let write = tokio::spawn(async move { writer.put_record_if_absent("kind", "key", "value").await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(store.get_pipeline("p", None).await.unwrap().unwrap().version, 1);
        assert!(store.list_executions("p", 10, None).await.unwrap().items.is_empty());
        assert!(store.get_record("kind", "key").await.unwrap().is_none());
        assert!(!write.is_finished(), "the write still waits for the lock");
        other.execute_batch("COMMIT").unwrap();
        assert!(write.await.unwrap().unwrap(), "the write commits once the lock is released");
        assert_eq!(store.get_record("kind", "key").await.unwrap().as_deref(), Some("value"));
    }

    /// Damaged data is a permanent error, which nothing retries; a busy database is transient.
    #[tokio::test]
    async fn corrupt_data_is_a_permanent_error() {
        use pipewright_core::contract::{declaration, start};
        use pipewright_core::service::{self, PipelineCache, ServiceError};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).unwrap();
        store.put_pipeline(&declaration("p", "make").unwrap(), Timestamp::from_millis(1)).await.unwrap();
        let cache = PipelineCache::new(Default::default());
        service::handle(&store, &cache, "p", &start("e1"), Timestamp::from_millis(2), &[]).await.unwrap();

        let raw = Connection::open(&path).unwrap();
        raw.execute("UPDATE executions SET body = '{\"id\": 7' WHERE id = 'e1'", []).unwrap();
        let error = store.get_execution("e1").await.unwrap_err();
        assert!(matches!(&error, StoreError::Corrupt(m) if m.contains("stored execution is unreadable")), "{error}");
        assert!(error.is_permanent());
        let tick = Event::Tick(pipewright_core::engine::Tick { execution_id: "e1".into() });
        let handled = service::handle(&store, &cache, "p", &tick, Timestamp::from_millis(3), &[]).await;
        assert!(matches!(handled, Err(ServiceError::Store(StoreError::Corrupt(_)))), "{handled:?}");
        raw.execute("UPDATE executions SET rev = 'many' WHERE id = 'e1'", []).unwrap();
        assert!(matches!(store.get_execution("e1").await, Err(StoreError::Corrupt(_))), "a mistyped column");

        // Held by another connection past the busy timeout: transient.
        assert!(
            !sqlite(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None))
                .is_permanent()
        );

        // A file that is not a database at all.
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
        assert!(matches!(SqliteStore::open(&garbage), Err(StoreError::Corrupt(_))));
    }

    /// A state file written before executions had parts (no `parts` column, the whole
    /// execution in `body`) still loads, and its first commit converts the row to parts.
    #[tokio::test]
    async fn a_state_file_of_whole_execution_rows_loads_and_converts_on_first_write() {
        use pipewright_core::contract::{declaration, source_done, start};
        use pipewright_core::service::{self, PipelineCache};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let cache = PipelineCache::new(Default::default());
        let started = {
            let store = SqliteStore::open(&path).unwrap();
            store.put_pipeline(&declaration("p", "make").unwrap(), Timestamp::from_millis(1)).await.unwrap();
            service::handle(&store, &cache, "p", &start("e1"), Timestamp::from_millis(2), &[]).await.unwrap();
            store.get_execution("e1").await.unwrap().unwrap()
        };
        // Rewrite the row as the previous version wrote it.
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch(
            "DELETE FROM execution_parts; ALTER TABLE executions DROP COLUMN parts; PRAGMA user_version = 0;",
        )
        .unwrap();
        raw.execute("UPDATE executions SET body = ? WHERE id = 'e1'", [to_json(&started.value).unwrap()]).unwrap();

        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get_execution("e1").await.unwrap().unwrap(), started, "a whole row reads as it is");
        let tick = Event::Tick(pipewright_core::engine::Tick { execution_id: "e1".into() });
        assert_eq!(store.load("p", &tick).await.unwrap().executions["e1"], started);
        service::handle(&store, &cache, "p", &source_done("e1"), Timestamp::from_millis(3), &[]).await.unwrap();
        let (split, parts): (bool, u64) = raw
            .query_row(
                "SELECT parts, (SELECT COUNT(*) FROM execution_parts WHERE execution_id = 'e1') FROM executions WHERE id = 'e1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(split && parts >= 4, "converted: {parts} parts");
        let converted = store.get_execution("e1").await.unwrap().unwrap();
        assert_eq!(converted.version, started.version + 1);
        let fresh = SqliteStore::open(&path).unwrap();
        assert_eq!(fresh.get_execution("e1").await.unwrap().unwrap(), converted, "read from its parts alone");
        assert_eq!(converted.value.stages[0].status, Some(pipewright_core::engine::StageStatus::Succeeded));
    }

    /// A commit that leaves an execution unfinished does not write the `active_executions`
    /// index (SQLite would rewrite its entry if the UPDATE set `finished`, even to the same
    /// value); the commit that finishes it does, and the index then lists it no more.
    #[tokio::test]
    async fn only_the_commit_that_finishes_an_execution_writes_the_active_executions_index() {
        use pipewright_core::contract::{action_done, source_done, start, wide_declaration};
        use pipewright_core::service::{self, PipelineCache};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).unwrap();
        let cache = PipelineCache::new(Default::default());
        store.put_pipeline(&wide_declaration("w", 1).unwrap(), Timestamp::from_millis(1)).await.unwrap();
        let raw = Connection::open(&path).unwrap();
        let index_page: u32 = raw
            .query_row("SELECT rootpage FROM sqlite_schema WHERE name = 'active_executions'", [], |r| r.get(0))
            .unwrap();
        let page_size: u64 = raw.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        // The frames of the WAL that hold the index's page (a small store: its root is its leaf).
        let index_frames = || {
            let wal = std::fs::read(dir.path().join("state.db-wal")).unwrap();
            let frame = 24 + page_size as usize;
            wal.get(32..)
                .unwrap_or_default()
                .chunks(frame)
                .filter(|f| f.len() == frame && u32::from_be_bytes([f[0], f[1], f[2], f[3]]) == index_page)
                .count()
        };
        let active = || async { store.active_executions("w").await.unwrap().len() };

        service::handle(&store, &cache, "w", &start("e1"), Timestamp::from_millis(2), &[]).await.unwrap();
        let after_start = index_frames();
        assert!(after_start > 0, "the start adds the execution to the index");
        assert_eq!(active().await, 1);
        service::handle(&store, &cache, "w", &source_done("e1"), Timestamp::from_millis(3), &[]).await.unwrap();
        assert_eq!(index_frames(), after_start, "a commit that leaves it unfinished leaves the index alone");
        assert_eq!(active().await, 1);
        service::handle(&store, &cache, "w", &action_done("e1", "Build", "Make0"), Timestamp::from_millis(4), &[])
            .await
            .unwrap();
        let done = store.get_execution("e1").await.unwrap().unwrap().value;
        assert_eq!(done.status, pipewright_core::engine::ExecutionStatus::Succeeded);
        assert!(index_frames() > after_start, "the commit that finishes it moves its index entry");
        assert_eq!(active().await, 0);
    }

    #[tokio::test]
    async fn polling_an_empty_outbox_takes_no_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        // Another process holds the write lock: a poll that wanted it would wait for it.
        let other = Connection::open(dir.path().join("state.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let before = store.counters();
        for _ in 0..50 {
            assert!(store.claim_effects("e1", "worker").await.unwrap().is_empty());
        }
        let after = store.counters();
        assert_eq!(after.claims - before.claims, 50);
        assert_eq!(after.writes, before.writes, "no write transaction for an empty outbox");
        other.execute_batch("ROLLBACK").unwrap();
    }

    /// The last store to close leaves its commits in the WAL (no checkpoint), and the next
    /// open reads them from there.
    #[tokio::test]
    async fn commits_left_in_the_wal_on_close_are_read_by_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).unwrap();
        let declaration = pipewright_core::contract::declaration("kept", "make").unwrap();
        store.put_pipeline(&declaration, Timestamp::from_millis(1)).await.unwrap();
        assert!(store.get_pipeline("kept", None).await.unwrap().is_some(), "a reader was opened too");
        drop(store);
        let wal = dir.path().join("state.db-wal");
        assert!(wal.metadata().is_ok_and(|m| m.len() > 0), "closing left the WAL as it was");
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(reopened.get_pipeline("kept", None).await.unwrap().unwrap().version, 1);
    }

    /// A store whose creation stopped half-way (an empty file, or tables missing) is set up
    /// by the next open; and two processes creating one store at once both get it whole.
    #[tokio::test]
    async fn a_store_left_half_created_is_set_up_by_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(&path, b"").unwrap();
        let store = SqliteStore::open(&path).unwrap();
        let declaration = pipewright_core::contract::declaration("whole", "make").unwrap();
        store.put_pipeline(&declaration, Timestamp::from_millis(1)).await.unwrap();
        drop(store);

        // Stopped after the switch to WAL, before the tables' transaction.
        let switched = dir.path().join("switched.db");
        Connection::open(&switched).unwrap().execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        let store = SqliteStore::open(&switched).unwrap();
        store.put_pipeline(&declaration, Timestamp::from_millis(1)).await.unwrap();
        drop(store);

        let new = dir.path().join("new.db");
        let opened = std::thread::scope(|scope| {
            let openers: Vec<_> = (0..4).map(|_| scope.spawn(|| SqliteStore::open(&new).map(drop))).collect();
            openers.into_iter().map(|opener| opener.join().unwrap()).collect::<Vec<_>>()
        });
        assert!(opened.iter().all(Result::is_ok), "{opened:?}");
        let store = SqliteStore::open(&new).unwrap();
        store.put_pipeline(&declaration, Timestamp::from_millis(1)).await.unwrap();
    }

    /// Opening a store already set up takes no write lock: a command opens it while another
    /// process (`serve`) holds the lock.
    #[tokio::test]
    async fn a_store_set_up_opens_while_another_process_holds_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(SqliteStore::open(&path).unwrap());
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        // Taking the lock would wait for the busy timeout and fail as "locked".
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.get_pipeline("none", None).await.unwrap().is_none());
        other.execute_batch("ROLLBACK").unwrap();
    }

    #[tokio::test]
    async fn a_heartbeat_removes_the_entries_carried_out_in_its_own_write_and_only_for_the_registered_worker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).unwrap();
        let now = Timestamp::from_millis(10);
        assert_eq!(store.register_worker("e1", "a", 1, now, |_| true).await.unwrap().map(|r| r.previous), Ok(None));
        let raw = Connection::open(&path).unwrap();
        for id in ["p1", "p2", "p3"] {
            raw.execute("INSERT INTO outbox (id, pipeline, execution_id, body) VALUES (?, 'p', 'e1', '{}')", [id])
                .unwrap();
        }
        let left = || raw.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0)).unwrap();
        let carried_out = ["p1".to_string(), "p2".to_string()];
        assert!(!store.heartbeat("e1", "b", now, &carried_out).await.unwrap(), "b is not registered");
        assert_eq!(left(), 3, "nothing removed for a worker that is not the registered one");
        let before = store.counters();
        assert!(store.heartbeat("e1", "a", now, &carried_out).await.unwrap());
        let after = store.counters();
        assert_eq!(left(), 1, "the two carried out are gone, the other stays");
        // `writes` counts heartbeats too: one write lock in all, the heartbeat's.
        assert_eq!(
            (after.heartbeats - before.heartbeats, after.writes - before.writes),
            (1, 1),
            "one write: the heartbeat"
        );
        assert_eq!(after.removals, before.removals, "no write of their own");
    }

    /// A commit made in a worker's scope records the effects for its execution as claimed by
    /// it, durably and in the same transaction, and hands them back; effects for other
    /// executions stay for whoever claims them, and a commit that fails claims nothing.
    #[tokio::test]
    async fn a_workers_own_commit_claims_the_effects_for_its_execution_and_hands_them_back() {
        use crate::own_effects::claiming_own_effects;
        use pipewright_core::engine::WakeAt;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        let declaration = pipewright_core::contract::declaration("p", "make").unwrap();
        store.put_pipeline(&declaration, Timestamp::from_millis(1)).await.unwrap();
        let state = store.pipeline_state("p").await.unwrap().unwrap();
        let wake = |execution_id: &str, at: i64| {
            let id = format!("{execution_id}-wake-{at}");
            Effect::WakeAt(WakeAt { id, execution_id: execution_id.into(), at: Timestamp::from_millis(at) })
        };
        let changes = |version: u64, effects: Vec<Effect>| Changes {
            pipeline: "p".into(),
            expected_state_version: version,
            state_relied_on: true,
            state: None,
            executions: Vec::new(),
            effects,
            completed_effects: Vec::new(),
        };
        let (committed, claimed) = claiming_own_effects(
            "mine",
            "worker-a",
            store.commit(changes(state.version, vec![wake("mine", 5), wake("other", 5), wake("mine", 6)])),
        )
        .await;
        committed.unwrap();
        let ids: Vec<&str> = claimed.iter().map(|entry| entry.id.as_str()).collect();
        assert_eq!(ids, ["mine-wake-5", "mine-wake-6"], "its own, in order");
        assert!(claimed.iter().all(|entry| entry.execution_id == "mine" && entry.pipeline == "p"));

        // What a worker taking over reads: both are claimed by worker-a.
        let others = store.claims_of_others("mine", "worker-b").await.unwrap();
        assert_eq!(others.iter().map(|(owner, _)| owner.as_str()).collect::<Vec<_>>(), ["worker-a", "worker-a"]);
        assert!(store.claim_effects("mine", "worker-a").await.unwrap().is_empty(), "nothing left to claim");
        assert_eq!(store.claim_effects("other", "worker-c").await.unwrap().len(), 1, "another's stays unclaimed");

        // A commit that conflicts hands back nothing; one outside the scope claims nothing.
        let (conflict, claimed) =
            claiming_own_effects("mine", "worker-a", store.commit(changes(state.version + 7, vec![wake("mine", 9)])))
                .await;
        assert!(matches!(conflict, Err(StoreError::Conflict(_))), "{conflict:?}");
        assert!(claimed.is_empty());
        store.commit(changes(state.version, vec![wake("mine", 10)])).await.unwrap();
        assert_eq!(store.claim_effects("mine", "worker-a").await.unwrap().len(), 1, "left unclaimed");
    }

    /// A worker's last write removes what it carried out, releases what it claimed and did
    /// not, and unregisters it: one write lock; another worker's claims and registration stay.
    #[tokio::test]
    async fn a_workers_last_write_removes_releases_and_unregisters_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).unwrap();
        let now = Timestamp::from_millis(10);
        assert_eq!(store.register_worker("e1", "a", 1, now, |_| true).await.unwrap().map(|r| r.previous), Ok(None));
        assert_eq!(store.register_worker("e2", "b", 1, now, |_| true).await.unwrap().map(|r| r.previous), Ok(None));
        let raw = Connection::open(&path).unwrap();
        for (id, execution, claimant) in [("shown", "e1", "a"), ("unstarted", "e1", "a"), ("theirs", "e2", "b")] {
            raw.execute(
                "INSERT INTO outbox (id, pipeline, execution_id, body, claimed_by) VALUES (?, 'p', ?, '{}', ?)",
                [id, execution, claimant],
            )
            .unwrap();
        }
        let before = store.counters();
        store.finish_worker("e1", "a", &["shown".to_string()]).await.unwrap();
        assert_eq!(store.counters().writes - before.writes, 1, "one write lock");
        let outbox: Vec<(String, Option<String>)> = raw
            .prepare("SELECT id, claimed_by FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(outbox, [("theirs".into(), Some("b".into())), ("unstarted".into(), None)]);
        assert!(store.worker("e1").await.unwrap().is_none(), "unregistered");
        assert_eq!(store.worker("e2").await.unwrap().unwrap().owner, "b", "another's registration stays");
    }

    #[tokio::test]
    async fn workers_register_once_while_alive() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        let now = Timestamp::from_millis(10);
        assert_eq!(store.register_worker("e1", "a", 1, now, |_| true).await.unwrap().map(|r| r.previous), Ok(None));
        let held = store.register_worker("e1", "b", 2, now, |_| true).await.unwrap();
        assert_eq!(held.unwrap_err().owner, "a");
        let taken = store.register_worker("e1", "b", 2, now, |_| false).await.unwrap();
        assert_eq!(taken.map(|r| r.previous), Ok(Some("a".to_string())));
        assert!(store.heartbeat("e1", "b", Timestamp::from_millis(20), &[]).await.unwrap());
        assert!(!store.heartbeat("e1", "a", Timestamp::from_millis(20), &[]).await.unwrap(), "a was taken over");
        assert_eq!(store.worker("e1").await.unwrap().unwrap().heartbeat, Timestamp::from_millis(20));
        store.unregister_worker("e1", "b").await.unwrap();
        assert!(store.worker("e1").await.unwrap().is_none());
    }
}
