//! How a run looks: a live view on a terminal, one plain line per state change otherwise, or a
//! JSON stream of state-change events; then a summary table.

mod json;
mod live;
mod plain;
pub mod summary;
pub mod terminal;

use std::io::IsTerminal;
use std::sync::Arc;

use pipewright_core::engine::StateChange;
use pipewright_core::pipeline::Pipeline;
use pipewright_local::report::Reporter;

pub use json::JsonReporter;
pub use live::LiveReporter;
pub use plain::PlainReporter;

/// How the person asked to see a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Live,
    Plain,
    Json,
}

impl Style {
    /// `--json` wins; otherwise a live view when stdout is a terminal.
    pub fn choose(json: bool) -> Style {
        if json {
            Style::Json
        } else if std::io::stdout().is_terminal() && std::env::var_os("PIPEWRIGHT_PLAIN").is_none() {
            Style::Live
        } else {
            Style::Plain
        }
    }
}

/// The reporter for `style`, and a handle to finish it (clear a live view) before the summary.
pub fn reporter(
    style: Style,
    pipeline: &Pipeline,
    execution_id: &str,
    interactive: bool,
) -> (Arc<dyn Reporter>, Finisher) {
    match style {
        Style::Live => {
            let live = Arc::new(LiveReporter::new(pipeline, execution_id, interactive));
            (live.clone(), Finisher(Some(live)))
        }
        Style::Plain => (Arc::new(PlainReporter::new(execution_id, interactive)), Finisher(None)),
        Style::Json => (Arc::new(JsonReporter), Finisher(None)),
    }
}

pub struct Finisher(Option<Arc<LiveReporter>>);

impl Finisher {
    /// Nothing to finish (no live view).
    pub fn none() -> Finisher {
        Finisher(None)
    }

    pub fn finish(&self) {
        if let Some(live) = &self.0 {
            live.finish();
        }
    }
}

/// `Stage/Action`, `Stage` or the pipeline, for a line about a state change.
pub fn scope(change: &StateChange) -> String {
    match (&change.detail.stage, &change.detail.action) {
        (Some(stage), Some(action)) => format!("{stage}/{action}"),
        (Some(stage), None) => stage.clone(),
        _ => format!("pipeline {}", change.detail.pipeline),
    }
}

/// The first 8 characters of an execution id, as people read it.
pub fn short(id: &str) -> &str {
    pipewright_core::text::head(id, 8)
}
