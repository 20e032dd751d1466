//! Concurrency against DynamoDB (moto): results racing for the same execution and the same
//! stage, and many executions of a PARALLEL pipeline at once. No transition is lost or
//! doubled, as the table shows afterwards.

use crate::common;

use std::collections::BTreeMap;

use pipewright_aws::bus::Envelope;
use pipewright_aws::handlers::{self, source_change};
use pipewright_core::engine::{ActionStatus, ActionSucceeded, Event, ExecutionStatus, StageStatus};
use pipewright_core::ports::StateStore;
use pipewright_core::service::Handled;
use serde_json::{Value, json};

use common::*;

/// Source, then a stage of `width` parallel Commands actions, then one more stage.
fn wide_pipeline(stack: &Stack, name: &str, mode: &str, width: usize) -> Value {
    let command = |name: String, run_order: u32| {
        json!({"name": name, "runOrder": run_order,
               "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
               "commands": ["true"], "inputArtifacts": [{"name": "Code"}]})
    };
    json!({
        "name": name, "roleArn": "arn:aws:iam::123456789012:role/pipewright", "pipelineType": "V2", "executionMode": mode,
        "artifactStore": {"type": "S3", "location": stack.artifact_bucket()},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Bundle", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": stack.source_bucket, "S3ObjectKey": format!("{name}.zip"), "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": "Code"}]}]},
            {"name": "Fan", "actions": (0..width).map(|i| command(format!("Job{i}"), 1)).collect::<Vec<_>>()},
            {"name": "After", "actions": [command("Last".into(), 1)]}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_actions_completing_at_the_same_instant_each_count_once() {
    let stack = stack().await;
    stack.put_pipeline(&wide_pipeline(&stack, "race", "SUPERSEDED", 2)).await;
    let (version, etag) = stack.upload_source("race.zip", &[("a", "b")]).await;
    let envelope: Envelope = serde_json::from_value(stack.object_created("race.zip", &version, &etag)).unwrap();
    let id = source_change::handle(&stack.services, &envelope).await.unwrap()[0].execution_id.clone();
    // Run until both Fan actions are dispatched, then take their jobs and answer for the
    // runner, both at the same instant, each answer twice.
    stack
        .router
        .run_until(200, || async {
            stack.execution(&id).await.stages[1].actions.iter().all(|a| !a.attempts.is_empty())
        })
        .await
        .unwrap();
    stack.purge_queues_of("invoke-action").await;
    let execution = stack.execution(&id).await;
    let results: Vec<Event> = execution.stages[1]
        .actions
        .iter()
        .map(|action| {
            let attempt = &action.attempts[0];
            Event::ActionSucceeded(ActionSucceeded {
                job: pipewright_core::engine::JobRef {
                    execution_id: id.clone(),
                    stage: "Fan".into(),
                    action: action.name.clone(),
                    attempt: attempt.number,
                    job: attempt.job.as_ref().unwrap().sequence,
                    condition: None,
                },
                output_variables: BTreeMap::new(),
                summary: Some("raced".into()),
                external_execution_id: None,
                external_execution_url: None,
                revision: None,
                by: None,
                details: None,
            })
        })
        .collect();
    let services = &stack.services;
    let (a1, b1, a2, b2) = tokio::join!(
        handlers::apply(services, "race", &results[0]),
        handlers::apply(services, "race", &results[1]),
        handlers::apply(services, "race", &results[0]),
        handlers::apply(services, "race", &results[1]),
    );
    let outcomes = [a1.unwrap(), b1.unwrap(), a2.unwrap(), b2.unwrap()];
    let applied = outcomes.iter().filter(|h| matches!(h, Handled::Applied { .. })).count();
    assert_eq!(applied, 2, "each result applies once, its duplicate is stale: {outcomes:?}");

    let execution = stack.execution(&id).await;
    assert_eq!(execution.stages[1].status, Some(StageStatus::Succeeded));
    assert!(
        execution.stages[1]
            .actions
            .iter()
            .all(|a| a.attempts.len() == 1 && a.attempts[0].status == ActionStatus::Succeeded)
    );
    assert_eq!(execution.stages[2].actions[0].attempts.len(), 1, "the next stage started exactly once");
    assert_eq!(stack.run_to_end(&id).await, ExecutionStatus::Succeeded);

    // The table: one Fan SUCCEEDED stage event among the observed ones (duplicates carry the
    // same detail; EventBridge itself is at-least-once), and no lock left behind.
    let events = stack.drain(&stack.observer).await;
    let fan_succeeded = events
        .iter()
        .filter(|e| {
            e["detail"]["stage"] == "Fan" && e["detail"]["state"] == "SUCCEEDED" && e["detail"]["action"].is_null()
        })
        .count();
    assert!(fan_succeeded >= 1);
    let snapshot = stack
        .services
        .store
        .load("race", &Event::Tick(pipewright_core::engine::Tick { execution_id: id.clone() }))
        .await
        .unwrap();
    assert!(snapshot.state.value.stages.iter().all(|s| s.occupant.is_none()), "{:?}", snapshot.state.value);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_executions_run_at_once_in_parallel_mode() {
    const EXECUTIONS: usize = 50;
    let stack = stack().await;
    stack.put_pipeline(&wide_pipeline(&stack, "fleet", "PARALLEL", 2)).await;
    // Fifty uploads of the object: fifty versions, fifty events.
    for n in 0..EXECUTIONS {
        let (version, etag) = stack.upload_source("fleet.zip", &[("n", &n.to_string())]).await;
        stack.put_default_bus(&stack.object_created("fleet.zip", &version, &etag)).await;
    }
    let listed = || async {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let page = stack.services.store.list_executions("fleet", 100, token.as_deref()).await.unwrap();
            all.extend(page.items);
            match page.next_token {
                Some(next) => token = Some(next),
                None => return all,
            }
        }
    };
    let outcome = stack
        .router
        .run_until(2000, || async {
            let all = listed().await;
            all.len() == EXECUTIONS && all.iter().all(|e| e.status.is_finished())
        })
        .await;
    if let Err(error) = &outcome {
        // Where each unfinished execution stands, to tell a lost transition from a slow one.
        for execution in listed().await.iter().filter(|e| !e.status.is_finished()) {
            eprintln!(
                "unfinished {} {:?}",
                execution.id,
                execution
                    .stages
                    .iter()
                    .map(|s| (
                        s.name.clone(),
                        s.status,
                        s.actions
                            .iter()
                            .map(|a| (a.name.clone(), a.attempts.iter().map(|t| t.status).collect::<Vec<_>>()))
                            .collect::<Vec<_>>()
                    ))
                    .collect::<Vec<_>>()
            );
        }
        panic!("{error}");
    }
    let executions = listed().await;
    assert_eq!(executions.len(), EXECUTIONS);
    let mut versions = std::collections::BTreeSet::new();
    for execution in &executions {
        assert_eq!(execution.status, ExecutionStatus::Succeeded, "{}", execution.id);
        for stage in &execution.stages {
            for action in &stage.actions {
                assert_eq!(action.attempts.len(), 1, "{} {}/{}", execution.id, stage.name, action.name);
                assert_eq!(action.attempts[0].status, ActionStatus::Succeeded);
            }
        }
        versions.insert(execution.source_revision_overrides[0].revision_value.clone());
    }
    assert_eq!(versions.len(), EXECUTIONS, "each upload ran its own version");
    // The pipeline-level state holds nothing of them any more.
    let state = stack
        .services
        .store
        .load("fleet", &Event::Tick(pipewright_core::engine::Tick { execution_id: executions[0].id.clone() }))
        .await
        .unwrap();
    assert!(
        state.state.value.stages.iter().all(|s| s.occupant.is_none() && s.inbound.is_empty()),
        "{:?}",
        state.state.value
    );
}
