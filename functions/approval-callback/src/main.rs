//! The approval-callback function, behind a Function URL: the HTTP request becomes the
//! handler's request, its response the HTTP response.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, IntoResponse, Request, RequestExt, Response, service_fn};

use pipewright_aws::handlers::approval_callback;
use pipewright_aws::settings::Services;

async fn serve(services: &Services, request: Request) -> Result<impl IntoResponse, Error> {
    let query =
        request.query_string_parameters().iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    let body = match request.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    // Who decided, for the record: the address the Function URL saw, never a header the
    // caller writes (X-Forwarded-For's first entry is whatever the client sent).
    let caller = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        _ => None,
    };
    let handled = approval_callback::handle(
        services,
        &approval_callback::Request { method: request.method().to_string(), query, body, caller },
    )
    .await;
    let mut response = Response::builder().status(handled.status);
    for (name, value) in handled.headers {
        response = response.header(name, value);
    }
    Ok(response.body(Body::Text(handled.body))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipewright_aws::telemetry::init();
    // This function checks link signatures: it reads the key once, at init.
    let services = &Services::from_env(true).await?;
    lambda_http::run(service_fn(move |request: Request| async move { serve(services, request).await })).await
}
