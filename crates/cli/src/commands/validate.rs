//! `pipewright validate FILE…`: one summary line per valid file; one line per error of an
//! invalid one, prefixed by the file so that editors and CI logs can jump to it.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use crate::declaration_file::{Checked, check};
use pipewright_core::declaration::PipelineDocument;

#[derive(clap::Args)]
pub struct Args {
    /// Declaration files (`.json`, `.yaml`, `.yml`); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// Print one JSON object per file instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let mut all_valid = true;
    for file in &args.files {
        let checked = check(file);
        all_valid &= matches!(&checked, Checked::Parsed(_, report) if report.is_valid());
        if args.json {
            say!("{}", as_json(file, &checked));
        } else {
            print_text(file, &checked);
        }
    }
    Ok(if all_valid { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn summary(document: &PipelineDocument) -> String {
    let pipeline = &document.pipeline;
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

fn print_text(file: &str, checked: &Checked) {
    match checked {
        Checked::Unreadable(message) => say!("{file}: {message}"),
        Checked::Unparsable(error) => {
            let position = match (error.line, error.column) {
                (Some(line), Some(column)) => format!(":{line}:{column}"),
                _ => String::new(),
            };
            let path = error.path.as_deref().map(|p| format!("{p}: ")).unwrap_or_default();
            say!("{file}{position}: {path}{}", error.message);
        }
        Checked::Parsed(document, report) => {
            for warning in &report.warnings {
                say!("{file}: warning: {warning}");
            }
            if report.is_valid() {
                say!("{file}: valid {}", summary(document));
            } else {
                for error in &report.errors {
                    say!("{file}: {error}");
                }
            }
        }
    }
}

fn as_json(file: &str, checked: &Checked) -> serde_json::Value {
    let issues = |list: &[pipewright_core::validate::Issue]| -> Vec<serde_json::Value> {
        list.iter().map(|i| json!({"path": i.path, "message": i.message})).collect()
    };
    match checked {
        Checked::Unreadable(message) => {
            json!({"file": file, "valid": false, "errors": [{"path": null, "message": message}]})
        }
        Checked::Unparsable(error) => json!({
            "file": file, "valid": false,
            "errors": [{"path": error.path, "message": error.message, "line": error.line, "column": error.column}]
        }),
        Checked::Parsed(document, report) => json!({
            "file": file,
            "valid": report.is_valid(),
            "summary": report.is_valid().then(|| summary(document)),
            "errors": issues(&report.errors),
            "warnings": issues(&report.warnings),
        }),
    }
}
