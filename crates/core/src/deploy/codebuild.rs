//! CodeBuild builds on AWS, decided without I/O (docs/providers.md, "CodeBuild on AWS"): the
//! StartBuild request for a CodeBuild action or a Commands action, a build's status and
//! phases as the action's result, its exported variables as output variables, its console
//! link, and the job a "CodeBuild Build State Change" event is about.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::build_project::{BuildVariable, VariableType};
use crate::engine::{ArtifactLocation, Dispatch, MAX_OUTPUT_VARIABLES_BYTES};
use crate::time::Timestamp;

use super::config;

/// The variables every build Pipewright starts carries, so that its state-change event names
/// the execution it belongs to (docs/providers.md, "CodeBuild on AWS"). The same names the
/// local Commands action sets.
pub const PIPELINE_VARIABLE: &str = "CODEPIPELINE_PIPELINE_NAME";
pub const EXECUTION_VARIABLE: &str = "CODEPIPELINE_EXECUTION_ID";
/// The job a Commands build runs for. Its request carries presigned URLs that differ at every
/// delivery of the job, so a second StartBuild within the idempotency token's 5 minutes is
/// answered `IdempotentParameterMismatchException` rather than with the build: the build is
/// then found among the project's latest by this variable ([`started_for_job`]).
pub const JOB_VARIABLE: &str = "PIPEWRIGHT_JOB_ID";

/// Whether `dispatch` is a look at a build's wait (a CodeBuild or Commands action's job that
/// carries the wait as its continuation token). Such a look runs without a claim: it reads
/// the build, and once the build has ended copies its staged outputs onto the same keys,
/// which a second copy leaves with the same bytes; of two looks run at once, the first to
/// commit its result wins and the other's is stale. The claim, a write per look, guarded
/// nothing (docs/providers.md, "CodeBuild on AWS"). A build's start holds none either since
/// stop 56: a second StartBuild of the job gets the same build (its idempotency token).
pub fn is_build_look(dispatch: &Dispatch) -> bool {
    is_build(dispatch) && super::deploy_wait(dispatch).is_some()
}

/// Whether `dispatch` is the first job of a CodeBuild or Commands action, or of a Commands
/// rule: the start of its build, whose wait is not recorded yet.
pub fn is_build_start(dispatch: &Dispatch) -> bool {
    is_build(dispatch) && dispatch.continuation_token.is_none()
}

/// Whether `dispatch` is a job of a CodeBuild or Commands action, or of a Commands rule: one
/// that CodeBuild runs.
pub fn is_build(dispatch: &Dispatch) -> bool {
    crate::rule_types::RuleProvider::kind_of(dispatch).is_some_and(|kind| {
        matches!(kind, crate::providers::ProviderKind::CodeBuild | crate::providers::ProviderKind::Commands)
    })
}

/// Refuses a Commands action whose build would run in `region` when the stack's Commands
/// project is in `home`: the project exists in the stack's region only, and StartBuild
/// elsewhere would find no such project (docs/providers.md §11).
pub fn commands_region(home: &str, region: &str) -> Result<(), String> {
    if home == region {
        return Ok(());
    }
    Err(format!(
        "Commands actions run in the stack's CodeBuild project, in {home}; this action's region is {region} (use a CodeBuild action with a project of that region)"
    ))
}

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
    /// Uploaded without CodeBuild's KMS encryption, so with the bucket's own (SSE-S3): a
    /// Commands build's staged output, which its role needs no key for.
    pub encryption_disabled: bool,
}

/// A secondary source: the input artifact's name and its S3 object (`bucket/key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondarySource {
    pub identifier: String,
    pub location: String,
}

/// A primary source CodeBuild clones itself: a `CODEBUILD_CLONE_REF` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// `sourceTypeOverride`: CODECOMMIT, GITHUB, GITHUB_ENTERPRISE, BITBUCKET, GITLAB or
    /// GITLAB_SELF_MANAGED.
    pub source_type: String,
    /// `sourceLocationOverride`: the clone URL.
    pub location: String,
    /// `sourceVersion`: the commit.
    pub version: String,
    /// `sourceAuthOverride` of type CODECONNECTIONS: the connection's ARN.
    pub connection: Option<String>,
}

