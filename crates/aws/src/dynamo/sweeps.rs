//! What the tick sweeps, from the sparse indexes: every execution with work in flight (the
//! tick fires the deadlines that passed from what it reads of them), and outboxes a relay
//! left behind.

use pipewright_core::ports::StoreError;
use pipewright_core::time::Timestamp;

use super::DynamoStore;
use super::codec::{Item, get_s, n, s};
use super::errors::{conditional, sdk_error};
use super::keys::{
    DEADLINE_PARTITION, DEADLINES, EXECUTION, OUTBOX, OUTBOX_BATCHES, OUTBOX_PARTITION, execution_of,
    execution_of_batch, execution_pk, key, padded,
};

/// An execution due for attention: a deadline passed, or effects waiting too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueExecution {
    pub pipeline: String,
    pub execution_id: String,
}

/// One sparse index: its name, key attributes and single partition.
struct Sparse {
    index: &'static str,
    pk: &'static str,
    partition: &'static str,
    sk: &'static str,
}

const BY_DEADLINE: Sparse =
    Sparse { index: DEADLINES, pk: "deadline_pk", partition: DEADLINE_PARTITION, sk: "deadline_sk" };
const BY_OUTBOX: Sparse = Sparse { index: OUTBOX, pk: "outbox_pk", partition: OUTBOX_PARTITION, sk: "outbox_sk" };

impl DynamoStore {
    /// The executions with effects committed before `before` and still not carried out.
    /// The outbox batches are read from their partition (it holds only what relays have not
    /// carried out yet), then the `outbox` index for executions written before batches.
    pub async fn pending_outboxes(&self, before: Timestamp, limit: i32) -> Result<Vec<DueExecution>, StoreError> {
        let mut due: Vec<DueExecution> = Vec::new();
        let wanted = usize::try_from(limit).unwrap_or(0);
        let mut start: Option<Item> = None;
        while due.len() < wanted {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .filter_expression("committed_at <= :before")
                .projection_expression("pipeline, sk")
                .expression_attribute_values(":pk", s(OUTBOX_BATCHES))
                .expression_attribute_values(":before", n(before.millis()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
            for item in output.items.unwrap_or_default() {
                let found = DueExecution {
                    pipeline: get_s(&item, "pipeline")?.to_string(),
                    execution_id: execution_of_batch(get_s(&item, "sk")?).to_string(),
                };
                if !due.contains(&found) && due.len() < wanted {
                    due.push(found);
                }
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        let left = i32::try_from(wanted - due.len()).unwrap_or(0);
        if left > 0 {
            for found in self.sweep(&BY_OUTBOX, before, left).await? {
                if !due.contains(&found) {
                    due.push(found);
                }
            }
        }
        Ok(due)
    }

    /// The executions with work in flight, those whose `deadlines` entry comes first (an
    /// entry is at or before its execution's next deadline, `keys::deadline_entry`).
    pub async fn active_executions(&self, limit: i32) -> Result<Vec<DueExecution>, StoreError> {
        self.sweep(&BY_DEADLINE, Timestamp::from_millis(999_999_999_999_999), limit).await
    }

    /// Takes an execution out of the sparse indexes, so that no sweep reads it again (its
    /// stored state cannot be read or written); the item itself stays.
    pub async fn set_aside(&self, execution_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
            .update_expression("REMOVE deadline_pk, deadline_sk, outbox_pk, outbox_sk")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        // What the store holds of it no longer says where its entry is.
        self.cache.forget(execution_id);
        // An execution deleted meanwhile needs nothing more.
        conditional(result).map(drop)
    }

    /// The executions of a sparse index up to `until`, oldest first.
    async fn sweep(&self, sparse: &Sparse, until: Timestamp, limit: i32) -> Result<Vec<DueExecution>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(sparse.index)
            .key_condition_expression("#pk = :pk AND #sk <= :until")
            .expression_attribute_names("#pk", sparse.pk)
            .expression_attribute_names("#sk", sparse.sk)
            .expression_attribute_values(":pk", s(sparse.partition))
            .expression_attribute_values(":until", s(format!("{}#~", padded(until.millis()))))
            .limit(limit)
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        output
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                Ok(DueExecution {
                    pipeline: get_s(item, "pipeline")?.to_string(),
                    execution_id: execution_of(get_s(item, "pk")?).to_string(),
                })
            })
            .collect()
    }
}
