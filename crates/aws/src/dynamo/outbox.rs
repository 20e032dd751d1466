//! The outbox: the effects of each commit, one batch item per execution under `OUTBOX`
//! (keys.rs), put just before the commit's own write. A batch counts once its commit has
//! happened (`batch_fate`): until then it is left alone, and a batch whose commit did not
//! happen is removed, never carried out. Effects are claimed by one owner at a time
//! (a batch at a time), completed (a batch deleted, or rewritten without the entries completed)
//! once carried out, released when their owner is gone, and read again by the relay of a
//! crashed handler. Executions written before batches hold their effects in their own item's
//! `outbox` map: those are read, claimed, completed and released as they were (`inline`).

use std::collections::{BTreeSet, HashMap};

use pipewright_core::backoff;
use pipewright_core::engine::Effect;
use pipewright_core::outbox_fate::{self, BatchCommit, BatchFate};
use pipewright_core::ports::{Changes, OutboxEntry, StateStore, StoreError};

use super::DynamoStore;
use super::codec::{Item, StoredEntry, batch_entries, batch_value, get_n, get_s, outbox_entries, recent_batches, s};
use super::errors::{conditional, is_conditional_failure, sdk_error};
use super::keys::{EXECUTION, OUTBOX_BATCHES, batch_digest, batch_prefix, batch_sk, execution_pk, key};
use super::transaction::BatchPut;

impl DynamoStore {
    /// The effects an execution's outbox still holds, claimed or not, in commit order: what a
    /// relay publishes again after a crash between commit and publish.
    pub async fn pending_effects(&self, execution_id: &str) -> Result<Vec<Effect>, StoreError> {
        let mut entries = inline::entries(self, execution_id).await?;
        for batch in self.batches(execution_id).await? {
            entries.extend(batch_entries(&batch)?);
        }
        entries.sort_by_key(|entry| entry.seq);
        Ok(entries.into_iter().map(|entry| entry.effect).collect())
    }

    /// The outbox batches of an execution whose commit happened, read consistently. A batch
    /// put before its commit (it has a `rev`) is asked its fate against the execution item
    /// (`core::outbox_fate`): one whose commit may still happen is left out, one whose commit
    /// did not happen is removed. Batches written in their commit's transaction were committed.
    async fn batches(&self, execution_id: &str) -> Result<Vec<Item>, StoreError> {
        let found = self.partition_items(OUTBOX_BATCHES, Some(&batch_prefix(execution_id))).await?;
        if found.iter().all(|batch| !batch.contains_key("rev")) {
            return Ok(found);
        }
        let stored = self.stored_batch_commits(execution_id).await?;
        let now = crate::handlers::now().millis();
        let mut committed = Vec::new();
        for batch in found {
            match batch_fate(&batch, stored.as_ref(), now)? {
                BatchFate::Committed => committed.push(batch),
                BatchFate::Pending => {}
                BatchFate::Orphaned => {
                    // Left for the next reader when it cannot be removed now: what is
                    // committed is still carried out.
                    let sk = get_s(&batch, "sk")?;
                    if let Err(error) = self.remove_orphan(sk).await {
                        tracing::warn!(%error, batch = sk, "an outbox batch whose commit did not happen stays");
                    }
                }
            }
        }
        Ok(committed)
    }

    /// Removes the execution's batches whose commit did not happen (as any read of its
    /// batches does): after a fence, the batch of the commit fenced off.
    pub(super) async fn remove_orphans(&self, execution_id: &str) -> Result<(), StoreError> {
        self.batches(execution_id).await.map(drop)
    }

    /// The execution item's `rev` and the batch commits it remembers; `None` without an item,
    /// or with the item that fences off a start in its place (the start may still replace it:
    /// `head_changes::FENCED`).
    pub(super) async fn stored_batch_commits(
        &self,
        execution_id: &str,
    ) -> Result<Option<(u64, Vec<BatchCommit>)>, StoreError> {
        let Some(item) = self.get(&execution_pk(execution_id), EXECUTION).await? else { return Ok(None) };
        if super::head_changes::is_fence(&item) {
            return Ok(None);
        }
        let rev = get_n(&item, "rev")?;
        Ok(Some((rev, recent_batches(&item, rev)?)))
    }

