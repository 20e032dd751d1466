//! A change of the pipeline head and of one execution, committed as two conditional writes
//! instead of one transaction (which bills both items twice): the head first, with a marker
//! naming the execution's commit it waits for and the state it replaced, then the execution,
//! which records the head's `rev` (`headed`). Every read of the head asks the marker's fate
//! (`core::head_fate`): the new state holds once the execution's write happened, the state
//! replaced holds when it cannot happen any more. A reader that must decide on the state and
//! finds the commit still under way waits a little, then fences the writer off by moving the
//! execution's `rev` past the one it read (docs/ARCHITECTURE.md, "A head change before its
//! commit").

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Update};

use pipewright_core::backoff::Policy;
use pipewright_core::engine::PipelineState;
use pipewright_core::head_fate::{self, HeadChange, HeadFate, Stored};
use pipewright_core::ports::{StateStore, StoreError};
use pipewright_core::time::Timestamp;

use super::DynamoStore;
use super::codec::{Item, compressed_json, get_n, get_s, n, read_json, s};
use super::errors::{conditional, refused};
use super::kept::Kept;
use super::keys::{EXECUTION, execution_pk, key};

/// On the head: the execution whose commit the state waits for, the `rev` it makes, and the
/// head's `rev` the change made. A marker whose `pending_at` is not the head's `rev` is left
/// from before a write that did not know markers (a function of an earlier version during a
/// `sam deploy`): that write's state holds.
pub(super) const PENDING_EXECUTION: &str = "pending_execution";
pub(super) const PENDING_REV: &str = "pending_rev";
pub(super) const PENDING_AT: &str = "pending_at";
/// On the head: the state the change replaced, which holds if the commit never happens.
pub(super) const BEFORE: &str = "before";
/// On an execution: the head `rev` of the last head change its commit went with.
pub(super) const HEADED: &str = "headed";
/// On the item a reader puts in place of an execution whose start it fences off: the head
/// `rev` of that start's change. No execution is read from it, and a start of that execution
/// decided on a later head replaces it (`transaction::new_execution`).
pub(super) const FENCED: &str = "fenced";
/// How long such an item is kept when no start replaces it.
const FENCED_SECONDS: i64 = 24 * 3600;

/// How a reader that must decide waits for a head change still under way before it fences
/// the writer off: the writer's execution write follows its head write by two requests (its
/// outbox batch between them), so a live writer is seldom fenced off (it would then load and
/// decide again); a gone one holds the pipeline's changes up for at most 150 ms.
pub(super) const UNDER_WAY: Policy =
    Policy { first: Duration::from_millis(10), cap: Duration::from_millis(80), retries: 4 };

/// The marker of a head item at `rev`, if it has one.
pub(super) struct Marker {
    pub execution_id: String,
    pub change: HeadChange,
    pub before: PipelineState,
}

pub(super) fn marker(head: &Item, rev: u64) -> Result<Option<Marker>, StoreError> {
    if !head.contains_key(PENDING_EXECUTION) || get_n::<u64>(head, PENDING_AT)? != rev {
        return Ok(None);
    }
    Ok(Some(Marker {
        execution_id: get_s(head, PENDING_EXECUTION)?.to_string(),
        change: HeadChange { head_rev: rev, makes_rev: get_n(head, PENDING_REV)? },
        before: read_json(head, BEFORE, "pipeline state replaced")?,
    }))
}

/// Whether an execution item is one a reader put in place of an execution whose start it
/// fenced off (no execution is read from it).
pub(super) fn is_fence(item: &Item) -> bool {
    item.contains_key(FENCED)
}

/// Whether a load is for a decision (a commit may follow: a head change still under way is
/// waited for, then fenced off) or only to show the state (the state it replaced is shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Decide,
    Show,
}

/// What a load makes of the head it read.
pub(super) enum Settled {
    /// The state that holds.
    Holds(PipelineState),
    /// Read the head again: its change was under way (waited for, or now fenced off).
    ReadAgain,
}

/// The state that holds at a head read with `stored` and `marker`, given the items `seen`
/// (each execution's `rev` and `headed`, the marker's among them), on the load's `attempt`th
/// read: a change under way is waited for ([`UNDER_WAY`]), then its writer fenced off.
pub(super) async fn settle(
    store: &DynamoStore,
    stored: PipelineState,
    marker: Option<Marker>,
    seen: &HashMap<String, Stored>,
    purpose: Purpose,
    attempt: u32,
) -> Result<Settled, StoreError> {
    let Some(marker) = marker else { return Ok(Settled::Holds(stored)) };
    Ok(match head_fate::fate(marker.change, seen.get(&marker.execution_id).copied()) {
        HeadFate::Committed => Settled::Holds(stored),
        HeadFate::Orphaned => Settled::Holds(marker.before),
        HeadFate::Pending if purpose == Purpose::Show => Settled::Holds(marker.before),
        HeadFate::Pending if attempt < UNDER_WAY.retries => {
            store.pause(UNDER_WAY.ceiling(attempt)).await;
            Settled::ReadAgain
        }
        HeadFate::Pending => {
            // Whether fenced off or moved on by its own commit, the next read settles it.
            store.fence(&marker.execution_id, marker.change, crate::handlers::now()).await?;
            Settled::ReadAgain
        }
    })
}

