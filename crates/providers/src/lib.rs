//! pipewright-providers: what runs an action, wherever it runs — the Commands action (a shell
//! session in a fresh workspace) and the zip format of artifacts, over any
//! [`pipewright_core::ports::ArtifactStore`]. The local mode runs them on a laptop, the
//! invoke-action function inside the Lambda sandbox.

pub mod artifacts;
pub mod buildspec;
pub mod clone_ref;
pub mod codebuild;
pub mod commands;
pub mod commands_buildspec;
pub mod deploy;
pub mod dirs;
mod hash_feed;
pub mod outcome;
pub mod project_file;
pub mod repository_archive;
pub mod sandbox;
pub mod unzip;
mod zip_io;

pub use outcome::{ActionError, Outcome};

/// Where an action's output lines go: a terminal, a log, CloudWatch.
pub trait ActionOutput: Send + Sync {
    fn line(&self, stage: &str, action: &str, line: &str);
}