/// What a clone reference holds, as the build needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CloneReference {
    pub clone_url: String,
    pub commit: String,
    /// The connection's `ProviderType`, or `CodeCommit`.
    pub provider_type: Option<String>,
    pub connection_arn: Option<String>,
}

/// The git source of a clone reference, as CodePipeline starts a build of one
/// (docs/providers.md, "CodeBuild on AWS"): the host's source type, the clone URL, the commit,
/// and for a connection its ARN as the source's auth.
pub fn git_source(reference: &CloneReference) -> Result<GitSource, String> {
    let source_type = match reference.provider_type.as_deref() {
        None | Some("CodeCommit") => "CODECOMMIT",
        Some("GitHub") => "GITHUB",
        Some("GitHubEnterpriseServer") => "GITHUB_ENTERPRISE",
        Some("Bitbucket") => "BITBUCKET",
        Some("GitLab") => "GITLAB",
        Some("GitLabSelfManaged") => "GITLAB_SELF_MANAGED",
        Some(other) => return Err(format!("a clone reference of provider type {other} cannot be a build's source")),
    };
    if reference.clone_url.is_empty() || reference.commit.is_empty() {
        return Err("the clone reference names no clone URL or no commit".to_string());
    }
    let connection = reference.connection_arn.clone().filter(|arn| !arn.is_empty());
    if source_type != "CODECOMMIT" && connection.is_none() {
        return Err(format!("a {source_type} clone reference names no connection to clone it with"));
    }
    Ok(GitSource {
        source_type: source_type.to_string(),
        location: reference.clone_url.clone(),
        version: reference.commit.clone(),
        connection,
    })
}

/// Everything StartBuild is sent, for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    pub project: String,
    /// The primary input's object, `bucket/key` (`sourceTypeOverride=S3`); `None` when the
    /// action has no input (`NO_SOURCE`).
    pub source: Option<String>,
    /// Instead of `source`: a clone reference's repository, which CodeBuild clones.
    pub git_source: Option<GitSource>,
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
        encryption_disabled: false,
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
    let primary = primary_input(dispatch, false)?;
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
    let environment = with_execution(dispatch, variables.to_vec());
    Ok(BuildRequest {
        project: project.to_string(),
        source,
        git_source: None,
        secondary_sources,
        artifacts,
        secondary_artifacts,
        environment,
        buildspec,
        encryption_key: dispatch.encryption_key.as_ref().map(|key| key.id.clone()).filter(|id| !id.is_empty()),
        idempotency_token: super::client_token(&dispatch.job_id, "build"),
    })
}

/// The prefix of the artifact bucket a Commands build may write to, and nothing else
/// (docs/security.md, "Commands actions"): its outputs land here, at keys derived from the job
/// id, and invoke-action copies them to the engine's keys once the build has succeeded.
pub const STAGED_OUTPUTS_PREFIX: &str = "pipewright-build-outputs";

/// The variable of the `index`th input's presigned URL, in a Commands build.
pub fn input_url_variable(index: usize) -> String {
    format!("PIPEWRIGHT_INPUT_URL_{index}")
}

/// An output of a Commands build: where the build uploads it, where the action's later
/// readers find it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedOutput {
    pub name: String,
    pub staged: ArtifactLocation,
    pub location: ArtifactLocation,
}

/// The outputs of a Commands dispatch, each staged at `<prefix>/<id>.zip`, where the id is
/// derived from the job id (a capability: no build learns another job's) and the output's
/// name.
pub fn staged_outputs(dispatch: &Dispatch) -> Vec<StagedOutput> {
    dispatch
        .output_artifacts
        .iter()
        .map(|output| StagedOutput {
            name: output.name.clone(),
            staged: ArtifactLocation {
                bucket: output.location.bucket.clone(),
                key: format!(
                    "{STAGED_OUTPUTS_PREFIX}/{}.zip",
                    crate::ids::uuid_from(&["build-output", &dispatch.job_id, &output.name])
                ),
            },
            location: output.location.clone(),
        })
        .collect()
}

