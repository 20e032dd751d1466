//! Deploy actions on this machine (docs/providers.md §2): each run chooses a target — `--aws`
//! (the person's credentials), `--aws-endpoint URL` (an emulator) or `--plan` (no AWS) — and
//! without one a deploy action fails at once, naming the three. With AWS the worker calls the
//! provider's `start`, then `poll` at the interval it asks for, in this process; a
//! placeholder left by a template import is refused by name before any call.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use pipewright_core::deploy::cloudformation::ActionMode;
use pipewright_core::deploy::{choose_a_target, codepipeline};
use pipewright_core::engine::{Dispatch, FailureType};
use pipewright_core::import::placeholders::{self, Placeholder};
use pipewright_core::providers::ProviderKind;
use pipewright_providers::deploy::{BoxFuture, DeployJob, Deployer, Progress, inputs, plan};
use pipewright_providers::{ActionError, ActionOutput, Outcome};

use crate::providers::ProviderContext;
use crate::report::Reporter;

/// How long a local deploy step that met what may pass (`Progress::Retry`) waits before it
/// is taken again.
const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Where a run's deploy actions go, as chosen on the command line and stored with the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum DeployTarget {
    /// `--aws`: the person's own credentials (`--profile`, `--region`, or the environment).
    Aws {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    /// `--aws-endpoint URL`: one endpoint for every service (moto, LocalStack, Floci).
    Endpoint {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    /// `--plan`: no AWS; each deploy action says what it would do and succeeds as planned.
    Plan,
}

/// How this process carries out deploy actions.
#[derive(Clone, Default)]
pub enum DeployMode {
    /// No target chosen: a deploy action fails, naming the three choices.
    #[default]
    Unchosen,
    Plan,
    Aws(Arc<dyn Deployer>),
}

/// Starts another pipeline's execution here (the CodePipeline invoke action).
pub trait PipelineStarter: Send + Sync {
    fn start<'a>(
        &'a self,
        child: &'a codepipeline::Child,
        execution_id: &'a str,
        by: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// An action's lines go to the reporter and to its log file.
struct ActionLog {
    reporter: Arc<dyn Reporter>,
    file: Mutex<Option<std::fs::File>>,
}

impl ActionLog {
    fn open(reporter: Arc<dyn Reporter>, path: PathBuf) -> ActionLog {
        let file = path
            .parent()
            .and_then(|dir| std::fs::create_dir_all(dir).ok())
            .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&path).ok());
        ActionLog { reporter, file: Mutex::new(file) }
    }
}

impl ActionOutput for ActionLog {
    fn line(&self, stage: &str, action: &str, line: &str) {
        self.reporter.action_output(stage, action, line);
        if let Ok(mut file) = self.file.lock()
            && let Some(file) = file.as_mut()
        {
            let _ = writeln!(file, "{line}");
        }
    }
}

fn failed(kind: FailureType, message: String) -> Outcome {
    Outcome::Failed(ActionError { kind, message })
}

/// What an action sends to AWS: its configuration, role and region.
fn sent(dispatch: &Dispatch) -> String {
    serde_json::json!({
        "configuration": dispatch.configuration,
        "roleArn": dispatch.role_arn,
        "region": dispatch.region,
    })
    .to_string()
}

/// The placeholders of a template import that this action would send to AWS.
fn placeholders_in<'a>(dispatch: &Dispatch, list: &'a [Placeholder]) -> Vec<&'a Placeholder> {
    placeholders::found_in(list, &[&sent(dispatch)])
}

