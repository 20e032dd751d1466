//! SUPERSEDED, QUEUED and PARALLEL, with stage locks and inbound executions
//! (docs/reference/codepipeline.md §3.6–3.7).

use super::harness::*;
use crate::engine::*;

#[test]
fn superseded_a_newer_execution_replaces_the_one_waiting_at_a_boundary() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    assert_eq!(sim.occupant("Build"), Some("e1"));

    sim.start("e2");
    sim.succeed("e2", "Source", "Src");
    assert_eq!(sim.inbound("Build"), ["e2"], "e2 waits in front of the locked Build stage");
    assert_eq!(sim.occupant("Source"), None, "e2 released Source when it finished it");

    sim.start("e3");
    let effects = sim.succeed("e3", "Source", "Src");
    assert!(published(&effects).contains(&"pipeline e2 SUPERSEDED".to_string()));
    assert_eq!(sim.status("e2"), ExecutionStatus::Superseded);
    assert_eq!(sim.inbound("Build"), ["e3"]);
    assert_eq!(sim.status("e1"), ExecutionStatus::InProgress, "an execution inside a stage is never superseded");

    sim.succeed("e1", "Build", "Compile");
    sim.succeed("e1", "Build", "Lint");
    let effects = sim.succeed("e1", "Build", "Package");
    assert_eq!(dispatched(&effects), ["Deploy/Ship", "Build/Compile", "Build/Lint"], "e1 moves on and e3 enters Build");
    assert_eq!(sim.occupant("Build"), Some("e3"));
    assert_eq!(sim.occupant("Deploy"), Some("e1"));
}

#[test]
fn superseded_applies_in_front_of_the_first_stage_too() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    assert_eq!(dispatched(&sim.start("e2")), Vec::<String>::new());
    assert_eq!(sim.inbound("Source"), ["e2"]);
    sim.start("e3");
    assert_eq!(sim.status("e2"), ExecutionStatus::Superseded);
    assert_eq!(dispatched(&sim.succeed("e1", "Source", "Src")), ["Build/Compile", "Build/Lint", "Source/Src"]);
}

#[test]
fn an_approval_keeps_its_stage_locked_and_is_not_superseded() {
    let declaration = pipeline_json(
        "SUPERSEDED",
        vec![
            stage("Source", vec![source("Src", "Code")]),
            stage("Gate", vec![approval("Approve", 1)]),
            stage("Deploy", vec![command("Ship", 1, &["Code"], &[])]),
        ],
    );
    let mut sim = Sim::new(declaration);
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    for id in ["e2", "e3"] {
        sim.start(id);
        sim.succeed(id, "Source", "Src");
    }
    assert_eq!(sim.occupant("Gate"), Some("e1"));
    assert_eq!(sim.status("e1"), ExecutionStatus::InProgress);
    assert_eq!(sim.status("e2"), ExecutionStatus::Superseded);
    assert_eq!(sim.inbound("Gate"), ["e3"]);
}

#[test]
fn queued_executions_wait_in_order_and_are_never_superseded() {
    let mut sim = Sim::new(three_stages("QUEUED"));
    for id in ["e1", "e2", "e3"] {
        sim.start(id);
    }
    assert_eq!(sim.occupant("Source"), Some("e1"));
    assert_eq!(sim.inbound("Source"), ["e2", "e3"]);
    sim.succeed("e1", "Source", "Src");
    assert_eq!(sim.occupant("Source"), Some("e2"));
    sim.succeed("e2", "Source", "Src");
    sim.succeed("e3", "Source", "Src");
    assert_eq!(sim.occupant("Build"), Some("e1"));
    assert_eq!(sim.inbound("Build"), ["e2", "e3"]);
    for id in ["e1", "e2", "e3"] {
        assert_eq!(sim.status(id), ExecutionStatus::InProgress);
    }
    for action in ["Compile", "Lint", "Package"] {
        sim.succeed("e1", "Build", action);
    }
    assert_eq!(sim.occupant("Build"), Some("e2"), "FIFO");
    assert_eq!(sim.inbound("Build"), ["e3"]);
}

#[test]
fn a_failed_execution_lets_the_next_queued_one_in() {
    let mut sim = Sim::new(three_stages("QUEUED"));
    for id in ["e1", "e2"] {
        sim.start(id);
        sim.succeed(id, "Source", "Src");
    }
    sim.fail("e1", "Build", "Compile");
    let effects = sim.succeed("e1", "Build", "Lint");
    assert_eq!(dispatched(&effects), ["Build/Compile", "Build/Lint"]);
    assert_eq!(sim.occupant("Build"), Some("e2"));
}

#[test]
fn parallel_executions_share_stages_without_locks() {
    let mut sim = Sim::new(three_stages("PARALLEL"));
    for id in ["e1", "e2", "e3"] {
        assert_eq!(dispatched(&sim.start(id)), ["Source/Src"]);
    }
    for id in ["e1", "e2", "e3"] {
        sim.succeed(id, "Source", "Src");
        assert_eq!(sim.stage_status(id, "Build"), Some(StageStatus::InProgress));
    }
    assert_eq!(sim.occupant("Build"), None);
    assert!(sim.inbound("Build").is_empty());
    sim.fail("e2", "Build", "Compile");
    sim.succeed("e2", "Build", "Lint");
    assert_eq!(sim.status("e2"), ExecutionStatus::Failed);
    for action in ["Compile", "Lint", "Package"] {
        sim.succeed("e3", "Build", action);
    }
    sim.succeed("e3", "Deploy", "Ship");
    assert_eq!(sim.status("e3"), ExecutionStatus::Succeeded);
    assert_eq!(sim.status("e1"), ExecutionStatus::InProgress, "e1 is unaffected");
}

#[test]
fn queued_and_parallel_pipelines_take_at_most_fifty_active_executions() {
    for mode in ["QUEUED", "PARALLEL"] {
        let mut sim = Sim::new(three_stages(mode));
        // e0 fails in Build, where no other execution follows it.
        sim.start("e0");
        sim.succeed("e0", "Source", "Src");
        sim.fail("e0", "Build", "Compile");
        sim.succeed("e0", "Build", "Lint");
        assert_eq!(sim.status("e0"), ExecutionStatus::Failed, "{mode}");
        for n in 1..=50 {
            sim.start(&format!("e{n}"));
        }
        let event = sim.start_event("e51");
        let rejection = sim.rejected(event);
        assert_eq!(rejection.exception(), "ConcurrentPipelineExecutionsLimitExceededException", "{mode}");
        // A retry that would resume the failed execution counts as one more.
        let retry = sim.retry_event("e0", "Build", crate::pipeline::RetryMode::FailedActions);
        assert_eq!(sim.rejected(retry).exception(), "ConcurrentPipelineExecutionsLimitExceededException", "{mode}");
        sim.ok(sim.stop_event("e1", true));
        assert!(sim.status("e1").is_finished(), "{mode}");
        sim.start("e51");
        assert_eq!(sim.status("e51"), ExecutionStatus::InProgress, "{mode}: a finished execution frees a place");
    }
}

#[test]
fn superseded_pipelines_have_no_cap() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    for n in 1..=60 {
        sim.start(&format!("e{n}"));
    }
    assert_eq!(sim.status("e60"), ExecutionStatus::InProgress);
}
