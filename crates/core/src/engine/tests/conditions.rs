//! Stage conditions and rollback (docs/conditions.md, docs/reference/codepipeline.md §3.9).

use serde_json::{Value, json};

use super::harness::*;
use crate::engine::*;
use crate::pipeline::RetryMode;

fn variable_check(name: &str, variable: &str, operator: &str, value: &str) -> Value {
    json!({"name": name, "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "VariableCheck", "version": "1"},
           "configuration": {"Variable": variable, "Operator": operator, "Value": value}})
}

fn window(name: &str, cron: &str) -> Value {
    json!({"name": name, "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "DeploymentWindow", "version": "1"},
           "configuration": {"Cron": cron}})
}

fn commands_rule(name: &str) -> Value {
    json!({"name": name, "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "Commands", "version": "1"},
           "commands": ["./smoke-test #{variables.Env}"], "inputArtifacts": [{"name": "Pkg"}]})
}

/// `three_stages` with `field` (beforeEntry, onSuccess, onFailure) set on stage `stage`.
fn with_condition(mode: &str, stage: usize, field: &str, condition: Value) -> Sim {
    let mut declaration = three_stages(mode);
    declaration["stages"][stage][field] = condition;
    Sim::new(declaration)
}

fn entry(result: &str, rules: Vec<Value>) -> Value {
    json!({"conditions": [{"result": result, "rules": rules}]})
}

/// An entry condition that holds the stage outside weekday office hours (the harness's clock
/// starts outside them).
fn office_hours_entry() -> Value {
    entry("FAIL", vec![window("OfficeHours", "* * 9-17 ? * MON-FRI *")])
}

/// e1 through Source and Build, arriving at Deploy.
fn to_deploy(sim: &mut Sim, id: &str) -> Vec<Effect> {
    sim.start(id);
    sim.succeed(id, "Source", "Src");
    sim.succeed(id, "Build", "Compile");
    sim.succeed(id, "Build", "Lint");
    sim.succeed(id, "Build", "Package")
}

#[test]
fn a_met_entry_condition_lets_the_stage_run() {
    let rule = variable_check("IsStaging", "#{variables.Env}", "EQ", "staging");
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", vec![rule]));
    let effects = to_deploy(&mut sim, "e1");
    assert_eq!(dispatched(&effects), ["Deploy/Ship"]);
    let condition = sim.condition("e1", "Deploy", ConditionKind::BeforeEntry);
    assert_eq!(condition.status, ConditionStatus::Succeeded);
    assert_eq!(condition.rules[0].status, RuleStatus::Succeeded);
    assert_eq!(condition.rules[0].summary.as_deref(), Some("\"staging\" EQ \"staging\" holds"));
}

#[test]
fn skip_leaves_the_stage_skipped_and_moves_on() {
    let rule = variable_check("IsProd", "#{variables.Env}", "EQ", "prod");
    let mut sim = with_condition("SUPERSEDED", 1, "beforeEntry", entry("SKIP", vec![rule]));
    sim.start("e1");
    let effects = sim.succeed("e1", "Source", "Src");
    assert_eq!(sim.stage_status("e1", "Build"), Some(StageStatus::Skipped));
    assert!(published(&effects).contains(&"stage Build SKIPPED".to_string()));
    assert_eq!(sim.occupant("Build"), None, "a skipped stage gives up its lock");
    // Deploy needs Build's artifact, which a skipped stage never made: it fails as
    // CodePipeline reports an input that does not exist.
    assert_eq!(sim.stage_status("e1", "Deploy"), Some(StageStatus::Failed));
    assert!(sim.attempt("e1", "Deploy", "Ship").error.as_ref().unwrap().message.contains("\"Pkg\" was not produced"));
    // Retrying a skipped stage is not possible: the execution is not in it.
    let retry = sim.retry_event("e1", "Build", RetryMode::AllActions);
    assert!(matches!(sim.rejected(retry), Rejection::StageNotRetryable(_)));
}

#[test]
fn a_skipped_last_stage_ends_the_execution_succeeded() {
    let rule = variable_check("IsProd", "#{variables.Env}", "EQ", "prod");
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("SKIP", vec![rule]));
    to_deploy(&mut sim, "e1");
    assert_eq!(sim.stage_status("e1", "Deploy"), Some(StageStatus::Skipped));
    assert_eq!(sim.status("e1"), ExecutionStatus::Succeeded);
}

