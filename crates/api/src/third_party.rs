//! The partner job protocol (docs/reference/codepipeline.md §6): PollForThirdPartyJobs →
//! GetThirdPartyJobDetails (the nonce) → AcknowledgeThirdPartyJob →
//! PutThirdPartyJob{Success,Failure}Result, for actions of owner ThirdParty, each call but the
//! poll carrying the partner's client token.
//!
//! A poll names each job's `clientId`, one per partner action type. The first client token
//! presented for a client id is bound to it (one conditional write) and every later call must
//! present the same: CodePipeline's client id and token pair, with the partner holding the
//! token (docs/reference/codepipeline.md §8).

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::declaration::{ActionOwner, ActionTypeId};
use pipewright_core::ids;
use pipewright_core::ports::StateStore;

use crate::action_types::TypeIdInput;
use crate::custom::{acknowledge_job, nonce, waiting_jobs};
use crate::jobs::{self, FailureInput, SuccessInput, dispatched, job_data, live_job};
use crate::protocol::{ApiError, check_text, required};
use crate::{Caller, ControlPlane, store_error};

/// The record kind of bound client tokens, by client id.
const CLIENT_TOKENS: &str = "third-party-client";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollInput {
    action_type_id: Option<TypeIdInput>,
    max_batch_size: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcknowledgeInput {
    job_id: Option<String>,
    nonce: Option<String>,
    client_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailsInput {
    job_id: Option<String>,
    client_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultInput<T> {
    client_token: Option<String>,
    #[serde(flatten)]
    result: T,
}

/// The client id of a partner action type's jobs in this account.
fn client_id<C: ControlPlane>(plane: &C, action_type: &ActionTypeId) -> String {
    ids::uuid_from(&["third-party-client", plane.account(), &action_type.to_string()])
}

fn partner_type(input: Option<TypeIdInput>) -> Result<ActionTypeId, ApiError> {
    required(input, "actionTypeId")?.checked("actionTypeId.", &["ThirdParty"])
}

pub async fn poll<C: ControlPlane>(plane: &C, caller: &Caller, input: PollInput) -> Result<Value, ApiError> {
    let wanted = partner_type(input.action_type_id)?;
    crate::action_type_keys::check(caller, &wanted)?;
    let batch = match input.max_batch_size {
        None => 1,
        Some(n @ 1..=100) => n as usize,
        Some(n) => return Err(ApiError::validation(format!("maxBatchSize {n} must be 1 to 100"))),
    };
    if !crate::action_types::third_party_type_exists(plane, &wanted).await? {
        return Err(ApiError::client(
            "ActionTypeNotFoundException",
            format!("The action type {wanted} does not exist"),
        ));
    }
    let client = client_id(plane, &wanted);
    let jobs: Vec<Value> = waiting_jobs(plane, &wanted, batch, |_| true)
        .await?
        .into_iter()
        .map(|(_, dispatch)| json!({ "clientId": client, "jobId": dispatch.job_id }))
        .collect();
    Ok(json!({ "jobs": jobs }))
}

/// The job id as the partner operations take it (1–512 characters); one Pipewright never
/// issued is not found.
fn job_id(value: Option<String>) -> Result<String, ApiError> {
    let id = required(value, "jobId")?;
    check_text(&id, "jobId", 1, 512, |_| true)?;
    if crate::protocol::check_execution_id(&id, "jobId").is_err() {
        return Err(ApiError::client("JobNotFoundException", format!("Job {id} does not exist")));
    }
    Ok(id)
}

/// Checks `token` against the client token bound to the job's client id, binding it when the
/// client id has none yet. A job of an action that is not a partner's is an invalid job, and
/// one of another type than an action type's key names is refused to it.
async fn check_client<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    job_id: &str,
    token: Option<String>,
) -> Result<(), ApiError> {
    let token = required(token, "clientToken")?;
    check_text(&token, "clientToken", 1, 256, |_| true)?;
    let live = live_job(plane, Some(job_id.to_string())).await?;
    let dispatch = dispatched(plane, &live.execution, job_id).await?;
    crate::action_type_keys::check_job(caller, &dispatch.action_type, ActionOwner::ThirdParty)?;
    if dispatch.action_type.owner != ActionOwner::ThirdParty {
        return Err(ApiError::client(
            "InvalidJobException",
            format!(
                "Job {job_id} is a job of {}, not of a partner action: use the job protocol (GetJobDetails)",
                dispatch.action_type
            ),
        ));
    }
    let client = client_id(plane, &dispatch.action_type);
    let store = plane.store();
    store.put_record_if_absent(CLIENT_TOKENS, &client, &token).await.map_err(store_error)?;
    let bound = store.get_record(CLIENT_TOKENS, &client).await.map_err(store_error)?;
    if bound.as_deref() != Some(token.as_str()) {
        return Err(ApiError::client(
            "InvalidClientTokenException",
            format!("The client token is not the one of client {client}"),
        ));
    }
    Ok(())
}

pub async fn details<C: ControlPlane>(plane: &C, caller: &Caller, input: DetailsInput) -> Result<Value, ApiError> {
    let id = job_id(input.job_id)?;
    check_client(plane, caller, &id, input.client_token).await?;
    let live = live_job(plane, Some(id.clone())).await?;
    let dispatch = dispatched(plane, &live.execution, &id).await?;
    let mut data = job_data(plane, caller, &live.execution, &dispatch).await?;
    // A partner's job does not name the pipeline's ARN nor the execution (model documentation).
    if let Some(context) = data["pipelineContext"].as_object_mut() {
        context.remove("pipelineArn");
        context.remove("pipelineExecutionId");
    }
    Ok(json!({ "jobDetails": { "id": id, "data": data, "nonce": nonce(&live.execution, &id) } }))
}

pub async fn acknowledge<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    input: AcknowledgeInput,
) -> Result<Value, ApiError> {
    let id = job_id(input.job_id)?;
    let given = required(input.nonce, "nonce")?;
    check_text(&given, "nonce", 1, 50, |_| true)?;
    check_client(plane, caller, &id, input.client_token).await?;
    acknowledge_job(plane, caller, &id, &given, ActionOwner::ThirdParty).await
}

pub async fn succeed<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    input: ResultInput<SuccessInput>,
) -> Result<Value, ApiError> {
    let id = job_id(input.result.job_id.clone())?;
    check_client(plane, caller, &id, input.client_token).await?;
    jobs::succeed(plane, caller, input.result, ActionOwner::ThirdParty).await
}

pub async fn fail<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    input: ResultInput<FailureInput>,
) -> Result<Value, ApiError> {
    let id = job_id(input.result.job_id.clone())?;
    check_client(plane, caller, &id, input.client_token).await?;
    jobs::fail(plane, caller, input.result, ActionOwner::ThirdParty).await
}
