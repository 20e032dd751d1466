//! CodeBuild builds on AWS, decided without I/O (docs/providers.md, "CodeBuild on AWS"): the
//! StartBuild request for a CodeBuild action or a Commands action, a build's status and
//! phases as the action's result, its exported variables as output variables, its console
//! link, and the job a "CodeBuild Build State Change" event is about.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::build_project::{BuildVariable, VariableType};
use crate::engine::{ArtifactLocation, Dispatch, MAX_OUTPUT_VARIABLES_BYTES};

use super::config;

/// The variables every build Pipewright starts carries, so that its state-change event names
/// the execution it belongs to (docs/providers.md, "CodeBuild on AWS"). The same names the
/// local Commands action sets.
pub const PIPELINE_VARIABLE: &str = "CODEPIPELINE_PIPELINE_NAME";
pub const EXECUTION_VARIABLE: &str = "CODEPIPELINE_EXECUTION_ID";

/// An S3 artifact a build writes (`artifactsOverride`, `secondaryArtifactsOverride`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactTarget {
    /// The output artifact's name: the buildspec's `secondary-artifacts` key.
    pub identifier: String,
    pub bucket: String,
    /// The key without its last segment.
    pub path: String,
    /// The key's last segment.
    pub name: String,
}

/// A secondary source: the input artifact's name and its S3 object (`bucket/key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondarySource {
    pub identifier: String,
    pub location: String,
}

/// Everything StartBuild is sent, for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    pub project: String,
    /// The primary input's object, `bucket/key` (`sourceTypeOverride=S3`); `None` when the
    /// action has no input (`NO_SOURCE`).
    pub source: Option<String>,
    pub secondary_sources: Vec<SecondarySource>,
    /// The first output (`artifactsOverride`); `None` is `NO_ARTIFACTS`.
    pub artifacts: Option<ArtifactTarget>,
    pub secondary_artifacts: Vec<ArtifactTarget>,
    pub environment: Vec<BuildVariable>,
    /// `buildspecOverride`: a Commands action's generated buildspec.
    pub buildspec: Option<String>,
    pub encryption_key: Option<String>,
    /// The same for every delivery of the job, so that a redelivered dispatch starts one build.
    pub idempotency_token: String,
}

/// `[A-Za-z0-9_]`, as CodeBuild's source and artifact identifiers must be.
fn valid_identifier(name: &str) -> bool {
    !name.is_empty() && name.len() < 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn target(name: &str, location: &ArtifactLocation) -> ArtifactTarget {
    let (path, file) = location.key.rsplit_once('/').unwrap_or(("", location.key.as_str()));
    ArtifactTarget {
        identifier: name.to_string(),
        bucket: location.bucket.clone(),
        path: path.to_string(),
        name: file.to_string(),
    }
}

/// The StartBuild request of `dispatch` against `project`. `variables` are the action's
/// (a CodeBuild action's `EnvironmentVariables`, a Commands action's environment), resolved;
/// `input_objects` maps each input artifact to the S3 object (`bucket/key`) CodeBuild reads.
pub fn build_request(
    dispatch: &Dispatch,
    project: &str,
    variables: &[BuildVariable],
    input_objects: &BTreeMap<String, String>,
    buildspec: Option<String>,
) -> Result<BuildRequest, String> {
    let primary = match config(&dispatch.configuration, "PrimarySource") {
        Some(name) => Some(name.to_string()),
        None if dispatch.input_artifacts.len() > 1 => {
            return Err("PrimarySource is required when the action has several input artifacts".to_string());
        }
        None => dispatch.input_artifacts.first().map(|input| input.name.clone()),
    };
    let object = |name: &str| {
        input_objects.get(name).cloned().ok_or_else(|| format!("PrimarySource {name} is not an input of this action"))
    };
    let source = primary.as_deref().map(object).transpose()?;
    let mut secondary_sources = Vec::new();
    for input in dispatch.input_artifacts.iter().filter(|input| Some(&input.name) != primary.as_ref()) {
        if !valid_identifier(&input.name) {
            return Err(format!(
                "input artifact {} cannot be a secondary source of a build: CodeBuild's source identifiers are letters, digits and _ only",
                input.name
            ));
        }
        secondary_sources.push(SecondarySource { identifier: input.name.clone(), location: object(&input.name)? });
    }
    let mut outputs = dispatch.output_artifacts.iter().map(|output| target(&output.name, &output.location));
    let artifacts = outputs.next();
    let secondary_artifacts: Vec<ArtifactTarget> = outputs.collect();
    if let Some(bad) = secondary_artifacts.iter().find(|a| !valid_identifier(&a.identifier)) {
        return Err(format!(
            "output artifact {} cannot be a secondary artifact of a build: CodeBuild's artifact identifiers are letters, digits and _ only",
            bad.identifier
        ));
    }
    // Ours last and alone: the event of the build must name this execution.
    let ours = [PIPELINE_VARIABLE, EXECUTION_VARIABLE];
    let mut environment: Vec<BuildVariable> =
        variables.iter().filter(|v| !ours.contains(&v.name.as_str())).cloned().collect();
    for (name, value) in ours.iter().zip([&dispatch.pipeline, &dispatch.execution_id]) {
        environment.push(BuildVariable { name: name.to_string(), value: value.clone(), kind: VariableType::Plaintext });
    }
    Ok(BuildRequest {
        project: project.to_string(),
        source,
        secondary_sources,
        artifacts,
        secondary_artifacts,
        environment,
        buildspec,
        encryption_key: dispatch.encryption_key.as_ref().map(|key| key.id.clone()).filter(|id| !id.is_empty()),
        idempotency_token: super::client_token(&dispatch.job_id, "build"),
    })
}

/// One phase of a build (`Build.phases[]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhaseView {
    pub phase_type: String,
    pub status: Option<String>,
    /// `contexts[]`: (status code, message).
    pub contexts: Vec<(String, String)>,
}

