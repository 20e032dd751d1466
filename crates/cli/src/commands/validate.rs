//! `pipewright validate FILE…`: one summary line per valid pipeline; one line per error of an
//! invalid one, prefixed by the file (and the template resource) so that editors and CI logs
//! can jump to it. Templates are imported first; every pipeline of a template is checked.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use crate::failure;
use crate::pipeline_file::{Candidate, ImportArgs, LoadError, load};
use pipewright_core::declaration::PipelineDeclaration;
use pipewright_core::validate::Report;

#[derive(clap::Args)]
pub struct Args {
    /// Pipeline files: declarations (`.json`, `.yaml`, bare or `get-pipeline` output),
    /// CloudFormation/SAM templates, a CDK app's `cdk.out`, or `terraform show -json`
    /// output; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Print one JSON object per pipeline instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    import: ImportArgs,
}

pub fn run(args: &Args, region: Option<&str>) -> Result<ExitCode> {
    let mut invalid = false;
    let mut refused = false;
    for file in &args.files {
        match load(file, &args.import, region) {
            Ok(candidates) => {
                for candidate in &candidates {
                    let report = candidate.validate();
                    invalid |= !report.is_valid();
                    if args.json {
                        say_raw!("{}", as_json(file, candidate, &report));
                    } else {
                        print_text(file, candidate, &report);
                    }
                }
            }
            Err(error) => {
                match &error {
                    LoadError::Refused { usage: true, .. } => refused = true,
                    _ => invalid = true,
                }
                if args.json {
                    say_raw!("{}", error_json(file, &error));
                } else {
                    say!("{}", error.message(file));
                }
            }
        }
    }
    Ok(if refused {
        ExitCode::from(failure::USAGE)
    } else if invalid {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn summary(pipeline: &PipelineDeclaration) -> String {
    let actions: usize = pipeline.stages.iter().map(|s| s.actions.len()).sum();
    let declared = if pipeline.pipeline_type.is_some() { "" } else { " (inferred)" };
    format!(
        "pipeline \"{}\": {} stages, {} actions, {}{declared}, {} mode",
        pipeline.name,
        pipeline.stages.len(),
        actions,
        pipeline.effective_type(),
        pipeline.effective_mode()
    )
}

/// `file` for a declaration, `file (LogicalId)` for a template's pipeline.
fn place(file: &str, candidate: &Candidate) -> String {
    match &candidate.label {
        Some(label) => format!("{file} ({label})"),
        None => file.to_string(),
    }
}

fn print_text(file: &str, candidate: &Candidate, report: &Report) {
    let place = place(file, candidate);
    for warning in candidate.warnings() {
        say!("{place}: warning: {warning}");
    }
    for warning in &report.warnings {
        say!("{place}: warning: {warning}");
    }
    if report.is_valid() {
        say!("{place}: valid {}", summary(&candidate.declaration));
    } else {
        for error in &report.errors {
            say!("{place}: {error}");
        }
    }
}

fn as_json(file: &str, candidate: &Candidate, report: &Report) -> serde_json::Value {
    let issues = |list: &[pipewright_core::validate::Issue]| -> Vec<serde_json::Value> {
        list.iter().map(|i| json!({"path": i.path, "message": i.message})).collect()
    };
    let mut warnings = issues(&report.warnings);
    warnings.extend(candidate.warnings().iter().map(|w| json!({"path": null, "message": w})));
    let mut value = json!({
        "file": file,
        "valid": report.is_valid(),
        "summary": report.is_valid().then(|| summary(&candidate.declaration)),
        "errors": issues(&report.errors),
        "warnings": warnings,
    });
    if let Some(label) = &candidate.label {
        value["resource"] = json!(label);
    }
    if let Some(imported) = &candidate.imported {
        value["placeholders"] = json!(imported.unresolved().collect::<Vec<_>>());
    }
    value
}

fn error_json(file: &str, error: &LoadError) -> serde_json::Value {
    match error {
        LoadError::Unparsable(parse) => json!({
            "file": file, "valid": false,
            "errors": [{"path": parse.path, "message": parse.message, "line": parse.line, "column": parse.column}]
        }),
        other => json!({"file": file, "valid": false, "errors": [{"path": null, "message": other.message(file)}]}),
    }
}
