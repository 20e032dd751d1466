//! CodePipeline's control API over any Pipewright store, in CodePipeline's own wire protocol
//! (AWS JSON 1.1), so that the aws CLI, boto3 and the AWS SDKs work unchanged. The transport
//! is not here: `pipewright serve` (axum) and the api function (a Function URL) hand each
//! request to [`handle`] and write back what it returns.

pub mod action_type_keys;
pub mod console;
pub mod hosts;
pub mod protocol;
pub mod repository_webhooks;
pub mod sigv4;
pub mod webhook_delivery;

mod action_types;
mod conditions;
mod custom;
mod executions;
mod jobs;
mod pipelines;
mod reads;
mod revisions;
mod steering;
mod tags;
mod targets;
mod third_party;
mod webhooks;

use std::future::Future;

use serde_json::Value;

use pipewright_core::artifact_access::{ArtifactCredentials, local_credentials};
use pipewright_core::declaration::ActionOwner;
use pipewright_core::engine::{Dispatch, Event, Execution};
use pipewright_core::ports::{StateStore, StoreError};
use pipewright_core::service::{Handled, PipelineCache, ServiceError};
use pipewright_core::time::Timestamp;

pub use jobs::job_artifact_access;
pub use protocol::{ACCOUNT_MARK, ApiError, HttpRequest, HttpResponse};
pub use sigv4::{Authenticator, KeyRing, KeyScope};

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

    /// The pipelines' own region, which GetPipeline puts on every action naming none: the
    /// deployment's region, whatever region a request was signed for (a `serve` started with
    /// `--region` names one for its pipelines, which run in the region `local`).
    fn home_region(&self) -> &str {
        self.region()
    }

    /// Applies `event` through the stage-transition handler and sees that its effects are
    /// carried out (locally: a worker; on AWS: the bus).
    fn submit(&self, pipeline: &str, event: &Event) -> impl Future<Output = Result<Handled, ServiceError>> + Send;

    /// The log of one attempt of a Commands action, when this deployment keeps it.
    fn action_log(&self, _execution_id: &str, _stage: &str, _action: &str, _attempt: u32) -> Option<String> {
        None
    }

    /// `artifactCredentials` for a job: credentials that reach exactly its input and output
    /// artifacts. Locally they are derived from the execution's seed, and `serve`'s S3
    /// endpoint checks them; on AWS they come from STS with a session policy.
    fn artifact_credentials(
        &self,
        execution: &Execution,
        dispatch: &Dispatch,
    ) -> impl Future<Output = Result<ArtifactCredentials, String>> + Send {
        let credentials = local_credentials(&execution.seed, &dispatch.job_id);
        async move { Ok(credentials) }
    }

    /// The URL under which this deployment serves webhooks (`<url>webhooks/…`), when it does.
    fn webhook_endpoint(&self) -> Option<String> {
        None
    }

    /// Creates (or removes) a repository webhook at GitHub for RegisterWebhookWithThirdParty
    /// (DeregisterWebhookWithThirdParty); an error is the reason, for the caller.
    fn third_party_webhook(&self, hook: ThirdPartyWebhook) -> impl Future<Output = Result<(), String>> + Send {
        async move {
            Err(format!("this deployment cannot reach GitHub to register a webhook for {}/{}", hook.owner, hook.repo))
        }
    }
}

/// A repository webhook to create or remove at GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdPartyWebhook {
    pub owner: String,
    pub repo: String,
    /// The GitHub action's `OAuthToken`.
    pub token: String,
    /// Where GitHub sends deliveries: the webhook's URL.
    pub url: String,
    /// The webhook's `SecretToken`, which GitHub signs deliveries with.
    pub secret: Option<String>,
    /// True to create, false to remove.
    pub register: bool,
}

/// Who made a request, as the transport authenticated it (an access key, or nobody on an
/// open local server), and the region it signed for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub identity: Option<String>,
    /// The region of the request's SigV4 credential scope: ARNs in answers name it.
    pub region: Option<String>,
    /// The access key, when it is one action type's (`action_type_keys`): the job operations
    /// refuse jobs of any other type.
    pub action_type_key: Option<String>,
}