/// Runs a deploy action (`kind` is one that acts on AWS) to its end.
pub async fn run(
    dispatch: &Dispatch,
    kind: ProviderKind,
    context: &ProviderContext,
    regional_store: Option<String>,
    log: PathBuf,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let output = ActionLog::open(context.reporter.clone(), log);
    let say = |line: &str| output.line(&dispatch.stage, &dispatch.action, line);
    match &context.deploy {
        DeployMode::Unchosen => {
            failed(FailureType::ConfigurationError, choose_a_target(&dispatch.action_type.provider))
        }
        DeployMode::Plan => {
            // An action's region falls back to the pipeline's, which is `local` here.
            let other_region = dispatch.region.as_deref().filter(|region| *region != crate::backend::LOCAL_REGION);
            let (outcome, lines) = plan::plan(
                dispatch,
                kind,
                &context.artifacts,
                &context.memory,
                other_region,
                regional_store.as_deref(),
            )
            .await;
            for line in &lines {
                say(line);
            }
            for found in placeholders_in(dispatch, &context.placeholders) {
                say(&format!(
                    "note: {} is a placeholder for {} {} of the template (give it with {} {}=…)",
                    found.value,
                    found.kind.describe(),
                    found.name,
                    found.kind.flag(),
                    found.name
                ));
            }
            outcome
        }
        DeployMode::Aws(deployer) => {
            if let Err(message) = placeholders::refuse(&context.placeholders, &sent(dispatch)) {
                return failed(FailureType::ConfigurationError, message);
            }
            let job = DeployJob { dispatch: dispatch.clone(), regional_store };
            let mut progress = deployer.start(&job, &output).await;
            loop {
                match progress {
                    Progress::Finished(outcome) => {
                        if kind == ProviderKind::CloudFormation && matches!(outcome, Outcome::Succeeded { .. }) {
                            remember_deployed(dispatch, context, &say).await;
                        }
                        return outcome;
                    }
                    Progress::Waiting(waiting) => {
                        say(&format!("waiting: {} (next look in {} s)", waiting.status, waiting.poll_after_seconds));
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(u64::from(waiting.poll_after_seconds))) => {}
                            _ = cancel.wait_for(|stopped| *stopped) => return Outcome::Cancelled,
                        }
                        progress = deployer.poll(&job, &waiting, &output).await;
                    }
                    // Only a start answers so (its provider's contract): it starts again.
                    Progress::Retry(reason) => {
                        say(&format!("{reason} (in {} s)", RETRY_PAUSE.as_secs()));
                        tokio::select! {
                            _ = tokio::time::sleep(RETRY_PAUSE) => {}
                            _ = cancel.wait_for(|stopped| *stopped) => return Outcome::Cancelled,
                        }
                        progress = deployer.start(&job, &output).await;
                    }
                }
            }
        }
    }
}

/// What was deployed is what the next plan compares with.
async fn remember_deployed(dispatch: &Dispatch, context: &ProviderContext, say: &(dyn Fn(&str) + Sync)) {
    if let Ok(cfn) = inputs::cloudformation(dispatch, &context.artifacts).await {
        let region = dispatch.region.as_deref().unwrap_or("home");
        let how = if cfn.mode == ActionMode::ChangeSetReplace { "made into a change set" } else { "deployed" };
        if let Err(error) = context.memory.record(region, &cfn, &dispatch.execution_id, how) {
            say(&error);
        }
    }
}

/// The CodePipeline invoke action: the child pipeline stored here starts, with the variables
/// and source revisions the action passes on; the action succeeds once it started.
pub async fn invoke_pipeline(dispatch: &Dispatch, context: &ProviderContext, log: PathBuf) -> Outcome {
    let output = ActionLog::open(context.reporter.clone(), log);
    let child = match codepipeline::child(&dispatch.configuration) {
        Ok(child) => child,
        Err(message) => return failed(FailureType::ConfigurationError, message),
    };
    if matches!(context.deploy, DeployMode::Plan) {
        let (outcome, lines) =
            plan::plan(dispatch, ProviderKind::CodePipelineInvoke, &context.artifacts, &context.memory, None, None)
                .await;
        for line in &lines {
            output.line(&dispatch.stage, &dispatch.action, line);
        }
        return outcome;
    }
    let Some(starter) = &context.starter else {
        return failed(FailureType::ConfigurationError, "this process cannot start pipelines".to_string());
    };
    let execution_id = codepipeline::child_execution_id(&dispatch.job_id, &child.pipeline);
    let by = format!("{}/{}/{}", dispatch.pipeline, dispatch.stage, dispatch.action);
    match starter.start(&child, &execution_id, &by).await {
        Ok(()) => {
            let summary = format!("started pipeline {} (execution {execution_id})", child.pipeline);
            output.line(&dispatch.stage, &dispatch.action, &summary);
            Outcome::Succeeded {
                output_variables: Default::default(),
                summary,
                external_execution_url: None,
                revision: None,
            }
        }
        Err(message) => failed(FailureType::JobFailed, format!("cannot start pipeline {}: {message}", child.pipeline)),
    }
}
