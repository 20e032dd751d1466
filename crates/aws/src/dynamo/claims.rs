//! Job claims: invoke-action claims each job (and each approval notification) with a
//! conditional put before it runs anything, so a redelivered dispatch never runs twice. A
//! claim carries a lease, which lapses unless the work was handed off to a system that
//! reports on its own.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;

use std::collections::HashMap;

use pipewright_core::ports::{JobLocation, StoreError};
use pipewright_core::time::Timestamp;

use super::DynamoStore;
use super::codec::{get_n, get_s, n, s};
use super::errors::{conditional, sdk_error};
use super::keys::{CLAIM, CLAIM_SECONDS, job_of, job_pk, key};

impl DynamoStore {
    /// Claims a job (or an approval notification) for the one invocation that carries it out:
    /// false while another holds it. A claim lapses after `lease_seconds` unless the work was
    /// handed off, so work lost with a crashed invocation can be claimed again.
    pub async fn claim_job(&self, job: &str, now: Timestamp, lease_seconds: i64) -> Result<bool, StoreError> {
        self.claim(job, None, now, lease_seconds).await
    }

    /// [`claim_job`](Self::claim_job) for a dispatched job, whose claim also says where the job
    /// belongs (`pipeline`, `execution`): `find_job` reads it there when the relay recorded no
    /// location of its own (a job invoke-action reports itself, `jobs::looked_up_by_id`).
    pub async fn claim_dispatched_job(
        &self,
        job: &str,
        location: &JobLocation,
        now: Timestamp,
        lease_seconds: i64,
    ) -> Result<bool, StoreError> {
        self.claim(job, Some(location), now, lease_seconds).await
    }

    async fn claim(
        &self,
        job: &str,
        location: Option<&JobLocation>,
        now: Timestamp,
        lease_seconds: i64,
    ) -> Result<bool, StoreError> {
        let located = location.map(|location| {
            HashMap::from([
                ("pipeline".to_string(), s(&location.pipeline)),
                ("execution".to_string(), s(&location.execution_id)),
            ])
        });
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(located)
            .item("pk", s(job_pk(job)))
            .item("sk", s(CLAIM))
            .item("claimed_at", n(now.millis()))
            .item("lease_until", n(now.millis() + lease_seconds * 1000))
            .item("expires_at", n(now.millis() / 1000 + CLAIM_SECONDS))
            .condition_expression(
                "attribute_not_exists(pk) OR (attribute_not_exists(handed_off) AND lease_until < :now)",
            )
            .expression_attribute_values(":now", n(now.millis()))
            .send()
            .await;
        conditional(result)
    }

    /// Marks a claimed job as handed to a system that reports on its own (an invoked
    /// function, a sent notification): its claim never lapses.
    pub async fn hand_off_job(&self, job: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&job_pk(job), CLAIM)))
            .update_expression("SET handed_off = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        Ok(())
    }

    /// Gives a claim back, so that a retry of the same delivery can take the job.
    pub async fn release_job(&self, job: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&job_pk(job), CLAIM)))
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        Ok(())
    }

    /// Which of `jobs` nobody holds: never claimed, or claimed and lapsed without a hand-off.
    pub async fn unclaimed_jobs(&self, jobs: &[String], now: Timestamp) -> Result<Vec<String>, StoreError> {
        let keys = jobs.iter().map(|job| key(&job_pk(job), CLAIM)).collect();
        let mut held = BTreeSet::new();
        for item in self.batch_get(keys).await? {
            let handed_off = item.get("handed_off").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
            let lease_until: i64 = get_n(&item, "lease_until").unwrap_or(0);
            if handed_off || lease_until >= now.millis() {
                held.insert(job_of(get_s(&item, "pk")?).to_string());
            }
        }
        Ok(jobs.iter().filter(|job| !held.contains(*job)).cloned().collect())
    }
}
