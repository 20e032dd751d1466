//! The store contract suite (`pipewright_core::contract`) against the DynamoDB store, in a
//! fresh table of moto per check: here rather than among the crate's unit tests, which need
//! no moto.

use pipewright_aws::dynamo::{DynamoStore, create_table};
use pipewright_aws::testing;

async fn fresh() -> DynamoStore {
    let config = testing::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = testing::unique("contract");
    create_table(&client, &table).await.expect("create the table in moto");
    DynamoStore::new(client, table)
}

pipewright_core::store_contract_tests!(fresh());

/// Where a job belongs, on DynamoDB: found in its commit's outbox batch until the relay has
/// carried the batch out; then from the location the relay records for a job whose result
/// names only the job (a Lambda invoke here), or from invoke-action's claim for the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_found_from_its_batch_then_from_its_location_or_its_claim() {
    use pipewright_core::declaration::{ActionCategory, ActionOwner};
    use pipewright_core::engine::Effect;
    use pipewright_core::ports::{JobLocation, StateStore};
    use pipewright_core::service::{self, Handled, PipelineCache};
    use pipewright_core::time::Timestamp;

    let store = fresh().await;
    let now = Timestamp::from_millis(1_700_000_000_000);
    store.put_pipeline(&pipewright_core::contract::declaration("p", "make").unwrap(), now).await.unwrap();
    let cache = PipelineCache::new(Default::default());
    let start = pipewright_core::contract::start("e1");
    let Handled::Applied { effects } = service::handle(&store, &cache, "p", &start, now, &[]).await.unwrap() else {
        panic!("the start applies")
    };
    let source = effects
        .iter()
        .find_map(|effect| match effect {
            Effect::Dispatch(dispatch) => Some(dispatch.as_ref().clone()),
            _ => None,
        })
        .expect("the source is dispatched");
    let location = Some(JobLocation { pipeline: "p".into(), execution_id: "e1".into() });
    assert_eq!(store.find_job(&source.job_id).await.unwrap(), location, "in its outbox batch");

    // As if the source were a Lambda invoke: its location is recorded. The S3 source's is not.
    let mut invoke = source.clone();
    invoke.job_id = "11111111-1111-4111-8111-111111111111".into();
    invoke.action_type.category = ActionCategory::Invoke;
    invoke.action_type.owner = ActionOwner::Aws;
    invoke.action_type.provider = "Lambda".into();
    let relayed = [Effect::Dispatch(Box::new(invoke.clone())), Effect::Dispatch(Box::new(source.clone()))];
    store.record_jobs("p", &relayed).await.unwrap();
    let ids: Vec<String> = effects.iter().map(|effect| effect.id().to_string()).collect();
    store.complete_effects("e1", &ids).await.unwrap();
    assert!(store.pending_effects("e1").await.unwrap().is_empty(), "the batch is carried out");
    assert_eq!(store.find_job(&invoke.job_id).await.unwrap(), location, "recorded by the relay");
    assert_eq!(store.find_job(&source.job_id).await.unwrap(), None, "not recorded, not claimed yet");
    let claimed = JobLocation { pipeline: "p".into(), execution_id: "e1".into() };
    assert!(store.claim_dispatched_job(&source.job_id, &claimed, now, 60).await.unwrap());
    assert_eq!(store.find_job(&source.job_id).await.unwrap(), location, "recorded with its claim");
}
