//! Manual approval: token, deadline, approve, reject, expiry (docs/reference/codepipeline.md §4).

use super::harness::*;
use crate::engine::*;
use crate::pipeline::RetryMode;

fn gated(timeout: Option<u32>) -> Sim {
    let mut gate = approval("Approve", 1);
    if let Some(minutes) = timeout {
        gate["timeoutInMinutes"] = minutes.into();
    }
    let declaration = pipeline_json(
        "SUPERSEDED",
        vec![
            stage("Source", vec![source("Src", "Code")]),
            stage("Gate", vec![gate, command("After", 2, &["Code"], &[])]),
        ],
    );
    let mut sim = Sim::new(declaration);
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    sim
}

fn request(effects: &[Effect]) -> ApprovalRequest {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::RequestApproval(r) => Some(r.as_ref().clone()),
            _ => None,
        })
        .expect("an approval request")
}

#[test]
fn an_approval_is_requested_with_a_token_and_a_seven_day_deadline() {
    let mut sim = Sim::new(pipeline_json(
        "SUPERSEDED",
        vec![stage("Source", vec![source("Src", "Code")]), stage("Gate", vec![approval("Approve", 1)])],
    ));
    sim.start("e1");
    let effects = sim.succeed("e1", "Source", "Src");
    let request = request(&effects);
    assert!(dispatches(&effects).is_empty(), "an approval is not dispatched to a provider");
    assert_eq!(request.expires, sim.now.plus_days(7));
    assert_eq!(request.expires.to_rfc3339_minutes().len(), "2023-11-21T22:13Z".len());
    assert_eq!(request.custom_data.as_deref(), Some("Ship e1?"), "variables are resolved");
    assert_eq!(request.notification_arn.as_deref(), Some("arn:aws:sns:eu-west-1:111122223333:approvals"));
    assert_eq!(Some(request.token.clone()), sim.attempt("e1", "Gate", "Approve").token);
    assert_eq!(request.token.len(), 36);
    assert!(effects.iter().any(|e| matches!(e, Effect::WakeAt(w) if w.at == request.expires)));
}

#[test]
fn approving_succeeds_the_action_and_the_stage_goes_on() {
    let mut sim = gated(None);
    let event = sim.approval_event("e1", "Gate", "Approve", ApprovalStatus::Approved);
    let effects = sim.ok(event);
    assert_eq!(dispatched(&effects), ["Gate/After"]);
    let attempt = sim.attempt("e1", "Gate", "Approve");
    assert_eq!(attempt.status, ActionStatus::Succeeded);
    assert_eq!(attempt.summary.as_deref(), Some("looks good"));
    assert_eq!(attempt.last_updated_by.as_deref(), Some("reviewer"));
}

#[test]
fn rejecting_fails_the_stage_and_the_execution() {
    let mut sim = gated(None);
    let event = sim.approval_event("e1", "Gate", "Approve", ApprovalStatus::Rejected);
    let effects = sim.ok(event);
    assert_eq!(published(&effects), ["action Gate/Approve FAILED", "stage Gate FAILED", "pipeline e1 FAILED"]);
    let error = sim.attempt("e1", "Gate", "Approve").error.clone().unwrap();
    assert_eq!(error.message, "Rejected by reviewer: looks good");
}

#[test]
fn wrong_repeated_and_old_tokens() {
    let mut sim = gated(None);
    let mut wrong = sim.approval_event("e1", "Gate", "Approve", ApprovalStatus::Approved);
    if let Event::ApprovalResult(a) = &mut wrong {
        a.token = "00000000-0000-4000-8000-000000000000".into();
    }
    assert_eq!(sim.rejected(wrong).exception(), "InvalidApprovalTokenException");

    let reject = sim.approval_event("e1", "Gate", "Approve", ApprovalStatus::Rejected);
    sim.ok(reject.clone());
    assert_eq!(sim.stale(reject.clone()), Stale::ActionFinished { status: "Failed" });

    let retry = sim.retry_event("e1", "Gate", RetryMode::FailedActions);
    sim.ok(retry);
    assert_ne!(sim.attempt("e1", "Gate", "Approve").token.as_ref(), None);
    // The token of the first attempt does not answer the second.
    assert_eq!(sim.rejected(reject).exception(), "InvalidApprovalTokenException");
    let fresh = sim.approval_event("e1", "Gate", "Approve", ApprovalStatus::Approved);
    sim.ok(fresh);
}

#[test]
fn a_timed_out_approval_fails_and_cannot_be_answered_late() {
    let mut sim = gated(Some(30));
    assert_eq!(sim.attempt("e1", "Gate", "Approve").deadline, sim.now.plus_minutes(30));
    sim.advance_minutes(29);
    assert_eq!(sim.stale(sim.tick_event("e1")), Stale::NothingDue);
    sim.advance_minutes(1);
    let late = sim.approval_event("e1", "Gate", "Approve", ApprovalStatus::Approved);
    assert!(matches!(sim.rejected(late), Rejection::InvalidApprovalToken(m) if m.contains("expired")));
    let effects = sim.ok(sim.tick_event("e1"));
    assert_eq!(published(&effects), ["action Gate/Approve FAILED", "stage Gate FAILED", "pipeline e1 FAILED"]);
    let error = sim.attempt("e1", "Gate", "Approve").error.clone().unwrap();
    assert!(error.message.contains("approval expired"), "{}", error.message);
}

#[test]
fn only_approvals_take_approval_results_and_approvals_take_nothing_else() {
    let mut sim = gated(None);
    let mut not_approval = sim.approval_event("e1", "Gate", "Approve", ApprovalStatus::Approved);
    if let Event::ApprovalResult(a) = &mut not_approval {
        a.action = "After".into();
    }
    assert!(matches!(sim.rejected(not_approval), Rejection::Validation(_)));
    let job = JobRef {
        execution_id: "e1".into(),
        stage: "Gate".into(),
        action: "Approve".into(),
        attempt: 1,
        job: 0,
        condition: None,
    };
    let sneaky = Event::ActionSucceeded(ActionSucceeded {
        job,
        output_variables: Default::default(),
        summary: None,
        external_execution_id: None,
        external_execution_url: None,
        revision: None,
        by: None,
        details: None,
    });
    assert!(matches!(sim.rejected(sneaky), Rejection::Validation(m) if m.contains("PutApprovalResult")));
}
