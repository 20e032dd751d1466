//! An execution as the stores keep it: a small head and one part per thing that grows with
//! the pipeline (docs/ARCHITECTURE.md, "How an execution is stored"). An event that finishes
//! one action changes the head, that action's part and the parts of its outputs, so a store
//! that writes only the changed parts writes about one action's worth of bytes per event,
//! whatever the number of actions.
//!
//! * the head: the execution without its stages, artifacts, namespaces and artifact
//!   revisions (ids, status, trigger, variables, stop…), stored as an [`Execution`] whose
//!   lists and maps are empty;
//! * `s/<stage>`: a stage run's own fields (status, retries, conditions), without its actions;
//! * `a/<stage>/<action>`: one action run (every attempt of it);
//! * `art/<name>`, `ns/<namespace>`, `rev/<index>`: one artifact location, one namespace of
//!   output variables, one artifact revision.
//!
//! Indices are zero-padded so that keys sort as the execution orders them. Everything here is
//! pure: [`split`] and [`join`] round-trip exactly, and [`changed_parts`] compares structures
//! (nothing unchanged is encoded).

use std::collections::BTreeMap;

use crate::engine::{ActionRun, ArtifactLocation, ArtifactRevision, Execution, StageRun};
use crate::ports::StoreError;
use crate::storage::{from_json, to_json};

/// Which part of an execution.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartKey {
    Stage(usize),
    Action(usize, usize),
    Artifact(String),
    Namespace(String),
    Revision(usize),
}

impl PartKey {
    /// The key as stored.
    pub fn encode(&self) -> String {
        match self {
            PartKey::Stage(stage) => format!("s/{stage:04}"),
            PartKey::Action(stage, action) => format!("a/{stage:04}/{action:04}"),
            PartKey::Artifact(name) => format!("art/{name}"),
            PartKey::Namespace(name) => format!("ns/{name}"),
            PartKey::Revision(index) => format!("rev/{index:04}"),
        }
    }

    /// A stored key read back; one no store writes is corrupt.
    pub fn parse(text: &str) -> Result<PartKey, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("stored execution part key {text:?} is unreadable"));
        let index = |digits: &str| digits.parse::<usize>().map_err(|_| corrupt());
        let (kind, rest) = text.split_once('/').ok_or_else(corrupt)?;
        match kind {
            "s" => Ok(PartKey::Stage(index(rest)?)),
            "a" => {
                let (stage, action) = rest.split_once('/').ok_or_else(corrupt)?;
                Ok(PartKey::Action(index(stage)?, index(action)?))
            }
            "art" => Ok(PartKey::Artifact(rest.to_string())),
            "ns" => Ok(PartKey::Namespace(rest.to_string())),
            "rev" => Ok(PartKey::Revision(index(rest)?)),
            _ => Err(corrupt()),
        }
    }

    /// The stage the part belongs to, for the parts of stages and actions.
    pub fn stage(&self) -> Option<usize> {
        match self {
            PartKey::Stage(stage) | PartKey::Action(stage, _) => Some(*stage),
            _ => None,
        }
    }
}

