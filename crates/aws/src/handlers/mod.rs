//! What each function does, as plain async functions over [`Services`]: the function binaries
//! decode their event and call these; the tests call them in-process.

pub mod api;
pub mod approval_callback;
pub mod build_events;
pub mod deploy_events;
mod ended_together;
pub mod invoke_action;
pub mod source_change;
pub mod source_polling;
pub mod stage_transition;
pub mod started_action;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use pipewright_core::engine::{ActionFailed, Event, FailureDetails, FailureType};
use pipewright_core::ports::StoreError;
use pipewright_core::service::{self, Handled, ServiceError, Together};
use pipewright_core::time::Timestamp;

use crate::relay::{RelayError, relay, relay_read_back};
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
    /// Will never succeed, and not for the event's sake: what the store holds is corrupt, or it
    /// refuses the change as it is. Logged as an error and answered as failed, never retried:
    /// a retry would meet the same data.
    #[error("{0}")]
    Permanent(String),
}

impl From<RelayError> for HandlerError {
    fn from(error: RelayError) -> Self {
        match error {
            RelayError::Store(error) => error.into(),
            RelayError::Bus(error) if error.is_permanent() => HandlerError::Permanent(error.to_string()),
            RelayError::Bus(error) => HandlerError::Retryable(error.to_string()),
        }
    }
}

impl From<ServiceError> for HandlerError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Rejected(rejection) => {
                HandlerError::Rejected(format!("{}: {rejection}", rejection.exception()))
            }
            ServiceError::PipelineNotFound(name) => {
                HandlerError::Rejected(format!("PipelineNotFoundException: pipeline {name} does not exist"))
            }
            ServiceError::InvalidDeclaration { name, version, report } => {
                HandlerError::Rejected(format!("pipeline {name} version {version} is invalid: {report}"))
            }
            ServiceError::Store(error) => error.into(),
            ServiceError::TooManyConflicts(_) => HandlerError::Retryable(error.to_string()),
        }
    }
}

impl From<StoreError> for HandlerError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => HandlerError::Rejected(format!("{what} not found")),
            permanent if permanent.is_permanent() => HandlerError::Permanent(permanent.to_string()),
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
    let mut handled = service::handle(&services.store, &services.cache, pipeline, event, now, &[]).await;
    if let Err(ServiceError::Store(StoreError::Refused(reason))) = &handled
        && let Some(failed) = unstorable_result(event, reason)
    {
        tracing::error!(reason, "the action's result cannot be stored; the action fails instead");
        handled = service::handle(&services.store, &services.cache, pipeline, &failed, now, &[]).await;
    }
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
        Err(error) => Err(error.into()),
    }
}

