//! StartPipelineExecution and StopPipelineExecution.

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::engine::{
    Event, RevisionType, SourceRevisionOverride, Stale, StartExecution, StopExecution, Trigger, TriggerType,
    VariableOverride,
};
use pipewright_core::ids;
use pipewright_core::ports::StateStore;
use pipewright_core::service::{Handled, ServiceError};

use crate::protocol::{ApiError, check_execution_id, check_name, check_text, required, required_name};
use crate::{Caller, ControlPlane, execution_not_found, service_error, store_error};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartInput {
    name: Option<String>,
    variables: Option<Vec<VariableInput>>,
    client_request_token: Option<String>,
    source_revisions: Option<Vec<SourceRevisionInput>>,
}

#[derive(Deserialize)]
pub struct VariableInput {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevisionInput {
    action_name: Option<String>,
    revision_type: Option<String>,
    revision_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopInput {
    pipeline_name: Option<String>,
    pipeline_execution_id: Option<String>,
    abandon: Option<bool>,
    reason: Option<String>,
}

fn variables(input: Option<Vec<VariableInput>>) -> Result<Vec<VariableOverride>, ApiError> {
    let input = input.unwrap_or_default();
    if input.len() > 50 {
        return Err(ApiError::validation("variables: at most 50 variables can be given"));
    }
    input
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let name = required(v.name, &format!("variables.{}.member.name", i + 1))?;
            check_text(&name, &format!("variables.{}.member.name", i + 1), 1, 128, |c| {
                c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_')
            })?;
            let value = required(v.value, &format!("variables.{}.member.value", i + 1))?;
            check_text(&value, &format!("variables.{}.member.value", i + 1), 1, 1000, |_| true)?;
            Ok(VariableOverride { name, value })
        })
        .collect()
}

fn source_revisions(input: Option<Vec<SourceRevisionInput>>) -> Result<Vec<SourceRevisionOverride>, ApiError> {
    input
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let field = |name: &str| format!("sourceRevisions.{}.member.{name}", i + 1);
            let action_name = required(r.action_name, &field("actionName"))?;
            check_name(&action_name, &field("actionName"))?;
            let kind = required(r.revision_type, &field("revisionType"))?;
            let revision_type = match kind.as_str() {
                "COMMIT_ID" => RevisionType::CommitId,
                "IMAGE_DIGEST" => RevisionType::ImageDigest,
                "S3_OBJECT_VERSION_ID" => RevisionType::S3ObjectVersionId,
                "S3_OBJECT_KEY" => RevisionType::S3ObjectKey,
                other => {
                    return Err(ApiError::validation(format!(
                        "1 validation error detected: Value '{other}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [COMMIT_ID, IMAGE_DIGEST, S3_OBJECT_VERSION_ID, S3_OBJECT_KEY]",
                        field("revisionType")
                    )));
                }
            };
            let revision_value = required(r.revision_value, &field("revisionValue"))?;
            check_text(&revision_value, &field("revisionValue"), 1, 1500, |_| true)?;
            Ok(SourceRevisionOverride { action_name, revision_type, revision_value, variables: Default::default() })
        })
        .collect()
}

pub async fn start<C: ControlPlane>(plane: &C, caller: &Caller, input: StartInput) -> Result<Value, ApiError> {
    let name = required_name(input.name, "name")?;
    let variables = variables(input.variables)?;
    let source_revisions = source_revisions(input.source_revisions)?;
    if let Some(token) = &input.client_request_token {
        check_text(token, "clientRequestToken", 1, 128, |c| c.is_ascii_alphanumeric() || c == '-')?;
    }
    // The same token always names the same execution: a retried request starts nothing new.
    let execution_id = input.client_request_token.map(|token| ids::uuid_from(&["client-request-token", &name, &token]));
    let trigger = Trigger { trigger_type: TriggerType::StartPipelineExecution, trigger_detail: Some(caller.name()) };
    let id = start_new(plane, &name, trigger, variables, source_revisions, execution_id)
        .await
        .map_err(StartError::into_api)?;
    Ok(json!({ "pipelineExecutionId": id }))
}

/// Why an execution did not start.
pub(crate) enum StartError {
    /// The engine refused it (a variable without a value, the cap of active executions).
    Refused(ApiError),
    /// Anything else: a missing pipeline, the store, an id used by another pipeline.
    Api(ApiError),
}

