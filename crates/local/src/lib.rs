//! pipewright-local: the core's ports, embedded — a SQLite state store shared by every
//! process using one state directory, artifacts as zip files, providers that run here
//! (sources from directories and git, Commands, manual approvals), and the in-process bus
//! (the worker) that carries out an execution's effects with the same handler the Lambda
//! functions run.

pub mod backend;
pub mod codebuild;
pub mod deploy;
mod execution_rows;
mod image_source;
pub mod lambda;
mod own_effects;
mod prepared;
pub mod providers;
pub mod recovery;
pub mod remover;
pub mod report;
pub mod sources;
pub mod store;
pub mod top_dirs;
pub mod wake;
pub mod webhooks;
pub mod worker;
pub mod write_gate;
mod writer_turns;
