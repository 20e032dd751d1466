//! Webhook deliveries on this machine, for `pipewright serve` (`POST /webhooks/…`) and
//! `pipewright webhook replay`: a delivery is planned against every pipeline of the state
//! directory (`pipewright_core::webhooks::plan`), and what it starts is started here, with
//! the run options of the server (its `--source` repositories give the pushed commit).

use pipewright_core::engine::{Event, StartExecution};
use pipewright_core::ports::{StateStore, StoreError};
use pipewright_core::service::{Handled, ServiceError};
use pipewright_core::webhooks::payload::{Delivery, RepositoryEvent};
use pipewright_core::webhooks::plan::{self, PlannedStart, Verdict};

use crate::backend::{Backend, RunOptions};

/// What a delivery does: each of its events, with every pipeline's verdict.
pub async fn plan_delivery(
    backend: &Backend,
    delivery: &Delivery,
) -> Result<Vec<(RepositoryEvent, Vec<Verdict>)>, StoreError> {
    let pipelines = backend.store.list_pipelines().await?;
    Ok(delivery
        .events
        .iter()
        .map(|event| {
            let verdicts =
                pipelines.iter().map(|stored| plan::plan(&stored.declaration, event, &delivery.id)).collect();
            (event.clone(), verdicts)
        })
        .collect())
}

pub use pipewright_core::service::Started;

/// Starts `planned` on `pipeline`, recording `options` for the worker that carries it out.
pub async fn start(
    backend: &Backend,
    options: &RunOptions,
    pipeline: &str,
    planned: &PlannedStart,
) -> Result<Started, ServiceError> {
    let id = &planned.execution_id;
    let event = Event::StartExecution(StartExecution {
        execution_id: id.clone(),
        seed: format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()),
        trigger: planned.trigger.clone(),
        variables: Vec::new(),
        source_revisions: planned.source_revisions.clone(),
        action_timeout_seconds: None,
    });
    // A redelivery starts nothing, and keeps the options of the execution it started.
    let handled = backend.submit_start(pipeline, &event, options).await?;
    Ok(Started {
        pipeline: pipeline.to_string(),
        execution_id: id.clone(),
        new: matches!(handled, Handled::Applied { .. }),
    })
}