/// One part, borrowed from the execution it belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Part<'a> {
    /// The stage's own fields: its actions are parts of their own.
    Stage(&'a StageRun),
    Action(&'a ActionRun),
    Artifact(&'a ArtifactLocation),
    Namespace(&'a BTreeMap<String, String>),
    Revision(&'a ArtifactRevision),
}

impl Part<'_> {
    /// The part as a JSON value, for a store that keeps several parts in one record.
    pub fn to_value(&self) -> Result<serde_json::Value, StoreError> {
        let value = match self {
            Part::Stage(stage) => serde_json::to_value(stage_fields(stage)),
            Part::Action(action) => serde_json::to_value(action),
            Part::Artifact(location) => serde_json::to_value(location),
            Part::Namespace(variables) => serde_json::to_value(variables),
            Part::Revision(revision) => serde_json::to_value(revision),
        };
        value.map_err(|e| StoreError::Refused(format!("cannot encode as JSON: {e}")))
    }

    /// The part's stored body.
    pub fn to_json(&self) -> Result<String, StoreError> {
        match self {
            Part::Stage(stage) => to_json(&stage_fields(stage)),
            Part::Action(action) => to_json(action),
            Part::Artifact(location) => to_json(location),
            Part::Namespace(variables) => to_json(variables),
            Part::Revision(revision) => to_json(revision),
        }
    }
}

/// A part read back from the store.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredPart {
    Stage(StageRun),
    Action(ActionRun),
    Artifact(ArtifactLocation),
    Namespace(BTreeMap<String, String>),
    Revision(ArtifactRevision),
}

impl StoredPart {
    /// The part stored at `key` with body `text`.
    pub fn decode(key: &PartKey, text: &str) -> Result<StoredPart, StoreError> {
        const WHAT: &str = "execution part";
        Ok(match key {
            PartKey::Stage(_) => StoredPart::Stage(from_json(text, WHAT)?),
            PartKey::Action(..) => StoredPart::Action(from_json(text, WHAT)?),
            PartKey::Artifact(_) => StoredPart::Artifact(from_json(text, WHAT)?),
            PartKey::Namespace(_) => StoredPart::Namespace(from_json(text, WHAT)?),
            PartKey::Revision(_) => StoredPart::Revision(from_json(text, WHAT)?),
        })
    }

    /// The part stored at `key` as the JSON value `value` ([`Part::to_value`]).
    pub fn from_value(key: &PartKey, value: serde_json::Value) -> Result<StoredPart, StoreError> {
        fn read<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, StoreError> {
            serde_json::from_value(value)
                .map_err(|e| StoreError::Corrupt(format!("stored execution part is unreadable: {e}")))
        }
        Ok(match key {
            PartKey::Stage(_) => StoredPart::Stage(read(value)?),
            PartKey::Action(..) => StoredPart::Action(read(value)?),
            PartKey::Artifact(_) => StoredPart::Artifact(read(value)?),
            PartKey::Namespace(_) => StoredPart::Namespace(read(value)?),
            PartKey::Revision(_) => StoredPart::Revision(read(value)?),
        })
    }
}

/// The head: everything of the execution that does not grow with the pipeline. Its stages,
/// artifacts, namespaces and artifact revisions are empty (they are parts).
pub fn head(execution: &Execution) -> Execution {
    // Destructured whole: a field added to `Execution` must be placed in the head or a part.
    let Execution {
        id,
        pipeline_name,
        pipeline_version,
        pipeline_created,
        mode,
        status,
        status_summary,
        trigger,
        started_at,
        updated_at,
        attempt,
        seed,
        variables,
        source_revision_overrides,
        action_timeout_seconds,
        stop,
        stages: _,
        artifacts: _,
        namespaces: _,
        artifact_revisions: _,
        execution_type,
        rollback,
    } = execution;
    Execution {
        id: id.clone(),
        pipeline_name: pipeline_name.clone(),
        pipeline_version: *pipeline_version,
        pipeline_created: *pipeline_created,
        mode: *mode,
        status: *status,
        status_summary: status_summary.clone(),
        trigger: trigger.clone(),
        started_at: *started_at,
        updated_at: *updated_at,
        attempt: *attempt,
        seed: seed.clone(),
        variables: variables.clone(),
        source_revision_overrides: source_revision_overrides.clone(),
        action_timeout_seconds: *action_timeout_seconds,
        stop: stop.clone(),
        stages: Vec::new(),
        artifacts: BTreeMap::new(),
        namespaces: BTreeMap::new(),
        artifact_revisions: Vec::new(),
        execution_type: *execution_type,
        rollback: rollback.clone(),
    }
}

/// The head as stored.
pub fn head_json(execution: &Execution) -> Result<String, StoreError> {
    to_json(&head(execution))
}

/// A stage run without its actions.
fn stage_fields(stage: &StageRun) -> StageRun {
    let StageRun { name, status, run, auto_retries, manual_retries, latest_retry_trigger, actions: _, conditions } =
        stage;
    StageRun {
        name: name.clone(),
        status: *status,
        run: *run,
        auto_retries: *auto_retries,
        manual_retries: *manual_retries,
        latest_retry_trigger: *latest_retry_trigger,
        actions: Vec::new(),
        conditions: conditions.clone(),
    }
}

/// Whether two stage runs have the same own fields (their actions aside).
fn same_stage_fields(a: &StageRun, b: &StageRun) -> bool {
    let StageRun { name, status, run, auto_retries, manual_retries, latest_retry_trigger, actions: _, conditions } = a;
    *name == b.name
        && *status == b.status
        && *run == b.run
        && *auto_retries == b.auto_retries
        && *manual_retries == b.manual_retries
        && *latest_retry_trigger == b.latest_retry_trigger
        && *conditions == b.conditions
}

/// Every part of `execution`, in key order within each kind.
pub fn split(execution: &Execution) -> Vec<(PartKey, Part<'_>)> {
    let mut parts = Vec::new();
    for (s, stage) in execution.stages.iter().enumerate() {
        parts.push((PartKey::Stage(s), Part::Stage(stage)));
        for (a, action) in stage.actions.iter().enumerate() {
            parts.push((PartKey::Action(s, a), Part::Action(action)));
        }
    }
    parts.extend(execution.artifacts.iter().map(|(name, at)| (PartKey::Artifact(name.clone()), Part::Artifact(at))));
    parts.extend(
        execution.namespaces.iter().map(|(name, vars)| (PartKey::Namespace(name.clone()), Part::Namespace(vars))),
    );
    parts.extend(
        execution.artifact_revisions.iter().enumerate().map(|(i, r)| (PartKey::Revision(i), Part::Revision(r))),
    );
    parts
}

/// The execution whose head is `head` and whose parts are `parts` (in any order). Stages,
/// actions and revisions must be numbered from 0 without a gap, and every action belong to a
/// stage: anything else is corrupt.
pub fn join(
    mut head: Execution,
    parts: impl IntoIterator<Item = (PartKey, StoredPart)>,
) -> Result<Execution, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("execution {}: {what}", head.id));
    let mut stages = BTreeMap::new();
    let mut actions: BTreeMap<(usize, usize), ActionRun> = BTreeMap::new();
    let mut revisions = BTreeMap::new();
    let (mut artifacts, mut namespaces) = (BTreeMap::new(), BTreeMap::new());
    for (key, part) in parts {
        match (key, part) {
            (PartKey::Stage(s), StoredPart::Stage(stage)) => drop(stages.insert(s, stage)),
            (PartKey::Action(s, a), StoredPart::Action(action)) => drop(actions.insert((s, a), action)),
            (PartKey::Artifact(name), StoredPart::Artifact(at)) => drop(artifacts.insert(name, at)),
            (PartKey::Namespace(name), StoredPart::Namespace(vars)) => drop(namespaces.insert(name, vars)),
            (PartKey::Revision(i), StoredPart::Revision(revision)) => drop(revisions.insert(i, revision)),
            (key, _) => return Err(corrupt(format!("part {} holds another kind of part", key.encode()))),
        }
    }
    let numbered = |indices: &mut dyn Iterator<Item = usize>| indices.enumerate().all(|(expected, i)| i == expected);
    if !numbered(&mut stages.keys().copied()) || !numbered(&mut revisions.keys().copied()) {
        return Err(corrupt("its stages or revisions are not numbered from 0 without a gap".into()));
    }
    let mut stages: Vec<StageRun> = stages.into_values().collect();
    for ((s, a), action) in actions {
        let stage = stages.get_mut(s).ok_or_else(|| corrupt(format!("action part {s}/{a} has no stage")))?;
        if stage.actions.len() != a {
            return Err(corrupt(format!("the actions of stage {s} are not numbered from 0 without a gap")));
        }
        stage.actions.push(action);
    }
    head.stages = stages;
    head.artifacts = artifacts;
    head.namespaces = namespaces;
    head.artifact_revisions = revisions.into_values().collect();
    Ok(head)
}