    /// Removes a batch whose commit did not happen, unless it is gone already.
    async fn remove_orphan(&self, sk: &str) -> Result<(), StoreError> {
        tracing::info!(batch = sk, "an outbox batch whose commit did not happen is removed");
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(OUTBOX_BATCHES, sk)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        conditional(result).map(drop)
    }

    /// Deletes every outbox batch of an execution (its pipeline is deleted).
    pub(super) async fn delete_batches(&self, execution_id: &str) -> Result<(), StoreError> {
        for batch in self.batches(execution_id).await? {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(OUTBOX_BATCHES, get_s(&batch, "sk")?)))
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
        }
        Ok(())
    }
}

/// The fate of a batch item put before its commit (`rev`), given its execution as stored
/// ([`DynamoStore::stored_batch_commits`]) at `now` (milliseconds); a batch written in its
/// commit's transaction (no `rev`) was committed.
pub(super) fn batch_fate(
    batch: &Item,
    stored: Option<&(u64, Vec<BatchCommit>)>,
    now: i64,
) -> Result<BatchFate, StoreError> {
    if !batch.contains_key("rev") {
        return Ok(BatchFate::Committed);
    }
    let sk = get_s(batch, "sk")?;
    let digest = batch_digest(sk).ok_or_else(|| StoreError::Corrupt(format!("outbox batch {sk} names no digest")))?;
    let commit = BatchCommit { rev: get_n(batch, "rev")?, digest };
    let age = now - get_n::<i64>(batch, "committed_at")?;
    Ok(fate_against(commit, stored, age))
}

/// `commit`'s fate against its execution as stored, `age_millis` after it was put.
fn fate_against(commit: BatchCommit, stored: Option<&(u64, Vec<BatchCommit>)>, age_millis: i64) -> BatchFate {
    outbox_fate::fate(commit, stored.map(|(rev, recent)| (*rev, recent.as_slice())), age_millis)
}

/// Removes what `batches` put for a commit that did not happen, or may not have: each batch
/// whose fate, against its execution as now stored, is an orphan. A batch whose execution has
/// not reached its `rev` stays, even after this writer's definite failure: the same commit's
/// twin (an event delivered twice at once), which puts the same batch, may be between its
/// writes (`head_changes`), and its commit would land without its effects. Such a batch is
/// carried out only once a commit makes it committed, and removed once it is an orphan (the
/// execution moved past it, or [`outbox_fate::ORPHANED_AFTER_MILLIS`] passed, by the tick).
/// Failures are logged: what stays is the tick's to remove.
pub(super) async fn discard_uncommitted(store: &DynamoStore, batches: &[BatchPut]) {
    for batch in batches {
        let outcome = async {
            let stored = store.stored_batch_commits(&batch.execution_id).await?;
            if fate_against(batch.commit, stored.as_ref(), 0) == BatchFate::Orphaned {
                store.remove_orphan(&batch.sk).await?;
            }
            Ok::<(), StoreError>(())
        };
        if let Err(error) = outcome.await {
            tracing::warn!(%error, batch = batch.sk, "an outbox batch of a commit that did not happen stays");
        }
    }
}

/// Where the batches a store committed are, by the key a relay names them by (their ids'
/// digest, `keys::batch_sk`): their own key also holds the `rev` they committed with, which
/// the relay does not know. The relay completes a commit's batch right after it; any other
/// completion, or one whose key is no longer kept, reads the outbox.
pub(super) type BatchKeys = super::kept::Kept<String>;

