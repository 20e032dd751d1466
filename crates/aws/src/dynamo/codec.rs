//! Attribute values: strings and numbers, JSON stored compressed, executions, and the
//! entries of an execution's outbox.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use pipewright_core::engine::{Effect, Execution};
use pipewright_core::outbox_fate::{self, BatchCommit};
use pipewright_core::ports::StoreError;
use pipewright_core::storage::{from_json, from_json_bytes, to_json_bytes};

/// An item as the SDK hands it over.
pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("stored item lacks {name}")))
}

pub(super) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("stored item lacks number {name}")))
}

/// The execution item's attribute that remembers its last batch commits
/// (`core::outbox_fate`), written by each commit with a batch: a short name, since the item is
/// billed by its size.
pub(super) const RECENT_BATCHES: &str = "batched";

/// The batch commits an execution item at `rev` remembers (none when it has no such
/// attribute: written before batches were put apart from their commit).
pub(super) fn recent_batches(item: &Item, rev: u64) -> Result<Vec<BatchCommit>, StoreError> {
    match item.get(RECENT_BATCHES) {
        None => Ok(Vec::new()),
        Some(AttributeValue::B(bytes)) => outbox_fate::decode(bytes.as_ref(), rev)
            .ok_or_else(|| StoreError::Corrupt(format!("stored {RECENT_BATCHES} is not whole entries"))),
        Some(_) => Err(StoreError::Corrupt(format!("stored {RECENT_BATCHES} is not binary"))),
    }
}

pub(super) fn recent_batches_value(recent: &[BatchCommit]) -> AttributeValue {
    AttributeValue::B(aws_smithy_types::Blob::new(outbox_fate::encode(recent)))
}

/// What every transaction writes is stored as compressed JSON (a binary attribute): the
/// head's state, an execution's body and its outbox entries. Names, ARNs and resolved
/// configurations repeat a lot, and a transaction pays two write units per started KB of each
/// item it touches, a condition check included — so the head a commit only checks costs as
/// much as one it rewrites. The compression and its dictionary: [`super::compression`]. An
/// item holds at most 400 KB.
pub(super) fn compressed_json<T: Serialize + ?Sized>(value: &T) -> Result<AttributeValue, StoreError> {
    let json = to_json_bytes(value)?;
    Ok(AttributeValue::B(aws_smithy_types::Blob::new(super::compression::compress(&json)?)))
}

/// Reads a JSON attribute written by `compressed_json` (or gzip-compressed by versions before
/// it), or as a plain string (items written before compression, declaration versions among
/// them).
pub(super) fn read_json<T: DeserializeOwned>(item: &Item, name: &str, what: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::B(blob)) => from_json_bytes(&super::compression::decompress(blob.as_ref(), what)?, what),
        Some(AttributeValue::S(text)) => from_json(text, what),
        _ => Err(StoreError::Corrupt(format!("stored item lacks {name}"))),
    }
}

/// What a namespace's variables are stored as when an attempt of the same execution holds the
/// same variables: that attempt's place, `stage/action/attempt`. (A variable name cannot hold
/// `$`, so the marker is never a variable.)
const SAME_AS_ATTEMPT: &str = "$sameAsAttempt";

/// The attempts' output variables of an execution's JSON: (place, variables).
fn attempt_variables(body: &Value) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    for (s, stage) in body.get("stages").and_then(Value::as_array).into_iter().flatten().enumerate() {
        for (a, action) in stage.get("actions").and_then(Value::as_array).into_iter().flatten().enumerate() {
            for (t, attempt) in action.get("attempts").and_then(Value::as_array).into_iter().flatten().enumerate() {
                if let Some(variables) =
                    attempt.get("outputVariables").filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
                {
                    found.push((format!("{s}/{a}/{t}"), variables));
                }
            }
        }
    }
    found
}

