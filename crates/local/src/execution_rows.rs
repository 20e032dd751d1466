//! Executions in the SQLite store as a head row and part rows (docs/ARCHITECTURE.md, "How an
//! execution is stored"): the `executions` row keeps the version, the listing columns and the
//! head, and `execution_parts` one row per stage, action, artifact, namespace and revision. A
//! commit writes the head and the parts that changed; a read that finds the head it cached
//! reads nothing else.
//!
//! Rows written before parts existed (`parts = 0`) hold the whole execution in `body`: they
//! are read as they are, and converted by the first commit that writes them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};

use pipewright_core::engine::Execution;
use pipewright_core::execution_parts::{PartKey, StoredPart, changed_parts, head_json, join, split};
use pipewright_core::ports::StoreError;
use pipewright_core::storage::{from_json, to_json};

use crate::prepared::Prepared;
use crate::store::sqlite;

/// The part rows, and the column that says an execution row holds only its head.
///
/// A rowid table, unlike the store's other tables keyed by text: a part is often 1 KB or more
/// (an action's state), and a WITHOUT ROWID table is an index b-tree, which keeps at most
/// about 1,000 bytes of a row on its leaf page (4 KB pages) and the rest on an overflow page
/// of its own. Each such part then wrote two pages, and a stage of 50 actions 50 overflow
/// pages. Here rows of up to about 4 KB stay on their leaf, several to a page, and the key's
/// index holds only the keys (docs/benchmarks.md, "stop 37"). Stores made before keep their
/// table, which behaves the same.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS execution_parts (
    execution_id TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (execution_id, key)
);
";

/// Adds `executions.parts` to a state file made before it existed (its rows keep 0: whole).
pub fn migrate(connection: &Connection) -> Result<(), StoreError> {
    let present: bool = connection
        .query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('executions') WHERE name = 'parts'", [], |r| r.get(0))
        .map_err(sqlite)?;
    if !present {
        connection
            .execute_batch("ALTER TABLE executions ADD COLUMN parts INTEGER NOT NULL DEFAULT 0;")
            .map_err(sqlite)?;
    }
    connection.execute_batch(SCHEMA).map_err(sqlite)
}

/// Bytes of stored values this store wrote and read, since it was opened.
#[derive(Debug, Default)]
pub struct Traffic {
    pub written: AtomicU64,
    pub read: AtomicU64,
}

