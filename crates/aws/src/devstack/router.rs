//! Delivers what the stand-in's rules put in the functions' queues: to the handlers in this
//! process (the test suite), or to the functions `cargo lambda watch` serves, through the
//! Lambda Invoke API. A failed delivery stays in its queue and comes back, as Lambda retries
//! an asynchronous event; after three receives it goes to the dead-letter queue.

use std::sync::Arc;

use aws_sdk_sqs::Client;
use serde_json::Value;
use tokio::task::JoinSet;

use super::{DevStack, DevstackError};
use crate::bus::Envelope;
use crate::handlers::{HandlerError, invoke_action, source_change, stage_transition};
use crate::settings::Services;

/// Where the router delivers.
#[derive(Clone)]
pub enum Target {
    /// The handlers, in this process.
    InProcess(Arc<Services>),
    /// The functions of `cargo lambda watch` at this base URL (`http://127.0.0.1:9000`).
    Watch(String),
}

/// How one delivery went.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Done(Value),
    /// The function refused the event for good: it is dropped.
    Rejected(String),
    /// Worth retrying: the message stays in the queue.
    Failed(String),
}

/// What one round of [`Router::pump`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pumped {
    pub messages: usize,
    pub rejected: Vec<String>,
    pub failed: Vec<String>,
}

#[derive(Clone)]
pub struct Router {
    sqs: Client,
    /// (function, queue URL) of every function fed by a queue.
    queues: Vec<(String, String)>,
    target: Target,
    /// Each message is delivered this many times, at once: at-least-once delivery, worst case.
    copies: usize,
}

/// Delivers one event to one function.
pub async fn deliver(target: &Target, function: &str, body: &str) -> Delivery {
    match target {
        Target::InProcess(services) => {
            let envelope: Envelope = match serde_json::from_str(body) {
                Ok(envelope) => envelope,
                Err(error) => return Delivery::Rejected(format!("not an EventBridge event: {error}")),
            };
            let result = match function {
                "source-change" => source_change::receive(services, &envelope).await,
                "stage-transition" => stage_transition::receive(services, &envelope).await,
                "invoke-action" => invoke_action::receive(services, &envelope).await,
                other => Err(HandlerError::Rejected(format!("{other} takes no queued events"))),
            };
            match result {
                Ok(value) => Delivery::Done(value),
                Err(HandlerError::Rejected(reason)) => Delivery::Rejected(reason),
                // What the function answers for it: dropped, as Lambda does with an answer.
                Err(HandlerError::Permanent(reason)) => Delivery::Rejected(format!("failed for good: {reason}")),
                Err(HandlerError::Retryable(reason)) => Delivery::Failed(reason),
            }
        }
        Target::Watch(base) => {
            let url = format!("{}/2015-03-31/functions/{function}/invocations", base.trim_end_matches('/'));
            let request = pipewright_http::Request::new("POST", &url)
                .header("content-type", "application/json")
                .body(body.to_string());
            match pipewright_http::send(request).await {
                Ok(answer) if answer.is_success() => {
                    let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::String(answer.text()));
                    if value.get("errorType").is_some() || value.get("errorMessage").is_some() {
                        Delivery::Failed(value.to_string())
                    } else if let Some(reason) = value.get("rejected").and_then(Value::as_str) {
                        Delivery::Rejected(reason.to_string())
                    } else if let Some(reason) = value.get("failed").and_then(Value::as_str) {
                        Delivery::Rejected(format!("failed for good: {reason}"))
                    } else {
                        Delivery::Done(value)
                    }
                }
                Ok(answer) => Delivery::Failed(format!("{function} answered {}: {}", answer.status, answer.text())),
                Err(error) => Delivery::Failed(error.to_string()),
            }
        }
    }
}

impl Router {
    pub fn new(sdk: &aws_config::SdkConfig, stack: &DevStack, target: Target) -> Router {
        Router {
            sqs: Client::new(sdk),
            queues: stack.queues.iter().map(|(function, url)| (function.clone(), url.clone())).collect(),
            target,
            copies: 1,
        }
    }

    /// Delivers every message `copies` times.
    pub fn with_copies(mut self, copies: usize) -> Router {
        self.copies = copies.max(1);
        self
    }

    /// One round: takes what every queue holds (up to 10 messages each) and delivers it all
    /// concurrently.
    pub async fn pump(&self) -> Result<Pumped, DevstackError> {
        let mut receipts = Vec::new();
        for (function, url) in &self.queues {
            let output =
                self.sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.map_err(|e| {
                    DevstackError::Aws(aws_smithy_types::error::display::DisplayErrorContext(&e).to_string())
                })?;
            for message in output.messages.unwrap_or_default() {
                receipts.push((
                    function.clone(),
                    url.clone(),
                    message.body.unwrap_or_default(),
                    message.receipt_handle.unwrap_or_default(),
                ));
            }
        }
        let mut pumped = Pumped { messages: receipts.len(), ..Pumped::default() };
        let mut deliveries = JoinSet::new();
        for (index, (function, _, body, _)) in receipts.iter().enumerate() {
            for _ in 0..self.copies {
                let (target, function, body) = (self.target.clone(), function.clone(), body.clone());
                deliveries.spawn(async move { (index, deliver(&target, &function, &body).await) });
            }
        }
        let mut outcomes: Vec<Vec<Delivery>> = vec![Vec::new(); receipts.len()];
        while let Some(joined) = deliveries.join_next().await {
            match joined {
                Ok((index, delivery)) => outcomes[index].push(delivery),
                Err(error) => pumped.failed.push(format!("a delivery panicked: {error}")),
            }
        }
        for ((function, url, _, receipt), outcomes) in receipts.iter().zip(outcomes) {
            // One successful copy is a successful delivery, as with Lambda's retries.
            let failures: Vec<&String> = outcomes
                .iter()
                .filter_map(|d| if let Delivery::Failed(reason) = d { Some(reason) } else { None })
                .collect();
            if failures.len() == outcomes.len() && !failures.is_empty() {
                pumped.failed.extend(failures.iter().map(|reason| format!("{function}: {reason}")));
                continue;
            }
            for delivery in &outcomes {
                if let Delivery::Rejected(reason) = delivery {
                    pumped.rejected.push(format!("{function}: {reason}"));
                }
            }
            let _ = self.sqs.delete_message().queue_url(url).receipt_handle(receipt).send().await;
        }
        Ok(pumped)
    }

    /// Pumps until `done` says so or `rounds` rounds passed; every round's report, merged.
    pub async fn run_until<F, Fut>(&self, rounds: usize, mut done: F) -> Result<Pumped, DevstackError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let mut total = Pumped::default();
        for _ in 0..rounds {
            if done().await {
                return Ok(total);
            }
            let round = self.pump().await?;
            if round.messages == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            total.messages += round.messages;
            total.rejected.extend(round.rejected);
            total.failed.extend(round.failed);
        }
        if done().await {
            return Ok(total);
        }
        Err(DevstackError::Aws(format!("still not done after {rounds} rounds: {total:?}")))
    }

    /// A scheduled event as EventBridge sends it, for the tick.
    pub fn scheduled_event() -> String {
        serde_json::json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "1970-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {}
        })
        .to_string()
    }

    pub fn target(&self) -> &Target {
        &self.target
    }
}
