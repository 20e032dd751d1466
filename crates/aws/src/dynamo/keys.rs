//! Where everything lives in the one table: the key of each kind of item, the index keys an
//! execution carries, and how long items are kept (module docs of `dynamo` show the layout).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use pipewright_core::engine::{Execution, next_due};
use pipewright_core::storage::Cursor;
use pipewright_core::time::Timestamp;

use super::codec::{Item, n, s};

/// A pipeline's executions newest first, and every pipeline head. It projects only what never
/// changes after an item is written, or changes once (`finished`), so that a commit does not
/// rewrite an execution's entry; a listing reads the items themselves. (It replaced
/// `by_pipeline`, which projected every attribute: docs/deploy.md, "Upgrading".)
pub const LISTING: &str = "listing";
/// The attributes `LISTING` projects besides the keys.
pub const LISTING_ATTRIBUTES: [&str; 4] = ["started_at", "finished", "version", "created"];
pub const DEADLINES: &str = "deadlines";
pub const OUTBOX: &str = "outbox";
/// Every pipeline head sits under this key of `listing`.
pub(super) const ALL_PIPELINES: &str = "PIPELINES";
pub(super) const HEAD: &str = "HEAD";
pub(super) const EXECUTION: &str = "EXECUTION";
pub(super) const JOB: &str = "JOB";
pub(super) const CLAIM: &str = "CLAIM";
/// The single partition of each sparse index (a few thousand active executions fit one).
pub(super) const DEADLINE_PARTITION: &str = "DEADLINE";
/// `outbox`'s partition: only executions written before outbox batches are in it.
pub(super) const OUTBOX_PARTITION: &str = "OUTBOX";
/// Finished executions are kept 12 months, as CodePipeline keeps its history.
pub(super) const HISTORY_SECONDS: i64 = 365 * 24 * 3600;
/// A claim on an outbox entry or a job is kept a week.
pub const CLAIM_SECONDS: i64 = 7 * 24 * 3600;

const EXECUTION_PREFIX: &str = "EXECUTION#";
const JOB_PREFIX: &str = "JOB#";

pub(super) fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(super) fn pipeline_pk(name: &str) -> String {
    format!("PIPELINE#{name}")
}

pub(super) fn record_pk(kind: &str) -> String {
    format!("RECORD#{kind}")
}

pub(super) fn execution_pk(id: &str) -> String {
    format!("{EXECUTION_PREFIX}{id}")
}

pub(super) fn job_pk(job: &str) -> String {
    format!("{JOB_PREFIX}{job}")
}

/// The execution id of an execution item's `pk`.
pub(super) fn execution_of(pk: &str) -> &str {
    pk.trim_start_matches(EXECUTION_PREFIX)
}

/// The job id of a job item's `pk`.
pub(super) fn job_of(pk: &str) -> &str {
    pk.trim_start_matches(JOB_PREFIX)
}

pub(super) fn declaration_sk(version: u32) -> String {
    format!("DECLARATION#{version:010}")
}

/// Milliseconds as a sort key: zero-padded, so that string order is time order.
pub(super) fn padded(millis: i64) -> String {
    format!("{:015}", millis.max(0))
}

/// An execution's sort key in a time-ordered index: `<padded millis>#<id>`.
pub(super) fn timed(at: Timestamp, execution_id: &str) -> String {
    format!("{}#{execution_id}", padded(at.millis()))
}

/// The key `listing` continues a listing after: the execution a cursor names.
pub(super) fn listing_start(pipeline: &str, cursor: &Cursor) -> Item {
    let mut start = key(&execution_pk(&cursor.key), EXECUTION);
    start.insert("gsi1pk".into(), s(pipeline_pk(pipeline)));
    start.insert("gsi1sk".into(), s(timed(Timestamp::from_millis(cursor.started_at), &cursor.key)));
    start
}

/// The attributes derived from an execution: its place in the indexes and its TTL. The
/// attributes to set, and those to remove (it left an index).
pub(super) fn derived(execution: &Execution) -> (Vec<(String, AttributeValue)>, Vec<String>) {
    let mut set = vec![
        ("pipeline".to_string(), s(&execution.pipeline_name)),
        ("started_at".to_string(), n(execution.started_at.millis())),
        ("finished".to_string(), AttributeValue::Bool(execution.status.is_finished())),
        ("gsi1pk".to_string(), s(pipeline_pk(&execution.pipeline_name))),
        ("gsi1sk".to_string(), s(timed(execution.started_at, &execution.id))),
    ];
    let mut remove = Vec::new();
    match next_due(execution) {
        Some(due) => {
            set.push(("deadline_pk".to_string(), s(DEADLINE_PARTITION)));
            set.push(("deadline_sk".to_string(), s(timed(due, &execution.id))));
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

/// The partition of the outbox batches: one item per commit with effects, sorted by
/// execution (`<execution id>#<digest of its effects' ids>`), so that one query finds an execution's
/// batches and one query of the partition finds every batch the tick must look at, with no
/// index entry to write. (Executions written before batches keep their effects in their own
/// item's `outbox` map, listed by the `outbox` index.)
pub(super) const OUTBOX_BATCHES: &str = "OUTBOX";

/// The sort key of an execution's outbox batch of the effects `ids` (in commit order): a
/// relay that completes exactly these finds the batch without reading it.
pub(super) fn batch_sk<'a>(execution_id: &str, ids: impl IntoIterator<Item = &'a str>) -> String {
    format!("{}{}", batch_prefix(execution_id), ids_digest(ids))
}

/// A digest of effect ids (in order): 16 bytes, as hex.
fn ids_digest<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for id in ids {
        hasher.update(id.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize()[..16].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The execution of an outbox batch's sort key.
pub(super) fn execution_of_batch(sk: &str) -> &str {
    sk.rsplit_once('#').map_or(sk, |(execution, _)| execution)
}

/// What every sort key of an execution's outbox batches begins with.
pub(super) fn batch_prefix(execution_id: &str) -> String {
    format!("{execution_id}#")
}
