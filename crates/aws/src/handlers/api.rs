//! The api function: CodePipeline's control API (the shared router of `pipewright-api`) over
//! the DynamoDB store, with the effects of each change put on the bus as the
//! stage-transition function does. Every request must be signed (SigV4) with the access key
//! the stack keeps in Secrets Manager.

use std::net::IpAddr;

use pipewright_api::repository_webhooks;
use pipewright_api::webhook_delivery::{self, WebhookDelivery};
use pipewright_api::{Authenticator, ControlPlane, HttpRequest, HttpResponse};
use pipewright_core::artifact_access::ArtifactCredentials;
use pipewright_core::engine::{Dispatch, Event, Execution};
use pipewright_core::service::{self, Handled, PipelineCache, ServiceError};
use pipewright_core::time::Timestamp;

use crate::dynamo::DynamoStore;
use crate::relay::relay;
use crate::settings::Services;
use crate::webhook_secret::WebhookSecret;

/// The deployment, as the API sees it.
pub struct AwsPlane<'a> {
    services: &'a Services,
    /// This function's URL, from the request's Host (a Function URL answers only its own
    /// host): where the webhooks PutWebhook defines are delivered.
    endpoint: Option<String>,
}

impl<'a> AwsPlane<'a> {
    pub fn new(services: &'a Services) -> AwsPlane<'a> {
        AwsPlane { services, endpoint: None }
    }

    /// The plane of one request, which names the URL it came to.
    pub fn for_request(services: &'a Services, request: &HttpRequest<'_>) -> AwsPlane<'a> {
        let header = |name: &str| pipewright_api::protocol::header_value(request.headers, name);
        let scheme = header("x-forwarded-proto").unwrap_or("https");
        let endpoint = header("host").map(|host| format!("{scheme}://{host}/"));
        AwsPlane { services, endpoint }
    }
}

impl ControlPlane for AwsPlane<'_> {
    type Store = DynamoStore;

    fn store(&self) -> &DynamoStore {
        &self.services.store
    }

    fn cache(&self) -> &PipelineCache {
        &self.services.cache
    }

    fn now(&self) -> Timestamp {
        super::now()
    }

    fn account(&self) -> &str {
        &self.services.settings.account
    }

    fn region(&self) -> &str {
        &self.services.settings.region
    }

    async fn artifact_credentials(
        &self,
        _execution: &Execution,
        dispatch: &Dispatch,
    ) -> Result<ArtifactCredentials, String> {
        self.services.artifact_access.credentials(dispatch).await
    }

    fn webhook_endpoint(&self) -> Option<String> {
        self.endpoint.clone()
    }

    async fn submit(&self, pipeline: &str, event: &Event) -> Result<Handled, ServiceError> {
        let handled =
            service::handle(&self.services.store, &self.services.cache, pipeline, event, super::now(), &[]).await?;
        if let Handled::Applied { effects } = &handled
            && let Err(error) = relay(self.services, pipeline, effects).await
        {
            // Committed: the effects wait in the outbox, and the tick publishes them.
            tracing::warn!(%error, pipeline, "effects left in the outbox for the tick");
        }
        Ok(handled)
    }
}

/// Serves one API request.
pub async fn request(services: &Services, authenticator: &Authenticator, request: HttpRequest<'_>) -> HttpResponse {
    pipewright_api::handle(&AwsPlane::for_request(services, &request), authenticator, request).await
}

/// Serves a webhook delivery, or `None` for any other request. Neither kind is signed with
/// the API's keys:
///
/// * a repository's (`POST /webhooks/github`, `/webhooks/bitbucket`, `/webhooks/gitlab`) is
///   verified with the stack's webhook secret (`webhook_secret`) and starts every pipeline it
///   matches (`pipewright_api::repository_webhooks`, as `pipewright serve` does);
/// * one to a PutWebhook URL (`POST /webhooks/codepipeline/<name>?t=…`): the URL's token and
///   the webhook's own authentication decide.
///
/// The answer: its status and JSON body.
pub async fn webhook(
    services: &Services,
    webhook_secret: &WebhookSecret,
    request: &HttpRequest<'_>,
    source: Option<IpAddr>,
) -> Option<(u16, serde_json::Value)> {
    if request.method != "POST" {
        return None;
    }
    if let Some(route) = repository_webhooks::route(request.path) {
        let host = match route {
            Ok(host) => host,
            Err(refused) => return Some((refused.status, serde_json::json!({ "message": refused.message }))),
        };
        let secret = webhook_secret.get().await;
        let plane = AwsPlane::new(services);
        return Some(
            repository_webhooks::deliver(
                &plane,
                host,
                secret.as_deref().map_err(Clone::clone),
                request.headers,
                request.body,
            )
            .await,
        );
    }
    let delivery = WebhookDelivery::of(request.path, request.query, request.headers, request.body, source)?;
    Some(match webhook_delivery::deliver(&AwsPlane::new(services), delivery).await {
        Ok(started) => (202, started),
        Err(refused) => (refused.status, serde_json::json!({ "message": refused.message })),
    })
}

/// Serves one console request (every path but the API's `POST /`).
pub async fn console(
    services: &Services,
    auth: &pipewright_api::console::ConsoleAuth,
    request: HttpRequest<'_>,
) -> pipewright_api::console::Page {
    pipewright_api::console::handle(&AwsPlane::new(services), auth, request).await
}

/// Whether a request is for the API (`POST /`) rather than the console.
pub fn is_api(request: &HttpRequest<'_>) -> bool {
    request.method == "POST" && request.path == "/"
}
