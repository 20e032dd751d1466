//! stage-transition's early looks (docs/providers.md §13, "Early looks"): a service's
//! state-change event (a CloudFormation stack's status, an ECS deployment, a CodeDeploy
//! deployment, a Step Functions execution) sends at once the next look of the deploy waits
//! it concerns, instead of leaving it to the minute tick. The look is the tick's own job,
//! sent early; it is claimed as the tick's would be, so an event that comes twice, late, or
//! together with the tick makes one look at most, and one that concerns no waiting action
//! makes none.

use serde_json::{Value, json};

use pipewright_core::deploy::events::{concerns, service_change};
use pipewright_core::engine::Effect;
use pipewright_core::time::Timestamp;

use super::HandlerError;
use super::stage_transition::{read_active_executions, send_unclaimed, work_of};
use crate::bus::Envelope;
use crate::settings::Services;

/// Reads a service's event; sends the looks of the waits it concerns that nobody holds.
pub async fn received(services: &Services, envelope: &Envelope, now: Timestamp) -> Result<Value, HandlerError> {
    let Some(change) = service_change(&envelope.source, &envelope.detail_type, &envelope.resources, &envelope.detail)
    else {
        return Err(HandlerError::Rejected(format!(
            "source {:?} with detail-type {:?} names no work a deploy action waits for",
            envelope.source, envelope.detail_type
        )));
    };
    let mut failures = Vec::new();
    let active = read_active_executions(services, &mut failures).await?;
    let waiting = work_of(&active, now, |work| match &work.effect {
        Effect::Dispatch(dispatch) => concerns(&change, dispatch),
        _ => false,
    });
    let looked = send_unclaimed(services, &waiting, now, "a service event: looking now").await?;
    tracing::info!(event = %change.summary, waiting = waiting.len(), looked, "service event");
    for failure in &failures {
        tracing::warn!(failure, "a service event's look failed");
    }
    Ok(json!({ "event": change.summary, "waiting": waiting.len(), "looked": looked, "failures": failures }))
}