#[test]
fn fail_with_a_failing_rule_fails_the_stage_before_any_action() {
    let rule = variable_check("IsProd", "#{variables.Env}", "EQ", "prod");
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", vec![rule]));
    let effects = to_deploy(&mut sim, "e1");
    assert!(dispatched(&effects).is_empty());
    assert_eq!(sim.stage_status("e1", "Deploy"), Some(StageStatus::Failed));
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
    assert_eq!(sim.action_status("e1", "Deploy", "Ship"), None);
    let condition = sim.condition("e1", "Deploy", ConditionKind::BeforeEntry);
    assert_eq!(condition.status, ConditionStatus::Failed);
    assert_eq!(condition.rules[0].status, RuleStatus::Failed);
    let summary = sim.execution("e1").status_summary.clone().unwrap();
    assert!(summary.contains("beforeEntry condition of stage \"Deploy\" was not met"), "{summary}");
    assert!(summary.contains("\"staging\" EQ \"prod\" does not hold"), "{summary}");
    assert_eq!(sim.occupant("Deploy"), None);
}

#[test]
fn a_failing_commands_rule_fails_the_condition_and_abandons_the_others() {
    let rules = vec![commands_rule("Smoke"), window("Hours", "* * * ? * * *"), commands_rule("Soak")];
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", rules));
    let effects = to_deploy(&mut sim, "e1");
    let rule_jobs: Vec<&Dispatch> = dispatches(&effects).into_iter().filter(|d| d.condition.is_some()).collect();
    assert_eq!(rule_jobs.len(), 2, "both Commands rules are dispatched like actions");
    let smoke = rule_jobs[0];
    assert_eq!((smoke.action.as_str(), smoke.action_type.provider.as_str()), ("Smoke", "Commands"));
    assert_eq!(smoke.action_type.category.as_str(), "Rule");
    assert_eq!(smoke.commands, ["./smoke-test staging"]);
    assert_eq!(smoke.input_artifacts[0].name, "Pkg");
    assert_eq!(sim.rule("e1", "Deploy", ConditionKind::BeforeEntry, "Hours").1.status, RuleStatus::Succeeded);
    // Results come back as events; one failure decides the condition.
    let fail = sim.rule_result_event("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke", false);
    sim.ok(fail);
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
    assert_eq!(sim.rule("e1", "Deploy", ConditionKind::BeforeEntry, "Soak").1.status, RuleStatus::Abandoned);
    // The abandoned rule's late result changes nothing.
    let late = Event::ActionSucceeded(ActionSucceeded {
        job: JobRef { action: "Soak".into(), ..smoke.job_ref() },
        output_variables: Default::default(),
        summary: None,
        external_execution_id: None,
        external_execution_url: None,
        revision: None,
        by: None,
        details: None,
    });
    assert!(matches!(sim.stale(late), Stale::ActionFinished { .. }));
}

#[test]
fn a_retry_checks_the_entry_condition_again() {
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", vec![commands_rule("Smoke")]));
    to_deploy(&mut sim, "e1");
    let fail = sim.rule_result_event("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke", false);
    sim.ok(fail);
    let retry = sim.retry_event("e1", "Deploy", RetryMode::FailedActions);
    let effects = sim.ok(retry);
    assert_eq!(sim.condition("e1", "Deploy", ConditionKind::BeforeEntry).number, 2);
    assert!(dispatches(&effects).iter().any(|d| d.action == "Smoke" && d.attempt == 2));
    let pass = sim.rule_result_event("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke", true);
    assert_eq!(dispatched(&sim.ok(pass)), ["Deploy/Ship"]);
    sim.succeed("e1", "Deploy", "Ship");
    assert_eq!(sim.status("e1"), ExecutionStatus::Succeeded);
}

#[test]
fn a_deployment_window_holds_the_stage_until_it_opens() {
    // T0 is Tuesday 2023-11-14 22:13:20 UTC; the window opens at 09:00 on weekdays.
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", office_hours_entry());
    let effects = to_deploy(&mut sim, "e1");
    assert!(dispatched(&effects).is_empty(), "nothing runs outside the window");
    let opening = crate::time::Timestamp::from_millis(1_700_038_800_000); // 2023-11-15T09:00:00Z
    let (_, held) = sim.rule("e1", "Deploy", ConditionKind::BeforeEntry, "OfficeHours");
    assert_eq!((held.status, held.recheck_at), (RuleStatus::InProgress, Some(opening)));
    let wake = effects.iter().find_map(|e| match e {
        Effect::WakeAt(w) if w.at == opening => Some(w.clone()),
        _ => None,
    });
    assert!(wake.is_some(), "the engine asks to be woken when the window opens");
    assert_eq!(sim.occupant("Deploy"), Some("e1"), "the held execution keeps the stage");
    assert_eq!(next_due(sim.execution("e1")), Some(opening));
    // Before the opening, a tick changes nothing.
    sim.advance_minutes(60);
    let early = sim.tick_event("e1");
    assert_eq!(sim.stale(early), Stale::NothingDue);
    // At the opening the rule succeeds and the stage runs.
    sim.now = opening;
    let tick = sim.tick_event("e1");
    assert_eq!(dispatched(&sim.ok(tick)), ["Deploy/Ship"]);
    assert_eq!(sim.condition("e1", "Deploy", ConditionKind::BeforeEntry).status, ConditionStatus::Succeeded);
}

