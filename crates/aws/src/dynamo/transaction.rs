//! A change as the writes that commit it, built without sending anything: its outbox
//! batches, each put on its own first, then one `TransactWriteItems` (or one conditional write
//! when it is one item) in which the head is updated, or only checked when the change relied
//! on it (a stage lock), or left alone (a job's result inside its stage), and each execution's
//! item is put new or updated on its `rev` with the part items that changed (`parts`). A
//! change of the head and of one execution writes the head first, on its own with a marker,
//! then the execution (`head_changes`), where a transaction would bill both items twice. A
//! batch put apart costs one write unit where the transaction billed it two, and most commits
//! (a job's result inside its stage) are then the execution item alone, one conditional
//! update instead of a transaction of two items. The execution item remembers its last batch
//! commits (`core::outbox_fate`), so that a batch whose commit did not happen (a lost race, a
//! writer gone between the two writes) is told apart from one a relay has yet to carry out.
//! The entries a change completes are removed once it has committed (`DynamoStore::commit`);
//! where a dispatched job belongs is written by the relay before it publishes the dispatch
//! (`jobs`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem, Update};

use pipewright_core::engine::{Effect, Execution};
use pipewright_core::execution_parts::head as execution_head;
use pipewright_core::outbox_fate::{self, BatchCommit};
use pipewright_core::ports::{Changes, StoreError};
use pipewright_core::time::Timestamp;

use super::codec::{RECENT_BATCHES, batch_value, n, pack, recent_batches_value, s};
use super::errors::refused;
use super::head_changes::{FENCED, HEADED, Resolved, marked_update, unmarked_update};
use super::keys::{
    Derived, EXECUTION, HEAD, HISTORY_SECONDS, OUTBOX_BATCHES, batch_sk_at, batch_sk_of, derived, execution_pk,
    ids_digest, key, pipeline_pk,
};
use super::limits;
use super::parts::{self, Base, Layout};

/// DynamoDB's limit of items in one transaction.
pub const MAX_ITEMS: usize = limits::TRANSACTION_ITEMS;

/// The transaction that commits `changes` to `table`, after its outbox batches are put
/// ([`build`]). `bases` holds what the store read of the executions it updates: for one
/// stored in parts, the execution its changed parts are found against (without it, every
/// part is written), where each one's `deadlines` entry is (without it, the entry is put
/// again) and the batch commits its item remembers. Refused when an effect concerns an
/// execution the change does not write (its outbox would not commit with it), or when the
/// change is past one of DynamoDB's limits (`limits::check`: items, bytes, expressions).
pub fn transaction(
    table: &str,
    changes: &Changes,
    bases: &HashMap<String, Base>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    build(table, changes, bases, None).map(|built| built.items)
}

/// A change as its writes, and what it leaves of each execution it writes, by id.
pub(super) struct Built {
    /// The outbox batches, each put on its own before `items` (after `head_first`).
    pub batches: Vec<BatchPut>,
    /// The head's update with its marker, written on its own first, before the batches and
    /// `items` (`head_changes`); `None` when the head is in `items` or not written.
    pub head_first: Option<TransactWriteItem>,
    /// The head, execution and part items: one transaction, or one write when one item.
    pub items: Vec<TransactWriteItem>,
    pub written: HashMap<String, Written>,
}

/// One execution's outbox batch, put before the commit it belongs to.
pub(super) struct BatchPut {
    pub execution_id: String,
    /// A put of the batch item (`put()`), sent on its own.
    pub put: TransactWriteItem,
    /// Its sort key.
    pub sk: String,
    /// The sort key a relay names it by when it completes exactly its effects (`batch_sk`):
    /// how `outbox::complete` finds it without reading.
    pub named: String,
    /// The commit it belongs to, as the execution item remembers it.
    pub commit: BatchCommit,
}

/// What a committed change leaves of one execution it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Written {
    /// Stored in parts (else whole).
    pub split: bool,
    /// Where its `deadlines` entry is.
    pub deadline_entry: Option<Timestamp>,
    /// The batch commits its item remembers.
    pub recent_batches: Vec<BatchCommit>,
}

