//! Builds on CodeBuild (docs/providers.md, "CodeBuild on AWS"): a CodeBuild action starts a
//! build of its project, a Commands action one of the stack's Commands project with its
//! commands as the buildspec (docs/security.md, "Commands actions"). StartBuild carries the
//! inputs as S3 source overrides, the outputs as S3 artifact overrides and an idempotency
//! token of the job; then the build is looked at with BatchGetBuilds until it ends. A Commands
//! build reads no S3 object itself: it gets presigned URLs of its inputs, and writes its
//! outputs to staged keys that invoke-action copies to the engine's once it has succeeded.

use std::collections::BTreeMap;

use aws_sdk_codebuild::types::{
    ArtifactPackaging, ArtifactsType, EnvironmentVariable, EnvironmentVariableType, ProjectArtifacts, ProjectSource,
    SourceAuth, SourceAuthType, SourceType,
};
use serde::{Deserialize, Serialize};

use pipewright_core::build_project::{BuildVariable, VariableType};
use pipewright_core::deploy::NextLook;
use pipewright_core::deploy::codebuild::{
    self as decide, ArtifactTarget, BuildRequest, BuildState, BuildView, PhaseView, StagedOutput,
};
use pipewright_core::engine::FailureType;
use pipewright_core::providers::ProviderKind;
use pipewright_providers::deploy::{Progress, Waiting, configuration_error};
use pipewright_providers::{ActionError, Outcome};

use crate::artifacts::{InputError, s3_object};
use crate::errors::CallError;
use crate::{Step, waiting};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    build_id: String,
    /// A Commands build's outputs, copied to the engine's keys when the build succeeds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    staged: Vec<StagedOutput>,
}

fn console_url(step: &Step<'_>, build_id: &str) -> Option<String> {
    step.clients.on_aws.then(|| decide::console_url(&step.clients.region, build_id))
}

/// A look that failed on its own (the build may have ended already, and no event will come
/// for it): looked at again on the ordinary schedule.
fn wait(step: &Step<'_>, state: &State, phase: &str, polls: u32) -> Progress {
    wait_for(step, state, phase, polls, NextLook::Polled)
}

/// The wait for a build that runs: the build's own event makes the look when it ends, so
/// the tick's looks thin out (`core::deploy::backstop_look_seconds`).
fn running(step: &Step<'_>, state: &State, phase: &str, polls: u32) -> Progress {
    wait_for(step, state, phase, polls, step.announced())
}

fn wait_for(step: &Step<'_>, state: &State, phase: &str, polls: u32, next: NextLook) -> Progress {
    waiting(
        serde_json::to_value(state).unwrap_or_default(),
        &state.build_id,
        format!("build {} {phase}", state.build_id),
        polls,
        console_url(step, &state.build_id),
        next,
    )
}

fn failed(error: pipewright_providers::ActionError) -> Progress {
    Progress::Finished(Outcome::Failed(error))
}

/// A start's call that failed: a service's answer that may pass (throttling, a service
/// unavailable) is tried again with the whole start (`Progress::Retry`), since it started
/// nothing, and another delivery of the same start may be recording its build at that moment.
/// Any other fails the action, as do errors that are not the service's answer: the SDK has
/// tried those already, and among them are credentials that cannot be had (an action's
/// `roleArn` that cannot be assumed), which no retry mends.
fn start_failed(error: CallError) -> Progress {
    if error.transient && error.answered {
        Progress::Retry(format!("{error}; the start is tried again"))
    } else {
        error.failed()
    }
}

/// A start's input that could not be had: a call to S3 is told apart as [`start_failed`] tells
/// StartBuild's, so that a delivery that met throttling while copying an input to the action's
/// region, or reading a clone reference, does not fail an action another delivery is starting.
fn input_failed(error: InputError) -> Progress {
    match error {
        InputError::Call { doing, error } => start_failed(CallError { message: format!("{doing}: {error}"), ..error }),
        InputError::Action(error) => failed(error),
    }
}

/// The variables of a Commands action, as CodeBuild takes them.
fn commands_variables(dispatch: &pipewright_core::engine::Dispatch) -> Vec<BuildVariable> {
    dispatch
        .environment_variables
        .iter()
        .map(|v| BuildVariable {
            name: v.name.clone(),
            value: v.value.clone(),
            kind: if v.kind == "SECRETS_MANAGER" { VariableType::SecretsManager } else { VariableType::Plaintext },
        })
        .collect()
}