/// What the action needs of a build (BatchGetBuilds' `Build`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildView {
    pub id: String,
    pub status: String,
    pub current_phase: Option<String>,
    pub phases: Vec<PhaseView>,
    pub exported: Vec<(String, String)>,
}

/// Where a build stands, for the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildState {
    /// Still running, in this phase.
    Running(String),
    Succeeded {
        output_variables: BTreeMap<String, String>,
    },
    /// FAILED, FAULT, TIMED_OUT or STOPPED, with CodePipeline's message.
    Failed(String),
}

const FAILED_PHASE: &[&str] = &["FAILED", "FAULT", "TIMED_OUT", "STOPPED", "CLIENT_ERROR"];

/// The build's state. A failure reads as CodePipeline's: `Build terminated with state:
/// FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, Message: …` (docs/reference/
/// codebuild.md §7.4); the phase is the first that did not succeed, else the phase the build
/// was in (a build stopped between phases).
pub fn build_state(build: &BuildView) -> BuildState {
    match build.status.as_str() {
        "SUCCEEDED" => {
            // Published only when the build succeeds (docs/reference/codebuild.md §7.5); a
            // listed name never set is left out, as the local runner does.
            let output_variables: BTreeMap<String, String> =
                build.exported.iter().filter(|(_, v)| !v.is_empty()).cloned().collect();
            // Over CodePipeline's limit the engine would refuse the success: fail, saying why.
            let size: usize = output_variables.iter().map(|(k, v)| k.len() + v.len()).sum();
            if size > MAX_OUTPUT_VARIABLES_BYTES {
                return BuildState::Failed(format!(
                    "output variables of {size} bytes exceed the limit of {MAX_OUTPUT_VARIABLES_BYTES} bytes"
                ));
            }
            BuildState::Succeeded { output_variables }
        }
        "IN_PROGRESS" | "" => {
            BuildState::Running(build.current_phase.clone().unwrap_or_else(|| "SUBMITTED".to_string()))
        }
        status => {
            let failed = build.phases.iter().find(|p| p.status.as_deref().is_some_and(|s| FAILED_PHASE.contains(&s)));
            let phase = failed
                .map(|p| p.phase_type.clone())
                .or_else(|| build.current_phase.clone())
                .unwrap_or_else(|| "UNKNOWN".to_string());
            let mut message = format!("Build terminated with state: {status}. Phase: {phase}");
            if let Some((code, text)) =
                failed.and_then(|p| p.contexts.iter().find(|(c, m)| !c.is_empty() || !m.is_empty()))
            {
                message.push_str(&format!(", Code: {code}, Message: {text}"));
            }
            BuildState::Failed(message)
        }
    }
}

/// The build's page in the CodeBuild console.
pub fn console_url(region: &str, build_id: &str) -> String {
    format!("https://console.aws.amazon.com/codebuild/home?region={region}#/builds/{build_id}/view/new")
}

/// `project:uuid` from a build ARN (`arn:aws:codebuild:r:a:build/project:uuid`) or an id.
pub fn build_id(arn_or_id: &str) -> &str {
    arn_or_id.split_once(":build/").map_or(arn_or_id, |(_, id)| id)
}

/// The job a "CodeBuild Build State Change" event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildEvent {
    pub build_id: String,
    pub status: String,
    pub pipeline: String,
    pub execution_id: String,
}