/// How long a Commands build's input URLs stay valid: until the action's deadline (a build
/// may queue first), plus 5 minutes, within S3's 1 minute to 7 days.
pub fn input_url_seconds(deadline: Timestamp, now: Timestamp) -> u64 {
    let left = (deadline.millis() - now.millis()).max(0) / 1000;
    u64::try_from(left + 300).unwrap_or(300).clamp(60, 7 * 24 * 3600)
}

/// The primary input: `PrimarySource`, else the only input (a CodeBuild action) or the
/// first (a Commands action, as CodePipeline runs it).
pub fn primary_input(dispatch: &Dispatch, first_by_default: bool) -> Result<Option<String>, String> {
    match config(&dispatch.configuration, "PrimarySource") {
        Some(name) => Ok(Some(name.to_string())),
        None if dispatch.input_artifacts.len() > 1 && !first_by_default => {
            Err("PrimarySource is required when the action has several input artifacts".to_string())
        }
        None => Ok(dispatch.input_artifacts.first().map(|input| input.name.clone())),
    }
}

/// The inputs of a Commands dispatch in download order, primary first: (name, directory
/// variable). The primary goes to `CODEBUILD_SRC_DIR`, another input to
/// `CODEBUILD_SRC_DIR_<name>`.
fn commands_inputs(dispatch: &Dispatch) -> Result<Vec<(String, String)>, String> {
    let primary = primary_input(dispatch, true)?;
    let mut inputs = Vec::new();
    if let Some(name) = &primary {
        if !dispatch.input_artifacts.iter().any(|input| &input.name == name) {
            return Err(format!("PrimarySource {name} is not an input of this action"));
        }
        inputs.push((name.clone(), "CODEBUILD_SRC_DIR".to_string()));
    }
    for input in dispatch.input_artifacts.iter().filter(|input| Some(&input.name) != primary.as_ref()) {
        if !valid_identifier(&input.name) {
            return Err(format!(
                "input artifact {} cannot be a secondary input of a build: its directory variable CODEBUILD_SRC_DIR_<name> needs letters, digits and _ only",
                input.name
            ));
        }
        inputs.push((input.name.clone(), format!("CODEBUILD_SRC_DIR_{}", input.name)));
    }
    Ok(inputs)
}

/// The install-phase commands of a Commands build that fetch its inputs, before the user's
/// commands (docs/security.md, "Commands actions"): each input's zip from its presigned URL
/// (the variable [`input_url_variable`] of its place in [`commands_inputs`]) into its
/// directory; then the URLs are unset and the build starts in `CODEBUILD_SRC_DIR`. The URLs
/// are only ever named, so CodeBuild's log of each command shows no URL.
pub fn input_prelude(dispatch: &Dispatch) -> Result<Vec<String>, String> {
    let inputs = commands_inputs(dispatch)?;
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let mut commands = Vec::new();
    for (index, (name, directory)) in inputs.iter().enumerate() {
        if directory != "CODEBUILD_SRC_DIR" {
            commands.push(format!("export {directory}=\"${{CODEBUILD_SRC_DIR%/*}}/src_{name}\""));
        }
        let url = input_url_variable(index);
        commands.push(format!(
            "mkdir -p \"${directory}\" && __pw_zip=\"$(mktemp)\" && curl --fail --silent --show-error --retry 3 --output \"$__pw_zip\" \"${url}\" && unzip -q -o \"$__pw_zip\" -d \"${directory}\" && rm -f \"$__pw_zip\""
        ));
    }
    let urls: Vec<String> = (0..inputs.len()).map(input_url_variable).collect();
    commands.push(format!("unset {} __pw_zip && cd \"$CODEBUILD_SRC_DIR\"", urls.join(" ")));
    Ok(commands)
}