impl Caller {
    /// A caller known by name only (the console, tests).
    pub fn named(identity: &str) -> Caller {
        Caller { identity: Some(identity.to_string()), ..Caller::default() }
    }

    /// The `by` of engine events and the trigger detail of executions.
    pub fn name(&self) -> String {
        self.identity.clone().unwrap_or_else(|| "pipewright-api".to_string())
    }
}

/// The region a request is answered for: the one it signed for, else the deployment's.
pub(crate) fn region_of<'a, C: ControlPlane>(plane: &'a C, caller: &'a Caller) -> &'a str {
    caller.region.as_deref().filter(|r| !r.is_empty()).unwrap_or(plane.region())
}

/// `region` as an answer names it: the deployment's own region (`serve` runs its actions in
/// the region `local`) is the pipelines' home region.
pub(crate) fn answered_region<C: ControlPlane>(plane: &C, region: &mut Option<String>) {
    if region.as_deref() == Some(plane.region()) {
        *region = Some(plane.home_region().to_string());
    }
}

/// `arn:<partition>:codepipeline:<region>:<account>:<resource>`.
pub(crate) fn arn<C: ControlPlane>(plane: &C, caller: &Caller, resource: &str) -> String {
    let region = region_of(plane, caller);
    let partition = pipewright_core::artifact_access::partition(region);
    format!("arn:{partition}:codepipeline:{region}:{}:{resource}", plane.account())
}

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
    let signed = authenticator.authenticate(&request, now_seconds)?;
    let scope = match (authenticator, &signed) {
        (Authenticator::Keys(keys), Some(signed)) => keys.scope(&signed.access_key),
        _ => None,
    };
    if let (Some(scope), Some(signed)) = (scope, &signed)
        && let Some(allowed) = scope.operations()
        && !allowed.contains(&operation)
    {
        return Err(ApiError::client(
            "AccessDeniedException",
            format!(
                "{} is {}: it may call {} only, not codepipeline:{operation}",
                signed.access_key,
                scope.describe(),
                allowed.join(", ")
            ),
        ));
    }
    let action_type_key = signed.as_ref().filter(|_| scope == Some(KeyScope::ActionType)).map(|s| s.access_key.clone());
    let caller = &Caller {
        identity: signed.as_ref().map(|s| s.access_key.clone()),
        region: signed.map(|s| s.region),
        action_type_key,
    };
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
    // Each operation decodes the body into its own input shape.
    macro_rules! input {
        () => {
            protocol::input(operation, body)?
        };
    }
    let answer = match operation {
        "CreatePipeline" => pipelines::create(plane, caller, input!()).await,
        "GetPipeline" => pipelines::get(plane, caller, input!()).await,
        "UpdatePipeline" => pipelines::update(plane, caller, input!()).await,
        "DeletePipeline" => pipelines::delete(plane, caller, input!()).await,
        "ListPipelines" => pipelines::list(plane, input!()).await,
        "StartPipelineExecution" => executions::start(plane, caller, input!()).await,
        "StopPipelineExecution" => executions::stop(plane, caller, input!()).await,
        "GetPipelineExecution" => reads::get_execution(plane, input!()).await,
        "GetPipelineState" => reads::get_state(plane, input!()).await,
        "ListPipelineExecutions" => reads::list_executions(plane, input!()).await,
        "ListActionExecutions" => reads::list_action_executions(plane, input!()).await,
        "RetryStageExecution" => steering::retry(plane, caller, input!()).await,
        "DisableStageTransition" => steering::transition(plane, caller, input!(), false).await,
        "EnableStageTransition" => steering::transition(plane, caller, input!(), true).await,
        "PutApprovalResult" => steering::approval(plane, caller, input!()).await,
        "PutJobSuccessResult" => jobs::succeed(plane, caller, input!(), ActionOwner::Custom).await,
        "PutJobFailureResult" => jobs::fail(plane, caller, input!(), ActionOwner::Custom).await,
        "GetJobDetails" => jobs::details(plane, caller, input!()).await,
        "CreateCustomActionType" => custom::create(plane, caller, input!()).await,
        "DeleteCustomActionType" => custom::delete(plane, caller, input!()).await,
        "PollForJobs" => custom::poll(plane, caller, input!()).await,
        "AcknowledgeJob" => custom::acknowledge(plane, caller, input!()).await,
        "ListActionTypes" => action_types::list(plane, input!()).await,
        "GetActionType" => action_types::get(plane, input!()).await,
        "UpdateActionType" => action_types::update(plane, input!()).await,
        "TagResource" => tags::tag(plane, caller, input!()).await,
        "UntagResource" => tags::untag(plane, caller, input!()).await,
        "ListTagsForResource" => tags::list(plane, caller, input!()).await,
        "PutActionRevision" => revisions::put(plane, caller, input!()).await,
        "PollForThirdPartyJobs" => third_party::poll(plane, caller, input!()).await,
        "AcknowledgeThirdPartyJob" => third_party::acknowledge(plane, caller, input!()).await,
        "GetThirdPartyJobDetails" => third_party::details(plane, caller, input!()).await,
        "PutThirdPartyJobSuccessResult" => third_party::succeed(plane, caller, input!()).await,
        "PutThirdPartyJobFailureResult" => third_party::fail(plane, caller, input!()).await,
        "ListDeployActionExecutionTargets" => targets::list(plane, input!()).await,
        "PutWebhook" => webhooks::put(plane, input!()).await,
        "DeleteWebhook" => webhooks::delete(plane, input!()).await,
        "ListWebhooks" => webhooks::list(plane, input!()).await,
        "RegisterWebhookWithThirdParty" => webhooks::register(plane, input!(), true).await,
        "DeregisterWebhookWithThirdParty" => webhooks::register(plane, input!(), false).await,
        "RollbackStage" => conditions::rollback(plane, caller, input!()).await,
        "OverrideStageCondition" => conditions::override_condition(plane, caller, input!()).await,
        "ListRuleExecutions" => conditions::list_rule_executions(plane, input!()).await,
        "ListRuleTypes" => conditions::list_rule_types(plane, input!()).await,
        other => Err(ApiError::client(
            "UnknownOperationException",
            format!("{other} is not an operation of CodePipeline_20150709"),
        )),
    };
    answer.map_err(|error| error.in_account(plane.account()))
}

