//! The job protocol: job ids, continuation tokens, output variables
//! (docs/reference/codepipeline.md §5–6).

use super::harness::*;
use crate::engine::*;

fn invoking() -> Sim {
    let mut sim = Sim::new(pipeline_json(
        "SUPERSEDED",
        vec![stage("Source", vec![source("Src", "Code")]), stage("Work", vec![lambda("Invoke", 1)])],
    ));
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    sim
}

#[test]
fn a_continuation_starts_a_new_job_with_the_token() {
    let mut sim = invoking();
    let first = sim.job_ref("e1", "Work", "Invoke");
    let first_id = sim.attempt("e1", "Work", "Invoke").job.clone().unwrap().id;
    let effects = sim.ok(Event::JobContinued(JobContinued {
        job: first.clone(),
        continuation_token: "page-2".into(),
        summary: None,
        percent_complete: Some(40),
        external_execution_id: None,
    }));
    let next = dispatches(&effects)[0].clone();
    assert_eq!((next.job_sequence, next.continuation_token.as_deref()), (2, Some("page-2")));
    assert_eq!(crate::deploy::deploy_wait(&next), None, "a Lambda function's continuation is sent at once");
    assert_ne!(next.job_id, first_id, "each job has its own id");
    assert_eq!(next.attempt, 1, "the action stays in the same attempt");
    assert_eq!(sim.action_status("e1", "Work", "Invoke"), Some(ActionStatus::InProgress));
    assert_eq!(next.configuration["UserParameters"], "staging");
    // A late answer for the first job is stale.
    let late = Event::ActionSucceeded(ActionSucceeded {
        job: first,
        output_variables: Default::default(),
        summary: None,
        external_execution_id: None,
        external_execution_url: None,
        revision: None,
        by: None,
        details: None,
    });
    assert_eq!(sim.stale(late), Stale::OldJob { current: 2, given: 1, recorded: None });
    sim.succeed("e1", "Work", "Invoke");
    assert_eq!(sim.status("e1"), ExecutionStatus::Succeeded);
}

#[test]
fn results_for_an_old_attempt_are_stale() {
    let mut sim = invoking();
    let first = sim.failure_event("e1", "Work", "Invoke");
    sim.ok(first.clone());
    let retry = sim.retry_event("e1", "Work", crate::pipeline::RetryMode::FailedActions);
    sim.ok(retry);
    assert_eq!(sim.stale(first), Stale::OldAttempt { current: 2, given: 1 });
}

#[test]
fn output_variables_are_limited_in_size() {
    let mut sim = invoking();
    let mut event = sim.success_event("e1", "Work", "Invoke");
    if let Event::ActionSucceeded(s) = &mut event {
        s.output_variables = [("Big".to_string(), "x".repeat(MAX_OUTPUT_VARIABLES_BYTES))].into();
    }
    assert_eq!(sim.rejected(event).exception(), "OutputVariablesSizeExceededException");
}

#[test]
fn job_ids_and_tokens_are_uuids_derived_from_the_secret_seed() {
    let sim = invoking();
    let job = sim.attempt("e1", "Work", "Invoke").job.clone().unwrap();
    assert_eq!(job.id.len(), 36);
    let aeid = &sim.attempt("e1", "Work", "Invoke").action_execution_id;
    assert_eq!(job.id, crate::ids::job_id("seed-e1", aeid, 1));
    assert_ne!(job.id, crate::ids::job_id("other-seed", aeid, 1));
}

/// A source, then a stage of a Lambda invoke and an approval, and a Commands action after them.
fn invoke_approve_later() -> Sim {
    Sim::new(pipeline_json(
        "SUPERSEDED",
        vec![
            stage("Source", vec![source("Src", "Code")]),
            stage("Work", vec![lambda("Invoke", 1), approval("Approve", 1), command("Later", 2, &["Code"], &[])]),
        ],
    ))
}

#[test]
fn work_in_flight_rebuilds_the_dispatches_and_approvals_as_first_sent() {
    let mut sim = invoke_approve_later();
    sim.start("e1");
    let sent = sim.succeed("e1", "Source", "Src");
    sim.advance_minutes(3);
    let execution = sim.world.executions["e1"].clone();
    let work = work_in_flight(&sim.pipeline, &execution, sim.now);
    let rebuilt: Vec<&Effect> = work.iter().map(|w| &w.effect).collect();
    let first: Vec<&Effect> =
        sent.iter().filter(|e| matches!(e, Effect::Dispatch(_) | Effect::RequestApproval(_))).collect();
    assert_eq!(rebuilt, first, "same effects, same ids, same order");
    assert!(work.iter().all(|w| w.since == T0), "since is when the attempt last changed");
    // Finished work is no longer in flight.
    sim.succeed("e1", "Work", "Invoke");
    let execution = sim.world.executions["e1"].clone();
    let left: Vec<String> =
        work_in_flight(&sim.pipeline, &execution, sim.now).iter().map(|w| w.effect.id().to_string()).collect();
    assert_eq!(left.len(), 1);
    assert!(left[0].starts_with("approval/e1/Work/Approve/"), "{left:?}");
}