/// The StartBuild request of a Commands dispatch (docs/security.md, "Commands actions"): no
/// source (the buildspec's prelude fetches the inputs from `input_urls`, by input name), the
/// outputs to their [`staged_outputs`] keys, and no KMS key (the staged objects are the
/// bucket's; the copy to the engine's keys encrypts them as the store does).
pub fn commands_request(
    dispatch: &Dispatch,
    project: &str,
    variables: &[BuildVariable],
    input_urls: &BTreeMap<String, String>,
    buildspec: String,
) -> Result<BuildRequest, String> {
    let inputs = commands_inputs(dispatch)?;
    let mut urls = Vec::new();
    for (index, (name, _)) in inputs.iter().enumerate() {
        let url = input_urls.get(name).ok_or_else(|| format!("input artifact {name} has no URL"))?;
        urls.push(BuildVariable { name: input_url_variable(index), value: url.clone(), kind: VariableType::Plaintext });
    }
    let mut targets = staged_outputs(dispatch)
        .into_iter()
        .map(|output| ArtifactTarget { encryption_disabled: true, ..target(&output.name, &output.staged) });
    let artifacts = targets.next();
    let secondary_artifacts: Vec<ArtifactTarget> = targets.collect();
    if let Some(bad) = secondary_artifacts.iter().find(|a| !valid_identifier(&a.identifier)) {
        return Err(format!(
            "output artifact {} cannot be a secondary artifact of a build: CodeBuild's artifact identifiers are letters, digits and _ only",
            bad.identifier
        ));
    }
    let reserved = |name: &str| name.starts_with("PIPEWRIGHT_INPUT_URL_") || name == JOB_VARIABLE;
    let mut environment: Vec<BuildVariable> = variables.iter().filter(|v| !reserved(&v.name)).cloned().collect();
    environment.extend(urls);
    environment.push(BuildVariable {
        name: JOB_VARIABLE.to_string(),
        value: dispatch.job_id.clone(),
        kind: VariableType::Plaintext,
    });
    Ok(BuildRequest {
        project: project.to_string(),
        source: None,
        git_source: None,
        secondary_sources: Vec::new(),
        artifacts,
        secondary_artifacts,
        environment: with_execution(dispatch, environment),
        buildspec: Some(buildspec),
        encryption_key: None,
        idempotency_token: super::client_token(&dispatch.job_id, "build"),
    })
}

/// Of `builds` (an id and its environment variables each, as BatchGetBuilds shows them), the
/// one a start of job `job_id` began.
pub fn started_for_job<'b>(
    builds: impl IntoIterator<Item = (&'b str, Vec<(&'b str, &'b str)>)>,
    job_id: &str,
) -> Option<&'b str> {
    builds
        .into_iter()
        .find(|(_, variables)| variables.iter().any(|(name, value)| *name == JOB_VARIABLE && *value == job_id))
        .map(|(id, _)| id)
}

