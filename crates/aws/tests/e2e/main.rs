//! The AWS end-to-end tests, one binary: every module runs against moto through real HTTP with
//! the real SDK (see `common`), `dynamo_contract` runs the store contract suite against
//! DynamoDB in moto, and `cargo_lambda` against the functions as real Lambda binaries under
//! `cargo lambda watch`. (The crate's unit tests, `--lib`, need no moto.) One binary links the
//! AWS SDKs once instead of once per file, which keeps the build's time and disk small.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

mod common;

mod api_function;
mod approvals;
mod artifact_streaming;
mod bad_input;
mod calls_per_action;
mod cargo_lambda;
mod codebuild;
mod codecommit_ecr_sources;
mod concurrency;
mod delivery;
mod deploys;
mod dynamo_contract;
mod fake_hosts;
mod full_run;
mod head_changes;
mod limits;
mod repository_sources;
mod repository_webhooks;
mod sandbox;
mod stale;
mod template_and_samples;
