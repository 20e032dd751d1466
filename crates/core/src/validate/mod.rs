//! Validation of a pipeline declaration against CodePipeline's rules
//! (docs/reference/codepipeline.md §1.1–1.6).
//!
//! Every rule runs, so one report names every problem. Each issue starts with the path of the
//! offending field relative to the pipeline object, e.g. `stages[1].actions[0].runOrder`.

mod artifacts;
mod conditions;
mod fields;
pub(crate) mod names;
mod provider_rules;
mod references;
mod structure;
mod triggers;
mod versions;

use std::fmt;

use crate::declaration::PipelineDeclaration;

/// One finding, at one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Path of the field relative to the pipeline object (`stages[1].actions[0].name`).
    pub path: String,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Everything validation found. The declaration is valid when `errors` is empty; warnings
/// point at things CodePipeline may accept but that are likely mistakes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for issue in &self.errors {
            writeln!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Report {}

/// Collects issues while the rules run.
#[derive(Default)]
pub(crate) struct Checker {
    report: Report,
}

impl Checker {
    pub(crate) fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.report.errors.push(Issue { path: path.into(), message: message.into() });
    }

    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.report.warnings.push(Issue { path: path.into(), message: message.into() });
    }
}

/// What validation knows about a pipeline from outside its declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The pipeline's own region: from `metadata.pipelineArn`, `--region`, or where it is
    /// deployed. Without it, the region is inferred from the artifact stores.
    pub home_region: Option<String>,
}

/// Runs every rule over `pipeline`.
pub fn validate(pipeline: &PipelineDeclaration) -> Report {
    validate_in(pipeline, &Context::default())
}

/// Runs every rule over `pipeline`, knowing `context`.
pub fn validate_in(pipeline: &PipelineDeclaration, context: &Context) -> Report {
    let mut checker = Checker::default();
    fields::check(pipeline, &mut checker);
    structure::check(pipeline, &mut checker);
    artifacts::check(pipeline, &mut checker);
    provider_rules::check(pipeline, context, &mut checker);
    versions::check(pipeline, &mut checker);
    conditions::check(pipeline, &mut checker);
    triggers::check(pipeline, &mut checker);
    references::check(pipeline, &mut checker);
    checker.report
}

pub(crate) fn stage_path(stage: usize) -> String {
    format!("stages[{stage}]")
}

pub(crate) fn action_path(stage: usize, action: usize) -> String {
    format!("stages[{stage}].actions[{action}]")
}

/// Where an action sits in the run: actions run before others in a later stage, or in the
/// same stage with a higher runOrder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub stage: usize,
    pub run_order: i64,
}

impl Position {
    pub(crate) fn runs_before(self, other: Position) -> bool {
        self.stage < other.stage || (self.stage == other.stage && self.run_order < other.run_order)
    }
}

#[cfg(test)]
pub(crate) mod test_support;
