//! The CodeBuild action (Build|Test/AWS/CodeBuild/1) run natively by the buildspec
//! interpreter (docs/codebuild.md): DOWNLOAD_SOURCE puts the primary input at
//! `$CODEBUILD_SRC_DIR` and the others at `$CODEBUILD_SRC_DIR_<name>`, reads the buildspec
//! (the project's, else `buildspec.yml` of the primary source), resolves the variables in
//! CodeBuild's precedence and looks up secrets; then the build runs from INSTALL to
//! FINALIZING, and the action reports its phases, reports and exported variables.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use pipewright_core::action_details::{ActionDetails, PhaseDetail};
use pipewright_core::build_project::{BuildProject, BuildVariable, BuildspecSource, VariableType};
use pipewright_core::engine::{Dispatch, FailureType};
use pipewright_core::ports::ArtifactStore;
use pipewright_core::unpacked::Unpacked;

use crate::buildspec::build::{Build, BuildFailure, BuildStatus, Output, shell_path};
use crate::buildspec::console::Console;
use crate::buildspec::environment::{self, BuildIdentity, SecretLookup};
use crate::buildspec::model::Buildspec;
use crate::buildspec::outputs;
use crate::buildspec::runner::Narration;
use crate::{ActionError, ActionOutput, Outcome};

/// CodeBuild's default build timeout.
const DEFAULT_TIMEOUT_MINUTES: u32 = 60;
/// The longest summary the action records.
const SUMMARY_LIMIT: usize = 512;

/// Where a CodeBuild action runs and what it may use.
pub struct BuildSession<'a, A> {
    pub artifacts: &'a A,
    pub output: Arc<dyn ActionOutput>,
    /// A directory of its own (emptied first).
    pub scratch: PathBuf,
    pub log: Option<PathBuf>,
    pub projects: &'a BTreeMap<String, BuildProject>,
    pub secrets: &'a dyn SecretLookup,
    /// The environment builds start from (the host's, locally).
    pub host_environment: BTreeMap<String, String>,
    /// Where each project's cache is kept (`<dir>/<project>`), if anywhere.
    pub cache_root: Option<PathBuf>,
    /// This build's number in its project (`CODEBUILD_BUILD_NUMBER`).
    pub build_number: u64,
    pub account: String,
    /// Said once per run, not once per action (the image and runtime-versions).
    pub warn_once: &'a (dyn Fn(&str) + Send + Sync),
    /// The user builds run as, for `run-as`.
    pub user: Option<String>,
}

/// A DOWNLOAD_SOURCE failure: the phase context CodeBuild would show.
struct Refused {
    code: &'static str,
    message: String,
}

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    Refused { code, message: message.into() }
}

/// The action's `EnvironmentVariables` (a JSON array in a string).
pub fn action_variables(configuration: &BTreeMap<String, String>) -> Result<Vec<BuildVariable>, String> {
    let Some(text) = configuration.get("EnvironmentVariables") else { return Ok(Vec::new()) };
    let items: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("EnvironmentVariables is not a JSON array: {e}"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = item["name"].as_str().ok_or(format!("EnvironmentVariables[{i}].name is missing"))?;
            let value = item["value"].as_str().ok_or(format!("EnvironmentVariables[{i}].value is missing"))?;
            let kind = match item["type"].as_str().unwrap_or("PLAINTEXT") {
                "PLAINTEXT" => VariableType::Plaintext,
                "PARAMETER_STORE" => VariableType::ParameterStore,
                "SECRETS_MANAGER" => VariableType::SecretsManager,
                other => return Err(format!("EnvironmentVariables[{i}].type: {other} is not a variable type")),
            };
            Ok(BuildVariable { name: name.to_string(), value: value.to_string(), kind })
        })
        .collect()
}

/// The buildspec text and where it came from (for messages).
fn buildspec_text(project: Option<&BuildProject>, src: &Path) -> Result<(String, String), Refused> {
    let source = project.map(|p| p.buildspec.clone()).unwrap_or_default();
    let path = match source {
        BuildspecSource::Inline(text) => {
            let origin = project.and_then(|p| p.origin.clone()).unwrap_or_else(|| "the project".to_string());
            return Ok((text, format!("the buildspec of {origin}")));
        }
        BuildspecSource::Path(path) if path.starts_with("arn:") => {
            return Err(refused(
                "YAML_FILE_ERROR",
                format!(
                    "the project's buildspec is the S3 object {path}, which needs AWS; give --buildspec PROJECT=FILE to run it here"
                ),
            ));
        }
        BuildspecSource::Path(path) => path,
        BuildspecSource::Default => "buildspec.yml".to_string(),
    };
    let full = src.join(&path);
    match fs::read_to_string(&full) {
        Ok(text) => Ok((text, path)),
        Err(_) => Err(refused("YAML_FILE_ERROR", format!("YAML file does not exist: {path} in the primary source"))),
    }
}