#[test]
fn a_deployment_window_checked_late_waits_for_the_next_opening() {
    let rule = window("Nine", "* 0 9 ? * * *");
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", vec![rule]));
    to_deploy(&mut sim, "e1");
    // The tick comes after the one-minute window closed: wait for the next day's.
    sim.now = crate::time::Timestamp::from_millis(1_700_038_800_000 + 5 * 60_000);
    let tick = sim.tick_event("e1");
    sim.ok(tick);
    let (_, held) = sim.rule("e1", "Deploy", ConditionKind::BeforeEntry, "Nine");
    assert_eq!(held.recheck_at, Some(crate::time::Timestamp::from_millis(1_700_038_800_000 + 86_400_000)));
}

#[test]
fn override_releases_a_held_condition() {
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", office_hours_entry());
    to_deploy(&mut sim, "e1");
    let release = sim.override_event("e1", "Deploy", ConditionKind::BeforeEntry);
    assert_eq!(dispatched(&sim.ok(release.clone())), ["Deploy/Ship"]);
    let condition = sim.condition("e1", "Deploy", ConditionKind::BeforeEntry);
    assert_eq!(condition.status, ConditionStatus::Overridden);
    assert_eq!(condition.summary.as_deref(), Some("Overridden by tester"));
    assert_eq!(condition.rules[0].status, RuleStatus::Abandoned);
    assert_eq!(sim.stale(release), Stale::AlreadyOverridden);
    // Nothing is held any more.
    let on_success = sim.override_event("e1", "Deploy", ConditionKind::OnSuccess);
    assert!(matches!(sim.rejected(on_success), Rejection::ConditionNotOverridable(_)));
}

/// An override can end in an automatic retry that holds the stage again under the next
/// attempt: the override redelivered leaves that new evaluation alone; one made after the
/// retry releases it.
#[test]
fn a_redelivered_override_leaves_the_evaluation_of_a_later_attempt_held() {
    let mut declaration = three_stages("SUPERSEDED");
    declaration["stages"][2]["beforeEntry"] = office_hours_entry();
    declaration["stages"][2]["onFailure"] =
        json!({"result": "RETRY", "retryConfiguration": {"retryMode": "ALL_ACTIONS"}});
    let mut sim = Sim::new(declaration);
    to_deploy(&mut sim, "e1");
    let release = sim.override_event("e1", "Deploy", ConditionKind::BeforeEntry);
    sim.ok(release.clone());
    let effects = sim.fail("e1", "Deploy", "Ship");
    assert!(dispatched(&effects).is_empty(), "the retry waits for the entry condition again");
    assert_eq!(sim.execution("e1").attempt, 2);
    assert_eq!(sim.condition("e1", "Deploy", ConditionKind::BeforeEntry).status, ConditionStatus::InProgress);

    assert_eq!(sim.stale(release), Stale::AlreadyOverridden);
    assert_eq!(sim.condition("e1", "Deploy", ConditionKind::BeforeEntry).status, ConditionStatus::InProgress);
    let again = sim.override_event("e1", "Deploy", ConditionKind::BeforeEntry);
    assert_eq!(dispatched(&sim.ok(again)), ["Deploy/Ship"]);
}

/// An override made while the execution was in an attempt whose evaluation it did not
/// release is refused once the execution has been retried: the caller saw another state.
#[test]
fn an_override_seen_before_a_retry_is_refused() {
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", office_hours_entry());
    to_deploy(&mut sim, "e1");
    let seen_at_first = sim.override_event("e1", "Deploy", ConditionKind::BeforeEntry);
    let stop = sim.stop_event("e1", false);
    sim.ok(stop);
    let retry = sim.retry_event("e1", "Deploy", RetryMode::AllActions);
    sim.ok(retry);
    assert_eq!(sim.execution("e1").attempt, 2);
    let refused = sim.rejected(seen_at_first);
    assert!(matches!(&refused, Rejection::ConditionNotOverridable(m) if m.contains("retried since")), "{refused:?}");
    let fresh = sim.override_event("e1", "Deploy", ConditionKind::BeforeEntry);
    assert_eq!(dispatched(&sim.ok(fresh)), ["Deploy/Ship"]);
}