/// Whether the outbox keeps `effect` until the relay carries it out. A deadline (`WakeAt`)
/// has nothing to carry out on AWS: the tick fires deadlines from the executions it finds
/// through their `deadlines` entries, which every commit sets from the execution itself. Kept,
/// a deadline cost its commit an outbox batch (2 write units in the transaction, and the
/// transaction doubled the execution item's) and the relay a delete, for nothing.
pub(super) fn keeps(effect: &Effect) -> bool {
    !matches!(effect, Effect::WakeAt(_))
}

/// The ids of the entries a committed change completes, by execution written (an effect the
/// change gives that execution itself is not among them).
pub(super) fn completed_by(changes: &Changes) -> Vec<(String, Vec<String>)> {
    if changes.completed_effects.is_empty() {
        return Vec::new();
    }
    changes
        .executions
        .iter()
        .filter(|(_, expected)| expected.is_some())
        .map(|(execution, _)| {
            let own: Vec<&str> =
                changes.effects.iter().filter(|e| e.execution_id() == execution.id).map(Effect::id).collect();
            let ids = changes.completed_effects.iter().filter(|id| !own.contains(&id.as_str())).cloned().collect();
            (execution.id.clone(), ids)
        })
        .collect()
}

fn entry(pipeline: &str, execution_id: &str, stored: StoredEntry) -> OutboxEntry {
    OutboxEntry {
        id: stored.id,
        pipeline: pipeline.to_string(),
        execution_id: execution_id.to_string(),
        effect: stored.effect,
    }
}

pub(super) async fn claim(
    store: &DynamoStore,
    execution_id: &str,
    owner: &str,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut claimed: Vec<(u64, OutboxEntry)> = inline::claim(store, execution_id, owner).await?;
    for batch in store.batches(execution_id).await? {
        if batch.contains_key("claimed_by") {
            continue;
        }
        let pipeline = get_s(&batch, "pipeline")?.to_string();
        let result = store
            .client
            .update_item()
            .table_name(&store.table)
            .set_key(Some(key(OUTBOX_BATCHES, get_s(&batch, "sk")?)))
            .update_expression("SET claimed_by = :owner")
            // Completed (deleted) or claimed by another since it was read: not this owner's.
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(claimed_by)")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => {
                for stored in batch_entries(&batch)? {
                    claimed.push((stored.seq, entry(&pipeline, execution_id, stored)));
                }
            }
            Err(error) if is_conditional_failure(&error) => continue,
            Err(error) => return Err(sdk_error(&error)),
        }
    }
    claimed.sort_by_key(|(seq, _)| *seq);
    Ok(claimed.into_iter().map(|(_, entry)| entry).collect())
}

/// Removes the entries `ids` from an execution's outbox. The relay completes the effects of
/// one commit, which are one batch: one delete of the batch their ids key (conditioned on its
/// being there; a batch only ever loses entries, so all it holds are among them). Anything
/// else (entries of several batches,
/// some of a batch, entries already removed, an execution written before batches) reads the
/// outbox and removes what it holds of `ids`.
pub(super) async fn complete(store: &DynamoStore, execution_id: &str, ids: &[String]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let named = batch_sk(execution_id, ids.iter().map(String::as_str));
    let sk = store.batch_keys.take(&named).unwrap_or(named);
    let whole_batch = store
        .client
        .delete_item()
        .table_name(&store.table)
        .set_key(Some(key(OUTBOX_BATCHES, &sk)))
        .condition_expression("attribute_exists(pk)")
        .send()
        .await;
    match whole_batch {
        Ok(_) => return Ok(()),
        Err(error) if is_conditional_failure(&error) => {}
        Err(error) => return Err(sdk_error(&error)),
    }
    for retry in 0..8 {
        if retry > 0 {
            store.pause(backoff::CONFLICT.ceiling(retry - 1)).await;
        }
        if remove_from_batches(store, execution_id, ids).await? {
            return inline::complete(store, execution_id, ids).await;
        }
    }
    Err(StoreError::Conflict(format!("the outbox of execution {execution_id} kept changing")))
}

