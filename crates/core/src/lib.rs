//! pipewright-core: the functional core of Pipewright.
//!
//! Everything here is a pure function over data — no I/O, no clock, no randomness, no AWS
//! SDK. The adapters (local and AWS) load state, call into this crate, and carry out the
//! effects it returns.

pub mod declaration;
pub mod engine;
pub mod ids;
pub mod pipeline;
pub mod providers;
pub mod time;
pub mod validate;
pub mod variables;