/// A presigned GET of one version of `bucket/key`: the object as it is now, whatever is
/// written at its key later (docs/security.md, "Commands actions").
async fn input_url(step: &Step<'_>, bucket: &str, key: &str, seconds: u64) -> Result<String, CallError> {
    let s3 = &step.regional.s3;
    let head = s3.head_object().bucket(bucket).key(key).send().await.map_err(|e| CallError::of("HeadObject", &e))?;
    let config =
        aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(seconds)).map_err(|e| {
            CallError { code: None, message: format!("cannot presign {key}: {e}"), transient: false, answered: false }
        })?;
    let request = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(head.version_id().map(String::from))
        .presigned(config)
        .await
        .map_err(|e| CallError::of("GetObject (presign)", &e))?;
    Ok(request.uri().to_string())
}

/// A Commands action's build: the stack's Commands project, the action's commands after the
/// prelude that fetches its inputs, its outputs staged.
async fn start_commands(step: &Step<'_>, commands_project: Option<&str>) -> Progress {
    let dispatch = &step.job.dispatch;
    let Some(project) = commands_project else {
        return failed(configuration_error(
            "Commands actions run in the stack's CodeBuild project, and this deployment names none (PIPEWRIGHT_COMMANDS_PROJECT, docs/deploy.md)",
        ));
    };
    if let Err(message) = decide::commands_region(&step.home.region, &step.clients.region) {
        return failed(configuration_error(message));
    }
    let prelude = match decide::input_prelude(dispatch) {
        Ok(prelude) => prelude,
        Err(message) => return failed(configuration_error(message)),
    };
    let buildspec = pipewright_providers::commands_buildspec::commands_buildspec(dispatch, &prelude);
    let seconds = decide::input_url_seconds(dispatch.deadline, crate::now());
    let mut urls = BTreeMap::new();
    for input in &dispatch.input_artifacts {
        let (bucket, key) = match s3_object(step, &input.name).await {
            Ok(object) => object,
            Err(error) => return input_failed(error),
        };
        match input_url(step, &bucket, &key, seconds).await {
            Ok(url) => urls.insert(input.name.clone(), url),
            Err(error) => return start_failed(error),
        };
    }
    let request = match decide::commands_request(dispatch, project, &commands_variables(dispatch), &urls, buildspec) {
        Ok(request) => request,
        Err(message) => return failed(configuration_error(message)),
    };
    let started = match start_build(step, &request).await {
        Err(error) if error.is("IdempotentParameterMismatchException") => {
            match started_for_job(step, project, &dispatch.job_id).await.transpose() {
                Some(found) => found,
                // Another delivery of the job is starting it at this moment, or its build is
                // not listed yet: tried again shortly, when that delivery has recorded the
                // build (this one's job is then no longer live) or the list shows it.
                None => {
                    return Progress::Retry(format!(
                        "StartBuild answered IdempotentParameterMismatchException and no build of job {} is listed yet",
                        dispatch.job_id
                    ));
                }
            }
        }
        started => started,
    };
    match started {
        Ok(build_id) => {
            step.say(&format!("StartBuild {build_id} of project {project}"));
            running(step, &State { build_id, staged: decide::staged_outputs(dispatch) }, "SUBMITTED", 0)
        }
        Err(error) => start_failed(error),
    }
}

/// The build an earlier delivery of job `job_id` started in `project`, found among the
/// project's latest 100 by the job it carries (`decide::JOB_VARIABLE`): that delivery's
/// result was not recorded (it failed after StartBuild), and this one's StartBuild, with the
/// same token but new presigned URLs, was refused as a mismatch.
async fn started_for_job(step: &Step<'_>, project: &str, job_id: &str) -> Result<Option<String>, CallError> {
    let codebuild = &step.clients.codebuild;
    let listed = codebuild
        .list_builds_for_project()
        .project_name(project)
        .sort_order(aws_sdk_codebuild::types::SortOrderType::Descending)
        .send()
        .await
        .map_err(|e| CallError::of("ListBuildsForProject", &e))?;
    let ids: Vec<String> = listed.ids().iter().take(100).cloned().collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let output = codebuild
        .batch_get_builds()
        .set_ids(Some(ids))
        .send()
        .await
        .map_err(|e| CallError::of("BatchGetBuilds", &e))?;
    let builds = output.builds().iter().map(|build| {
        let variables = build.environment().map(|e| e.environment_variables()).unwrap_or_default();
        (build.id().unwrap_or_default(), variables.iter().map(|v| (v.name(), v.value())).collect())
    });
    Ok(decide::started_for_job(builds, job_id).map(String::from))
}

