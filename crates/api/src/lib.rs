//! CodePipeline's control API over any Pipewright store, in CodePipeline's own wire protocol
//! (AWS JSON 1.1), so that the aws CLI, boto3 and the AWS SDKs work unchanged. The transport
//! is not here: `pipewright serve` (axum) and the api function (a Function URL) hand each
//! request to [`handle`] and write back what it returns.

pub mod console;
pub mod hosts;
pub mod protocol;
pub mod sigv4;

mod conditions;
mod custom;
mod executions;
mod jobs;
mod pipelines;
mod reads;
mod steering;

use std::future::Future;

use serde_json::Value;

use pipewright_core::engine::Event;
use pipewright_core::ports::{StateStore, StoreError};
use pipewright_core::service::{Handled, PipelineCache, ServiceError};
use pipewright_core::time::Timestamp;

pub use protocol::{ApiError, HttpRequest, HttpResponse};
pub use sigv4::Authenticator;

/// What the API needs from the deployment it runs in: the store, the shared handler, a clock
/// and the identity of the account. Local mode and AWS implement it over their adapters.
pub trait ControlPlane: Send + Sync {
    type Store: StateStore;

    fn store(&self) -> &Self::Store;

    fn cache(&self) -> &PipelineCache;

    fn now(&self) -> Timestamp;

    /// The account id in ARNs.
    fn account(&self) -> &str;

    /// The region in ARNs and events.
    fn region(&self) -> &str;

    /// Applies `event` through the stage-transition handler and sees that its effects are
    /// carried out (locally: a worker; on AWS: the bus).
    fn submit(&self, pipeline: &str, event: &Event) -> impl Future<Output = Result<Handled, ServiceError>> + Send;

    /// The log of one attempt of a Commands action, when this deployment keeps it.
    fn action_log(&self, _execution_id: &str, _stage: &str, _action: &str, _attempt: u32) -> Option<String> {
        None
    }

    /// Called before the start of a new execution is submitted: local mode records how its
    /// sources resolve. Nothing to do on AWS.
    fn before_start(
        &self,
        _pipeline: &str,
        _execution_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async { Ok(()) }
    }
}

/// Who made a request, as the transport authenticated it (an access key, or nobody on an
/// open local server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub identity: Option<String>,
}

impl Caller {
    /// The `by` of engine events and the trigger detail of executions.
    pub fn name(&self) -> String {
        self.identity.clone().unwrap_or_else(|| "pipewright-api".to_string())
    }
}

/// The operations of botocore's model that this API does not serve (yet). They answer with a
/// ValidationException naming the operation, never a silent 200.
const UNSUPPORTED: &[&str] = &[
    "AcknowledgeThirdPartyJob",
    "DeleteWebhook",
    "DeregisterWebhookWithThirdParty",
    "GetActionType",
    "GetThirdPartyJobDetails",
    "ListActionTypes",
    "ListDeployActionExecutionTargets",
    "ListTagsForResource",
    "ListWebhooks",
    "PollForThirdPartyJobs",
    "PutActionRevision",
    "PutThirdPartyJobFailureResult",
    "PutThirdPartyJobSuccessResult",
    "PutWebhook",
    "RegisterWebhookWithThirdParty",
    "TagResource",
    "UntagResource",
    "UpdateActionType",
];

/// Serves one request: authenticates it, then runs its operation.
pub async fn handle<C: ControlPlane>(
    plane: &C,
    authenticator: &Authenticator,
    request: HttpRequest<'_>,
) -> HttpResponse {
    match serve(plane, authenticator, request).await {
        Ok(body) => HttpResponse::ok(body),
        Err(error) => error.response(),
    }
}

async fn serve<C: ControlPlane>(
    plane: &C,
    authenticator: &Authenticator,
    request: HttpRequest<'_>,
) -> Result<Value, ApiError> {
    let operation = protocol::operation(&request)?;
    let now_seconds = plane.now().millis() / 1000;
    let caller = &Caller { identity: authenticator.authenticate(&request, now_seconds)? };
    call(plane, caller, operation, protocol::body_object(request.body)?).await
}

