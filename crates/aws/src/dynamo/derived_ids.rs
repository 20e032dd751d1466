//! The ids an execution's body need not store: each action attempt's `actionExecutionId` and
//! its job's `id` are digests of what the body holds anyway (`pipewright_core::ids`), and as
//! random as any UUID, so they are most of what its JSON does not compress: 10 of the 16
//! distinct UUIDs of a five-action execution, about 230 of its 900 compressed bytes, enough to
//! keep its item above the one KB a write unit covers.
//!
//! [`elide`] removes an id only when it equals its derivation, and [`restore`] derives the
//! missing ones again; an id that differs (an attempt copied from elsewhere, a derivation
//! changed later) stays stored as it is. Both keys are required fields of the execution, so a
//! missing one can only mean "derived"; bodies written before this read as they are.

use serde_json::Value;

use pipewright_core::ids;
use pipewright_core::ports::StoreError;

/// The inputs of an attempt's derivations: (execution id, seed).
fn execution_keys(body: &Value) -> Option<(String, String)> {
    Some((body.get("id")?.as_str()?.to_string(), body.get("seed")?.as_str()?.to_string()))
}

/// Every action attempt of the body with its stage's and action's names.
fn attempts_mut(body: &mut Value) -> Vec<(String, String, &mut Value)> {
    let mut found = Vec::new();
    for stage in body.get_mut("stages").and_then(Value::as_array_mut).into_iter().flatten() {
        let stage_name = stage.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        for action in stage.get_mut("actions").and_then(Value::as_array_mut).into_iter().flatten() {
            let action_name = action.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            for attempt in action.get_mut("attempts").and_then(Value::as_array_mut).into_iter().flatten() {
                found.push((stage_name.clone(), action_name.clone(), attempt));
            }
        }
    }
    found
}

/// A small unsigned field of an attempt or a job (`number`, `sequence`).
fn count(fields: &serde_json::Map<String, Value>, name: &str) -> Option<u32> {
    u32::try_from(fields.get(name)?.as_u64()?).ok()
}

/// Removes from an execution's JSON the ids that equal their derivation.
pub(super) fn elide(body: &mut Value) {
    let Some((execution_id, seed)) = execution_keys(body) else { return };
    for (stage, action, attempt) in attempts_mut(body) {
        let Some(fields) = attempt.as_object_mut() else { continue };
        let Some(number) = count(fields, "number") else { continue };
        let Some(stored) = fields.get("actionExecutionId").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        if let Some(job) = fields.get_mut("job").and_then(Value::as_object_mut)
            && let Some(sequence) = count(job, "sequence")
            && job.get("id").and_then(Value::as_str) == Some(ids::job_id(&seed, &stored, sequence).as_str())
        {
            job.remove("id");
        }
        if stored == ids::action_execution_id(&execution_id, &stage, &action, number) {
            fields.remove("actionExecutionId");
        }
    }
}

/// Puts back the ids [`elide`] removed.
pub(super) fn restore(body: &mut Value) -> Result<(), StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("stored execution is unreadable: {what}"));
    let Some((execution_id, seed)) = execution_keys(body) else { return Ok(()) };
    for (stage, action, attempt) in attempts_mut(body) {
        let Some(fields) = attempt.as_object_mut() else { continue };
        if !fields.contains_key("actionExecutionId") {
            let number = count(fields, "number")
                .ok_or_else(|| corrupt(&format!("an attempt of {stage}/{action} has no number")))?;
            let derived = ids::action_execution_id(&execution_id, &stage, &action, number);
            fields.insert("actionExecutionId".to_string(), Value::String(derived));
        }
        let attempt_id = fields.get("actionExecutionId").and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(job) = fields.get_mut("job").and_then(Value::as_object_mut)
            && !job.contains_key("id")
        {
            let sequence =
                count(job, "sequence").ok_or_else(|| corrupt(&format!("a job of {stage}/{action} has no sequence")))?;
            job.insert("id".to_string(), Value::String(ids::job_id(&seed, &attempt_id, sequence)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        let aeid = ids::action_execution_id("e1", "Build", "Make", 2);
        json!({
            "id": "e1", "seed": "s",
            "stages": [{"name": "Build", "actions": [{"name": "Make", "attempts": [
                {"number": 2, "actionExecutionId": aeid, "job": {"id": ids::job_id("s", &aeid, 3), "sequence": 3}},
                {"number": 3, "actionExecutionId": "copied-from-elsewhere", "job": {"id": "given", "sequence": 1}},
                {"number": 4, "actionExecutionId": ids::action_execution_id("e1", "Build", "Make", 4), "job": null},
            ]}]}],
        })
    }

    #[test]
    fn derivable_ids_are_not_stored_and_come_back_the_same() {
        let original = body();
        let mut stored = original.clone();
        elide(&mut stored);
        let attempts = &stored["stages"][0]["actions"][0]["attempts"];
        assert!(attempts[0].get("actionExecutionId").is_none() && attempts[0]["job"].get("id").is_none());
        assert_eq!(attempts[1]["actionExecutionId"], "copied-from-elsewhere", "an id that differs stays");
        assert_eq!(attempts[1]["job"]["id"], "given");
        assert!(attempts[2].get("actionExecutionId").is_none() && attempts[2]["job"].is_null());
        restore(&mut stored).unwrap();
        assert_eq!(stored, original);
    }

    #[test]
    fn bodies_stored_whole_read_as_they_are_and_a_missing_number_is_corrupt() {
        let mut whole = body();
        restore(&mut whole).unwrap();
        assert_eq!(whole, body());
        let mut broken = body();
        elide(&mut broken);
        broken["stages"][0]["actions"][0]["attempts"][0].as_object_mut().unwrap().remove("number");
        let error = restore(&mut broken).unwrap_err();
        assert!(error.is_permanent() && error.to_string().contains("Build/Make has no number"), "{error}");
    }
}
