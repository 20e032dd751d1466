//! The DynamoDB store: one table (`pk`/`sk`), the same contract as the SQLite store.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | pipeline head: current version, state (compressed JSON), `rev`; the marker of a change written before its execution's commit (`pending_execution`, `pending_rev`, `pending_at`, `before`: `head_changes`) | `PIPELINE#<name>` | `HEAD` |
//! | one declaration version: `body` (compressed JSON), `created` | `PIPELINE#<name>` | `DECLARATION#<version>` |
//! | one execution: `body` (compressed JSON: the whole of a small execution, else its head and the `parts` manifest), `rev`, `batched` (its last batch commits, `core::outbox_fate`), `headed` (the head `rev` of its last change written with the head's marker) (and `outbox`, a map of effects, when written before outbox batches); or, in the place of a start fenced off, `rev` 1, `fenced` and `expires_at` | `EXECUTION#<id>` | `EXECUTION` |
//! | parts of a large execution (`parts`): `body` (compressed JSON), `rev` | `EXECUTION#<id>` | `PART#<item key>` |
//! | where a dispatched job whose result names only the job belongs (written by the relay): `pipeline`, `execution` | `JOB#<job id>` | `JOB` |
//! | a job's claim: `lease_until`, `handed_off`; a dispatched job's also `pipeline`, `execution` | `JOB#<job id>` | `CLAIM` |
//! | a record (custom action type, job acknowledgement): `value` | `RECORD#<kind>` | `<key>` |
//! | an outbox batch, the effects of one commit for one execution: `effects` (compressed JSON), `pipeline`, `rev` (the execution's, which its commit makes), `committed_at`, `claimed_by` | `OUTBOX` | `<execution id>#<digest of the effects' ids>@<rev>` (`#<digest>` alone when written in its commit's transaction, by earlier versions) |
//!
//! Every change is conditioned on `rev` numbers: each execution's, and the head's when the
//! state is written or the change relied on it (a stage lock; `engine::relies_on_state`) — a
//! job's result inside its stage leaves the head alone. A change of a single item is one
//! conditional write (`single_write`); a change of the head and of one execution is two, the
//! head first with a marker that every load settles (`head_changes`, `core::head_fate`); any
//! other is one `TransactWriteItems`. The effects a
//! commit gives an execution are one outbox batch item, put on its own just before the
//! change (1 write unit, where a transaction billed it 2, and a result inside its stage is then
//! the execution item alone) and deleted by the relay in one small write, so the execution
//! item is not rewritten for it. The execution item remembers its last batch commits, so a
//! batch whose commit did not happen (a lost race, a writer gone between the two writes) is
//! never carried out: `outbox::batch_fate`, `core::outbox_fate`.
//! A deadline (`WakeAt`) is not kept there (`outbox::keeps`): the tick finds deadlines
//! through the execution's `deadlines` entry, so a commit whose only effect is a deadline (a
//! build's or a deploy's wait recorded) writes the execution item alone.
//!
//! Indexes: `listing` (a pipeline's executions newest first; every pipeline under
//! `PIPELINES`; only keys and attributes that do not change per event are projected),
//! `deadlines` (active executions, each at or before its next deadline and moved only when
//! the deadline leaves a span after it: `keys::deadline_entry`) and `outbox` (executions
//! written before outbox batches whose `outbox` map still holds effects, by when they were
//! committed; the tick reads the `OUTBOX` partition for the batches). TTL
//! (`expires_at`) removes finished executions after a year, job locations a year after their
//! deadline, and job claims after a week.
//!
//! One job per module: `keys` (the layout above), `codec` (attribute values), `schema` (the
//! table), `transaction` (a change as its writes, built without sending), `head_changes` (the
//! head's marker, the states loads resolved, the fence), `kept` (what the store keeps between
//! calls), `pipelines`,
//! `executions`, `parts` (an execution whole or in part items), `jobs` (where a job belongs), `single_write` (a change of one
//! item), `outbox` and `records` (the port's operations on each kind of item),
//! `claims` (job claims), `sweeps` (what the tick reads from the sparse indexes) and `errors`
//! (SDK errors as store errors).

mod claims;
mod codec;
mod compression;
mod derived_ids;
mod errors;
mod executions;
mod head_changes;
mod jobs;
mod kept;
mod keys;
pub mod limits;
mod outbox;
mod parts;
mod pipelines;
mod query;
mod records;
mod schema;
mod single_write;
mod sweeps;
mod transaction;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::KeysAndAttributes;

