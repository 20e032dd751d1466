//! Webhook deliveries to `pipewright serve` (docs/sources.md):
//!
//! * `POST /webhooks/github`, `/webhooks/bitbucket`, `/webhooks/gitlab`: a repository's
//!   webhook, signed with `--webhook-secret`. A bad signature is answered 401 and starts
//!   nothing; each pipeline whose trigger (or source repository and branch) matches starts
//!   with trigger `WebhookV2`, once per delivery id.
//! * `POST /webhooks/codepipeline/<name>?t=<token>`: the URL PutWebhook gave, served by
//!   `pipewright_api::webhook_delivery` (as on AWS); the pipeline starts with trigger `Webhook`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use pipewright_core::webhooks::payload::{self, RepositoryEvent};
use pipewright_core::webhooks::plan::Verdict;
use pipewright_core::webhooks::{GitHost, signature};
use pipewright_local::backend::{Backend, RunOptions};
use pipewright_local::webhooks::{self as local, Started};

/// Repository hosts send up to 25 MB.
pub const MAX_DELIVERY_BYTES: usize = 25 * 1024 * 1024;

/// Where the webhooks of this server are: the secret of repository deliveries, and what
/// every execution started here reads.
pub struct Webhooks<'a> {
    pub backend: &'a Backend,
    pub options: &'a RunOptions,
    pub secret: Option<&'a [u8]>,
}

pub(crate) fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

pub(crate) fn message(status: StatusCode, text: &str) -> Response {
    answer(status, json!({ "message": text }))
}

/// Serves one repository delivery under `/webhooks/` (the PutWebhook URLs are
/// `pipewright_api::webhook_delivery`'s).
pub async fn deliver(webhooks: &Webhooks<'_>, path: &str, headers: &[(String, String)], body: &[u8]) -> Response {
    let rest = path.trim_start_matches("/webhooks/");
    let Some(host) = GitHost::from_segment(rest) else {
        return message(
            StatusCode::NOT_FOUND,
            "webhooks are at /webhooks/github, /webhooks/bitbucket and /webhooks/gitlab",
        );
    };
    let Some(secret) = webhooks.secret else {
        return message(
            StatusCode::NOT_FOUND,
            "this server takes no repository webhooks: start it with --webhook-secret SECRET",
        );
    };
    if let Err(error) = signature::verify(host, secret, headers, body) {
        return message(StatusCode::UNAUTHORIZED, &error.to_string());
    }
    let delivery = match payload::read(host, headers, body) {
        Ok(delivery) => delivery,
        Err(error) => return message(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let planned = match local::plan_delivery(webhooks.backend, &delivery).await {
        Ok(planned) => planned,
        Err(error) => return message(StatusCode::SERVICE_UNAVAILABLE, &error.to_string()),
    };
    let mut started = Vec::new();
    for (_, verdicts) in &planned {
        for verdict in verdicts {
            let Some(start) = &verdict.start else { continue };
            match local::start(webhooks.backend, webhooks.options, &verdict.pipeline, start).await {
                Ok(done) => started.push(done),
                // The host redelivers on an error; what started already is not started again.
                Err(error) => return message(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
            }
        }
    }
    answer(StatusCode::ACCEPTED, report(&delivery.id, delivery.ignored.as_deref(), &planned, &started))
}

/// What a delivery did, for the host's delivery log and for people.
pub fn report(
    id: &str,
    ignored: Option<&str>,
    planned: &[(RepositoryEvent, Vec<Verdict>)],
    started: &[Started],
) -> Value {
    json!({
        "delivery": id,
        "ignored": ignored,
        "events": planned.iter().map(|(event, verdicts)| json!({
            "event": event.describe(),
            "pipelines": verdicts.iter().map(|v| json!({"pipeline": v.pipeline, "verdict": v.describe()})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "started": started,
    })
}
