//! One module per group of subcommands.

pub mod control;
pub mod run;
pub mod status;
pub mod validate;