/// Job results of one execution applied in one commit (`service::handle_together`), or one
/// by one where that leaves them to [`apply`] (a result stale or refused, a declaration to
/// bring the state up to first). The first is the caller's own result: its failure is the
/// caller's; the others' are logged.
pub async fn apply_together(services: &Services, pipeline: &str, events: &[Event]) -> Result<(), HandlerError> {
    if let [event] = events {
        return apply(services, pipeline, event).await.map(drop);
    }
    let paired: Vec<(Event, Vec<String>)> = events.iter().map(|event| (event.clone(), Vec::new())).collect();
    let together = service::handle_together(&services.store, &services.cache, pipeline, &paired, now()).await;
    let effects = match together {
        Ok(Together::Applied { effects }) => effects,
        // Left to one by one, or too large together for DynamoDB's item limit: each on its
        // own then fails the result that cannot be stored instead ([`unstorable_result`]).
        // The first is the caller's own; the others, on failing, are left to theirs.
        Ok(Together::OneByOne) | Err(ServiceError::Store(StoreError::Refused(_))) => {
            let Some((own, others)) = events.split_first() else { return Ok(()) };
            apply(services, pipeline, own).await?;
            for event in others {
                if let Err(error) = apply(services, pipeline, event).await {
                    tracing::warn!(%error, "a result recorded with another is left to its own delivery");
                }
            }
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    if services.faults.take_crash() {
        return Err(HandlerError::Retryable("injected crash after the commit".to_string()));
    }
    relay(services, pipeline, &effects).await?;
    Ok(())
}

/// An action's result the store refuses (its execution item would pass DynamoDB's 400 KB, a
/// transaction its limits) as the failure of that action, which stores little: the execution
/// fails visibly, naming the limit, instead of staying in progress (docs/security.md, "Limits
/// of AWS"). Other refused events stay refused.
fn unstorable_result(event: &Event, reason: &str) -> Option<Event> {
    let job = match event {
        Event::ActionSucceeded(result) => result.job.clone(),
        Event::JobContinued(result) => result.job.clone(),
        _ => return None,
    };
    Some(Event::ActionFailed(ActionFailed {
        job,
        failure: FailureDetails {
            kind: FailureType::JobFailed,
            message: format!("the action's result cannot be stored: {reason}"),
            external_execution_id: None,
        },
        details: None,
    }))
}

/// A word for the log and the function's answer.
pub fn describe(handled: &Handled) -> String {
    match handled {
        Handled::Applied { effects } => format!("applied, {} effects", effects.len()),
        Handled::Stale(stale) => format!("stale: {stale}"),
    }
}

/// What a function answers: a rejected event, or a permanent failure, is logged and dropped
/// (retrying cannot help); a retryable failure fails the invocation, so Lambda retries it and
/// then dead-letters it.
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
        Err(HandlerError::Permanent(reason)) => {
            tracing::error!(reason, "failed for good; the event is not retried");
            Ok(serde_json::json!({ "failed": reason }))
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
    relay_read_back(services, pipeline, &pending).await?;
    Ok(pending.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_store_errors_are_answered_as_failed_not_retried() {
        let corrupt = HandlerError::from(StoreError::Corrupt("stored execution is unreadable".into()));
        assert!(matches!(corrupt, HandlerError::Permanent(_)), "{corrupt:?}");
        let refused = HandlerError::from(ServiceError::Store(StoreError::Refused("over 400 KB".into())));
        assert!(matches!(refused, HandlerError::Permanent(_)), "{refused:?}");
        let answered = answer(Err(corrupt)).expect("the invocation succeeds, so Lambda does not retry it");
        assert!(answered["failed"].as_str().is_some_and(|m| m.contains("unreadable")), "{answered}");

        let busy = HandlerError::from(StoreError::Unavailable("throttled".into()));
        assert!(matches!(busy, HandlerError::Retryable(_)), "{busy:?}");
        assert!(answer(Err(busy)).is_err(), "a transient failure fails the invocation: Lambda retries it");
        let lost = HandlerError::from(RelayError::Store(StoreError::Conflict("moved".into())));
        assert!(matches!(lost, HandlerError::Retryable(_)), "{lost:?}");
        let gone = HandlerError::from(ServiceError::PipelineNotFound("p".into()));
        assert!(matches!(gone, HandlerError::Rejected(_)), "{gone:?}");
    }

    #[test]
    fn an_unstorable_result_becomes_the_failure_of_its_action_and_nothing_else_does() {
        use pipewright_core::engine::{ActionSucceeded, JobRef};
        let job = JobRef {
            execution_id: "e1".into(),
            stage: "Build".into(),
            action: "Emit".into(),
            attempt: 1,
            job: 1,
            condition: None,
        };
        let succeeded = Event::ActionSucceeded(ActionSucceeded {
            job: job.clone(),
            output_variables: Default::default(),
            summary: None,
            external_execution_id: None,
            external_execution_url: None,
            revision: None,
            by: None,
            details: None,
        });
        let Some(Event::ActionFailed(failed)) = unstorable_result(&succeeded, "item over 400 KB") else {
            panic!("a failure")
        };
        assert_eq!(failed.job, job);
        assert_eq!(failed.failure.kind, FailureType::JobFailed);
        assert_eq!(failed.failure.message, "the action's result cannot be stored: item over 400 KB");
        assert!(unstorable_result(&Event::ActionFailed(failed), "again").is_none(), "a failure is not retried as one");
    }
}