/// Removes `ids` from the batches that hold them: false when a batch changed meanwhile (the
/// caller reads again).
async fn remove_from_batches(store: &DynamoStore, execution_id: &str, ids: &[String]) -> Result<bool, StoreError> {
    for batch in store.batches(execution_id).await? {
        let entries = batch_entries(&batch)?;
        let kept: Vec<&StoredEntry> = entries.iter().filter(|entry| !ids.contains(&entry.id)).collect();
        if kept.len() == entries.len() {
            continue;
        }
        let key = key(OUTBOX_BATCHES, get_s(&batch, "sk")?);
        // What was read: a batch rewritten or removed meanwhile is read again.
        let read = batch.get("effects").cloned().unwrap_or_else(|| s(""));
        let result = if kept.is_empty() {
            store
                .client
                .delete_item()
                .table_name(&store.table)
                .set_key(Some(key))
                .condition_expression("effects = :read")
                .expression_attribute_values(":read", read)
                .send()
                .await
                .map(drop)
                .map_err(|error| (is_conditional_failure(&error), sdk_error(&error)))
        } else {
            let effects: Vec<(&Effect, u64)> = kept.iter().map(|entry| (&entry.effect, entry.seq)).collect();
            store
                .client
                .update_item()
                .table_name(&store.table)
                .set_key(Some(key))
                .update_expression("SET effects = :effects")
                .condition_expression("effects = :read")
                .expression_attribute_values(":effects", batch_value(&effects)?)
                .expression_attribute_values(":read", read)
                .send()
                .await
                .map(drop)
                .map_err(|error| (is_conditional_failure(&error), sdk_error(&error)))
        };
        match result {
            Ok(()) => {}
            // Changed since it was read: read again.
            Err((true, _)) => return Ok(false),
            Err((false, error)) => return Err(error),
        }
    }
    Ok(true)
}