/// [`transaction`], with the batches put before it and what it leaves of each execution.
///
/// Given `before`, the state the head held at the `rev` the change read, a change of the head
/// and of one execution it had read writes the head first, on its own with a marker
/// (`head_first`, `head_changes`), and the execution records the head's new `rev`.
pub(super) fn build(
    table: &str,
    changes: &Changes,
    bases: &HashMap<String, Base>,
    before: Option<&Resolved>,
) -> Result<Built, StoreError> {
    let mut written = HashMap::new();
    let mut batches = Vec::new();
    let (head_first, mut items): (Option<TransactWriteItem>, Vec<TransactWriteItem>) =
        match (&changes.state, before, changes.executions.as_slice()) {
            (Some(state), Some(before), [(execution, read_at)]) => {
                let head_key = key(&pipeline_pk(&changes.pipeline), HEAD);
                let commit = (execution.id.as_str(), read_at.map_or(1, |read| read + 1));
                let update = marked_update(table, head_key, (state, before), changes.expected_state_version, commit)?;
                (Some(TransactWriteItem::builder().update(update).build()), Vec::new())
            }
            _ => (None, head(table, changes)?.into_iter().collect()),
        };
    // Effects go into the outbox of the execution they concern, ordered by `seq`; a deadline
    // is not kept there (`outbox::keeps`).
    let mut effects: HashMap<&str, Vec<(&Effect, u64)>> = HashMap::new();
    for (index, effect) in changes.effects.iter().enumerate().filter(|(_, effect)| super::outbox::keeps(effect)) {
        effects.entry(effect.execution_id()).or_default().push((effect, index as u64));
    }
    for (execution, expected) in &changes.executions {
        let own = effects.remove(execution.id.as_str()).unwrap_or_default();
        let base = expected.and_then(|_| bases.get(&execution.id));
        let parts_base = base.and_then(|base| base.parts.as_ref());
        let layout = parts::layout(parts_base, execution)?;
        let version = expected.map_or(1, |v| v + 1);
        let mut derived = derived(execution, base.and_then(|base| base.deadline_entry));
        if head_first.is_some() {
            derived.set.push((HEADED.to_string(), n(changes.expected_state_version + 1)));
        }
        let mut recent_batches = base.map(|base| base.recent_batches.clone()).unwrap_or_default();
        if !own.is_empty() {
            let batch = outbox_batch(table, &changes.pipeline, execution, version, &own)?;
            recent_batches = outbox_fate::remember(&recent_batches, batch.commit);
            derived.set.push((RECENT_BATCHES.to_string(), recent_batches_value(&recent_batches)));
            batches.push(batch);
        }
        let split = matches!(layout, Layout::Split(_));
        written.insert(execution.id.clone(), Written { split, deadline_entry: derived.deadline_entry, recent_batches });
        items.push(match expected {
            None => new_execution(table, execution, &layout, derived, changes.expected_state_version + 1)?,
            Some(read_at) => updated_execution(table, execution, *read_at, (&layout, parts_base.is_some()), derived)?,
        });
        if let Layout::Split(writes) = &layout {
            items.extend(parts::actions(table, execution, version, writes)?);
        }
    }
    if let Some((execution, _)) = effects.into_iter().next() {
        return Err(StoreError::Refused(format!(
            "an effect concerns execution {execution}, which this change does not write"
        )));
    }
    let what = format!("pipeline {}", changes.pipeline);
    limits::check(&what, &items)?;
    if let Some(head) = &head_first {
        limits::check(&what, std::slice::from_ref(head))?;
    }
    for batch in &batches {
        limits::check(&what, std::slice::from_ref(&batch.put))?;
    }
    Ok(Built { batches, head_first, items, written })
}

/// The pipeline head: its new state, or only a check that it has not moved when the change
/// was decided on it; nothing when neither (a check is billed as a write).
fn head(table: &str, changes: &Changes) -> Result<Option<TransactWriteItem>, StoreError> {
    let head_key = key(&pipeline_pk(&changes.pipeline), HEAD);
    let expected = n(changes.expected_state_version);
    Ok(Some(match &changes.state {
        Some(state) => TransactWriteItem::builder().update(unmarked_update(table, head_key, state, expected)?).build(),
        None if !changes.state_relied_on => return Ok(None),
        None => TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name(table)
                    .set_key(Some(head_key))
                    .condition_expression("rev = :expected")
                    .expression_attribute_values(":expected", expected)
                    .build()
                    .map_err(refused)?,
            )
            .build(),
    }))
}

/// An outbox entry's place in commit order: the execution's time, then the effect's index.
fn seq(execution: &Execution, index: u64) -> u64 {
    u64::try_from(execution.updated_at.millis()).unwrap_or(0) * 1000 + index
}

/// The outbox batch of the effects one commit gives `execution` (`own`, with their index
/// among the commit's effects), which makes its `rev` `version`, under `OUTBOX` (keys.rs):
/// what the relay publishes, then deletes in one write of this small item. `committed_at`
/// (the handler's clock when it decided) is what the tick's sweep of outboxes a relay left
/// behind compares, and what a pending batch's age counts from; `rev` is what tells whether
/// its commit happened (`core::outbox_fate`).
fn outbox_batch(
    table: &str,
    pipeline: &str,
    execution: &Execution,
    version: u64,
    own: &[(&Effect, u64)],
) -> Result<BatchPut, StoreError> {
    let digest = ids_digest(own.iter().map(|(effect, _)| effect.id()));
    let sk = batch_sk_at(&execution.id, &digest, version);
    // Only what the relay and the tick need: a batch over 1 KB costs twice as much.
    let mut item = key(OUTBOX_BATCHES, &sk);
    let effects: Vec<(&Effect, u64)> = own.iter().map(|(effect, index)| (*effect, seq(execution, *index))).collect();
    item.insert("effects".into(), batch_value(&effects)?);
    item.insert("pipeline".into(), s(pipeline));
    item.insert("rev".into(), n(version));
    item.insert("committed_at".into(), n(execution.updated_at.millis()));
    item.insert("expires_at".into(), n(execution.updated_at.millis() / 1000 + HISTORY_SECONDS));
    let put = Put::builder().table_name(table).set_item(Some(item)).build().map_err(refused)?;
    Ok(BatchPut {
        execution_id: execution.id.clone(),
        put: TransactWriteItem::builder().put(put).build(),
        named: batch_sk_of(&execution.id, &digest),
        sk,
        commit: BatchCommit { rev: version, digest: [digest[0], digest[1], digest[2]] },
    })
}

