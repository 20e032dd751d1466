//! `pipewright webhook replay FILE --event push|pull_request`: a saved delivery body, read as
//! the repository host sent it, planned against every pipeline of the state directory. It
//! prints, for each pipeline, the trigger that matches or why none does, and without
//! `--dry-run` starts the matching pipelines, as `serve` would for the live delivery.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use pipewright_core::webhooks::GitHost;
use pipewright_core::webhooks::payload;
use pipewright_local::backend::{Backend, RunOptions};
use pipewright_local::webhooks as local;

use crate::failure::{self, usage};
use crate::launcher::ProcessLauncher;

#[derive(clap::Subcommand)]
pub enum WebhookCommand {
    /// Replay a saved delivery body: print, for every pipeline, the trigger that matches or
    /// why none does, and start the matching pipelines (unless --dry-run).
    Replay(ReplayArgs),
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The delivery's body, as the host sent it (JSON).
    file: PathBuf,
    /// The delivery's event: push or pull_request (or the host's own name, such as
    /// pullrequest:updated for Bitbucket or "Merge Request Hook" for GitLab).
    #[arg(long)]
    event: String,
    /// The host that sent it.
    #[arg(long, default_value = "github", value_parser = ["github", "bitbucket", "gitlab"])]
    provider: String,
    /// Print what would start, start nothing.
    #[arg(long)]
    dry_run: bool,
    /// What the delivery is known by; replaying the same one starts nothing twice. Default:
    /// what `serve` knows it by, the SHA-256 of the body (for GitLab `serve` takes the
    /// delivery's Idempotency-Key, else its X-Gitlab-Event-UUID: give it here to match).
    #[arg(long, value_name = "ID")]
    delivery_id: Option<String>,
    /// Take source action ACTION's content from PATH or a git URL (the delivery's commit is
    /// fetched from there). Repeatable.
    #[arg(long = "source", value_name = "ACTION=PATH|URL[#REF]", value_parser = crate::commands::run::parse_pair)]
    sources: Vec<(String, String)>,
    /// Approve every manual approval of the started executions at once.
    #[arg(long)]
    auto_approve: bool,
}

pub async fn run(state_dir: &Path, command: &WebhookCommand) -> Result<ExitCode> {
    let WebhookCommand::Replay(args) = command;
    replay(state_dir, args).await
}

async fn replay(state_dir: &Path, args: &ReplayArgs) -> Result<ExitCode> {
    let body = std::fs::read(&args.file).map_err(|e| usage(format!("{}: {e}", args.file.display())))?;
    let host = GitHost::from_segment(&args.provider).ok_or_else(|| usage("--provider: github, bitbucket or gitlab"))?;
    let id = args.delivery_id.clone().unwrap_or_else(|| payload::body_digest(&body));
    let delivery = payload::parse(host, &args.event, &body, id).map_err(|e| {
        usage(format!("{} is not a {} {} delivery: {e}", args.file.display(), args.provider, args.event))
    })?;
    let working_directory = std::env::current_dir().context("cannot read the current directory")?;
    let mut sources = std::collections::BTreeMap::new();
    for (action, value) in &args.sources {
        sources.insert(action.clone(), crate::commands::run::source_location(action, value, &working_directory, true)?);
    }
    let options = RunOptions {
        sources,
        working_directory: working_directory.clone(),
        auto_approve: args.auto_approve,
        ..RunOptions::default()
    };
    let launcher = ProcessLauncher::new(state_dir.to_path_buf()).context("cannot find the pipewright executable")?;
    let backend = Backend::open(
        state_dir,
        &working_directory,
        Arc::new(pipewright_local::report::Silent),
        Some(Arc::new(launcher)),
    )
    .map_err(anyhow::Error::new)?;
    pipewright_local::recovery::resume_orphans(&backend, None).await?;
    if let Some(reason) = &delivery.ignored {
        say!("delivery {}: nothing to run: {reason}", delivery.id);
        return Ok(ExitCode::SUCCESS);
    }
    let planned = local::plan_delivery(&backend, &delivery).await?;
    for (event, verdicts) in &planned {
        say!("{} (delivery {})", event.describe(), delivery.id);
        if verdicts.is_empty() {
            say!("  no pipelines in {}", state_dir.display());
        }
        for verdict in verdicts {
            match (&verdict.start, args.dry_run) {
                (None, _) => say!("  {}: does not start: {}", verdict.pipeline, verdict.describe()),
                (Some(_), true) => say!("  {}: would start: {}", verdict.pipeline, verdict.describe()),
                (Some(start), false) => {
                    let started =
                        local::start(&backend, &options, &verdict.pipeline, start).await.map_err(failure::service)?;
                    let what = if started.new { "started" } else { "already started by this delivery" };
                    say!("  {}: {what} execution {}: {}", verdict.pipeline, started.execution_id, verdict.describe());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
