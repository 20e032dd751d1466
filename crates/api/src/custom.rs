//! Custom actions: CreateCustomActionType and DeleteCustomActionType register an action
//! type; job workers loop PollForJobs → AcknowledgeJob (nonce) → PutJobSuccessResult /
//! PutJobFailureResult. A job is acknowledged once: of two workers that polled the same job,
//! the second to acknowledge gets InvalidNonceException.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use pipewright_core::declaration::{ActionCategory, ActionOwner, ActionTypeId};
use pipewright_core::engine::{self, ActionStatus, Dispatch, Effect, Execution};
use pipewright_core::ids;
use pipewright_core::ports::StateStore;

use crate::action_types::TypeIdInput;
use crate::protocol::{ApiError, check_execution_id, check_text, required};
use crate::tags::{self, ACTION_TYPE_RECORDS, Resource, TagInput};
use crate::{Caller, ControlPlane, service_error, store_error};

/// Acknowledged jobs, custom and partner alike: a job id is acknowledged once.
pub(crate) const ACKNOWLEDGED: &str = "job-ack";
/// CodePipeline's quota of custom action types per region.
const MAX_CUSTOM_ACTION_TYPES: usize = 50;
/// How many of a pipeline's newest executions a poll looks through for waiting jobs.
const POLL_WINDOW: usize = 200;

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactDetails {
    minimum_count: Option<i64>,
    maximum_count: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateInput {
    category: Option<String>,
    provider: Option<String>,
    version: Option<String>,
    settings: Option<Value>,
    configuration_properties: Option<Vec<Value>>,
    input_artifact_details: Option<ArtifactDetails>,
    output_artifact_details: Option<ArtifactDetails>,
    tags: Option<Vec<TagInput>>,
}

#[derive(Deserialize)]
pub struct DeleteInput {
    category: Option<String>,
    provider: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollInput {
    action_type_id: Option<TypeIdInput>,
    max_batch_size: Option<i64>,
    query_param: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcknowledgeInput {
    job_id: Option<String>,
    nonce: Option<String>,
}

pub(crate) fn provider_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn category(value: Option<String>, field: &str) -> Result<String, ApiError> {
    let value = required(value, field)?;
    if !ActionCategory::parse(&value).is_known() {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            ActionCategory::KNOWN.join(", ")
        )));
    }
    Ok(value)
}

/// (category, provider, version) of a custom action type, checked as botocore's model says.
fn type_parts(
    category_value: Option<String>,
    provider: Option<String>,
    version: Option<String>,
    prefix: &str,
) -> Result<(String, String, String), ApiError> {
    let category = category(category_value, &format!("{prefix}category"))?;
    let provider = required(provider, &format!("{prefix}provider"))?;
    check_text(&provider, &format!("{prefix}provider"), 1, 35, provider_char)?;
    let version = required(version, &format!("{prefix}version"))?;
    check_text(&version, &format!("{prefix}version"), 1, 9, provider_char)?;
    Ok((category, provider, version))
}

fn type_key(category: &str, provider: &str, version: &str) -> String {
    format!("{category}/Custom/{provider}/{version}")
}

fn artifact_details(value: Option<ArtifactDetails>, field: &str) -> Result<ArtifactDetails, ApiError> {
    let details = required(value, field)?;
    let min = required(details.minimum_count, &format!("{field}.minimumCount"))?;
    let max = required(details.maximum_count, &format!("{field}.maximumCount"))?;
    if !(0..=5).contains(&min) || !(0..=5).contains(&max) || min > max {
        return Err(ApiError::validation(format!(
            "{field}: minimumCount {min} and maximumCount {max} must be 0 to 5, the minimum no more than the maximum"
        )));
    }
    Ok(details)
}