use pipewright_core::declaration::PipelineDeclaration;
use pipewright_core::engine::{Effect, Event, Execution, executions_needed, executions_shown};
use pipewright_core::ports::{
    Changes, JobLocation, OutboxEntry, Page, PutOutcome, Snapshot, StateStore, StoreError, StoredPipeline, Versioned,
};
use pipewright_core::time::Timestamp;

use codec::Item;
use errors::{refused, sdk_error, transaction_error};

pub use keys::{CLAIM_SECONDS, DEADLINES, LISTING, LISTING_ATTRIBUTES, OUTBOX};
pub use schema::create_table;
pub use sweeps::DueExecution;
pub use transaction::{MAX_ITEMS, transaction};

/// The JSON bytes of a compressed attribute of the table (an execution's `body`, an outbox
/// batch's `effects`), as the store reads them: for tests and tools that look at raw items.
pub fn stored_json_bytes(blob: &[u8], what: &str) -> Result<Vec<u8>, pipewright_core::ports::StoreError> {
    compression::decompress(blob, what)
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// The executions last read or written, to find what a commit changed.
    cache: parts::Cache,
    /// Bytes the committed transactions wrote, as DynamoDB sizes them (`limits`).
    written: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Where the batches this store committed are, by the key a relay names them by.
    batch_keys: outbox::BatchKeys,
    /// The head states its loads resolved, which a head change's marker keeps.
    heads: head_changes::ResolvedHeads,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
            cache: parts::Cache::default(),
            written: Default::default(),
            batch_keys: Default::default(),
            heads: Default::default(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One item, read consistently.
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        Ok(output.item)
    }

    /// A query of `listing` under one of its partitions (a pipeline's executions, or every
    /// pipeline head), from `start`.
    fn listing(&self, partition: String, start: Option<Item>) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(LISTING)
            .key_condition_expression("gsi1pk = :partition")
            .expression_attribute_values(":partition", codec::s(partition))
            .set_exclusive_start_key(start)
    }

    /// The items of `keys` that exist (consistent reads, 100 keys a request, unprocessed
    /// keys asked again).
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        for chunk in keys.chunks(100) {
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(refused)?,
            );
            while let Some(keys) = request.take() {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| sdk_error(&e))?;
                items.extend(output.responses.unwrap_or_default().remove(&self.table).unwrap_or_default());
                request = output.unprocessed_keys.and_then(|mut left| left.remove(&self.table));
            }
        }
        Ok(items)
    }
}

impl StateStore for DynamoStore {
    fn bytes_written(&self) -> Option<u64> {
        Some(self.written.load(std::sync::atomic::Ordering::Relaxed))
    }

    async fn put_pipeline(&self, declaration: &PipelineDeclaration, now: Timestamp) -> Result<PutOutcome, StoreError> {
        pipelines::put(self, declaration, now).await
    }

    async fn get_pipeline(&self, name: &str, version: Option<u32>) -> Result<Option<StoredPipeline>, StoreError> {
        pipelines::get(self, name, version).await
    }

    async fn list_pipelines(&self) -> Result<Vec<StoredPipeline>, StoreError> {
        pipelines::list(self).await
    }

    async fn delete_pipeline(&self, name: &str) -> Result<(), StoreError> {
        pipelines::delete(self, name).await
    }

    async fn load(&self, pipeline: &str, event: &Event) -> Result<Snapshot, StoreError> {
        executions::load(self, pipeline, |state| executions_needed(state, event), head_changes::Purpose::Decide).await
    }

