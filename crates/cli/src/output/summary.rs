//! The table printed when a run ends: every action's last attempt, its status, its duration
//! and what it said.

use pipewright_core::engine::{ActionStatus, Execution};

use super::short;

fn seconds(from: i64, to: i64) -> String {
    format!("{:.1}s", (to - from).max(0) as f64 / 1000.0)
}

/// The summary of `execution`, as lines of text.
pub fn render(execution: &Execution) -> String {
    let mut rows: Vec<[String; 5]> = vec![["STAGE", "ACTION", "STATUS", "DURATION", "DETAIL"].map(String::from)];
    for run in &execution.stages {
        for action in &run.actions {
            let Some(attempt) = action.attempts.last() else {
                rows.push([run.name.clone(), action.name.clone(), "-".into(), "-".into(), "did not run".into()]);
                continue;
            };
            let end = if attempt.status == ActionStatus::InProgress { attempt.started_at } else { attempt.updated_at };
            let detail = match (&attempt.error, &attempt.summary) {
                (Some(error), _) => error.message.clone(),
                (None, Some(summary)) => summary.clone(),
                (None, None) => String::new(),
            };
            // A build's report counts lead, so that the truncated line still shows them.
            let detail = match attempt.details.as_ref().and_then(|d| d.reports_line()) {
                Some(reports) if attempt.error.is_none() => {
                    format!("[{reports}] {}", detail.split(". ").next().unwrap_or_default())
                }
                Some(reports) => format!("[{reports}] {detail}"),
                None => detail,
            };
            let status = if attempt.number > 1 {
                format!("{} (attempt {})", attempt.status.as_str(), attempt.number)
            } else {
                attempt.status.as_str().to_string()
            };
            rows.push([
                run.name.clone(),
                action.name.clone(),
                status,
                seconds(attempt.started_at.millis(), end.millis()),
                detail,
            ]);
        }
    }
    let widths: Vec<usize> = (0..4).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = format!(
        "Execution {} {} in {}{}\n",
        short(&execution.id),
        execution.status.as_str(),
        seconds(execution.started_at.millis(), execution.updated_at.millis()),
        execution.status_summary.as_ref().map(|s| format!(": {s}")).unwrap_or_default()
    );
    for row in rows {
        let detail: String = row[4].lines().next().unwrap_or_default().chars().take(100).collect();
        out.push_str(&format!(
            "  {:w0$}  {:w1$}  {:w2$}  {:w3$}  {detail}\n",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        ));
    }
    out
}
