//! stage-transition: applies every engine event, and the minute tick that keeps the system
//! moving when a step was lost — deadlines that passed, effects committed but never
//! published, work published but never picked up.

use std::sync::Arc;

use pipewright_core::deploy::codebuild::StartResends;
use pipewright_core::engine::{Effect, Event, Execution, InFlight, Tick, next_due, work_in_flight};
use pipewright_core::pipeline::Pipeline;
use pipewright_core::ports::StateStore;
use pipewright_core::service::Handled;
use pipewright_core::time::Timestamp;

use super::{HandlerError, apply, apply_at, relay_pending};
use serde_json::{Value, json};

use crate::bus::{ENGINE_EVENT, ENGINE_SOURCE, EngineMessage, Envelope, effect_entry};
use crate::settings::Services;

/// Effects still in an outbox this long after their commit are published again: a relay
/// that crashed mid-way.
pub const OUTBOX_GRACE_SECONDS: u32 = 60;
/// Work in flight this long without a claim is sent again: its delivery was lost (a build's
/// start, which takes no claim, then again once per claim's lease: `BUILD_START_RESENDS`).
pub const UNCLAIMED_GRACE_SECONDS: u32 = 120;
/// How many executions one tick serves of each kind; the next tick serves the rest.
const PER_TICK: i32 = 200;

/// Applies one engine event.
pub async fn engine_event(services: &Services, message: &EngineMessage) -> Result<Handled, HandlerError> {
    apply(services, &message.pipeline, &message.event).await
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Executions whose deadline passed, ticked.
    pub deadlines: usize,
    /// Effects published again from outboxes a relay left behind.
    pub relayed: usize,
    /// Dispatches and approval requests sent again because nobody claimed them.
    pub resent: usize,
    /// Executions started because a polled source moved (docs/sources.md, "Polling").
    pub polled: usize,
    /// Executions a step failed for (logged; the next tick tries again).
    pub failures: Vec<String>,
}

/// The scheduled tick, at `now`. It reads each active execution once (up to [`PER_TICK`]):
/// one whose next deadline has passed is ticked, and the others' work in flight that
/// nobody claimed is sent again.
pub async fn tick(services: &Services, now: Timestamp) -> Result<TickReport, HandlerError> {
    let mut report = TickReport::default();
    let active = read_active_executions(services, &mut report.failures).await?;
    let (due, waiting): (Vec<Active>, Vec<Active>) =
        active.into_iter().partition(|active| next_due(&active.execution).is_some_and(|due| due <= now));
    for active in due {
        let execution_id = active.execution.id.clone();
        let event = Event::Tick(Tick { execution_id: execution_id.clone() });
        match apply_at(services, &active.execution.pipeline_name, &event, now).await {
            Ok(_) => report.deadlines += 1,
            Err(HandlerError::Permanent(reason)) => {
                report.failures.push(set_aside(services, &execution_id, &reason).await);
            }
            Err(error) => report.failures.push(format!("tick {execution_id}: {error}")),
        }
    }
    let committed_before = Timestamp::from_millis(now.millis() - i64::from(OUTBOX_GRACE_SECONDS) * 1000);
    for pending in services.store.pending_outboxes(committed_before, PER_TICK).await? {
        match relay_pending(services, &pending.pipeline, &pending.execution_id).await {
            Ok(count) => report.relayed += count,
            Err(error) => report.failures.push(format!("relay {}: {error}", pending.execution_id)),
        }
    }
    // Work of the executions ticked above waits for the next tick: their state just changed.
    let settled = Timestamp::from_millis(now.millis() - i64::from(UNCLAIMED_GRACE_SECONDS) * 1000);
    let unclaimed = work_of(&waiting, now, |work| is_resent(work, settled, now));
    match send_unclaimed(services, &unclaimed, now, "resending work nobody claimed").await {
        Ok(count) => report.resent = count,
        Err(error) => report.failures.push(format!("resend: {error}")),
    }
    match super::source_polling::poll(services, now, &mut report.failures).await {
        Ok(started) => report.polled = started.iter().filter(|s| s.new).count(),
        Err(error) => report.failures.push(format!("poll: {error}")),
    }
    for failure in &report.failures {
        tracing::warn!(failure, "tick step failed");
    }
    Ok(report)
}

/// Takes an execution whose stored state cannot be read or written out of the tick's sweeps:
/// sweeping it again every minute would fail the same way. It stays in the table, for a
/// person to look at; the failure is logged as an error.
async fn set_aside(services: &Services, execution_id: &str, reason: &str) -> String {
    tracing::error!(execution_id, reason, "the execution's stored state is unusable; the tick sets it aside");
    match services.store.set_aside(execution_id).await {
        Ok(()) => format!("execution {execution_id} set aside: {reason}"),
        Err(error) => format!("execution {execution_id}: {reason}; setting it aside failed: {error}"),
    }
}

/// An unfinished execution as the tick read it, with its pipeline version when that could be
/// loaded.
pub(super) struct Active {
    pub execution: Execution,
    pub pipeline: Option<Arc<Pipeline>>,
}