fn variable(v: &BuildVariable) -> Option<EnvironmentVariable> {
    let kind = match v.kind {
        VariableType::Plaintext => EnvironmentVariableType::Plaintext,
        VariableType::ParameterStore => EnvironmentVariableType::ParameterStore,
        VariableType::SecretsManager => EnvironmentVariableType::SecretsManager,
    };
    EnvironmentVariable::builder().name(&v.name).value(&v.value).r#type(kind).build().ok()
}

fn artifacts(target: &ArtifactTarget) -> Option<ProjectArtifacts> {
    ProjectArtifacts::builder()
        .r#type(ArtifactsType::S3)
        .location(&target.bucket)
        .path(&target.path)
        .name(&target.name)
        .packaging(ArtifactPackaging::Zip)
        .namespace_type(aws_sdk_codebuild::types::ArtifactNamespace::None)
        .artifact_identifier(&target.identifier)
        .override_artifact_name(false)
        .encryption_disabled(target.encryption_disabled)
        .build()
        .ok()
}

/// StartBuild, from the request decided in the core.
async fn start_build(step: &Step<'_>, request: &BuildRequest) -> Result<String, CallError> {
    let mut call = step
        .clients
        .codebuild
        .start_build()
        .project_name(&request.project)
        .idempotency_token(&request.idempotency_token)
        .set_environment_variables_override(Some(request.environment.iter().filter_map(variable).collect()))
        .set_buildspec_override(request.buildspec.clone())
        .set_encryption_key_override(request.encryption_key.clone());
    call = match (&request.git_source, &request.source) {
        (Some(git), _) => {
            let call = call
                .source_type_override(SourceType::from(git.source_type.as_str()))
                .source_location_override(&git.location)
                .source_version(&git.version);
            match git.connection.as_ref().and_then(|arn| {
                SourceAuth::builder().r#type(SourceAuthType::Codeconnections).resource(arn).build().ok()
            }) {
                Some(auth) => call.source_auth_override(auth),
                None => call,
            }
        }
        (None, Some(location)) => call.source_type_override(SourceType::S3).source_location_override(location),
        (None, None) => call.source_type_override(SourceType::NoSource),
    };
    let secondary: Vec<ProjectSource> = request
        .secondary_sources
        .iter()
        .filter_map(|s| {
            ProjectSource::builder()
                .r#type(SourceType::S3)
                .location(&s.location)
                .source_identifier(&s.identifier)
                .build()
                .ok()
        })
        .collect();
    if !secondary.is_empty() {
        call = call.set_secondary_sources_override(Some(secondary));
    }
    call = match request.artifacts.as_ref().and_then(artifacts) {
        Some(primary) => call.artifacts_override(primary),
        None => match ProjectArtifacts::builder().r#type(ArtifactsType::NoArtifacts).build() {
            Ok(none) => call.artifacts_override(none),
            Err(_) => call,
        },
    };
    if !request.secondary_artifacts.is_empty() {
        call = call
            .set_secondary_artifacts_override(Some(request.secondary_artifacts.iter().filter_map(artifacts).collect()));
    }
    let output = call.send().await.map_err(|e| CallError::of("StartBuild", &e))?;
    output.build_value().and_then(|b| b.id()).map(String::from).ok_or_else(|| CallError {
        code: None,
        message: "StartBuild answered no build id".to_string(),
        transient: false,
        answered: true,
    })
}

