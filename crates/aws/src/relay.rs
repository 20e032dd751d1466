//! Carrying out committed effects on AWS: record where their dispatched jobs belong, put
//! them on the bus, then take them out of the outbox. A crash in between leaves them in the outbox, and the tick publishes them again;
//! their consumers take each effect once.

use std::collections::BTreeMap;

use pipewright_core::engine::Effect;
use pipewright_core::ports::{StateStore, StoreError};

use crate::bus::{BusError, effect_entry};
use crate::settings::Services;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn relay(services: &Services, pipeline: &str, effects: &[Effect]) -> Result<(), RelayError> {
    let settings = &services.settings;
    let entries = effects
        .iter()
        .filter_map(|effect| effect_entry(effect, pipeline, &settings.account, &settings.region))
        .collect();
    // A job is found by id (a job worker's result names only the job) before anyone can see it.
    services.store.record_jobs(pipeline, effects).await?;
    services.bus.put(entries).await?;
    let mut by_execution: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for effect in effects {
        by_execution.entry(effect.execution_id()).or_default().push(effect.id().to_string());
    }
    for (execution, ids) in by_execution {
        services.store.complete_effects(execution, &ids).await?;
    }
    Ok(())
}
