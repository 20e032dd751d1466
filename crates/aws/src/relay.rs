//! Carrying out committed effects on AWS: record where their dispatched jobs belong, put
//! them on the bus, then take them out of the outbox. A crash in between leaves them in the outbox, and the tick publishes them again;
//! their consumers take each effect once.

use std::collections::BTreeMap;

use pipewright_core::engine::Effect;
use pipewright_core::ports::{StateStore, StoreError};

use crate::bus::{BusError, commit_entries};
use crate::settings::Services;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Carries out the effects a commit just gave: the ones the outbox keeps (all but deadlines,
/// `StateStore::keeps_effect`) leave it afterwards, one batch keyed by exactly their ids.
pub async fn relay(services: &Services, pipeline: &str, effects: &[Effect]) -> Result<(), RelayError> {
    carry_out(services, pipeline, effects, |effect| services.store.keeps_effect(effect)).await
}

/// Carries out effects read back from the outbox (a relay that crashed, a stale event): every
/// one of them leaves it, a deadline that an earlier version kept there too, so that no batch
/// of deadlines alone stays behind for the tick to read again every minute.
pub async fn relay_read_back(services: &Services, pipeline: &str, effects: &[Effect]) -> Result<(), RelayError> {
    carry_out(services, pipeline, effects, |_| true).await
}

/// Publishes `effects`, then removes from the outbox those it `holds`.
async fn carry_out(
    services: &Services,
    pipeline: &str,
    effects: &[Effect],
    holds: impl Fn(&Effect) -> bool,
) -> Result<(), RelayError> {
    let settings = &services.settings;
    let entries = commit_entries(effects, pipeline, &settings.account, &settings.region);
    // A job is found by id (a job worker's result names only the job) before anyone can see it.
    services.store.record_jobs(pipeline, effects).await?;
    services.bus.put(entries).await?;
    let mut by_execution: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for effect in effects.iter().filter(|effect| holds(effect)) {
        by_execution.entry(effect.execution_id()).or_default().push(effect.id().to_string());
    }
    for (execution, ids) in by_execution {
        services.store.complete_effects(execution, &ids).await?;
    }
    Ok(())
}
