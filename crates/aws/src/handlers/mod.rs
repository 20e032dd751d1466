//! What each function does, as plain async functions over [`Services`]: the function binaries
//! decode their event and call these; the tests call them in-process.

pub mod api;
pub mod approval_callback;
pub mod invoke_action;
pub mod source_change;
pub mod stage_transition;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use pipewright_core::engine::Event;
use pipewright_core::ports::StoreError;
use pipewright_core::service::{self, Handled, ServiceError};
use pipewright_core::time::Timestamp;

use crate::relay::{RelayError, relay};
use crate::settings::Services;

/// How a handler failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Worth another try (a store or bus error): the function fails, Lambda retries the event,
    /// and after its retries the event goes to the dead-letter queue.
    #[error("{0}")]
    Retryable(String),
    /// Will never succeed (a malformed event, an unknown pipeline, a refused request): logged,
    /// and the event is dropped.
    #[error("{0}")]
    Rejected(String),
}

impl From<RelayError> for HandlerError {
    fn from(error: RelayError) -> Self {
        HandlerError::Retryable(error.to_string())
    }
}

impl From<StoreError> for HandlerError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => HandlerError::Rejected(format!("{what} not found")),
            other => HandlerError::Retryable(other.to_string()),
        }
    }
}

pub fn now() -> Timestamp {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Timestamp::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// Crashes injected by tests: the next `n` handlers stop right after their commit, before
/// publishing, as a process killed at that line would.
#[derive(Debug, Default)]
pub struct Faults {
    crash_after_commit: AtomicUsize,
}

impl Faults {
    pub fn crash_after_commit(&self, times: usize) {
        self.crash_after_commit.store(times, Ordering::SeqCst);
    }

    fn take_crash(&self) -> bool {
        self.crash_after_commit.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

/// Applies an event through the shared handler and carries out its effects. A stale event
/// (a redelivery) still relays what its first delivery committed but may not have published.
pub async fn apply(services: &Services, pipeline: &str, event: &Event) -> Result<Handled, HandlerError> {
    apply_at(services, pipeline, event, now()).await
}

/// [`apply`] at a given time (the tick's).
pub async fn apply_at(
    services: &Services,
    pipeline: &str,
    event: &Event,
    now: Timestamp,
) -> Result<Handled, HandlerError> {
    let handled = service::handle(&services.store, &services.cache, pipeline, event, now, &[]).await;
    match handled {
        Ok(Handled::Applied { effects }) => {
            if services.faults.take_crash() {
                return Err(HandlerError::Retryable("injected crash after the commit".to_string()));
            }
            relay(services, pipeline, &effects).await?;
            Ok(Handled::Applied { effects })
        }
        Ok(Handled::Stale(stale)) => {
            if let Some(execution) = event.execution_id() {
                relay_pending(services, pipeline, execution).await?;
            }
            Ok(Handled::Stale(stale))
        }
        Err(ServiceError::Rejected(rejection)) => {
            Err(HandlerError::Rejected(format!("{}: {rejection}", rejection.exception())))
        }
        Err(ServiceError::PipelineNotFound(name)) => {
            Err(HandlerError::Rejected(format!("PipelineNotFoundException: pipeline {name} does not exist")))
        }
        Err(ServiceError::InvalidDeclaration { name, version, report }) => {
            Err(HandlerError::Rejected(format!("pipeline {name} version {version} is invalid: {report}")))
        }
        Err(other) => Err(HandlerError::Retryable(other.to_string())),
    }
}

/// A word for the log and the function's answer.
pub fn describe(handled: &Handled) -> String {
    match handled {
        Handled::Applied { effects } => format!("applied, {} effects", effects.len()),
        Handled::Stale(stale) => format!("stale: {stale}"),
    }
}

/// What a function answers: a rejected event is logged and dropped (retrying cannot help);
/// a retryable failure fails the invocation, so Lambda retries it and then dead-letters it.
pub fn answer(result: Result<serde_json::Value, HandlerError>) -> Result<serde_json::Value, HandlerError> {
    match result {
        Ok(value) => {
            tracing::info!(%value, "handled");
            Ok(value)
        }
        Err(HandlerError::Rejected(reason)) => {
            tracing::error!(reason, "event rejected");
            Ok(serde_json::json!({ "rejected": reason }))
        }
        Err(error) => {
            tracing::error!(%error, "failed; the event will be retried");
            Err(error)
        }
    }
}

/// Publishes the effects an execution's outbox still holds.
pub async fn relay_pending(services: &Services, pipeline: &str, execution_id: &str) -> Result<usize, HandlerError> {
    let pending = services.store.pending_effects(execution_id).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    relay(services, pipeline, &pending).await?;
    Ok(pending.len())
}