pub async fn create<C: ControlPlane>(plane: &C, caller: &Caller, input: CreateInput) -> Result<Value, ApiError> {
    let (category, provider, version) = type_parts(input.category, input.provider, input.version, "")?;
    let inputs = artifact_details(input.input_artifact_details, "inputArtifactDetails")?;
    let outputs = artifact_details(input.output_artifact_details, "outputArtifactDetails")?;
    let properties = input.configuration_properties.unwrap_or_default();
    if properties.len() > 10 {
        return Err(ApiError::validation("configurationProperties: at most 10 properties"));
    }
    let resource =
        Resource::ActionType { category: category.clone(), provider: provider.clone(), version: version.clone() };
    let tags = tags::checked_tags(input.tags.clone(), &resource.arn(plane, caller))?;
    let action_type = json!({
        "id": { "category": category, "owner": "Custom", "provider": provider, "version": version },
        "settings": input.settings.unwrap_or_else(|| json!({})),
        "actionConfigurationProperties": properties,
        "inputArtifactDetails": inputs,
        "outputArtifactDetails": outputs,
    });
    let store = plane.store();
    let key = type_key(&category, &provider, &version);
    if store.list_records(ACTION_TYPE_RECORDS).await.map_err(store_error)?.len() >= MAX_CUSTOM_ACTION_TYPES
        && store.get_record(ACTION_TYPE_RECORDS, &key).await.map_err(store_error)?.is_none()
    {
        return Err(ApiError::client(
            "LimitExceededException",
            format!("an account holds at most {MAX_CUSTOM_ACTION_TYPES} custom action types"),
        ));
    }
    if !store.put_record_if_absent(ACTION_TYPE_RECORDS, &key, &action_type.to_string()).await.map_err(store_error)? {
        // Creating the same type again gives back the one that exists, unchanged.
        let existing = store.get_record(ACTION_TYPE_RECORDS, &key).await.map_err(store_error)?.unwrap_or_default();
        let existing: Value = serde_json::from_str(&existing).map_err(|e| ApiError::internal(e.to_string()))?;
        let tags = tags::of(plane, &resource).await?;
        return Ok(json!({ "actionType": existing, "tags": tags }));
    }
    tags::set(plane, &resource, &tags).await?;
    let mut output = json!({ "actionType": action_type });
    if input.tags.is_some() {
        output["tags"] = json!(tags);
    }
    Ok(output)
}

pub async fn delete<C: ControlPlane>(plane: &C, _caller: &Caller, input: DeleteInput) -> Result<Value, ApiError> {
    let (category, provider, version) = type_parts(input.category, input.provider, input.version, "")?;
    let key = type_key(&category, &provider, &version);
    plane.store().delete_record(ACTION_TYPE_RECORDS, &key).await.map_err(store_error)?;
    tags::forget(plane, &Resource::ActionType { category, provider, version }).await?;
    Ok(json!({}))
}

/// The nonce of a job: a capability derived from the execution's secret seed.
pub(crate) fn nonce(execution: &Execution, job_id: &str) -> String {
    ids::uuid_from(&["job-nonce", &execution.seed, job_id])
}

pub async fn poll<C: ControlPlane>(plane: &C, caller: &Caller, input: PollInput) -> Result<Value, ApiError> {
    let type_id = required(input.action_type_id, "actionTypeId")?;
    let (category, provider, version) =
        type_parts(type_id.category, type_id.provider, type_id.version, "actionTypeId.")?;
    let owner = required(type_id.owner, "actionTypeId.owner")?;
    if owner != "Custom" {
        return Err(ApiError::validation(format!(
            "actionTypeId.owner: PollForJobs serves Custom action types, not {owner}"
        )));
    }
    let wanted = ActionTypeId {
        category: ActionCategory::parse(&category),
        owner: ActionOwner::Custom,
        provider: provider.clone(),
        version: version.clone(),
    };
    crate::action_type_keys::check(caller, &wanted)?;
    let batch = match input.max_batch_size {
        None => 1,
        Some(n @ 1..=100) => n as usize,
        Some(n) => return Err(ApiError::validation(format!("maxBatchSize {n} must be at least 1"))),
    };
    let store = plane.store();
    if store
        .get_record(ACTION_TYPE_RECORDS, &type_key(&category, &provider, &version))
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Err(ApiError::client(
            "ActionTypeNotFoundException",
            format!("The action type Custom/{category}/{provider}/{version} does not exist"),
        ));
    }
    let query = input.query_param.unwrap_or_default();
    let mut jobs = Vec::new();
    for (execution, dispatch) in
        waiting_jobs(plane, &wanted, batch, |d| query.iter().all(|(k, v)| d.configuration.get(k) == Some(v))).await?
    {
        jobs.push(json!({
            "id": dispatch.job_id,
            "data": crate::jobs::job_data(plane, caller, &execution, &dispatch).await?,
            "nonce": nonce(&execution, &dispatch.job_id),
            "accountId": plane.account(),
        }));
    }
    Ok(json!({ "jobs": jobs }))
}

