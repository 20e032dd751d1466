//! RetryStageExecution and automatic retry (docs/reference/codepipeline.md §3.4).

use super::harness::*;
use crate::engine::*;
use crate::pipeline::RetryMode;
use serde_json::json;

/// e1 failed in Build: Compile failed, Lint succeeded.
fn failed_in_build(mode: &str) -> Sim {
    let mut sim = Sim::new(three_stages(mode));
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    sim.fail("e1", "Build", "Compile");
    sim.succeed("e1", "Build", "Lint");
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
    sim
}

#[test]
fn failed_actions_retry_reruns_only_the_failed_actions() {
    let mut sim = failed_in_build("SUPERSEDED");
    let event = sim.retry_event("e1", "Build", RetryMode::FailedActions);
    let effects = sim.ok(event);
    assert_eq!(dispatched(&effects), ["Build/Compile"]);
    assert_eq!(published(&effects)[..2], ["pipeline e1 RESUMED", "stage Build RESUMED"]);
    assert_eq!(sim.status("e1"), ExecutionStatus::InProgress);
    assert_eq!(sim.execution("e1").attempt, 2);
    assert_eq!(sim.attempt("e1", "Build", "Compile").number, 2);
    assert_eq!(sim.attempt("e1", "Build", "Lint").number, 1, "Lint is not run again");
    assert_eq!(sim.occupant("Build"), Some("e1"));
    let run = &sim.execution("e1").stages[1];
    assert_eq!((run.manual_retries, run.latest_retry_trigger), (1, Some(RetryTrigger::ManualStageRetry)));
    assert_eq!(dispatched(&sim.succeed("e1", "Build", "Compile")), ["Build/Package"]);
    sim.succeed("e1", "Build", "Package");
    sim.succeed("e1", "Deploy", "Ship");
    assert_eq!(sim.status("e1"), ExecutionStatus::Succeeded);
}

#[test]
fn all_actions_retry_restarts_the_stage_from_its_first_group() {
    let mut sim = failed_in_build("SUPERSEDED");
    let event = sim.retry_event("e1", "Build", RetryMode::AllActions);
    assert_eq!(dispatched(&sim.ok(event)), ["Build/Compile", "Build/Lint"]);
    assert_eq!(sim.attempt("e1", "Build", "Lint").number, 2);
    sim.succeed("e1", "Build", "Compile");
    assert_eq!(dispatched(&sim.succeed("e1", "Build", "Lint")), ["Build/Package"]);
}

#[test]
fn a_failed_action_can_be_retried_before_its_group_finishes() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    sim.fail("e1", "Build", "Compile");
    let all = sim.retry_event("e1", "Build", RetryMode::AllActions);
    assert!(matches!(sim.rejected(all), Rejection::StageNotRetryable(m) if m.contains("still in progress")));
    let failed = sim.retry_event("e1", "Build", RetryMode::FailedActions);
    assert_eq!(dispatched(&sim.ok(failed)), ["Build/Compile"]);
    assert_eq!(sim.action_status("e1", "Build", "Lint"), Some(ActionStatus::InProgress), "Lint keeps running");
    sim.succeed("e1", "Build", "Compile");
    assert_eq!(dispatched(&sim.succeed("e1", "Build", "Lint")), ["Build/Package"]);
}

#[test]
fn retry_preconditions_and_their_errors() {
    let mut sim = failed_in_build("SUPERSEDED");
    let wrong_stage = sim.retry_event("e1", "Deploy", RetryMode::FailedActions);
    assert!(matches!(sim.rejected(wrong_stage), Rejection::StageNotRetryable(_)));
    let missing_stage = sim.retry_event("e1", "Nope", RetryMode::FailedActions);
    assert_eq!(sim.rejected(missing_stage), Rejection::StageNotFound("Nope".into()));
    let mut missing_execution = sim.retry_event("e1", "Build", RetryMode::FailedActions);
    if let Event::RetryStage(r) = &mut missing_execution {
        r.execution_id = "nope".into();
    }
    assert_eq!(sim.rejected(missing_execution), Rejection::PipelineExecutionNotFound("nope".into()));

    let mut ok = Sim::new(three_stages("SUPERSEDED"));
    ok.start("e1");
    ok.succeed("e1", "Source", "Src");
    let running = ok.retry_event("e1", "Build", RetryMode::FailedActions);
    assert!(matches!(ok.rejected(running), Rejection::StageNotRetryable(m) if m.contains("no failed actions")));
    for action in ["Compile", "Lint", "Package"] {
        ok.succeed("e1", "Build", action);
    }
    ok.succeed("e1", "Deploy", "Ship");
    let succeeded = ok.retry_event("e1", "Deploy", RetryMode::AllActions);
    assert!(matches!(ok.rejected(succeeded), Rejection::StageNotRetryable(_)));
    assert_eq!(
        sim.rejected(sim.retry_event("e1", "Deploy", RetryMode::AllActions)).exception(),
        "StageNotRetryableException"
    );
}

