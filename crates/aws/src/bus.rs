//! The EventBridge bus: every hop between the functions, and the CodePipeline-format
//! state-change events for users' rules.
//!
//! | source | detail-type | to |
//! |---|---|---|
//! | `pipewright.engine` | `Pipewright Engine Event` | stage-transition |
//! | `pipewright.engine` | `Pipewright Action Dispatched` | invoke-action |
//! | `pipewright.engine` | `Pipewright Approval Requested` | invoke-action |
//! | `pipewright.command` | `StartPipelineExecution` | source-change |
//! | `pipewright` | `CodePipeline … Execution State Change` | users' rules |

use std::time::Duration;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use pipewright_core::engine::{ApprovalRequest, Dispatch, Effect, Event, SourceRevisionOverride, VariableOverride};
use pipewright_core::envelope;
use pipewright_core::source_events::SourceChange;

pub const ENGINE_SOURCE: &str = "pipewright.engine";
pub const COMMAND_SOURCE: &str = "pipewright.command";
pub const ENGINE_EVENT: &str = "Pipewright Engine Event";
pub const ACTION_DISPATCHED: &str = "Pipewright Action Dispatched";
pub const APPROVAL_REQUESTED: &str = "Pipewright Approval Requested";
pub const START_COMMAND: &str = "StartPipelineExecution";

/// PutEvents takes at most 10 entries.
const BATCH: usize = 10;
/// Failed entries are sent again this many times, waiting longer each time.
const ATTEMPTS: u32 = 6;

/// An engine event for stage-transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineMessage {
    pub pipeline: String,
    pub event: Event,
}

/// A dispatched action for invoke-action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchMessage {
    pub pipeline: String,
    pub dispatch: Dispatch,
}

/// An approval to notify, for invoke-action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalMessage {
    pub pipeline: String,
    pub request: ApprovalRequest,
}

/// StartPipelineExecution as a command on the bus (from the CLI or a webhook).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartCommand {
    pub pipeline_name: String,
    #[serde(default)]
    pub variables: Vec<VariableOverride>,
    #[serde(default)]
    pub source_revisions: Vec<SourceRevisionOverride>,
    /// Makes the start idempotent: the same token starts one execution.
    pub client_request_token: Option<String>,
    /// A push or pull request on a connection source, checked against the triggers.
    pub change: Option<SourceChange>,
    pub requested_by: Option<String>,
}

/// One event to put on the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub source: String,
    pub detail_type: String,
    pub detail: Value,
    pub resources: Vec<String>,
}

/// An EventBridge event as a target receives it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Envelope {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub detail: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("PutEvents failed: {0}")]
    Put(String),
    #[error("{count} events were refused after {ATTEMPTS} attempts: {reason}")]
    Refused { count: usize, reason: String },
}

/// The bus entry of an engine event.
pub fn engine_entry(pipeline: &str, event: &Event) -> Entry {
    Entry {
        source: ENGINE_SOURCE.to_string(),
        detail_type: ENGINE_EVENT.to_string(),
        detail: serde_json::to_value(EngineMessage { pipeline: pipeline.to_string(), event: event.clone() })
            .unwrap_or(Value::Null),
        resources: Vec::new(),
    }
}

/// The bus entry that carries out an effect; deadlines (`WakeAt`) are served by the tick.
pub fn effect_entry(effect: &Effect, pipeline: &str, account: &str, region: &str) -> Option<Entry> {
    let engine = |detail_type: &str, detail: Value| Entry {
        source: ENGINE_SOURCE.to_string(),
        detail_type: detail_type.to_string(),
        detail,
        resources: Vec::new(),
    };
    match effect {
        Effect::Dispatch(dispatch) => Some(engine(
            ACTION_DISPATCHED,
            serde_json::to_value(DispatchMessage { pipeline: pipeline.to_string(), dispatch: (**dispatch).clone() })
                .ok()?,
        )),
        Effect::RequestApproval(request) => Some(engine(
            APPROVAL_REQUESTED,
            serde_json::to_value(ApprovalMessage { pipeline: pipeline.to_string(), request: (**request).clone() })
                .ok()?,
        )),
        Effect::Publish(change) => {
            let event = envelope::state_change_event(change, account, region);
            Some(Entry {
                source: envelope::SOURCE.to_string(),
                detail_type: change.detail_type.as_str().to_string(),
                detail: event["detail"].clone(),
                resources: event["resources"]
                    .as_array()
                    .map(|r| r.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                    .unwrap_or_default(),
            })
        }
        Effect::WakeAt(_) => None,
    }
}

#[derive(Clone)]
pub struct EventBus {
    client: Client,
    name: String,
}

impl EventBus {
    pub fn new(client: Client, name: impl Into<String>) -> EventBus {
        EventBus { client, name: name.into() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Puts every entry, in batches of 10; entries EventBridge refuses are sent again with
    /// backoff.
    pub async fn put(&self, entries: Vec<Entry>) -> Result<(), BusError> {
        for batch in entries.chunks(BATCH) {
            let mut pending: Vec<PutEventsRequestEntry> = batch
                .iter()
                .map(|entry| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.name)
                        .source(&entry.source)
                        .detail_type(&entry.detail_type)
                        .detail(entry.detail.to_string())
                        .set_resources((!entry.resources.is_empty()).then(|| entry.resources.clone()))
                        .build()
                })
                .collect();
            let mut reason = String::new();
            for attempt in 0..ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                let output = match self.client.put_events().set_entries(Some(pending.clone())).send().await {
                    Ok(output) => output,
                    Err(error) => {
                        reason = aws_smithy_types::error::display::DisplayErrorContext(&error).to_string();
                        continue;
                    }
                };
                if output.failed_entry_count() == 0 {
                    pending.clear();
                    break;
                }
                // Only the refused entries are sent again.
                let results = output.entries();
                let mut retry = Vec::new();
                for (entry, result) in pending.iter().zip(results) {
                    if let Some(code) = result.error_code() {
                        reason = format!("{code}: {}", result.error_message().unwrap_or_default());
                        retry.push(entry.clone());
                    }
                }
                pending = retry;
            }
            if !pending.is_empty() {
                return Err(BusError::Refused { count: pending.len(), reason });
            }
        }
        Ok(())
    }
}
