//! `pipewright`: run CodePipeline declarations on this machine, and check them.

mod commands;
mod declaration_file;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "pipewright", version, about = "CodePipeline-compatible pipelines, on AWS Lambda or on this machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check pipeline declarations (JSON or YAML, bare or `get-pipeline` output) against
    /// CodePipeline's rules, reporting every problem.
    Validate(commands::validate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("pipewright: {error:#}");
            ExitCode::FAILURE
        }
    }
}
