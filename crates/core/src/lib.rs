//! pipewright-core: the functional core of Pipewright.
//!
//! Every decision is a pure function over data here — no I/O, no clock, no randomness, no
//! AWS SDK. The adapters (local and AWS) implement the [`ports`]; [`service`] is the one
//! piece of glue, shared by all of them, that loads state through a port, calls
//! [`engine::apply`] and commits the result.

pub mod action_details;
pub mod action_types;
pub mod artifact_access;
pub mod backoff;
pub mod build_project;
pub mod cron;
pub mod declaration;
pub mod deploy;
pub mod engine;
pub mod envelope;
pub mod execution_parts;
pub mod git_hosts;
pub mod head_fate;
pub mod ids;
pub mod import;
pub mod jobs;
pub mod links;
pub mod mac;
pub mod notifications;
pub mod outbox_fate;
pub mod paths;
pub mod pipeline;
pub mod ports;
pub mod providers;
pub mod queries;
pub mod rule_types;
pub mod s3_copy;
pub mod service;
pub mod source_events;
pub mod source_polling;
pub mod storage;
pub mod text;
pub mod time;
pub mod unpacked;
pub mod validate;
pub mod variables;
pub mod webhooks;

#[cfg(feature = "contract")]
pub mod contract;
