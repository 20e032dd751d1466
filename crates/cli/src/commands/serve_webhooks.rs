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

use pipewright_api::repository_webhooks;
use pipewright_api::webhook_delivery::Refused;

use super::serve::LocalPlane;

pub use pipewright_api::repository_webhooks::MAX_DELIVERY_BYTES;

pub(crate) fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

pub(crate) fn message(status: StatusCode, text: &str) -> Response {
    answer(status, json!({ "message": text }))
}

/// Serves one repository delivery under `/webhooks/` (the PutWebhook URLs are
/// `pipewright_api::webhook_delivery`'s), as the api function does on AWS
/// (`pipewright_api::repository_webhooks`), with `--webhook-secret`.
pub async fn deliver(
    plane: &LocalPlane,
    secret: Option<&[u8]>,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Response {
    let host = match repository_webhooks::route(path) {
        Some(Ok(host)) => host,
        Some(Err(refused)) => return message(status(refused.status), &refused.message),
        None => return message(StatusCode::NOT_FOUND, "no webhook is at this path"),
    };
    let secret = secret.ok_or_else(|| Refused {
        status: 404,
        message: "this server takes no repository webhooks: start it with --webhook-secret SECRET".into(),
    });
    let (code, body) = repository_webhooks::deliver(plane, host, secret, headers, body).await;
    answer(status(code), body)
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
