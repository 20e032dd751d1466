//! Delivers what the stand-in's rules put in the functions' queues: to the handlers in this
//! process (the test suite), or to the functions `cargo lambda watch` serves, through the
//! Lambda Invoke API.
//!
//! As Lambda invokes asynchronously: deliveries run concurrently and in no particular order;
//! an event a function fails with a retryable error is delivered again after a delay (Lambda
//! retries twice, about one and two minutes later; `with_retry_delays` shortens them for
//! tests), and after the last retry fails it goes to the function's dead-letter queue. A
//! retry is the event sent to its queue again, with its attempt number and the time it is due
//! as message attributes, so a retry survives the router; a message received before it is due
//! is left in the queue until then.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageAttributeValue};
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
    /// The messages by the function (logical id) they went to: each one invocation, as
    /// Lambda bills, at that function's memory.
    pub by_function: BTreeMap<String, usize>,
    pub rejected: Vec<String>,
    /// Failed deliveries (each retried later, or dead-lettered).
    pub failed: Vec<String>,
    /// Events that failed their last retry and went to the dead-letter queue.
    pub dead_lettered: Vec<String>,
}

impl Pumped {
    fn merge(&mut self, round: Pumped) {
        self.messages += round.messages;
        for (function, messages) in round.by_function {
            *self.by_function.entry(function).or_default() += messages;
        }
        self.rejected.extend(round.rejected);
        self.failed.extend(round.failed);
        self.dead_lettered.extend(round.dead_lettered);
    }
}

/// Lambda's retries of an asynchronous event: two, about one and two minutes after a failure.
pub const LAMBDA_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];
/// The message attributes of a retry: its attempt (1 is the first delivery) and when it is
/// due (Unix milliseconds).
const ATTEMPT: &str = "pipewright-attempt";
const DUE: &str = "pipewright-due-millis";

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn number_attribute(message: &Message, name: &str) -> Option<u64> {
    message.message_attributes.as_ref()?.get(name)?.string_value()?.parse().ok()
}

/// One received message.
struct Received {
    /// The function's logical id (what its invocation is billed as).
    resource: String,
    /// The binary that takes it.
    function: String,
    url: String,
    body: String,
    receipt: String,
    attempt: u32,
}

#[derive(Clone)]
pub struct Router {
    sqs: Client,
    /// (logical id, binary, queue URL) of every function fed by a queue.
    queues: Vec<(String, String, String)>,
    target: Target,
    /// Each message is delivered this many times, at once: at-least-once delivery, worst case.
    copies: usize,
    /// Function → its dead-letter queue's URL.
    dead_letter_queues: Vec<(String, String)>,
    /// The delay before each retry; after the last, the dead-letter queue.
    retry_delays: Vec<Duration>,
}