#[test]
fn only_the_latest_execution_of_a_stage_can_be_retried() {
    let mut sim = failed_in_build("SUPERSEDED");
    sim.start("e2");
    sim.succeed("e2", "Source", "Src");
    assert_eq!(sim.occupant("Build"), Some("e2"));
    let event = sim.retry_event("e1", "Build", RetryMode::FailedActions);
    let rejection = sim.rejected(event);
    assert!(matches!(rejection, Rejection::NotLatestPipelineExecution(_)), "{rejection:?}");
    assert_eq!(rejection.exception(), "NotLatestPipelineExecutionException");
}

#[test]
fn parallel_executions_retry_independently() {
    let mut sim = failed_in_build("PARALLEL");
    sim.start("e2");
    sim.succeed("e2", "Source", "Src");
    let event = sim.retry_event("e1", "Build", RetryMode::FailedActions);
    assert_eq!(dispatched(&sim.ok(event)), ["Build/Compile"]);
}

#[test]
fn a_superseded_execution_cannot_be_retried() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    sim.start("e1");
    sim.start("e2");
    sim.start("e3");
    assert_eq!(sim.status("e2"), ExecutionStatus::Superseded);
    let event = sim.retry_event("e2", "Source", RetryMode::AllActions);
    assert!(matches!(sim.rejected(event), Rejection::StageNotRetryable(m) if m.contains("superseded")));
}

#[test]
fn a_redelivered_retry_changes_nothing() {
    let mut sim = failed_in_build("SUPERSEDED");
    let event = sim.retry_event("e1", "Build", RetryMode::FailedActions);
    sim.ok(event.clone());
    sim.fail("e1", "Build", "Compile");
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
    // The same request arriving again must not start a third attempt.
    assert_eq!(sim.stale(event), Stale::RetryAlreadyApplied);
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
}

fn with_auto_retry(mode: &str) -> Sim {
    let mut declaration = three_stages("SUPERSEDED");
    declaration["stages"][1]["onFailure"] = json!({"result": "RETRY", "retryConfiguration": {"retryMode": mode}});
    let mut sim = Sim::new(declaration);
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    sim
}

#[test]
fn automatic_retry_makes_exactly_one_attempt() {
    let mut sim = with_auto_retry("FAILED_ACTIONS");
    sim.succeed("e1", "Build", "Lint");
    let effects = sim.fail("e1", "Build", "Compile");
    assert_eq!(dispatched(&effects), ["Build/Compile"], "retried automatically");
    assert_eq!(
        published(&effects),
        ["action Build/Compile FAILED", "stage Build FAILED", "stage Build RESUMED", "action Build/Compile STARTED"]
    );
    assert_eq!(sim.status("e1"), ExecutionStatus::InProgress);
    let run = &sim.execution("e1").stages[1];
    assert_eq!((run.auto_retries, run.latest_retry_trigger), (1, Some(RetryTrigger::AutomatedStageRetry)));
    assert_eq!(sim.execution("e1").attempt, 2);
    let effects = sim.fail("e1", "Build", "Compile");
    assert_eq!(dispatched(&effects), Vec::<String>::new(), "only one automatic attempt");
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
}

#[test]
fn automatic_retry_in_all_actions_mode_reruns_the_stage() {
    let mut sim = with_auto_retry("ALL_ACTIONS");
    sim.succeed("e1", "Build", "Lint");
    let effects = sim.fail("e1", "Build", "Compile");
    assert_eq!(dispatched(&effects), ["Build/Compile", "Build/Lint"]);
}
