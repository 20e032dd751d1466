//! `pipewright`: run CodePipeline declarations on this machine, and check them.

/// `println!` that never panics (output to a closed pipe is dropped and the work goes on) and
/// shows escape sequences in the text instead of letting the terminal obey them.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", crate::output::terminal::visible(&text));
        let _ = out.flush();
    }};
}

/// `print!` that never panics, escape sequences shown.
macro_rules! say_text {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{}", crate::output::terminal::visible(&text));
        let _ = out.flush();
    }};
}

/// `println!` that never panics, for JSON: the text is kept as it is.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

mod build_projects;
mod commands;
mod deploy_target;
mod failure;
mod launcher;
mod output;
mod pipeline_file;
mod remote;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::control::{ApprovalArgs, RetryArgs, StopArgs, TransitionsCommand};
use commands::run::{RunArgs, StartArgs, WorkerArgs};
use commands::status::{HistoryArgs, StatusArgs};
use pipewright_core::engine::ApprovalStatus;

#[derive(Parser)]
#[command(name = "pipewright", version, about = "CodePipeline-compatible pipelines, on AWS Lambda or on this machine")]
struct Cli {
    /// Where pipelines, executions, artifacts and logs are kept.
    #[arg(long, global = true, value_name = "DIR", default_value = ".pipewright", env = "PIPEWRIGHT_STATE_DIR")]
    state_dir: PathBuf,
    /// Drive a remote Pipewright instead of the state directory: the AWS deployment's ApiUrl
    /// or a `pipewright serve`. Requests are signed with AWS_ACCESS_KEY_ID /
    /// AWS_SECRET_ACCESS_KEY or --profile, as the aws CLI signs them.
    #[arg(long, global = true, value_name = "URL", env = "PIPEWRIGHT_ENDPOINT")]
    endpoint: Option<String>,
    /// With --endpoint: the profile of the shared credentials file to sign with; with
    /// `run --aws`: the profile deploy actions use; with `worker-key`: the API key's.
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,
    /// The pipeline's region: `AWS::Region` of templates, the home region validation uses,
    /// with --endpoint the region in the signature (default AWS_REGION, else us-east-1), and
    /// under `serve` the region its pipelines' actions name in answers (default `local`).
    #[arg(long, global = true, value_name = "REGION")]
    region: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check pipelines against CodePipeline's rules, reporting every problem: declarations
    /// (JSON or YAML, bare or `get-pipeline` output), CloudFormation/SAM templates, CDK
    /// output and `terraform show -json` output.
    Validate(commands::validate::Args),
    /// Print the API-format declaration of a pipeline file (a template's pipeline, resolved),
    /// for `aws codepipeline create-pipeline --cli-input-json`.
    Export(commands::export::ExportArgs),
    /// Store a declaration, run one execution of it here, and show it until it ends.
    /// Exit code: 0 Succeeded, 1 Failed, 2 bad usage or declaration, 3 Stopped or Superseded.
    Run(RunArgs),
    /// Start an execution of a stored pipeline (it runs in the background unless --wait).
    Start(StartArgs),
    /// The current state of every stage and action (GetPipelineState).
    Status(StatusArgs),
    /// Past executions, newest first (ListPipelineExecutions).
    History(HistoryArgs),
    /// Approve a manual approval that waits.
    Approve(ApprovalArgs),
    /// Reject a manual approval that waits (its stage fails).
    Reject(ApprovalArgs),
    /// Retry a failed or stopped stage (RetryStageExecution).
    Retry(RetryArgs),
    /// Stop an execution: let running actions finish, or abandon them.
    Stop(StopArgs),
    /// Disable or enable the inbound transition of a stage.
    #[command(subcommand)]
    Transitions(TransitionsCommand),
    /// Serve CodePipeline's API (AWS JSON 1.1) over this state directory, for the aws CLI,
    /// boto3 and the AWS SDKs (`--endpoint-url`).
    Serve(commands::serve::ServeArgs),
    /// Webhook deliveries: `webhook replay FILE --event push|pull_request [--dry-run]` shows
    /// which pipelines a saved delivery starts and why the others do not.
    #[command(subcommand)]
    Webhook(commands::webhook::WebhookCommand),
    /// Print the key of one custom or partner action type's job workers, made offline from
    /// the API key (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile): it polls,
    /// acknowledges and reports jobs of that type, and calls nothing else.
    WorkerKey(commands::worker_key::WorkerKeyArgs),
    /// Carry out one execution in the background (started by pipewright itself).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// A command against a remote Pipewright (`--endpoint`).
async fn remote(
    endpoint: &str,
    profile: Option<&str>,
    region: Option<&str>,
    command: &Command,
) -> anyhow::Result<ExitCode> {
    use commands::remote as r;
    let client = remote::Remote::new(endpoint, profile, region)?;
    match command {
        Command::Run(args) => r::run(&client, args, region).await,
        Command::Start(args) => r::start(&client, args).await,
        Command::Status(args) => r::status(&client, args).await,
        Command::History(args) => r::history(&client, args).await,
        Command::Approve(args) => r::answer(&client, args, ApprovalStatus::Approved).await,
        Command::Reject(args) => r::answer(&client, args, ApprovalStatus::Rejected).await,
        Command::Retry(args) => r::retry(&client, args).await,
        Command::Stop(args) => r::stop(&client, args).await,
        Command::Transitions(command) => r::transitions(&client, command).await,
        Command::Validate(args) => commands::validate::run(args, region),
        Command::Export(args) => commands::export::export(args, region),
        Command::WorkerKey(args) => commands::worker_key::worker_key(args, profile),
        Command::Serve(_) | Command::Worker(_) | Command::Webhook(_) => {
            Err(failure::usage("serve, webhook and worker work on this machine's state directory; drop --endpoint"))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pipewright: cannot start: {}", output::terminal::visible(&error.to_string()));
            return ExitCode::from(failure::FAILED);
        }
    };
    let state_dir = cli.state_dir;
    let result = runtime.block_on(async {
        if let Some(endpoint) = &cli.endpoint {
            return remote(endpoint, cli.profile.as_deref(), cli.region.as_deref(), &cli.command).await;
        }
        match &cli.command {
            Command::Validate(args) => commands::validate::run(args, cli.region.as_deref()),
            Command::Export(args) => commands::export::export(args, cli.region.as_deref()),
            Command::Run(args) => {
                commands::run::run(&state_dir, args, cli.profile.as_deref(), cli.region.as_deref()).await
            }
            Command::Start(args) => {
                commands::run::start(&state_dir, args, cli.profile.as_deref(), cli.region.as_deref()).await
            }
            Command::Status(args) => commands::status::status(&state_dir, args).await,
            Command::History(args) => commands::status::history(&state_dir, args).await,
            Command::Approve(args) => commands::control::answer(&state_dir, args, ApprovalStatus::Approved).await,
            Command::Reject(args) => commands::control::answer(&state_dir, args, ApprovalStatus::Rejected).await,
            Command::Retry(args) => commands::control::retry(&state_dir, args).await,
            Command::Stop(args) => commands::control::stop(&state_dir, args).await,
            Command::Transitions(command) => commands::control::transitions(&state_dir, command).await,
            Command::Serve(args) => {
                commands::serve::serve(&state_dir, args, cli.profile.as_deref(), cli.region.as_deref()).await
            }
            Command::Worker(args) => commands::run::worker(&state_dir, args).await,
            Command::Webhook(command) => commands::webhook::run(&state_dir, command).await,
            Command::WorkerKey(args) => commands::worker_key::worker_key(args, cli.profile.as_deref()),
        }
    });
    // Detached workers and running commands must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("pipewright: {}", output::terminal::visible(&format!("{error:#}")));
            if error.downcast_ref::<failure::Usage>().is_some() {
                ExitCode::from(failure::USAGE)
            } else {
                ExitCode::from(failure::FAILED)
            }
        }
    }
}