/// What a local run cannot honour, said before INSTALL. Each goes on as the current user with
/// the user's own git credentials (docs/codebuild.md, "What cannot be reproduced here"):
/// refusing would leave a buildspec CodeBuild runs unrunnable here.
fn preflight(spec: &Buildspec, user: Option<&str>) -> Vec<String> {
    let mut notes = Vec::new();
    let run_as = spec.run_as.iter().map(|u| ("run-as".to_string(), u)).chain(
        spec.phases
            .iter()
            .filter_map(|(name, phase)| phase.run_as.as_ref().map(|u| (format!("phases.{}.run-as", name.key()), u))),
    );
    for (field, wanted) in run_as {
        if user != Some(wanted.as_str()) {
            notes.push(format!(
                "{field}: {wanted} is not honoured here; the commands run as {}",
                user.map_or_else(|| "the current user".to_string(), |u| format!("the current user, {u}"))
            ));
        }
    }
    if spec.env.git_credential_helper {
        notes.push(
            "env.git-credential-helper: CodeBuild's git credential helper does not exist here; git uses your own credentials"
                .to_string(),
        );
    }
    if spec.has_proxy {
        notes.push("proxy settings apply to CodeBuild's network only; ignored here".to_string());
    }
    if spec.has_beanstalk_settings {
        notes.push(
            "eb_codebuild_settings are Elastic Beanstalk's settings for `eb`; a build passes over them".to_string(),
        );
    }
    notes
}

fn truncate(text: String, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text;
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    cut
}

fn phase(phase: &str, status: &str, started: Instant, context: Option<String>) -> PhaseDetail {
    PhaseDetail {
        phase_type: phase.to_string(),
        phase_status: status.to_string(),
        duration_millis: started.elapsed().as_millis() as u64,
        context,
    }
}

fn failure_outcome(status: BuildStatus, failure: &BuildFailure, log_hint: &str) -> Outcome {
    Outcome::Failed(ActionError {
        kind: FailureType::JobFailed,
        message: format!("{}{log_hint}", failure.describe(status)),
    })
}

/// Runs the build of `dispatch`; the outcome, and the phases and reports for its record.
pub async fn run<A: ArtifactStore>(
    dispatch: &Dispatch,
    session: BuildSession<'_, A>,
    cancel: watch::Receiver<bool>,
) -> (Outcome, Option<ActionDetails>) {
    let started = Instant::now();
    let download = Instant::now();
    let scratch = session.scratch.as_path();
    let _ = fs::remove_dir_all(scratch);
    let src = scratch.join("src");
    let build_dir = scratch.join("build");
    let log_hint = session.log.as_ref().map(|p| format!(" (log: {})", p.display())).unwrap_or_default();
    let console = match Console::open(
        session.output.clone(),
        dispatch.stage.clone(),
        dispatch.action.clone(),
        session.log.clone(),
        Vec::new(),
    ) {
        Ok(console) => console,
        Err(e) => {
            let error =
                ActionError { kind: FailureType::JobFailed, message: format!("cannot open the action's log: {e}") };
            return (Outcome::Failed(error), None);
        }
    };
    // DOWNLOAD_SOURCE: everything up to INSTALL; a failure here ends the build.
    let prepared = prepare(dispatch, &session, &src, &build_dir, &console).await;
    let mut details = ActionDetails::default();
    let prepared = match prepared {
        Ok(prepared) => {
            details.phases.push(phase("DOWNLOAD_SOURCE", "SUCCEEDED", download, None));
            prepared
        }
        Err(refusal) => {
            console.say("[pipewright] Phase complete: DOWNLOAD_SOURCE State: FAILED");
            console
                .say(&format!("[pipewright] Phase context status code: {} Message: {}", refusal.code, refusal.message));
            console.close().await;
            let context = format!("{}: {}", refusal.code, refusal.message);
            details.phases.push(phase("DOWNLOAD_SOURCE", "FAILED", download, Some(context)));
            let failure = BuildFailure {
                phase: "DOWNLOAD_SOURCE",
                code: refusal.code.to_string(),
                message: refusal.message,
                command: None,
            };
            return (failure_outcome(BuildStatus::Failed, &failure, &log_hint), Some(details));
        }
    };
    console.mask_also(prepared.secret_values.clone());
    let build = Build {
        spec: &prepared.spec,
        narration: Narration::Build,
        shell: prepared.shell,
        src_dir: src.clone(),
        scratch: build_dir,
        environment: prepared.environment,
        timeout: Some(Duration::from_secs(u64::from(prepared.timeout_minutes) * 60)),
        outputs: prepared.outputs,
        inputs: prepared.inputs,
        artifacts: session.artifacts,
        cache_dir: prepared.cache_dir,
        exported_names: prepared.spec.env.exported_variables.clone(),
        secret_names: prepared.secret_names,
    };
    let result = build.run(&console, cancel).await;
    console.close().await;
    details.phases.extend(result.phases.clone());
    details.reports = result.reports.clone();
    let outcome = match (result.status, &result.failure) {
        (BuildStatus::Stopped, _) => Outcome::Cancelled,
        (BuildStatus::Succeeded, _) => {
            let mut summary = format!("Build SUCCEEDED in {:.1}s", started.elapsed().as_secs_f64());
            let described = details.describe();
            if !described.is_empty() {
                summary.push_str(". ");
                summary.push_str(&described);
            }
            Outcome::Succeeded {
                output_variables: result.exported,
                summary: truncate(summary, SUMMARY_LIMIT),
                external_execution_url: session.log.as_ref().map(|p| format!("file://{}", p.display())),
                revision: None,
            }
        }
        (status, Some(failure)) => failure_outcome(status, failure, &log_hint),
        (status, None) => Outcome::Failed(ActionError {
            kind: FailureType::JobFailed,
            message: format!("Build terminated with state: {}{log_hint}", status.as_str()),
        }),
    };
    (outcome, Some(details))
}

