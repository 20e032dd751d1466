//! Webhook deliveries on this machine, for `pipewright serve` (`POST /webhooks/…`) and
//! `pipewright webhook replay`: a delivery is planned against every pipeline of the state
//! directory (`pipewright_core::webhooks::plan`), and what it starts is started here, with
//! the run options of the server (its `--source` repositories give the pushed commit).

use std::net::IpAddr;

use pipewright_core::engine::{Event, StartExecution};
use pipewright_core::ports::{StateStore, StoreError};
use pipewright_core::service::{Handled, ServiceError};
use pipewright_core::webhooks::definition::{self, RECORD_KIND, StoredWebhook};
use pipewright_core::webhooks::payload::{Delivery, RepositoryEvent};
use pipewright_core::webhooks::plan::{self, PlannedStart, Verdict};

use crate::backend::{Backend, LOCAL_REGION, RunOptions};

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

/// An execution a delivery started, or found started by an earlier delivery of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    pub pipeline: String,
    pub execution_id: String,
    /// False when a redelivery found the execution already started.
    pub new: bool,
}

/// Starts `planned` on `pipeline`, recording `options` for the worker that carries it out.
pub async fn start(
    backend: &Backend,
    options: &RunOptions,
    pipeline: &str,
    planned: &PlannedStart,
) -> Result<Started, ServiceError> {
    let id = &planned.execution_id;
    // A redelivery must not replace the options of the execution it already started.
    if backend.execution(id).await.map_err(ServiceError::Store)?.is_none() {
        backend.save_run_options(id, options).await.map_err(ServiceError::Store)?;
    }
    let event = Event::StartExecution(StartExecution {
        execution_id: id.clone(),
        seed: format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()),
        trigger: planned.trigger.clone(),
        variables: Vec::new(),
        source_revisions: planned.source_revisions.clone(),
        action_timeout_seconds: None,
    });
    let handled = backend.submit(pipeline, &event, &[], None).await?;
    Ok(Started {
        pipeline: pipeline.to_string(),
        execution_id: id.clone(),
        new: matches!(handled, Handled::Applied { .. }),
    })
}

/// Why a PutWebhook webhook refused a delivery: the HTTP status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

fn refused(status: u16, message: impl Into<String>) -> Refused {
    Refused { status, message: message.into() }
}

/// A delivery to a PutWebhook webhook's URL: the token, the authentication and the filters
/// decide; the pipeline starts with trigger `Webhook`.
pub async fn trigger_webhook(
    backend: &Backend,
    options: &RunOptions,
    account: &str,
    request: WebhookRequest<'_>,
) -> Result<Started, Refused> {
    let unavailable = |e: StoreError| refused(503, e.to_string());
    let record = backend.store.get_record(RECORD_KIND, request.name).await.map_err(unavailable)?;
    let stored: StoredWebhook = record
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| refused(404, format!("no webhook is named {}", request.name)))?;
    if !pipewright_core::mac::same_secret(stored.token.as_bytes(), request.token.as_bytes()) {
        return Err(refused(404, format!("no webhook is named {} with this URL", request.name)));
    }
    let webhook = &stored.definition;
    webhook.authenticate(request.headers, request.body, request.source).map_err(|e| refused(401, e))?;
    let body: serde_json::Value =
        serde_json::from_slice(request.body).map_err(|e| refused(400, format!("the body is not JSON: {e}")))?;
    let declaration = backend
        .store
        .get_pipeline(&webhook.target_pipeline, None)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| refused(404, format!("pipeline {} does not exist", webhook.target_pipeline)))?
        .declaration;
    let delivery_id =
        pipewright_core::webhooks::payload::delivery_id(pipewright_core::webhooks::GitHost::GitHub, request.headers)
            .unwrap_or_else(|| hex::encode(pipewright_core::mac::hmac_sha256(b"delivery", request.body)));
    let arn = definition::webhook_arn(LOCAL_REGION, account, &webhook.name);
    let planned = definition::plan_start(webhook, &declaration, &webhook.select(&body), &delivery_id, &arn)
        .map_err(|reason| refused(202, format!("nothing started: {reason}")))?;
    start(backend, options, &webhook.target_pipeline, &planned).await.map_err(|e| refused(500, e.to_string()))
}

/// A request to `/webhooks/codepipeline/<name>?t=<token>`.
pub struct WebhookRequest<'a> {
    pub name: &'a str,
    pub token: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub source: Option<IpAddr>,
}