/// Runs `operation` with its input, for a caller already authenticated: what the wire
/// protocol and the console both do.
pub async fn call<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    operation: &str,
    body: Value,
) -> Result<Value, ApiError> {
    match operation {
        "CreatePipeline" => pipelines::create(plane, protocol::input(operation, body)?).await,
        "GetPipeline" => pipelines::get(plane, protocol::input(operation, body)?).await,
        "UpdatePipeline" => pipelines::update(plane, caller, protocol::input(operation, body)?).await,
        "DeletePipeline" => pipelines::delete(plane, protocol::input(operation, body)?).await,
        "ListPipelines" => pipelines::list(plane, protocol::input(operation, body)?).await,
        "StartPipelineExecution" => executions::start(plane, caller, protocol::input(operation, body)?).await,
        "StopPipelineExecution" => executions::stop(plane, caller, protocol::input(operation, body)?).await,
        "GetPipelineExecution" => reads::get_execution(plane, protocol::input(operation, body)?).await,
        "GetPipelineState" => reads::get_state(plane, protocol::input(operation, body)?).await,
        "ListPipelineExecutions" => reads::list_executions(plane, protocol::input(operation, body)?).await,
        "ListActionExecutions" => reads::list_action_executions(plane, protocol::input(operation, body)?).await,
        "RetryStageExecution" => steering::retry(plane, caller, protocol::input(operation, body)?).await,
        "DisableStageTransition" => steering::transition(plane, caller, protocol::input(operation, body)?, false).await,
        "EnableStageTransition" => steering::transition(plane, caller, protocol::input(operation, body)?, true).await,
        "PutApprovalResult" => steering::approval(plane, caller, protocol::input(operation, body)?).await,
        "PutJobSuccessResult" => jobs::succeed(plane, caller, protocol::input(operation, body)?).await,
        "PutJobFailureResult" => jobs::fail(plane, protocol::input(operation, body)?).await,
        "GetJobDetails" => jobs::details(plane, protocol::input(operation, body)?).await,
        "CreateCustomActionType" => custom::create(plane, protocol::input(operation, body)?).await,
        "DeleteCustomActionType" => custom::delete(plane, protocol::input(operation, body)?).await,
        "PollForJobs" => custom::poll(plane, protocol::input(operation, body)?).await,
        "AcknowledgeJob" => custom::acknowledge(plane, protocol::input(operation, body)?).await,
        "RollbackStage" => conditions::rollback(plane, caller, protocol::input(operation, body)?).await,
        "OverrideStageCondition" => {
            conditions::override_condition(plane, caller, protocol::input(operation, body)?).await
        }
        "ListRuleExecutions" => conditions::list_rule_executions(plane, protocol::input(operation, body)?).await,
        "ListRuleTypes" => conditions::list_rule_types(plane, protocol::input(operation, body)?).await,
        other if UNSUPPORTED.contains(&other) => {
            Err(ApiError::validation(format!("{other} is not supported by Pipewright yet; nothing was changed")))
        }
        other => Err(ApiError::client(
            "UnknownOperationException",
            format!("{other} is not an operation of CodePipeline_20150709"),
        )),
    }
}

/// A failure of the shared handler, in the API's terms.
pub(crate) fn service_error(error: ServiceError) -> ApiError {
    match error {
        ServiceError::PipelineNotFound(name) => pipeline_not_found(&name),
        ServiceError::Rejected(rejection) => {
            let status = if rejection.is_defect() { 500 } else { 400 };
            ApiError { status, exception: rejection.exception(), message: rejection.to_string() }
        }
        ServiceError::Store(error) => store_error(error),
        ServiceError::InvalidDeclaration { .. } => ApiError::internal(error.to_string()),
        ServiceError::TooManyConflicts(_) => ApiError::client("ConcurrentModificationException", error.to_string()),
    }
}

pub(crate) fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(message) => ApiError::client("ConcurrentModificationException", message),
        StoreError::NotFound(what) => ApiError::validation(format!("{what} not found")),
        StoreError::InvalidNextToken => ApiError::client("InvalidNextTokenException", "the nextToken is not valid"),
        StoreError::Unavailable(message) => ApiError { status: 503, exception: "ServiceUnavailableException", message },
        // Permanent: a 503 would tell the client to try again, and the same call fails again.
        StoreError::Corrupt(_) | StoreError::Refused(_) => ApiError::internal(error.to_string()),
    }
}

pub(crate) fn pipeline_not_found(name: &str) -> ApiError {
    ApiError::client("PipelineNotFoundException", format!("Account does not have a pipeline with name '{name}'"))
}

pub(crate) fn execution_not_found(pipeline: &str, id: &str) -> ApiError {
    ApiError::client(
        "PipelineExecutionNotFoundException",
        format!("Pipeline execution '{id}' does not exist in pipeline '{pipeline}'"),
    )
}

pub(crate) fn seconds(t: Timestamp) -> f64 {
    t.epoch_seconds()
}
