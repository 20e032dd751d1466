//! Idempotency in the core: applying an event twice has the effect of applying it once, and
//! effects are deterministic (issue #2, point 6).

use std::collections::BTreeSet;

use super::harness::*;
use crate::engine::*;
use crate::pipeline::RetryMode;

/// Builds one event of a scenario from the state the scenario has reached.
type MakeEvent = Box<dyn Fn(&Sim) -> Event>;

/// A scenario touching every kind of event.
fn scenario() -> Vec<MakeEvent> {
    vec![
        Box::new(|s: &Sim| s.start_event("e1")),
        Box::new(|s: &Sim| s.success_event("e1", "Source", "Src")),
        Box::new(|s: &Sim| s.failure_event("e1", "Build", "Compile")),
        Box::new(|s: &Sim| s.success_event("e1", "Build", "Lint")),
        Box::new(|s: &Sim| s.retry_event("e1", "Build", RetryMode::FailedActions)),
        Box::new(|s: &Sim| s.transition_event("Deploy", false)),
        Box::new(|s: &Sim| s.success_event("e1", "Build", "Compile")),
        Box::new(|s: &Sim| s.success_event("e1", "Build", "Package")),
        Box::new(|s: &Sim| s.start_event("e2")),
        Box::new(|s: &Sim| s.transition_event("Deploy", true)),
        Box::new(|s: &Sim| s.stop_event("e1", false)),
        Box::new(|s: &Sim| s.success_event("e1", "Deploy", "Ship")),
        Box::new(|s: &Sim| s.tick_event("e2")),
    ]
}

#[test]
fn every_event_applied_twice_changes_the_world_once() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    for make in scenario() {
        sim.advance_minutes(1);
        let event = make(&sim);
        let _ = sim.try_apply(event.clone());
        let after_once = sim.world.clone();
        let log_length = sim.log.len();
        match sim.try_apply(event.clone()) {
            Ok(Step::Stale(_)) | Err(_) => {}
            Ok(Step::Applied(_)) => panic!("{} applied a second time", event.kind()),
        }
        assert_eq!(sim.world, after_once, "{} changed the world twice", event.kind());
        assert_eq!(sim.log.len(), log_length, "{} emitted effects twice", event.kind());
    }
}

#[test]
fn the_same_event_on_the_same_world_gives_the_same_effects() {
    let mut sim = Sim::new(three_stages("QUEUED"));
    sim.start("e1");
    let event = sim.success_event("e1", "Source", "Src");
    let world = sim.world_for(&event);
    let first = apply(&sim.pipeline, world.clone(), &event, sim.now).unwrap();
    let second = apply(&sim.pipeline, world, &event, sim.now).unwrap();
    assert_eq!(first, second);
}

#[test]
fn effect_ids_are_unique_over_a_whole_run() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    for make in scenario() {
        sim.advance_minutes(1);
        let event = make(&sim);
        let _ = sim.try_apply(event);
    }
    let mut seen = BTreeSet::new();
    for effect in &sim.log {
        assert!(seen.insert(effect.id().to_string()), "effect id {} emitted twice", effect.id());
    }
    assert!(seen.len() > 30, "the scenario produced {} effects", seen.len());
}

#[test]
fn a_start_for_an_existing_execution_is_stale() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    assert_eq!(sim.stale(sim.start_event("e1")), Stale::DuplicateStart);
}
