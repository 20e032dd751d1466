//! Where a dispatched job belongs (`JOB#<job id>` / `JOB`), for the job workers' results that
//! name only the job. The relay writes it before it publishes the dispatch, in a write of its
//! own (a transaction would bill it twice); until then the job is found in its commit's outbox
//! batch, so that it is found from the moment the dispatch commits, and never when the commit
//! did not.

use pipewright_core::engine::Effect;
use pipewright_core::ports::{JobLocation, StoreError};

use super::DynamoStore;
use super::codec::{Item, batch_entries, get_s, n, s};
use super::errors::sdk_error;
use super::keys::{HISTORY_SECONDS, JOB, OUTBOX_BATCHES, execution_of_batch, job_pk, key};

impl DynamoStore {
    /// Records where each job `effects` dispatch belongs (one write each, kept as long as the
    /// execution's history): what a relay does before it publishes them. Writing one again
    /// (a relay after a crash) changes nothing.
    pub async fn record_jobs(&self, pipeline: &str, effects: &[Effect]) -> Result<(), StoreError> {
        for effect in effects {
            let Effect::Dispatch(dispatch) = effect else { continue };
            let mut item = key(&job_pk(&dispatch.job_id), JOB);
            item.insert("pipeline".into(), s(pipeline));
            item.insert("execution".into(), s(&dispatch.execution_id));
            item.insert("expires_at".into(), n(dispatch.deadline.millis() / 1000 + HISTORY_SECONDS));
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
        }
        Ok(())
    }

    /// The job's dispatch among the outbox batches no relay has carried out yet.
    async fn job_in_outbox(&self, job_id: &str) -> Result<Option<JobLocation>, StoreError> {
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(OUTBOX_BATCHES))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
            for batch in output.items.unwrap_or_default() {
                let dispatched = batch_entries(&batch)?
                    .iter()
                    .any(|entry| matches!(&entry.effect, Effect::Dispatch(d) if d.job_id == job_id));
                if dispatched {
                    return Ok(Some(JobLocation {
                        pipeline: get_s(&batch, "pipeline")?.to_string(),
                        execution_id: execution_of_batch(get_s(&batch, "sk")?).to_string(),
                    }));
                }
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(None),
            }
        }
    }
}

pub(super) async fn find(store: &DynamoStore, job_id: &str) -> Result<Option<JobLocation>, StoreError> {
    match store.get(&job_pk(job_id), JOB).await? {
        Some(item) => Ok(Some(JobLocation {
            pipeline: get_s(&item, "pipeline")?.to_string(),
            execution_id: get_s(&item, "execution")?.to_string(),
        })),
        // Committed, not relayed yet (or its relay crashed before it got this far).
        None => store.job_in_outbox(job_id).await,
    }
}
