//! `pipewright export FILE`: the API-format declaration Pipewright runs, as the input of
//! `aws codepipeline create-pipeline --cli-input-json` (`{"pipeline": …, "tags": […]}`).

use std::process::ExitCode;

use anyhow::Result;

use pipewright_core::declaration::PipelineDeclaration;
use pipewright_core::import::Tag;

use crate::pipeline_file::{ImportArgs, prepare};

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A pipeline file: a declaration, a CloudFormation/SAM template, a CDK app's
    /// `cdk.out`, or `terraform show -json` output; `-` reads standard input.
    pub(crate) file: String,
    #[command(flatten)]
    pub(crate) import: ImportArgs,
}

pub fn export(args: &ExportArgs, region: Option<&str>) -> Result<ExitCode> {
    let candidate = prepare(&args.file, &args.import, region, false, false)?;
    let mut pipeline = candidate.declaration;
    // `version` is CodePipeline's to number; create-pipeline ignores it.
    pipeline.version = None;
    let tags = candidate.tags;
    say_raw!("{}", serde_json::to_string_pretty(&CreatePipelineInput { pipeline, tags })?);
    Ok(ExitCode::SUCCESS)
}

/// CreatePipeline's input, fields in the declaration's own order.
#[derive(serde::Serialize)]
struct CreatePipelineInput {
    pipeline: PipelineDeclaration,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<Tag>,
}
