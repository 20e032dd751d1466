//! The api function, behind a Function URL: each HTTP request goes to the shared API router
//! (`pipewright-api`), which verifies its SigV4 signature against the stack's API keys; a
//! POST to `/webhooks/github`, `/webhooks/bitbucket` or `/webhooks/gitlab` is a repository's
//! delivery, verified with the stack's webhook secret; a POST to
//! `/webhooks/codepipeline/<name>` is a delivery to a PutWebhook webhook; every other request
//! is the console, whose sessions are opened with the same key.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};

use pipewright_api::console::ConsoleAuth;
use pipewright_api::protocol::CONTENT_TYPE;
use pipewright_api::{Authenticator, HttpRequest};
use pipewright_aws::handlers::api;
use pipewright_aws::settings::{Services, api_authenticator};
use pipewright_aws::webhook_secret::WebhookSecret;

async fn serve(
    services: &Services,
    authenticator: &Authenticator,
    webhook_secret: &WebhookSecret,
    request: Request,
) -> Result<Response<Body>, Error> {
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect();
    // The raw query, as signed (Function URLs pass it through); the JSON protocol sends none.
    let query = request.uri().query().unwrap_or_default().to_string();
    let path = request.raw_http_path().to_string();
    let body: &[u8] = match request.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    let http = HttpRequest { method: request.method().as_str(), path: &path, query: &query, headers: &headers, body };
    if let Some((status, answer)) = api::webhook(services, webhook_secret, &http, source_ip(&request)).await {
        return Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::Text(answer.to_string()))?);
    }
    if !api::is_api(&http) {
        // The console: a session opened with the same key at /login.
        let secret = ConsoleAuth::secret_from_keys(authenticator).unwrap_or_default();
        let auth = ConsoleAuth::new(authenticator.clone(), true, secret);
        let page = api::console(services, &auth, http).await;
        let mut response = Response::builder().status(page.status);
        for (name, value) in page.headers {
            response = response.header(name, value);
        }
        return Ok(response.body(Body::Binary(page.body))?);
    }
    let response = api::request(services, authenticator, http).await;
    Ok(Response::builder()
        .status(response.status)
        .header("content-type", CONTENT_TYPE)
        .body(Body::Binary(response.body_bytes()))?)
}

/// The caller's address, as the Function URL saw it: what IP-authenticated webhooks check.
fn source_ip(request: &Request) -> Option<std::net::IpAddr> {
    match request.request_context_ref()? {
        // Function URLs send the payload format of API Gateway HTTP APIs (version 2.0).
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref()?.parse().ok(),
        _ => None,
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipewright_aws::telemetry::init();
    let sdk = pipewright_aws::settings::sdk_config().await;
    let services = &Services::new(&sdk, pipewright_aws::settings::Settings::from_env()?, false).await?;
    // No request is served unauthenticated: the keys are read once, at init, or the function fails.
    let authenticator = &api_authenticator(&sdk).await?;
    // Read at the first repository delivery, then kept for a minute.
    let webhook_secret = &WebhookSecret::from_env(services.secrets.clone());
    lambda_http::run(service_fn(move |request: Request| async move {
        serve(services, authenticator, webhook_secret, request).await
    }))
    .await
}