/// Reads a Build State Change `detail`; `None` for a build Pipewright did not start (no
/// execution among its variables) or a detail without a build id.
pub fn build_event(detail: &Value) -> Option<BuildEvent> {
    let build = detail.get("build-id").and_then(Value::as_str)?;
    let variables = detail.pointer("/additional-information/environment/environment-variables")?.as_array()?;
    let variable = |wanted: &str| {
        variables
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(wanted))
            .and_then(|v| v.get("value").and_then(Value::as_str))
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    Some(BuildEvent {
        build_id: build_id(build).to_string(),
        status: detail.get("build-status").and_then(Value::as_str).unwrap_or_default().to_string(),
        pipeline: variable(PIPELINE_VARIABLE)?,
        execution_id: variable(EXECUTION_VARIABLE)?,
    })
}

/// Whether a build status is final.
pub fn is_final(status: &str) -> bool {
    matches!(status, "SUCCEEDED" | "FAILED" | "FAULT" | "TIMED_OUT" | "STOPPED")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declaration::{EncryptionKey, EncryptionKeyType};
    use crate::engine::{ArtifactRef, OutputArtifactRef};
    use serde_json::json;

    fn location(key: &str) -> ArtifactLocation {
        ArtifactLocation { bucket: "store".into(), key: key.into() }
    }

    fn dispatch(inputs: &[&str], outputs: &[&str], configuration: &[(&str, &str)]) -> Dispatch {
        let mut dispatch: Dispatch = serde_json::from_value(json!({
            "id": "d", "pipeline": "shop", "pipelineVersion": 1, "executionId": "e-1", "stage": "Build",
            "action": "Compile", "attempt": 1, "actionExecutionId": "a-1", "jobId": "job-1", "jobSequence": 1,
            "actionType": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
            "region": null, "roleArn": null, "namespace": null, "configuration": {}, "commands": [],
            "environmentVariables": [], "outputVariables": [], "inputArtifacts": [], "outputArtifacts": [],
            "encryptionKey": null, "continuationToken": null, "sourceRevision": null, "deadline": 0
        }))
        .unwrap();
        dispatch.input_artifacts = inputs
            .iter()
            .map(|n| ArtifactRef { name: n.to_string(), location: location(&format!("shop/{n}/k")) })
            .collect();
        dispatch.output_artifacts = outputs
            .iter()
            .map(|n| OutputArtifactRef {
                name: n.to_string(),
                location: location(&format!("shop/{n}/o1")),
                files: vec![],
            })
            .collect();
        dispatch.configuration = configuration.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        dispatch
    }

    fn objects(dispatch: &Dispatch) -> BTreeMap<String, String> {
        dispatch
            .input_artifacts
            .iter()
            .map(|a| (a.name.clone(), format!("{}/{}", a.location.bucket, a.location.key)))
            .collect()
    }

    #[test]
    fn the_request_overrides_source_artifacts_and_variables() {
        let mut d = dispatch(&["Code", "Tools"], &["Built", "Docs"], &[("PrimarySource", "Code")]);
        d.encryption_key =
            Some(EncryptionKey { id: "arn:aws:kms:us-east-1:1:key/k".into(), key_type: EncryptionKeyType::Kms });
        let variables = vec![
            BuildVariable { name: "STAGE".into(), value: "prod".into(), kind: VariableType::Plaintext },
            BuildVariable { name: EXECUTION_VARIABLE.into(), value: "forged".into(), kind: VariableType::Plaintext },
        ];
        let request = build_request(&d, "shop-build", &variables, &objects(&d), None).unwrap();
        assert_eq!(request.source.as_deref(), Some("store/shop/Code/k"));
        assert_eq!(
            request.secondary_sources,
            vec![SecondarySource { identifier: "Tools".into(), location: "store/shop/Tools/k".into() }]
        );
        let built = request.artifacts.unwrap();
        assert_eq!((built.bucket.as_str(), built.path.as_str(), built.name.as_str()), ("store", "shop/Built", "o1"));
        assert_eq!(request.secondary_artifacts[0].identifier, "Docs");
        let names: Vec<(&str, &str)> =
            request.environment.iter().map(|v| (v.name.as_str(), v.value.as_str())).collect();
        assert_eq!(names, vec![("STAGE", "prod"), (PIPELINE_VARIABLE, "shop"), (EXECUTION_VARIABLE, "e-1")]);
        assert_eq!(request.encryption_key.as_deref(), Some("arn:aws:kms:us-east-1:1:key/k"));
        assert_eq!(
            request.idempotency_token,
            build_request(&d, "shop-build", &[], &objects(&d), None).unwrap().idempotency_token
        );
    }

    #[test]
    fn inputs_that_cannot_be_sources_are_refused_by_name() {
        let d = dispatch(&["Code", "Tools"], &[], &[]);
        assert!(build_request(&d, "p", &[], &objects(&d), None).unwrap_err().contains("PrimarySource is required"));
        let d = dispatch(&["Code", "my-tools"], &[], &[("PrimarySource", "Code")]);
        assert!(build_request(&d, "p", &[], &objects(&d), None).unwrap_err().contains("my-tools"));
        let d = dispatch(&[], &[], &[]);
        let request = build_request(&d, "p", &[], &objects(&d), None).unwrap();
        assert_eq!((request.source, request.artifacts), (None, None));
    }

    fn phase(kind: &str, status: &str, context: Option<(&str, &str)>) -> PhaseView {
        PhaseView {
            phase_type: kind.into(),
            status: Some(status.into()),
            contexts: context.map(|(c, m)| vec![(c.to_string(), m.to_string())]).unwrap_or_default(),
        }
    }

    #[test]
    fn a_failed_build_names_its_phase_and_reason() {
        let build = BuildView {
            id: "p:1".into(),
            status: "FAILED".into(),
            current_phase: Some("COMPLETED".into()),
            phases: vec![
                phase("INSTALL", "SUCCEEDED", None),
                phase(
                    "BUILD",
                    "FAILED",
                    Some(("COMMAND_EXECUTION_ERROR", "Error while executing command: make. Reason: exit status 2")),
                ),
                phase("POST_BUILD", "SUCCEEDED", None),
            ],
            exported: vec![("V".into(), "1".into())],
        };
        assert_eq!(
            build_state(&build),
            BuildState::Failed(
                "Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, Message: Error while executing command: make. Reason: exit status 2".into()
            )
        );
        for status in ["FAULT", "TIMED_OUT", "STOPPED"] {
            let stopped = BuildView {
                status: status.into(),
                current_phase: Some("PRE_BUILD".into()),
                phases: vec![],
                ..build.clone()
            };
            assert_eq!(
                build_state(&stopped),
                BuildState::Failed(format!("Build terminated with state: {status}. Phase: PRE_BUILD"))
            );
        }
    }

    #[test]
    fn a_build_in_progress_waits_and_a_success_exports_its_variables() {
        let running = BuildView {
            id: "p:1".into(),
            status: "IN_PROGRESS".into(),
            current_phase: Some("BUILD".into()),
            ..BuildView::default()
        };
        assert_eq!(build_state(&running), BuildState::Running("BUILD".into()));
        let done =
            BuildView { status: "SUCCEEDED".into(), exported: vec![("IMAGE_TAG".into(), "abc".into())], ..running };
        assert_eq!(
            build_state(&done),
            BuildState::Succeeded { output_variables: BTreeMap::from([("IMAGE_TAG".to_string(), "abc".to_string())]) }
        );
        let big = BuildView { exported: vec![("B".into(), "x".repeat(MAX_OUTPUT_VARIABLES_BYTES))], ..done };
        assert_eq!(
            build_state(&big),
            BuildState::Failed(format!(
                "output variables of {} bytes exceed the limit of 122880 bytes",
                MAX_OUTPUT_VARIABLES_BYTES + 1
            ))
        );
    }

    #[test]
    fn an_event_names_the_execution_through_the_build_s_variables() {
        let detail = json!({
            "build-status": "SUCCEEDED", "project-name": "shop-build",
            "build-id": "arn:aws:codebuild:us-east-1:123456789012:build/shop-build:0b7c",
            "additional-information": {"environment": {"environment-variables": [
                {"name": "STAGE", "value": "prod", "type": "PLAINTEXT"},
                {"name": PIPELINE_VARIABLE, "value": "shop", "type": "PLAINTEXT"},
                {"name": EXECUTION_VARIABLE, "value": "e-1", "type": "PLAINTEXT"}
            ]}}
        });
        assert_eq!(
            build_event(&detail),
            Some(BuildEvent {
                build_id: "shop-build:0b7c".into(),
                status: "SUCCEEDED".into(),
                pipeline: "shop".into(),
                execution_id: "e-1".into()
            })
        );
        let foreign = json!({"build-id": "arn:aws:codebuild:r:a:build/other:1", "additional-information": {"environment": {"environment-variables": []}}});
        assert_eq!(build_event(&foreign), None, "a build Pipewright did not start");
        assert_eq!(build_id("other:1"), "other:1");
        assert!(console_url("eu-west-1", "p:1").ends_with("region=eu-west-1#/builds/p:1/view/new"));
    }
}