/// How often a record is read and written again when another writer came first.
const RECORD_ATTEMPTS: usize = 10;

/// Changes the record at (`kind`, `key`) to what `change` makes of its current value (`None`:
/// no record), by compare-and-swap: written only if nobody wrote in between, else read again.
pub(crate) async fn update_record<C: ControlPlane>(
    plane: &C,
    kind: &str,
    key: &str,
    change: impl Fn(Option<&str>) -> Result<String, ApiError>,
) -> Result<(), ApiError> {
    let store = plane.store();
    for _ in 0..RECORD_ATTEMPTS {
        let current = store.get_record(kind, key).await.map_err(store_error)?;
        let value = change(current.as_deref())?;
        let written = match &current {
            None => store.put_record_if_absent(kind, key, &value).await,
            Some(previous) => store.replace_record(kind, key, previous, &value).await,
        };
        if written.map_err(store_error)? {
            return Ok(());
        }
    }
    Err(ApiError::client("ConcurrentModificationException", format!("{kind} {key} kept changing; try again")))
}

/// Writes `value` at (`kind`, `key`), whatever was there.
pub(crate) async fn put_record<C: ControlPlane>(plane: &C, kind: &str, key: &str, value: &str) -> Result<(), ApiError> {
    update_record(plane, kind, key, |_| Ok(value.to_string())).await
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
        // AWS's common throttling error, which the SDKs and boto3 retry with backoff.
        StoreError::Throttled(message) => ApiError::client("ThrottlingException", message),
        // Permanent: a 503 would tell the client to try again, and the same call fails again.
        StoreError::Corrupt(_) | StoreError::Refused(_) => ApiError::internal(error.to_string()),
    }
}

pub(crate) fn pipeline_not_found(name: &str) -> ApiError {
    ApiError::client(
        "PipelineNotFoundException",
        format!("Account '{ACCOUNT_MARK}' does not have a pipeline with name '{name}'"),
    )
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
