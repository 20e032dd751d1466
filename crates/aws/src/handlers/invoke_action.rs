//! invoke-action: runs a dispatched action through its provider, and sends approval
//! notifications. Each job (each notification) is claimed first, so a redelivered dispatch
//! never runs twice (a build's jobs excepted: CodeBuild makes a start once, and a look runs
//! the same twice over, `claim_of`); a
//! provider that finishes within the invocation applies its result at once, one that
//! reports later (a Lambda function) is handed off.

use std::collections::BTreeMap;

use pipewright_core::declaration::ActionOwner;
use pipewright_core::deploy::codebuild::{is_build_look, is_build_start, start_orphaned};
use pipewright_core::engine::{
    ApprovalRequest, Dispatch, Event, Execution, FailureType, JobContinued, Revision, RevisionType, StopWork,
};
use pipewright_core::links::{self, LinkClaims};
use pipewright_core::notifications::approval_message;
use pipewright_core::ports::{JobLocation, StateStore};
use pipewright_core::providers::ProviderKind;
use pipewright_core::service::Handled;
use pipewright_providers::deploy::{DeployJob, Deployer, Progress, Waiting};
use pipewright_providers::repository_archive::{self, HostSource};
use pipewright_providers::{ActionError, ActionOutput, Outcome};

use super::{HandlerError, build_events, now};
use serde_json::{Value, json};

use crate::bus::{
    ACTION_DISPATCHED, APPROVAL_REQUESTED, ApprovalMessage, DispatchMessage, ENGINE_SOURCE, Envelope, WORK_ABANDONED,
};
use crate::notifier::ApprovalLinks;
use crate::repository_sources::{self, RepositorySource};
use crate::settings::Services;

/// A claim lapses after the longest a Lambda invocation can run, plus a margin.
pub const LEASE_SECONDS: i64 = 16 * 60;

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Invoked {
    /// Another delivery holds this job: nothing done.
    Duplicate,
    /// The provider finished; its result is applied.
    Finished(Outcome),
    /// Handed to a system that reports on its own (an invoked function, a notification).
    HandedOff(String),
    /// A deploy provider waits for its service: the wait is reported as a continuation, kept
    /// with the attempt, and the tick sends the next look (docs/providers.md §13).
    Waiting(String),
    /// The job is no longer its attempt's live job (the execution moved on, was stopped or
    /// superseded): nothing run.
    Stale(String),
}

/// Action output goes to the function's log.
pub(super) struct ToLog;

impl ActionOutput for ToLog {
    fn line(&self, stage: &str, action: &str, line: &str) {
        tracing::info!(stage, action, "{line}");
    }
}

/// The claim a dispatched job is taken under: its id, so that it runs once; none for a build's
/// job (`codebuild::is_build`). A look at a build's wait runs the same twice over, and a
/// build's start is made once by CodeBuild itself: a second StartBuild of the job within 5
/// minutes gets the same build back through its idempotency token (a Commands build's is
/// found by its job, `codebuild::started_for_job`); a later one whose wait comes back stale
/// while the first build is recorded stops its own (`codebuild::start_orphaned`). A start
/// that meets what may pass reports nothing and is delivered again (`Progress::Retry`), so
/// that a second delivery never fails an action the first is starting. A claim cost a write
/// per build. The tick asks the same of the work it resends (`stage_transition::claim_key`).
pub fn claim_of(dispatch: &Dispatch) -> Option<&str> {
    (!pipewright_core::deploy::codebuild::is_build(dispatch)).then_some(dispatch.job_id.as_str())
}

pub async fn dispatched(services: &Services, message: &DispatchMessage) -> Result<Invoked, HandlerError> {
    dispatched_as_read(services, message, None).await
}

