//! The Commands action (Compute/AWS/Commands/1) on this machine, as CodePipeline runs it: a
//! one-phase buildspec on the buildspec interpreter ([`crate::buildspec`]). The commands run
//! in order with the shell's state carried from one to the next, from a fresh workspace
//! holding the first input artifact (others at `$CODEBUILD_SRC_DIR_<Name>`); the action
//! fails at the first failing command. Output is streamed with the action's name and kept as
//! its log; output artifacts are collected by their `files` globs and output variables read
//! from the shell's variables. The whole process group is killed when the action is
//! abandoned or times out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use pipewright_core::action_details::ActionDetails;
use pipewright_core::engine::{Dispatch, FailureType, MAX_OUTPUT_VARIABLES_BYTES};
use pipewright_core::ports::ArtifactStore;

use crate::buildspec::Buildspec;
use crate::buildspec::build::{Build, BuildStatus, Output, shell_path};
use crate::buildspec::console::Console;
use crate::buildspec::model::ArtifactSpec;
use crate::buildspec::runner::Narration;
use crate::{ActionError, ActionOutput, Outcome, sandbox};

fn failed(kind: FailureType, message: impl Into<String>) -> Outcome {
    Outcome::Failed(ActionError { kind, message: message.into() })
}

/// `CODEBUILD_SRC_DIR_<Name>` for an input artifact name.
fn source_dir_variable(name: &str) -> String {
    format!("CODEBUILD_SRC_DIR_{name}")
}

/// Where a Commands action runs and what it reports to.
pub struct Session<'a, A> {
    pub artifacts: &'a A,
    pub output: Arc<dyn ActionOutput>,
    /// A directory of its own (emptied first): the inputs but the first, and the runner's
    /// scripts when it needs any, go under it; and the workspace, unless `workspace` says
    /// where it is.
    pub scratch: PathBuf,
    /// The workspace (`CODEBUILD_SRC_DIR`, emptied first) when it is not `<scratch>/src`: a
    /// local run's attempt directory itself, so that an action that needs no script makes
    /// one directory, not two (docs/benchmarks.md, "stop 25").
    pub workspace: Option<PathBuf>,
    /// Where the action's output is kept, if anywhere.
    pub log: Option<PathBuf>,
    /// What the commands' environment starts from.
    pub base: BaseEnvironment,
}

/// What a Commands action's environment starts from, besides the variables CodePipeline sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseEnvironment {
    /// The caller's whole environment: a local run, where the commands run as the person who
    /// started it, with what they can already do.
    Caller,
    /// Almost nothing of the orchestrator's ([`crate::sandbox`]): inside invoke-action, whose
    /// environment holds the Lambda role's credentials.
    Sandboxed,
}

pub async fn run<A: ArtifactStore>(
    dispatch: &Dispatch,
    session: Session<'_, A>,
    cancel: watch::Receiver<bool>,
) -> Outcome {
    run_with_details(dispatch, session, cancel).await.0
}