/// At most `batch` jobs of action type `wanted` that wait for a worker: live, matching
/// `select`, not acknowledged yet. Looks through the newest executions of every pipeline
/// that uses the type.
pub(crate) async fn waiting_jobs<C: ControlPlane>(
    plane: &C,
    wanted: &ActionTypeId,
    batch: usize,
    select: impl Fn(&Dispatch) -> bool,
) -> Result<Vec<(Execution, Dispatch)>, ApiError> {
    let store = plane.store();
    let mut jobs = Vec::new();
    for pipeline in store.list_pipelines().await.map_err(store_error)? {
        if !pipeline.declaration.actions().any(|(_, _, a)| &a.action_type_id == wanted) {
            continue;
        }
        let name = &pipeline.declaration.name;
        let executions = store.list_executions(name, POLL_WINDOW, None).await.map_err(store_error)?.items;
        for execution in executions.into_iter().filter(|e| !e.status.is_finished()) {
            let version = plane.cache().pinned(store, &execution).await.map_err(service_error)?;
            for work in engine::work_in_flight(&version, &execution, plane.now()) {
                let Effect::Dispatch(dispatch) = work.effect else { continue };
                if &dispatch.action_type != wanted || !select(&dispatch) {
                    continue;
                }
                if store.get_record(ACKNOWLEDGED, &dispatch.job_id).await.map_err(store_error)?.is_some() {
                    continue;
                }
                jobs.push((execution.clone(), *dispatch));
                if jobs.len() >= batch {
                    return Ok(jobs);
                }
            }
        }
    }
    Ok(jobs)
}

pub async fn acknowledge<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    input: AcknowledgeInput,
) -> Result<Value, ApiError> {
    let job_id = required(input.job_id, "jobId")?;
    check_execution_id(&job_id, "jobId")?;
    let given = required(input.nonce, "nonce")?;
    check_text(&given, "nonce", 1, 50, |_| true)?;
    acknowledge_job(plane, caller, &job_id, &given, ActionOwner::Custom).await
}

/// Takes job `job_id` for the worker that holds its nonce: once, by a conditional write.
/// `protocol`: Custom for AcknowledgeJob, ThirdParty for AcknowledgeThirdPartyJob.
pub(crate) async fn acknowledge_job<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    job_id: &str,
    given: &str,
    protocol: ActionOwner,
) -> Result<Value, ApiError> {
    let store = plane.store();
    let not_found = || ApiError::client("JobNotFoundException", format!("Job {job_id} does not exist"));
    let location = store.find_job(job_id).await.map_err(store_error)?.ok_or_else(not_found)?;
    let execution =
        store.get_execution(&location.execution_id).await.map_err(store_error)?.ok_or_else(not_found)?.value;
    let live = execution.stages.iter().flat_map(|s| &s.actions).any(|action| {
        action.attempts.last().is_some_and(|attempt| {
            attempt.status == ActionStatus::InProgress && attempt.job.as_ref().is_some_and(|j| j.id == job_id)
        })
    });
    let invalid = |why: &str| ApiError::client("InvalidNonceException", format!("Job {job_id}: {why}"));
    if !live {
        return Err(invalid("the job is no longer waiting for a worker"));
    }
    crate::jobs::check_job_type(plane, caller, &execution, job_id, protocol).await?;
    if given != nonce(&execution, job_id) {
        return Err(invalid("the nonce is not the one CodePipeline gave for this job"));
    }
    if !store.put_record_if_absent(ACKNOWLEDGED, job_id, given).await.map_err(store_error)? {
        return Err(invalid("another worker has already acknowledged it"));
    }
    Ok(json!({ "status": "InProgress" }))
}