/// `variables` with the execution's own last and alone: the event of the build must name
/// this execution.
fn with_execution(dispatch: &Dispatch, variables: Vec<BuildVariable>) -> Vec<BuildVariable> {
    let ours = [PIPELINE_VARIABLE, EXECUTION_VARIABLE];
    let mut environment: Vec<BuildVariable> =
        variables.into_iter().filter(|v| !ours.contains(&v.name.as_str())).collect();
    for (name, value) in ours.iter().zip([&dispatch.pipeline, &dispatch.execution_id]) {
        environment.push(BuildVariable { name: name.to_string(), value: value.clone(), kind: VariableType::Plaintext });
    }
    environment
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

/// Whether `execution` holds the result of build `build_id`: an action's attempt or a
/// rule's that ran it and has ended. An event about that build has nothing left to do,
/// whatever else is starting.
pub fn build_recorded(execution: &crate::engine::Execution, build_id: &str) -> bool {
    use crate::engine::{ActionStatus, RuleStatus};
    let ran = |external: &Option<String>| external.as_deref() == Some(build_id);
    let stages = || execution.stages.iter();
    let actions = stages().flat_map(|stage| &stage.actions).flat_map(|action| &action.attempts);
    let rules = stages().flat_map(|stage| &stage.conditions).flat_map(|condition| &condition.rules);
    actions.filter(|a| ran(&a.external_execution_id)).any(|a| a.status != ActionStatus::InProgress)
        || rules.filter(|r| ran(&r.external_execution_id)).any(|r| r.status != RuleStatus::InProgress)
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

/// The build an ended attempt of a CodeBuild or Commands action leaves running, to stop:
/// abandoned (a stop with abandon), or failed at its deadline (the action timed out while the
/// build ran; CodePipeline does not leave it to the project's own timeout). A build that has
/// already ended is no harm: stopping it is a no-op. An attempt that failed before its deadline
/// was failed by its build's own end.
pub fn build_to_stop(attempt: &crate::engine::ActionAttempt) -> Option<&str> {
    use crate::engine::ActionStatus;
    let stops = match attempt.status {
        ActionStatus::Abandoned => true,
        ActionStatus::Failed => attempt.updated_at >= attempt.deadline,
        _ => false,
    };
    attempt.external_execution_id.as_deref().filter(|_| stops)
}

/// Whether the build a start began is left for nobody to wait for when the start's
/// continuation comes back `stale`: its attempt (an action's or a rule's) ended or was
/// replaced while the build was being started, so the engine never learns its id and the
/// abandonment's own stop found none to stop. For an earlier job of a live attempt (a start
/// delivered twice, whose other delivery recorded its build first) only when the attempt
/// records another build than `build_id`: within its 5 minutes the idempotency token gave
/// both deliveries the same build; after them, a second one.
pub fn start_orphaned(stale: &crate::engine::Stale, build_id: &str) -> bool {
    use crate::engine::Stale;
    match stale {
        Stale::ActionFinished { .. } | Stale::OldAttempt { .. } => true,
        Stale::OldJob { recorded, .. } => recorded.as_deref() != Some(build_id),
        _ => false,
    }
}

/// How the minute tick sends again a build's start that is still unrecorded: it holds no
/// claim (a claim cost a write per build), so nothing marks a start as taken and each tick
/// decides from the time alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartResends {
    /// The first resend: work unclaimed this long counts as lost (the tick's grace).
    pub grace_seconds: i64,
    /// Then once per lease: a start still at work (an input copied to another region first,
    /// a function that times out every time) is not sent again every minute.
    pub every_seconds: i64,
    /// How long each turn lasts: ticks within it send the start while it is unrecorded. Two
    /// ticks wide, so that one tick late, lost or busy with the execution's deadlines does not
    /// put the resend off for a whole lease; the second sends it only if the first's
    /// delivery has not recorded the build a minute later.
    pub window_seconds: i64,
}

impl StartResends {
    /// Whether the tick at `now` sends again a start dispatched at `since`: within `window`
    /// from `grace` after it, then from each `every` after that. Within the idempotency
    /// token's 5 minutes a resend gets the same build; after them a second build, stopped
    /// once its wait comes back stale ([`start_orphaned`]).
    pub fn due(&self, since: Timestamp, now: Timestamp) -> bool {
        let elapsed = now.millis().saturating_sub(since.millis());
        let past_grace = elapsed - self.grace_seconds * 1000;
        past_grace >= 0
            && self.every_seconds > 0
            && past_grace % (self.every_seconds * 1000) < self.window_seconds * 1000
    }
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

    #[test]
    fn the_build_a_jobs_start_began_is_found_by_the_job_it_carries() {
        let builds = vec![
            ("p:3", vec![(EXECUTION_VARIABLE, "e1"), (JOB_VARIABLE, "job-b")]),
            ("p:2", vec![(EXECUTION_VARIABLE, "e1"), (JOB_VARIABLE, "job-a")]),
            ("p:1", vec![(EXECUTION_VARIABLE, "e0")]),
        ];
        assert_eq!(started_for_job(builds.clone(), "job-a"), Some("p:2"));
        assert_eq!(started_for_job(builds, "job-c"), None);
    }

    #[test]
    fn a_build_started_for_an_attempt_that_ended_is_orphaned_and_a_duplicate_start_is_not() {
        use crate::engine::Stale;
        assert!(start_orphaned(&Stale::ActionFinished { status: "Abandoned" }, "p:1"));
        assert!(start_orphaned(&Stale::OldAttempt { current: 2, given: 1 }, "p:1"));
        let twin = Stale::OldJob { current: 2, given: 1, recorded: Some("p:1".into()) };
        assert!(!start_orphaned(&twin, "p:1"), "the build the other delivery recorded");
        assert!(start_orphaned(&twin, "p:2"), "a second build, once the token had expired");
        assert!(!start_orphaned(&Stale::DuplicateStart, "p:1"));
    }

    #[test]
    fn a_look_at_a_builds_wait_is_told_from_its_start() {
        let start = dispatch(&["Code"], &["Built"], &[("ProjectName", "p")]);
        assert!(!is_build_look(&start), "a start");
        assert!(is_build_start(&start));
        let mut look = start.clone();
        look.continuation_token = Some(r#"{"externalId":"p:1","pollAfterSeconds":60}"#.into());
        assert!(is_build_look(&look));
        assert!(!is_build_start(&look));
        let mut commands_look = look.clone();
        commands_look.action_type.provider = "Commands".into();
        commands_look.action_type.category = crate::declaration::ActionCategory::Compute;
        assert!(is_build_look(&commands_look));
        let mut deploy_look = look.clone();
        deploy_look.action_type = serde_json::from_value(
            json!({"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"}),
        )
        .unwrap();
        assert!(!is_build_look(&deploy_look), "a deploy's look may act (a change set executed)");
        deploy_look.continuation_token = None;
        assert!(!is_build_start(&deploy_look), "a deploy's start is no build's");
        let mut rule = look;
        rule.condition = Some(crate::engine::ConditionKind::BeforeEntry);
        assert!(!is_build_look(&rule), "a CodeBuild rule is no rule");
        rule.action_type.category = crate::declaration::ActionCategory::parse("Rule");
        rule.action_type.provider = "Commands".into();
        assert!(is_build_look(&rule), "a Commands rule's look at its build");
        rule.action_type.provider = "LambdaInvoke".into();
        assert!(!is_build_look(&rule), "a LambdaInvoke rule's job is not a look");
    }

    #[test]
    fn a_commands_action_runs_in_the_stacks_region_only() {
        assert_eq!(commands_region("us-east-1", "us-east-1"), Ok(()));
        let refused = commands_region("us-east-1", "us-west-2").unwrap_err();
        assert!(refused.contains("in us-east-1") && refused.contains("region is us-west-2"), "{refused}");
    }

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

    fn commands(inputs: &[&str], outputs: &[&str]) -> Dispatch {
        let mut d = dispatch(inputs, outputs, &[]);
        d.action_type.provider = "Commands".into();
        d
    }

    fn urls(d: &Dispatch) -> BTreeMap<String, String> {
        d.input_artifacts.iter().map(|a| (a.name.clone(), format!("https://s3/{}?sig", a.location.key))).collect()
    }

    #[test]
    fn a_commands_build_gets_urls_of_its_inputs_and_writes_to_staged_keys_only() {
        let d = commands(&["Code", "Tools"], &["Built", "Docs"]);
        let forged =
            |name: &str| BuildVariable { name: name.into(), value: "forged".into(), kind: VariableType::Plaintext };
        let variables = vec![forged("PIPEWRIGHT_INPUT_URL_0"), forged(JOB_VARIABLE)];
        let request = commands_request(&d, "pipewright-commands-s", &variables, &urls(&d), "{}".into()).unwrap();
        assert_eq!(
            (request.source.as_ref(), request.secondary_sources.len()),
            (None, 0),
            "no S3 source: the role reads nothing"
        );
        let names: Vec<(&str, &str)> =
            request.environment.iter().map(|v| (v.name.as_str(), v.value.as_str())).collect();
        assert_eq!(
            names,
            vec![
                ("PIPEWRIGHT_INPUT_URL_0", "https://s3/shop/Code/k?sig"),
                ("PIPEWRIGHT_INPUT_URL_1", "https://s3/shop/Tools/k?sig"),
                (JOB_VARIABLE, d.job_id.as_str()),
                (PIPELINE_VARIABLE, "shop"),
                (EXECUTION_VARIABLE, "e-1"),
            ]
        );
        let staged = staged_outputs(&d);
        let built = request.artifacts.unwrap();
        assert_eq!(format!("{}/{}", built.path, built.name), staged[0].staged.key);
        assert!(staged[0].staged.key.starts_with("pipewright-build-outputs/"), "{}", staged[0].staged.key);
        assert_eq!(staged[0].location.key, "shop/Built/o1");
        assert_eq!(request.secondary_artifacts[0].identifier, "Docs");
        assert_ne!(staged[0].staged.key, staged[1].staged.key);
        let mut other_job = d.clone();
        other_job.job_id = "job-2".into();
        assert_ne!(staged_outputs(&other_job)[0].staged.key, staged[0].staged.key, "keys are the job's own");
        assert_eq!(request.encryption_key, None);
        assert!(commands_request(&d, "p", &[], &BTreeMap::new(), "{}".into()).unwrap_err().contains("Code"));
    }

    #[test]
    fn the_prelude_fetches_each_input_into_its_directory_and_forgets_the_urls() {
        let d = commands(&["Code", "Tools"], &[]);
        let prelude = input_prelude(&d).unwrap();
        assert!(prelude[0].contains("\"$PIPEWRIGHT_INPUT_URL_0\"") && prelude[0].contains("-d \"$CODEBUILD_SRC_DIR\""));
        assert_eq!(prelude[1], "export CODEBUILD_SRC_DIR_Tools=\"${CODEBUILD_SRC_DIR%/*}/src_Tools\"");
        assert!(
            prelude[2].contains("\"$PIPEWRIGHT_INPUT_URL_1\"") && prelude[2].contains("\"$CODEBUILD_SRC_DIR_Tools\"")
        );
        assert_eq!(
            prelude[3],
            "unset PIPEWRIGHT_INPUT_URL_0 PIPEWRIGHT_INPUT_URL_1 __pw_zip && cd \"$CODEBUILD_SRC_DIR\""
        );
        assert!(!prelude.iter().any(|c| c.contains("https://")), "the commands name the URLs, never show them");
        assert!(input_prelude(&commands(&[], &[])).unwrap().is_empty());
        assert!(input_prelude(&commands(&["Code", "my-tools"], &[])).unwrap_err().contains("my-tools"));
    }

    #[test]
    fn input_urls_last_until_the_deadline_and_a_margin() {
        let now = Timestamp::from_millis(1_000_000);
        assert_eq!(input_url_seconds(Timestamp::from_millis(1_000_000 + 3_300_000), now), 3_600);
        assert_eq!(input_url_seconds(now, now), 300);
        assert_eq!(input_url_seconds(Timestamp::from_millis(i64::MAX), now), 7 * 24 * 3600);
    }

    #[test]
    fn an_abandoned_or_timed_out_attempt_stops_its_build_and_no_other() {
        use crate::engine::{ActionAttempt, ActionStatus};
        let attempt = |status: ActionStatus, updated: i64| ActionAttempt {
            number: 1,
            stage_run: 1,
            action_execution_id: "a-1".into(),
            status,
            started_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(updated),
            deadline: Timestamp::from_millis(3_600_000),
            job: None,
            token: None,
            resolved_configuration: BTreeMap::new(),
            input_artifacts: vec![],
            output_artifacts: vec![],
            output_variables: BTreeMap::new(),
            summary: None,
            error: None,
            external_execution_id: Some("p:1".into()),
            external_execution_url: None,
            percent_complete: None,
            last_updated_by: None,
            details: None,
        };
        assert_eq!(build_to_stop(&attempt(ActionStatus::Abandoned, 10)), Some("p:1"));
        assert_eq!(build_to_stop(&attempt(ActionStatus::Failed, 3_600_000)), Some("p:1"), "timed out");
        assert_eq!(build_to_stop(&attempt(ActionStatus::Failed, 3_599_999)), None, "failed by its build");
        assert_eq!(build_to_stop(&attempt(ActionStatus::Succeeded, 3_700_000)), None);
        let never_started = ActionAttempt { external_execution_id: None, ..attempt(ActionStatus::Abandoned, 10) };
        assert_eq!(build_to_stop(&never_started), None);
    }

    #[test]
    fn a_clone_reference_is_a_git_source_of_its_host_and_connection() {
        let codecommit = CloneReference {
            clone_url: "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/app".into(),
            commit: "c0ffee".into(),
            provider_type: Some("CodeCommit".into()),
            connection_arn: None,
        };
        assert_eq!(
            git_source(&codecommit),
            Ok(GitSource {
                source_type: "CODECOMMIT".into(),
                location: codecommit.clone_url.clone(),
                version: "c0ffee".into(),
                connection: None
            })
        );
        let arn = "arn:aws:codeconnections:eu-west-1:1:connection/x";
        for (provider, kind) in [
            ("GitHub", "GITHUB"),
            ("GitHubEnterpriseServer", "GITHUB_ENTERPRISE"),
            ("Bitbucket", "BITBUCKET"),
            ("GitLab", "GITLAB"),
            ("GitLabSelfManaged", "GITLAB_SELF_MANAGED"),
        ] {
            let reference = CloneReference {
                clone_url: "https://github.com/o/r.git".into(),
                commit: "c0ffee".into(),
                provider_type: Some(provider.into()),
                connection_arn: Some(arn.into()),
            };
            let source = git_source(&reference).unwrap();
            assert_eq!((source.source_type.as_str(), source.connection.as_deref()), (kind, Some(arn)));
            let unauthenticated = CloneReference { connection_arn: None, ..reference };
            assert!(git_source(&unauthenticated).unwrap_err().contains("no connection"), "{provider}");
        }
        let odd = CloneReference { provider_type: Some("Gitea".into()), ..codecommit.clone() };
        assert!(git_source(&odd).unwrap_err().contains("Gitea"));
        assert!(git_source(&CloneReference { commit: String::new(), ..codecommit }).is_err());
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

    #[test]
    fn an_unrecorded_start_is_sent_again_after_the_grace_then_once_per_lease() {
        let resends = StartResends { grace_seconds: 120, every_seconds: 960, window_seconds: 120 };
        let since = Timestamp::from_millis(10_000_000);
        let at = |seconds: i64| resends.due(since, Timestamp::from_millis(since.millis() + seconds * 1000));
        // One tick a minute, whatever their phase: two of them in each turn, the first after
        // the grace, then a lease later, and none between.
        for phase in [0, 1, 17, 59] {
            let ticks: Vec<i64> = (0..40).map(|minute| minute * 60 + phase).collect();
            let sent: Vec<i64> = ticks.iter().copied().filter(|&t| at(t)).collect();
            assert_eq!(sent.len(), 6, "phase {phase}: {sent:?}");
            for (turn, pair) in sent.chunks(2).enumerate() {
                let from = 120 + 960 * turn as i64;
                assert!(pair.iter().all(|t| (from..from + 120).contains(t)), "turn {turn}: {sent:?}");
            }
            // One tick of a turn lost: the other still sends it.
            for lost in &sent {
                assert!(sent.iter().any(|t| t != lost && (t - lost).abs() <= 60), "{lost} alone in its turn");
            }
        }
        assert!(!at(119) && at(120) && at(239) && !at(240) && !at(1079) && at(1080) && !at(1200));
        assert!(!at(-5), "a clock behind the dispatch sends nothing");
    }
}