pub async fn start(step: &Step<'_>, kind: ProviderKind, commands_project: Option<&str>) -> Progress {
    if kind == ProviderKind::Commands {
        return start_commands(step, commands_project).await;
    }
    let dispatch = &step.job.dispatch;
    let Some(project) = pipewright_core::deploy::config(&dispatch.configuration, "ProjectName") else {
        return failed(configuration_error("configuration ProjectName is required"));
    };
    let variables = match pipewright_providers::codebuild::action_variables(&dispatch.configuration) {
        Ok(variables) => variables,
        Err(message) => return failed(configuration_error(message)),
    };
    let mut objects = BTreeMap::new();
    for input in &dispatch.input_artifacts {
        match s3_object(step, &input.name).await {
            Ok((bucket, key)) => objects.insert(input.name.clone(), format!("{bucket}/{key}")),
            Err(error) => return input_failed(error),
        };
    }
    let mut request = match decide::build_request(dispatch, project, &variables, &objects, None) {
        Ok(request) => request,
        Err(message) => return failed(configuration_error(message)),
    };
    // A clone reference as the primary input: CodeBuild clones the repository itself.
    if let Ok(Some(primary)) = decide::primary_input(dispatch, false) {
        match clone_reference(step, &primary).await {
            Ok(Some(reference)) => match decide::git_source(&reference) {
                Ok(git) => {
                    request.source = None;
                    request.git_source = Some(git);
                }
                Err(message) => return failed(configuration_error(format!("input artifact {primary}: {message}"))),
            },
            Ok(None) => {}
            Err(error) => return input_failed(error),
        }
    }
    match start_build(step, &request).await {
        Ok(build_id) => {
            step.say(&format!("StartBuild {build_id} of project {project}"));
            running(step, &State { build_id, staged: Vec::new() }, "SUBMITTED", 0)
        }
        Err(error) => start_failed(error),
    }
}

/// The clone reference input artifact `name` holds (`CODEBUILD_CLONE_REF`, docs/sources.md,
/// "Full clones"), if it is one. A reference is a zip of one small file: a larger artifact is
/// not read.
async fn clone_reference(step: &Step<'_>, name: &str) -> Result<Option<decide::CloneReference>, InputError> {
    const MOST: i64 = 64 * 1024;
    let Some(location) = step.job.dispatch.input_artifacts.iter().find(|a| a.name == name).map(|a| &a.location) else {
        return Ok(None);
    };
    let bytes = if step.artifacts.in_s3() {
        let s3 = &step.home.s3;
        let head = s3.head_object().bucket(&location.bucket).key(&location.key).send().await.map_err(|e| {
            InputError::call(format!("cannot look at input artifact {name}"), CallError::of("HeadObject", &e))
        })?;
        if head.content_length().unwrap_or(MOST + 1) > MOST {
            return Ok(None);
        }
        let read = |error: CallError| InputError::call(format!("cannot read input artifact {name}"), error);
        let object = s3
            .get_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|e| read(CallError::of("GetObject", &e)))?;
        let body = object.body.collect().await.map_err(|e| {
            // S3 answered; its body was cut short on the way, which the SDK does not try again.
            read(CallError {
                code: None,
                message: format!("GetObject: the body was cut short: {e}"),
                transient: true,
                answered: true,
            })
        })?;
        body.into_bytes().to_vec()
    } else {
        step.artifacts.read(location).await.map_err(|e| {
            InputError::Action(ActionError {
                kind: FailureType::SystemUnavailable,
                message: format!("cannot read input artifact {name}: {e}"),
            })
        })?
    };
    match pipewright_providers::clone_ref::CloneRef::from_zip(&bytes) {
        None => Ok(None),
        Some(Err(message)) => Err(InputError::Action(configuration_error(format!("input artifact {name}: {message}")))),
        Some(Ok(reference)) => Ok(Some(decide::CloneReference {
            clone_url: reference.clone_url,
            commit: reference.commit,
            provider_type: reference.provider_type,
            connection_arn: reference.connection_arn,
        })),
    }
}

/// Copies a Commands build's staged outputs to the engine's keys, encrypted as the store
/// writes (docs/security.md, "Commands actions"). Copying again gives the same artifacts, so a
/// look that fails part-way is simply looked at again.
async fn copy_staged(step: &Step<'_>, staged: &[StagedOutput]) -> Result<(), CallError> {
    let kms = step.job.dispatch.encryption_key.as_ref().map(|k| k.id.as_str()).filter(|id| !id.is_empty());
    for output in staged {
        crate::artifacts::server_side_copy(&step.regional.s3, &output.staged, &output.location, kms).await?;
    }
    Ok(())
}

/// The build as the core reads it.
fn view(build: &aws_sdk_codebuild::types::Build) -> BuildView {
    BuildView {
        id: build.id().unwrap_or_default().to_string(),
        status: build.build_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
        current_phase: build.current_phase().map(String::from),
        phases: build
            .phases()
            .iter()
            .map(|p| PhaseView {
                phase_type: p.phase_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                status: p.phase_status().map(|s| s.as_str().to_string()),
                contexts: p
                    .contexts()
                    .iter()
                    .map(|c| {
                        (c.status_code().unwrap_or_default().to_string(), c.message().unwrap_or_default().to_string())
                    })
                    .collect(),
            })
            .collect(),
        exported: build
            .exported_environment_variables()
            .iter()
            .map(|v| (v.name().unwrap_or_default().to_string(), v.value().unwrap_or_default().to_string()))
            .collect(),
    }
}