#[test]
fn override_of_a_success_condition_succeeds_the_stage() {
    let condition = json!({"conditions": [{"result": "FAIL", "rules": [commands_rule("Soak")]}]});
    let mut sim = with_condition("SUPERSEDED", 2, "onSuccess", condition);
    to_deploy(&mut sim, "e1");
    let effects = sim.succeed("e1", "Deploy", "Ship");
    assert!(dispatches(&effects).iter().any(|d| d.condition == Some(ConditionKind::OnSuccess)));
    assert_eq!(sim.stage_status("e1", "Deploy"), Some(StageStatus::InProgress), "held by its success condition");
    let release = sim.override_event("e1", "Deploy", ConditionKind::OnSuccess);
    sim.ok(release);
    assert_eq!(sim.status("e1"), ExecutionStatus::Succeeded);
    // The abandoned rule's result is stale.
    let late = sim.rule_result_event("e1", "Deploy", ConditionKind::OnSuccess, "Soak", true);
    assert!(matches!(sim.stale(late), Stale::ActionFinished { .. }));
}

#[test]
fn what_cannot_be_overridden() {
    let skip = variable_check("IsProd", "#{variables.Env}", "EQ", "prod");
    let mut skipping = with_condition("SUPERSEDED", 1, "beforeEntry", entry("SKIP", vec![skip]));
    skipping.start("e1");
    let event = skipping.override_event("e1", "Build", ConditionKind::BeforeEntry);
    assert!(matches!(skipping.rejected(event), Rejection::ConditionNotOverridable(m) if m.contains("SKIP")));

    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", office_hours_entry());
    sim.start("e1");
    let no_condition = sim.override_event("e1", "Build", ConditionKind::BeforeEntry);
    assert!(
        matches!(sim.rejected(no_condition), Rejection::ConditionNotOverridable(m) if m.contains("no beforeEntry"))
    );
    let not_yet = sim.override_event("e1", "Deploy", ConditionKind::BeforeEntry);
    assert!(
        matches!(sim.rejected(not_yet), Rejection::ConditionNotOverridable(m) if m.contains("has not been evaluated"))
    );
    let missing = sim.override_event("e1", "Nope", ConditionKind::BeforeEntry);
    assert_eq!(sim.rejected(missing), Rejection::StageNotFound("Nope".into()));
    let on_failure = sim.override_event("e1", "Deploy", ConditionKind::OnFailure);
    assert!(matches!(sim.rejected(on_failure), Rejection::Validation(_)));

    // e1 held at Deploy, e2 behind it: e2 is not the latest in Deploy.
    sim.succeed("e1", "Source", "Src");
    sim.succeed("e1", "Build", "Compile");
    sim.succeed("e1", "Build", "Lint");
    sim.succeed("e1", "Build", "Package");
    let stop = sim.stop_event("e1", false);
    sim.ok(stop);
    assert_eq!(sim.status("e1"), ExecutionStatus::Stopped, "a stop ends the hold at once");
    assert_eq!(sim.condition("e1", "Deploy", ConditionKind::BeforeEntry).status, ConditionStatus::Abandoned);
    to_deploy(&mut sim, "e2");
    let older = sim.override_event("e1", "Deploy", ConditionKind::BeforeEntry);
    assert!(matches!(sim.rejected(older), Rejection::NotLatestPipelineExecution(_)));
}

#[test]
fn a_rule_that_never_answers_times_out() {
    let mut rule = commands_rule("Smoke");
    rule["timeoutInMinutes"] = json!(5);
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", vec![rule]));
    to_deploy(&mut sim, "e1");
    sim.advance_minutes(5);
    let tick = sim.tick_event("e1");
    sim.ok(tick);
    let (_, smoke) = sim.rule("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke");
    assert_eq!(smoke.status, RuleStatus::Failed);
    assert_eq!(smoke.error.as_ref().unwrap().message, "The rule timed out after 5 minutes");
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
}

#[test]
fn a_failure_condition_retries_when_its_rule_fails() {
    let condition = json!({"result": "RETRY", "retryConfiguration": {"retryMode": "FAILED_ACTIONS"},
                           "conditions": [{"rules": [variable_check("NotProd", "#{variables.Env}", "NE", "staging")]}]});
    let mut sim = with_condition("SUPERSEDED", 2, "onFailure", condition);
    to_deploy(&mut sim, "e1");
    let effects = sim.fail("e1", "Deploy", "Ship");
    assert_eq!(dispatched(&effects), ["Deploy/Ship"], "one automatic retry");
    assert_eq!(sim.condition("e1", "Deploy", ConditionKind::OnFailure).status, ConditionStatus::Failed);
    sim.fail("e1", "Deploy", "Ship");
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed, "only one automatic retry");
}

