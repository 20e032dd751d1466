//! Runs a dispatched action on this machine, through the provider its type names. Providers
//! that need AWS fail their action with a clear error rather than pretend.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use pipewright_core::engine::{ActionFailed, ActionSucceeded, Dispatch, Event, FailureDetails, FailureType, Revision};
use pipewright_core::providers::ProviderKind;

use crate::artifacts::ArtifactDir;
use crate::commands;
use crate::report::Reporter;
use crate::sources::{self, SourceOptions};

/// Why an action failed, as PutJobFailureResult would say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError {
    pub kind: FailureType,
    pub message: String,
}

/// How a provider finished an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded {
        output_variables: BTreeMap<String, String>,
        summary: String,
        external_execution_url: Option<String>,
        revision: Option<Revision>,
    },
    Failed(ActionError),
    /// Stopped from outside (abandoned, timed out): the engine has already moved on.
    Cancelled,
}

impl Outcome {
    /// The engine event reporting this outcome, if there is one to report.
    pub fn into_event(self, dispatch: &Dispatch) -> Option<Event> {
        let job = dispatch.job_ref();
        match self {
            Outcome::Succeeded { output_variables, summary, external_execution_url, revision } => {
                Some(Event::ActionSucceeded(ActionSucceeded {
                    job,
                    output_variables,
                    summary: Some(summary),
                    external_execution_id: Some(dispatch.action_execution_id.clone()),
                    external_execution_url,
                    revision,
                    by: Some("pipewright-local".to_string()),
                }))
            }
            Outcome::Failed(error) => Some(Event::ActionFailed(ActionFailed {
                job,
                failure: FailureDetails {
                    kind: error.kind,
                    message: error.message,
                    external_execution_id: Some(dispatch.action_execution_id.clone()),
                },
            })),
            Outcome::Cancelled => None,
        }
    }
}

/// What providers need from the machine.
#[derive(Clone)]
pub struct ProviderContext {
    pub artifacts: ArtifactDir,
    pub sources: SourceOptions,
    /// Workspaces of Commands actions: `<work>/<execution>/<stage>/<action>/<attempt>`.
    pub work_root: PathBuf,
    /// Action logs: `<logs>/<execution>/<stage>/<action>/<attempt>.log`.
    pub logs_root: PathBuf,
    pub reporter: Arc<dyn Reporter>,
}

/// Runs `dispatch` to its end, or until `cancel` turns true.
pub async fn run(
    dispatch: &Dispatch,
    kind: Option<ProviderKind>,
    context: &ProviderContext,
    cancel: watch::Receiver<bool>,
) -> Outcome {
    let scratch = context
        .work_root
        .join(&dispatch.execution_id)
        .join(&dispatch.stage)
        .join(&dispatch.action)
        .join(dispatch.attempt.to_string());
    match kind {
        Some(
            ProviderKind::CodeCommit
            | ProviderKind::CodeStarSourceConnection
            | ProviderKind::GitHubV1
            | ProviderKind::S3Source
            | ProviderKind::Ecr,
        ) => match sources::fetch(dispatch, kind, &context.sources, &context.artifacts, &scratch).await {
            Ok(fetched) => Outcome::Succeeded {
                output_variables: fetched.output_variables,
                summary: fetched.summary,
                external_execution_url: None,
                revision: Some(fetched.revision),
            },
            Err(error) => Outcome::Failed(error),
        },
        Some(ProviderKind::Commands) => commands::run(dispatch, context, &scratch, cancel).await,
        _ => Outcome::Failed(ActionError {
            kind: FailureType::ConfigurationError,
            message: format!(
                "{}/{}/{} actions need the AWS backend (deploy Pipewright with `sam deploy`); they cannot run on this machine",
                dispatch.action_type.category, dispatch.action_type.owner, dispatch.action_type.provider
            ),
        }),
    }
}
