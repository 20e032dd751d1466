//! `--json`: every state change as the EventBridge event Pipewright publishes, one per line on
//! standard output; everything else goes to standard error.

use std::io::Write;
use std::path::Path;

use pipewright_core::engine::{ApprovalRequest, StateChange};
use pipewright_core::envelope::state_change_event;
use pipewright_core::notifications::ApprovalMessage;
use pipewright_local::backend::LOCAL_REGION;
use pipewright_local::report::Reporter;

/// The account local events carry.
pub const LOCAL_ACCOUNT: &str = "000000000000";

pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn state_change(&self, change: &StateChange) {
        let event = state_change_event(change, LOCAL_ACCOUNT, LOCAL_REGION);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{event}");
        let _ = out.flush();
    }

    fn action_output(&self, stage: &str, action: &str, line: &str) {
        eprintln!("[{stage}/{action}] {line}");
    }

    fn approval_requested(&self, request: &ApprovalRequest, message: &ApprovalMessage, file: &Path) {
        eprintln!(
            "{}: pipewright approve {} {} {} (message: {})",
            message.subject,
            request.pipeline,
            request.stage,
            request.action,
            file.display()
        );
    }

    fn info(&self, message: &str) {
        eprintln!("{message}");
    }
}