pub(super) async fn release(store: &DynamoStore, execution_id: &str, owner: &str) -> Result<(), StoreError> {
    inline::release(store, execution_id, owner).await?;
    for batch in store.batches(execution_id).await? {
        if batch.get("claimed_by").and_then(|v| v.as_s().ok()).is_none_or(|held| held != owner) {
            continue;
        }
        let result = store
            .client
            .update_item()
            .table_name(&store.table)
            .set_key(Some(key(OUTBOX_BATCHES, get_s(&batch, "sk")?)))
            .update_expression("REMOVE claimed_by")
            .condition_expression("claimed_by = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        // Completed meanwhile: nothing left to release.
        conditional(result)?;
    }
    Ok(())
}

/// The outbox map in the execution item, as executions written before outbox batches hold
/// it: read and drained, never written to any more.
mod inline {
    use super::*;

    use aws_sdk_dynamodb::types::ReturnValue;

    use super::super::codec::n;

    /// The execution item, when its outbox map holds entries.
    async fn with_entries(store: &DynamoStore, execution_id: &str) -> Result<Option<Item>, StoreError> {
        let item = store.get(&execution_pk(execution_id), EXECUTION).await?;
        Ok(item.filter(|item| item.get("outbox").and_then(|v| v.as_m().ok()).is_some_and(|map| !map.is_empty())))
    }

    pub(super) async fn entries(store: &DynamoStore, execution_id: &str) -> Result<Vec<StoredEntry>, StoreError> {
        match with_entries(store, execution_id).await? {
            Some(item) => outbox_entries(&item),
            None => Ok(Vec::new()),
        }
    }

    /// `#e0`, `#e1`, …: a placeholder for each outbox entry id (ids hold `/`).
    fn placeholders(ids: &[String]) -> (HashMap<String, String>, Vec<String>) {
        let names = ids.iter().enumerate().map(|(i, id)| (format!("#e{i}"), id.clone())).collect();
        (names, (0..ids.len()).map(|i| format!("#e{i}")).collect())
    }

    pub(super) async fn claim(
        store: &DynamoStore,
        execution_id: &str,
        owner: &str,
    ) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        for retry in 0..8 {
            if retry > 0 {
                store.pause(backoff::CONFLICT.ceiling(retry - 1)).await;
            }
            let Some(item) = with_entries(store, execution_id).await? else { return Ok(Vec::new()) };
            let pipeline = get_s(&item, "pipeline")?.to_string();
            let free: Vec<StoredEntry> =
                outbox_entries(&item)?.into_iter().filter(|entry| entry.claimed_by.is_none()).collect();
            if free.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<String> = free.iter().map(|entry| entry.id.clone()).collect();
            let (names, entries) = placeholders(&ids);
            let sets: Vec<String> = entries.iter().map(|e| format!("outbox.{e}.claimed_by = :owner")).collect();
            let conditions: Vec<String> = entries
                .iter()
                .map(|e| format!("attribute_exists(outbox.{e}) AND attribute_not_exists(outbox.{e}.claimed_by)"))
                .collect();
            let result = store
                .client
                .update_item()
                .table_name(&store.table)
                .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
                .update_expression(format!("SET {}", sets.join(", ")))
                .condition_expression(conditions.join(" AND "))
                .set_expression_attribute_names(Some(names))
                .expression_attribute_values(":owner", s(owner))
                .return_values(ReturnValue::None)
                .send()
                .await;
            match result {
                Ok(_) => {
                    return Ok(free
                        .into_iter()
                        .map(|stored| (stored.seq, entry(&pipeline, execution_id, stored)))
                        .collect());
                }
                // Another claimer or a relay moved the outbox: look again.
                Err(error) if is_conditional_failure(&error) => continue,
                Err(error) => return Err(sdk_error(&error)),
            }
        }
        Err(StoreError::Conflict(format!("the outbox of execution {execution_id} kept changing")))
    }

    pub(super) async fn complete(store: &DynamoStore, execution_id: &str, ids: &[String]) -> Result<(), StoreError> {
        let Some(item) = with_entries(store, execution_id).await? else { return Ok(()) };
        let held: BTreeSet<String> = outbox_entries(&item)?.into_iter().map(|entry| entry.id).collect();
        let ids: Vec<String> = ids.iter().filter(|id| held.contains(*id)).cloned().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let (names, entries) = placeholders(&ids);
        let removes: Vec<String> = entries.iter().map(|e| format!("outbox.{e}")).collect();
        // When these are the last entries, the execution leaves the outbox index too.
        let last = store
            .client
            .update_item()
            .table_name(&store.table)
            .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
            .update_expression(format!("REMOVE {}, outbox_pk, outbox_sk", removes.join(", ")))
            .condition_expression("size(outbox) = :count")
            .set_expression_attribute_names(Some(names.clone()))
            .expression_attribute_values(":count", n(ids.len()))
            .send()
            .await;
        match last {
            Ok(_) => Ok(()),
            Err(error) if is_conditional_failure(&error) => {
                let result = store
                    .client
                    .update_item()
                    .table_name(&store.table)
                    .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
                    .update_expression(format!("REMOVE {}", removes.join(", ")))
                    .condition_expression("attribute_exists(outbox)")
                    .set_expression_attribute_names(Some(names))
                    .send()
                    .await;
                // Gone with its execution: nothing left to complete.
                conditional(result).map(drop)
            }
            Err(error) => Err(sdk_error(&error)),
        }
    }

    pub(super) async fn release(store: &DynamoStore, execution_id: &str, owner: &str) -> Result<(), StoreError> {
        let Some(item) = with_entries(store, execution_id).await? else { return Ok(()) };
        let held: Vec<String> = outbox_entries(&item)?
            .into_iter()
            .filter(|entry| entry.claimed_by.as_deref() == Some(owner))
            .map(|entry| entry.id)
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        let (names, entries) = placeholders(&held);
        let removes: Vec<String> = entries.iter().map(|e| format!("outbox.{e}.claimed_by")).collect();
        store
            .client
            .update_item()
            .table_name(&store.table)
            .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
            .update_expression(format!("REMOVE {}", removes.join(", ")))
            .set_expression_attribute_names(Some(names))
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        Ok(())
    }
}