#[test]
fn a_met_failure_condition_lets_the_stage_fail_plainly() {
    let condition = json!({"result": "RETRY",
                           "conditions": [{"rules": [variable_check("IsStaging", "#{variables.Env}", "EQ", "staging")]}]});
    let mut sim = with_condition("SUPERSEDED", 2, "onFailure", condition);
    to_deploy(&mut sim, "e1");
    sim.fail("e1", "Deploy", "Ship");
    assert_eq!(sim.condition("e1", "Deploy", ConditionKind::OnFailure).status, ConditionStatus::Succeeded);
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
}

/// Deploy rolls back on failure; e1 succeeds, e2 fails in Deploy.
fn failed_after_a_success() -> Sim {
    let mut sim = with_condition("QUEUED", 2, "onFailure", json!({"result": "ROLLBACK"}));
    to_deploy(&mut sim, "e1");
    sim.succeed("e1", "Deploy", "Ship");
    assert_eq!(sim.status("e1"), ExecutionStatus::Succeeded);
    sim
}

fn rollback_of<'s>(sim: &'s Sim, failed: &str) -> &'s Execution {
    sim.world
        .executions
        .values()
        .find(|e| e.trigger.trigger_detail.as_deref() == Some(failed) && e.execution_type == ExecutionType::Rollback)
        .expect("a rollback execution")
}

#[test]
fn rollback_restores_the_previous_successful_executions_artifacts() {
    let mut sim = failed_after_a_success();
    let e1_package = sim.execution("e1").artifacts["Pkg"].clone();
    to_deploy(&mut sim, "e2");
    assert_ne!(sim.execution("e2").artifacts["Pkg"], e1_package);
    let effects = sim.fail("e2", "Deploy", "Ship");
    assert_eq!(sim.status("e2"), ExecutionStatus::Failed);
    let rollback = rollback_of(&sim, "e2").clone();
    assert_eq!(rollback.trigger.trigger_type, TriggerType::AutomatedRollback);
    assert_eq!(rollback.rollback.as_ref().unwrap().target_execution_id, "e1");
    assert_eq!(rollback.variables, sim.execution("e1").variables);
    // The stage runs again with e1's package.
    let ship = dispatches(&effects).into_iter().find(|d| d.execution_id == rollback.id).expect("Ship runs again");
    assert_eq!(ship.input_artifacts[0].location, e1_package);
    assert_eq!(sim.occupant("Deploy"), Some(rollback.id.as_str()));
    assert_eq!(rollback.stages[1].status, None, "a rollback runs its one stage only");
    sim.succeed(&rollback.id, "Deploy", "Ship");
    assert_eq!(sim.status(&rollback.id), ExecutionStatus::Succeeded);
    assert_eq!(sim.occupant("Deploy"), None);
    // A rollback is not what a later rollback returns to.
    assert_eq!(sim.world.pipeline.stages[2].last_succeeded.as_deref(), Some("e1"));
}

#[test]
fn a_stage_that_never_succeeded_has_nothing_to_roll_back_to() {
    let mut sim = with_condition("QUEUED", 2, "onFailure", json!({"result": "ROLLBACK"}));
    to_deploy(&mut sim, "e1");
    sim.fail("e1", "Deploy", "Ship");
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
    assert_eq!(sim.world.executions.len(), 1);
    let summary = sim.execution("e1").status_summary.clone().unwrap();
    assert!(summary.contains("No automatic rollback: no earlier execution succeeded"), "{summary}");
}

#[test]
fn an_unmet_success_condition_rolls_back() {
    let condition = json!({"conditions": [{"result": "ROLLBACK", "rules": [commands_rule("Soak")]}]});
    let mut sim = with_condition("SUPERSEDED", 2, "onSuccess", condition);
    to_deploy(&mut sim, "e1");
    sim.succeed("e1", "Deploy", "Ship");
    let pass = sim.rule_result_event("e1", "Deploy", ConditionKind::OnSuccess, "Soak", true);
    sim.ok(pass);
    assert_eq!(sim.status("e1"), ExecutionStatus::Succeeded);
    to_deploy(&mut sim, "e2");
    sim.succeed("e2", "Deploy", "Ship");
    let fail = sim.rule_result_event("e2", "Deploy", ConditionKind::OnSuccess, "Soak", false);
    sim.ok(fail);
    assert_eq!(sim.status("e2"), ExecutionStatus::Failed);
    let rollback = rollback_of(&sim, "e2").clone();
    assert_eq!(rollback.rollback.as_ref().unwrap().target_execution_id, "e1");
    // A rollback runs without the stage's conditions.
    sim.succeed(&rollback.id, "Deploy", "Ship");
    assert_eq!(sim.status(&rollback.id), ExecutionStatus::Succeeded);
}

