//! The DynamoDB store: one table (`pk`/`sk`), the same contract as the SQLite store.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | pipeline head: current version, state (gzip JSON), `rev` | `PIPELINE#<name>` | `HEAD` |
//! | one declaration version: `body` (JSON), `created` | `PIPELINE#<name>` | `DECLARATION#<version>` |
//! | one execution: `body` (gzip JSON), `rev`, `outbox` | `EXECUTION#<id>` | `EXECUTION` |
//! | where a dispatched job belongs: `pipeline`, `execution` | `JOB#<job id>` | `JOB` |
//! | a record (custom action type, job acknowledgement): `value` | `RECORD#<kind>` | `<key>` |
//!
//! Every change is one `TransactWriteItems` whose conditions are `rev` numbers: the head's
//! (even when only read — a stage lock relied on) and each execution's. The outbox of effects
//! lives in the execution item it belongs to, so it is written in the same transaction.
//!
//! Indexes: `by_pipeline` (a pipeline's executions newest first; every pipeline under
//! `PIPELINES`), `deadlines` (active executions by their next deadline, for the tick) and
//! `outbox` (executions with effects not yet carried out, by when they were committed). TTL
//! (`expires_at`) removes finished executions after a year, job locations a year after their
//! deadline, and job claims after a week.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use pipewright_core::declaration::PipelineDeclaration;
use pipewright_core::engine::{Effect, Event, Execution, PipelineState, executions_needed, next_due};
use pipewright_core::ports::{
    Changes, JobLocation, OutboxEntry, Page, PutOutcome, Snapshot, StateStore, StoreError, StoredPipeline, Versioned,
};
use pipewright_core::time::Timestamp;

pub const BY_PIPELINE: &str = "by_pipeline";
pub const DEADLINES: &str = "deadlines";
pub const OUTBOX: &str = "outbox";
/// Every pipeline head sits under this key of `by_pipeline`.
const ALL_PIPELINES: &str = "PIPELINES";
const HEAD: &str = "HEAD";
const EXECUTION: &str = "EXECUTION";
const JOB: &str = "JOB";
const CLAIM: &str = "CLAIM";
/// The single partition of each sparse index (a few thousand active executions fit one).
const DEADLINE_PARTITION: &str = "DEADLINE";
const OUTBOX_PARTITION: &str = "OUTBOX";
/// Finished executions are kept 12 months, as CodePipeline keeps its history.
const HISTORY_SECONDS: i64 = 365 * 24 * 3600;
/// A claim on an outbox entry or a job is kept a week.
pub const CLAIM_SECONDS: i64 = 7 * 24 * 3600;

/// What a stored outbox entry holds.
#[derive(Serialize, Deserialize)]
struct StoredEffect {
    effect: Effect,
    seq: u64,
}

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// A request this store built and cannot send as it is (a builder missing a field): permanent.
fn refused(error: impl std::fmt::Display) -> StoreError {
    StoreError::Refused(error.to_string())
}

/// An SDK error as a store error. DynamoDB refusing the request as it is (a validation error,
/// an item collection over its size limit) is permanent; anything else (throttling, a
/// service or network error, a timeout) may pass.
fn sdk_error<E>(error: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> StoreError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let permanent = match error {
        SdkError::ServiceError(service) => {
            matches!(service.err().code(), Some("ValidationException" | "ItemCollectionSizeLimitExceededException"))
        }
        _ => false,
    };
    if permanent { StoreError::Refused(describe(error)) } else { StoreError::Unavailable(describe(error)) }
}

/// A failed `TransactWriteItems` as a store error, by the reasons DynamoDB gives for the
/// cancellation: a condition not met, or another transaction on the same items, is a
/// `Conflict` (load again and re-apply); an item over 400 KB or another validation error is
/// refused for good; throttling may pass.
fn transaction_error(
    error: &SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_smithy_runtime_api::http::Response,
    >,
    conflict: impl FnOnce() -> String,
) -> StoreError {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let SdkError::ServiceError(service) = error else { return sdk_error(error) };
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err() else {
        return sdk_error(error);
    };
    let codes: Vec<&str> = cancelled.cancellation_reasons().iter().filter_map(|reason| reason.code()).collect();
    if codes.iter().any(|code| matches!(*code, "ValidationError" | "ItemCollectionSizeLimitExceeded")) {
        StoreError::Refused(describe(error))
    } else if codes.iter().any(|code| matches!(*code, "ProvisionedThroughputExceeded" | "ThrottlingError"))
        && !codes.iter().any(|code| matches!(*code, "ConditionalCheckFailed" | "TransactionConflict"))
    {
        StoreError::Unavailable(describe(error))
    } else {
        StoreError::Conflict(conflict())
    }
}

