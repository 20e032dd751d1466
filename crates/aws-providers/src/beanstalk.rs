//! Elastic Beanstalk over the SDK (docs/providers.md §7): an application version from the
//! input artifact, UpdateEnvironment, then a wait until the environment is Ready on it. The
//! version label is derived from the attempt, so a repeated start creates nothing new.

use aws_sdk_elasticbeanstalk::types::{EventSeverity, S3Location};
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use pipewright_core::deploy::NextLook;
use pipewright_core::deploy::beanstalk::{self as decide, Update};
use pipewright_core::deploy::config;
use pipewright_core::engine::FailureType;
use pipewright_providers::Outcome;
use pipewright_providers::deploy::{Progress, Waiting, configuration_error};

use crate::artifacts::s3_object;
use crate::errors::CallError;
use crate::{Step, waiting};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    application: String,
    environment: String,
    version_label: String,
    /// Seconds since the epoch when the update began: error events from then on count.
    since: i64,
}

fn wait(state: &State, polls: u32) -> Progress {
    waiting(
        serde_json::to_value(state).unwrap_or_default(),
        &state.environment,
        format!("environment {} updating to {}", state.environment, state.version_label),
        polls,
        None,
        // Beanstalk's events are not routed to a look: every look is the tick's.
        NextLook::Polled,
    )
}

pub async fn start(step: &Step<'_>) -> Progress {
    let dispatch = &step.job.dispatch;
    let (Some(application), Some(environment)) =
        (config(&dispatch.configuration, "ApplicationName"), config(&dispatch.configuration, "EnvironmentName"))
    else {
        return Progress::Finished(Outcome::Failed(configuration_error(
            "ApplicationName and EnvironmentName are required",
        )));
    };
    let Some(first) = dispatch.input_artifacts.first() else {
        return Progress::Finished(Outcome::Failed(configuration_error("the action has no input artifact")));
    };
    let (bucket, key) = match s3_object(step, &first.name).await {
        Ok(object) => object,
        Err(error) => return Progress::Finished(Outcome::Failed(error.into())),
    };
    let label = decide::version_label(&dispatch.action_execution_id);
    let client = &step.clients.elasticbeanstalk;
    let since = crate::now().millis() / 1000;
    match client
        .create_application_version()
        .application_name(application)
        .version_label(&label)
        .source_bundle(S3Location::builder().s3_bucket(bucket).s3_key(key).build())
        .process(true)
        .send()
        .await
    {
        Ok(_) => step.say(&format!("CreateApplicationVersion {application} {label}")),
        Err(error) => {
            let error = CallError::of("CreateApplicationVersion", &error);
            // The label is this attempt's: it exists because an earlier run made it.
            if !error.message.contains("already exists") {
                return error.failed();
            }
        }
    }
    if let Err(error) = client.update_environment().environment_name(environment).version_label(&label).send().await {
        return CallError::of("UpdateEnvironment", &error).failed();
    }
    step.say(&format!("UpdateEnvironment {environment} to {label}"));
    let state = State {
        application: application.to_string(),
        environment: environment.to_string(),
        version_label: label,
        since,
    };
    wait(&state, 0)
}

pub async fn poll(step: &Step<'_>, waiting: &Waiting) -> Progress {
    let state: State = match serde_json::from_value(waiting.state.clone()) {
        Ok(state) => state,
        Err(error) => return Progress::failed(FailureType::JobFailed, format!("unreadable wait state: {error}")),
    };
    let polls = waiting.polls + 1;
    let client = &step.clients.elasticbeanstalk;
    let described = match client
        .describe_environments()
        .application_name(&state.application)
        .environment_names(&state.environment)
        .send()
        .await
    {
        Ok(output) => output,
        Err(error) => {
            let error = CallError::of("DescribeEnvironments", &error);
            return if error.transient { wait(&state, polls) } else { error.failed() };
        }
    };
    let Some(environment) = described.environments().first() else {
        return Progress::failed(FailureType::JobFailed, format!("environment {} does not exist", state.environment));
    };
    let status = environment.status().map(|s| s.as_str()).unwrap_or("Unknown");
    let errors: Vec<String> = match client
        .describe_events()
        .application_name(&state.application)
        .environment_name(&state.environment)
        .severity(EventSeverity::Error)
        .start_time(DateTime::from_secs(state.since))
        .send()
        .await
    {
        Ok(events) => events.events().iter().filter_map(|e| e.message().map(String::from)).collect(),
        Err(_) => Vec::new(),
    };
    match decide::update_state(&state.environment, status, environment.version_label(), &state.version_label, &errors) {
        Update::InProgress => wait(&state, polls),
        Update::Succeeded => {
            let summary = format!("environment {} is Ready on {}", state.environment, state.version_label);
            step.say(&summary);
            Progress::Finished(Outcome::Succeeded {
                output_variables: Default::default(),
                summary,
                external_execution_url: None,
                revision: None,
            })
        }
        Update::Failed(message) => Progress::failed(FailureType::JobFailed, message),
    }
}