#[test]
fn rollback_stage_runs_the_stage_again_on_request() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    to_deploy(&mut sim, "e1");
    sim.succeed("e1", "Deploy", "Ship");
    to_deploy(&mut sim, "e2");
    sim.succeed("e2", "Deploy", "Ship");
    let event = sim.rollback_event("r1", "Deploy", "e1");
    let effects = sim.ok(event.clone());
    let ship = dispatches(&effects)[0].clone();
    assert_eq!(ship.input_artifacts[0].location, sim.execution("e1").artifacts["Pkg"]);
    let rollback = sim.execution("r1");
    assert_eq!(
        (rollback.execution_type, rollback.trigger.trigger_type),
        (ExecutionType::Rollback, TriggerType::ManualRollback)
    );
    assert_eq!(sim.stale(event), Stale::DuplicateStart);
    // A rollback of the stage is under way: the pipeline is busy.
    let busy = sim.rollback_event("r2", "Deploy", "e2");
    assert!(matches!(sim.rejected(busy), Rejection::Conflict(m) if m.contains("is running")));
    sim.succeed("r1", "Deploy", "Ship");
    assert_eq!(sim.status("r1"), ExecutionStatus::Succeeded);
}

#[test]
fn a_stage_running_a_standard_execution_cannot_be_rolled_back() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    to_deploy(&mut sim, "e1");
    sim.succeed("e1", "Deploy", "Ship");
    to_deploy(&mut sim, "e2");
    let busy = sim.rollback_event("r1", "Deploy", "e1");
    assert!(matches!(sim.rejected(busy), Rejection::UnableToRollbackStage(m) if m.contains("is running execution e2")));
}

#[test]
fn rollback_stage_refusals() {
    let mut sim = Sim::new(three_stages("SUPERSEDED"));
    to_deploy(&mut sim, "e1");
    sim.succeed("e1", "Deploy", "Ship");
    to_deploy(&mut sim, "e2");
    sim.fail("e2", "Deploy", "Ship");
    let source = sim.rollback_event("r", "Source", "e1");
    assert!(matches!(sim.rejected(source), Rejection::UnableToRollbackStage(m) if m.contains("source stage")));
    let failed = sim.rollback_event("r", "Deploy", "e2");
    assert!(matches!(sim.rejected(failed), Rejection::UnableToRollbackStage(m) if m.contains("did not succeed")));
    let missing = sim.rollback_event("r", "Deploy", "nope");
    assert_eq!(sim.rejected(missing), Rejection::PipelineExecutionNotFound("nope".into()));
    let no_stage = sim.rollback_event("r", "Nope", "e1");
    assert_eq!(sim.rejected(no_stage), Rejection::StageNotFound("Nope".into()));
    let ok = sim.rollback_event("r1", "Deploy", "e1");
    sim.ok(ok);
    sim.succeed("r1", "Deploy", "Ship");
    let of_rollback = sim.rollback_event("r2", "Deploy", "r1");
    assert!(
        matches!(sim.rejected(of_rollback), Rejection::UnableToRollbackStage(m) if m.contains("itself a rollback"))
    );
    // After an update, e1 ran an older version.
    let mut updated = three_stages("SUPERSEDED");
    updated["version"] = 2.into();
    sim.pipeline = compile(updated);
    sim.ok(Event::PipelineUpdated(PipelineUpdated { version: 2 }));
    let outdated = sim.rollback_event("r3", "Deploy", "e1");
    assert!(matches!(sim.rejected(outdated), Rejection::PipelineExecutionOutdated(_)));
}

#[test]
fn parallel_pipelines_cannot_roll_back() {
    let mut sim = Sim::new(three_stages("PARALLEL"));
    to_deploy(&mut sim, "e1");
    sim.succeed("e1", "Deploy", "Ship");
    let event = sim.rollback_event("r1", "Deploy", "e1");
    assert!(matches!(sim.rejected(event), Rejection::UnableToRollbackStage(m) if m.contains("PARALLEL")));
}

#[test]
fn work_in_flight_rebuilds_rule_jobs() {
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", vec![commands_rule("Smoke")]));
    let effects = to_deploy(&mut sim, "e1");
    let sent: Vec<String> = dispatches(&effects).iter().map(|d| d.id.clone()).collect();
    let work = work_in_flight(&sim.pipeline, sim.execution("e1"), sim.now);
    let rebuilt: Vec<String> = work.iter().map(|w| w.effect.id().to_string()).collect();
    assert_eq!(rebuilt, sent);
    let job = sim.rule_job("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke");
    assert!(job_is_live(sim.execution("e1"), &job));
}

