//! One module per group of subcommands.

pub mod control;
pub mod export;
pub mod remote;
pub mod run;
pub mod serve;
pub mod serve_s3;
pub mod serve_webhooks;
pub mod status;
pub mod validate;
pub mod webhook;
pub mod worker_key;
