//! A delivery to the URL PutWebhook answered, `POST /webhooks/codepipeline/<name>?t=<token>`
//! (docs/sources.md): the URL's token, then the webhook's own authentication (GITHUB_HMAC,
//! IP, UNAUTHENTICATED) and its JSONPath filters decide; the pipeline starts with trigger
//! `Webhook`, once per delivery (a signed body's digest, else the sender's delivery id). The same for `pipewright serve` and the api function.

use std::net::IpAddr;

use serde_json::{Value, json};

use pipewright_core::mac::same_secret;
use pipewright_core::ports::StateStore;
use pipewright_core::webhooks::GitHost;
use pipewright_core::webhooks::definition::{self, RECORD_KIND, StoredWebhook};
use pipewright_core::webhooks::payload::{body_digest, delivery_id};

use crate::ControlPlane;
use crate::executions::start_execution;

/// The path deliveries take, with the webhook's name after it.
pub const PATH_PREFIX: &str = "/webhooks/codepipeline/";

/// One request to a webhook's URL.
pub struct WebhookDelivery<'a> {
    pub name: &'a str,
    /// The URL's `t` parameter.
    pub token: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// Where the request came from, for IP authentication.
    pub source: Option<IpAddr>,
}

impl<'a> WebhookDelivery<'a> {
    /// The delivery a request is, when its path is a webhook's; `None` for any other path.
    pub fn of(
        path: &'a str,
        query: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
        source: Option<IpAddr>,
    ) -> Option<WebhookDelivery<'a>> {
        let name = path.strip_prefix(PATH_PREFIX)?;
        let token = query.split('&').find_map(|pair| pair.strip_prefix("t=")).unwrap_or_default();
        Some(WebhookDelivery { name, token, headers, body, source })
    }
}

/// Why a delivery started nothing: the HTTP status to answer, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

fn refused(status: u16, message: impl Into<String>) -> Refused {
    Refused { status, message: message.into() }
}

/// Authenticates and filters `delivery`, and starts the webhook's pipeline. The answer names
/// the execution, and whether this delivery started it (`new`: false for a redelivery).
pub async fn deliver<C: ControlPlane>(plane: &C, delivery: WebhookDelivery<'_>) -> Result<Value, Refused> {
    let unavailable = |e: pipewright_core::ports::StoreError| refused(503, e.to_string());
    let store = plane.store();
    let record = store.get_record(RECORD_KIND, delivery.name).await.map_err(unavailable)?;
    let stored: StoredWebhook = record
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| refused(404, format!("no webhook is named {}", delivery.name)))?;
    // The URL's token is the webhook's own: without it, the name alone reaches nothing.
    if !same_secret(stored.token.as_bytes(), delivery.token.as_bytes()) {
        return Err(refused(404, format!("no webhook is named {} with this URL", delivery.name)));
    }
    let webhook = &stored.definition;
    webhook.authenticate(delivery.headers, delivery.body, delivery.source).map_err(|e| refused(401, e))?;
    let body: Value =
        serde_json::from_slice(delivery.body).map_err(|e| refused(400, format!("the body is not JSON: {e}")))?;
    let declaration = store
        .get_pipeline(&webhook.target_pipeline, None)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| refused(404, format!("pipeline {} does not exist", webhook.target_pipeline)))?
        .declaration;
    // A signed body is known by its digest: the delivery-id header is not signed, and a
    // captured delivery sent again with a new one must start nothing new. Otherwise (no
    // signature, so nothing to replay) the sender's delivery id, else the digest.
    let digest = || body_digest(delivery.body);
    let id = if webhook.signs_its_body() {
        digest()
    } else {
        delivery_id(GitHost::GitHub, delivery.headers).unwrap_or_else(digest)
    };
    let arn = definition::webhook_arn(plane.region(), plane.account(), &webhook.name);
    let planned = definition::plan_start(webhook, &declaration, &webhook.select(&body), &id, &arn)
        .map_err(|reason| refused(202, format!("nothing started: {reason}")))?;
    let pipeline = webhook.target_pipeline.clone();
    let started = start_execution(
        plane,
        &pipeline,
        planned.trigger,
        Vec::new(),
        planned.source_revisions,
        Some(planned.execution_id),
    )
    .await
    .map_err(|e| {
        let error = e.into_api();
        refused(error.status, error.message)
    })?;
    Ok(json!({ "started": [{ "pipeline": pipeline, "executionId": started.execution_id, "new": started.new }] }))
}
