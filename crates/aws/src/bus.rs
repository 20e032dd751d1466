//! The EventBridge bus: every hop between the functions, and the CodePipeline-format
//! state-change events for users' rules.
//!
//! | source | detail-type | to |
//! |---|---|---|
//! | `pipewright.engine` | `Pipewright Engine Event` | stage-transition |
//! | `pipewright.engine` | `Pipewright Action Dispatched` (a job its action's STARTED does not carry) | invoke-action |
//! | `pipewright.engine` | `Pipewright Approval Requested` | invoke-action |
//! | `pipewright.command` | `StartPipelineExecution` | source-change |
//! | `pipewright` | `CodePipeline … Execution State Change` | users' rules |
//! | `pipewright` | `CodePipeline Action Execution State Change`, STARTED (not an approval) | invoke-action: the action's first job |

use std::time::Duration;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use pipewright_core::engine::{
    ApprovalRequest, Dispatch, Effect, Event, SourceRevisionOverride, VariableOverride, announced_by_start,
};
use pipewright_core::envelope;
use pipewright_core::source_events::SourceChange;

pub const ENGINE_SOURCE: &str = "pipewright.engine";
pub const COMMAND_SOURCE: &str = "pipewright.command";
pub const ENGINE_EVENT: &str = "Pipewright Engine Event";
pub const ACTION_DISPATCHED: &str = "Pipewright Action Dispatched";
pub const APPROVAL_REQUESTED: &str = "Pipewright Approval Requested";
/// A rule's work (a build) to stop: its detail is the engine's `StopWork`.
pub const WORK_ABANDONED: &str = "Pipewright Work Abandoned";
pub const START_COMMAND: &str = "StartPipelineExecution";

/// PutEvents takes at most 10 entries...
pub const MAX_ENTRIES: usize = 10;
/// ...of at most 256 KB in all, each measured as `entry_size` does (docs/security.md,
/// "Limits of AWS").
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
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
    /// `dispatch.is_look()`, for the rules alone: a look at a wait goes to the smaller of
    /// invoke-action's two functions whatever its provider. EventBridge can match the null of
    /// `continuationToken` only in a pattern given as a JSON string, which SAM's `Pattern`
    /// object is not. Missing (false) in what an earlier version put on the bus.
    #[serde(default)]
    pub look: bool,
}

impl DispatchMessage {
    pub fn new(pipeline: impl Into<String>, dispatch: Dispatch) -> DispatchMessage {
        let look = dispatch.is_look();
        DispatchMessage { pipeline: pipeline.into(), dispatch, look }
    }
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
    /// One event alone is over PutEvents' request limit: it can never be put, and nothing of
    /// its batch was.
    #[error("event {name} is {size} bytes, over EventBridge's {MAX_REQUEST_BYTES}-byte (256 KB) PutEvents limit")]
    TooLarge { name: String, size: usize },
}

impl BusError {
    /// Whether another try can help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, BusError::TooLarge { .. })
    }
}

/// An entry's size as EventBridge measures it: 14 bytes for a `Time`, and the UTF-8 bytes of
/// the source, the detail-type, the detail and each resource.
pub fn entry_size(entry: &PutEventsRequestEntry) -> usize {
    let time = if entry.time().is_some() { 14 } else { 0 };
    let text = |value: Option<&str>| value.map_or(0, str::len);
    time + text(entry.source())
        + text(entry.detail_type())
        + text(entry.detail())
        + entry.resources().iter().map(String::len).sum::<usize>()
}

/// What names an entry in an error: its detail-type, and the pipeline and execution it
/// concerns when its detail says.
fn entry_name(entry: &PutEventsRequestEntry) -> String {
    let detail: Value = entry.detail().and_then(|d| serde_json::from_str(d).ok()).unwrap_or(Value::Null);
    let field = |path: &[&str]| {
        path.iter().try_fold(&detail, |value, key| value.get(key)).and_then(Value::as_str).map(String::from)
    };
    let pipeline = field(&["pipeline"]);
    let execution = field(&["execution-id"])
        .or_else(|| field(&["dispatch", "execution_id"]))
        .or_else(|| field(&["request", "execution_id"]))
        .or_else(|| field(&["event", "execution_id"]))
        .or_else(|| field(&["executionId"]));
    let mut name = format!("'{}'", entry.detail_type().unwrap_or_default());
    if let Some(pipeline) = pipeline {
        name.push_str(&format!(" of pipeline {pipeline}"));
    }
    if let Some(execution) = execution {
        name.push_str(&format!(" (execution {execution})"));
    }
    name
}

