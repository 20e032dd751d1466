//! The store contract suite (`pipewright_core::contract`) against the DynamoDB store, in a
//! fresh table of moto per check: here rather than among the crate's unit tests, which need
//! no moto.

use aws_sdk_dynamodb::types::AttributeValue;
use pipewright_aws::dynamo::{DynamoStore, create_table};
use pipewright_aws::testing;
use pipewright_core::ports::{Changes, StateStore, StoreError};

pub(crate) async fn fresh() -> DynamoStore {
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
    use pipewright_core::ports::JobLocation;
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

/// The change that starts execution `id` of pipeline `p` (put first, version 1) at `now`, as
/// the shared handler would commit it.
async fn start_of(store: &DynamoStore, id: &str, now: pipewright_core::time::Timestamp) -> Changes {
    use pipewright_core::engine::{self, Step, World};
    use pipewright_core::pipeline::{Environment, Pipeline};

    let mut declaration = pipewright_core::contract::declaration("p", "make").unwrap();
    if store.get_pipeline("p", None).await.unwrap().is_none() {
        store.put_pipeline(&declaration, now).await.unwrap();
    }
    declaration.version = Some(1);
    let pipeline = Pipeline::compile(declaration, Environment::default()).unwrap();
    let head = store.load_view("p").await.unwrap().state.version;
    let event = pipewright_core::contract::start(id);
    let Ok(Step::Applied(mut applied)) = engine::apply(&pipeline, World::new(&pipeline), &event, now) else {
        panic!("the start applies")
    };
    Changes {
        pipeline: "p".into(),
        expected_state_version: head,
        state_relied_on: engine::relies_on_state(&event, applied.pipeline_changed),
        state: applied.pipeline_changed.then(|| applied.world.pipeline.clone()),
        executions: vec![(applied.world.executions.remove(id).unwrap(), None)],
        effects: applied.effects.clone(),
        completed_effects: Vec::new(),
    }
}

/// The outbox batch items of execution `id`, read consistently and unmetered.
pub(crate) async fn outbox_of(store: &DynamoStore, id: &str) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(&testing::unmetered_sdk_config().await);
    let query = client
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S("OUTBOX".into()))
        .expression_attribute_values(":prefix", AttributeValue::S(format!("{id}#")))
        .consistent_read(true);
    query.send().await.unwrap().items.unwrap_or_default()
}

/// A commit's outbox batch is put on its own before the execution is written, so a batch can
/// outlive a commit that did not happen. It is carried out only once its commit has happened
/// (the execution item remembers its batch commits, `core::outbox_fate`): the twin of a commit
/// (an event delivered twice at once) leaves the batch they share, a commit that lost the race
/// removes its own, and a batch ahead of its execution waits for a writer that may still
/// commit, then is removed once no writer can be alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_batch_is_carried_out_only_once_its_commit_has_happened() {
    use pipewright_core::engine::Effect;
    use pipewright_core::outbox_fate::ORPHANED_AFTER_MILLIS;
    use pipewright_core::time::Timestamp;

    let store = fresh().await;
    let client = aws_sdk_dynamodb::Client::new(&testing::unmetered_sdk_config().await);
    let now = pipewright_aws::handlers::now();
    let start = start_of(&store, "e1", now).await;
    let kept: Vec<String> =
        start.effects.iter().filter(|e| store.keeps_effect(e)).map(|e| e.id().to_string()).collect();
    let pending =
        || async { store.pending_effects("e1").await.unwrap().iter().map(|e| e.id().to_string()).collect::<Vec<_>>() };
    let batches = || outbox_of(&store, "e1");

    store.commit(start.clone()).await.unwrap();
    let [committed] = &batches().await[..] else { panic!("the start's batch") };
    assert!(committed["sk"].as_s().unwrap().ends_with("@1"), "keyed by the rev it makes: {committed:?}");
    // Its twin puts the same batch and loses the race: the batch they share stays.
    let twin = store.commit(start.clone()).await.unwrap_err();
    assert!(matches!(twin, StoreError::Conflict(_)), "{twin:?}");
    assert_eq!(pending().await, kept, "the winner's batch is there for its relay");
    // A rival decided otherwise over the same read and lost: its batch is removed at once.
    let mut rival = start.clone();
    let Some(Effect::Publish(change)) = rival.effects.iter_mut().find(|e| matches!(e, Effect::Publish(_))) else {
        panic!("a state change")
    };
    change.id.push_str("/rival");
    assert!(matches!(store.commit(rival).await, Err(StoreError::Conflict(_))));
    assert_eq!(batches().await.len(), 1, "the rival's batch is gone");
    assert_eq!(pending().await, kept);

    // A writer gone between its batch and its commit of rev 2: the batch waits (its commit may
    // still land), and nothing of it is carried out or found.
    let mut ahead = committed.clone();
    let sk = committed["sk"].as_s().unwrap().replace("@1", "@2");
    ahead.insert("sk".into(), AttributeValue::S(sk.clone()));
    ahead.insert("rev".into(), AttributeValue::N("2".into()));
    client.put_item().table_name(store.table()).set_item(Some(ahead.clone())).send().await.unwrap();
    assert_eq!(pending().await, kept, "not carried out twice");
    assert_eq!(batches().await.len(), 2, "left while its writer may be alive");
    assert!(store.claim_effects("e1", "owner").await.unwrap().len() == kept.len());
    store.release_effects("e1", "owner").await.unwrap();
    // Once no writer can be alive, it is removed.
    let long_ago = Timestamp::from_millis(now.millis() - ORPHANED_AFTER_MILLIS - 1_000);
    ahead.insert("committed_at".into(), AttributeValue::N(long_ago.millis().to_string()));
    client.put_item().table_name(store.table()).set_item(Some(ahead)).send().await.unwrap();
    assert_eq!(pending().await, kept);
    let left: Vec<String> = batches().await.iter().map(|b| b["sk"].as_s().unwrap().clone()).collect();
    assert!(!left.contains(&sk), "the orphan is removed: {left:?}");

    // The relay completes the committed batch by its effects' ids, without reading the outbox.
    store.complete_effects("e1", &kept).await.unwrap();
    assert!(batches().await.is_empty());
}