fn sqs_error(error: impl std::fmt::Debug) -> DevstackError {
    DevstackError::Aws(format!("{error:?}"))
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
            queues: stack
                .queues
                .iter()
                .filter_map(|(resource, url)| {
                    Some((resource.clone(), stack.binary_of(resource)?.to_string(), url.clone()))
                })
                .collect(),
            target,
            copies: 1,
            dead_letter_queues: stack
                .dead_letter_queues
                .iter()
                .map(|(function, url)| (function.clone(), url.clone()))
                .collect(),
            retry_delays: LAMBDA_RETRY_DELAYS.to_vec(),
        }
    }

    /// Retries after these delays instead of Lambda's (tests use milliseconds).
    pub fn with_retry_delays(mut self, delays: Vec<Duration>) -> Router {
        self.retry_delays = delays;
        self
    }

    /// Delivers every message `copies` times.
    pub fn with_copies(mut self, copies: usize) -> Router {
        self.copies = copies.max(1);
        self
    }

    /// One round: takes what every queue holds (up to 10 messages each) that is due, and
    /// delivers it all concurrently, in no particular order.
    pub async fn pump(&self) -> Result<Pumped, DevstackError> {
        let mut received = Vec::new();
        let now = now_millis();
        for (resource, function, url) in &self.queues {
            let output = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(sqs_error)?;
            for message in output.messages.unwrap_or_default() {
                let receipt = message.receipt_handle.clone().unwrap_or_default();
                if let Some(due) = number_attribute(&message, DUE).filter(|due| *due > now) {
                    // A retry not yet due: back in the queue until then.
                    let wait = i32::try_from((due - now) / 1000).unwrap_or(i32::MAX).min(43_200);
                    let _ = self
                        .sqs
                        .change_message_visibility()
                        .queue_url(url)
                        .receipt_handle(&receipt)
                        .visibility_timeout(wait)
                        .send()
                        .await;
                    continue;
                }
                let attempt = number_attribute(&message, ATTEMPT).and_then(|a| u32::try_from(a).ok()).unwrap_or(1);
                received.push(Received {
                    resource: resource.clone(),
                    function: function.clone(),
                    url: url.clone(),
                    body: message.body.unwrap_or_default(),
                    receipt,
                    attempt,
                });
            }
        }
        // Lambda's asynchronous invocations keep no order.
        received.sort_by_cached_key(|_| uuid::Uuid::new_v4());
        let mut pumped = Pumped { messages: received.len(), ..Pumped::default() };
        for message in &received {
            *pumped.by_function.entry(message.resource.clone()).or_default() += 1;
        }
        let mut deliveries = JoinSet::new();
        for (index, message) in received.iter().enumerate() {
            for _ in 0..self.copies {
                let (target, function, body) = (self.target.clone(), message.function.clone(), message.body.clone());
                deliveries.spawn(async move { (index, deliver(&target, &function, &body).await) });
            }
        }
        let mut outcomes: Vec<Vec<Delivery>> = vec![Vec::new(); received.len()];
        while let Some(joined) = deliveries.join_next().await {
            match joined {
                Ok((index, delivery)) => outcomes[index].push(delivery),
                Err(error) => pumped.failed.push(format!("a delivery panicked: {error}")),
            }
        }
        for (message, outcomes) in received.iter().zip(outcomes) {
            let function = &message.function;
            // One successful copy is a successful delivery, as with Lambda's retries.
            let failures: Vec<&String> = outcomes
                .iter()
                .filter_map(|d| if let Delivery::Failed(reason) = d { Some(reason) } else { None })
                .collect();
            if failures.len() == outcomes.len() && !failures.is_empty() {
                pumped.failed.extend(failures.iter().map(|reason| format!("{function}: {reason}")));
                let reason = failures.last().map_or("", |r| r.as_str());
                if let Some(dead) = self.retry_or_dead_letter(message, reason).await? {
                    pumped.dead_lettered.push(dead);
                }
            } else {
                for delivery in &outcomes {
                    if let Delivery::Rejected(reason) = delivery {
                        pumped.rejected.push(format!("{function}: {reason}"));
                    }
                }
            }
            let _ = self.sqs.delete_message().queue_url(&message.url).receipt_handle(&message.receipt).send().await;
        }
        Ok(pumped)
    }

    /// After a failed delivery: the event again, due after the attempt's delay, or — its
    /// retries spent — in the dead-letter queue (what went there, for the report).
    async fn retry_or_dead_letter(&self, message: &Received, reason: &str) -> Result<Option<String>, DevstackError> {
        let attribute =
            |value: String| MessageAttributeValue::builder().data_type("Number").string_value(value).build();
        let retry = usize::try_from(message.attempt).ok().and_then(|a| self.retry_delays.get(a.saturating_sub(1)));
        let Some(delay) = retry else {
            let Some((_, dead_letter)) = self.dead_letter_queues.iter().find(|(f, _)| *f == message.function) else {
                return Err(DevstackError::Aws(format!("{} has no dead-letter queue", message.function)));
            };
            let reason_attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(reason.chars().take(1000).collect::<String>())
                .build();
            self.sqs
                .send_message()
                .queue_url(dead_letter)
                .message_body(&message.body)
                .message_attributes(ATTEMPT, attribute(message.attempt.to_string()).map_err(sqs_error)?)
                .message_attributes("pipewright-error", reason_attribute.map_err(sqs_error)?)
                .send()
                .await
                .map_err(sqs_error)?;
            return Ok(Some(format!("{}: after {} attempts: {reason}", message.function, message.attempt)));
        };
        let due = now_millis() + u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.sqs
            .send_message()
            .queue_url(&message.url)
            .message_body(&message.body)
            .delay_seconds(i32::try_from(delay.as_secs().min(900)).unwrap_or(900))
            .message_attributes(ATTEMPT, attribute((message.attempt + 1).to_string()).map_err(sqs_error)?)
            .message_attributes(DUE, attribute(due.to_string()).map_err(sqs_error)?)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(None)
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
            total.merge(round);
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