/// [`dispatched`], given the execution as the caller has just read it to rebuild the job (an
/// action's start, a build event's look): a job that holds no claim (a build's) is checked
/// against that read, where it read the execution again. A claimed job reads it again after
/// its claim: an earlier run may have committed its result and given its claim back since.
pub(super) async fn dispatched_as_read(
    services: &Services,
    message: &DispatchMessage,
    read: Option<Execution>,
) -> Result<Invoked, HandlerError> {
    let dispatch = &message.dispatch;
    let location = JobLocation { pipeline: message.pipeline.clone(), execution_id: dispatch.execution_id.clone() };
    let claim = claim_of(dispatch);
    if let Some(job) = claim
        && !services.store.claim_dispatched_job(job, &location, now(), LEASE_SECONDS).await?
    {
        return Ok(Invoked::Duplicate);
    }
    // A delivery can come late (EventBridge and Lambda retry for up to an hour): work of an
    // attempt that is no longer current must not run, or a superseded S3 deploy could
    // overwrite a newer release. The job is kept as handed off, so that a redelivery stops at
    // the claim.
    let execution = match (claim, read) {
        (None, Some(read)) => Some(read),
        _ => services.store.get_execution(&dispatch.execution_id).await?.map(|read| read.value),
    };
    let live =
        execution.as_ref().filter(|execution| pipewright_core::engine::job_is_live(execution, &dispatch.job_ref()));
    let Some(execution) = live else {
        if let Some(job) = claim {
            services.store.hand_off_job(job).await?;
        }
        // The job's result may be committed by an earlier delivery that failed before its
        // relay: publish what that commit left in the outbox, as a stale engine event does.
        super::relay_pending(services, &message.pipeline, &dispatch.execution_id).await?;
        return Ok(Invoked::Stale(format!(
            "job {} of {}/{} (attempt {}) is no longer current: not run",
            dispatch.job_id, dispatch.stage, dispatch.action, dispatch.attempt
        )));
    };
    let kind = pipewright_core::rule_types::RuleProvider::kind_of(dispatch);
    let outcome = match kind {
        Some(ProviderKind::S3Source) => s3_source(services, dispatch).await,
        Some(source @ (ProviderKind::CodeCommit | ProviderKind::Ecr)) => {
            let scratch = scratch_dir(dispatch);
            let (region, artifacts) = (&services.settings.region, &services.artifacts);
            let outcome = if source == ProviderKind::CodeCommit {
                crate::codecommit_source::fetch(&services.codecommit, region, dispatch, artifacts, &scratch).await
            } else {
                crate::ecr_source::fetch(&services.ecr, region, dispatch, artifacts, &scratch).await
            };
            // A warm instance keeps /tmp: leave it clean.
            let _ = tokio::fs::remove_dir_all(&scratch).await;
            outcome
        }
        Some(source @ (ProviderKind::GitHubV1 | ProviderKind::CodeStarSourceConnection)) => {
            repository_source(services, dispatch, source).await
        }
        // Deploys, and builds on CodeBuild: a start, then a wait the tick and the services'
        // events look at again (docs/providers.md §13, "CodeBuild on AWS").
        // Commands actions too: user commands never run in this function, with its role
        // (docs/security.md, "Commands actions").
        Some(kind) if pipewright_core::deploy::waits_on_service(kind) => {
            return deploy(services, message, execution).await;
        }
        Some(ProviderKind::Lambda) => match lambda(services, dispatch).await {
            Ok(status) => {
                services.store.hand_off_job(&dispatch.job_id).await?;
                return Ok(Invoked::HandedOff(format!("invoked with status {status}")));
            }
            Err(error) => failed(
                FailureType::JobFailed,
                format!(
                    "cannot invoke {}: {error}",
                    dispatch.configuration.get("FunctionName").map_or("", String::as_str)
                ),
            ),
        },
        // A custom action's job waits for a job worker (PollForJobs through the api function),
        // a partner action's for the partner (PollForThirdPartyJobs).
        None | Some(ProviderKind::Snyk | ProviderKind::AlexaSkillsKit)
            if matches!(dispatch.action_type.owner, ActionOwner::Custom | ActionOwner::ThirdParty) =>
        {
            services.store.hand_off_job(&dispatch.job_id).await?;
            return Ok(Invoked::HandedOff("waiting for a job worker".to_string()));
        }
        None if dispatch.condition.is_some() => failed(
            FailureType::ConfigurationError,
            format!("{} rules are not run by Pipewright on AWS yet", dispatch.action_type.provider),
        ),
        _ => failed(
            FailureType::ConfigurationError,
            format!(
                "{}/{}/{} actions are not supported by Pipewright on AWS yet",
                dispatch.action_type.category, dispatch.action_type.owner, dispatch.action_type.provider
            ),
        ),
    };
    report(services, message, outcome.clone().into_event(dispatch)).await?;
    Ok(Invoked::Finished(outcome))
}

