//! `relies_on_state`: a step it says was decided without the pipeline state commits without
//! checking it, so the same event over any other state the run went through must decide the
//! same for its execution.

use super::harness::*;
use crate::engine::*;

/// The event of one step of the script, if it applies now.
type StepFor = dyn Fn(&Sim) -> Option<Event>;

#[test]
fn a_step_decided_without_the_state_decides_the_same_over_every_state_of_the_run() {
    for mode in ["SUPERSEDED", "QUEUED", "PARALLEL"] {
        let mut sim = Sim::new(three_stages(mode));
        let mut states = vec![sim.world.pipeline.clone()];
        let mut inside = 0;
        // A result only for an action that runs now (an execution may wait at a boundary).
        let running = |sim: &Sim, execution: &str, stage: &str, action: &str| {
            sim.action_status(execution, stage, action) == Some(ActionStatus::InProgress)
        };
        let steps: Vec<Box<StepFor>> = vec![
            Box::new(|sim| Some(sim.start_event("e1"))),
            Box::new(|sim| Some(sim.start_event("e2"))),
            Box::new(move |sim| running(sim, "e1", "Source", "Src").then(|| sim.success_event("e1", "Source", "Src"))),
            Box::new(move |sim| running(sim, "e2", "Source", "Src").then(|| sim.success_event("e2", "Source", "Src"))),
            Box::new(move |sim| {
                running(sim, "e1", "Build", "Compile").then(|| sim.success_event("e1", "Build", "Compile"))
            }),
            Box::new(|sim| Some(sim.tick_event("e1"))),
            Box::new(move |sim| {
                running(sim, "e2", "Build", "Compile").then(|| sim.success_event("e2", "Build", "Compile"))
            }),
            Box::new(move |sim| running(sim, "e1", "Build", "Lint").then(|| sim.success_event("e1", "Build", "Lint"))),
            Box::new(move |sim| running(sim, "e2", "Build", "Lint").then(|| sim.failure_event("e2", "Build", "Lint"))),
            Box::new(move |sim| {
                running(sim, "e1", "Build", "Package").then(|| sim.success_event("e1", "Build", "Package"))
            }),
            Box::new(move |sim| {
                running(sim, "e1", "Deploy", "Ship").then(|| sim.success_event("e1", "Deploy", "Ship"))
            }),
        ];
        for step in &steps {
            let Some(event) = step(&sim) else { continue };
            let world = sim.world_for(&event);
            let Ok(Step::Applied(applied)) = apply(&sim.pipeline, world.clone(), &event, sim.now) else { continue };
            if !relies_on_state(&event, applied.pipeline_changed) {
                inside += 1;
                for other in &states {
                    let over = World { pipeline: other.clone(), executions: world.executions.clone() };
                    let Ok(Step::Applied(again)) = apply(&sim.pipeline, over, &event, sim.now) else {
                        panic!("{mode}: {} applies over another state", event.kind())
                    };
                    assert!(!again.pipeline_changed, "{mode}: {} leaves any state as it is", event.kind());
                    assert_eq!(again.effects, applied.effects, "{mode}: {}", event.kind());
                    for id in &applied.changed_executions {
                        assert_eq!(
                            again.world.executions[id],
                            applied.world.executions[id],
                            "{mode}: {}",
                            event.kind()
                        );
                    }
                }
            }
            sim.try_apply(event).unwrap();
            states.push(sim.world.pipeline.clone());
        }
        assert!(inside >= 2, "{mode}: the run has steps inside a stage ({inside})");
    }
}

#[test]
fn a_step_that_changes_the_state_or_answers_a_command_relies_on_it() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    let start = sim.start_event("e1");
    assert!(relies_on_state(&start, false), "a start");
    sim.start("e1");
    let result = sim.success_event("e1", "Source", "Src");
    assert!(relies_on_state(&result, true), "a result that moves the execution on");
    assert!(!relies_on_state(&result, false), "a result inside its stage");
    let stop =
        Event::StopExecution(StopExecution { execution_id: "e1".into(), abandon: false, reason: None, by: None });
    assert!(relies_on_state(&stop, false), "a user's command");
}