/// What a store writes to go from one version of an execution to the next: the head always
/// (it holds the version and the time of the change), and these parts.
#[derive(Debug, Clone, PartialEq)]
pub struct PartChanges<'a> {
    /// Parts that are new or differ, borrowed from the new execution.
    pub write: Vec<(PartKey, Part<'a>)>,
    /// Parts the new execution no longer has.
    pub delete: Vec<PartKey>,
}

impl PartChanges<'_> {
    pub fn is_empty(&self) -> bool {
        self.write.is_empty() && self.delete.is_empty()
    }
}

/// The parts that differ between `old` and `new`, compared as structures.
pub fn changed_parts<'a>(old: &Execution, new: &'a Execution) -> PartChanges<'a> {
    let mut changes = PartChanges { write: Vec::new(), delete: Vec::new() };
    for (s, stage) in new.stages.iter().enumerate() {
        let before = old.stages.get(s);
        if !before.is_some_and(|b| same_stage_fields(b, stage)) {
            changes.write.push((PartKey::Stage(s), Part::Stage(stage)));
        }
        for (a, action) in stage.actions.iter().enumerate() {
            if before.and_then(|b| b.actions.get(a)) != Some(action) {
                changes.write.push((PartKey::Action(s, a), Part::Action(action)));
            }
        }
        let gone = before.map_or(0, |b| b.actions.len());
        changes.delete.extend((stage.actions.len()..gone).map(|a| PartKey::Action(s, a)));
    }
    for (s, stage) in old.stages.iter().enumerate().skip(new.stages.len()) {
        changes.delete.push(PartKey::Stage(s));
        changes.delete.extend((0..stage.actions.len()).map(|a| PartKey::Action(s, a)));
    }
    map_changes(&old.artifacts, &new.artifacts, PartKey::Artifact, Part::Artifact, &mut changes);
    map_changes(&old.namespaces, &new.namespaces, PartKey::Namespace, Part::Namespace, &mut changes);
    for (i, revision) in new.artifact_revisions.iter().enumerate() {
        if old.artifact_revisions.get(i) != Some(revision) {
            changes.write.push((PartKey::Revision(i), Part::Revision(revision)));
        }
    }
    changes.delete.extend((new.artifact_revisions.len()..old.artifact_revisions.len()).map(PartKey::Revision));
    changes
}

