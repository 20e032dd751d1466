//! How a provider finished an action, and the engine event that reports it.

use std::collections::BTreeMap;

use pipewright_core::action_details::ActionDetails;
use pipewright_core::engine::{ActionFailed, ActionSucceeded, Dispatch, Event, FailureDetails, FailureType, Revision};

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
    /// Handed to someone who reports the result later through the job protocol
    /// (PutJobSuccessResult / PutJobFailureResult): a Lambda function.
    HandedOff,
}

impl Outcome {
    /// The engine event reporting this outcome, if there is one to report.
    pub fn into_event(self, dispatch: &Dispatch) -> Option<Event> {
        self.into_event_with(dispatch, None)
    }

    /// The same, with the phases and report counts of a build-like action.
    pub fn into_event_with(self, dispatch: &Dispatch, details: Option<ActionDetails>) -> Option<Event> {
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
                    by: Some("pipewright".to_string()),
                    details,
                }))
            }
            Outcome::Failed(error) => Some(Event::ActionFailed(ActionFailed {
                job,
                failure: FailureDetails {
                    kind: error.kind,
                    message: error.message,
                    external_execution_id: Some(dispatch.action_execution_id.clone()),
                },
                details,
            })),
            Outcome::Cancelled | Outcome::HandedOff => None,
        }
    }
}