struct Prepared {
    spec: Buildspec,
    shell: PathBuf,
    environment: BTreeMap<String, String>,
    secret_values: Vec<String>,
    secret_names: std::collections::BTreeSet<String>,
    outputs: Vec<Output>,
    /// The inputs as unpacked: an output that is one of them unchanged is stored as it.
    inputs: Vec<Unpacked>,
    cache_dir: Option<PathBuf>,
    timeout_minutes: u32,
}

async fn prepare<A: ArtifactStore>(
    dispatch: &Dispatch,
    session: &BuildSession<'_, A>,
    src: &Path,
    build_dir: &Path,
    console: &Console,
) -> Result<Prepared, Refused> {
    let config = &dispatch.configuration;
    let project_name = config.get("ProjectName").cloned().unwrap_or_default();
    if config.get("BatchEnabled").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(refused(
            "CLIENT_ERROR",
            "BatchEnabled: batch builds do not run on this machine; run the build without BatchEnabled",
        ));
    }
    let project = session.projects.get(&project_name);
    console.say(&format!(
        "[pipewright] Build {}:{} of project {project_name}",
        project_name, dispatch.action_execution_id
    ));
    console.say("[pipewright] Entering phase DOWNLOAD_SOURCE");
    for dir in [src, build_dir] {
        fs::create_dir_all(dir).map_err(|e| refused("CLIENT_ERROR", format!("cannot create the workspace: {e}")))?;
    }
    // The primary source: PrimarySource, or the only (first) input.
    let primary = config
        .get("PrimarySource")
        .cloned()
        .or_else(|| dispatch.input_artifacts.first().map(|a| a.name.clone()))
        .ok_or_else(|| refused("CLIENT_ERROR", "the action has no input artifact"))?;
    let mut secondary_dirs = Vec::new();
    let mut inputs = Vec::with_capacity(dispatch.input_artifacts.len());
    for input in &dispatch.input_artifacts {
        let target =
            if input.name == primary { src.to_path_buf() } else { session.scratch.join("inputs").join(&input.name) };
        inputs.push(
            session
                .artifacts
                .unpack(&input.location, &target)
                .await
                .map_err(|e| refused("CLIENT_ERROR", format!("cannot unpack input artifact {}: {e}", input.name)))?,
        );
        // A source with OutputArtifactFormat CODEBUILD_CLONE_REF handed on a reference: clone it.
        if let Some(reference) = crate::clone_ref::CloneRef::read(&target) {
            let reference =
                reference.map_err(|e| refused("CLIENT_ERROR", format!("input artifact {}: {e}", input.name)))?;
            console.say(&format!(
                "[pipewright] Cloning {} at {} for input artifact {}",
                reference.clone_url, reference.commit, input.name
            ));
            reference.resolve(&target).await.map_err(|e| {
                refused(
                    "CLIENT_ERROR",
                    format!("cannot clone {} for input artifact {}: {e}", reference.clone_url, input.name),
                )
            })?;
        }
        if input.name != primary {
            if !input.name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
                console.say(&format!(
                    "[pipewright] Warning: input artifact {} is not a valid CodeBuild source identifier ([A-Za-z0-9_]); CodeBuild cannot name its directory",
                    input.name
                ));
            }
            secondary_dirs.push((input.name.clone(), target.display().to_string()));
        }
    }
    let (text, origin) = buildspec_text(project, src)?;
    if project.is_none() {
        console.say(&format!(
            "[pipewright] Project {project_name} is not defined here (--codebuild-project, --buildspec or a template); using {origin}"
        ));
    }
    console.say(&format!("[pipewright] YAML location is {origin}"));
    let spec = crate::buildspec::parse(&text).map_err(|e| refused("YAML_FILE_ERROR", format!("{origin}: {e}")))?;
    for warning in &spec.unidentified {
        console.say(warning);
    }
    for note in preflight(&spec, session.user.as_deref()) {
        console.say(&format!("[pipewright] Note: {note}"));
    }
    let runtimes: Vec<String> =
        spec.phases.iter().flat_map(|(_, p)| p.runtime_versions.iter().map(|(r, v)| format!("{r} {v}"))).collect();
    let image = project.and_then(|p| p.image.clone());
    if !runtimes.is_empty() || image.is_some() {
        let mut what = Vec::new();
        if let Some(image) = &image {
            what.push(format!("the image {image}"));
        }
        if !runtimes.is_empty() {
            what.push(format!("runtime-versions ({})", runtimes.join(", ")));
        }
        (session.warn_once)(&format!(
            "CodeBuild builds run with this machine's tools: {} cannot be reproduced without CodeBuild's container",
            what.join(" and ")
        ));
    }
    if !runtimes.is_empty() {
        console.say(
            "[pipewright] Skipping install of runtimes. Runtime version selection is not supported by this build image",
        );
    }
    let shell =
        shell_path(spec.env.shell.as_deref(), "/bin/sh", session.host_environment.get("PATH").map(String::as_str))
            .map_err(|e| refused("YAML_FILE_ERROR", e))?;

    // Variables: the action over the project over the buildspec, secrets looked up now.
    let action_vars = action_variables(config).map_err(|e| refused("CLIENT_ERROR", e))?;
    let project_vars = project.map(|p| p.environment_variables.clone()).unwrap_or_default();
    let definitions = environment::definitions(&spec.env, &project_vars, &action_vars);
    let (winners, warnings) = environment::resolve_precedence(&definitions);
    for warning in warnings {
        console.say(&format!("[pipewright] Warning: {warning}"));
    }
    if winners.values().any(|d| !matches!(d.value, environment::Value::Plain(_))) {
        console.say("[pipewright] Decrypting parameter store and secrets manager environment variables");
    }
    let resolved = environment::resolve(&winners, session.secrets)
        .await
        .map_err(|failure| Refused { code: failure.code, message: failure.message })?;
    let host = &session.host_environment;
    let region = dispatch
        .region
        .clone()
        .filter(|r| r != "local")
        .or_else(|| host.get("AWS_REGION").cloned())
        .or_else(|| host.get("AWS_DEFAULT_REGION").cloned())
        .unwrap_or_else(|| "us-east-1".to_string());
    let resolved_source_version = dispatch
        .source_revisions
        .iter()
        .find(|r| r.name == primary)
        .or_else(|| dispatch.source_revisions.first())
        .map(|r| r.revision_id.clone());
    let identity = BuildIdentity {
        project: project_name.clone(),
        uuid: dispatch.action_execution_id.clone(),
        number: session.build_number,
        region,
        account: session.account.clone(),
        initiator: format!("codepipeline/{}", dispatch.pipeline),
        image,
        src_dir: src.display().to_string(),
        secondary_dirs,
        resolved_source_version,
        start_millis: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        kms_key: dispatch.encryption_key.as_ref().map(|k| k.id.clone()),
    };
    let (environment, warnings) =
        environment::compose(host, &resolved.variables, &environment::codebuild_variables(&identity));
    for warning in warnings {
        console.say(&format!("[pipewright] Warning: {warning}"));
    }

    // Outputs: each output artifact's block, checked now rather than after the build.
    let names: Vec<String> = dispatch.output_artifacts.iter().map(|o| o.name.clone()).collect();
    let planned = outputs::plan(&names, spec.artifacts.as_ref()).map_err(|e| refused("CLIENT_ERROR", e))?;
    let outputs = planned
        .into_iter()
        .zip(&dispatch.output_artifacts)
        .map(|((name, block), output)| {
            if block.is_none() {
                console.say(&format!(
                    "[pipewright] The buildspec has no artifacts section: output artifact {name} is stored empty"
                ));
            }
            Output {
                name,
                location: output.location.clone(),
                allow_empty: block.is_none(),
                spec: block.unwrap_or_default(),
            }
        })
        .collect();
    let cache_dir = match (&session.cache_root, &spec.cache) {
        (Some(root), Some(cache)) if !cache.paths.is_empty() => Some(root.join(&project_name)),
        _ => None,
    };
    let timeout_minutes = project.and_then(|p| p.timeout_in_minutes).unwrap_or(DEFAULT_TIMEOUT_MINUTES);
    console.say("[pipewright] Phase complete: DOWNLOAD_SOURCE State: SUCCEEDED");
    Ok(Prepared {
        spec,
        shell,
        environment,
        secret_values: resolved.secret_values,
        secret_names: resolved.secret_names,
        outputs,
        inputs,
        cache_dir,
        timeout_minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_variables_read_the_json_array() {
        let config = BTreeMap::from([(
            "EnvironmentVariables".to_string(),
            r#"[{"name":"STAGE","value":"prod"},{"name":"TOKEN","value":"/ci/t","type":"PARAMETER_STORE"}]"#
                .to_string(),
        )]);
        let vars = action_variables(&config).unwrap();
        assert_eq!(vars[0].kind, VariableType::Plaintext);
        assert_eq!(vars[1].kind, VariableType::ParameterStore);
        let bad = BTreeMap::from([("EnvironmentVariables".to_string(), r#"[{"name":"X"}]"#.to_string())]);
        assert!(action_variables(&bad).unwrap_err().contains("EnvironmentVariables[0].value"));
    }

    #[test]
    fn run_as_and_the_credential_helper_are_noted_and_the_build_goes_on() {
        let text = "version: 0.2\nrun-as: codebuild-user\nphases:\n  install:\n    run-as: root\n    commands: [x]\n";
        let spec = crate::buildspec::parse(text).unwrap();
        let notes = preflight(&spec, Some("me"));
        assert_eq!(
            notes,
            [
                "run-as: codebuild-user is not honoured here; the commands run as the current user, me",
                "phases.install.run-as: root is not honoured here; the commands run as the current user, me",
            ]
        );
        assert_eq!(preflight(&spec, Some("root")).len(), 1, "root runs as root");
        let spec = crate::buildspec::parse("version: 0.2\nenv:\n  git-credential-helper: yes\n").unwrap();
        assert!(preflight(&spec, Some("me"))[0].starts_with("env.git-credential-helper"));
    }

    #[test]
    fn the_buildspec_comes_from_the_project_or_the_source() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();
        fs::create_dir_all(dir.path().join("ci")).unwrap();
        fs::write(dir.path().join("ci/spec.yml"), "version: 0.1\n").unwrap();
        assert_eq!(buildspec_text(None, dir.path()).ok().unwrap().1, "buildspec.yml");
        let path = BuildProject { buildspec: BuildspecSource::Path("ci/spec.yml".into()), ..BuildProject::default() };
        assert_eq!(buildspec_text(Some(&path), dir.path()).ok().unwrap().0, "version: 0.1\n");
        let inline =
            BuildProject { buildspec: BuildspecSource::Inline("version: 0.2\n# x".into()), ..BuildProject::default() };
        assert!(buildspec_text(Some(&inline), dir.path()).ok().unwrap().0.contains("# x"));
        let missing = BuildProject { buildspec: BuildspecSource::Path("nope.yml".into()), ..BuildProject::default() };
        assert!(buildspec_text(Some(&missing), dir.path()).err().unwrap().message.contains("YAML file does not exist"));
        let s3 =
            BuildProject { buildspec: BuildspecSource::Path("arn:aws:s3:::b/k.yml".into()), ..BuildProject::default() };
        assert!(buildspec_text(Some(&s3), dir.path()).err().unwrap().message.contains("needs AWS"));
    }
}