/// The same, with the phase details for the action's record.
pub async fn run_with_details<A: ArtifactStore>(
    dispatch: &Dispatch,
    session: Session<'_, A>,
    cancel: watch::Receiver<bool>,
) -> (Outcome, Option<ActionDetails>) {
    let scratch = session.scratch.as_path();
    let started = Instant::now();
    let _ = fs::remove_dir_all(scratch);
    let workspace = match &session.workspace {
        Some(workspace) => {
            let _ = fs::remove_dir_all(workspace);
            workspace.clone()
        }
        None => scratch.join("src"),
    };
    let inputs_dir = scratch.join("inputs");
    if let Err(e) = fs::create_dir_all(&workspace) {
        return (failed(FailureType::JobFailed, format!("cannot create the workspace: {e}")), None);
    }
    let mut environment: BTreeMap<String, String> = match session.base {
        BaseEnvironment::Caller => std::env::vars().collect(),
        BaseEnvironment::Sandboxed => {
            for dir in sandbox::sandbox_directories(scratch) {
                if let Err(e) = fs::create_dir_all(&dir) {
                    return (failed(FailureType::JobFailed, format!("cannot create the workspace: {e}")), None);
                }
            }
            sandbox::sandboxed_environment(std::env::vars(), scratch)
        }
    };
    environment.insert("CODEBUILD_SRC_DIR".into(), workspace.display().to_string());
    environment.insert("CODEBUILD_BUILD_ID".into(), format!("pipewright:{}", dispatch.action_execution_id));
    environment.insert("CODEPIPELINE_PIPELINE_NAME".into(), dispatch.pipeline.clone());
    environment.insert("CODEPIPELINE_EXECUTION_ID".into(), dispatch.execution_id.clone());
    let mut unpacked = Vec::with_capacity(dispatch.input_artifacts.len());
    for (index, input) in dispatch.input_artifacts.iter().enumerate() {
        let target = if index == 0 { workspace.clone() } else { inputs_dir.join(&input.name) };
        match session.artifacts.unpack(&input.location, &target).await {
            Ok(input) => unpacked.push(input),
            Err(e) => {
                let message = format!("cannot unpack input artifact {}: {e}", input.name);
                return (failed(FailureType::JobFailed, message), None);
            }
        }
        environment.insert(source_dir_variable(&input.name), target.display().to_string());
    }
    let mut secrets = Vec::new();
    for variable in &dispatch.environment_variables {
        let value = if variable.kind == "SECRETS_MANAGER" {
            if session.base == BaseEnvironment::Sandboxed {
                // Read from the orchestrator's environment, a secret's name could be any of
                // its own variables, credentials included.
                let message = format!(
                    "environment variable {} reads the Secrets Manager secret {:?}; Commands actions run \
                     by Pipewright's functions have no access to Secrets Manager: use a CodeBuild action",
                    variable.name, variable.value
                );
                return (failed(FailureType::ConfigurationError, message), None);
            }
            match std::env::var(&variable.name) {
                Ok(value) => {
                    secrets.push(value.clone());
                    value
                }
                Err(_) => {
                    let message = format!(
                        "environment variable {} reads the Secrets Manager secret {:?}, which needs the AWS backend; \
                         to run here, set {} in pipewright's own environment",
                        variable.name, variable.value, variable.name
                    );
                    return (failed(FailureType::ConfigurationError, message), None);
                }
            }
        } else {
            variable.value.clone()
        };
        environment.insert(variable.name.clone(), value);
    }
    // Commands have always run in bash where there is one.
    let shell = match shell_path(Some("/bin/bash"), "/bin/bash", None).or_else(|_| shell_path(None, "/bin/sh", None)) {
        Ok(shell) => shell,
        Err(e) => return (failed(FailureType::JobFailed, e), None),
    };
    let console = match Console::open(
        session.output.clone(),
        dispatch.stage.clone(),
        dispatch.action.clone(),
        session.log.clone(),
        secrets,
    ) {
        Ok(console) => console,
        Err(e) => return (failed(FailureType::JobFailed, format!("cannot open the action's log: {e}")), None),
    };
    let spec = Buildspec::single_phase(dispatch.commands.clone());
    let outputs = dispatch
        .output_artifacts
        .iter()
        .map(|output| Output {
            name: output.name.clone(),
            location: output.location.clone(),
            spec: ArtifactSpec {
                files: if output.files.is_empty() { vec!["**/*".to_string()] } else { output.files.clone() },
                ..ArtifactSpec::default()
            },
            allow_empty: output.files.is_empty(),
        })
        .collect();
    let build = Build {
        spec: &spec,
        narration: Narration::Commands,
        shell,
        src_dir: workspace.clone(),
        // The runner's scripts and state dumps and the outputs' zips go beside `src`: a
        // directory of their own would cost one more per action (docs/benchmarks.md, "stop 24").
        scratch: scratch.to_path_buf(),
        environment,
        timeout: None,
        outputs,
        inputs: unpacked,
        artifacts: session.artifacts,
        cache_dir: None,
        exported_names: dispatch.output_variables.clone(),
        secret_names: BTreeSet::new(),
    };
    let result = build.run(&console, cancel).await;
    console.close().await;
    let details = ActionDetails { phases: result.phases.clone(), ..ActionDetails::default() };
    let log_hint = session.log.as_ref().map(|path| format!(" (log: {})", path.display())).unwrap_or_default();
    let outcome = match result.status {
        BuildStatus::Stopped | BuildStatus::TimedOut => Outcome::Cancelled,
        BuildStatus::Failed => {
            let total = dispatch.commands.len();
            let message = match &result.failure {
                Some(failure) => match &failure.command {
                    Some(command) => {
                        format!(
                            "command {} of {total} failed with {}: {}",
                            command.number, command.reason, command.text
                        )
                    }
                    None if failure.phase == "UPLOAD_ARTIFACTS" => failure
                        .message
                        .replace("no matching artifact paths found for", "no files match the patterns of"),
                    None => failure.message.clone(),
                },
                None => "the commands failed".to_string(),
            };
            failed(FailureType::JobFailed, format!("{message}{log_hint}"))
        }
        BuildStatus::Succeeded => {
            let output_variables: BTreeMap<String, String> =
                result.exported.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            // Over CodePipeline's limit the engine would refuse the success and leave the
            // action running: the action fails instead, saying why.
            let size: usize = output_variables.iter().map(|(k, v)| k.len() + v.len()).sum();
            if size > MAX_OUTPUT_VARIABLES_BYTES {
                return (
                    failed(
                        FailureType::JobFailed,
                        format!(
                            "output variables of {size} bytes exceed the limit of {MAX_OUTPUT_VARIABLES_BYTES} bytes{log_hint}"
                        ),
                    ),
                    Some(details),
                );
            }
            Outcome::Succeeded {
                output_variables,
                summary: format!(
                    "Ran {} command(s) in {:.1}s",
                    dispatch.commands.len(),
                    started.elapsed().as_secs_f64()
                ),
                external_execution_url: session.log.as_ref().map(|path| format!("file://{}", path.display())),
                revision: None,
            }
        }
    };
    (outcome, Some(details))
}
