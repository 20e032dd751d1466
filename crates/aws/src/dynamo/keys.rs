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

/// How far before an execution's next deadline its `deadlines` entry is put when the entry
/// moves, and how far after the entry that deadline may go before it moves again. The tick
/// reads every active execution each minute anyway (for work nobody claimed) and fires what
/// is due from what it reads, so the entry only orders the executions it reads first when
/// there are more than a tick serves; an entry early by up to the span costs nothing, while
/// each move rewrites the index entry (a delete and a put). Each stage's new attempts move
/// the next deadline by the time since the last ones started, and providers' timeouts differ
/// (an S3 source's hour, a Commands build's 55 minutes, an S3 deploy's 90): an entry put 15
/// minutes ahead of the deadline and kept for two hours after it outlasts most executions.
pub(super) const DEADLINE_LEAD_MILLIS: i64 = 15 * 60 * 1000;
pub(super) const DEADLINE_SPAN_MILLIS: i64 = 2 * 3600 * 1000;

/// Where an execution's `deadlines` entry goes, given its next deadline (`due`, none when
/// nothing is in flight) and where its entry is now (`kept`): it stays while the deadline is
/// within [`DEADLINE_SPAN_MILLIS`] after it and not before it, and otherwise moves to
/// [`DEADLINE_LEAD_MILLIS`] before the deadline. Never after the deadline, so an entry never
/// hides a deadline from a tick that reads entries in order.
pub(super) fn deadline_entry(due: Option<Timestamp>, kept: Option<Timestamp>) -> Option<Timestamp> {
    let due = due?;
    match kept {
        Some(entry) if entry <= due && due.millis() - entry.millis() <= DEADLINE_SPAN_MILLIS => Some(entry),
        _ => Some(Timestamp::from_millis(due.millis() - DEADLINE_LEAD_MILLIS)),
    }
}

/// Where an execution item's `deadlines` entry is, from its `deadline_sk` (`<padded millis>#<id>`).
pub(super) fn deadline_entry_of(item: &Item) -> Option<Timestamp> {
    let sk = item.get("deadline_sk")?.as_s().ok()?;
    let (millis, _) = sk.split_once('#')?;
    millis.parse().ok().map(Timestamp::from_millis)
}

/// The attributes derived from an execution, whose `deadlines` entry is at `kept` before this
/// write: its place in the indexes and its TTL. The attributes to set, those to remove (it
/// left an index), and where its `deadlines` entry is after the write. An entry that stays is
/// set again to the same value, which writes nothing to the index, so that an execution the
/// tick set aside at this version comes back into the index with its next commit.
pub(super) fn derived(execution: &Execution, kept: Option<Timestamp>) -> Derived {
    let mut set = vec![
        ("pipeline".to_string(), s(&execution.pipeline_name)),
        ("started_at".to_string(), n(execution.started_at.millis())),
        ("finished".to_string(), AttributeValue::Bool(execution.status.is_finished())),
        ("gsi1pk".to_string(), s(pipeline_pk(&execution.pipeline_name))),
        ("gsi1sk".to_string(), s(timed(execution.started_at, &execution.id))),
    ];
    let mut remove = Vec::new();
    let entry = deadline_entry(next_due(execution), kept);
    match entry {
        Some(at) => {
            set.push(("deadline_pk".to_string(), s(DEADLINE_PARTITION)));
            set.push(("deadline_sk".to_string(), s(timed(at, &execution.id))));
        }
        None => remove.extend(["deadline_pk".to_string(), "deadline_sk".to_string()]),
    }
    if execution.status.is_finished() {
        set.push(("expires_at".to_string(), n(execution.updated_at.millis() / 1000 + HISTORY_SECONDS)));
    } else {
        remove.push("expires_at".to_string());
    }
    Derived { set, remove, deadline_entry: entry }
}

/// What [`derived`] gives a write of an execution item.
pub(super) struct Derived {
    pub set: Vec<(String, AttributeValue)>,
    pub remove: Vec<String>,
    /// Where the item's `deadlines` entry is once written.
    pub deadline_entry: Option<Timestamp>,
}