/// A new execution's item, which must not exist yet: the whole execution, or its head and the
/// manifest of its parts. It may replace an item a reader put in its place to fence off a
/// start decided on an earlier head than this one, which makes the head's `rev` `head_rev`
/// (`head_changes::FENCED`), never one that fenced off this start.
fn new_execution(
    table: &str,
    execution: &Execution,
    layout: &Layout,
    derived: Derived,
    head_rev: u64,
) -> Result<TransactWriteItem, StoreError> {
    let mut item = key(&execution_pk(&execution.id), EXECUTION);
    item.insert("rev".into(), n(1));
    match layout {
        Layout::Whole(body) => {
            item.insert("body".into(), body.clone());
        }
        Layout::Split(writes) => {
            item.insert("body".into(), pack(&execution_head(execution))?);
            item.insert("parts".into(), parts::manifest(writes, 1));
        }
    }
    item.extend(derived.set);
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk) OR #fenced < :head")
        .expression_attribute_names("#fenced", FENCED)
        .expression_attribute_values(":head", n(head_rev))
        .build()
        .map_err(refused)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// An update of an execution read at `rev` = `version`: the whole execution, or its head and
/// the manifest entries of the part items it writes (the whole manifest when it was stored
/// whole, `split` false), and its index attributes.
fn updated_execution(
    table: &str,
    execution: &Execution,
    version: u64,
    (layout, split): (&Layout, bool),
    Derived { set, remove, .. }: Derived,
) -> Result<TransactWriteItem, StoreError> {
    let mut names = HashMap::new();
    let body = match layout {
        Layout::Whole(body) => body.clone(),
        Layout::Split(_) => pack(&execution_head(execution))?,
    };
    let mut values =
        HashMap::from([(":body".to_string(), body), (":one".to_string(), n(1)), (":expected".to_string(), n(version))]);
    let mut sets = vec!["body = :body".to_string(), "rev = rev + :one".to_string()];
    let mut removes = Vec::new();
    match layout {
        // Whole before and after: no manifest.
        Layout::Whole(_) => {}
        Layout::Split(writes) if split => {
            values.insert(":written".to_string(), n(version + 1));
            for (i, (item, _)) in writes.put.iter().enumerate() {
                names.insert(format!("#p{i}"), item.clone());
                sets.push(format!("parts.#p{i} = :written"));
            }
            for (i, item) in writes.delete.iter().enumerate() {
                names.insert(format!("#d{i}"), item.clone());
                removes.push(format!("parts.#d{i}"));
            }
        }
        Layout::Split(writes) => {
            values.insert(":manifest".to_string(), parts::manifest(writes, version + 1));
            sets.push("parts = :manifest".to_string());
        }
    }
    for (i, (name, value)) in set.into_iter().enumerate() {
        names.insert(format!("#a{i}"), name);
        values.insert(format!(":a{i}"), value);
        sets.push(format!("#a{i} = :a{i}"));
    }
    for (i, name) in remove.into_iter().enumerate() {
        names.insert(format!("#r{i}"), name);
        removes.push(format!("#r{i}"));
    }
    let mut expression = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(&execution_pk(&execution.id), EXECUTION)))
        .update_expression(expression)
        .condition_expression("rev = :expected")
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(refused)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

#[cfg(test)]
mod tests {
    use super::super::codec::{compressed_json, recent_batches_value};
    use super::super::head_changes::{BEFORE, PENDING_AT, PENDING_EXECUTION, PENDING_REV};
    use super::super::keys::{DEADLINE_LEAD_MILLIS, DEADLINE_SPAN_MILLIS, deadline_entry_of, timed};
    use super::super::outbox::keeps;
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use pipewright_core::contract::{declaration, source_done, start};
    use pipewright_core::engine::{self, Event, Step, World, next_due};
    use pipewright_core::pipeline::{Environment, Pipeline};

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn pipeline() -> Pipeline {
        let mut declaration = declaration("p", "make").unwrap();
        declaration.version = Some(1);
        Pipeline::compile(declaration, Environment::default()).unwrap()
    }