/// Applies a job's result at once, in this invocation: its commit and the relay of what it
/// leads to (the next dispatch, the state-change events) cost one bus hop per action instead
/// of two, since the result no longer travels to stage-transition as an event of its own
/// (docs/ARCHITECTURE.md, "One hop per action"). The apply is idempotent: a redelivered
/// dispatch stops at the job claim (a build's start gets the same build from CodeBuild's
/// idempotency token), and a result applied twice is stale.
async fn report(
    services: &Services,
    message: &DispatchMessage,
    event: Option<Event>,
) -> Result<Option<Handled>, HandlerError> {
    let Some(event) = event else { return Ok(None) };
    match super::apply(services, &message.pipeline, &event).await {
        Ok(handled) => Ok(Some(handled)),
        Err(error @ HandlerError::Retryable(_)) => {
            give_back(services, &message.dispatch).await?;
            Err(error)
        }
        Err(error) => Err(error),
    }
}

/// Gives a job's claim back, if it holds one, so that the retry of this delivery runs it again.
async fn give_back(services: &Services, dispatch: &Dispatch) -> Result<(), HandlerError> {
    if let Some(job) = claim_of(dispatch) {
        services.store.release_job(job).await?;
    }
    Ok(())
}

/// A deploy provider's step (docs/providers.md §13): the attempt's first job starts the
/// work, a job carrying a wait looks again. Either finishes the action, reported as any job
/// result, or waits: the wait goes back as a continuation whose token the engine keeps with
/// the attempt, and the tick sends the next look when it is due. Nothing here sleeps.
async fn deploy(
    services: &Services,
    message: &DispatchMessage,
    execution: &Execution,
) -> Result<Invoked, HandlerError> {
    let dispatch = &message.dispatch;
    let job = deploy_job(services, dispatch).await?;
    let progress = match dispatch.continuation_token.as_deref() {
        None => services.deployer.start(&job, &ToLog).await,
        Some(token) => match serde_json::from_str::<Waiting>(token) {
            // A build may have ended with others of its execution: one commit records them
            // (`ended_together`).
            Ok(waiting) if is_build_look(dispatch) => {
                return super::ended_together::look(services, message, execution, &job, &waiting).await;
            }
            Ok(waiting) => services.deployer.poll(&job, &waiting, &ToLog).await,
            Err(error) => {
                Progress::failed(FailureType::JobFailed, format!("the action's wait cannot be read: {error}"))
            }
        },
    };
    report_progress(services, message, progress).await
}

/// Reports a deploy provider's step: its result applied, or its wait kept as the attempt's
/// continuation.
pub(super) async fn report_progress(
    services: &Services,
    message: &DispatchMessage,
    progress: Progress,
) -> Result<Invoked, HandlerError> {
    let dispatch = &message.dispatch;
    let started = match &progress {
        Progress::Waiting(waiting) if is_build_start(dispatch) => Some(waiting.external_id.clone()),
        _ => None,
    };
    let (event, invoked) = match progress {
        // Nothing started: Lambda delivers the job again (its retries, then the tick's
        // resends), and a delivery that finds the job moved on runs nothing.
        Progress::Retry(reason) => {
            give_back(services, dispatch).await?;
            return Err(HandlerError::Retryable(reason));
        }
        Progress::Finished(outcome) => (outcome.clone().into_event(dispatch), Invoked::Finished(outcome)),
        Progress::Waiting(waiting) => match continuation(&waiting) {
            Ok(token) => (
                Some(Event::JobContinued(JobContinued {
                    job: dispatch.job_ref(),
                    continuation_token: token,
                    summary: Some(waiting.status.clone()),
                    percent_complete: None,
                    external_execution_id: Some(waiting.external_id.clone()),
                })),
                Invoked::Waiting(waiting.status),
            ),
            Err(message) => {
                let outcome = failed(FailureType::JobFailed, message);
                (outcome.clone().into_event(dispatch), Invoked::Finished(outcome))
            }
        },
    };
    let handled = report(services, message, event).await?;
    // A start delivered twice: the stale answer says which build the other delivery recorded.
    if let (Some(build_id), Some(Handled::Stale(stale))) = (started, &handled)
        && start_orphaned(stale, &build_id)
    {
        return Ok(stop_orphan(services, dispatch, &build_id).await);
    }
    Ok(invoked)
}

/// Stops the build a start began for an attempt that ended meanwhile (`start_orphaned`). A
/// failure is logged, not retried: a redelivery would find the job no longer live.
async fn stop_orphan(services: &Services, dispatch: &Dispatch, build_id: &str) -> Invoked {
    let stopped =
        services.deployer.stop_build(dispatch.region.as_deref(), dispatch.role_arn.as_deref(), build_id).await;
    let what = format!("{}/{} ended while build {build_id} was starting", dispatch.stage, dispatch.action);
    match stopped {
        Ok(()) => Invoked::Stale(format!("{what}: stopped")),
        Err(error) => {
            tracing::error!(build_id, error, "{what}: cannot stop it");
            Invoked::Stale(format!("{what}: cannot stop it: {error}"))
        }
    }
}

