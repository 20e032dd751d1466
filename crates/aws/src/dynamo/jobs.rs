//! Where a dispatched job belongs, for the results that name only the job: a job worker's, a
//! partner's, an invoked function's. The relay writes it (`JOB#<job id>` / `JOB`) before it
//! publishes such a dispatch, in a write of its own (a transaction would bill it twice); until
//! then the job is found in its commit's outbox batch, so that it is found from the moment the
//! dispatch commits, and never when the commit did not. A job invoke-action carries out and
//! reports itself gets no location item: its claim (`JOB#<job id>` / `CLAIM`) says where it
//! belongs.

use pipewright_core::declaration::ActionOwner;
use pipewright_core::deploy::waits_on_service;
use pipewright_core::engine::{Dispatch, Effect};
use pipewright_core::ports::{JobLocation, StoreError};
use pipewright_core::providers::ProviderKind;
use pipewright_core::rule_types::RuleProvider;

use pipewright_core::outbox_fate::BatchFate;

use super::DynamoStore;
use super::codec::{Item, batch_entries, get_s, n, s};
use super::errors::sdk_error;
use super::keys::{CLAIM, HISTORY_SECONDS, JOB, OUTBOX_BATCHES, execution_of_batch, job_pk, key};
use super::outbox::batch_fate;

impl DynamoStore {
    /// Records where each job `effects` dispatch belongs when its result can come back naming
    /// only the job (`looked_up_by_id`; one write each, kept as long as the execution's
    /// history): what a relay does before it publishes them. Writing one again (a relay after
    /// a crash) changes nothing.
    pub async fn record_jobs(&self, pipeline: &str, effects: &[Effect]) -> Result<(), StoreError> {
        for effect in effects {
            let Effect::Dispatch(dispatch) = effect else { continue };
            if !looked_up_by_id(dispatch) {
                continue;
            }
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

    /// The job's dispatch among the outbox batches no relay has carried out yet, in a batch
    /// whose commit happened (`outbox::batch_fate`).
    async fn job_in_outbox(&self, job_id: &str) -> Result<Option<JobLocation>, StoreError> {
        for batch in self.partition_items(OUTBOX_BATCHES, None).await? {
            let dispatched = batch_entries(&batch)?
                .iter()
                .any(|entry| matches!(&entry.effect, Effect::Dispatch(d) if d.job_id == job_id));
            if !dispatched {
                continue;
            }
            let execution_id = execution_of_batch(get_s(&batch, "sk")?);
            // Only a batch put before its commit has a fate to ask (`rev`).
            let stored = if batch.contains_key("rev") { self.stored_batch_commits(execution_id).await? } else { None };
            if batch_fate(&batch, stored.as_ref(), crate::handlers::now().millis())? == BatchFate::Committed {
                return Ok(Some(JobLocation {
                    pipeline: get_s(&batch, "pipeline")?.to_string(),
                    execution_id: execution_id.to_string(),
                }));
            }
        }
        Ok(None)
    }
}

/// Whether the result of `dispatch` can come back naming only its job, through the control
/// API: a custom or partner action's job worker, or the function a Lambda invoke action
/// invoked (`PutJobSuccessResult`, `AcknowledgeJob`, …). Every other job is carried out by
/// invoke-action, which applies its result itself from the dispatch it holds.
pub fn looked_up_by_id(dispatch: &Dispatch) -> bool {
    if matches!(dispatch.action_type.owner, ActionOwner::Custom | ActionOwner::ThirdParty) {
        return true;
    }
    // What invoke-action runs to its end itself: the sources, and the deploys and builds it
    // starts and then looks at (`handlers::invoke_action::dispatched`).
    let reported_by_invoke_action = RuleProvider::kind_of(dispatch).is_some_and(|kind| {
        waits_on_service(kind)
            || matches!(
                kind,
                ProviderKind::S3Source
                    | ProviderKind::CodeCommit
                    | ProviderKind::Ecr
                    | ProviderKind::GitHubV1
                    | ProviderKind::CodeStarSourceConnection
            )
    });
    !reported_by_invoke_action
}

pub(super) async fn find(store: &DynamoStore, job_id: &str) -> Result<Option<JobLocation>, StoreError> {
    let located = |item: Item| -> Result<Option<JobLocation>, StoreError> {
        Ok(Some(JobLocation {
            pipeline: get_s(&item, "pipeline")?.to_string(),
            execution_id: get_s(&item, "execution")?.to_string(),
        }))
    };
    if let Some(item) = store.get(&job_pk(job_id), JOB).await? {
        return located(item);
    }
    // Claimed by invoke-action, which records where the job belongs with its claim.
    if let Some(item) = store.get(&job_pk(job_id), CLAIM).await?.filter(|item| item.contains_key("execution")) {
        return located(item);
    }
    // Committed, not relayed yet (or its relay crashed before it got this far).
    store.job_in_outbox(job_id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipewright_core::contract::{declaration, start};
    use pipewright_core::declaration::{ActionCategory, ActionTypeId};
    use pipewright_core::engine::{self, Step, World};
    use pipewright_core::pipeline::{Environment, Pipeline};
    use pipewright_core::time::Timestamp;

    fn dispatch_of(category: ActionCategory, owner: ActionOwner, provider: &str) -> Dispatch {
        let pipeline = Pipeline::compile(declaration("p", "make").unwrap(), Environment::default()).unwrap();
        let now = Timestamp::from_millis(1_700_000_000_000);
        let Ok(Step::Applied(applied)) = engine::apply(&pipeline, World::new(&pipeline), &start("e1"), now) else {
            panic!("applies")
        };
        let mut dispatch = applied
            .effects
            .into_iter()
            .find_map(|effect| match effect {
                Effect::Dispatch(dispatch) => Some(*dispatch),
                _ => None,
            })
            .expect("the source is dispatched");
        dispatch.action_type =
            ActionTypeId { category, owner, provider: provider.to_string(), version: "1".to_string() };
        dispatch
    }

    #[test]
    fn only_jobs_whose_result_names_only_the_job_are_looked_up_by_id() {
        use ActionCategory::{Build, Compute, Deploy, Invoke, Source};
        for (category, owner, provider) in [
            (Invoke, ActionOwner::Aws, "Lambda"),
            (Build, ActionOwner::Custom, "MyBuilder"),
            (Deploy, ActionOwner::ThirdParty, "Snyk"),
            (Build, ActionOwner::Aws, "NoSuchProvider"),
        ] {
            assert!(looked_up_by_id(&dispatch_of(category, owner, provider)), "{provider}: a result by job id");
        }
        for (category, provider) in
            [(Source, "S3"), (Source, "CodeCommit"), (Build, "CodeBuild"), (Compute, "Commands"), (Deploy, "S3")]
        {
            let dispatch = dispatch_of(category, ActionOwner::Aws, provider);
            assert!(!looked_up_by_id(&dispatch), "{provider}: invoke-action applies its result itself");
        }
    }
}
