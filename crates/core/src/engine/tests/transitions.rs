//! Disabling and enabling the inbound transition of a stage (docs/reference/codepipeline.md §3.8).

use super::harness::*;
use crate::engine::*;

fn through_build(sim: &mut Sim, id: &str) {
    sim.start(id);
    sim.succeed(id, "Source", "Src");
    for action in ["Compile", "Lint", "Package"] {
        sim.succeed(id, "Build", action);
    }
}

#[test]
fn a_disabled_transition_holds_an_execution_until_it_is_enabled() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.ok(sim.transition_event("Deploy", false));
    through_build(&mut sim, "e1");
    assert_eq!(sim.stage_status("e1", "Build"), Some(StageStatus::Succeeded));
    assert_eq!(sim.stage_status("e1", "Deploy"), None);
    assert_eq!(sim.inbound("Deploy"), ["e1"]);
    assert_eq!(sim.occupant("Build"), None, "the held execution does not keep Build");
    assert_eq!(sim.status("e1"), ExecutionStatus::InProgress);
    sim.advance_minutes(5);
    let effects = sim.ok(sim.transition_event("Deploy", true));
    assert_eq!(dispatched(&effects), ["Deploy/Ship"]);
    assert_eq!(sim.occupant("Deploy"), Some("e1"));
    let transition = &sim.world.pipeline.stages[2].transition;
    assert!(transition.enabled && transition.disabled_reason.is_none());
}

#[test]
fn executions_already_past_the_transition_continue() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    through_build(&mut sim, "e1");
    sim.ok(sim.transition_event("Deploy", false));
    sim.succeed("e1", "Deploy", "Ship");
    assert_eq!(sim.status("e1"), ExecutionStatus::Succeeded);
}

#[test]
fn superseded_applies_at_a_disabled_transition() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.ok(sim.transition_event("Deploy", false));
    through_build(&mut sim, "e1");
    through_build(&mut sim, "e2");
    assert_eq!(sim.status("e1"), ExecutionStatus::Superseded);
    assert_eq!(sim.inbound("Deploy"), ["e2"]);
    sim.advance_minutes(1);
    assert_eq!(dispatched(&sim.ok(sim.transition_event("Deploy", true))), ["Deploy/Ship"]);
    assert_eq!(sim.occupant("Deploy"), Some("e2"), "the latest one goes through");
}

#[test]
fn queued_executions_go_through_in_order_once_enabled() {
    let mut sim = Sim::new(three_stages("QUEUED"));
    sim.ok(sim.transition_event("Deploy", false));
    through_build(&mut sim, "e1");
    through_build(&mut sim, "e2");
    assert_eq!(sim.inbound("Deploy"), ["e1", "e2"]);
    sim.advance_minutes(1);
    sim.ok(sim.transition_event("Deploy", true));
    assert_eq!(sim.occupant("Deploy"), Some("e1"));
    assert_eq!(sim.inbound("Deploy"), ["e2"]);
}

#[test]
fn parallel_executions_all_go_through_once_enabled() {
    let mut sim = Sim::new(three_stages("PARALLEL"));
    sim.ok(sim.transition_event("Deploy", false));
    through_build(&mut sim, "e1");
    through_build(&mut sim, "e2");
    assert_eq!(sim.inbound("Deploy"), ["e1", "e2"]);
    sim.advance_minutes(1);
    assert_eq!(dispatched(&sim.ok(sim.transition_event("Deploy", true))), ["Deploy/Ship", "Deploy/Ship"]);
    assert!(sim.inbound("Deploy").is_empty());
}

#[test]
fn transition_requests_are_checked() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    assert!(
        matches!(sim.rejected(sim.transition_event("Source", false)), Rejection::Validation(m) if m.contains("first stage"))
    );
    assert_eq!(sim.rejected(sim.transition_event("Nope", false)), Rejection::StageNotFound("Nope".into()));
    let mut bad_reason = sim.transition_event("Deploy", false);
    if let Event::SetTransition(t) = &mut bad_reason {
        t.reason = Some("no_underscores".into());
    }
    assert!(matches!(sim.rejected(bad_reason), Rejection::Validation(m) if m.starts_with("reason:")));
    let mut no_reason = sim.transition_event("Deploy", false);
    if let Event::SetTransition(t) = &mut no_reason {
        t.reason = None;
    }
    assert!(matches!(sim.rejected(no_reason), Rejection::Validation(_)));
}

#[test]
fn an_older_or_repeated_transition_request_changes_nothing() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    let old_enable = sim.transition_event("Deploy", true);
    sim.advance_minutes(1);
    let disable = sim.transition_event("Deploy", false);
    sim.ok(disable.clone());
    assert_eq!(sim.stale(disable), Stale::TransitionUnchanged);
    // A delayed enable from before the disable must not undo it.
    assert_eq!(sim.stale(old_enable), Stale::TransitionOutdated);
    assert!(!sim.world.pipeline.stages[2].transition.enabled);
}

#[test]
fn a_hold_longer_than_thirty_days_does_not_resume_the_held_execution() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.ok(sim.transition_event("Deploy", false));
    through_build(&mut sim, "e1");
    sim.advance_minutes(31 * 24 * 60);
    let effects = sim.ok(sim.transition_event("Deploy", true));
    assert_eq!(published(&effects), ["pipeline e1 CANCELED"]);
    assert_eq!(sim.status("e1"), ExecutionStatus::Cancelled);
    assert_eq!(sim.occupant("Deploy"), None);
    through_build(&mut sim, "e2");
    assert_eq!(sim.occupant("Deploy"), Some("e2"), "a new change goes through");
}