/// An execution's `body`. An action's output variables are in its attempt and again in the
/// execution's namespaces; the namespace's copy is stored as a reference to the attempt, so
/// that variables up to CodePipeline's 122,880 bytes per action are stored once
/// (docs/security.md, "Limits of AWS"). Ids derived from the rest are left out
/// ([`super::derived_ids`]).
pub(super) fn pack(execution: &Execution) -> Result<AttributeValue, StoreError> {
    let mut body =
        serde_json::to_value(execution).map_err(|e| StoreError::Refused(format!("execution as JSON: {e}")))?;
    let places: Vec<(String, Value)> =
        attempt_variables(&body).into_iter().map(|(place, variables)| (place, variables.clone())).collect();
    if let Some(namespaces) = body.get_mut("namespaces").and_then(Value::as_object_mut) {
        for variables in namespaces.values_mut() {
            // The latest attempt holding them: the one that set the namespace.
            if let Some((place, _)) = places.iter().rev().find(|(_, held)| held == variables) {
                *variables = serde_json::json!({ SAME_AS_ATTEMPT: place });
            }
        }
    }
    super::derived_ids::elide(&mut body);
    compressed_json(&body)
}

/// The execution an execution item holds.
pub(super) fn unpack(item: &Item) -> Result<Execution, StoreError> {
    let mut body: Value = read_json(item, "body", "execution")?;
    super::derived_ids::restore(&mut body)?;
    let places: Vec<(String, Value)> =
        attempt_variables(&body).into_iter().map(|(place, variables)| (place, variables.clone())).collect();
    if let Some(namespaces) = body.get_mut("namespaces").and_then(Value::as_object_mut) {
        for (namespace, variables) in namespaces.iter_mut() {
            let Some(place) = variables.get(SAME_AS_ATTEMPT).and_then(Value::as_str) else { continue };
            let (_, held) = places.iter().find(|(at, _)| at == place).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "stored namespace {namespace} refers to attempt {place}, which holds no variables"
                ))
            })?;
            *variables = held.clone();
        }
    }
    serde_json::from_value(body).map_err(|e| StoreError::Corrupt(format!("stored execution is unreadable: {e}")))
}

/// What a stored outbox entry holds: the effect, and its place in commit order.
#[derive(Serialize, Deserialize)]
struct StoredEffect {
    effect: Effect,
    seq: u64,
}

/// One effect of an outbox, as stored.
pub(super) struct StoredEntry {
    pub id: String,
    pub effect: Effect,
    pub claimed_by: Option<String>,
    /// Its place in commit order.
    pub seq: u64,
}

/// The entries of an execution item's `outbox` map (executions written before outbox
/// batches), in commit order.
pub(super) fn outbox_entries(item: &Item) -> Result<Vec<StoredEntry>, StoreError> {
    let Some(outbox) = item.get("outbox").and_then(|v| v.as_m().ok()) else { return Ok(Vec::new()) };
    let mut entries = Vec::new();
    for (id, value) in outbox {
        let entry = value.as_m().map_err(|_| StoreError::Corrupt(format!("outbox entry {id} is malformed")))?;
        let stored: StoredEffect = read_json(entry, "effect", "effect")?;
        let claimed_by = entry.get("claimed_by").and_then(|v| v.as_s().ok()).cloned();
        entries.push(StoredEntry { id: id.clone(), effect: stored.effect, claimed_by, seq: stored.seq });
    }
    entries.sort_by_key(|entry| entry.seq);
    Ok(entries)
}

/// An outbox batch's `effects`: the effects one commit gave one execution, with their place
/// in commit order, compressed together (about half the bytes of each compressed alone).
pub(super) fn batch_value(effects: &[(&Effect, u64)]) -> Result<AttributeValue, StoreError> {
    let stored: Vec<StoredEffect> =
        effects.iter().map(|(effect, seq)| StoredEffect { effect: (*effect).clone(), seq: *seq }).collect();
    compressed_json(&stored)
}

