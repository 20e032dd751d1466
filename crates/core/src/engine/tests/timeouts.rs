//! Action timeouts with the per-provider defaults of docs/reference/codepipeline.md §9.1, and
//! Lambda heartbeats.

use serde_json::json;

use super::harness::*;
use crate::engine::*;

fn one_action(action: serde_json::Value) -> Sim {
    let mut sim = Sim::new(pipeline_json(
        "SUPERSEDED",
        vec![stage("Source", vec![source("Src", "Code")]), stage("Work", vec![action])],
    ));
    sim.start("e1");
    sim
}

fn deadline_minutes(action: serde_json::Value) -> i64 {
    let mut sim = one_action(action);
    let effects = sim.succeed("e1", "Source", "Src");
    let deadline = match effects.iter().find(|e| matches!(e, Effect::Dispatch(_) | Effect::RequestApproval(_))) {
        Some(Effect::Dispatch(d)) => d.deadline,
        Some(Effect::RequestApproval(r)) => r.expires,
        _ => panic!("nothing dispatched"),
    };
    (deadline.millis() - sim.now.millis()) / 60_000
}

fn typed(category: &str, owner: &str, provider: &str, configuration: serde_json::Value) -> serde_json::Value {
    json!({"name": "Work", "actionTypeId": {"category": category, "owner": owner, "provider": provider, "version": "1"},
           "configuration": configuration, "inputArtifacts": [{"name": "Code"}]})
}

#[test]
fn each_provider_gets_its_default_timeout() {
    assert_eq!(deadline_minutes(command("Work", 1, &["Code"], &[])), 55);
    assert_eq!(deadline_minutes(typed("Build", "AWS", "CodeBuild", json!({"ProjectName": "p"}))), 8 * 60);
    assert_eq!(deadline_minutes(typed("Deploy", "AWS", "S3", json!({"BucketName": "b", "Extract": "true"}))), 90);
    assert_eq!(
        deadline_minutes(typed(
            "Deploy",
            "AWS",
            "CloudFormation",
            json!({"ActionMode": "DELETE_ONLY", "StackName": "s", "RoleArn": "arn:aws:iam::111122223333:role/r"})
        )),
        3 * 24 * 60
    );
    assert_eq!(
        deadline_minutes(typed(
            "Deploy",
            "AWS",
            "CodeDeploy",
            json!({"ApplicationName": "a", "DeploymentGroupName": "g"})
        )),
        5 * 24 * 60
    );
    assert_eq!(deadline_minutes(typed("Invoke", "AWS", "Lambda", json!({"FunctionName": "f"}))), 24 * 60);
    assert_eq!(
        deadline_minutes(typed("Invoke", "AWS", "StepFunctions", json!({"StateMachineArn": "arn:sm"}))),
        7 * 24 * 60
    );
    assert_eq!(deadline_minutes(typed("Build", "Custom", "Jenkins", json!({}))), 24 * 60);
    assert_eq!(deadline_minutes(typed("Test", "ThirdParty", "BlazeMeter", json!({}))), 60);
    let mut gate = approval("Work", 1);
    assert_eq!(deadline_minutes(gate.clone()), 7 * 24 * 60);
    gate["timeoutInMinutes"] = json!(90);
    assert_eq!(deadline_minutes(gate), 90);
}

#[test]
fn an_action_past_its_deadline_fails_on_the_tick() {
    let mut sim = one_action(command("Work", 1, &["Code"], &[]));
    let effects = sim.succeed("e1", "Source", "Src");
    let wake = effects.iter().find_map(|e| match e {
        Effect::WakeAt(w) => Some(w.clone()),
        _ => None,
    });
    assert_eq!(wake.unwrap().at, sim.now.plus_minutes(55), "a wake-up is asked for at the deadline");
    sim.advance_minutes(54);
    assert_eq!(sim.stale(sim.tick_event("e1")), Stale::NothingDue);
    sim.advance_minutes(1);
    let late = sim.success_event("e1", "Work", "Work");
    let effects = sim.ok(sim.tick_event("e1"));
    assert_eq!(published(&effects), ["action Work/Work FAILED", "stage Work FAILED", "pipeline e1 FAILED"]);
    let error = sim.attempt("e1", "Work", "Work").error.clone().unwrap();
    assert_eq!(error.message, "The action timed out after 55 minutes");
    assert_eq!(sim.stale(late), Stale::ActionFinished { status: "Failed" });
    assert_eq!(sim.stale(sim.tick_event("e1")), Stale::NothingDue);
}

#[test]
fn a_lambda_without_a_reply_for_twenty_minutes_fails_and_each_reply_restarts_the_clock() {
    let mut sim = one_action(lambda("Work", 1));
    sim.succeed("e1", "Source", "Src");
    sim.advance_minutes(15);
    let job = sim.job_ref("e1", "Work", "Work");
    let effects = sim.ok(Event::JobContinued(JobContinued {
        job,
        continuation_token: "step-2".into(),
        summary: Some("half way".into()),
        percent_complete: Some(50),
        external_execution_id: None,
    }));
    assert!(effects.iter().any(|e| matches!(e, Effect::WakeAt(w) if w.at == sim.now.plus_minutes(20))));
    sim.advance_minutes(19);
    assert_eq!(sim.stale(sim.tick_event("e1")), Stale::NothingDue, "the continuation restarted the 20 minutes");
    sim.advance_minutes(1);
    sim.ok(sim.tick_event("e1"));
    let error = sim.attempt("e1", "Work", "Work").error.clone().unwrap();
    assert_eq!(error.message, "No result for job within 20 minutes");
}

#[test]
fn a_start_can_cap_every_action_s_timeout() {
    let mut sim = Sim::new(pipeline_json(
        "SUPERSEDED",
        vec![stage("Source", vec![source("Src", "Code")]), stage("Work", vec![command("Work", 1, &["Code"], &[])])],
    ));
    let mut start = sim.start_event("e1");
    if let Event::StartExecution(s) = &mut start {
        s.action_timeout_seconds = Some(3);
    }
    sim.ok(start);
    sim.succeed("e1", "Source", "Src");
    assert_eq!(sim.attempt("e1", "Work", "Work").deadline, sim.now.plus_seconds(3));
    sim.now = sim.now.plus_seconds(3);
    sim.ok(sim.tick_event("e1"));
    assert_eq!(
        sim.attempt("e1", "Work", "Work").error.clone().unwrap().message,
        "The action timed out after 3 seconds"
    );
    let mut zero = sim.start_event("e2");
    if let Event::StartExecution(s) = &mut zero {
        s.action_timeout_seconds = Some(0);
    }
    assert!(matches!(sim.rejected(zero), Rejection::Validation(_)));
}