/// A Commands rule is a build on AWS: its start reports the build's wait as a continuation,
/// which the rule keeps on its next job (for the tick's look and the build's event), and the
/// look's result decides the condition. A LambdaInvoke rule cannot continue.
#[test]
fn a_commands_rules_build_continues_with_its_wait_and_its_result_decides_the_condition() {
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", vec![commands_rule("Smoke")]));
    to_deploy(&mut sim, "e1");
    let started = sim.rule_job("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke");
    let wait = r#"{"externalId":"checks:1","pollAfterSeconds":60}"#;
    let effects = sim.ok(Event::JobContinued(JobContinued {
        job: started.clone(),
        continuation_token: wait.into(),
        summary: Some("build checks:1 running".into()),
        percent_complete: None,
        external_execution_id: Some("checks:1".into()),
    }));
    assert!(dispatches(&effects).is_empty(), "the next look is the tick's to send");
    let (_, rule) = sim.rule("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke");
    let job = rule.job.clone().unwrap();
    assert_eq!((job.sequence, job.continuation_token.as_deref()), (2, Some(wait)));
    assert_eq!(rule.external_execution_id.as_deref(), Some("checks:1"));
    assert_eq!(rule.status, RuleStatus::InProgress);
    assert!(!crate::deploy::codebuild::build_recorded(sim.execution("e1"), "checks:1"), "no result yet");
    // The start delivered again, after the token's 5 minutes: its build is another, which the
    // stale answer tells it from the one the rule records.
    let twin = sim.stale(Event::JobContinued(JobContinued {
        job: started.clone(),
        continuation_token: r#"{"externalId":"checks:2","pollAfterSeconds":60}"#.into(),
        summary: None,
        percent_complete: None,
        external_execution_id: Some("checks:2".into()),
    }));
    assert_eq!(twin, Stale::OldJob { current: 2, given: 1, recorded: Some("checks:1".into()) });
    assert!(crate::deploy::codebuild::start_orphaned(&twin, "checks:2"), "a second build is stopped");
    assert!(!crate::deploy::codebuild::start_orphaned(&twin, "checks:1"), "the recorded one is not");
    // The look, as work in flight rebuilds it, carries the wait.
    let look = work_in_flight(&sim.pipeline, sim.execution("e1"), sim.now)
        .into_iter()
        .find_map(|work| match work.effect {
            Effect::Dispatch(dispatch) if dispatch.condition.is_some() => Some(*dispatch),
            _ => None,
        })
        .expect("the rule's look is in flight");
    assert_eq!(crate::deploy::deploy_wait(&look), Some(wait));
    assert!(crate::deploy::codebuild::is_build_look(&look), "a look holds no claim");
    // The first job's result is stale; the look's decides.
    let late = sim.rule_result_event("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke", true);
    let Event::ActionSucceeded(mut late) = late else { panic!("a success") };
    late.job = started;
    assert!(matches!(sim.try_apply(Event::ActionSucceeded(late)), Ok(Step::Stale(_))));
    sim.ok(sim.rule_result_event("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke", false));
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
    let (_, ended) = sim.rule("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke");
    assert_eq!(ended.external_execution_id.as_deref(), Some("checks:1"), "the build's id outlives the result");
    assert!(crate::deploy::codebuild::build_recorded(sim.execution("e1"), "checks:1"), "a late event is stale");
}

#[test]
fn a_lambda_rule_cannot_continue() {
    let lambda = json!({"name": "Probe", "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "LambdaInvoke", "version": "1"},
                        "configuration": {"FunctionName": "probe"}});
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", vec![lambda]));
    to_deploy(&mut sim, "e1");
    let job = sim.rule_job("e1", "Deploy", ConditionKind::BeforeEntry, "Probe");
    let rejection = sim.rejected(Event::JobContinued(JobContinued {
        job,
        continuation_token: "more".into(),
        summary: None,
        percent_complete: None,
        external_execution_id: None,
    }));
    assert!(rejection.to_string().contains("a rule's job cannot continue"), "{rejection}");
}

/// The StopWork effects among `effects`.
fn stops(effects: &[Effect]) -> Vec<&StopWork> {
    effects.iter().filter_map(|e| if let Effect::StopWork(stop) = e { Some(&**stop) } else { None }).collect()
}

