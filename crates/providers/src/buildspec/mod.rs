//! The buildspec interpreter: CodeBuild's semantics for versions 0.1 and 0.2, shared by the
//! CodeBuild action and the Commands action (a one-phase buildspec), locally and, later, in
//! build compute on AWS. docs/codebuild.md describes the behaviour and the decisions taken
//! where CodeBuild's documentation is silent.
//!
//! - [`model`] and [`parse`]: the buildspec, read with errors that name the field;
//! - [`phases`]: which phase runs after which (pure);
//! - [`shell_state`]: the state carried between commands (pure scripts and dump parsing);
//! - [`runner`]: commands and phases as processes; [`console`]: the log;
//! - [`environment`]: precedence, secrets, the `CODEBUILD_*` variables, exports;
//! - [`select`], [`outputs`]: artifact patterns and zips; [`reports`]; [`cache`];
//! - [`build`]: one build from INSTALL to FINALIZING.

pub mod build;
pub mod cache;
pub mod console;
pub mod environment;
pub mod model;
pub mod outputs;
pub mod parse;
pub mod phases;
pub mod reports;
pub mod runner;
pub mod select;
pub mod shell_state;

pub use model::Buildspec;
pub use parse::{BuildspecError, parse};
