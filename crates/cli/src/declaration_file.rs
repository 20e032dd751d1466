//! Reading a declaration file (or standard input) into a validated pipeline.

use std::io::Read;
use std::path::Path;

use pipewright_core::declaration::{Format, ParseError, PipelineDocument};
use pipewright_core::validate::{self, Report};

/// What reading and validating one file gave.
pub enum Checked {
    /// The file could not be read.
    Unreadable(String),
    /// The text is not a declaration (syntax or shape).
    Unparsable(ParseError),
    /// A declaration, with its validation report.
    Parsed(Box<PipelineDocument>, Report),
}

/// Reads `path` (`-` for standard input), parses it and validates it.
pub fn check(path: &str) -> Checked {
    let text = if path == "-" {
        let mut text = String::new();
        match std::io::stdin().read_to_string(&mut text) {
            Ok(_) => text,
            Err(error) => return Checked::Unreadable(format!("cannot read standard input: {error}")),
        }
    } else {
        match std::fs::read_to_string(Path::new(path)) {
            Ok(text) => text,
            Err(error) => return Checked::Unreadable(format!("cannot read {path}: {error}")),
        }
    };
    let name = (path != "-").then_some(path);
    match PipelineDocument::parse(&text, Format::detect(name, &text)) {
        Ok(document) => {
            let report = validate::validate(&document.pipeline);
            Checked::Parsed(Box::new(document), report)
        }
        Err(error) => Checked::Unparsable(error),
    }
}