/// The entries of an outbox batch item, in commit order; all claimed by its `claimed_by`.
pub(super) fn batch_entries(item: &Item) -> Result<Vec<StoredEntry>, StoreError> {
    let stored: Vec<StoredEffect> = read_json(item, "effects", "outbox batch")?;
    let claimed_by = item.get("claimed_by").and_then(|v| v.as_s().ok()).cloned();
    Ok(stored
        .into_iter()
        .map(|stored| StoredEntry {
            id: stored.effect.id().to_string(),
            effect: stored.effect,
            claimed_by: claimed_by.clone(),
            seq: stored.seq,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_attributes_are_compressed_and_plain_strings_still_read() {
        let value = serde_json::json!({"stages": ["Source", "Build", "Deploy"], "name": "x".repeat(500)});
        let item = HashMap::from([("state".to_string(), compressed_json(&value).unwrap())]);
        let Some(AttributeValue::B(blob)) = item.get("state") else { panic!("not binary: {item:?}") };
        assert!(blob.as_ref().len() < 200, "500 repeated bytes compress: {}", blob.as_ref().len());
        assert_eq!(read_json::<serde_json::Value>(&item, "state", "state").unwrap(), value);

        let plain = HashMap::from([("state".to_string(), s(value.to_string()))]);
        assert_eq!(read_json::<serde_json::Value>(&plain, "state", "state").unwrap(), value);
    }

    #[test]
    fn unreadable_json_attributes_are_errors_naming_them() {
        let garbage =
            HashMap::from([("state".to_string(), AttributeValue::B(aws_smithy_types::Blob::new(b"no zlib")))]);
        let error = read_json::<serde_json::Value>(&garbage, "state", "pipeline state").unwrap_err();
        assert!(error.is_permanent(), "{error}");
        let error = error.to_string();
        assert!(error.contains("stored pipeline state is unreadable"), "{error}");
        let missing =
            read_json::<serde_json::Value>(&HashMap::new(), "state", "pipeline state").unwrap_err().to_string();
        assert!(missing.contains("lacks state"), "{missing}");
        let number = HashMap::from([("state".to_string(), n(1))]);
        assert!(read_json::<serde_json::Value>(&number, "state", "pipeline state").is_err());
    }

    #[test]
    fn a_namespaces_variables_are_stored_once_and_read_back_whole() {
        use pipewright_core::contract::{declaration, start};
        use pipewright_core::engine::{self, MAX_OUTPUT_VARIABLES_BYTES, Step, World};
        use pipewright_core::pipeline::{Environment, Pipeline};
        use pipewright_core::time::Timestamp;

        let pipeline = Pipeline::compile(declaration("p", "make").unwrap(), Environment::default()).unwrap();
        let now = Timestamp::from_millis(1_700_000_000_000);
        let Ok(Step::Applied(mut applied)) = engine::apply(&pipeline, World::new(&pipeline), &start("e1"), now) else {
            panic!("applies")
        };
        let mut execution = applied.world.executions.remove("e1").unwrap();
        // At CodePipeline's limit, and as random as hex is: it does not compress away.
        let value: String = (0..MAX_OUTPUT_VARIABLES_BYTES / 32 + 1)
            .map(|i| pipewright_core::ids::uuid_from(&[&i.to_string()]).replace('-', ""))
            .collect::<String>()[..MAX_OUTPUT_VARIABLES_BYTES - 3]
            .to_string();
        let variables = std::collections::BTreeMap::from([("Big".to_string(), value.clone())]);
        execution.stages[0].actions[0].attempts[0].output_variables = variables.clone();
        execution.namespaces.insert("SourceVariables".to_string(), variables);
        execution.namespaces.insert("Other".to_string(), [("K".to_string(), "v".to_string())].into());

        let item = HashMap::from([("body".to_string(), pack(&execution).unwrap())]);
        let json: Value = read_json(&item, "body", "execution").unwrap();
        assert_eq!(json.to_string().matches(&value).count(), 1, "stored once");
        assert_eq!(json["namespaces"]["SourceVariables"], serde_json::json!({SAME_AS_ATTEMPT: "0/0/0"}));
        assert_eq!(json["namespaces"]["Other"]["K"], "v", "variables no attempt holds stay as they are");
        assert_eq!(unpack(&item).unwrap(), execution, "read back whole");

        let mut broken = json.clone();
        broken["namespaces"]["SourceVariables"] = serde_json::json!({SAME_AS_ATTEMPT: "9/9/9"});
        let broken = HashMap::from([("body".to_string(), compressed_json(&broken).unwrap())]);
        assert!(unpack(&broken).unwrap_err().to_string().contains("refers to attempt 9/9/9"));
    }
}