    /// What the shared handler would commit for `event` over `world`.
    fn changes(
        pipeline: &Pipeline,
        world: World,
        event: &Event,
        read_at: Option<u64>,
        completed: &[String],
    ) -> Changes {
        let Ok(Step::Applied(mut applied)) = engine::apply(pipeline, world, event, NOW) else { panic!("applies") };
        let executions = applied
            .changed_executions
            .iter()
            .map(|id| (applied.world.executions.remove(id).unwrap(), read_at))
            .collect();
        Changes {
            pipeline: "p".into(),
            expected_state_version: 3,
            state_relied_on: engine::relies_on_state(event, applied.pipeline_changed),
            state: applied.pipeline_changed.then_some(applied.world.pipeline),
            executions,
            effects: applied.effects,
            completed_effects: completed.to_vec(),
        }
    }

    /// `changes` with its execution made too large to stay whole: a namespace of variables
    /// that do not compress.
    fn grown(mut changes: Changes) -> Changes {
        let mut seed: u64 = 7;
        let variables = (0..200)
            .map(|i| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (format!("v{i}"), format!("{seed:016x}{:016x}", seed.rotate_left(17)))
            })
            .collect();
        changes.executions[0].0.namespaces.insert("Big".into(), variables);
        changes
    }

    fn string(value: Option<&AttributeValue>) -> &str {
        value.and_then(|v| v.as_s().ok()).map_or("", String::as_str)
    }

    #[test]
    fn a_small_execution_is_one_item_with_the_whole_execution() {
        let pipeline = pipeline();
        let started = changes(&pipeline, World::new(&pipeline), &start("e1"), None, &[]);
        let Built { batches, items, written, .. } = build("table", &started, &HashMap::new(), None).unwrap();
        assert!(!written["e1"].split, "stored whole");
        assert_eq!(items.len(), 2, "head, execution: no part items, no job location");
        assert_eq!(batches.len(), 1, "its outbox batch, put before them");
        let item = items[1].put().expect("a new execution is put").item();
        assert!(item.get("parts").is_none(), "no manifest");
        assert_eq!(super::super::codec::unpack(item).unwrap(), started.executions[0].0, "the whole execution");

        // Its next commit rewrites it whole, without a manifest either.
        let mut world = World::new(&pipeline);
        world.pipeline = started.state.clone().unwrap();
        world.executions.insert("e1".into(), started.executions[0].0.clone());
        let result = changes(&pipeline, world, &source_done("e1"), Some(1), &[]);
        let Built { items, written, .. } = build("table", &result, &HashMap::new(), None).unwrap();
        assert!(!written["e1"].split);
        let update = items[1].update().unwrap();
        assert!(!update.update_expression().contains("parts"), "{}", update.update_expression());
        assert!(
            items.iter().all(|item| item.put().is_none_or(|put| !string(put.item().get("sk")).starts_with("PART#")))
        );
    }

    #[test]
    fn the_deadlines_entry_is_put_ahead_of_the_deadline_and_moves_only_when_the_deadline_leaves_its_span() {
        let pipeline = pipeline();
        let started = changes(&pipeline, World::new(&pipeline), &start("e1"), None, &[]);
        let execution = &started.executions[0].0;
        let due = next_due(execution).expect("the source is in flight");
        let built = build("table", &started, &HashMap::new(), None).unwrap();
        let entry = built.written["e1"].deadline_entry.expect("an entry");
        assert_eq!(entry.millis(), due.millis() - DEADLINE_LEAD_MILLIS, "put a lead ahead of the deadline");
        let item = built.items[1].put().unwrap().item();
        assert_eq!(deadline_entry_of(item), Some(entry));

        let mut world = World::new(&pipeline);
        world.pipeline = started.state.clone().unwrap();
        world.executions.insert("e1".into(), execution.clone());
        let result = changes(&pipeline, world, &source_done("e1"), Some(1), &[]);
        let next = next_due(&result.executions[0].0).expect("the build is in flight");
        assert!(entry <= next && next.millis() - entry.millis() <= DEADLINE_SPAN_MILLIS, "{entry:?} {next:?}");
        // The entry the update sets, and where the store then knows it is.
        let written = |bases: &HashMap<String, Base>| {
            let built = build("table", &result, bases, None).unwrap();
            let update = built.items[1].update().unwrap().clone();
            let names = update.expression_attribute_names().cloned().unwrap_or_default();
            let name = names.iter().find(|(_, name)| *name == "deadline_sk").map(|(alias, _)| alias.replace('#', ":"));
            let value =
                name.and_then(|alias| update.expression_attribute_values().and_then(|v| v.get(&alias).cloned()));
            let sk = value.and_then(|v| v.as_s().ok().cloned()).unwrap_or_default();
            (sk, built.written["e1"].deadline_entry)
        };
        // Read where it is: within its span, the entry stays (set to the same value, which
        // writes nothing to the index).
        let read = HashMap::from([(
            "e1".to_string(),
            Base { parts: None, deadline_entry: Some(entry), recent_batches: Vec::new() },
        )]);
        assert_eq!(written(&read), (timed(entry, "e1"), Some(entry)));
        // An entry after the new deadline (or not known) is moved a lead ahead of it.
        let late = Timestamp::from_millis(next.millis() + 1);
        let read = HashMap::from([(
            "e1".to_string(),
            Base { parts: None, deadline_entry: Some(late), recent_batches: Vec::new() },
        )]);
        let moved = Timestamp::from_millis(next.millis() - DEADLINE_LEAD_MILLIS);
        assert_eq!(written(&read), (timed(moved, "e1"), Some(moved)));
        assert_eq!(written(&HashMap::new()), (timed(moved, "e1"), Some(moved)));
    }

    #[test]
    fn a_start_puts_its_outbox_batch_then_the_new_execution_and_updates_the_head_on_its_rev() {
        let pipeline = pipeline();
        let started = grown(changes(&pipeline, World::new(&pipeline), &start("e1"), None, &[]));
        let Built { batches, items, written: left, .. } = build("table", &started, &HashMap::new(), None).unwrap();
        let dispatches: Vec<&str> = started
            .effects
            .iter()
            .filter_map(|e| if let Effect::Dispatch(d) = e { Some(d.job_id.as_str()) } else { None })
            .collect();
        assert_eq!(dispatches.len(), 1, "the source is dispatched");
        // Source and Build: a stage item and an item of actions each, and the namespace.
        let parts = 5;
        assert_eq!(items.len(), 2 + parts, "head, execution, its parts (no job location)");

        let head = items[0].update().expect("the state changed: the head is updated");
        assert_eq!(string(head.key().get("pk")), "PIPELINE#p");
        assert_eq!(string(head.key().get("sk")), "HEAD");
        assert_eq!(head.condition_expression(), Some("rev = :expected"));
        assert_eq!(head.expression_attribute_values().unwrap()[":expected"], AttributeValue::N("3".into()));
        assert!(matches!(head.expression_attribute_values().unwrap()[":state"], AttributeValue::B(_)));

        let put = items[1].put().expect("a new execution is put");
        // New, or in place of an item that fenced off a start decided on an earlier head.
        assert_eq!(put.condition_expression(), Some("attribute_not_exists(pk) OR #fenced < :head"));
        assert_eq!(put.expression_attribute_values().unwrap()[":head"], n(4), "the head's rev it makes");
        let item = put.item();
        assert_eq!(string(item.get("pk")), "EXECUTION#e1");
        assert_eq!(item["rev"], AttributeValue::N("1".into()));
        assert_eq!(string(item.get("gsi1pk")), "PIPELINE#p");
        assert!(string(item.get("gsi1sk")).ends_with("#e1"));
        assert_eq!(string(item.get("deadline_pk")), "DEADLINE", "the source's deadline is in the index");
        assert!(item.get("outbox").is_none() && item.get("outbox_pk").is_none(), "no outbox in the execution item");

        let manifest = item["parts"].as_m().unwrap();
        let mut written: Vec<&str> = manifest.keys().map(String::as_str).collect();
        written.sort_unstable();
        assert_eq!(written, ["a/0000/0000+", "a/0001/0000+", "ns/Big", "s/0000", "s/0001"]);
        for part in &items[2..2 + parts] {
            let part = part.put().expect("a part item is put").item();
            assert_eq!(string(part.get("pk")), "EXECUTION#e1");
            assert!(string(part.get("sk")).starts_with("PART#"));
            assert_eq!(part["rev"], AttributeValue::N("1".into()));
            assert!(part.get("gsi1pk").is_none(), "a part is not listed");
        }

        let [batch] = batches.as_slice() else { panic!("one outbox batch: {}", batches.len()) };
        assert!(batch.put.put().unwrap().condition_expression().is_none(), "a twin's batch is the same item");
        let batch_item = batch.put.put().expect("the outbox batch is put").item();
        assert!(started.effects.iter().any(|e| matches!(e, Effect::WakeAt(_))), "the source's deadline");
        let expected: Vec<&str> = started.effects.iter().filter(|e| keeps(e)).map(Effect::id).collect();
        let named = super::super::keys::batch_sk("e1", expected.iter().copied());
        assert_eq!(string(batch_item.get("pk")), "OUTBOX");
        assert_eq!(string(batch_item.get("sk")), format!("{named}@1"), "by execution, its ids, the rev it makes");
        assert_eq!((batch.sk.as_str(), batch.named.as_str()), (format!("{named}@1").as_str(), named.as_str()));
        assert_eq!(batch_item["rev"], n(1));
        // The execution item remembers the batch it committed with.
        let digest = super::super::keys::batch_digest(&batch.sk).unwrap();
        assert_eq!(batch.commit, BatchCommit { rev: 1, digest });
        assert_eq!(left["e1"].recent_batches, [batch.commit]);
        assert_eq!(item[RECENT_BATCHES], recent_batches_value(&[batch.commit]));
        let batch = batch_item;
        let entries = super::super::codec::batch_entries(batch).unwrap();
        let ids: Vec<&str> = entries.iter().map(|entry| entry.id.as_str()).collect();
        assert_eq!(ids, expected, "every effect but the deadline, in commit order, in one batch");
        assert!(entries.windows(2).all(|pair| pair[0].seq < pair[1].seq));
        assert!(entries.iter().all(|entry| entry.claimed_by.is_none()));
        assert_eq!(string(batch.get("pipeline")), "p");
        assert_eq!(batch["committed_at"], n(started.executions[0].0.updated_at.millis()));
        let dispatch = entries.iter().find_map(|entry| match &entry.effect {
            Effect::Dispatch(d) => Some(d.job_id.as_str()),
            _ => None,
        });
        assert_eq!(dispatch, Some(dispatches[0]), "the dispatch, which the relay records the job of");
        assert!(
            items.iter().filter_map(|item| item.put()).all(|put| !string(put.item().get("pk")).starts_with("JOB#"))
        );
    }

    #[test]
    fn a_result_updates_the_execution_on_its_rev_and_completes_the_dispatch_once_committed() {
        let pipeline = pipeline();
        let started = changes(&pipeline, World::new(&pipeline), &start("e1"), None, &[]);
        let dispatch = started.effects.iter().find(|e| matches!(e, Effect::Dispatch(_))).unwrap().id().to_string();
        let mut world = World::new(&pipeline);
        world.pipeline = started.state.clone().unwrap();
        let execution = started.executions[0].0.clone();
        world.executions.insert(execution.id.clone(), execution);
        let result = changes(&pipeline, world, &source_done("e1"), Some(7), std::slice::from_ref(&dispatch));
        let remembered = BatchCommit { rev: 7, digest: [1, 2, 3] };
        let bases = HashMap::from([(
            "e1".to_string(),
            Base { parts: None, deadline_entry: None, recent_batches: vec![remembered] },
        )]);
        let Built { batches, items, written, .. } = build("table", &result, &bases, None).unwrap();

        let head = &items[0];
        if result.state.is_none() {
            let check = head.condition_check().expect("an unchanged state is still a condition");
            assert_eq!(check.condition_expression(), "rev = :expected");
        }
        let update = items[1].update().expect("the execution is updated");
        assert_eq!(update.condition_expression(), Some("rev = :expected"));
        assert_eq!(update.expression_attribute_values().unwrap()[":expected"], AttributeValue::N("7".into()));
        let expression = update.update_expression();
        assert!(expression.starts_with("SET body = :body, rev = rev + :one"), "{expression}");
        assert!(!expression.contains("outbox"), "the execution item holds no outbox: {expression}");
        assert!(items.iter().filter_map(|item| item.put()).all(|put| string(put.item().get("pk")) != "OUTBOX"));
        let [batch] = batches.as_slice() else { panic!("one outbox batch") };
        assert_eq!(batch.commit.rev, 8, "the rev its commit makes");
        assert!(batch.sk.ends_with("@8"), "{}", batch.sk);
        // Remembered with the earlier batch commit, newest first.
        assert_eq!(written["e1"].recent_batches, [batch.commit, remembered]);
        let names = update.expression_attribute_names().unwrap();
        let alias = names.iter().find(|(_, name)| *name == RECENT_BATCHES).map(|(alias, _)| alias.replace('#', ":"));
        let value = alias.map(|alias| update.expression_attribute_values().unwrap()[&alias].clone());
        assert_eq!(value, Some(recent_batches_value(&[batch.commit, remembered])));
        let entries = super::super::codec::batch_entries(batch.put.put().unwrap().item()).unwrap();
        let ids: Vec<&str> = entries.iter().map(|entry| entry.id.as_str()).collect();
        let kept: Vec<&str> = result.effects.iter().filter(|e| keeps(e)).map(Effect::id).collect();
        assert_eq!(ids, kept, "the result's effects but its deadlines");
        assert!(!ids.contains(&dispatch.as_str()));
        // The dispatch it completes leaves its outbox once the change has committed.
        assert_eq!(super::super::outbox::completed_by(&result), [("e1".to_string(), vec![dispatch.clone()])]);
        let new = Changes { completed_effects: vec![dispatch.clone()], ..started.clone() };
        assert!(super::super::outbox::completed_by(&new).is_empty(), "a new execution has nothing to complete");

        // A change that neither writes the state nor relied on it leaves the head alone: the
        // execution item is all its transaction holds, which the store writes alone.
        let inside = Changes { state: None, state_relied_on: false, ..result.clone() };
        let items = transaction("table", &inside, &HashMap::new()).unwrap();
        assert_eq!(items.len(), 1, "the execution item alone");
        let first = items[0].update().expect("the execution's update");
        assert_eq!(string(first.key().get("pk")), "EXECUTION#e1");
        let relied = Changes { state: None, state_relied_on: true, ..result };
        let items = transaction("table", &relied, &HashMap::new()).unwrap();
        assert!(items[0].condition_check().is_some(), "a state relied on is checked");
    }

    /// The update of an expression's attribute `name`, if it sets one.
    fn set_value(update: &Update, name: &str) -> Option<AttributeValue> {
        let names = update.expression_attribute_names()?;
        let alias = names.iter().find(|(_, set)| *set == name).map(|(alias, _)| alias.replace('#', ":"))?;
        update.expression_attribute_values()?.get(&alias).cloned()
    }

    /// Given the state the head held at the `rev` read, a change of the head and of one
    /// execution is two single writes: the head first, with the marker of the commit it waits
    /// for and the state it replaced, then the execution, which records the head's new `rev`.
    #[test]
    fn a_head_change_with_one_execution_writes_the_head_first_with_its_marker() {
        let pipeline = pipeline();
        let before = Resolved { state: engine::PipelineState::new(&pipeline), created: 17 };
        let started = changes(&pipeline, World::new(&pipeline), &start("e1"), None, &[]);
        let built = build("table", &started, &HashMap::new(), Some(&before)).unwrap();
        let head = built.head_first.as_ref().and_then(|head| head.update()).expect("the head, on its own");
        assert_eq!(head.condition_expression(), Some("rev = :expected AND created = :created"));
        assert_eq!(head.expression_attribute_values().unwrap()[":expected"], n(3));
        assert_eq!(head.expression_attribute_values().unwrap()[":created"], n(17), "of this pipeline, not a namesake");
        assert_eq!(set_value(head, PENDING_EXECUTION), Some(s("e1")), "the execution it waits for");
        assert_eq!(set_value(head, PENDING_REV), Some(n(1)), "the rev its start makes");
        assert_eq!(set_value(head, PENDING_AT), Some(n(4)), "the head's rev it makes");
        assert_eq!(set_value(head, BEFORE), Some(compressed_json(&before.state).unwrap()), "the state replaced");
        assert_eq!(set_value(head, "state"), Some(compressed_json(started.state.as_ref().unwrap()).unwrap()));
        let [execution] = built.items.as_slice() else { panic!("the execution alone: {}", built.items.len()) };
        let put = execution.put().expect("a new execution is put").item();
        assert_eq!(put[HEADED], n(4), "the head's rev this change makes");
        assert_eq!(built.batches.len(), 1, "its outbox batch, put before both");

        // A result that moves the execution on: the head, then the update on its rev.
        let mut world = World::new(&pipeline);
        world.pipeline = started.state.clone().unwrap();
        world.executions.insert("e1".into(), started.executions[0].0.clone());
        let moved = changes(&pipeline, world, &source_done("e1"), Some(1), &[]);
        assert!(moved.state.is_some(), "the source's stage is left");
        let at_start = Resolved { state: started.state.clone().unwrap(), created: 17 };
        let built = build("table", &moved, &HashMap::new(), Some(&at_start)).unwrap();
        let head = built.head_first.as_ref().and_then(|head| head.update()).expect("the head, on its own");
        assert_eq!(set_value(head, PENDING_REV), Some(n(2)));
        let [execution] = built.items.as_slice() else { panic!("the execution alone") };
        let update = execution.update().expect("the execution is updated");
        assert_eq!(update.condition_expression(), Some("rev = :expected"));
        assert_eq!(set_value(update, HEADED), Some(n(4)));

        // Without that state, a transaction of both, whose head update drops an old marker.
        let built = build("table", &moved, &HashMap::new(), None).unwrap();
        assert!(built.head_first.is_none());
        let head = built.items[0].update().expect("the head in the transaction");
        assert!(head.update_expression().contains("REMOVE"), "{}", head.update_expression());
        assert!(set_value(built.items[1].update().unwrap(), HEADED).is_none());
    }

    /// A change of the head and of two executions (one waiting is superseded, say) stays one
    /// transaction: the marker names one commit.
    #[test]
    fn a_head_change_with_two_executions_stays_a_transaction() {
        let pipeline = pipeline();
        let before = Resolved { state: engine::PipelineState::new(&pipeline), created: 17 };
        let mut started = changes(&pipeline, World::new(&pipeline), &start("e1"), None, &[]);
        let mut other = started.executions[0].0.clone();
        other.id = "e2".into();
        started.executions.push((other, Some(4)));
        let built = build("table", &started, &HashMap::new(), Some(&before)).unwrap();
        assert!(built.head_first.is_none());
        assert_eq!(built.items.len(), 3, "head and both executions");
    }

    /// A build's wait recorded (a continuation of a job that waits on its service) gives the
    /// execution nothing to carry out but a deadline, which the tick finds through the
    /// `deadlines` entry: no outbox batch, so the change is the execution's item alone, which
    /// the store writes as one conditional update instead of a transaction.
    #[test]
    fn a_change_whose_only_effect_is_a_deadline_writes_the_execution_item_alone() {
        let pipeline = pipeline();
        let started = changes(&pipeline, World::new(&pipeline), &start("e1"), None, &[]);
        let mut world = World::new(&pipeline);
        world.pipeline = started.state.clone().unwrap();
        world.executions.insert("e1".into(), started.executions[0].0.clone());
        let sourced = changes(&pipeline, world.clone(), &source_done("e1"), Some(1), &[]);
        let Some(Effect::Dispatch(build)) = sourced.effects.iter().find(|e| matches!(e, Effect::Dispatch(_))) else {
            panic!("the build is dispatched")
        };
        assert_eq!(build.action_type.provider, "Commands", "a build, which waits on CodeBuild");
        world.pipeline = sourced.state.clone().unwrap_or(world.pipeline);
        world.executions.insert("e1".into(), sourced.executions[0].0.clone());
        let waiting = Event::JobContinued(pipewright_core::engine::JobContinued {
            job: build.job_ref(),
            continuation_token: r#"{"externalId":"build-1"}"#.into(),
            summary: Some("build build-1 SUBMITTED".into()),
            percent_complete: None,
            external_execution_id: Some("build-1".into()),
        });
        let recorded = changes(&pipeline, world, &waiting, Some(2), &[]);
        assert!(
            !recorded.effects.is_empty() && recorded.effects.iter().all(|e| matches!(e, Effect::WakeAt(_))),
            "only the next deadline: {:?}",
            recorded.effects
        );
        let items = transaction("table", &recorded, &HashMap::new()).unwrap();
        assert_eq!(items.len(), 1, "the execution alone: no outbox batch, no head");
        let update = items[0].update().expect("the execution is updated");
        assert_eq!(string(update.key().get("pk")), "EXECUTION#e1");
        assert_eq!(update.condition_expression(), Some("rev = :expected"));
        assert!(super::super::outbox::completed_by(&recorded).is_empty());
    }

    #[test]
    fn a_result_over_a_stored_base_writes_only_the_part_items_that_changed() {
        let pipeline = pipeline();
        let started = grown(changes(&pipeline, World::new(&pipeline), &start("e1"), None, &[]));
        let mut world = World::new(&pipeline);
        world.pipeline = started.state.clone().unwrap();
        let base = started.executions[0].0.clone();
        world.executions.insert(base.id.clone(), base.clone());
        let result = changes(&pipeline, world, &source_done("e1"), Some(1), &[]);
        assert!(result.executions[0].0.namespaces.contains_key("Big"));
        let bases = HashMap::from([(
            "e1".to_string(),
            Base { parts: Some(base), deadline_entry: None, recent_batches: Vec::new() },
        )]);
        let items = transaction("table", &result, &bases).unwrap();
        let parts: Vec<&str> = items
            .iter()
            .filter_map(|item| item.put())
            .map(|put| string(put.item().get("sk")))
            .filter(|sk| sk.starts_with("PART#"))
            .collect();
        assert!(parts.contains(&"PART#a/0000/0000+"), "the source's item: {parts:?}");
        assert!(parts.contains(&"PART#art/Code"), "its output: {parts:?}");
        assert!(!parts.contains(&"PART#s/0001") || result.executions[0].0.stages[1].status.is_some());
        assert!(parts.len() < 8, "{parts:?}");
        let update = items[1].update().expect("the execution is updated");
        let names = update.expression_attribute_names().unwrap();
        for part in &parts {
            let item = part.trim_start_matches("PART#");
            let placeholder = names.iter().find(|(_, name)| name.as_str() == item).map(|(p, _)| p).unwrap();
            assert!(update.update_expression().contains(&format!("parts.{placeholder} = :written")));
        }
        assert_eq!(update.expression_attribute_values().unwrap()[":written"], AttributeValue::N("2".into()));

        // Without a base (stored whole, and now too large for that), every part is written
        // with a new manifest.
        let converted = transaction("table", &result, &HashMap::new()).unwrap();
        let update = converted[1].update().unwrap();
        assert!(update.update_expression().contains("parts = :manifest"), "{}", update.update_expression());
    }

    #[test]
    fn a_change_that_cannot_commit_as_one_transaction_is_refused() {
        let pipeline = pipeline();
        let started = changes(&pipeline, World::new(&pipeline), &start("e1"), None, &[]);
        let mut orphan = started.clone();
        orphan.executions.clear();
        let error = transaction("table", &orphan, &HashMap::new()).unwrap_err();
        assert!(matches!(&error, StoreError::Refused(m) if m.contains("does not write")), "{error}");

        let mut crowded = started.clone();
        crowded.effects.clear();
        let execution = grown(started.clone()).executions[0].0.clone();
        // Each new execution too large to stay whole is its item and 5 part items: the head
        // and 17 of them are 103.
        crowded.executions = (0..17).map(|i| (Execution { id: format!("e{i}"), ..execution.clone() }, None)).collect();
        let error = transaction("table", &crowded, &HashMap::new()).unwrap_err();
        assert!(matches!(&error, StoreError::Refused(m) if m.contains("103 items")), "{error}");
        crowded.executions.pop();
        assert_eq!(transaction("table", &crowded, &HashMap::new()).unwrap().len(), 97);
    }
}