/// The unfinished executions of the `deadlines` index, up to [`PER_TICK`], those whose
/// entry comes first (the entry is at or before the next deadline). An execution that cannot
/// be read is set aside and the others are read.
pub(super) async fn read_active_executions(
    services: &Services,
    failures: &mut Vec<String>,
) -> Result<Vec<Active>, HandlerError> {
    let mut active = Vec::new();
    for listed in services.store.active_executions(PER_TICK).await? {
        let execution = match services.store.get_execution(&listed.execution_id).await {
            Ok(Some(execution)) => execution.value,
            Ok(None) => continue,
            Err(error) if error.is_permanent() => {
                failures.push(set_aside(services, &listed.execution_id, &error.to_string()).await);
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        if execution.status.is_finished() {
            continue;
        }
        let pipeline = match services.cache.pinned(&services.store, &execution).await {
            Ok(pipeline) => Some(pipeline),
            Err(error) => {
                tracing::warn!(execution = %execution.id, %error, "cannot load the pipeline version");
                None
            }
        };
        active.push(Active { execution, pipeline });
    }
    Ok(active)
}

/// The work in flight of `active` executions that `select` keeps and invoke-action takes (a
/// dispatch, an approval request), each with the claim it is taken under; none of an
/// execution whose pipeline version could not be loaded.
pub(super) fn work_of(
    active: &[Active],
    now: Timestamp,
    select: impl Fn(&InFlight) -> bool,
) -> Vec<(Option<String>, Effect)> {
    let mut candidates = Vec::new();
    for Active { execution, pipeline } in active {
        let Some(pipeline) = pipeline else { continue };
        for work in work_in_flight(pipeline, execution, now) {
            if matches!(work.effect, Effect::Dispatch(_) | Effect::RequestApproval(_)) && select(&work) {
                candidates.push((claim_key(&work.effect), work.effect));
            }
        }
    }
    candidates
}

/// Puts on the bus the `candidates` nobody holds a claim on, and those taken without one;
/// how many were sent.
pub(super) async fn send_unclaimed(
    services: &Services,
    candidates: &[(Option<String>, Effect)],
    now: Timestamp,
    why: &str,
) -> Result<usize, HandlerError> {
    if candidates.is_empty() {
        return Ok(0);
    }
    let keys: Vec<String> = candidates.iter().filter_map(|(claim, _)| claim.clone()).collect();
    let unclaimed = if keys.is_empty() { Vec::new() } else { services.store.unclaimed_jobs(&keys, now).await? };
    let settings = &services.settings;
    let entries: Vec<_> = candidates
        .iter()
        .filter(|(claim, _)| claim.as_ref().is_none_or(|claim| unclaimed.contains(claim)))
        .filter_map(|(_, effect)| effect_entry(effect, pipeline_of(effect), &settings.account, &settings.region))
        .collect();
    let count = entries.len();
    for entry in &entries {
        tracing::info!(detail_type = %entry.detail_type, "{why}");
    }
    services.bus.put(entries).await.map_err(|e| HandlerError::Retryable(e.to_string()))?;
    Ok(count)
}

/// When the tick sends again a build's start still unrecorded: after the grace other work
/// has, then once per claim's lease, each turn two ticks wide (`codebuild::StartResends`;
/// the tick is `template.yaml`'s `rate(1 minute)`).
pub const BUILD_START_RESENDS: StartResends = StartResends {
    grace_seconds: UNCLAIMED_GRACE_SECONDS as i64,
    every_seconds: super::invoke_action::LEASE_SECONDS,
    window_seconds: 120,
};

/// Whether the tick sends `work` now: a deploy provider's wait when its next look is due
/// (the tick is what checks it, docs/providers.md §13); a build's start, which holds no claim
/// (`invoke_action::claim_of`), on [`BUILD_START_RESENDS`]; other work when it has gone
/// unclaimed since `settled`.
fn is_resent(work: &InFlight, settled: Timestamp, now: Timestamp) -> bool {
    match &work.effect {
        Effect::Dispatch(dispatch) => match pipewright_core::deploy::deploy_wait(dispatch) {
            Some(token) => pipewright_core::deploy::wait_is_due(token, work.since, now),
            None if pipewright_core::deploy::codebuild::is_build_start(dispatch) => {
                BUILD_START_RESENDS.due(work.since, now)
            }
            None => work.since <= settled,
        },
        _ => work.since <= settled,
    }
}

/// The claim invoke-action takes for a piece of work (`invoke_action::claim_of` for a
/// dispatch); none for what it does not take.
pub fn claim_key(effect: &Effect) -> Option<String> {
    match effect {
        Effect::Dispatch(dispatch) => super::invoke_action::claim_of(dispatch).map(String::from),
        Effect::RequestApproval(request) => Some(format!("approval:{}", request.action_execution_id)),
        _ => None,
    }
}

fn pipeline_of(effect: &Effect) -> &str {
    match effect {
        Effect::Dispatch(dispatch) => &dispatch.pipeline,
        Effect::RequestApproval(request) => &request.pipeline,
        Effect::Publish(change) => &change.detail.pipeline,
        Effect::StopWork(stop) => &stop.pipeline,
        Effect::WakeAt(_) => "",
    }
}

/// Reads one delivery: the scheduled tick, or an engine event.
pub async fn receive(services: &Services, envelope: &Envelope) -> Result<Value, HandlerError> {
    match (envelope.source.as_str(), envelope.detail_type.as_str()) {
        ("aws.events", "Scheduled Event") => {
            let report = tick(services, super::now()).await?;
            Ok(json!({
                "deadlines": report.deadlines,
                "relayed": report.relayed,
                "resent": report.resent,
                "polled": report.polled,
                "failures": report.failures,
            }))
        }
        (ENGINE_SOURCE, ENGINE_EVENT) => {
            let message: EngineMessage = serde_json::from_value(envelope.detail.clone())
                .map_err(|e| HandlerError::Rejected(format!("detail is not an engine event: {e}")))?;
            let handled = engine_event(services, &message).await?;
            Ok(json!({ "event": message.event.kind(), "handled": super::describe(&handled) }))
        }
        (source, _) if source.starts_with("aws.") => {
            super::deploy_events::received(services, envelope, super::now()).await
        }
        (source, detail_type) => Err(HandlerError::Rejected(format!(
            "source {source:?} with detail-type {detail_type:?} is not for stage-transition"
        ))),
    }
}