/// The job a deploy provider's step works on: the dispatch, with the artifact store of the
/// action's region.
pub(super) async fn deploy_job(services: &Services, dispatch: &Dispatch) -> Result<DeployJob, HandlerError> {
    let regional_store = match dispatch.region {
        // By version alone: every CodeBuild and deploy step comes this way, and reading the
        // execution to check its pipeline's creation would cost a read per step.
        // A read that failed for a moment is retried: without the regional store, a
        // cross-region action would be pointed at the home store. A pipeline deleted
        // meanwhile leaves its job to run as it was dispatched.
        Some(_) => pipeline_version(services, &dispatch.pipeline, dispatch.pipeline_version)
            .await?
            .and_then(|pipeline| pipewright_core::deploy::regional_store(&pipeline, dispatch)),
        None => None,
    };
    Ok(DeployJob { dispatch: dispatch.clone(), regional_store })
}

/// Version `version` of pipeline `name`, from the function's cache; `None` once the pipeline
/// is deleted, an error worth another try when the store cannot be read now.
pub(super) async fn pipeline_version(
    services: &Services,
    name: &str,
    version: u32,
) -> Result<Option<std::sync::Arc<pipewright_core::pipeline::Pipeline>>, HandlerError> {
    match services.cache.by_version(&services.store, name, version).await {
        Ok(pipeline) => Ok(Some(pipeline)),
        Err(error) => match HandlerError::from(error) {
            HandlerError::Rejected(_) => Ok(None),
            other => Err(other),
        },
    }
}

/// A wait as a continuation token, within the 2,048 characters a token may have: without its
/// console link when it would not fit.
fn continuation(waiting: &Waiting) -> Result<String, String> {
    const LIMIT: usize = 2048;
    let fits = |w: &Waiting| serde_json::to_string(w).ok().filter(|token| token.len() <= LIMIT);
    if let Some(token) = fits(waiting) {
        return Ok(token);
    }
    let without_link = Waiting { url: None, ..waiting.clone() };
    fits(&without_link).ok_or_else(|| {
        format!("the wait for {} is too large to keep ({LIMIT} characters at most)", waiting.external_id)
    })
}

/// Invokes a Lambda invoke action's function with its job and the job's artifact credentials.
async fn lambda(services: &Services, dispatch: &Dispatch) -> Result<i32, String> {
    let credentials = services.artifact_access.credentials(dispatch).await?;
    services.invoker.invoke(dispatch, &services.settings.account, &credentials).await
}

fn failed(kind: FailureType, message: String) -> Outcome {
    Outcome::Failed(ActionError { kind, message })
}

fn config<'a>(dispatch: &'a Dispatch, key: &str) -> Option<&'a str> {
    dispatch.configuration.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

/// The S3 source: the object version the change named (or the latest) becomes the artifact.
async fn s3_source(services: &Services, dispatch: &Dispatch) -> Outcome {
    let (Some(bucket), Some(key)) = (config(dispatch, "S3Bucket"), config(dispatch, "S3ObjectKey")) else {
        return failed(FailureType::ConfigurationError, "S3Bucket and S3ObjectKey are required".into());
    };
    let Some(output) = dispatch.output_artifacts.first() else {
        return failed(FailureType::ConfigurationError, "the S3 source has no output artifact".into());
    };
    let version = dispatch
        .source_revision
        .as_ref()
        .filter(|r| r.revision_type == RevisionType::S3ObjectVersionId)
        .map(|r| r.revision_value.as_str());
    match services.artifacts.copy_source(bucket, key, version, &output.location).await {
        Ok(copied) => {
            let version_id = copied.version_id.clone().unwrap_or_default();
            let variables = BTreeMap::from([
                ("ETag".to_string(), copied.etag.clone()),
                ("VersionId".to_string(), version_id.clone()),
            ]);
            Outcome::Succeeded {
                output_variables: variables,
                summary: format!("s3://{bucket}/{key} version {version_id}"),
                external_execution_url: None,
                revision: Some(Revision {
                    revision_id: if version_id.is_empty() { copied.etag.clone() } else { version_id },
                    change_identifier: Some(copied.etag),
                    summary: None,
                    url: None,
                    created: None,
                }),
            }
        }
        Err(error) => failed(FailureType::JobFailed, format!("cannot copy s3://{bucket}/{key}: {error}")),
    }
}