/// The message of an SDK error, with the service's own words when it has them.
fn describe<E: std::error::Error + 'static>(error: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> String {
    match error {
        SdkError::ServiceError(service) => {
            let source = service.err();
            format!("{source}: {}", aws_smithy_types::error::display::DisplayErrorContext(source))
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn pipeline_pk(name: &str) -> String {
    format!("PIPELINE#{name}")
}

fn record_pk(kind: &str) -> String {
    format!("RECORD#{kind}")
}

fn execution_pk(id: &str) -> String {
    format!("EXECUTION#{id}")
}

fn job_pk(job: &str) -> String {
    format!("JOB#{job}")
}

fn declaration_sk(version: u32) -> String {
    format!("DECLARATION#{version:010}")
}

fn padded(millis: i64) -> String {
    format!("{:015}", millis.max(0))
}

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("stored item lacks {name}")))
}

fn get_n<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("stored item lacks number {name}")))
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Refused(format!("cannot encode as JSON: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored {what} is unreadable: {e}")))
}

/// What every transaction writes is stored as gzip-compressed JSON (a binary attribute): the
/// head's declaration and state, an execution's body and its outbox entries. Names, ARNs and
/// resolved configurations repeat a lot, and a transaction pays two write units per started
/// KB of each item it touches, a condition check included — so the head a commit only checks
/// costs as much as one it rewrites. Level 6: level 1 left an execution a third larger, level
/// 9 gained nothing more. An item holds at most 400 KB.
fn gzip_json<T: Serialize + ?Sized>(value: &T) -> Result<AttributeValue, StoreError> {
    let json = serde_json::to_vec(value).map_err(|e| StoreError::Refused(format!("cannot encode as JSON: {e}")))?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&json).map_err(refused)?;
    Ok(AttributeValue::B(aws_smithy_types::Blob::new(encoder.finish().map_err(refused)?)))
}

/// Reads a JSON attribute written by `gzip_json`, or as a plain string (items written before
/// compression, and the declaration versions).
fn read_json<T: serde::de::DeserializeOwned>(
    item: &HashMap<String, AttributeValue>,
    name: &str,
    what: &str,
) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::B(blob)) => {
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(blob.as_ref())
                .read_to_end(&mut json)
                .map_err(|e| StoreError::Corrupt(format!("stored {what} is unreadable: {e}")))?;
            serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(format!("stored {what} is unreadable: {e}")))
        }
        Some(AttributeValue::S(text)) => from_json(text, what),
        _ => Err(StoreError::Corrupt(format!("stored item lacks {name}"))),
    }
}

fn pack(execution: &Execution) -> Result<AttributeValue, StoreError> {
    gzip_json(execution)
}

fn unpack(item: &HashMap<String, AttributeValue>) -> Result<Execution, StoreError> {
    read_json(item, "body", "execution")
}

/// The attributes derived from an execution: its place in the indexes and its TTL.
fn derived(execution: &Execution) -> (Vec<(String, AttributeValue)>, Vec<String>) {
    let mut set = vec![
        ("pipeline".to_string(), s(&execution.pipeline_name)),
        ("started_at".to_string(), n(execution.started_at.millis())),
        ("finished".to_string(), AttributeValue::Bool(execution.status.is_finished())),
        ("gsi1pk".to_string(), s(pipeline_pk(&execution.pipeline_name))),
        ("gsi1sk".to_string(), s(format!("{}#{}", padded(execution.started_at.millis()), execution.id))),
    ];
    let mut remove = Vec::new();
    match next_due(execution) {
        Some(due) => {
            set.push(("deadline_pk".to_string(), s(DEADLINE_PARTITION)));
            set.push(("deadline_sk".to_string(), s(format!("{}#{}", padded(due.millis()), execution.id))));
        }
        None => remove.extend(["deadline_pk".to_string(), "deadline_sk".to_string()]),
    }
    if execution.status.is_finished() {
        set.push(("expires_at".to_string(), n(execution.updated_at.millis() / 1000 + HISTORY_SECONDS)));
    } else {
        remove.push("expires_at".to_string());
    }
    (set, remove)
}

/// A conditional write's outcome: written (true), its condition not met (false), or an error.
fn conditional<T, E>(result: Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>) -> Result<bool, StoreError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_conditional_failure(&error) => Ok(false),
        Err(error) => Err(sdk_error(&error)),
    }
}

fn is_conditional_failure<E>(error: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(service) => {
            matches!(service.err().code(), Some("ConditionalCheckFailedException" | "TransactionCanceledException"))
        }
        _ => false,
    }
}

/// One page token: the last key of the page, as base64 JSON.
fn encode_token(key: &HashMap<String, AttributeValue>) -> Option<String> {
    let plain: BTreeMap<&str, &str> =
        key.iter().filter_map(|(k, v)| v.as_s().ok().map(|text| (k.as_str(), text.as_str()))).collect();
    serde_json::to_vec(&plain).ok().map(|json| URL_SAFE_NO_PAD.encode(json))
}

fn decode_token(token: &str) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let json = URL_SAFE_NO_PAD.decode(token).map_err(|_| StoreError::InvalidNextToken)?;
    let plain: BTreeMap<String, String> = serde_json::from_slice(&json).map_err(|_| StoreError::InvalidNextToken)?;
    if !["pk", "sk", "gsi1pk", "gsi1sk"].iter().all(|k| plain.contains_key(*k)) {
        return Err(StoreError::InvalidNextToken);
    }
    Ok(plain.into_iter().map(|(k, v)| (k, s(v))).collect())
}

