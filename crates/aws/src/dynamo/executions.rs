//! Executions: a head item and part items each (`parts`). A handler's load (the pipeline
//! state and the executions the event needs), reads by id, and a pipeline's
//! executions newest first.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use pipewright_core::engine::{Execution, Needs, PipelineState};
use pipewright_core::head_fate::Stored;
use pipewright_core::ports::{Page, Snapshot, StoreError, Versioned};
use pipewright_core::storage::{Cursor, page, page_size};
use pipewright_core::time::Timestamp;

use super::DynamoStore;
use super::codec::{Item, get_n, get_s, read_json, recent_batches, unpack};
use super::errors::sdk_error;
use super::head_changes::{self, Purpose, Settled};
use super::keys::{EXECUTION, deadline_entry_of, execution_of, execution_pk, key, listing_start, pipeline_pk};
use super::parts::Cached;

impl DynamoStore {
    /// The execution items in batches; an execution whose version is the one cached is
    /// taken from the cache, any other is read with its parts (one query each).
    /// With each item's `rev` and the head `rev` it records (`head_changes::HEADED`), an
    /// item put in place of a start fenced off included.
    async fn versioned_executions(&self, ids: &[String]) -> Result<Loaded, StoreError> {
        let keys = ids.iter().map(|id| key(&execution_pk(id), EXECUTION)).collect();
        let mut found = BTreeMap::new();
        let mut seen = HashMap::new();
        for item in self.batch_get(keys).await? {
            let version = get_n(&item, "rev")?;
            seen.insert(execution_of(get_s(&item, "pk")?).to_string(), head_changes::stored(&item, version));
            if head_changes::is_fence(&item) {
                continue;
            }
            let execution = if item.contains_key("parts") {
                let id = execution_of(get_s(&item, "pk")?);
                match self.cache.get(id, version) {
                    // The head item, read anyway, is still decoded: a damaged item is found
                    // when it is read, on a warm instance as on a cold one.
                    Some(cached) => {
                        let _: Execution = unpack(&item)?;
                        cached.execution
                    }
                    None => match self.read_execution(id).await? {
                        Some(read) => {
                            found.insert(
                                read.execution.id.clone(),
                                Versioned { value: read.execution, version: read.version },
                            );
                            continue;
                        }
                        None => continue,
                    },
                }
            } else {
                // Stored whole: what a commit of it needs to know, without reading it again.
                let execution: Execution = unpack(&item)?;
                self.cache.put(Cached {
                    version,
                    execution: execution.clone(),
                    split: false,
                    deadline_entry: deadline_entry_of(&item),
                    recent_batches: recent_batches(&item, version)?,
                });
                execution
            };
            found.insert(execution.id.clone(), Versioned { value: execution, version });
        }
        Ok(Loaded { executions: found, seen })
    }

    /// Ids of a pipeline's executions, newest first, optionally only the unfinished ones.
    pub(super) async fn execution_ids(&self, pipeline: &str, only_active: bool) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self.listing(pipeline_pk(pipeline), start.take()).scan_index_forward(false);
            if only_active {
                query = query
                    .filter_expression("finished = :no")
                    .expression_attribute_values(":no", AttributeValue::Bool(false));
            }
            let output = query.send().await.map_err(|e| sdk_error(&e))?;
            for item in output.items.unwrap_or_default() {
                ids.push(execution_of(get_s(&item, "pk")?).to_string());
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(ids),
            }
        }
    }
}

/// What [`DynamoStore::versioned_executions`] read.
struct Loaded {
    executions: BTreeMap<String, Versioned<Execution>>,
    /// Each item read, as a head change's fate asks it.
    seen: HashMap<String, Stored>,
}

