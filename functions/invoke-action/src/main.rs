//! The invoke-action function: decode the EventBridge event, call the handler, answer.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

use pipewright_aws::bus::Envelope;
use pipewright_aws::handlers::{answer, invoke_action};
use pipewright_aws::settings::Services;

/// It signs the links of approval notifications.
const WITH_LINK_KEY: bool = true;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pipewright_aws::telemetry::init();
    // Clients are built once per instance, not per event.
    let services = &Services::from_env(WITH_LINK_KEY).await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Envelope>| async move {
        Ok::<Value, Error>(answer(invoke_action::receive(services, &event.payload).await)?)
    }))
    .await
}
