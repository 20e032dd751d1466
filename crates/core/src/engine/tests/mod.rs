//! One test module per semantic; `harness` drives `apply` like an adapter does.

mod approval;
mod conditions;
mod events;
pub(crate) mod harness;
mod idempotency;
mod jobs;
mod modes;
mod parts;
mod properties;
mod retry;
mod run_order;
mod state_reliance;
mod stop;
mod timeouts;
mod transitions;
mod update;
mod variables;