/// The Commands rule `name` of e1's Deploy entry condition with its build recorded as started.
fn rule_build_recorded(sim: &mut Sim, name: &str, build_id: &str) {
    let job = sim.rule_job("e1", "Deploy", ConditionKind::BeforeEntry, name);
    sim.ok(Event::JobContinued(JobContinued {
        job,
        continuation_token: format!(r#"{{"externalId":"{build_id}","pollAfterSeconds":60}}"#),
        summary: None,
        percent_complete: None,
        external_execution_id: Some(build_id.into()),
    }));
}

/// A Commands rule abandoned while its build runs (another rule failed, a stop with abandon)
/// asks for its build to be stopped, once, in the rule's region; one whose build's start has
/// not been recorded, or that ended with its build's result, asks for nothing.
#[test]
fn a_commands_rule_abandoned_with_its_build_running_asks_for_the_build_to_stop() {
    let rules = vec![commands_rule("Smoke"), commands_rule("Soak"), commands_rule("Lint")];
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", rules));
    to_deploy(&mut sim, "e1");
    rule_build_recorded(&mut sim, "Smoke", "checks:1");
    rule_build_recorded(&mut sim, "Lint", "checks:3");
    // Lint's build fails and decides the condition; Soak's start is still in flight.
    let effects = sim.ok(sim.rule_result_event("e1", "Deploy", ConditionKind::BeforeEntry, "Lint", false));
    assert_eq!(sim.status("e1"), ExecutionStatus::Failed);
    let stops = stops(&effects);
    assert_eq!(stops.len(), 1, "Smoke's build only: {stops:?}");
    let (_, smoke) = sim.rule("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke");
    assert_eq!(smoke.status, RuleStatus::Abandoned);
    assert_eq!(stops[0].id, format!("stop/{}", smoke.rule_execution_id));
    assert_eq!(
        (stops[0].execution_id.as_str(), stops[0].stage.as_str(), stops[0].rule.as_str()),
        ("e1", "Deploy", "Smoke")
    );
    assert_eq!((stops[0].condition, stops[0].pipeline_version), (ConditionKind::BeforeEntry, 1));
    assert_eq!(stops[0].external_execution_id, "checks:1");
}

/// Every other way a rule in progress ends without its result asks for its build to stop:
/// a stop (either mode), an override of the condition, a pipeline update.
#[test]
fn a_stop_an_override_or_an_update_asks_for_a_running_rule_build_to_stop() {
    let build_ids = |effects: &[Effect]| -> Vec<String> {
        stops(effects).iter().map(|s| s.external_execution_id.clone()).collect()
    };
    let running = || {
        let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", vec![commands_rule("Smoke")]));
        to_deploy(&mut sim, "e1");
        rule_build_recorded(&mut sim, "Smoke", "checks:1");
        sim
    };
    for abandon in [true, false] {
        let mut sim = running();
        let effects = sim.ok(sim.stop_event("e1", abandon));
        assert_eq!(build_ids(&effects), ["checks:1"], "a stop (abandon: {abandon})");
    }
    let mut sim = running();
    let effects = sim.ok(sim.override_event("e1", "Deploy", ConditionKind::BeforeEntry));
    assert_eq!(build_ids(&effects), ["checks:1"], "an override");
    // The new version drops the condition: the stop names the rule of the version e1 ran.
    let mut sim = running();
    let mut updated = three_stages("SUPERSEDED");
    updated["version"] = 2.into();
    sim.pipeline = compile(updated);
    let effects = sim.ok(Event::PipelineUpdated(PipelineUpdated { version: 2 }));
    assert_eq!(build_ids(&effects), ["checks:1"], "an update");
    let stop = stops(&effects)[0];
    assert_eq!((stop.pipeline_version, stop.stage.as_str(), stop.rule.as_str()), (1, "Deploy", "Smoke"));
}

#[test]
fn a_rule_that_times_out_with_its_build_running_asks_for_the_build_to_stop_once() {
    let mut rule = commands_rule("Smoke");
    rule["timeoutInMinutes"] = json!(5);
    let mut sim = with_condition("SUPERSEDED", 2, "beforeEntry", entry("FAIL", vec![rule]));
    to_deploy(&mut sim, "e1");
    rule_build_recorded(&mut sim, "Smoke", "checks:1");
    sim.advance_minutes(5);
    let effects = sim.ok(sim.tick_event("e1"));
    assert_eq!(sim.rule("e1", "Deploy", ConditionKind::BeforeEntry, "Smoke").1.status, RuleStatus::Failed);
    assert_eq!(stops(&effects).len(), 1);
    sim.advance_minutes(1);
    let tick = sim.tick_event("e1");
    let again = sim.try_apply(tick);
    assert!(!matches!(again, Ok(Step::Applied(ref applied)) if !stops(&applied.effects).is_empty()), "{again:?}");
}