impl Traffic {
    pub fn wrote(&self, bytes: usize) {
        self.written.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn read(&self, bytes: usize) {
        self.read.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// The executions this store last read or wrote, each with its version and stored head: the
/// base a commit compares against, and what a read returns when the head row it finds is the
/// same. The head holds the execution's seed and times, so a row removed and written again
/// under the same id and version does not pass for the cached one.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<String, Cached>>,
}

struct Cached {
    version: u64,
    head: String,
    execution: Execution,
    /// When it was last used, for eviction.
    used: u64,
}

/// Executions kept; past it the least recently used goes. A run with more executions at once
/// reads the parts of those it no longer holds.
const CACHED_EXECUTIONS: usize = 32;

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` over the cached execution `id`, if it is the one at `version` with `head`.
    fn with<T>(&self, id: &str, version: u64, head: &str, work: impl FnOnce(&Execution) -> T) -> Option<T> {
        let mut entries = self.lock();
        let clock = entries.values().map(|c| c.used).max().unwrap_or(0) + 1;
        let cached = entries.get_mut(id).filter(|c| c.version == version && c.head == head)?;
        cached.used = clock;
        Some(work(&cached.execution))
    }

    fn put(&self, execution: Execution, version: u64, head: String) {
        let mut entries = self.lock();
        let clock = entries.values().map(|c| c.used).max().unwrap_or(0) + 1;
        if !entries.contains_key(&execution.id)
            && entries.len() >= CACHED_EXECUTIONS
            && let Some(oldest) = entries.iter().min_by_key(|(_, c)| c.used).map(|(id, _)| id.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(execution.id.clone(), Cached { version, head, execution, used: clock });
    }

    /// Forgets the executions of a deleted pipeline.
    pub fn forget_pipeline(&self, pipeline: &str) {
        self.lock().retain(|_, cached| cached.execution.pipeline_name != pipeline);
    }
}

/// The columns of an execution row that [`read`] needs, in this order.
pub const HEAD_COLUMNS: &str = "id, rev, parts, body";

/// An execution row as selected by [`HEAD_COLUMNS`].
pub struct HeadRow {
    pub id: String,
    pub version: u64,
    /// The body is the head and the rest is in `execution_parts` (else it is the whole).
    pub parts: bool,
    pub body: String,
}

impl HeadRow {
    /// Reads the row of a statement that selected [`HEAD_COLUMNS`] first.
    pub fn from_row(row: &rusqlite::Row) -> rusqlite::Result<HeadRow> {
        Ok(HeadRow { id: row.get(0)?, version: row.get(1)?, parts: row.get(2)?, body: row.get(3)? })
    }
}

/// The execution of a row: from the cache when its head is the one cached, else from its
/// parts (or its whole body, for a row written before parts).
pub fn read(connection: &Connection, row: HeadRow, cache: &Cache, traffic: &Traffic) -> Result<Execution, StoreError> {
    traffic.read(row.body.len());
    if !row.parts {
        return from_json(&row.body, "execution");
    }
    if let Some(execution) = cache.with(&row.id, row.version, &row.body, Execution::clone) {
        return Ok(execution);
    }
    let execution = read_parts(connection, &row.id, &row.body, traffic)?;
    cache.put(execution.clone(), row.version, row.body);
    Ok(execution)
}

/// The execution whose stored head is `head`, joined with its part rows.
fn read_parts(connection: &Connection, id: &str, head: &str, traffic: &Traffic) -> Result<Execution, StoreError> {
    let head: Execution = from_json(head, "execution")?;
    let mut statement =
        connection.prepare_cached("SELECT key, body FROM execution_parts WHERE execution_id = ?").map_err(sqlite)?;
    let rows = statement.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(sqlite)?;
    let mut parts = Vec::new();
    for row in rows {
        let (key, body) = row.map_err(sqlite)?;
        traffic.read(key.len() + body.len());
        let key = PartKey::parse(&key)?;
        let part = StoredPart::decode(&key, &body)?;
        parts.push((key, part));
    }
    join(head, parts)
}

/// What a commit wrote for one execution: what to cache once the transaction commits.
pub struct Written {
    pub version: u64,
    pub head: String,
}

/// Writes `execution` in the transaction of `connection`: new (`expected` is `None`) or over
/// the version `expected`. `None` when that is not what the store holds (a conflict).
pub fn write(
    connection: &Connection,
    pipeline: &str,
    execution: &Execution,
    expected: Option<u64>,
    cache: &Cache,
    traffic: &Traffic,
) -> Result<Option<Written>, StoreError> {
    let head = head_json(execution)?;
    let finished = execution.status.is_finished();
    let id = execution.id.as_str();
    let (parts, deleted, version) = match expected {
        None => {
            let inserted = connection
                .run(
                    "INSERT OR IGNORE INTO executions (id, pipeline, started_at, seq, finished, rev, parts, body)
                     VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM executions), ?, 1, 1, ?)",
                    params![id, pipeline, execution.started_at.millis(), finished, head],
                )
                .map_err(sqlite)?;
            if inserted != 1 {
                return Ok(None);
            }
            (encode_all(execution)?, Deleted::All, 1)
        }
        Some(version) => {
            let stored: Option<(u64, bool, String, bool)> = connection
                .one("SELECT rev, parts, body, finished FROM executions WHERE id = ?", [id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()
                .map_err(sqlite)?;
            let Some((_, was_split, stored_head, was_finished)) = stored.filter(|(rev, ..)| *rev == version) else {
                return Ok(None);
            };
            traffic.read(stored_head.len());
            let changes = if was_split {
                let diff = |old: &Execution| encode_changes(old, execution);
                match cache.with(id, version, &stored_head, diff) {
                    Some(changes) => Some(changes?),
                    None => Some(encode_changes(&read_parts(connection, id, &stored_head, traffic)?, execution)?),
                }
            } else {
                None
            };
            // SQLite rewrites the entry of every index whose column the statement sets, even to
            // the same value: `finished` is set only when it changes, so that a commit in the
            // middle of a run leaves the `active_executions` index's page alone.
            let update = if finished == was_finished {
                "UPDATE executions SET body = ?1, rev = rev + 1, parts = 1 WHERE id = ?3 AND rev = ?4"
            } else {
                "UPDATE executions SET body = ?1, finished = ?2, rev = rev + 1, parts = 1 WHERE id = ?3 AND rev = ?4"
            };
            connection.run(update, params![head, finished, id, version]).map_err(sqlite)?;
            match changes {
                Some((parts, deleted)) => (parts, Deleted::These(deleted), version + 1),
                // A row of the whole body: its first commit writes every part.
                None => (encode_all(execution)?, Deleted::All, version + 1),
            }
        }
    };
    traffic.wrote(head.len());
    match deleted {
        Deleted::All => {
            connection.run("DELETE FROM execution_parts WHERE execution_id = ?", [id]).map_err(sqlite)?;
        }
        Deleted::These(keys) => {
            let mut statement = connection
                .prepare_cached("DELETE FROM execution_parts WHERE execution_id = ? AND key = ?")
                .map_err(sqlite)?;
            for key in keys {
                statement.execute(params![id, key]).map_err(sqlite)?;
            }
        }
    }
    let mut statement = connection
        // An update in place, where REPLACE would delete the row and add it anew at the
        // table's end: two leaf pages instead of one.
        .prepare_cached(
            "INSERT INTO execution_parts (execution_id, key, body) VALUES (?, ?, ?)
             ON CONFLICT (execution_id, key) DO UPDATE SET body = excluded.body",
        )
        .map_err(sqlite)?;
    for (key, body) in parts {
        traffic.wrote(key.len() + body.len());
        statement.execute(params![id, key, body]).map_err(sqlite)?;
    }
    Ok(Some(Written { version, head }))
}

enum Deleted {
    All,
    These(Vec<String>),
}

type Encoded = Vec<(String, String)>;

fn encode_all(execution: &Execution) -> Result<Encoded, StoreError> {
    split(execution).into_iter().map(|(key, part)| Ok((key.encode(), part.to_json()?))).collect()
}

fn encode_changes(old: &Execution, new: &Execution) -> Result<(Encoded, Vec<String>), StoreError> {
    let changes = changed_parts(old, new);
    let written =
        changes.write.iter().map(|(key, part)| Ok((key.encode(), part.to_json()?))).collect::<Result<_, _>>()?;
    Ok((written, changes.delete.iter().map(PartKey::encode).collect()))
}

/// Caches what a committed transaction wrote.
pub fn remember(cache: &Cache, execution: Execution, written: Written) {
    cache.put(execution, written.version, written.head);
}

/// The stored body of a value the store writes beside executions (the pipeline state, an
/// effect), counted as written.
pub fn counted_json<T: serde::Serialize>(value: &T, traffic: &Traffic) -> Result<String, StoreError> {
    let text = to_json(value)?;
    traffic.wrote(text.len());
    Ok(text)
}
