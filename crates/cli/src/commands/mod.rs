//! One module per group of subcommands.

pub mod control;
pub mod run;
pub mod serve;
pub mod status;
pub mod validate;
