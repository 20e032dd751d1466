//! `status NAME` (GetPipelineState) and `history NAME` (ListPipelineExecutions).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use pipewright_core::ports::StateStore;
use pipewright_core::queries::{self, PipelineStateView};
use pipewright_core::service;
use pipewright_core::time::Timestamp;
use pipewright_local::backend::Backend;
use pipewright_local::recovery::resume_orphans;
use pipewright_local::report::Silent;

use crate::failure::{self, usage};
use crate::launcher::ProcessLauncher;
use crate::output::short;

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The pipeline.
    pub(crate) name: String,
    /// Print GetPipelineState's JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// The pipeline.
    pub(crate) name: String,
    /// How many executions, newest first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub(crate) limit: u16,
    /// Print ListPipelineExecutions' JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Opens the state directory, which must exist, and takes up its orphaned executions
/// (`pipewright_local::recovery`).
pub async fn open_existing(state_dir: &Path) -> Result<Backend> {
    if !state_dir.join("state.db").exists() {
        return Err(usage(format!(
            "no pipelines in {} (start one with `pipewright run FILE`, or give --state-dir)",
            state_dir.display()
        )));
    }
    let launcher = ProcessLauncher::new(state_dir.to_path_buf()).context("cannot find the pipewright executable")?;
    let working_directory = std::env::current_dir().context("cannot read the current directory")?;
    let backend = Backend::open(state_dir, &working_directory, Arc::new(Silent), Some(Arc::new(launcher)))?;
    resume_orphans(&backend, None).await?;
    Ok(backend)
}

/// GetPipelineState of `name`.
pub async fn pipeline_state(backend: &Backend, name: &str) -> Result<PipelineStateView> {
    service::pipeline_state(backend.store.as_ref(), &backend.cache, name).await.map_err(failure::service)
}

fn when(seconds: f64) -> String {
    let timestamp = Timestamp::from_millis((seconds * 1000.0) as i64);
    chrono::DateTime::from_timestamp_millis(timestamp.millis())
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub async fn status(state_dir: &Path, args: &StatusArgs) -> Result<ExitCode> {
    let backend = open_existing(state_dir).await?;
    let view = pipeline_state(&backend, &args.name).await?;
    if args.json {
        say_raw!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    say!("Pipeline {} (version {})", view.pipeline_name, view.pipeline_version);
    for stage in &view.stage_states {
        let latest = stage
            .latest_execution
            .as_ref()
            .map(|e| format!("{}  execution {}", e.status, short(&e.pipeline_execution_id)))
            .unwrap_or_else(|| "not run".to_string());
        say!("\n{}  {latest}", stage.stage_name);
        if let Some(transition) = stage.inbound_transition_state.as_ref().filter(|t| !t.enabled) {
            say!(
                "  transition disabled: {}{}",
                transition.disabled_reason.as_deref().unwrap_or("no reason given"),
                transition.last_changed_by.as_ref().map(|b| format!(" (by {b})")).unwrap_or_default()
            );
        }
        for inbound in stage.inbound_execution.iter().chain(stage.inbound_executions.iter().skip(1)) {
            say!("  waiting to enter: execution {} ({})", short(&inbound.pipeline_execution_id), inbound.status);
        }
        for action in &stage.action_states {
            match &action.latest_execution {
                None => say!("  {:24} -", action.action_name),
                Some(latest) => {
                    let detail = latest
                        .error_details
                        .as_ref()
                        .map(|e| e.message.clone())
                        .or_else(|| latest.summary.clone())
                        .unwrap_or_default();
                    say!(
                        "  {:24} {:11} {}  {detail}",
                        action.action_name,
                        latest.status,
                        when(latest.last_status_change)
                    );
                    if latest.token.is_some() {
                        say!(
                            "  {:24} waiting for approval: pipewright approve {} {} {} --summary \"…\"",
                            "",
                            view.pipeline_name,
                            stage.stage_name,
                            action.action_name
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn history(state_dir: &Path, args: &HistoryArgs) -> Result<ExitCode> {
    let backend = open_existing(state_dir).await?;
    if backend.store.get_pipeline(&args.name, None).await?.is_none() {
        return Err(usage(format!("pipeline {} does not exist in this state directory", args.name)));
    }
    let page = backend.store.list_executions(&args.name, usize::from(args.limit), None).await?;
    let summaries: Vec<_> = page.items.iter().map(queries::execution_summary).collect();
    if args.json {
        say_raw!("{}", serde_json::to_string_pretty(&serde_json::json!({ "pipelineExecutionSummaries": summaries }))?);
        return Ok(ExitCode::SUCCESS);
    }
    say!("{:36}  {:10}  {:19}  {:>9}  {:24}  REVISION", "EXECUTION", "STATUS", "STARTED", "DURATION", "TRIGGER");
    for summary in &summaries {
        let revision = summary
            .source_revisions
            .first()
            .map(|r| {
                let id: String = r.revision_id.chars().take(8).collect();
                format!("{id} {}", r.revision_summary.as_deref().unwrap_or_default())
            })
            .unwrap_or_default();
        say!(
            "{:36}  {:10}  {:19}  {:>8.1}s  {:24}  {}",
            summary.pipeline_execution_id,
            summary.status.as_str(),
            when(summary.start_time),
            summary.last_update_time - summary.start_time,
            format!("{:?}", summary.trigger.trigger_type),
            revision.chars().take(60).collect::<String>()
        );
    }
    Ok(ExitCode::SUCCESS)
}
