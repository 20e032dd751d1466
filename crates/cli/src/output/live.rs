//! The live view on a terminal: every stage and action with its status and elapsed time,
//! redrawn in place; action output scrolls above it.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use pipewright_core::engine::{ApprovalRequest, ApprovalStatus, StateChange};
use pipewright_core::notifications::ApprovalMessage;
use pipewright_core::pipeline::Pipeline;
use pipewright_local::report::Reporter;

use super::plain::detail_of;
use super::short;
use super::terminal::visible;

struct Line {
    bar: ProgressBar,
    label: String,
    started: Option<Instant>,
}

pub struct LiveReporter {
    multi: MultiProgress,
    header: ProgressBar,
    lines: Mutex<HashMap<String, Line>>,
    execution_id: String,
    interactive: bool,
}

/// A line of ours with text from outside in it, escape sequences shown.
fn shown(line: String) -> String {
    visible(&line).into_owned()
}

fn spinning() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn still() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn duration(started: Option<Instant>) -> String {
    started.map(|s| format!(" {:.1}s", s.elapsed().as_secs_f64())).unwrap_or_default()
}

impl LiveReporter {
    pub fn new(pipeline: &Pipeline, execution_id: &str, interactive: bool) -> LiveReporter {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(spinning());
        header.set_message(shown(format!("{} · execution {}", pipeline.name, short(execution_id))));
        header.enable_steady_tick(Duration::from_millis(120));
        let mut lines = HashMap::new();
        for stage in &pipeline.stages {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(still());
            bar.set_message(shown(format!("  · {}", stage.name)));
            lines.insert(stage.name.clone(), Line { bar, label: stage.name.clone(), started: None });
            for action in &stage.actions {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(still());
                let label = format!("{} ({})", action.name, action.type_id.provider);
                bar.set_message(shown(format!("      · {label}")));
                lines.insert(format!("{}/{}", stage.name, action.name), Line { bar, label, started: None });
            }
        }
        LiveReporter { multi, header, lines: Mutex::new(lines), execution_id: execution_id.to_string(), interactive }
    }

    /// Clears the view, before the summary table.
    pub fn finish(&self) {
        self.header.finish_and_clear();
        for line in self.lines.lock().unwrap_or_else(|p| p.into_inner()).values() {
            line.bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

impl Reporter for LiveReporter {
    fn state_change(&self, change: &StateChange) {
        let detail = &change.detail;
        if detail.execution_id != self.execution_id {
            let _ = self.multi.println(shown(format!("execution {} {}", short(&detail.execution_id), detail.state)));
            return;
        }
        let Some(stage) = &detail.stage else {
            self.header.set_message(shown(format!(
                "{} · execution {} · {}",
                detail.pipeline,
                short(&detail.execution_id),
                detail.state
            )));
            return;
        };
        let (key, indent) = match &detail.action {
            Some(action) => (format!("{stage}/{action}"), "    "),
            None => (stage.clone(), ""),
        };
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let Some(line) = lines.get_mut(&key) else { return };
        let state = detail.state.as_str();
        match state {
            "STARTED" | "RESUMED" => {
                line.started = Some(Instant::now());
                line.bar.reset_elapsed();
                line.bar.set_style(spinning());
                line.bar.enable_steady_tick(Duration::from_millis(120));
                line.bar.set_message(shown(format!("{indent}{} {}", line.label, state.to_lowercase())));
            }
            "STOPPING" => line.bar.set_message(shown(format!("{indent}{} stopping", line.label))),
            _ => {
                let mark = match state {
                    "SUCCEEDED" => "✔",
                    "FAILED" => "✘",
                    _ => "■",
                };
                let extra = detail_of(change).map(|d| format!("  {d}")).unwrap_or_default();
                line.bar.disable_steady_tick();
                line.bar.set_style(still());
                line.bar.set_message(shown(format!(
                    "{indent}  {mark} {} {}{}{extra}",
                    line.label,
                    state.to_lowercase(),
                    duration(line.started)
                )));
            }
        }
    }

    fn action_output(&self, stage: &str, action: &str, line: &str) {
        let _ = self.multi.println(shown(format!("[{stage}/{action}] {line}")));
    }

    fn approval_requested(&self, request: &ApprovalRequest, message: &ApprovalMessage, file: &Path) {
        let _ = self.multi.println(visible(&message.subject));
        if let Some(data) = &request.custom_data {
            let _ = self.multi.println(shown(format!("    {data}")));
        }
        let _ = self.multi.println(shown(format!(
            "    answer {}from another shell: pipewright approve|reject {} {} {}  (message: {})",
            if self.interactive { "below, or " } else { "" },
            request.pipeline,
            request.stage,
            request.action,
            file.display()
        )));
    }

    fn info(&self, message: &str) {
        let _ = self.multi.println(visible(message));
    }

    fn prompt_approval(&self, request: &ApprovalRequest) -> Option<(ApprovalStatus, String)> {
        if !self.interactive {
            return None;
        }
        self.multi.suspend(|| ask(request))
    }
}

/// Asks on the terminal: approve, reject or leave it; then a summary.
pub fn ask(request: &ApprovalRequest) -> Option<(ApprovalStatus, String)> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut err = std::io::stderr();
    let question = format!(
        "Approve {}/{} of {} (execution {})? [a]pprove / [r]eject / [l]eave for later: ",
        request.stage,
        request.action,
        request.pipeline,
        short(&request.execution_id)
    );
    let _ = write!(err, "{}", visible(&question));
    let _ = err.flush();
    let mut answer = String::new();
    input.read_line(&mut answer).ok()?;
    let status = match answer.trim().to_ascii_lowercase().as_str() {
        "a" | "approve" | "y" | "yes" => ApprovalStatus::Approved,
        "r" | "reject" | "n" | "no" => ApprovalStatus::Rejected,
        _ => return None,
    };
    let _ = write!(err, "Summary (optional): ");
    let _ = err.flush();
    let mut summary = String::new();
    input.read_line(&mut summary).ok()?;
    Some((status, summary.trim().chars().take(512).collect()))
}
