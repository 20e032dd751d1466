//! Executions as the stores keep them (`execution_parts`): every execution the engine makes
//! splits and joins back exactly, and the parts one event changes are its own.

use std::collections::BTreeMap;

use super::harness::*;
use crate::engine::{ArtifactLocation, ArtifactRevision};
use crate::execution_parts::{PartKey, StoredPart, changed_parts, check, head, join};
use crate::ports::StoreError;

fn keys(changes: &crate::execution_parts::PartChanges<'_>) -> Vec<String> {
    changes.write.iter().map(|(key, _)| key.encode()).collect()
}

#[test]
fn every_step_of_a_run_splits_joins_and_changes_exactly() {
    let mut sim = Sim::new(three_stages("QUEUED"));
    sim.start("e1");
    let mut old = sim.execution("e1").clone();
    assert_eq!(check::round_trip(&old), old);
    for (stage, action) in
        [("Source", "Src"), ("Build", "Compile"), ("Build", "Lint"), ("Build", "Package"), ("Deploy", "Ship")]
    {
        sim.succeed("e1", stage, action);
        let new = sim.execution("e1").clone();
        assert_eq!(check::round_trip(&new), new, "after {action}");
        assert_eq!(check::by_changes(&old, &new), new, "after {action}");
        let written = keys(&changed_parts(&old, &new));
        let s = new.stage_index(stage).unwrap();
        let a = new.stages[s].action_index(action).unwrap();
        assert!(written.contains(&PartKey::Action(s, a).encode()), "{action}: {written:?}");
        // The other actions of its stage that did not start or finish keep their parts.
        if action == "Compile" {
            assert!(!written.contains(&PartKey::Action(s, 1).encode()), "Lint is untouched: {written:?}");
            assert!(written.contains(&PartKey::Artifact("Bin".into()).encode()), "{written:?}");
        }
        old = new;
    }
    assert!(changed_parts(&old, &old).is_empty(), "nothing changed, nothing to write");
}

#[test]
fn artifacts_namespaces_and_revisions_are_parts_of_their_own() {
    let mut sim = Sim::new(three_stages("QUEUED"));
    sim.start("e1");
    let mut execution = sim.execution("e1").clone();
    execution.artifacts.insert("Code".into(), ArtifactLocation { bucket: "b".into(), key: "k".into() });
    execution.namespaces.insert("SrcVars".into(), BTreeMap::from([("CommitId".into(), "abc".into())]));
    execution.artifact_revisions.push(ArtifactRevision {
        name: "Code".into(),
        action_name: "Src".into(),
        revision_id: "abc".into(),
        revision_change_identifier: None,
        revision_summary: Some("fix".into()),
        revision_url: None,
        created: None,
    });
    assert_eq!(check::round_trip(&execution), execution);
    let head = head(&execution);
    assert!(head.stages.is_empty() && head.artifacts.is_empty() && head.namespaces.is_empty());
    assert!(head.artifact_revisions.is_empty());
}

#[test]
fn removed_parts_are_deleted_and_gaps_are_corrupt() {
    let mut sim = Sim::new(three_stages("QUEUED"));
    sim.start("e1");
    let mut old = sim.execution("e1").clone();
    old.artifacts.insert("Gone".into(), ArtifactLocation { bucket: "b".into(), key: "k".into() });
    old.namespaces.insert("Gone".into(), BTreeMap::new());
    let mut new = old.clone();
    new.artifacts.clear();
    new.namespaces.clear();
    new.stages[1].actions.truncate(1);
    new.stages.truncate(2);
    let changes = changed_parts(&old, &new);
    let mut deleted: Vec<String> = changes.delete.iter().map(PartKey::encode).collect();
    deleted.sort();
    assert_eq!(deleted, ["a/0001/0001", "a/0001/0002", "a/0002/0000", "art/Gone", "ns/Gone", "s/0002"]);
    assert_eq!(check::by_changes(&old, &new), new);

    let action = StoredPart::Action(old.stages[1].actions[0].clone());
    let orphan = join(head(&old), [(PartKey::Action(1, 0), action.clone())]);
    assert!(matches!(orphan, Err(StoreError::Corrupt(m)) if m.contains("no stage")));
    let stage = |s: usize| (PartKey::Stage(s), StoredPart::Stage(old.stages[s].clone()));
    let gap = join(head(&old), [stage(0), stage(1), (PartKey::Action(1, 1), action)]);
    assert!(matches!(gap, Err(StoreError::Corrupt(m)) if m.contains("without a gap")));
    let wrong = join(head(&old), [(PartKey::Stage(0), StoredPart::Namespace(BTreeMap::new()))]);
    assert!(matches!(wrong, Err(StoreError::Corrupt(_))));
}

#[test]
fn an_execution_records_when_its_pipeline_was_created_and_older_ones_read_without_it() {
    let mut sim = Sim::new(three_stages("QUEUED"));
    sim.pipeline.created = Some(crate::time::Timestamp::from_millis(42));
    sim.start("e1");
    let execution = sim.execution("e1").clone();
    assert_eq!(execution.pipeline_created, Some(crate::time::Timestamp::from_millis(42)));
    assert_eq!(head(&execution).pipeline_created, execution.pipeline_created, "the head keeps it");
    assert_eq!(check::round_trip(&execution), execution);

    // Stored before the field existed: read as unknown, and written back without it.
    let mut json = serde_json::to_value(&execution).unwrap();
    assert_eq!(json["pipelineCreated"], 42);
    json.as_object_mut().unwrap().remove("pipelineCreated");
    let older: crate::engine::Execution = serde_json::from_value(json).unwrap();
    assert_eq!(older.pipeline_created, None);
    assert!(serde_json::to_value(&older).unwrap().get("pipelineCreated").is_none());
}