fn map_changes<'a, V: PartialEq>(
    old: &BTreeMap<String, V>,
    new: &'a BTreeMap<String, V>,
    key: fn(String) -> PartKey,
    part: fn(&'a V) -> Part<'a>,
    changes: &mut PartChanges<'a>,
) {
    for (name, value) in new {
        if old.get(name) != Some(value) {
            changes.write.push((key(name.clone()), part(value)));
        }
    }
    changes.delete.extend(old.keys().filter(|name| !new.contains_key(*name)).map(|name| key(name.clone())));
}

/// Test support: the execution a store would read back after writing every part of
/// `execution` (encoded and decoded), and after writing only [`changed_parts`] from `old`
/// over `old`'s stored parts.
#[cfg(test)]
pub(crate) mod check {
    use super::*;

    fn stored(execution: &Execution) -> BTreeMap<String, String> {
        split(execution).into_iter().map(|(key, part)| (key.encode(), part.to_json().unwrap())).collect()
    }

    fn read(head: &str, parts: &BTreeMap<String, String>) -> Execution {
        let head: Execution = from_json(head, "head").unwrap();
        let parts = parts.iter().map(|(key, text)| {
            let key = PartKey::parse(key).unwrap();
            let part = StoredPart::decode(&key, text).unwrap();
            (key, part)
        });
        join(head, parts).unwrap()
    }

    pub(crate) fn round_trip(execution: &Execution) -> Execution {
        read(&head_json(execution).unwrap(), &stored(execution))
    }

    pub(crate) fn by_changes(old: &Execution, new: &Execution) -> Execution {
        let mut parts = stored(old);
        let changes = changed_parts(old, new);
        for key in &changes.delete {
            parts.remove(&key.encode());
        }
        for (key, part) in &changes.write {
            parts.insert(key.encode(), part.to_json().unwrap());
        }
        read(&head_json(new).unwrap(), &parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_as_written_and_sort_as_the_execution_orders_them() {
        let keys = [
            PartKey::Stage(2),
            PartKey::Action(2, 11),
            PartKey::Artifact("Build/Out-1".into()),
            PartKey::Namespace("Src".into()),
            PartKey::Revision(0),
        ];
        for key in &keys {
            assert_eq!(PartKey::parse(&key.encode()).as_ref(), Ok(key));
        }
        assert!(PartKey::Action(1, 9).encode() < PartKey::Action(1, 10).encode());
        for bad in ["", "s", "s/x", "a/1", "zz/1", "rev/-1"] {
            assert!(matches!(PartKey::parse(bad), Err(StoreError::Corrupt(_))), "{bad:?}");
        }
    }
}
