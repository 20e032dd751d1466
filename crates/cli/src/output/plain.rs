//! One line per state change, for logs and pipes.

use std::io::Write;
use std::path::Path;

use pipewright_core::engine::{ApprovalRequest, ApprovalStatus, StateChange};
use pipewright_core::notifications::ApprovalMessage;
use pipewright_local::report::Reporter;

use super::{scope, short};

pub struct PlainReporter {
    execution_id: String,
    interactive: bool,
    /// Where the lines go instead of stdout (a worker inside `serve` writes its log file).
    file: Option<std::sync::Mutex<std::fs::File>>,
}

impl PlainReporter {
    pub fn new(execution_id: &str, interactive: bool) -> PlainReporter {
        PlainReporter { execution_id: execution_id.to_string(), interactive, file: None }
    }

    /// Lines appended to `file`, as a detached worker's stdout would be.
    pub fn to_file(execution_id: &str, file: std::fs::File) -> PlainReporter {
        PlainReporter { execution_id: execution_id.to_string(), interactive: false, file: Some(file.into()) }
    }

    fn say(&self, line: String) {
        match &self.file {
            // The raw text, as a log file keeps it (the terminal is who must not obey it).
            Some(file) => {
                if let Ok(mut file) = file.lock() {
                    let _ = writeln!(file, "{line}");
                }
            }
            None => say(line),
        }
    }
}

fn clock() -> String {
    chrono::Local::now().format("%H:%M:%S%.3f").to_string()
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", super::terminal::visible(&line));
    let _ = out.flush();
}

/// The detail worth a line next to a state: a summary, an error, a stop reason.
pub fn detail_of(change: &StateChange) -> Option<String> {
    let detail = &change.detail;
    if let Some(result) = &detail.execution_result {
        return result.external_execution_summary.clone();
    }
    if let Some(trigger) = &detail.execution_trigger {
        return Some(format!("{:?}", trigger.trigger_type));
    }
    detail.stop_execution_comments.clone()
}

impl Reporter for PlainReporter {
    fn state_change(&self, change: &StateChange) {
        let other = if change.detail.execution_id == self.execution_id {
            String::new()
        } else {
            format!(" [execution {}]", short(&change.detail.execution_id))
        };
        let detail = detail_of(change).map(|d| format!("  {d}")).unwrap_or_default();
        self.say(format!("{} {} {}{other}{detail}", clock(), scope(change), change.detail.state));
    }

    fn action_output(&self, stage: &str, action: &str, line: &str) {
        self.say(format!("[{stage}/{action}] {line}"));
    }

    fn approval_requested(&self, request: &ApprovalRequest, message: &ApprovalMessage, file: &Path) {
        self.say(format!("{} {}", clock(), message.subject));
        if let Some(data) = &request.custom_data {
            self.say(format!("    {data}"));
        }
        if let Some(link) = &request.external_entity_link {
            self.say(format!("    review: {link}"));
        }
        self.say(format!(
            "    approve: pipewright approve {} {} {} --summary \"…\"   (or reject), before {}",
            request.pipeline,
            request.stage,
            request.action,
            request.expires.to_rfc3339_minutes()
        ));
        self.say(format!("    message: {}", file.display()));
    }

    fn info(&self, message: &str) {
        self.say(format!("{} {message}", clock()));
    }

    fn prompt_approval(&self, request: &ApprovalRequest) -> Option<(ApprovalStatus, String)> {
        if !self.interactive {
            return None;
        }
        super::live::ask(request)
    }
}
