//! State-change events in CodePipeline's detail format (docs/reference/codepipeline.md §7.1) and
//! the status values of §3.10.

use serde_json::json;

use super::harness::*;
use crate::engine::*;

fn details(effects: &[Effect]) -> Vec<(String, serde_json::Value)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish(p) => Some((p.detail_type.as_str().to_string(), serde_json::to_value(&p.detail).unwrap())),
            _ => None,
        })
        .collect()
}

#[test]
fn pipeline_started_carries_the_trigger() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    let effects = sim.start("e1");
    let (detail_type, detail) = &details(&effects)[0];
    assert_eq!(detail_type, "CodePipeline Pipeline Execution State Change");
    assert_eq!(
        detail,
        &json!({
            "pipeline": "demo", "execution-id": "e1", "state": "STARTED", "version": 1,
            "execution-trigger": {"trigger-type": "StartPipelineExecution", "trigger-detail": "tester"},
            "pipeline-execution-attempt": 1
        })
    );
}

#[test]
fn action_events_carry_type_region_artifacts_and_result() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    let effects = sim.succeed("e1", "Source", "Src");
    let all = details(&effects);
    let (_, started) =
        all.iter().find(|(t, d)| t.contains("Action") && d["state"] == "STARTED" && d["action"] == "Compile").unwrap();
    assert_eq!(started["type"], json!({"owner": "AWS", "category": "Compute", "provider": "Commands", "version": "1"}));
    assert_eq!(started["region"], "eu-west-1");
    assert_eq!(started["stage"], "Build");
    assert_eq!(started["input-artifacts"][0]["name"], "Code");
    assert_eq!(started["input-artifacts"][0]["s3location"]["bucket"], "artifact-bucket");
    assert!(started["input-artifacts"][0]["s3location"]["key"].as_str().unwrap().starts_with("demo/Code/"));

    let effects = sim.fail("e1", "Build", "Compile");
    let (_, failed) = &details(&effects)[0];
    assert_eq!(failed["state"], "FAILED");
    assert_eq!(
        failed["execution-result"],
        json!({"external-execution-summary": "Compile broke", "error-code": "JobFailed"})
    );
}

#[test]
fn stage_events_name_the_stage() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    let effects = sim.start("e1");
    let stage = details(&effects).into_iter().find(|(t, _)| t.contains("Stage")).unwrap().1;
    assert_eq!(
        stage,
        json!({"pipeline": "demo", "execution-id": "e1", "stage": "Source", "state": "STARTED", "version": 1, "pipeline-execution-attempt": 1})
    );
}

#[test]
fn status_values_are_exactly_codepipeline_s() {
    let names = |values: Vec<serde_json::Value>| {
        values.into_iter().map(|v| v.as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    use ExecutionStatus as E;
    assert_eq!(
        names(
            [E::Cancelled, E::InProgress, E::Stopped, E::Stopping, E::Succeeded, E::Superseded, E::Failed]
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect()
        ),
        ["Cancelled", "InProgress", "Stopped", "Stopping", "Succeeded", "Superseded", "Failed"]
    );
    use StageStatus as S;
    assert_eq!(
        names(
            [S::Cancelled, S::InProgress, S::Failed, S::Stopped, S::Stopping, S::Succeeded, S::Skipped]
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect()
        ),
        ["Cancelled", "InProgress", "Failed", "Stopped", "Stopping", "Succeeded", "Skipped"]
    );
    use ActionStatus as A;
    assert_eq!(
        names(
            [A::InProgress, A::Abandoned, A::Succeeded, A::Failed]
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect()
        ),
        ["InProgress", "Abandoned", "Succeeded", "Failed"]
    );
    for status in [E::Cancelled, E::InProgress, E::Stopped, E::Stopping, E::Succeeded, E::Superseded, E::Failed] {
        assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
    }
}

#[test]
fn events_and_worlds_travel_as_json() {
    let mut sim = Sim::new(three_stages("QUEUED"));
    sim.start("e1");
    let event = sim.success_event("e1", "Source", "Src");
    let text = serde_json::to_string(&event).unwrap();
    assert!(text.starts_with("{\"type\":\"ActionSucceeded\""), "{text}");
    assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
    let world: World = serde_json::from_str(&serde_json::to_string(&sim.world).unwrap()).unwrap();
    assert_eq!(world, sim.world);
}
