//! The stage-transition function: decode the EventBridge event, call the handler, answer.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

use pipewright_aws::bus::Envelope;
use pipewright_aws::handlers::{answer, stage_transition};
use pipewright_aws::settings::Services;

/// Only invoke-action (which signs approval links) and approval-callback read the key.
const WITH_LINK_KEY: bool = false;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipewright_aws::telemetry::init();
    // Clients are built once per instance, not per event.
    let services = &Services::from_env(WITH_LINK_KEY).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Envelope>| async move {
        Ok::<Value, Error>(answer(stage_transition::receive(services, &event.payload).await)?)
    }))
    .await
}
