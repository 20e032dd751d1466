//! A pipeline update cancels executions of the old structure (docs/reference/codepipeline.md §3.6).

use serde_json::json;

use super::harness::*;
use crate::engine::*;
use crate::pipeline::RetryMode;

#[test]
fn an_update_cancels_running_and_waiting_executions() {
    let mut sim = Sim::new(three_stages("QUEUED"));
    sim.ok(sim.transition_event("Deploy", false));
    for id in ["e1", "e2"] {
        sim.start(id);
        sim.succeed(id, "Source", "Src");
    }
    sim.fail("e1", "Build", "Compile");
    let late = sim.success_event("e1", "Build", "Lint");
    assert_eq!(sim.inbound("Build"), ["e2"]);

    let mut declaration = three_stages("QUEUED");
    declaration["version"] = json!(2);
    declaration["stages"][2]["name"] = json!("Release");
    let new_pipeline = compile(declaration);
    let event = Event::PipelineUpdated(PipelineUpdated { version: 2 });
    let world = sim.world_for(&event);
    assert_eq!(world.executions.len(), 2, "an update loads every active execution");
    let Step::Applied(applied) = apply(&new_pipeline, world, &event, sim.now).unwrap() else { panic!("stale") };
    assert_eq!(
        published(&applied.effects),
        ["action Build/Lint CANCELED", "stage Build CANCELED", "pipeline e1 CANCELED", "pipeline e2 CANCELED"]
    );
    sim.pipeline = new_pipeline;
    sim.world = applied.world;
    assert_eq!(sim.status("e1"), ExecutionStatus::Cancelled);
    assert_eq!(sim.status("e2"), ExecutionStatus::Cancelled);
    assert_eq!(sim.action_status("e1", "Build", "Lint"), Some(ActionStatus::Abandoned));
    assert_eq!(sim.world.pipeline.version, 2);
    assert_eq!(sim.world.pipeline.stages[2].name, "Release");
    assert!(sim.world.pipeline.stages[2].transition.enabled, "a renamed stage starts afresh");
    assert_eq!(sim.occupant("Build"), None);

    assert_eq!(sim.stale(late), Stale::ActionFinished { status: "Abandoned" });
    let retry = sim.retry_event("e1", "Build", RetryMode::FailedActions);
    assert!(matches!(sim.rejected(retry), Rejection::StageNotRetryable(_)));
    sim.start("e3");
    assert_eq!(sim.execution("e3").pipeline_version, 2);
}

#[test]
fn a_failed_execution_of_an_older_version_is_not_retryable() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    sim.fail("e1", "Source", "Src");
    let mut declaration = three_stages("SUPERSEDED");
    declaration["version"] = json!(2);
    let new_pipeline = compile(declaration);
    let event = Event::PipelineUpdated(PipelineUpdated { version: 2 });
    let Step::Applied(applied) = apply(&new_pipeline, sim.world_for(&event), &event, sim.now).unwrap() else {
        panic!()
    };
    sim.pipeline = new_pipeline;
    sim.world.pipeline = applied.world.pipeline;
    let retry = sim.retry_event("e1", "Source", RetryMode::AllActions);
    assert!(matches!(sim.rejected(retry), Rejection::StageNotRetryable(m) if m.contains("pipeline changed")));
    assert_eq!(sim.stale(Event::PipelineUpdated(PipelineUpdated { version: 2 })), Stale::VersionNotNewer);
}

#[test]
fn a_world_laid_out_for_another_version_is_refused() {
    let sim = Sim::new(three_stages("SUPERSEDED"));
    let mut declaration = three_stages("SUPERSEDED");
    declaration["version"] = json!(3);
    let newer = compile(declaration);
    let event = sim.start_event("e1");
    assert!(matches!(apply(&newer, sim.world.clone(), &event, sim.now), Err(Rejection::Inconsistent(_))));
}

#[test]
fn an_execution_the_update_missed_is_cancelled_by_its_next_event() {
    let mut sim = Sim::new(three_stages("PARALLEL"));
    sim.start("e1");
    sim.start("e2");
    let late = sim.success_event("e2", "Source", "Src");
    let mut declaration = three_stages("PARALLEL");
    declaration["version"] = json!(2);
    let new_pipeline = compile(declaration);
    // The update's load missed e2 (an index that had not caught up).
    let event = Event::PipelineUpdated(PipelineUpdated { version: 2 });
    let mut world = sim.world_for(&event);
    world.executions.remove("e2");
    let Step::Applied(applied) = apply(&new_pipeline, world, &event, sim.now).unwrap() else { panic!() };
    sim.pipeline = new_pipeline;
    sim.world.pipeline = applied.world.pipeline;
    for id in applied.changed_executions {
        sim.world.executions.insert(id.clone(), applied.world.executions[&id].clone());
    }
    assert_eq!(sim.status("e1"), ExecutionStatus::Cancelled);
    assert_eq!(sim.status("e2"), ExecutionStatus::InProgress);
    let effects = sim.ok(late);
    assert_eq!(sim.status("e2"), ExecutionStatus::Cancelled, "its next event ends it");
    assert!(published(&effects).contains(&"pipeline e2 CANCELED".to_string()));
}