/// The pipeline state and the executions `needs` names for it: the head's item, then those
/// executions in one batch. A head change the head's marker says is under way or orphaned
/// (`head_changes`) is settled first; its execution is read in the same batch.
pub(super) async fn load(
    store: &DynamoStore,
    pipeline: &str,
    needs: impl Fn(&PipelineState) -> Needs,
    purpose: Purpose,
) -> Result<Snapshot, StoreError> {
    // The waits for one change under way count from its first read: a new writer's change
    // found after a fence is waited for in its turn. Each change is settled within its waits,
    // a fence and a read after it, and a few changes in a row still let the load end.
    let mut waited: Option<(String, u64, u32)> = None;
    for _ in 0..4 * (head_changes::UNDER_WAY.retries + 2) {
        let head = store.head(pipeline).await?.ok_or_else(|| StoreError::NotFound(format!("pipeline {pipeline}")))?;
        let rev: u64 = get_n(&head, "rev")?;
        let stored: PipelineState = read_json(&head, "state", "pipeline state")?;
        let marker = head_changes::marker(&head, rev)?;
        let attempt = match (&marker, &mut waited) {
            (Some(marker), Some((execution, at, reads))) if *execution == marker.execution_id && *at == rev => {
                *reads += 1;
                *reads
            }
            (Some(marker), _) => {
                waited = Some((marker.execution_id.clone(), rev, 0));
                0
            }
            (None, _) => 0,
        };
        let Needs { executions: mut ids, all_active } = needs(&stored);
        if let Some(marker) = &marker {
            ids.extend(needs(&marker.before).executions);
            ids.insert(marker.execution_id.clone());
        }
        // Whether every active execution is needed depends on the event alone.
        let active: BTreeSet<String> =
            if all_active { store.execution_ids(pipeline, true).await?.into_iter().collect() } else { BTreeSet::new() };
        let ids: Vec<String> = ids.union(&active).cloned().collect();
        let Loaded { mut executions, seen } = store.versioned_executions(&ids).await?;
        let Settled::Holds(state) = head_changes::settle(store, stored, marker, &seen, purpose, attempt).await? else {
            continue;
        };
        let created: i64 = get_n(&head, "created")?;
        if purpose == Purpose::Decide {
            store.heads.insert(pipeline, rev, head_changes::Resolved { state: state.clone(), created });
        }
        // Only what the state that holds needs: an execution read for the marker alone is not
        // the event's to change.
        let wanted = needs(&state).executions;
        // An execution named by an event of another pipeline is not this pipeline's to change.
        executions
            .retain(|id, read| (wanted.contains(id) || active.contains(id)) && read.value.pipeline_name == pipeline);
        return Ok(Snapshot {
            declaration_version: get_n(&head, "version")?,
            created: Timestamp::from_millis(created),
            state: Versioned { value: state, version: rev },
            executions,
        });
    }
    Err(StoreError::Unavailable(format!("pipeline {pipeline}: a change of its head stayed under way")))
}

pub(super) async fn get(store: &DynamoStore, id: &str) -> Result<Option<Versioned<Execution>>, StoreError> {
    Ok(store.read_execution(id).await?.map(|read| Versioned { value: read.execution, version: read.version }))
}

/// A pipeline's executions newest first (`listing`; equal start times by id), one row more
/// than the page, to know whether another follows. The index holds keys and the start time:
/// each execution is read from its own items.
pub(super) async fn list(
    store: &DynamoStore,
    pipeline: &str,
    limit: usize,
    next_token: Option<&str>,
) -> Result<Page<Execution>, StoreError> {
    let size = page_size(limit);
    let mut start = next_token.map(Cursor::from_token).transpose()?.map(|cursor| listing_start(pipeline, &cursor));
    let mut rows = Vec::new();
    loop {
        let output = store
            .listing(pipeline_pk(pipeline), start.take())
            .scan_index_forward(false)
            .limit(i32::try_from(size + 1 - rows.len()).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        for item in output.items.unwrap_or_default() {
            let id = execution_of(get_s(&item, "pk")?);
            // Removed since the index was read: not listed.
            let Some(Cached { execution, .. }) = store.read_execution(id).await? else { continue };
            let cursor = Cursor { started_at: get_n(&item, "started_at")?, key: execution.id.clone() };
            rows.push((execution, cursor));
        }
        // A query stops at 1 MB too: go on until the page and one more row are read.
        match output.last_evaluated_key {
            Some(last) if !last.is_empty() && rows.len() <= size => start = Some(last),
            _ => return Ok(page(rows, size)),
        }
    }
}
