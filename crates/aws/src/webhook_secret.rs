//! The secret repository webhooks are signed with, on AWS (docs/sources.md, "Repository
//! webhooks on AWS"): the Secrets Manager secret that the stack's `WebhookSecretName`
//! parameter names (`PIPEWRIGHT_WEBHOOK_SECRET_NAME` of the api function), which the team
//! creates. A warm function keeps it for a minute: no read per delivery, and a changed secret
//! is used within a minute. A secret that cannot be read is not kept, so creating it takes
//! effect at the next delivery.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use pipewright_api::webhook_delivery::Refused;

/// The api function's environment variable naming the secret.
pub const SECRET_NAME_VARIABLE: &str = "PIPEWRIGHT_WEBHOOK_SECRET_NAME";

/// How long a warm function keeps the secret it read.
const KEEP_FOR: Duration = Duration::from_secs(60);

pub struct WebhookSecret {
    client: aws_sdk_secretsmanager::Client,
    name: Option<String>,
    kept: Mutex<Option<(Instant, Vec<u8>)>>,
}

fn unavailable(message: String) -> Refused {
    Refused { status: 503, message }
}

impl WebhookSecret {
    /// The secret named `name` (none: this deployment takes no repository webhooks).
    pub fn new(client: aws_sdk_secretsmanager::Client, name: Option<String>) -> WebhookSecret {
        WebhookSecret { client, name: name.filter(|n| !n.is_empty()), kept: Mutex::new(None) }
    }

    /// The secret the function's environment names.
    pub fn from_env(client: aws_sdk_secretsmanager::Client) -> WebhookSecret {
        WebhookSecret::new(client, std::env::var(SECRET_NAME_VARIABLE).ok())
    }

    /// The secret's value, or why there is none: a 503 whose message tells the team what to
    /// do (the details of an AWS error go to the log, not to whoever posted).
    pub async fn get(&self) -> Result<Vec<u8>, Refused> {
        let Some(name) = &self.name else {
            return Err(unavailable(format!(
                "this deployment takes no repository webhooks: the api function has no {SECRET_NAME_VARIABLE}"
            )));
        };
        if let Ok(kept) = self.kept.lock()
            && let Some((read_at, value)) = kept.as_ref()
            && read_at.elapsed() < KEEP_FOR
        {
            return Ok(value.clone());
        }
        let output = self.client.get_secret_value().secret_id(name).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) {
                return unavailable(format!(
                    "the webhook secret {name} does not exist: create it in Secrets Manager (docs/sources.md)"
                ));
            }
            tracing::error!(error = %aws_smithy_types::error::display::DisplayErrorContext(&e), secret = %name, "cannot read the webhook secret");
            unavailable(format!("cannot read the webhook secret {name} (the api function's log says why)"))
        })?;
        let value = output
            .secret_string()
            .filter(|value| !value.is_empty())
            .ok_or_else(|| unavailable(format!("the webhook secret {name} holds no string (or an empty one)")))?
            .as_bytes()
            .to_vec();
        if let Ok(mut kept) = self.kept.lock() {
            *kept = Some((Instant::now(), value.clone()));
        }
        Ok(value)
    }
}
