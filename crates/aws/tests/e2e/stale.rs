//! Late work: a dispatch that reaches invoke-action after its attempt stopped being current
//! (the execution moved on while the event waited in a retry) runs nothing.

use crate::common;

use pipewright_aws::bus::DispatchMessage;
use pipewright_aws::handlers::invoke_action::{self, Invoked};
use pipewright_core::engine::{ActionStatus, Effect, ExecutionStatus, Job, work_in_flight};
use pipewright_core::ports::StateStore;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatch_for_an_attempt_that_is_no_longer_current_deploys_nothing() {
    let stack = stack().await;
    stack.put_pipeline(&site_pipeline(&stack, "late", "SUPERSEDED", false)).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<h1>v1</h1>")]).await;
    stack.put_default_bus(&stack.object_created("site.zip", &version, &etag)).await;
    stack.router.pump().await.unwrap();
    let id = stack.services.store.list_executions("late", 1, None).await.unwrap().items[0].id.clone();
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);
    let deployed = stack.objects(&stack.deploy_bucket).await;
    assert!(!deployed.is_empty());
    for key in deployed.keys() {
        stack.s3.delete_object().bucket(&stack.deploy_bucket).key(key).send().await.unwrap();
    }

    // The dispatch of a second Deploy attempt that the stored execution never had: what a
    // delivery looks like when it arrives after the execution was stopped or superseded.
    let mut execution = stack.execution(&id).await;
    let deploy = execution.stages.iter_mut().find(|s| s.name == "Deploy").unwrap();
    let mut attempt = deploy.actions[0].attempts[0].clone();
    attempt.number = 2;
    attempt.action_execution_id = "late-attempt".into();
    attempt.status = ActionStatus::InProgress;
    attempt.job = Some(Job { id: "late-job".into(), sequence: 1, continuation_token: None, heartbeat_deadline: None });
    deploy.actions[0].attempts.push(attempt);
    let pipeline = stack.services.cache.pinned(&stack.services.store, &execution).await.unwrap();
    let dispatch = work_in_flight(&pipeline, &execution, pipewright_aws::handlers::now())
        .into_iter()
        .find_map(|work| match work.effect {
            Effect::Dispatch(dispatch) if dispatch.stage == "Deploy" => Some(*dispatch),
            _ => None,
        })
        .expect("the late attempt's dispatch");
    assert_eq!(dispatch.attempt, 2);

    let message = DispatchMessage::new("late", dispatch);
    let invoked = invoke_action::dispatched(&stack.services, &message).await.unwrap();
    assert!(matches!(&invoked, Invoked::Stale(why) if why.contains("no longer current")), "{invoked:?}");
    assert!(stack.objects(&stack.deploy_bucket).await.is_empty(), "the late deploy wrote nothing");
    // A redelivery of the same late dispatch stops at its claim.
    let again = invoke_action::dispatched(&stack.services, &message).await.unwrap();
    assert_eq!(again, Invoked::Duplicate);
    assert_eq!(stack.execution(&id).await.status, ExecutionStatus::Succeeded, "the execution is untouched");
}
