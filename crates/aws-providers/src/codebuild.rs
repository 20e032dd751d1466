//! Builds on CodeBuild (docs/providers.md, "CodeBuild on AWS"): a CodeBuild action starts a
//! build of its project, a Commands action one of the stack's Commands project with its
//! commands as the buildspec (docs/security.md, "Commands actions"). StartBuild carries the
//! inputs as S3 source overrides, the outputs as S3 artifact overrides and an idempotency
//! token of the job; then the build is looked at with BatchGetBuilds until it ends.

use std::collections::BTreeMap;

use aws_sdk_codebuild::types::{
    ArtifactPackaging, ArtifactsType, EnvironmentVariable, EnvironmentVariableType, ProjectArtifacts, ProjectSource,
    SourceType,
};
use serde::{Deserialize, Serialize};

use pipewright_core::build_project::{BuildVariable, VariableType};
use pipewright_core::deploy::codebuild::{
    self as decide, ArtifactTarget, BuildRequest, BuildState, BuildView, PhaseView,
};
use pipewright_core::engine::FailureType;
use pipewright_core::providers::ProviderKind;
use pipewright_providers::Outcome;
use pipewright_providers::deploy::{Progress, Waiting, configuration_error};

use crate::artifacts::s3_object;
use crate::errors::CallError;
use crate::{Step, waiting};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    build_id: String,
}

fn console_url(step: &Step<'_>, build_id: &str) -> Option<String> {
    step.clients.on_aws.then(|| decide::console_url(&step.clients.region, build_id))
}

fn wait(step: &Step<'_>, state: &State, phase: &str, polls: u32) -> Progress {
    waiting(
        serde_json::to_value(state).unwrap_or_default(),
        &state.build_id,
        format!("build {} {phase}", state.build_id),
        polls,
        console_url(step, &state.build_id),
    )
}

fn failed(error: pipewright_providers::ActionError) -> Progress {
    Progress::Finished(Outcome::Failed(error))
}

/// The project, variables and buildspec of the job: the action's own project, or for a
/// Commands action the stack's Commands project.
fn what_to_build(
    step: &Step<'_>,
    kind: ProviderKind,
    commands_project: Option<&str>,
) -> Result<(String, Vec<BuildVariable>, Option<String>), pipewright_providers::ActionError> {
    let dispatch = &step.job.dispatch;
    if kind == ProviderKind::Commands {
        let project = commands_project.ok_or_else(|| {
            configuration_error(
                "Commands actions run in the stack's CodeBuild project, and this deployment names none (PIPEWRIGHT_COMMANDS_PROJECT, docs/deploy.md)",
            )
        })?;
        let variables = dispatch
            .environment_variables
            .iter()
            .map(|v| BuildVariable {
                name: v.name.clone(),
                value: v.value.clone(),
                kind: if v.kind == "SECRETS_MANAGER" { VariableType::SecretsManager } else { VariableType::Plaintext },
            })
            .collect();
        let buildspec = pipewright_providers::commands_buildspec::commands_buildspec(dispatch);
        return Ok((project.to_string(), variables, Some(buildspec)));
    }
    let project = pipewright_core::deploy::config(&dispatch.configuration, "ProjectName")
        .ok_or_else(|| configuration_error("configuration ProjectName is required"))?;
    let variables =
        pipewright_providers::codebuild::action_variables(&dispatch.configuration).map_err(configuration_error)?;
    Ok((project.to_string(), variables, None))
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
    call = match &request.source {
        Some(location) => call.source_type_override(SourceType::S3).source_location_override(location),
        None => call.source_type_override(SourceType::NoSource),
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
    })
}

pub async fn start(step: &Step<'_>, kind: ProviderKind, commands_project: Option<&str>) -> Progress {
    let dispatch = &step.job.dispatch;
    let (project, variables, buildspec) = match what_to_build(step, kind, commands_project) {
        Ok(what) => what,
        Err(error) => return failed(error),
    };
    let mut objects = BTreeMap::new();
    for input in &dispatch.input_artifacts {
        match s3_object(step, &input.name).await {
            Ok((bucket, key)) => objects.insert(input.name.clone(), format!("{bucket}/{key}")),
            Err(error) => return failed(error),
        };
    }
    let request = match decide::build_request(dispatch, &project, &variables, &objects, buildspec) {
        Ok(request) => request,
        Err(message) => return failed(configuration_error(message)),
    };
    match start_build(step, &request).await {
        Ok(build_id) => {
            step.say(&format!("StartBuild {build_id} of project {project}"));
            wait(step, &State { build_id }, "SUBMITTED", 0)
        }
        Err(error) => error.failed(),
    }
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
    let output = match step.clients.codebuild.batch_get_builds().ids(&state.build_id).send().await {
        Ok(output) => output,
        Err(error) => {
            let error = CallError::of("BatchGetBuilds", &error);
            return if error.transient {
                wait(step, &state, "(BatchGetBuilds failed; looking again)", polls)
            } else {
                error.failed()
            };
        }
    };
    let Some(build) = output.builds().iter().find(|b| b.id() == Some(state.build_id.as_str())) else {
        return Progress::failed(FailureType::JobFailed, format!("build {} is not found", state.build_id));
    };
    let url = console_url(step, &state.build_id);
    match decide::build_state(&view(build)) {
        BuildState::Running(phase) => wait(step, &state, &phase, polls),
        BuildState::Succeeded { output_variables } => {
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