impl StartError {
    pub(crate) fn into_api(self) -> ApiError {
        match self {
            StartError::Refused(error) | StartError::Api(error) => error,
        }
    }
}

/// Starts an execution of `name` with `trigger`: `execution_id` when given (an idempotent
/// start: the same id twice starts one execution), else a new one. Its id.
pub(crate) async fn start_new<C: ControlPlane>(
    plane: &C,
    name: &str,
    trigger: Trigger,
    variables: Vec<VariableOverride>,
    source_revisions: Vec<SourceRevisionOverride>,
    execution_id: Option<String>,
) -> Result<String, StartError> {
    start_execution(plane, name, trigger, variables, source_revisions, execution_id).await.map(|s| s.execution_id)
}

/// An execution a start asked for: `new` is false when that id had started already (a
/// retried request, a redelivered webhook), also when another start of it won a race.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartedExecution {
    pub execution_id: String,
    pub new: bool,
}

/// [`start_new`], telling whether this call started the execution.
pub(crate) async fn start_execution<C: ControlPlane>(
    plane: &C,
    name: &str,
    trigger: Trigger,
    variables: Vec<VariableOverride>,
    source_revisions: Vec<SourceRevisionOverride>,
    execution_id: Option<String>,
) -> Result<StartedExecution, StartError> {
    let execution_id = match execution_id {
        Some(execution_id) => {
            // A missing pipeline is reported before a token another pipeline used.
            plane.cache().current(plane.store(), name).await.map_err(|e| StartError::Api(service_error(e)))?;
            if let Some(existing) =
                plane.store().get_execution(&execution_id).await.map_err(|e| StartError::Api(store_error(e)))?
            {
                return if existing.value.pipeline_name == name {
                    Ok(StartedExecution { execution_id, new: false })
                } else {
                    Err(StartError::Api(ApiError::client(
                        "ConflictException",
                        "the clientRequestToken was already used",
                    )))
                };
            }
            execution_id
        }
        // A new random id names no execution: nothing to read. A missing (or invalid)
        // pipeline is the submission's PipelineNotFound (InvalidDeclaration), as above.
        None => uuid::Uuid::new_v4().to_string(),
    };
    let seed = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let event = Event::StartExecution(StartExecution {
        execution_id: execution_id.clone(),
        seed,
        trigger,
        variables,
        source_revisions,
        action_timeout_seconds: None,
    });
    match plane.submit(name, &event).await {
        Ok(Handled::Applied { .. }) => Ok(StartedExecution { execution_id, new: true }),
        Ok(Handled::Stale(Stale::DuplicateStart)) => Ok(StartedExecution { execution_id, new: false }),
        Ok(Handled::Stale(other)) => Err(StartError::Api(ApiError::client("ConflictException", format!("{other:?}")))),
        Err(ServiceError::Rejected(rejection)) if !rejection.is_defect() => {
            Err(StartError::Refused(service_error(ServiceError::Rejected(rejection))))
        }
        Err(error) => Err(StartError::Api(service_error(error))),
    }
}

pub async fn stop<C: ControlPlane>(plane: &C, caller: &Caller, input: StopInput) -> Result<Value, ApiError> {
    let pipeline = required_name(input.pipeline_name, "pipelineName")?;
    let id = required(input.pipeline_execution_id, "pipelineExecutionId")?;
    check_execution_id(&id, "pipelineExecutionId")?;
    if let Some(reason) = &input.reason {
        check_text(reason, "reason", 0, 200, |_| true)?;
    }
    crate::reads::execution_of(plane, &pipeline, &id).await?;
    let event = Event::StopExecution(StopExecution {
        execution_id: id.clone(),
        abandon: input.abandon.unwrap_or(false),
        reason: input.reason,
        by: Some(caller.name()),
    });
    match plane.submit(&pipeline, &event).await {
        Ok(_) => Ok(json!({ "pipelineExecutionId": id })),
        Err(pipewright_core::service::ServiceError::Rejected(
            pipewright_core::engine::Rejection::PipelineExecutionNotFound(_),
        )) => Err(execution_not_found(&pipeline, &id)),
        Err(error) => Err(service_error(error)),
    }
}
