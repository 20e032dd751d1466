//! source-change: turns a change at a source (S3, CodeCommit, ECR) or a start command into
//! executions of the pipelines it concerns.
//!
//! The execution id is derived from the change (pipeline, source action, revision), so a
//! duplicate event starts nothing new: its StartExecution is stale.

use serde_json::Value;

use pipewright_core::engine::{Event, SourceRevisionOverride, StartExecution, Trigger, TriggerType, VariableOverride};
use pipewright_core::ids;
use pipewright_core::ports::{ArtifactError, StateStore};
use pipewright_core::service::Handled;
use pipewright_core::source_events::{SourceChange, matches};

use super::{HandlerError, apply};
use crate::bus::{COMMAND_SOURCE, Envelope, START_COMMAND, StartCommand};
use crate::settings::Services;

/// What an incoming event asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    Change(SourceChange),
    Start(StartCommand),
}

pub use pipewright_core::service::Started;

fn text<'a>(detail: &'a Value, path: &[&str]) -> Result<&'a str, HandlerError> {
    let mut value = detail;
    for part in path {
        value = &value[*part];
    }
    value
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| HandlerError::Rejected(format!("detail.{} is missing or not a string", path.join("."))))
}

fn optional(detail: &Value, path: &[&str]) -> Option<String> {
    text(detail, path).ok().map(String::from)
}

/// Reads an EventBridge event as a source change or a start command.
pub fn decode(envelope: &Envelope) -> Result<SourceEvent, HandlerError> {
    let detail = &envelope.detail;
    match (envelope.source.as_str(), envelope.detail_type.as_str()) {
        ("aws.s3", "Object Created") => Ok(SourceEvent::Change(SourceChange::S3Object {
            bucket: text(detail, &["bucket", "name"])?.to_string(),
            key: text(detail, &["object", "key"])?.to_string(),
            version_id: optional(detail, &["object", "version-id"]),
            etag: optional(detail, &["object", "etag"]),
        })),
        ("aws.codecommit", "CodeCommit Repository State Change") => {
            let event = text(detail, &["event"])?;
            if !matches!(event, "referenceCreated" | "referenceUpdated") {
                return Err(HandlerError::Rejected(format!(
                    "detail.event {event:?} starts nothing (only referenceCreated and referenceUpdated do)"
                )));
            }
            let kind = text(detail, &["referenceType"])?;
            if kind != "branch" {
                return Err(HandlerError::Rejected(format!(
                    "detail.referenceType {kind:?} starts nothing (only branch does)"
                )));
            }
            Ok(SourceEvent::Change(SourceChange::CodeCommit {
                repository: text(detail, &["repositoryName"])?.to_string(),
                branch: text(detail, &["referenceName"])?.to_string(),
                commit_id: text(detail, &["commitId"])?.to_string(),
            }))
        }
        ("aws.ecr", "ECR Image Action") => {
            let action = text(detail, &["action-type"])?;
            let result = text(detail, &["result"])?;
            if action != "PUSH" || result != "SUCCESS" {
                return Err(HandlerError::Rejected(format!(
                    "an ECR {action} with result {result} starts nothing (only a successful PUSH does)"
                )));
            }
            Ok(SourceEvent::Change(SourceChange::EcrImage {
                repository: text(detail, &["repository-name"])?.to_string(),
                tag: optional(detail, &["image-tag"]),
                digest: text(detail, &["image-digest"])?.to_string(),
            }))
        }
        (COMMAND_SOURCE, START_COMMAND) => serde_json::from_value(detail.clone())
            .map(SourceEvent::Start)
            .map_err(|e| HandlerError::Rejected(format!("detail is not a StartPipelineExecution command: {e}"))),
        (source, detail_type) => Err(HandlerError::Rejected(format!(
            "source {source:?} with detail-type {detail_type:?} is not a source event"
        ))),
    }
}

