//! Executions as a head item and part items (docs/ARCHITECTURE.md, "How an execution is
//! stored"): the execution item (`EXECUTION#<id>` / `EXECUTION`) keeps the version, the index
//! attributes, the outbox and the head, and the parts of `execution_parts` live beside it in
//! the same partition under `PART#<item key>`. A commit writes the head and the part items
//! that changed, in the same transaction.
//!
//! Items group parts so that a stage start fits one transaction (100 items): the actions of a
//! stage go ten to an item, every other part is an item of its own. A stage of 50 actions
//! starting writes 5 action items, beside its 50 job locations.
//!
//! A query is not isolated from a transaction that commits meanwhile, so the execution item
//! carries a manifest (`parts`: item key → the version that wrote it) and every part item its
//! `rev`: a read that finds another version of an item than the manifest names reads again.
//! An execution item without a manifest holds the whole execution in `body`: a small one
//! (`WHOLE_BYTES`), which costs fewer write units in one item than as a head and parts, or one
//! written before parts. It is read as it is; the commit that makes it too large writes every
//! part, and from then on it stays in parts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use pipewright_core::engine::Execution;
use pipewright_core::execution_parts::{Part, PartKey, StoredPart, changed_parts, join, split};
use pipewright_core::outbox_fate::BatchCommit;
use pipewright_core::ports::StoreError;
use pipewright_core::time::Timestamp;

use super::DynamoStore;
use super::codec::{Item, compressed_json, get_n, get_s, n, pack, read_json, recent_batches, unpack};
use super::errors::refused;
use super::keys::{EXECUTION, HISTORY_SECONDS, deadline_entry_of, execution_pk, key};

/// Actions of one stage stored in one item.
pub const ACTIONS_PER_ITEM: usize = 10;
/// The sort key prefix of part items.
pub(super) const PART: &str = "PART#";
/// How long a part item outlives its write: the execution's history, and a margin for an
/// execution that runs on after the part is written (its item expires a year after it ends).
const PART_SECONDS: i64 = HISTORY_SECONDS + 90 * 24 * 3600;

/// The item a part is stored in.
pub fn item_key(part: &PartKey) -> String {
    match part {
        PartKey::Action(stage, action) => {
            format!("a/{stage:04}/{:04}+", action / ACTIONS_PER_ITEM * ACTIONS_PER_ITEM)
        }
        other => other.encode(),
    }
}

/// The largest execution (its compressed JSON) kept whole in its item: with the index attributes
/// the item stays within about 3 KB (its outbox aside), which costs no more write units than
/// its head and the part items an event changes.
pub const WHOLE_BYTES: usize = 2048;

/// How a commit stores one execution.
pub enum Layout {
    /// Whole in the execution item's `body`, without part items.
    Whole(AttributeValue),
    /// The head in `body`, and the part items to write.
    Split(PartWrites),
}

/// How `new` is stored: whole while it is small and not already in parts (`base` is the
/// stored execution a split one is diffed against; `None` when it is new or stored whole),
/// else in parts.
pub fn layout(base: Option<&Execution>, new: &Execution) -> Result<Layout, StoreError> {
    if base.is_none() {
        let body = pack(new)?;
        if body.as_b().is_ok_and(|bytes| bytes.as_ref().len() <= WHOLE_BYTES) {
            return Ok(Layout::Whole(body));
        }
    }
    writes(base, new).map(Layout::Split)
}

/// What a commit writes for one execution besides its own item.
pub struct PartWrites {
    /// Part items to put, by item key, with their body.
    pub put: Vec<(String, AttributeValue)>,
    /// Part items to delete.
    pub delete: Vec<String>,
}

