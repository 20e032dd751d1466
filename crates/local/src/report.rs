//! What a run shows a person: the worker tells a [`Reporter`], the CLI decides how it looks
//! (a live view on a terminal, plain lines, or a JSON stream).

use std::path::Path;

use pipewright_core::engine::{ApprovalRequest, ApprovalStatus, StateChange};
use pipewright_core::notifications::ApprovalMessage;

pub trait Reporter: Send + Sync {
    /// A state change of the execution, in CodePipeline's event format.
    fn state_change(&self, change: &StateChange);
    /// One line of an action's output.
    fn action_output(&self, stage: &str, action: &str, line: &str);
    /// A manual approval waits; its SNS message was written to `file`.
    fn approval_requested(&self, request: &ApprovalRequest, message: &ApprovalMessage, file: &Path);
    /// Anything else worth a line (a problem the worker recovered from, a hint).
    fn info(&self, message: &str);
    /// Asks the person at the terminal to approve or reject; `None` leaves the approval to
    /// someone else (another shell, the deadline). Called on a blocking thread.
    fn prompt_approval(&self, _request: &ApprovalRequest) -> Option<(ApprovalStatus, String)> {
        None
    }
}

/// Shows nothing: for detached workers and tests.
pub struct Silent;

impl Reporter for Silent {
    fn state_change(&self, _: &StateChange) {}
    fn action_output(&self, _: &str, _: &str, _: &str) {}
    fn approval_requested(&self, _: &ApprovalRequest, _: &ApprovalMessage, _: &Path) {}
    fn info(&self, _: &str) {}
}
