//! Approval links (docs/design.md §8): forged, tampered, expired, replayed and old-attempt tokens
//! are refused; GET never decides; an approval nobody answers fails at its deadline.

use crate::common;

use std::collections::BTreeMap;

use pipewright_aws::bus::Envelope;
use pipewright_aws::handlers::approval_callback::{self, Request, Response};
use pipewright_aws::handlers::{self, source_change, stage_transition};
use pipewright_core::engine::{ActionStatus, Event, ExecutionStatus, RetryStage};
use pipewright_core::links::{self, LinkClaims};
use pipewright_core::pipeline::RetryMode;
use pipewright_core::time::Timestamp;

use common::*;

/// Starts the site pipeline and runs it to its approval; the execution id.
async fn waiting_for_approval(stack: &Stack) -> String {
    stack.put_pipeline(&site_pipeline(stack, "gated", "SUPERSEDED", true)).await;
    let (version, etag) = stack.upload_source("site.zip", &[("index.html", "<p>gate</p>")]).await;
    let envelope: Envelope = serde_json::from_value(stack.object_created("site.zip", &version, &etag)).unwrap();
    let id = source_change::handle(&stack.services, &envelope).await.unwrap()[0].execution_id.clone();
    stack
        .router
        .run_until(300, || async { approval_status(stack, &id).await == Some(ActionStatus::InProgress) })
        .await
        .unwrap();
    id
}

async fn approval_status(stack: &Stack, id: &str) -> Option<ActionStatus> {
    let execution = stack.execution(id).await;
    execution.stages.iter().find(|s| s.name == "Gate")?.actions[0].attempts.last().map(|a| a.status)
}

fn claims(id: &str, attempt: u32, expires: Timestamp) -> LinkClaims {
    LinkClaims {
        pipeline: "gated".into(),
        execution_id: id.into(),
        stage: "Gate".into(),
        action: "Approve".into(),
        attempt,
        expires,
    }
}

fn in_a_day() -> Timestamp {
    Timestamp::from_millis(handlers::now().millis() + 86_400_000)
}

async fn get(stack: &Stack, token: &str) -> Response {
    let query =
        BTreeMap::from([("token".to_string(), token.to_string()), ("decision".to_string(), "Approved".to_string())]);
    approval_callback::handle(&stack.services, &Request { method: "GET".into(), query, ..Request::default() }).await
}

async fn post(stack: &Stack, token: &str, decision: &str) -> Response {
    let body = format!("token={token}&decision={decision}");
    approval_callback::handle(&stack.services, &Request { method: "POST".into(), body, ..Request::default() }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_tampered_expired_replayed_and_old_attempt_tokens_are_refused() {
    let stack = stack().await;
    let id = waiting_for_approval(&stack).await;
    let key = stack.services.link_key.clone().unwrap();

    // Forged: signed with another key.
    let forged = links::sign(b"not-the-stack-key-not-the-stack-key", &claims(&id, 1, in_a_day()));
    for response in [get(&stack, &forged).await, post(&stack, &forged, "Approved").await] {
        assert_eq!(response.status, 403, "{}", response.body);
    }
    // Tampered: a genuine signature over other claims.
    let genuine = links::sign(&key, &claims(&id, 1, in_a_day()));
    let other = links::sign(&key, &claims(&id, 2, in_a_day()));
    let tampered = format!("{}.{}", other.split('.').next().unwrap(), genuine.split('.').nth(1).unwrap());
    assert_eq!(post(&stack, &tampered, "Approved").await.status, 403);
    // Malformed and missing.
    assert_eq!(post(&stack, "garbage", "Approved").await.status, 400);
    assert_eq!(post(&stack, "", "Approved").await.status, 400);
    // Expired.
    let expired = links::sign(&key, &claims(&id, 1, Timestamp::from_millis(handlers::now().millis() - 1)));
    let response = post(&stack, &expired, "Approved").await;
    assert_eq!(response.status, 410, "{}", response.body);
    assert!(response.body.contains("expired"));
    // A bad decision.
    assert_eq!(post(&stack, &genuine, "Maybe").await.status, 400);
    assert_eq!(approval_status(&stack, &id).await, Some(ActionStatus::InProgress), "nothing above decided");

    // GET, however often, never decides; the page escapes what it shows.
    for _ in 0..3 {
        let page = get(&stack, &genuine).await;
        assert_eq!(page.status, 200);
        assert!(page.headers.iter().any(|(name, value)| *name == "cache-control" && value == "no-store"));
        assert!(page.headers.iter().any(|(name, value)| *name == "referrer-policy" && value == "no-referrer"));
    }
    assert_eq!(approval_status(&stack, &id).await, Some(ActionStatus::InProgress), "GET never decides");
    let put = approval_callback::handle(&stack.services, &Request { method: "PUT".into(), ..Request::default() }).await;
    assert_eq!(put.status, 405);

    // Rejected once: the link is spent.
    assert_eq!(post(&stack, &genuine, "Rejected").await.status, 200);
    let replayed = post(&stack, &genuine, "Approved").await;
    assert_eq!(replayed.status, 409, "{}", replayed.body);
    assert_eq!(get(&stack, &genuine).await.status, 409);
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Failed, "a rejection fails the execution");

    // A retry makes attempt 2: the attempt-1 link no longer works, the new one does.
    let retry = Event::RetryStage(RetryStage {
        execution_id: id.clone(),
        stage: "Gate".into(),
        mode: RetryMode::FailedActions,
        by: Some("tester".into()),
        expected_attempt: None,
    });
    handlers::apply(&stack.services, "gated", &retry).await.unwrap();
    stack
        .router
        .run_until(100, || async { approval_status(&stack, &id).await == Some(ActionStatus::InProgress) })
        .await
        .unwrap();
    let old = post(&stack, &genuine, "Approved").await;
    assert_eq!(old.status, 410, "{}", old.body);
    assert!(old.body.contains("earlier attempt"));
    let second = links::sign(&key, &claims(&id, 2, in_a_day()));
    assert_eq!(post(&stack, &second, "Approved").await.status, 200);
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unanswered_approval_fails_at_its_deadline_through_the_tick() {
    let stack = stack().await;
    let id = waiting_for_approval(&stack).await;
    let before = stage_transition::tick(&stack.services, handlers::now()).await.unwrap();
    assert_eq!(before.deadlines, 0, "nothing is due yet");
    // The execution's `deadlines` entry is a quarter of an hour ahead of the deadline: a tick
    // past the entry but before the deadline reads the execution and leaves it waiting.
    let almost = Timestamp::from_millis(handlers::now().millis() + 7 * 86_400_000 - 10 * 60_000);
    let early = stage_transition::tick(&stack.services, almost).await.unwrap();
    assert_eq!(early.deadlines, 0, "ten minutes before the deadline: {early:?}");
    assert_eq!(approval_status(&stack, &id).await, Some(ActionStatus::InProgress));
    // Seven days later, the tick fires the deadline.
    let week = Timestamp::from_millis(handlers::now().millis() + 7 * 86_400_000 + 60_000);
    let report = stage_transition::tick(&stack.services, week).await.unwrap();
    assert_eq!(report.deadlines, 1, "{report:?}");
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Failed);
    assert_eq!(approval_status(&stack, &id).await, Some(ActionStatus::Failed));
}
