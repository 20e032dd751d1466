//! StopPipelineExecution: stop and wait, stop and abandon (docs/reference/codepipeline.md §3.5).

use super::harness::*;
use crate::engine::*;
use crate::pipeline::RetryMode;

fn building(mode: &str) -> Sim {
    let mut sim = Sim::new(three_stages(mode));
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    sim
}

#[test]
fn stop_and_wait_lets_in_flight_actions_finish_and_starts_nothing_new() {
    let mut sim = building("SUPERSEDED");
    let effects = sim.ok(sim.stop_event("e1", false));
    assert_eq!(published(&effects), ["pipeline e1 STOPPING", "stage Build STOPPING"]);
    assert_eq!(sim.status("e1"), ExecutionStatus::Stopping);
    let stopping = effects.iter().find_map(|e| match e {
        Effect::Publish(p) if p.detail.state == "STOPPING" && p.detail.stage.is_none() => Some(p.detail.clone()),
        _ => None,
    });
    assert_eq!(stopping.unwrap().stop_execution_comments.as_deref(), Some("testing stop"));

    let effects = sim.succeed("e1", "Build", "Compile");
    assert_eq!(dispatched(&effects), Vec::<String>::new());
    assert_eq!(sim.status("e1"), ExecutionStatus::Stopping);
    let effects = sim.fail("e1", "Build", "Lint");
    assert_eq!(dispatched(&effects), Vec::<String>::new(), "Package never starts");
    assert_eq!(published(&effects), ["action Build/Lint FAILED", "stage Build STOPPED", "pipeline e1 STOPPED"]);
    assert_eq!(sim.status("e1"), ExecutionStatus::Stopped);
    assert_eq!(sim.stage_status("e1", "Build"), Some(StageStatus::Stopped));
    assert_eq!(sim.occupant("Build"), None, "a stopped execution releases its stage");
}

#[test]
fn a_second_stop_and_wait_is_a_duplicate_but_abandon_may_follow() {
    let mut sim = building("SUPERSEDED");
    sim.ok(sim.stop_event("e1", false));
    assert_eq!(sim.rejected(sim.stop_event("e1", false)), Rejection::DuplicatedStopRequest("e1".into()));
    let effects = sim.ok(sim.stop_event("e1", true));
    assert_eq!(
        published(&effects),
        ["action Build/Compile ABANDONED", "action Build/Lint ABANDONED", "stage Build STOPPED", "pipeline e1 STOPPED"]
    );
    assert_eq!(sim.status("e1"), ExecutionStatus::Stopped);
}

#[test]
fn stop_and_abandon_abandons_in_flight_actions_at_once() {
    let mut sim = building("SUPERSEDED");
    let late = sim.success_event("e1", "Build", "Compile");
    let effects = sim.ok(sim.stop_event("e1", true));
    assert_eq!(
        published(&effects),
        [
            "pipeline e1 STOPPING",
            "stage Build STOPPING",
            "action Build/Compile ABANDONED",
            "action Build/Lint ABANDONED",
            "stage Build STOPPED",
            "pipeline e1 STOPPED"
        ]
    );
    assert_eq!(sim.action_status("e1", "Build", "Compile"), Some(ActionStatus::Abandoned));
    // The job keeps running elsewhere; its late result changes nothing.
    assert_eq!(sim.stale(late), Stale::ActionFinished { status: "Abandoned" });
}

#[test]
fn a_finished_execution_cannot_be_stopped() {
    let mut sim = building("SUPERSEDED");
    sim.ok(sim.stop_event("e1", true));
    let rejection = sim.rejected(sim.stop_event("e1", true));
    assert_eq!(rejection.exception(), "PipelineExecutionNotStoppableException");
}

#[test]
fn an_inbound_execution_can_be_stopped_and_never_enters_the_stage() {
    let mut sim = building("QUEUED");
    sim.start("e2");
    sim.succeed("e2", "Source", "Src");
    assert_eq!(sim.inbound("Build"), ["e2"]);
    let effects = sim.ok(sim.stop_event("e2", false));
    assert_eq!(published(&effects), ["pipeline e2 STOPPING", "pipeline e2 STOPPED"]);
    assert!(sim.inbound("Build").is_empty());
    for action in ["Compile", "Lint", "Package"] {
        sim.succeed("e1", "Build", action);
    }
    assert_eq!(sim.stage_status("e2", "Build"), None);
    assert_eq!(sim.occupant("Build"), None);
}

#[test]
fn a_stopped_execution_can_be_retried() {
    let mut sim = building("SUPERSEDED");
    sim.succeed("e1", "Build", "Lint");
    sim.ok(sim.stop_event("e1", true));
    let event = sim.retry_event("e1", "Build", RetryMode::FailedActions);
    assert_eq!(dispatched(&sim.ok(event)), ["Build/Compile"], "the abandoned action runs again");
    assert_eq!(sim.status("e1"), ExecutionStatus::InProgress);
    assert!(sim.execution("e1").stop.is_none());
}

#[test]
fn a_stopped_execution_between_groups_resumes_with_the_next_group() {
    let mut sim = building("SUPERSEDED");
    sim.ok(sim.stop_event("e1", false));
    sim.succeed("e1", "Build", "Compile");
    sim.succeed("e1", "Build", "Lint");
    assert_eq!(sim.status("e1"), ExecutionStatus::Stopped);
    let event = sim.retry_event("e1", "Build", RetryMode::FailedActions);
    assert_eq!(dispatched(&sim.ok(event)), ["Build/Package"]);
}