/// The part items of `new`: every item when there is no stored base (a new execution, or one
/// stored whole), else the items holding a part that differs from `old`, written whole.
pub fn writes(old: Option<&Execution>, new: &Execution) -> Result<PartWrites, StoreError> {
    let mut items: BTreeMap<String, Vec<(PartKey, Part<'_>)>> = BTreeMap::new();
    for (key, part) in split(new) {
        items.entry(item_key(&key)).or_default().push((key, part));
    }
    let touched: Option<BTreeSet<String>> = old.map(|old| {
        let changes = changed_parts(old, new);
        changes.write.iter().map(|(key, _)| item_key(key)).chain(changes.delete.iter().map(item_key)).collect()
    });
    let mut writes = PartWrites { put: Vec::new(), delete: Vec::new() };
    match touched {
        None => {
            for (item, parts) in &items {
                writes.put.push((item.clone(), body(parts)?));
            }
        }
        Some(touched) => {
            for item in touched {
                match items.get(&item) {
                    Some(parts) => writes.put.push((item, body(parts)?)),
                    None => writes.delete.push(item),
                }
            }
        }
    }
    Ok(writes)
}

/// A part item's body: its parts by key, compressed JSON.
fn body(parts: &[(PartKey, Part<'_>)]) -> Result<AttributeValue, StoreError> {
    let mut object = serde_json::Map::new();
    for (key, part) in parts {
        object.insert(key.encode(), part.to_value()?);
    }
    compressed_json(&serde_json::Value::Object(object))
}

/// The transaction's actions for the part items of `execution` at version `version`.
pub fn actions(
    table: &str,
    execution: &Execution,
    version: u64,
    writes: &PartWrites,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let pk = execution_pk(&execution.id);
    let mut actions = Vec::new();
    for (item_key, body) in &writes.put {
        let mut item = key(&pk, &format!("{PART}{item_key}"));
        item.insert("rev".into(), n(version));
        item.insert("body".into(), body.clone());
        item.insert("expires_at".into(), n(execution.updated_at.millis() / 1000 + PART_SECONDS));
        let put = Put::builder().table_name(table).set_item(Some(item)).build().map_err(refused)?;
        actions.push(TransactWriteItem::builder().put(put).build());
    }
    for item_key in &writes.delete {
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(key(&pk, &format!("{PART}{item_key}"))))
            .build()
            .map_err(refused)?;
        actions.push(TransactWriteItem::builder().delete(delete).build());
    }
    Ok(actions)
}

/// The manifest of a new or converted execution: every item written at `version`.
pub fn manifest(writes: &PartWrites, version: u64) -> AttributeValue {
    AttributeValue::M(writes.put.iter().map(|(item, _)| (item.clone(), n(version))).collect())
}

/// The execution of a head item and the part items read with it, or `None` when a part item
/// is not at the version the manifest names (a transaction committed during the read).
pub fn assemble(head_item: &Item, part_items: &[Item]) -> Result<Option<Execution>, StoreError> {
    let Some(manifest) = head_item.get("parts") else { return unpack(head_item).map(Some) };
    let manifest = manifest.as_m().map_err(|_| StoreError::Corrupt("stored part manifest is malformed".into()))?;
    let mut found: HashMap<&str, &Item> = HashMap::new();
    for item in part_items {
        found.insert(get_s(item, "sk")?.trim_start_matches(PART), item);
    }
    let mut parts = Vec::new();
    for (item_key, version) in manifest {
        let version: u64 = version.as_n().ok().and_then(|v| v.parse().ok()).ok_or_else(|| {
            StoreError::Corrupt(format!("stored part manifest names item {item_key} without a version"))
        })?;
        let Some(item) = found.get(item_key.as_str()) else { return Ok(None) };
        if get_n::<u64>(item, "rev")? != version {
            return Ok(None);
        }
        let object: BTreeMap<String, serde_json::Value> = read_json(item, "body", "execution part")?;
        for (key, value) in object {
            let key = PartKey::parse(&key)?;
            let part = StoredPart::from_value(&key, value)?;
            parts.push((key, part));
        }
    }
    join(unpack(head_item)?, parts).map(Some)
}

/// What the store last read or wrote of each execution, at which version, whether it is
/// stored in parts, and where its `deadlines` entry is: what a commit diffs against (an
/// execution stored whole is rewritten whole, without a diff) and moves the entry from.
/// Bounded; a miss reads the execution again.
#[derive(Clone, Default)]
pub struct Cache {
    entries: Arc<Mutex<HashMap<String, Cached>>>,
}

/// One execution as the store last read or wrote it.
#[derive(Clone)]
pub struct Cached {
    pub version: u64,
    pub execution: Execution,
    pub split: bool,
    pub deadline_entry: Option<Timestamp>,
    /// The batch commits its item remembers (`core::outbox_fate`).
    pub recent_batches: Vec<BatchCommit>,
}

const CACHED_EXECUTIONS: usize = 32;

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The execution `id` at `version`.
    pub fn get(&self, id: &str, version: u64) -> Option<Cached> {
        self.lock().get(id).filter(|cached| cached.version == version).cloned()
    }

    pub fn put(&self, cached: Cached) {
        let mut entries = self.lock();
        if !entries.contains_key(&cached.execution.id) && entries.len() >= CACHED_EXECUTIONS {
            // No order is kept: any entry goes, and is read again when next needed.
            if let Some(any) = entries.keys().next().cloned() {
                entries.remove(&any);
            }
        }
        entries.insert(cached.execution.id.clone(), cached);
    }

    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// What a commit of an execution it read builds on: the execution as read when it is stored
/// in parts (`None`: stored whole, every part is written), where its `deadlines` entry is,
/// and the batch commits its item remembers.
#[derive(Debug, Clone)]
pub struct Base {
    pub parts: Option<Execution>,
    pub deadline_entry: Option<Timestamp>,
    pub recent_batches: Vec<BatchCommit>,
}

impl DynamoStore {
    /// Every item of an execution's partition: its own item and its part items (one query,
    /// paged past 1 MB), consistently.
    pub(super) async fn execution_partition(&self, id: &str) -> Result<Vec<Item>, StoreError> {
        self.partition_items(&execution_pk(id), None).await
    }

    /// An execution as stored, with its version, whether it is stored in parts and where its
    /// `deadlines` entry is; read again while a commit tears the read.
    pub(super) async fn read_execution(&self, id: &str) -> Result<Option<Cached>, StoreError> {
        for attempt in 0..8 {
            if attempt > 0 {
                use pipewright_core::ports::StateStore;
                self.pause(pipewright_core::backoff::CONFLICT.ceiling(attempt - 1)).await;
            }
            let items = self.execution_partition(id).await?;
            let (heads, parts): (Vec<Item>, Vec<Item>) = items
                .into_iter()
                .partition(|item| item.get("sk").and_then(|v| v.as_s().ok()).is_some_and(|sk| sk == EXECUTION));
            let Some(head_item) = heads.into_iter().next() else { return Ok(None) };
            if super::head_changes::is_fence(&head_item) {
                return Ok(None);
            }
            let version = get_n(&head_item, "rev")?;
            let split = head_item.contains_key("parts");
            if let Some(execution) = assemble(&head_item, &parts)? {
                let read = Cached {
                    version,
                    execution,
                    split,
                    deadline_entry: deadline_entry_of(&head_item),
                    recent_batches: recent_batches(&head_item, version)?,
                };
                self.cache.put(read.clone());
                return Ok(Some(read));
            }
        }
        Err(StoreError::Unavailable(format!("execution {id} kept changing while it was read")))
    }

    /// What a commit of `id` read at `version` builds on; a conflict when it is no longer at
    /// `version`.
    pub(super) async fn base(&self, id: &str, version: u64) -> Result<Base, StoreError> {
        let read = match self.cache.get(id, version) {
            Some(cached) => cached,
            None => self
                .read_execution(id)
                .await?
                .filter(|read| read.version == version)
                .ok_or_else(|| StoreError::Conflict(format!("execution {id} changed since it was read")))?,
        };
        Ok(Base {
            parts: read.split.then_some(read.execution),
            deadline_entry: read.deadline_entry,
            recent_batches: read.recent_batches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_of_fifty_actions_is_five_items_and_other_parts_are_their_own() {
        let keys: BTreeSet<String> = (0..50).map(|a| item_key(&PartKey::Action(1, a))).collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
        assert_eq!(item_key(&PartKey::Action(1, 19)), "a/0001/0010+");
        assert_eq!(item_key(&PartKey::Stage(1)), "s/0001");
        assert_eq!(item_key(&PartKey::Artifact("Out".into())), "art/Out");
    }
}