/// The partition of the outbox batches: one item per commit with effects, sorted by
/// execution (`<execution id>#<digest of its effects' ids>`), so that one query finds an execution's
/// batches and one query of the partition finds every batch the tick must look at, with no
/// index entry to write. (Executions written before batches keep their effects in their own
/// item's `outbox` map, listed by the `outbox` index.)
pub(super) const OUTBOX_BATCHES: &str = "OUTBOX";

/// The sort key of an execution's outbox batch of the effects `ids` (in commit order), as
/// batches written in their commit's transaction were keyed: a relay that completes exactly
/// these finds such a batch without reading it.
pub(super) fn batch_sk<'a>(execution_id: &str, ids: impl IntoIterator<Item = &'a str>) -> String {
    batch_sk_of(execution_id, &ids_digest(ids))
}

/// [`batch_sk`] of the ids whose digest is `digest`.
pub(super) fn batch_sk_of(execution_id: &str, digest: &[u8; 16]) -> String {
    format!("{}{}", batch_prefix(execution_id), hex(digest))
}

/// The sort key of a batch written before its commit, which makes the execution's `rev`
/// `rev`: its ids' digest, then that `rev`, so that two commits of the same effects (a
/// dispatch sent again) are two items, and two writers of the same commit (an event delivered
/// twice at once) write one.
pub(super) fn batch_sk_at(execution_id: &str, digest: &[u8; 16], rev: u64) -> String {
    format!("{}@{rev}", batch_sk_of(execution_id, digest))
}

/// A digest of effect ids (in order): 16 bytes.
pub(super) fn ids_digest<'a>(ids: impl IntoIterator<Item = &'a str>) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for id in ids {
        hasher.update(id.as_bytes());
        hasher.update(b"\n");
    }
    let mut digest = [0; 16];
    digest.copy_from_slice(&hasher.finalize()[..16]);
    digest
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The first three bytes of the ids' digest a batch's sort key names (`batch_sk_at`), as the
/// execution item remembers its batch commits (`core::outbox_fate`).
pub(super) fn batch_digest(sk: &str) -> Option<[u8; 3]> {
    let (_, named) = sk.split_once('#')?;
    let byte = |at: usize| u8::from_str_radix(named.get(at..at + 2)?, 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// The execution of an outbox batch's sort key.
pub(super) fn execution_of_batch(sk: &str) -> &str {
    sk.rsplit_once('#').map_or(sk, |(execution, _)| execution)
}

/// What every sort key of an execution's outbox batches begins with.
pub(super) fn batch_prefix(execution_id: &str) -> String {
    format!("{execution_id}#")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_millis(minutes * 60_000)
    }

    #[test]
    fn a_new_entry_goes_a_lead_ahead_of_the_deadline() {
        assert_eq!(deadline_entry(Some(at(60)), None), Some(at(45)));
        assert_eq!(deadline_entry(None, Some(at(45))), None, "nothing in flight: out of the index");
    }

    #[test]
    fn the_entry_stays_while_the_deadline_is_within_its_span() {
        let entry = Some(at(45));
        for minutes in [45, 55, 60, 90, 165] {
            assert_eq!(deadline_entry(Some(at(minutes)), entry), entry, "deadline at {minutes} min");
        }
    }

    #[test]
    fn the_entry_moves_when_the_deadline_leaves_its_span_either_way() {
        assert_eq!(deadline_entry(Some(at(44)), Some(at(45))), Some(at(29)), "earlier than the entry");
        assert_eq!(deadline_entry(Some(at(166)), Some(at(45))), Some(at(151)), "past the span");
    }

    #[test]
    fn an_entry_is_never_after_the_deadline() {
        for kept in [None, Some(at(0)), Some(at(30)), Some(at(200))] {
            for due in [0, 10, 29, 31, 100, 150, 151, 400] {
                let entry = deadline_entry(Some(at(due)), kept).unwrap();
                assert!(entry <= at(due), "kept {kept:?}, due {due} min: {entry:?}");
            }
        }
    }

    #[test]
    fn the_entry_is_read_back_from_its_sort_key() {
        let item = HashMap::from([("deadline_sk".to_string(), s(timed(at(45), "e1")))]);
        assert_eq!(deadline_entry_of(&item), Some(at(45)));
        assert_eq!(deadline_entry_of(&HashMap::new()), None);
    }
}