/// A change refused after its batch is put (throttled here past the SDK's own tries) leaves
/// its batch, which a twin's commit (between its writes, the same batch) could still make its
/// own; nothing of it is carried out or found while its execution has not reached its `rev`,
/// and the same change commits on a later try with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_refused_after_its_batch_is_put_leaves_a_batch_nothing_carries_out() {
    let store = fresh().await;
    let start = start_of(&store, "e2", pipewright_aws::handlers::now()).await;
    crate::common::inject("TransactWriteItems", store.table(), 1, "ThrottlingError").await;
    let refused = store.commit(start.clone()).await.unwrap_err();
    assert!(matches!(refused, StoreError::Throttled(_)), "{refused:?}");
    assert_eq!(crate::common::injected("TransactWriteItems", store.table()).await, 1);
    assert_eq!(outbox_of(&store, "e2").await.len(), 1, "its batch stays, pending");
    assert!(store.get_execution("e2").await.unwrap().is_none(), "nothing committed");
    assert!(store.pending_effects("e2").await.unwrap().is_empty(), "nothing carried out");

    store.commit(start).await.unwrap();
    assert_eq!(outbox_of(&store, "e2").await.len(), 1, "committed with the same batch");
    assert!(!store.pending_effects("e2").await.unwrap().is_empty());
}

/// The stand-in bills a single write whose condition failed, as DynamoDB documents (one unit
/// per started KB of the larger of the item stored and the one written, at least one), so
/// that lost races show in the cost test; a cancelled transaction it does not meter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_in_bills_a_write_whose_condition_failed() {
    let store = fresh().await;
    let client = aws_sdk_dynamodb::Client::new(&testing::sdk_config().await);
    let table = store.table();
    let item = |size: usize| {
        std::collections::HashMap::from([
            ("pk".to_string(), AttributeValue::S("BILLED".into())),
            ("sk".to_string(), AttributeValue::S("ITEM".into())),
            ("blob".to_string(), AttributeValue::B(aws_smithy_types::Blob::new(vec![7u8; size]))),
        ])
    };
    client.put_item().table_name(table).set_item(Some(item(1500))).send().await.unwrap();
    let units = || async { crate::common::billed(table, "none").await.write_units };
    let before = units().await;
    let refused = client
        .put_item()
        .table_name(table)
        .set_item(Some(item(10)))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    assert!(refused.is_err(), "the condition fails");
    assert_eq!(units().await - before, 2.0, "the stored item's 2 started KB");
    let before = units().await;
    let refused = client
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S("BILLED".into()))
        .key("sk", AttributeValue::S("NONE".into()))
        .update_expression("SET x = :x")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":x", AttributeValue::N("1".into()))
        .send()
        .await;
    assert!(refused.is_err());
    assert_eq!(units().await - before, 1.0, "at least one unit");
}