/// An execution item at `rev` as a head change's fate asks it.
pub(super) fn stored(item: &Item, rev: u64) -> Stored {
    let number = |name: &str| item.get(name).and_then(|value| value.as_n().ok()).and_then(|value| value.parse().ok());
    Stored { rev, headed: number(HEADED), fenced: number(FENCED) }
}

/// The state a head held at a `rev`, and when its pipeline was created: a pipeline deleted and
/// created again under its name numbers its `rev`s from 1 again.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Resolved {
    pub state: PipelineState,
    pub created: i64,
}

/// The update of the head read at `expected` (as `before`) to `state`, with the marker of the
/// commit of `execution_id` that makes its `rev` `makes_rev`.
pub(super) fn marked_update(
    table: &str,
    head_key: HashMap<String, AttributeValue>,
    (state, before): (&PipelineState, &Resolved),
    expected: u64,
    (execution_id, makes_rev): (&str, u64),
) -> Result<Update, StoreError> {
    named(Update::builder().table_name(table).set_key(Some(head_key)))
        .update_expression(
            "SET #state = :state, rev = rev + :one, #before = :before, #pending = :pending, #makes = :makes, \
             #at = :at",
        )
        .condition_expression("rev = :expected AND created = :created")
        .expression_attribute_values(":state", compressed_json(state)?)
        .expression_attribute_values(":before", compressed_json(&before.state)?)
        .expression_attribute_values(":pending", s(execution_id))
        .expression_attribute_values(":makes", n(makes_rev))
        .expression_attribute_values(":at", n(expected + 1))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":expected", n(expected))
        .expression_attribute_values(":created", n(before.created))
        .build()
        .map_err(refused)
}

/// The update of the head read at `expected` to `state` in a transaction with what else the
/// change writes: a marker an earlier change left belongs to the `rev` it made, and goes.
pub(super) fn unmarked_update(
    table: &str,
    head_key: HashMap<String, AttributeValue>,
    state: &PipelineState,
    expected: AttributeValue,
) -> Result<Update, StoreError> {
    named(Update::builder().table_name(table).set_key(Some(head_key)))
        .update_expression("SET #state = :state, rev = rev + :one REMOVE #before, #pending, #makes, #at")
        .condition_expression("rev = :expected")
        .expression_attribute_values(":state", compressed_json(state)?)
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":expected", expected)
        .build()
        .map_err(refused)
}

/// The names both updates of the head give the state and the marker's attributes.
fn named(update: UpdateBuilder) -> UpdateBuilder {
    update
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#before", BEFORE)
        .expression_attribute_names("#pending", PENDING_EXECUTION)
        .expression_attribute_names("#makes", PENDING_REV)
        .expression_attribute_names("#at", PENDING_AT)
}

/// The head states this store resolved for a decision, by pipeline: the `rev` read and what
/// held at it. A commit that changes the head with one execution finds here the state its
/// marker keeps; without it, the change is one transaction.
#[derive(Clone, Default)]
pub(super) struct ResolvedHeads(Kept<(u64, Resolved)>);

impl ResolvedHeads {
    pub(super) fn insert(&self, pipeline: &str, rev: u64, resolved: Resolved) {
        self.0.insert(pipeline, (rev, resolved));
    }

    /// What held at `rev` of `pipeline`'s head, if this store resolved it.
    pub(super) fn at(&self, pipeline: &str, rev: u64) -> Option<Resolved> {
        self.0.get(pipeline).filter(|(read, _)| *read == rev).map(|(_, resolved)| resolved)
    }
}

impl DynamoStore {
    /// Moves execution `id` past `rev` `read`, changing nothing else, so that the commit of
    /// `change` (conditional on `read`) can no longer happen: the change is then orphaned, and
    /// so is the outbox batch put for it (`core::outbox_fate`). An execution not yet created
    /// (`read` 0, its start) gets an item of `rev` 1 in its place, which names the change (and
    /// replaces the fence of an earlier start). False when the execution was not at `read` any
    /// more (its commit, or another, happened).
    pub(super) async fn fence(&self, id: &str, change: HeadChange, now: Timestamp) -> Result<bool, StoreError> {
        let read = change.makes_rev.saturating_sub(1);
        let written = if read == 0 {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(key(&execution_pk(id), EXECUTION)))
                .item("rev", n(1))
                .item(FENCED, n(change.head_rev))
                .item("expires_at", n(now.millis() / 1000 + FENCED_SECONDS))
                // In place of nothing, or of the fence of an earlier start.
                .condition_expression("attribute_not_exists(pk) OR #fenced < :head")
                .expression_attribute_names("#fenced", FENCED)
                .expression_attribute_values(":head", n(change.head_rev))
                .send()
                .await;
            conditional(result)
        } else {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(&execution_pk(id), EXECUTION)))
                .update_expression("SET rev = rev + :one")
                .condition_expression("rev = :read")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":read", n(read))
                .send()
                .await;
            let fenced = conditional(result)?;
            if fenced {
                // The writer's batch is an orphan now: removed, or left to the tick's sweep.
                if let Err(error) = self.remove_orphans(id).await {
                    tracing::warn!(%error, execution = id, "the batch of a commit fenced off stays");
                }
            }
            Ok(fenced)
        };
        self.cache.forget(id);
        written
    }
}