fn same_structure(a: &PipelineDeclaration, b: &PipelineDeclaration) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    a.version = None;
    b.version = None;
    a == b
}

fn versioned(declaration: &PipelineDeclaration, version: u32) -> PipelineDeclaration {
    let mut stored = declaration.clone();
    stored.version = Some(i64::from(version));
    stored
}

/// The execution an effect belongs to.
pub fn effect_execution(effect: &Effect) -> &str {
    match effect {
        Effect::Dispatch(d) => &d.execution_id,
        Effect::RequestApproval(r) => &r.execution_id,
        Effect::Publish(p) => &p.detail.execution_id,
        Effect::WakeAt(w) => &w.execution_id,
    }
}

/// An execution due for attention: a deadline passed, or effects waiting too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueExecution {
    pub pipeline: String,
    pub execution_id: String,
}

/// Creates the table as template.yaml declares it (for moto and the dev stack).
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, TimeToLiveSpecification,
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(refused)
    };
    let schema = |hash: &str, range: &str| -> Result<Vec<KeySchemaElement>, StoreError> {
        Ok(vec![
            KeySchemaElement::builder().attribute_name(hash).key_type(KeyType::Hash).build().map_err(refused)?,
            KeySchemaElement::builder().attribute_name(range).key_type(KeyType::Range).build().map_err(refused)?,
        ])
    };
    let index =
        |name: &str, hash: &str, range: &str, projection: ProjectionType| -> Result<GlobalSecondaryIndex, StoreError> {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .set_key_schema(Some(schema(hash, range)?))
                .projection(Projection::builder().projection_type(projection).build())
                .build()
                .map_err(refused)
        };
    // The tick needs the pipeline's name along with the execution's key.
    let projected = Projection::builder().projection_type(ProjectionType::Include).non_key_attributes("pipeline");
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(
            ["pk", "sk", "gsi1pk", "gsi1sk", "deadline_pk", "deadline_sk", "outbox_pk", "outbox_sk"]
                .into_iter()
                .map(attribute)
                .collect::<Result<Vec<_>, _>>()?,
        ))
        .set_key_schema(Some(schema("pk", "sk")?))
        .global_secondary_indexes(index(BY_PIPELINE, "gsi1pk", "gsi1sk", ProjectionType::All)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(DEADLINES)
                .set_key_schema(Some(schema("deadline_pk", "deadline_sk")?))
                .projection(projected.clone().build())
                .build()
                .map_err(refused)?,
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(OUTBOX)
                .set_key_schema(Some(schema("outbox_pk", "outbox_sk")?))
                .projection(projected.build())
                .build()
                .map_err(refused)?,
        )
        .send()
        .await
        .map_err(|e| sdk_error(&e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build().map_err(refused)?,
        )
        .send()
        .await
        .map_err(|e| sdk_error(&e))?;
    Ok(())
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        Ok(output.item)
    }

    /// The pipeline's head: its current version, its state and that state's `rev`. The
    /// declarations live in their version items, so the head that every commit checks or
    /// rewrites stays within one KB.
    async fn head(&self, name: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        self.get(&pipeline_pk(name), HEAD).await
    }

    async fn declaration(&self, name: &str, version: u32) -> Result<Option<PipelineDeclaration>, StoreError> {
        let Some(item) = self.get(&pipeline_pk(name), &declaration_sk(version)).await? else { return Ok(None) };
        read_json(&item, "body", "declaration").map(Some)
    }

    /// The executions whose next deadline has passed (the tick fires them).
    pub async fn due_executions(&self, now: Timestamp, limit: i32) -> Result<Vec<DueExecution>, StoreError> {
        self.sparse(DEADLINES, "deadline_pk", DEADLINE_PARTITION, "deadline_sk", now, limit).await
    }

    /// The executions with effects committed before `before` and still not carried out.
    pub async fn pending_outboxes(&self, before: Timestamp, limit: i32) -> Result<Vec<DueExecution>, StoreError> {
        self.sparse(OUTBOX, "outbox_pk", OUTBOX_PARTITION, "outbox_sk", before, limit).await
    }

    async fn sparse(
        &self,
        index: &str,
        pk: &str,
        partition: &str,
        sk: &str,
        until: Timestamp,
        limit: i32,
    ) -> Result<Vec<DueExecution>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk AND #sk <= :until")
            .expression_attribute_names("#pk", pk)
            .expression_attribute_names("#sk", sk)
            .expression_attribute_values(":pk", s(partition))
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
                let pk = get_s(item, "pk")?;
                Ok(DueExecution {
                    pipeline: get_s(item, "pipeline")?.to_string(),
                    execution_id: pk.trim_start_matches("EXECUTION#").to_string(),
                })
            })
            .collect()
    }

    /// The effects an execution's outbox still holds, claimed or not, in commit order: what a
    /// relay publishes again after a crash between commit and publish.
    pub async fn pending_effects(&self, execution_id: &str) -> Result<Vec<Effect>, StoreError> {
        let Some(item) = self.get(&execution_pk(execution_id), EXECUTION).await? else { return Ok(Vec::new()) };
        Ok(Self::outbox_entries(&item)?.into_iter().map(|(_, stored, _)| stored.effect).collect())
    }

    /// Claims a job (or an approval notification) for the one invocation that carries it out:
    /// false while another holds it. A claim lapses after `lease_seconds` unless the work was
    /// handed off, so work lost with a crashed invocation can be claimed again.
    pub async fn claim_job(&self, job: &str, now: Timestamp, lease_seconds: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
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
        let mut held = std::collections::BTreeSet::new();
        for item in self.batch_get(keys).await? {
            let handed_off = item.get("handed_off").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
            let lease_until: i64 = get_n(&item, "lease_until").unwrap_or(0);
            if handed_off || lease_until >= now.millis() {
                held.insert(get_s(&item, "pk")?.trim_start_matches("JOB#").to_string());
            }
        }
        Ok(jobs.iter().filter(|job| !held.contains(*job)).cloned().collect())
    }

    /// The items of `keys` that exist (consistent reads, 100 keys a request, unprocessed
    /// keys asked again).
    async fn batch_get(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
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

    /// Every execution with a deadline ahead or passed: the ones with work in flight.
    pub async fn active_executions(&self, limit: i32) -> Result<Vec<DueExecution>, StoreError> {
        self.sparse(
            DEADLINES,
            "deadline_pk",
            DEADLINE_PARTITION,
            "deadline_sk",
            Timestamp::from_millis(999_999_999_999_999),
            limit,
        )
        .await
    }

    async fn batch_get_executions(&self, ids: &[String]) -> Result<BTreeMap<String, Versioned<Execution>>, StoreError> {
        let keys = ids.iter().map(|id| key(&execution_pk(id), EXECUTION)).collect();
        let mut found = BTreeMap::new();
        for item in self.batch_get(keys).await? {
            let execution = unpack(&item)?;
            let version = get_n(&item, "rev")?;
            found.insert(execution.id.clone(), Versioned { value: execution, version });
        }
        Ok(found)
    }

    /// Ids of a pipeline's executions, newest first, optionally only the unfinished ones.
    async fn execution_ids(&self, pipeline: &str, only_active: bool) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_PIPELINE)
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(pipeline_pk(pipeline)))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take());
            if only_active {
                query = query
                    .filter_expression("finished = :no")
                    .expression_attribute_values(":no", AttributeValue::Bool(false));
            }
            let output = query.send().await.map_err(|e| sdk_error(&e))?;
            for item in output.items.unwrap_or_default() {
                ids.push(get_s(&item, "pk")?.trim_start_matches("EXECUTION#").to_string());
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(ids),
            }
        }
    }

    fn outbox_entries(
        item: &HashMap<String, AttributeValue>,
    ) -> Result<Vec<(String, StoredEffect, Option<String>)>, StoreError> {
        let Some(outbox) = item.get("outbox").and_then(|v| v.as_m().ok()) else { return Ok(Vec::new()) };
        let mut entries = Vec::new();
        for (id, value) in outbox {
            let entry = value.as_m().map_err(|_| StoreError::Corrupt(format!("outbox entry {id} is malformed")))?;
            let stored: StoredEffect = read_json(entry, "effect", "effect")?;
            let claimed_by = entry.get("claimed_by").and_then(|v| v.as_s().ok()).cloned();
            entries.push((id.clone(), stored, claimed_by));
        }
        entries.sort_by_key(|(_, stored, _)| stored.seq);
        Ok(entries)
    }

    /// The `outbox` map entry of an effect.
    fn outbox_value(effect: &Effect, seq: u64) -> Result<AttributeValue, StoreError> {
        let stored = StoredEffect { effect: effect.clone(), seq };
        Ok(AttributeValue::M(HashMap::from([("effect".to_string(), gzip_json(&stored)?)])))
    }
}