/// GitHub (version 1) and connection sources: the commit, through its host's API.
async fn repository_source(services: &Services, dispatch: &Dispatch, kind: ProviderKind) -> Outcome {
    let source = match kind {
        ProviderKind::GitHubV1 => repository_sources::github_v1(dispatch, services.settings.github_api_url.as_deref()),
        _ => match connection_secret(services, dispatch).await {
            Ok(secret) => repository_sources::connection(dispatch, &secret),
            Err(outcome) => return outcome,
        },
    };
    let RepositorySource { api, repository, branch } = match source {
        Ok(source) => source,
        Err(error) => return Outcome::Failed(error),
    };
    let client = pipewright_http::Client::new();
    let host = HostSource { api: &api, repository: &repository, branch: &branch, kind };
    let scratch = scratch_dir(dispatch);
    repository_archive::fetch(&client, &host, dispatch, &services.artifacts, &scratch).await
}

/// The token of the action's connection, from the secret the stack maps it to.
async fn connection_secret(services: &Services, dispatch: &Dispatch) -> Result<String, Outcome> {
    let arn = config(dispatch, "ConnectionArn")
        .ok_or_else(|| failed(FailureType::ConfigurationError, "configuration ConnectionArn is required".into()))?;
    let name = repository_sources::connection_secret_name(arn).map_err(Outcome::Failed)?;
    let output = services.secrets.get_secret_value().secret_id(&name).send().await.map_err(|e| {
        let message = format!(
            "cannot read secret {name}, which holds the token of connection {arn} (docs/sources.md): {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        );
        let kind =
            if e.as_service_error().is_some() { FailureType::ConfigurationError } else { FailureType::JobFailed };
        failed(kind, message)
    })?;
    output
        .secret_string()
        .map(String::from)
        .ok_or_else(|| failed(FailureType::ConfigurationError, format!("secret {name} has no string value")))
}

/// A job's own directory under /tmp.
fn scratch_dir(dispatch: &Dispatch) -> std::path::PathBuf {
    std::env::temp_dir().join("pipewright").join(&dispatch.job_id)
}

/// Sends the approval notification, when the action names a topic.
pub async fn approval_requested(services: &Services, message: &ApprovalMessage) -> Result<Invoked, HandlerError> {
    let request = &message.request;
    let claim = format!("approval:{}", request.action_execution_id);
    if !services.store.claim_job(&claim, now(), LEASE_SECONDS).await? {
        return Ok(Invoked::Duplicate);
    }
    let Some(topic) = request.notification_arn.as_deref().filter(|t| !t.is_empty()) else {
        services.store.hand_off_job(&claim).await?;
        return Ok(Invoked::HandedOff("no NotificationArn: nothing to send".to_string()));
    };
    let links = approval_links(services, request);
    let review = links.as_ref().map_or("", |l| l.review.as_str());
    let body = approval_message(request, &services.settings.region, review, review);
    match services.notifier.publish(topic, &body, links.as_ref()).await {
        Ok(message_id) => {
            services.store.hand_off_job(&claim).await?;
            Ok(Invoked::HandedOff(format!("SNS message {message_id}")))
        }
        Err(error) => {
            services.store.release_job(&claim).await?;
            Err(HandlerError::Retryable(format!("cannot publish to {topic}: {error}")))
        }
    }
}

/// The signed links to the approval-callback function, when the stack has one.
pub fn approval_links(services: &Services, request: &ApprovalRequest) -> Option<ApprovalLinks> {
    let base = services.settings.approval_url.as_deref()?;
    let key = services.link_key.as_deref()?;
    let token = links::sign(
        key,
        &LinkClaims {
            pipeline: request.pipeline.clone(),
            execution_id: request.execution_id.clone(),
            stage: request.stage.clone(),
            action: request.action.clone(),
            attempt: request.attempt,
            expires: request.expires,
        },
    );
    let base = base.trim_end_matches('/');
    let review = format!("{base}/?token={token}");
    Some(ApprovalLinks {
        approve: format!("{review}&decision=Approved"),
        reject: format!("{review}&decision=Rejected"),
        review,
    })
}

/// CodeBuild's events on the default bus (docs/reference/codebuild.md §8).
pub const BUILD_SOURCE: &str = "aws.codebuild";
pub const BUILD_STATE_CHANGE: &str = "CodeBuild Build State Change";
/// Pipewright's own action state changes on the stack's bus: a start carries the action's
/// first job, and an abandoned build is stopped.
pub const ACTION_STATE_CHANGE: &str = "CodePipeline Action Execution State Change";

/// Reads one delivery: a dispatched action or an action's start (which carries its first
/// job), an approval to notify, a build that ended, an action abandoned while its build runs,
/// or a rule's build to stop.
pub async fn receive(services: &Services, envelope: &Envelope) -> Result<Value, HandlerError> {
    let invoked = match (envelope.source.as_str(), envelope.detail_type.as_str()) {
        (ENGINE_SOURCE, ACTION_DISPATCHED) => {
            let message: DispatchMessage = serde_json::from_value(envelope.detail.clone())
                .map_err(|e| HandlerError::Rejected(format!("detail is not a dispatched action: {e}")))?;
            dispatched(services, &message).await?
        }
        (ENGINE_SOURCE, APPROVAL_REQUESTED) => {
            let message: ApprovalMessage = serde_json::from_value(envelope.detail.clone())
                .map_err(|e| HandlerError::Rejected(format!("detail is not an approval request: {e}")))?;
            approval_requested(services, &message).await?
        }
        (ENGINE_SOURCE, WORK_ABANDONED) => {
            let stop: StopWork = serde_json::from_value(envelope.detail.clone())
                .map_err(|e| HandlerError::Rejected(format!("detail is not work to stop: {e}")))?;
            build_events::work_abandoned(services, &stop).await?
        }
        (BUILD_SOURCE, BUILD_STATE_CHANGE) => build_events::build_state_changed(services, &envelope.detail).await?,
        (pipewright_core::envelope::SOURCE, ACTION_STATE_CHANGE) => {
            if envelope.detail.get("state").and_then(Value::as_str) == Some("STARTED") {
                super::started_action::action_started(services, &envelope.detail).await?
            } else {
                build_events::action_abandoned(services, &envelope.detail).await?
            }
        }
        (source, detail_type) => {
            return Err(HandlerError::Rejected(format!(
                "source {source:?} with detail-type {detail_type:?} is not for invoke-action"
            )));
        }
    };
    Ok(match invoked {
        Invoked::Duplicate => json!({ "invoked": "duplicate" }),
        Invoked::Finished(Outcome::Succeeded { summary, .. }) => json!({ "invoked": "succeeded", "summary": summary }),
        Invoked::Finished(Outcome::Failed(error)) => json!({ "invoked": "failed", "error": error.message }),
        Invoked::Finished(Outcome::Cancelled) => json!({ "invoked": "cancelled" }),
        Invoked::Finished(Outcome::HandedOff) => json!({ "invoked": "handed off" }),
        Invoked::HandedOff(what) => json!({ "invoked": "handed off", "detail": what }),
        Invoked::Waiting(status) => json!({ "invoked": "waiting", "detail": status }),
        Invoked::Stale(why) => json!({ "invoked": "stale", "detail": why }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(url: Option<String>, status: &str) -> Waiting {
        Waiting {
            state: json!({"step": "stack", "stackId": "arn:aws:cloudformation:us-east-1:1:stack/app/1"}),
            external_id: "arn:aws:cloudformation:us-east-1:1:stack/app/1".into(),
            url,
            status: status.into(),
            poll_after_seconds: 30,
            polls: 4,
        }
    }

    #[test]
    fn a_wait_becomes_a_token_that_reads_back_and_fits_the_limit() {
        let wait = waiting(Some("https://console.aws.amazon.com/x".into()), "stack app UPDATE_IN_PROGRESS");
        let token = continuation(&wait).unwrap();
        assert_eq!(serde_json::from_str::<Waiting>(&token).unwrap(), wait);
        assert!(pipewright_core::deploy::wait_is_due(
            &token,
            pipewright_core::time::Timestamp::from_millis(0),
            pipewright_core::time::Timestamp::from_millis(30_000)
        ));

        let long_link = waiting(Some(format!("https://console.aws.amazon.com/{}", "x".repeat(1900))), "waiting");
        let token = continuation(&long_link).unwrap();
        assert!(token.len() <= 2048);
        assert_eq!(serde_json::from_str::<Waiting>(&token).unwrap().url, None, "the link is dropped to fit");

        let error = continuation(&waiting(None, &"y".repeat(2100))).unwrap_err();
        assert!(error.contains("too large"), "{error}");
    }
}