#[test]
fn an_actions_first_job_is_announced_by_its_start_and_nothing_else_is() {
    let mut sim = invoke_approve_later();
    let started = sim.start("e1");
    let source = dispatches(&started)[0].clone();
    assert!(announced_by_start(&source, &started), "the source's job, with the source's STARTED");
    let sent = sim.succeed("e1", "Source", "Src");
    let announced: Vec<&str> =
        dispatches(&sent).into_iter().filter(|d| announced_by_start(d, &sent)).map(|d| d.action.as_str()).collect();
    assert_eq!(announced, ["Invoke"], "the approval has no job; Later has not started");
    let invoke = dispatches(&sent)[0].clone();
    // Re-sent alone (the tick's unclaimed work), it travels as a dispatch of its own.
    assert!(!announced_by_start(&invoke, &[Effect::Dispatch(Box::new(invoke.clone()))]));
    // Another execution's, stage's or action's STARTED does not announce it.
    for other in [("e2", "Work", "Invoke"), ("e1", "Other", "Invoke"), ("e1", "Work", "Approve")] {
        let mut renamed = invoke.clone();
        (renamed.execution_id, renamed.stage, renamed.action) = (other.0.into(), other.1.into(), other.2.into());
        assert!(!announced_by_start(&renamed, &sent), "{other:?}");
    }
    // A look at a wait, and a rule's job, are never announced.
    let look = Dispatch { continuation_token: Some("{}".into()), ..invoke.clone() };
    assert!(!announced_by_start(&look, &sent));
    let rule = Dispatch { condition: Some(ConditionKind::OnSuccess), ..invoke.clone() };
    assert!(!announced_by_start(&rule, &sent));
    // A STARTED that names an Approval type does not carry a job (the rule leaves it out).
    let approval_start: Vec<Effect> = sent
        .iter()
        .cloned()
        .map(|mut effect| {
            if let Effect::Publish(change) = &mut effect
                && let Some(kind) = change.detail.action_type.as_mut()
            {
                kind.category = "Approval".into();
            }
            effect
        })
        .collect();
    assert!(!announced_by_start(&invoke, &approval_start));
}

#[test]
fn a_deploy_wait_is_kept_with_the_attempt_and_left_to_the_tick() {
    let deploy = serde_json::json!({
        "name": "Stack",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
        "configuration": {"ActionMode": "CREATE_UPDATE", "StackName": "app", "TemplatePath": "Code::t.yaml",
                          "RoleArn": "arn:aws:iam::123456789012:role/cfn"},
        "inputArtifacts": [{"name": "Code"}],
    });
    let mut sim = Sim::new(pipeline_json(
        "SUPERSEDED",
        vec![stage("Source", vec![source("Src", "Code")]), stage("Infra", vec![deploy])],
    ));
    sim.start("e1");
    sim.succeed("e1", "Source", "Src");
    let first = sim.job_ref("e1", "Infra", "Stack");
    let effects = sim.ok(Event::JobContinued(JobContinued {
        job: first,
        continuation_token: "{\"pollAfterSeconds\":2}".into(),
        summary: Some("stack app CREATE_IN_PROGRESS".into()),
        percent_complete: None,
        external_execution_id: Some("arn:aws:cloudformation:us-east-1:123456789012:stack/app/1".into()),
    }));
    assert!(dispatches(&effects).is_empty(), "no job is sent at once: {effects:?}");
    let job = sim.attempt("e1", "Infra", "Stack").job.clone().unwrap();
    assert_eq!((job.sequence, job.continuation_token.as_deref()), (2, Some("{\"pollAfterSeconds\":2}")));
    // The tick rebuilds the waiting job from the stored attempt, token included.
    let pipeline = sim.pipeline.clone();
    let work = work_in_flight(&pipeline, sim.execution("e1"), sim.now);
    let Some(Effect::Dispatch(waiting)) = work.first().map(|w| &w.effect) else { panic!("{work:?}") };
    assert_eq!((waiting.job_sequence, waiting.continuation_token.as_deref()), (2, Some("{\"pollAfterSeconds\":2}")));
    assert_eq!(crate::deploy::deploy_wait(waiting), Some("{\"pollAfterSeconds\":2}"), "the tick knows it as a wait");
}