pub async fn poll(step: &Step<'_>, waiting: &Waiting) -> Progress {
    let state: State = match serde_json::from_value(waiting.state.clone()) {
        Ok(state) => state,
        Err(error) => return Progress::failed(FailureType::JobFailed, format!("unreadable wait state: {error}")),
    };
    let polls = waiting.polls + 1;
    let build = match read_build(step, &state.build_id).await {
        Ok(Some(build)) => build,
        Ok(None) => {
            return Progress::failed(FailureType::JobFailed, format!("build {} is not found", state.build_id));
        }
        Err(error) if error.transient => return wait(step, &state, "(BatchGetBuilds failed; looking again)", polls),
        Err(error) => return error.failed(),
    };
    let url = console_url(step, &state.build_id);
    match decide::build_state(&view(&build)) {
        BuildState::Running(phase) => running(step, &state, &phase, polls),
        BuildState::Succeeded { output_variables } => {
            if let Err(error) = copy_staged(step, &state.staged).await {
                return if error.transient {
                    wait(step, &state, "(its outputs could not be copied yet; looking again)", polls)
                } else {
                    Progress::failed(
                        FailureType::JobFailed,
                        format!("the outputs of build {} cannot be copied: {}", state.build_id, error.message),
                    )
                };
            }
            let summary = format!("build {} succeeded", state.build_id);
            step.say(&summary);
            Progress::Finished(Outcome::Succeeded {
                output_variables,
                summary,
                external_execution_url: url,
                revision: None,
            })
        }
        BuildState::Failed(message) => {
            step.say(&message);
            Progress::failed(FailureType::JobFailed, message)
        }
    }
}

/// Whether the build of `waiting` has ended (one BatchGetBuilds, nothing copied); `None` when
/// it cannot be read now.
pub async fn has_ended(step: &Step<'_>, waiting: &Waiting) -> Option<bool> {
    let state: State = serde_json::from_value(waiting.state.clone()).ok()?;
    let build = read_build(step, &state.build_id).await.ok()??;
    Some(!matches!(decide::build_state(&view(&build)), BuildState::Running(_)))
}

/// Build `build_id` as BatchGetBuilds reads it; `None` when CodeBuild does not know it.
async fn read_build(step: &Step<'_>, build_id: &str) -> Result<Option<aws_sdk_codebuild::types::Build>, CallError> {
    let output = step
        .clients
        .codebuild
        .batch_get_builds()
        .ids(build_id)
        .send()
        .await
        .map_err(|error| CallError::of("BatchGetBuilds", &error))?;
    Ok(output.builds.unwrap_or_default().into_iter().find(|build| build.id() == Some(build_id)))
}

/// StopBuild, for an action abandoned while its build runs. A build that already ended is
/// not an error.
pub async fn stop(clients: &crate::clients::Clients, build_id: &str) -> Result<(), String> {
    match clients.codebuild.stop_build().id(build_id).send().await {
        Ok(_) => Ok(()),
        Err(error) => {
            let error = CallError::of("StopBuild", &error);
            if error.is("InvalidInputException") { Ok(()) } else { Err(error.message) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_error(code: Option<&str>, transient: bool) -> CallError {
        CallError {
            code: code.map(String::from),
            message: "StartBuild: no".into(),
            transient,
            answered: code.is_some(),
        }
    }

    #[test]
    fn a_start_retries_a_service_answer_that_may_pass_and_fails_on_anything_else() {
        assert!(matches!(start_failed(call_error(Some("ThrottlingException"), true)), Progress::Retry(_)));
        let refused = start_failed(call_error(Some("AccessDeniedException"), false));
        assert!(matches!(
            refused,
            Progress::Finished(Outcome::Failed(ActionError { kind: FailureType::PermissionError, .. }))
        ));
        // Not the service's answer (credentials that cannot be had, a connection that failed
        // after the SDK's tries): no retry mends a role that cannot be assumed.
        assert!(matches!(start_failed(call_error(None, true)), Progress::Finished(Outcome::Failed(_))));
        // A service's answer without a code (a HEAD's 503) that may pass is tried again.
        let unavailable = CallError { code: None, message: "HeadObject: 503".into(), transient: true, answered: true };
        assert!(matches!(start_failed(unavailable), Progress::Retry(_)));
    }
}