impl StateStore for DynamoStore {
    async fn put_pipeline(&self, declaration: &PipelineDeclaration, now: Timestamp) -> Result<PutOutcome, StoreError> {
        let name = declaration.name.as_str();
        for _ in 0..8 {
            let head = self.head(name).await?;
            let (items, outcome) = match head {
                None => {
                    let state = PipelineState::for_declaration(declaration, 1);
                    let stored = versioned(declaration, 1);
                    let head = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(HashMap::from([
                            ("pk".into(), s(pipeline_pk(name))),
                            ("sk".into(), s(HEAD)),
                            ("version".into(), n(1)),
                            ("created".into(), n(now.millis())),
                            ("updated".into(), n(now.millis())),
                            ("state".into(), gzip_json(&state)?),
                            ("rev".into(), n(1)),
                            ("gsi1pk".into(), s(ALL_PIPELINES)),
                            ("gsi1sk".into(), s(name)),
                        ])))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(refused)?;
                    let version = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(HashMap::from([
                            ("pk".into(), s(pipeline_pk(name))),
                            ("sk".into(), s(declaration_sk(1))),
                            ("body".into(), s(to_json(&stored)?)),
                            ("created".into(), n(now.millis())),
                        ])))
                        .build()
                        .map_err(refused)?;
                    (
                        vec![
                            TransactWriteItem::builder().put(head).build(),
                            TransactWriteItem::builder().put(version).build(),
                        ],
                        PutOutcome { version: 1, created: true, changed: true },
                    )
                }
                Some(head) => {
                    let version: u32 = get_n(&head, "version")?;
                    let stored = self.declaration(name, version).await?.ok_or_else(|| {
                        StoreError::Corrupt(format!("pipeline {name} lacks its declaration version {version}"))
                    })?;
                    if same_structure(&stored, declaration) {
                        return Ok(PutOutcome { version, created: false, changed: false });
                    }
                    let next = version + 1;
                    let stored = versioned(declaration, next);
                    let update = Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(&pipeline_pk(name), HEAD)))
                        .update_expression("SET version = :next, updated = :now")
                        .condition_expression("version = :seen")
                        .expression_attribute_values(":next", n(next))
                        .expression_attribute_values(":now", n(now.millis()))
                        .expression_attribute_values(":seen", n(version))
                        .build()
                        .map_err(refused)?;
                    let stored_version = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(HashMap::from([
                            ("pk".into(), s(pipeline_pk(name))),
                            ("sk".into(), s(declaration_sk(next))),
                            ("body".into(), s(to_json(&stored)?)),
                            ("created".into(), n(now.millis())),
                        ])))
                        .build()
                        .map_err(refused)?;
                    (
                        vec![
                            TransactWriteItem::builder().update(update).build(),
                            TransactWriteItem::builder().put(stored_version).build(),
                        ],
                        PutOutcome { version: next, created: false, changed: true },
                    )
                }
            };
            match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                Ok(_) => return Ok(outcome),
                Err(error) => match transaction_error(&error, String::new) {
                    StoreError::Conflict(_) => continue,
                    other => return Err(other),
                },
            }
        }
        Err(StoreError::Conflict(format!("pipeline {name} kept changing while it was stored")))
    }

    async fn get_pipeline(&self, name: &str, version: Option<u32>) -> Result<Option<StoredPipeline>, StoreError> {
        let Some(head) = self.head(name).await? else { return Ok(None) };
        let current: u32 = get_n(&head, "version")?;
        let version = version.unwrap_or(current);
        if version > current {
            return Ok(None);
        }
        let Some(item) = self.get(&pipeline_pk(name), &declaration_sk(version)).await? else { return Ok(None) };
        Ok(Some(StoredPipeline {
            declaration: read_json(&item, "body", "declaration")?,
            version,
            created: Timestamp::from_millis(get_n(&head, "created")?),
            updated: Timestamp::from_millis(get_n(&item, "created")?),
        }))
    }

    async fn list_pipelines(&self) -> Result<Vec<StoredPipeline>, StoreError> {
        let mut heads = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_PIPELINE)
                .key_condition_expression("gsi1pk = :all")
                .expression_attribute_values(":all", s(ALL_PIPELINES))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
            for head in output.items.unwrap_or_default() {
                heads.push((
                    get_s(&head, "gsi1sk")?.to_string(),
                    get_n::<u32>(&head, "version")?,
                    Timestamp::from_millis(get_n(&head, "created")?),
                ));
            }
            match output.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        let keys = heads.iter().map(|(name, version, _)| key(&pipeline_pk(name), &declaration_sk(*version))).collect();
        let mut declarations = HashMap::new();
        for item in self.batch_get(keys).await? {
            declarations.insert((get_s(&item, "pk")?.to_string(), get_s(&item, "sk")?.to_string()), item);
        }
        let mut pipelines = Vec::new();
        for (name, version, created) in heads {
            // A pipeline deleted between the index query and the read is gone.
            let Some(item) = declarations.remove(&(pipeline_pk(&name), declaration_sk(version))) else { continue };
            pipelines.push(StoredPipeline {
                declaration: read_json(&item, "body", "declaration")?,
                version,
                created,
                updated: Timestamp::from_millis(get_n(&item, "created")?),
            });
        }
        pipelines.sort_by(|a, b| a.declaration.name.cmp(&b.declaration.name));
        Ok(pipelines)
    }

    async fn delete_pipeline(&self, name: &str) -> Result<(), StoreError> {
        let mut keys: Vec<(String, String)> = self
            .execution_ids(name, false)
            .await?
            .into_iter()
            .map(|id| (execution_pk(&id), EXECUTION.to_string()))
            .collect();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pipeline_pk(name)))
            .projection_expression("pk, sk")
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        for item in output.items.unwrap_or_default() {
            keys.push((get_s(&item, "pk")?.to_string(), get_s(&item, "sk")?.to_string()));
        }
        for (pk, sk) in keys {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(&pk, &sk)))
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
        }
        Ok(())
    }

    async fn load(&self, pipeline: &str, event: &Event) -> Result<Snapshot, StoreError> {
        let head = self.head(pipeline).await?.ok_or_else(|| StoreError::NotFound(format!("pipeline {pipeline}")))?;
        let state: PipelineState = read_json(&head, "state", "pipeline state")?;
        let needs = executions_needed(&state, event);
        let mut ids: Vec<String> = needs.executions.into_iter().collect();
        if needs.all_active {
            ids.extend(self.execution_ids(pipeline, true).await?);
            ids.sort();
            ids.dedup();
        }
        let mut executions = self.batch_get_executions(&ids).await?;
        // An execution named by an event of another pipeline is not this pipeline's to change.
        executions.retain(|_, v| v.value.pipeline_name == pipeline);
        Ok(Snapshot {
            declaration_version: get_n(&head, "version")?,
            state: Versioned { value: state, version: get_n(&head, "rev")? },
            executions,
        })
    }

    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        let mut items = Vec::new();
        let head_key = key(&pipeline_pk(&changes.pipeline), HEAD);
        let expected = n(changes.expected_state_version);
        items.push(match &changes.state {
            Some(state) => TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(head_key))
                        .update_expression("SET #state = :state, rev = rev + :one")
                        .condition_expression("rev = :expected")
                        .expression_attribute_names("#state", "state")
                        .expression_attribute_values(":state", gzip_json(state)?)
                        .expression_attribute_values(":one", n(1))
                        .expression_attribute_values(":expected", expected)
                        .build()
                        .map_err(refused)?,
                )
                .build(),
            None => TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(head_key))
                        .condition_expression("rev = :expected")
                        .expression_attribute_values(":expected", expected)
                        .build()
                        .map_err(refused)?,
                )
                .build(),
        });

        // Effects go into the outbox of the execution they concern, ordered by `seq`.
        let mut effects: HashMap<&str, Vec<(&Effect, u64)>> = HashMap::new();
        for (index, effect) in changes.effects.iter().enumerate() {
            effects.entry(effect_execution(effect)).or_default().push((effect, index as u64));
        }
        for (execution, expected) in &changes.executions {
            let own = effects.remove(execution.id.as_str()).unwrap_or_default();
            let base = execution.updated_at.millis().max(0) as u64 * 1000;
            let (set, remove) = derived(execution);
            match expected {
                None => {
                    let mut outbox = HashMap::new();
                    for (effect, index) in &own {
                        outbox.insert(effect.id().to_string(), Self::outbox_value(effect, base + index)?);
                    }
                    let mut item = key(&execution_pk(&execution.id), EXECUTION);
                    item.insert("rev".into(), n(1));
                    item.insert("body".into(), pack(execution)?);
                    item.insert("outbox".into(), AttributeValue::M(outbox));
                    item.extend(set);
                    if !own.is_empty() {
                        item.insert("outbox_pk".into(), s(OUTBOX_PARTITION));
                        item.insert(
                            "outbox_sk".into(),
                            s(format!("{}#{}", padded(execution.updated_at.millis()), execution.id)),
                        );
                    }
                    items.push(
                        TransactWriteItem::builder()
                            .put(
                                Put::builder()
                                    .table_name(&self.table)
                                    .set_item(Some(item))
                                    .condition_expression("attribute_not_exists(pk)")
                                    .build()
                                    .map_err(refused)?,
                            )
                            .build(),
                    );
                }
                Some(version) => {
                    let mut names = HashMap::new();
                    let mut values = HashMap::from([
                        (":body".to_string(), pack(execution)?),
                        (":one".to_string(), n(1)),
                        (":expected".to_string(), n(version)),
                    ]);
                    let mut sets = vec!["body = :body".to_string(), "rev = rev + :one".to_string()];
                    for (i, (name, value)) in set.into_iter().enumerate() {
                        names.insert(format!("#a{i}"), name);
                        values.insert(format!(":a{i}"), value);
                        sets.push(format!("#a{i} = :a{i}"));
                    }
                    let mut removes = Vec::new();
                    for (i, name) in remove.into_iter().enumerate() {
                        names.insert(format!("#r{i}"), name);
                        removes.push(format!("#r{i}"));
                    }
                    for (i, (effect, index)) in own.iter().enumerate() {
                        names.insert(format!("#e{i}"), effect.id().to_string());
                        values.insert(format!(":e{i}"), Self::outbox_value(effect, base + index)?);
                        sets.push(format!("outbox.#e{i} = :e{i}"));
                    }
                    if !own.is_empty() {
                        values.insert(":outbox_pk".into(), s(OUTBOX_PARTITION));
                        values.insert(
                            ":outbox_sk".into(),
                            s(format!("{}#{}", padded(execution.updated_at.millis()), execution.id)),
                        );
                        sets.push("outbox_pk = :outbox_pk".into());
                        sets.push("outbox_sk = :outbox_sk".into());
                    }
                    let own_ids: Vec<&str> = own.iter().map(|(e, _)| e.id()).collect();
                    for (i, id) in
                        changes.completed_effects.iter().filter(|id| !own_ids.contains(&id.as_str())).enumerate()
                    {
                        names.insert(format!("#c{i}"), id.clone());
                        removes.push(format!("outbox.#c{i}"));
                    }
                    let mut expression = format!("SET {}", sets.join(", "));
                    if !removes.is_empty() {
                        expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
                    }
                    items.push(
                        TransactWriteItem::builder()
                            .update(
                                Update::builder()
                                    .table_name(&self.table)
                                    .set_key(Some(key(&execution_pk(&execution.id), EXECUTION)))
                                    .update_expression(expression)
                                    .condition_expression("rev = :expected")
                                    .set_expression_attribute_names((!names.is_empty()).then_some(names))
                                    .set_expression_attribute_values(Some(values))
                                    .build()
                                    .map_err(refused)?,
                            )
                            .build(),
                    );
                }
            }
        }
        if let Some((execution, _)) = effects.into_iter().next() {
            return Err(StoreError::Refused(format!(
                "an effect concerns execution {execution}, which this change does not write"
            )));
        }
        // Where each dispatched job belongs, for the job workers' results; kept as long as
        // the execution's history.
        for effect in &changes.effects {
            if let Effect::Dispatch(dispatch) = effect {
                let mut item = key(&job_pk(&dispatch.job_id), JOB);
                item.insert("pipeline".into(), s(&changes.pipeline));
                item.insert("execution".into(), s(&dispatch.execution_id));
                item.insert("expires_at".into(), n(dispatch.deadline.millis() / 1000 + HISTORY_SECONDS));
                items.push(
                    TransactWriteItem::builder()
                        .put(Put::builder().table_name(&self.table).set_item(Some(item)).build().map_err(refused)?)
                        .build(),
                );
            }
        }
        if items.len() > 100 {
            return Err(StoreError::Refused(format!(
                "a change of {} items exceeds DynamoDB's 100 per transaction",
                items.len()
            )));
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(error) => {
                Err(transaction_error(&error, || format!("pipeline {} changed since it was read", changes.pipeline)))
            }
        }
    }

    async fn put_record_if_absent(&self, kind: &str, key: &str, value: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(record_pk(kind)))
            .item("sk", s(key))
            .item("value", s(value))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional(result)
    }

    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        let Some(item) = self.get(&record_pk(kind), key).await? else { return Ok(None) };
        Ok(Some(get_s(&item, "value")?.to_string()))
    }

    async fn list_records(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(record_pk(kind)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
            for item in output.items.unwrap_or_default() {
                records.push((get_s(&item, "sk")?.to_string(), get_s(&item, "value")?.to_string()));
            }
            start = output.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return Ok(records);
            }
        }
    }

    async fn delete_record(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self::key(&record_pk(kind), key)))
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        Ok(())
    }

    async fn find_job(&self, job_id: &str) -> Result<Option<JobLocation>, StoreError> {
        let Some(item) = self.get(&job_pk(job_id), JOB).await? else { return Ok(None) };
        Ok(Some(JobLocation {
            pipeline: get_s(&item, "pipeline")?.to_string(),
            execution_id: get_s(&item, "execution")?.to_string(),
        }))
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Versioned<Execution>>, StoreError> {
        let Some(item) = self.get(&execution_pk(id), EXECUTION).await? else { return Ok(None) };
        Ok(Some(Versioned { value: unpack(&item)?, version: get_n(&item, "rev")? }))
    }

    async fn list_executions(
        &self,
        pipeline: &str,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<Page<Execution>, StoreError> {
        let start = next_token.map(decode_token).transpose()?;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_PIPELINE)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(pipeline_pk(pipeline)))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        let items = output.items.unwrap_or_default().iter().map(unpack).collect::<Result<Vec<_>, _>>()?;
        let next_token = output.last_evaluated_key.filter(|k| !k.is_empty()).and_then(|k| encode_token(&k));
        Ok(Page { items, next_token })
    }

    async fn claim_effects(&self, execution_id: &str, owner: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        for _ in 0..8 {
            let Some(item) = self.get(&execution_pk(execution_id), EXECUTION).await? else { return Ok(Vec::new()) };
            let pipeline = get_s(&item, "pipeline")?.to_string();
            let free: Vec<(String, StoredEffect)> = Self::outbox_entries(&item)?
                .into_iter()
                .filter(|(_, _, claimed)| claimed.is_none())
                .map(|(id, stored, _)| (id, stored))
                .collect();
            if free.is_empty() {
                return Ok(Vec::new());
            }
            let mut names = HashMap::new();
            let mut sets = Vec::new();
            let mut conditions = Vec::new();
            for (i, (id, _)) in free.iter().enumerate() {
                names.insert(format!("#e{i}"), id.clone());
                sets.push(format!("outbox.#e{i}.claimed_by = :owner"));
                conditions
                    .push(format!("attribute_exists(outbox.#e{i}) AND attribute_not_exists(outbox.#e{i}.claimed_by)"));
            }
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
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
                        .map(|(id, stored)| OutboxEntry {
                            id,
                            pipeline: pipeline.clone(),
                            execution_id: execution_id.to_string(),
                            effect: stored.effect,
                        })
                        .collect());
                }
                // Another claimer or a commit moved the outbox: look again.
                Err(error) if is_conditional_failure(&error) => continue,
                Err(error) => return Err(sdk_error(&error)),
            }
        }
        Err(StoreError::Conflict(format!("the outbox of execution {execution_id} kept changing")))
    }

    async fn complete_effects(&self, execution_id: &str, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut names: HashMap<String, String> = HashMap::new();
        let removes: Vec<String> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                names.insert(format!("#c{i}"), id.clone());
                format!("outbox.#c{i}")
            })
            .collect();
        // When these are the last entries, the execution leaves the outbox index too.
        let last = self
            .client
            .update_item()
            .table_name(&self.table)
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
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
                    .update_expression(format!("REMOVE {}", removes.join(", ")))
                    .condition_expression("attribute_exists(pk)")
                    .set_expression_attribute_names(Some(names))
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(error) if is_conditional_failure(&error) => Ok(()),
                    Err(error) => Err(sdk_error(&error)),
                }
            }
            Err(error) => Err(sdk_error(&error)),
        }
    }

    async fn release_effects(&self, execution_id: &str, owner: &str) -> Result<(), StoreError> {
        let Some(item) = self.get(&execution_pk(execution_id), EXECUTION).await? else { return Ok(()) };
        let held: Vec<String> = Self::outbox_entries(&item)?
            .into_iter()
            .filter(|(_, _, claimed)| claimed.as_deref() == Some(owner))
            .map(|(id, _, _)| id)
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        let mut names = HashMap::new();
        let removes: Vec<String> = held
            .iter()
            .enumerate()
            .map(|(i, id)| {
                names.insert(format!("#e{i}"), id.clone());
                format!("outbox.#e{i}.claimed_by")
            })
            .collect();
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&execution_pk(execution_id), EXECUTION)))
            .update_expression(format!("REMOVE {}", removes.join(", ")))
            .set_expression_attribute_names(Some(names))
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_attributes_are_compressed_and_plain_strings_still_read() {
        let value = serde_json::json!({"stages": ["Source", "Build", "Deploy"], "name": "x".repeat(500)});
        let item = HashMap::from([("state".to_string(), gzip_json(&value).unwrap())]);
        let Some(AttributeValue::B(blob)) = item.get("state") else { panic!("not binary: {item:?}") };
        assert!(blob.as_ref().len() < 200, "500 repeated bytes compress: {}", blob.as_ref().len());
        assert_eq!(read_json::<serde_json::Value>(&item, "state", "state").unwrap(), value);

        let plain = HashMap::from([("state".to_string(), s(value.to_string()))]);
        assert_eq!(read_json::<serde_json::Value>(&plain, "state", "state").unwrap(), value);
    }

    /// Why DynamoDB cancelled a transaction decides whether to reload, retry or give up.
    #[test]
    fn cancelled_transactions_are_classified_by_their_reasons() {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::CancellationReason;
        use aws_sdk_dynamodb::types::error::TransactionCanceledException;
        let cancelled = |codes: &[&str]| {
            let mut exception = TransactionCanceledException::builder().message("cancelled");
            for code in codes {
                exception = exception.cancellation_reasons(CancellationReason::builder().code(*code).build());
            }
            let response = aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::empty(),
            );
            let error = SdkError::service_error(
                TransactWriteItemsError::TransactionCanceledException(exception.build()),
                response,
            );
            transaction_error(&error, || "moved".to_string())
        };
        assert_eq!(cancelled(&["None", "ConditionalCheckFailed"]), StoreError::Conflict("moved".into()));
        assert_eq!(cancelled(&["TransactionConflict"]), StoreError::Conflict("moved".into()));
        assert_eq!(cancelled(&[]), StoreError::Conflict("moved".into()));
        assert!(matches!(cancelled(&["None", "ValidationError"]), StoreError::Refused(_)));
        assert!(matches!(cancelled(&["ItemCollectionSizeLimitExceeded"]), StoreError::Refused(_)));
        assert!(matches!(cancelled(&["ThrottlingError", "None"]), StoreError::Unavailable(_)));
    }

    #[test]
    fn unreadable_json_attributes_are_errors_naming_them() {
        let garbage =
            HashMap::from([("state".to_string(), AttributeValue::B(aws_smithy_types::Blob::new(b"no gzip")))]);
        let error = read_json::<serde_json::Value>(&garbage, "state", "pipeline state").unwrap_err();
        assert!(error.is_permanent(), "{error}");
        let error = error.to_string();
        assert!(error.contains("stored pipeline state is unreadable"), "{error}");
        let missing =
            read_json::<serde_json::Value>(&HashMap::new(), "state", "pipeline state").unwrap_err().to_string();
        assert!(missing.contains("lacks state"), "{missing}");
        let number = HashMap::from([("state".to_string(), n(1))]);
        assert!(read_json::<serde_json::Value>(&number, "state", "pipeline state").is_err());
    }
}
