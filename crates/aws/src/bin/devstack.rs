//! `pipewright-devstack`: the local AWS stand-in for the dev loop (infra/local/README.md).
//!
//! ```text
//! pipewright-devstack up [--env-file F]   # the template's resources, at AWS_ENDPOINT_URL
//! pipewright-devstack put-pipeline FILE   # store a declaration, as CreatePipeline will
//! pipewright-devstack start NAME          # a StartPipelineExecution command on the bus
//! pipewright-devstack route --watch URL   # queues → the functions of `cargo lambda watch`
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use pipewright_aws::bus::{COMMAND_SOURCE, Entry, START_COMMAND, StartCommand};
use pipewright_aws::devstack::router::{Router, Target, deliver};
use pipewright_aws::devstack::{self, StackNames};
use pipewright_aws::settings::Services;
use pipewright_core::declaration::{Format, PipelineDocument};
use pipewright_core::ports::StateStore;
use pipewright_core::validate;

#[derive(Parser)]
#[command(name = "pipewright-devstack", about = "The local AWS stand-in of a Pipewright stack (moto)")]
struct Cli {
    /// The stack's name: resources are named after it, as `sam deploy` names them.
    #[arg(long, global = true, default_value = "pipewright-dev")]
    stack: String,
    /// The SAM template whose rules are mirrored.
    #[arg(long, global = true, default_value = "template.yaml")]
    template: PathBuf,
    /// Where approval links point: the approval-callback function's URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:9000/lambda-url/approval-callback")]
    approval_url: String,
    /// A template parameter's value, as `sam deploy --parameter-overrides` takes it (repeatable),
    /// e.g. `--parameter SourceBucketPattern=my-sources-*`.
    #[arg(long = "parameter", global = true, value_name = "NAME=VALUE", value_parser = parse_parameter)]
    parameters: Vec<(String, String)>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the resources and prints the functions' environment as `export` lines.
    Up {
        /// Also write that environment as KEY=VALUE lines, for `cargo lambda watch --env-file`.
        #[arg(long)]
        env_file: Option<PathBuf>,
    },
    /// Stores a pipeline declaration (JSON or YAML), as CreatePipeline/UpdatePipeline will.
    PutPipeline { file: PathBuf },
    /// Puts a StartPipelineExecution command on the stack's bus.
    Start { pipeline: String },
    /// Delivers queued events to the functions until interrupted; ticks every minute.
    Route {
        /// Base URL of `cargo lambda watch` (default: run the handlers in this process).
        #[arg(long)]
        watch: Option<String>,
        /// Seconds between ticks of stage-transition.
        #[arg(long, default_value_t = 60)]
        tick_seconds: u64,
    },
}

fn parse_parameter(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    pipewright_aws::telemetry::init();
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        bail!(
            "AWS_ENDPOINT_URL is not set: start moto with `bash infra/local/moto.sh start` and export what it prints"
        );
    }
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let template =
        std::fs::read_to_string(&cli.template).with_context(|| format!("cannot read {}", cli.template.display()))?;
    let parameters = cli.parameters.iter().cloned().collect();
    let stack =
        devstack::create(&sdk, StackNames::new(&cli.stack), &template, Some(cli.approval_url.clone()), &parameters)
            .await?;
    match cli.command {
        Command::Up { env_file } => {
            let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
            let environment = devstack::function_environment(&stack, &endpoint);
            for (name, value) in &environment {
                println!("export {name}='{value}'");
            }
            if let Some(path) = env_file {
                let lines: String = environment.iter().map(|(name, value)| format!("{name}={value}\n")).collect();
                std::fs::write(&path, lines).with_context(|| format!("cannot write {}", path.display()))?;
            }
            println!("# approval topic: {}", stack.topic_arn);
            println!("# artifact bucket: {}", stack.names.bucket());
        }
        Command::PutPipeline { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.to_str();
            let document = PipelineDocument::parse(&text, Format::detect(name, &text))
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let report = validate::validate(&document.pipeline);
            if !report.errors.is_empty() {
                bail!("{} is not valid:\n{report}", file.display());
            }
            let services = Services::new(&sdk, stack.settings.clone(), false).await?;
            let outcome = services.store.put_pipeline(&document.pipeline, pipewright_aws::handlers::now()).await?;
            println!("pipeline {} stored as version {}", document.pipeline.name, outcome.version);
        }
        Command::Start { pipeline } => {
            let services = Services::new(&sdk, stack.settings.clone(), false).await?;
            let command = StartCommand {
                pipeline_name: pipeline.clone(),
                variables: Vec::new(),
                source_revisions: Vec::new(),
                client_request_token: Some(uuid::Uuid::new_v4().to_string()),
                change: None,
                requested_by: Some("pipewright-devstack".to_string()),
            };
            let entry = Entry {
                source: COMMAND_SOURCE.to_string(),
                detail_type: START_COMMAND.to_string(),
                detail: serde_json::to_value(command)?,
                resources: Vec::new(),
            };
            services.bus.put(vec![entry]).await?;
            println!("StartPipelineExecution for {pipeline} is on bus {}", services.bus.name());
        }
        Command::Route { watch, tick_seconds } => {
            let target = match watch {
                Some(base) => Target::Watch(base),
                None => Target::InProcess(Arc::new(Services::new(&sdk, stack.settings.clone(), true).await?)),
            };
            let router = Router::new(&sdk, &stack, target);
            let mut last_tick = Instant::now();
            eprintln!("routing the queues of stack {}; Ctrl-C stops", cli.stack);
            loop {
                let pumped = router.pump().await?;
                for failure in &pumped.failed {
                    eprintln!("failed (will be retried): {failure}");
                }
                for rejection in &pumped.rejected {
                    eprintln!("rejected: {rejection}");
                }
                if last_tick.elapsed() >= Duration::from_secs(tick_seconds) {
                    last_tick = Instant::now();
                    let _ = deliver(router.target(), "stage-transition", &Router::scheduled_event()).await;
                }
                if pumped.messages == 0 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    Ok(())
}
