//! runOrder groups, artifact resolution and failure (docs/reference/codepipeline.md §3.2–3.3).

use super::harness::*;
use crate::engine::*;

#[test]
fn run_order_groups_run_in_parallel_then_in_sequence() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    assert_eq!(dispatched(&sim.start("e1")), ["Source/Src"]);
    assert_eq!(dispatched(&sim.succeed("e1", "Source", "Src")), ["Build/Compile", "Build/Lint"]);
    assert_eq!(dispatched(&sim.succeed("e1", "Build", "Compile")), Vec::<String>::new(), "Lint is still running");
    assert_eq!(dispatched(&sim.succeed("e1", "Build", "Lint")), ["Build/Package"]);
    assert_eq!(dispatched(&sim.succeed("e1", "Build", "Package")), ["Deploy/Ship"]);
    let effects = sim.succeed("e1", "Deploy", "Ship");
    assert_eq!(sim.status("e1"), ExecutionStatus::Succeeded);
    assert_eq!(
        published(&effects),
        ["action Deploy/Ship SUCCEEDED", "stage Deploy SUCCEEDED", "pipeline e1 SUCCEEDED"]
    );
    for stage in ["Source", "Build", "Deploy"] {
        assert_eq!(sim.stage_status("e1", stage), Some(StageStatus::Succeeded));
    }
    assert_eq!(sim.occupant("Deploy"), None);
}

#[test]
fn run_order_gaps_are_just_ordering() {
    let declaration = pipeline_json(
        "SUPERSEDED",
        vec![
            stage("Source", vec![source("Src", "Code")]),
            stage("Build", vec![command("Late", 7, &["Code"], &[]), command("Early", 3, &["Code"], &[])]),
        ],
    );
    let mut sim = Sim::new(declaration);
    sim.start("e1");
    assert_eq!(dispatched(&sim.succeed("e1", "Source", "Src")), ["Build/Early"]);
    assert_eq!(dispatched(&sim.succeed("e1", "Build", "Early")), ["Build/Late"]);
}

#[test]
fn artifacts_are_resolved_by_name_to_the_producer_s_location() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    let compile = sim.attempt("e1", "Build", "Compile").output_artifacts[0].clone();
    assert_eq!(compile.name, "Bin");
    assert_eq!(compile.location.bucket, "artifact-bucket");
    assert!(compile.location.key.starts_with("demo/Bin/"), "{}", compile.location.key);
    sim.succeed("e1", "Build", "Compile");
    let effects = sim.succeed("e1", "Build", "Lint");
    let package = dispatches(&effects)[0];
    assert_eq!(package.input_artifacts, vec![compile.clone()]);
    assert_eq!(sim.execution("e1").artifacts["Bin"], compile.location);
}

#[test]
fn artifact_keys_truncate_the_name_to_ten_characters() {
    let declaration = pipeline_json(
        "SUPERSEDED",
        vec![
            stage("Source", vec![source("Src", "SourceArtifactLong")]),
            stage("Build", vec![command("B", 1, &["SourceArtifactLong"], &[])]),
        ],
    );
    let mut sim = Sim::new(declaration);
    let effects = sim.start("e1");
    let key = &dispatches(&effects)[0].output_artifacts[0].location.key;
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts[..2], ["demo", "SourceArti"]);
    assert_eq!(parts[2].len(), 7);
}

#[test]
fn a_failure_waits_for_its_group_then_fails_stage_and_execution() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    let effects = sim.fail("e1", "Build", "Compile");
    assert_eq!(published(&effects), ["action Build/Compile FAILED"]);
    assert_eq!(sim.status("e1"), ExecutionStatus::InProgress, "Lint is still running");
    assert_eq!(sim.stage_status("e1", "Build"), Some(StageStatus::InProgress));
    let effects = sim.succeed("e1", "Build", "Lint");
    assert_eq!(dispatched(&effects), Vec::<String>::new(), "Package never starts");
    assert_eq!(published(&effects), ["action Build/Lint SUCCEEDED", "stage Build FAILED", "pipeline e1 FAILED"]);
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
    assert_eq!(sim.stage_status("e1", "Build"), Some(StageStatus::Failed));
    assert_eq!(sim.stage_status("e1", "Deploy"), None, "later stages never start");
    assert_eq!(sim.action_status("e1", "Build", "Package"), None);
    let summary = sim.execution("e1").status_summary.clone().unwrap();
    assert!(summary.contains("Compile: Compile broke"), "{summary}");
    assert_eq!(sim.occupant("Build"), None, "a failed execution releases its stage");
}

#[test]
fn failure_details_are_kept_on_the_attempt() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    let job = sim.job_ref("e1", "Source", "Src");
    sim.ok(Event::ActionFailed(ActionFailed {
        job,
        failure: FailureDetails {
            kind: FailureType::RevisionUnavailable,
            message: "branch main is gone".into(),
            external_execution_id: Some("ext-1".into()),
        },
        details: None,
    }));
    let attempt = sim.attempt("e1", "Source", "Src");
    assert_eq!(attempt.status, ActionStatus::Failed);
    let error = attempt.error.clone().unwrap();
    assert_eq!((error.code.as_str(), error.message.as_str()), ("RevisionUnavailable", "branch main is gone"));
    assert_eq!(attempt.external_execution_id.as_deref(), Some("ext-1"));
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
}

#[test]
fn source_revisions_are_recorded() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    let job = sim.job_ref("e1", "Source", "Src");
    sim.ok(Event::ActionSucceeded(ActionSucceeded {
        job,
        output_variables: [("CommitId".to_string(), "abc123".to_string())].into(),
        summary: Some("Fix the build".into()),
        external_execution_id: Some("abc123".into()),
        external_execution_url: None,
        revision: Some(Revision {
            revision_id: "abc123".into(),
            change_identifier: Some("abc123".into()),
            summary: Some("Fix the build".into()),
            url: None,
            created: None,
        }),
        by: None,
        details: None,
    }));
    let revisions = &sim.execution("e1").artifact_revisions;
    assert_eq!(revisions.len(), 1);
    assert_eq!((revisions[0].name.as_str(), revisions[0].revision_id.as_str()), ("Code", "abc123"));
    assert_eq!(sim.execution("e1").namespaces["SrcVars"]["CommitId"], "abc123");
}