/// Entries in PutEvents requests: at most 10 a request and 256 KB in all, in order. An entry
/// over 256 KB alone is refused, naming it, before any request is made.
pub fn batches(entries: Vec<PutEventsRequestEntry>) -> Result<Vec<Vec<PutEventsRequestEntry>>, BusError> {
    let mut batches: Vec<Vec<PutEventsRequestEntry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = entry_size(&entry);
        if size > MAX_REQUEST_BYTES {
            return Err(BusError::TooLarge { name: entry_name(&entry), size });
        }
        match batches.last_mut() {
            Some(batch) if batch.len() < MAX_ENTRIES && bytes + size <= MAX_REQUEST_BYTES => {
                bytes += size;
                batch.push(entry);
            }
            _ => {
                bytes = size;
                batches.push(vec![entry]);
            }
        }
    }
    Ok(batches)
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

/// The bus entries that carry out one commit's effects, in order. An action's first job is
/// not an entry of its own when the commit also publishes the action's STARTED state change
/// (`engine::announced_by_start`): invoke-action takes the job from that event, which is
/// published anyway, so each action costs one event less (docs/ARCHITECTURE.md, "A start
/// carries its job").
pub fn commit_entries(effects: &[Effect], pipeline: &str, account: &str, region: &str) -> Vec<Entry> {
    effects
        .iter()
        .filter(|effect| !matches!(effect, Effect::Dispatch(dispatch) if announced_by_start(dispatch, effects)))
        .filter_map(|effect| effect_entry(effect, pipeline, account, region))
        .collect()
}

/// The bus entry that carries out an effect; deadlines (`WakeAt`) are served by the tick, and
/// the DynamoDB store does not keep them in its outbox either (`dynamo/outbox.rs`, `keeps`).
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
            serde_json::to_value(DispatchMessage::new(pipeline, (**dispatch).clone())).ok()?,
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
        Effect::StopWork(stop) => Some(engine(WORK_ABANDONED, serde_json::to_value(stop).ok()?)),
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

    /// Puts every entry, in batches of 10 entries and 256 KB (`batches`); entries EventBridge
    /// refuses are sent again with backoff.
    pub async fn put(&self, entries: Vec<Entry>) -> Result<(), BusError> {
        let entries = entries
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
        for mut pending in batches(entries)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(detail_bytes: usize) -> PutEventsRequestEntry {
        // {"pipeline":"p","pad":"…"}: 25 bytes of JSON around the padding.
        let detail = serde_json::json!({"pipeline": "p", "pad": "x".repeat(detail_bytes - 25)}).to_string();
        assert_eq!(detail.len(), detail_bytes);
        PutEventsRequestEntry::builder().source("s").detail_type("d").detail(detail).build()
    }

    #[test]
    fn entries_are_measured_as_eventbridge_documents_it() {
        let entry = PutEventsRequestEntry::builder()
            .source("pipewright")
            .detail_type("Pipewright Engine Event")
            .detail("{}")
            .resources("arn:a")
            .time(aws_smithy_types::DateTime::from_secs(0))
            .build();
        assert_eq!(entry_size(&entry), 14 + 10 + 23 + 2 + 5);
    }

    #[test]
    fn batches_hold_at_most_10_entries_and_256_kb() {
        let small: Vec<_> = (0..25).map(|_| entry(100)).collect();
        let sizes: Vec<usize> = batches(small).unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);

        // Each 100 KB: two fit a request, a third does not.
        let large: Vec<_> = (0..5).map(|_| entry(100 * 1024)).collect();
        let split = batches(large).unwrap();
        assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
        for batch in &split {
            assert!(batch.iter().map(entry_size).sum::<usize>() <= MAX_REQUEST_BYTES);
        }
    }

    #[test]
    fn an_entry_at_256_kb_is_sent_alone_and_one_byte_more_is_refused_by_name() {
        let at = entry(MAX_REQUEST_BYTES - 2);
        assert_eq!(entry_size(&at), MAX_REQUEST_BYTES);
        let split = batches(vec![entry(100), at, entry(100)]).unwrap();
        assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1]);

        let error = batches(vec![entry(100), entry(MAX_REQUEST_BYTES - 1)]).unwrap_err();
        assert!(error.is_permanent());
        let message = error.to_string();
        assert!(message.contains("'d' of pipeline p") && message.contains("262145 bytes"), "{message}");
    }
}