/// Handles one event: starts every execution it asks for.
pub async fn handle(services: &Services, envelope: &Envelope) -> Result<Vec<Started>, HandlerError> {
    match decode(envelope)? {
        SourceEvent::Change(change) => {
            let trigger = Trigger {
                trigger_type: TriggerType::CloudWatchEvent,
                trigger_detail: Some(envelope.resources.first().cloned().unwrap_or_else(|| envelope.id.clone())),
            };
            let mut started = Vec::new();
            for stored in services.store.list_pipelines().await? {
                let found = matches(&stored.declaration, &change);
                let Some(first) = found.first() else { continue };
                let name = stored.declaration.name.as_str();
                let revisions = found.iter().filter_map(|m| m.revision.clone()).collect();
                let execution_id = first.execution_id(name);
                started.push(start(services, name, execution_id, trigger.clone(), revisions, Vec::new()).await?);
            }
            if started.is_empty() {
                tracing::info!(?change, "no pipeline's source action concerns this change");
            }
            Ok(started)
        }
        SourceEvent::Start(command) => {
            start_command(services, envelope, command).await.map(|s| s.into_iter().collect())
        }
    }
}

async fn start_command(
    services: &Services,
    envelope: &Envelope,
    command: StartCommand,
) -> Result<Option<Started>, HandlerError> {
    let name = command.pipeline_name.as_str();
    let stored =
        services.store.get_pipeline(name, None).await?.ok_or_else(|| {
            HandlerError::Rejected(format!("PipelineNotFoundException: pipeline {name} does not exist"))
        })?;
    let mut revisions = command.source_revisions.clone();
    let (trigger_type, execution_id) = match &command.change {
        Some(change) => {
            let found = matches(&stored.declaration, change);
            let Some(first) = found.first() else {
                tracing::info!(pipeline = name, ?change, "no trigger of the pipeline accepts this change");
                return Ok(None);
            };
            revisions.extend(found.iter().filter_map(|m| m.revision.clone()));
            (TriggerType::WebhookV2, first.execution_id(name))
        }
        None => {
            // The same request (or the same bus event, redelivered) starts one execution.
            let key = match (&command.client_request_token, envelope.id.is_empty()) {
                (Some(token), _) => ids::uuid_from(&["start-token", name, token]),
                (None, false) => ids::uuid_from(&["start-event", name, &envelope.id]),
                (None, true) => uuid::Uuid::new_v4().to_string(),
            };
            (TriggerType::StartPipelineExecution, key)
        }
    };
    let trigger = Trigger { trigger_type, trigger_detail: command.requested_by.clone() };
    start(services, name, execution_id, trigger, revisions, command.variables.clone()).await.map(Some)
}

/// Starts one execution of `name` (none when `execution_id` exists already).
pub(crate) async fn start(
    services: &Services,
    name: &str,
    execution_id: String,
    trigger: Trigger,
    source_revisions: Vec<SourceRevisionOverride>,
    variables: Vec<VariableOverride>,
) -> Result<Started, HandlerError> {
    let pipeline = services.cache.current(&services.store, name).await?;
    // CodePipeline refuses an artifact store without versioning; so does Pipewright, before
    // anything is written.
    if let Some(store) = pipeline.artifact_store(None) {
        services.artifacts.require_versioning(&store.location).await.map_err(|error| match error {
            ArtifactError::Refused(message) => HandlerError::Rejected(format!("pipeline {name}: {message}")),
            other => HandlerError::Retryable(other.to_string()),
        })?;
    }
    let event = Event::StartExecution(StartExecution {
        execution_id: execution_id.clone(),
        seed: format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()),
        trigger,
        variables,
        source_revisions,
        action_timeout_seconds: None,
    });
    let handled = apply(services, name, &event).await?;
    Ok(Started { pipeline: name.to_string(), execution_id, new: matches!(handled, Handled::Applied { .. }) })
}

/// Reads one delivery and reports what it started.
pub async fn receive(services: &Services, envelope: &Envelope) -> Result<Value, HandlerError> {
    let started = handle(services, envelope).await?;
    Ok(serde_json::json!({
        "started": started
            .iter()
            .map(|s| serde_json::json!({ "pipeline": s.pipeline, "executionId": s.execution_id, "new": s.new }))
            .collect::<Vec<_>>()
    }))
}
