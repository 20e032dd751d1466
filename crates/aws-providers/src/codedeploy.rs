//! CodeDeploy and CodeDeployToECS over the SDK (docs/reference/cloudformation.md §9,
//! docs/providers.md §6): CreateDeployment from the input artifact's S3 revision, or, for
//! ECS, with the AppSpec filled from a task definition registered from `taskdef.json`; then
//! GetDeployment until it ends. CodeDeploy takes no client token: the deployment's
//! description names the job, and a repeated start adopts an active deployment that does.

use aws_sdk_codedeploy::types::{
    AppSpecContent, BundleType, DeploymentStatus, RevisionLocation, RevisionLocationType, S3Location,
};
use serde::{Deserialize, Serialize};

use pipewright_core::deploy::NextLook;
use pipewright_core::deploy::codedeploy::{self as decide, DeploymentState};
use pipewright_core::deploy::config;
use pipewright_core::engine::FailureType;
use pipewright_providers::Outcome;
use pipewright_providers::deploy::{Progress, Waiting, configuration_error, inputs};

use crate::artifacts::s3_object;
use crate::errors::CallError;
use crate::{Step, waiting};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    deployment_id: String,
}

fn console_url(step: &Step<'_>, id: &str) -> Option<String> {
    step.clients.on_aws.then(|| {
        format!("https://console.aws.amazon.com/codesuite/codedeploy/deployments/{id}?region={}", step.clients.region)
    })
}

/// `next`: a deployment's end is announced by its state-change notification; a look that
/// failed for a moment is looked at again on the ordinary schedule.
fn wait(step: &Step<'_>, id: &str, polls: u32, next: NextLook) -> Progress {
    let state = State { deployment_id: id.to_string() };
    waiting(
        serde_json::to_value(&state).unwrap_or_default(),
        id,
        format!("deployment {id} in progress"),
        polls,
        console_url(step, id),
        next,
    )
}

fn names(step: &Step<'_>) -> Result<(String, String), Box<Progress>> {
    let configuration = &step.job.dispatch.configuration;
    let application = config(configuration, "ApplicationName");
    let group = config(configuration, "DeploymentGroupName");
    match (application, group) {
        (Some(a), Some(g)) => Ok((a.to_string(), g.to_string())),
        _ => Err(Box::new(Progress::Finished(Outcome::Failed(configuration_error(
            "ApplicationName and DeploymentGroupName are required",
        ))))),
    }
}

/// An active deployment this job created before (a start repeated after a crash).
async fn adopted(step: &Step<'_>, application: &str, group: &str) -> Result<Option<String>, CallError> {
    let client = &step.clients.codedeploy;
    let statuses = decide::ACTIVE_STATUSES.iter().map(|s| DeploymentStatus::from(*s)).collect();
    let listed = client
        .list_deployments()
        .application_name(application)
        .deployment_group_name(group)
        .set_include_only_statuses(Some(statuses))
        .send()
        .await
        .map_err(|e| CallError::of("ListDeployments", &e))?;
    let ids: Vec<String> = listed.deployments().iter().take(25).cloned().collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let described = client
        .batch_get_deployments()
        .set_deployment_ids(Some(ids))
        .send()
        .await
        .map_err(|e| CallError::of("BatchGetDeployments", &e))?;
    let ours = decide::description(&step.job.dispatch.job_id);
    Ok(described
        .deployments_info()
        .iter()
        .find(|d| d.description() == Some(ours.as_str()))
        .and_then(|d| d.deployment_id().map(String::from)))
}

async fn create(step: &Step<'_>, application: &str, group: &str, revision: RevisionLocation) -> Progress {
    match adopted(step, application, group).await {
        Ok(Some(id)) => {
            step.say(&format!("deployment {id} was already created by this job; waiting for it"));
            return wait(step, &id, 0, step.announced());
        }
        Ok(None) => {}
        Err(error) => return error.failed(),
    }
    match step
        .clients
        .codedeploy
        .create_deployment()
        .application_name(application)
        .deployment_group_name(group)
        .revision(revision)
        .description(decide::description(&step.job.dispatch.job_id))
        .send()
        .await
    {
        Ok(output) => {
            let id = output.deployment_id().unwrap_or_default().to_string();
            step.say(&format!("CreateDeployment {application}/{group}: {id}"));
            wait(step, &id, 0, step.announced())
        }
        Err(error) => CallError::of("CreateDeployment", &error).failed(),
    }
}

