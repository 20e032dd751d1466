//! Polling for source changes, through the minute tick (docs/sources.md, "Polling"): for
//! every pipeline whose S3 or CodeCommit source actions poll, at most once a minute, the head
//! of each source (the object's version, the branch's commit) is compared with the last poll's
//! (a record in the store); when one moved, the pipeline starts with trigger
//! `PollForSourceChanges`, each polled action pinned to the head the poll saw. The decisions
//! are the core's (`pipewright_core::source_polling`).
//!
//! Idempotent: the execution's id comes from the heads before and after, and the record is
//! written after the start, with a compare-and-swap. A poll repeated after a crash, or two
//! ticks at once, start one execution; a failed start leaves the record as it was, so the
//! next tick tries again.

use std::collections::BTreeMap;

use aws_sdk_codecommit::error::ProvideErrorMetadata;
use pipewright_core::engine::{Trigger, TriggerType};
use pipewright_core::ports::{StateStore, StoredPipeline};
use pipewright_core::queries::polling_disabled_at;
use pipewright_core::source_polling::{
    Head, PollRecord, PolledAction, PolledSource, RECORD_KIND, decide, poll_is_due, polled_actions,
};
use pipewright_core::time::Timestamp;

use super::HandlerError;
use super::source_change::{self, Started};
use crate::settings::Services;

/// Polls every pipeline that is due; the executions it started. A pipeline whose sources
/// cannot be read is reported in `failures` and polled again at the next tick.
pub async fn poll(
    services: &Services,
    now: Timestamp,
    failures: &mut Vec<String>,
) -> Result<Vec<Started>, HandlerError> {
    let mut started = Vec::new();
    for stored in services.store.list_pipelines().await? {
        let polled = polled_actions(&stored.declaration);
        if polled.is_empty() {
            continue;
        }
        let name = stored.declaration.name.as_str();
        match poll_pipeline(services, &stored, &polled, now).await {
            Ok(Some(one)) => started.push(one),
            Ok(None) => {}
            Err(error) => failures.push(format!("poll {name}: {error}")),
        }
    }
    Ok(started)
}

async fn poll_pipeline(
    services: &Services,
    pipeline: &StoredPipeline,
    polled: &[PolledAction],
    now: Timestamp,
) -> Result<Option<Started>, HandlerError> {
    let name = pipeline.declaration.name.as_str();
    let stored = services.store.get_record(RECORD_KIND, name).await?;
    // A record that cannot be read is replaced: the poll only records, as a first poll does.
    let previous = stored.as_deref().and_then(|text| serde_json::from_str::<PollRecord>(text).ok());
    if !poll_is_due(previous.as_ref(), now) {
        return Ok(None);
    }
    // Like CodePipeline, a pipeline idle (no update, no execution) for 30 days is no longer
    // polled: GetPipeline reports it as `pollingDisabledAt`. An update polls it again.
    let latest = services.store.list_executions(name, 1, None).await?.items;
    let last_activity = latest.first().map_or(pipeline.updated, |e| e.started_at.max(pipeline.updated));
    if polling_disabled_at(&pipeline.declaration, last_activity, now).is_some() {
        return Ok(None);
    }
    let mut observed = BTreeMap::new();
    for action in polled {
        observed.insert(action.action.clone(), head(services, &action.source).await?);
    }
    let decision = decide(name, previous.as_ref(), observed, now);
    let started = match decision.start {
        Some(start) => {
            let moved = start.moved.join(",");
            let trigger =
                Trigger { trigger_type: TriggerType::PollForSourceChanges, trigger_detail: Some(moved.clone()) };
            let started =
                source_change::start(services, name, start.execution_id, trigger, start.source_revisions, Vec::new())
                    .await?;
            tracing::info!(pipeline = name, moved, execution = %started.execution_id, "a polled source moved");
            Some(started)
        }
        None => None,
    };
    let record = serde_json::to_string(&decision.record).map_err(|e| HandlerError::Permanent(e.to_string()))?;
    let kept = match stored {
        Some(text) => services.store.replace_record(RECORD_KIND, name, &text, &record).await?,
        None => services.store.put_record_if_absent(RECORD_KIND, name, &record).await?,
    };
    if !kept {
        tracing::info!(pipeline = name, "another tick polled the pipeline at the same time");
    }
    Ok(started)
}

/// The head of a polled source: `None` when the object or branch does not exist.
async fn head(services: &Services, source: &PolledSource) -> Result<Option<Head>, HandlerError> {
    match source {
        PolledSource::S3Object { bucket, key } => {
            match services.artifacts.client().head_object().bucket(bucket).key(key).send().await {
                Ok(output) => {
                    Ok(Some(Head::s3_object(output.version_id(), output.e_tag().unwrap_or_default().trim_matches('"'))))
                }
                Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
                Err(error) => Err(HandlerError::Retryable(format!(
                    "cannot read s3://{bucket}/{key}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&error)
                ))),
            }
        }
        PolledSource::CodeCommitBranch { repository, branch } => {
            match services.codecommit.get_branch().repository_name(repository).branch_name(branch).send().await {
                Ok(output) => Ok(output.branch.and_then(|b| b.commit_id).map(|commit| Head::commit(&commit))),
                Err(error)
                    if matches!(
                        error.as_service_error().and_then(|e| e.code()),
                        Some("BranchDoesNotExistException" | "RepositoryDoesNotExistException")
                    ) =>
                {
                    Ok(None)
                }
                Err(error) => Err(HandlerError::Retryable(format!(
                    "cannot read branch {branch} of {repository}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&error)
                ))),
            }
        }
    }
}