    async fn load_view(&self, pipeline: &str) -> Result<Snapshot, StoreError> {
        executions::load(self, pipeline, executions_shown, head_changes::Purpose::Show).await
    }

    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        let mut bases = std::collections::HashMap::new();
        for (execution, expected) in &changes.executions {
            if let Some(version) = expected {
                bases.insert(execution.id.clone(), self.base(&execution.id, *version).await?);
            }
        }
        let before =
            changes.state.as_ref().and_then(|_| self.heads.at(&changes.pipeline, changes.expected_state_version));
        let transaction::Built { batches, head_first, items, mut written } =
            transaction::build(&self.table, &changes, &bases, before.as_ref())?;
        let bytes = (limits::bytes(&items)
            + head_first.iter().map(|head| limits::bytes(std::slice::from_ref(head))).sum::<usize>()
            + batches.iter().map(|b| limits::bytes(std::slice::from_ref(&b.put))).sum::<usize>())
            as u64;
        let conflict = || format!("pipeline {} changed since it was read", changes.pipeline);
        // A change of the head first, with its marker, on its own (`head_changes`): refused (a
        // lost race, a twin's), nothing of the change is written. Its commit is the execution's
        // write, which follows the batches, so a marker whose writer stops here is fenced off.
        if let Some(head) = &head_first {
            self.write_alone(head, conflict).await.unwrap_or_else(|| Err(refused("a head change is an update")))?;
        }
        // The batches before the commit's own write, each on its own: no commit happens
        // without its effects stored.
        for (put, batch) in batches.iter().enumerate() {
            let stored =
                self.write_alone(&batch.put, conflict).await.unwrap_or_else(|| Err(refused("a batch is a put")));
            if let Err(error) = stored {
                outbox::discard_uncommitted(self, &batches[..put]).await;
                return Err(error);
            }
        }
        let alone = match items.as_slice() {
            [item] => self.write_alone(item, conflict).await,
            _ => None,
        };
        let result = match alone {
            Some(result) => result,
            None => match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => Ok(()),
                Err(error) => Err(transaction_error(&error, conflict)),
            },
        };
        if let Err(error) = result {
            // Written for a commit that did not happen (a lost race: its batches are orphans)
            // or may not have, or whose twin may still land: those stay (`discard_uncommitted`).
            outbox::discard_uncommitted(self, &batches).await;
            return Err(error);
        }
        self.written.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        for batch in &batches {
            self.batch_keys.insert(&batch.named, batch.sk.clone());
        }
        let completed = outbox::completed_by(&changes);
        for (execution, expected) in changes.executions {
            let version = expected.map_or(1, |v| v + 1);
            let transaction::Written { split, deadline_entry, recent_batches } =
                written.remove(&execution.id).unwrap_or_default();
            self.cache.put(parts::Cached { version, execution, split, deadline_entry, recent_batches });
        }
        // The entries the change completes leave their outbox once it has committed (in its
        // own write: their batch is not the execution item). If that fails (or the process
        // dies first) they stay, and are carried out again, which their consumers take once:
        // the change itself has committed, and is reported so.
        for (execution, ids) in completed {
            if let Err(error) = outbox::complete(self, &execution, &ids).await {
                tracing::warn!(%error, execution, "completed outbox entries stay after the commit");
            }
        }
        Ok(())
    }

    async fn pause(&self, ceiling: std::time::Duration) {
        let entropy = uuid::Uuid::new_v4().as_u64_pair().0;
        tokio::time::sleep(pipewright_core::backoff::jittered(ceiling, entropy)).await;
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Versioned<Execution>>, StoreError> {
        executions::get(self, id).await
    }

    async fn list_executions(
        &self,
        pipeline: &str,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<Page<Execution>, StoreError> {
        executions::list(self, pipeline, limit, next_token).await
    }

    fn keeps_effect(&self, effect: &Effect) -> bool {
        outbox::keeps(effect)
    }

    async fn claim_effects(&self, execution_id: &str, owner: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        outbox::claim(self, execution_id, owner).await
    }

    async fn complete_effects(&self, execution_id: &str, ids: &[String]) -> Result<(), StoreError> {
        outbox::complete(self, execution_id, ids).await
    }

    async fn release_effects(&self, execution_id: &str, owner: &str) -> Result<(), StoreError> {
        outbox::release(self, execution_id, owner).await
    }

    async fn find_job(&self, job_id: &str) -> Result<Option<JobLocation>, StoreError> {
        jobs::find(self, job_id).await
    }

    async fn put_record_if_absent(&self, kind: &str, key: &str, value: &str) -> Result<bool, StoreError> {
        records::put_if_absent(self, kind, key, value).await
    }

    async fn replace_record(&self, kind: &str, key: &str, expected: &str, value: &str) -> Result<bool, StoreError> {
        records::replace(self, kind, key, expected, value).await
    }

    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        records::get(self, kind, key).await
    }

    async fn list_records(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        records::list(self, kind).await
    }

    async fn delete_record(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        records::delete(self, kind, key).await
    }
}