/// CodeDeploy: the first input artifact is the revision bundle.
pub async fn start(step: &Step<'_>) -> Progress {
    let (application, group) = match names(step) {
        Ok(names) => names,
        Err(progress) => return *progress,
    };
    let Some(first) = step.job.dispatch.input_artifacts.first() else {
        return Progress::Finished(Outcome::Failed(configuration_error("the action has no input artifact")));
    };
    let (bucket, key) = match s3_object(step, &first.name).await {
        Ok(object) => object,
        Err(error) => return Progress::Finished(Outcome::Failed(error.into())),
    };
    let revision = RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .s3_location(S3Location::builder().bucket(bucket).key(key).bundle_type(BundleType::Zip).build())
        .build();
    create(step, &application, &group, revision).await
}

/// CodeDeployToECS: register the task definition, fill the AppSpec, deploy.
pub async fn start_ecs(step: &Step<'_>) -> Progress {
    let (application, group) = match names(step) {
        Ok(names) => names,
        Err(progress) => return *progress,
    };
    let ecs = match inputs::codedeploy_ecs(&step.job.dispatch, step.artifacts).await {
        Ok(inputs) => inputs,
        Err(error) => return Progress::Finished(Outcome::Failed(error)),
    };
    let arn = match crate::ecs::register_json(step, &ecs.task_definition).await {
        Ok(arn) => arn,
        Err(message) => return Progress::failed(FailureType::JobFailed, message),
    };
    step.say(&format!("registered task definition {arn}"));
    let appspec = match decide::fill_appspec(&ecs.appspec, &arn) {
        Ok(appspec) => appspec,
        Err(message) => return Progress::failed(FailureType::JobFailed, message),
    };
    let revision = RevisionLocation::builder()
        .revision_type(RevisionLocationType::AppSpecContent)
        .app_spec_content(AppSpecContent::builder().content(appspec).build())
        .build();
    create(step, &application, &group, revision).await
}

pub async fn poll(step: &Step<'_>, waiting: &Waiting) -> Progress {
    let state: State = match serde_json::from_value(waiting.state.clone()) {
        Ok(state) => state,
        Err(error) => return Progress::failed(FailureType::JobFailed, format!("unreadable wait state: {error}")),
    };
    let polls = waiting.polls + 1;
    let output = match step.clients.codedeploy.get_deployment().deployment_id(&state.deployment_id).send().await {
        Ok(output) => output,
        Err(error) => {
            let error = CallError::of("GetDeployment", &error);
            return if error.transient {
                wait(step, &state.deployment_id, polls, NextLook::Polled)
            } else {
                error.failed()
            };
        }
    };
    let info = output.deployment_info();
    let status = info.and_then(|i| i.status()).map(|s| s.as_str()).unwrap_or("Unknown");
    let error = info
        .and_then(|i| i.error_information())
        .map(|e| format!("{}: {}", e.code().map(|c| c.as_str()).unwrap_or("error"), e.message().unwrap_or_default()));
    match decide::deployment_state(&state.deployment_id, status, error.as_deref()) {
        DeploymentState::InProgress => wait(step, &state.deployment_id, polls, step.announced()),
        DeploymentState::Succeeded => {
            let summary = format!("deployment {} succeeded", state.deployment_id);
            step.say(&summary);
            Progress::Finished(Outcome::Succeeded {
                output_variables: Default::default(),
                summary,
                external_execution_url: console_url(step, &state.deployment_id),
                revision: None,
            })
        }
        DeploymentState::Failed(message) => Progress::failed(FailureType::JobFailed, message),
    }
}
