//! Exit codes, and the errors that choose them.

use std::fmt;
use std::process::ExitCode;

use pipewright_core::engine::{ExecutionStatus, Rejection};
use pipewright_core::service::ServiceError;

/// Bad usage or bad input: exit 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

pub const SUCCEEDED: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const STOPPED: u8 = 3;

/// 0 Succeeded, 1 Failed, 3 Stopped, Superseded or Cancelled.
pub fn exit_for(status: ExecutionStatus) -> ExitCode {
    ExitCode::from(match status {
        ExecutionStatus::Succeeded => SUCCEEDED,
        ExecutionStatus::Failed | ExecutionStatus::InProgress => FAILED,
        ExecutionStatus::Stopped
        | ExecutionStatus::Stopping
        | ExecutionStatus::Superseded
        | ExecutionStatus::Cancelled => STOPPED,
    })
}

/// A handler error as the person should read it: a request naming something that does not
/// exist, or that the pipeline does not accept, is a usage error.
pub fn service(error: ServiceError) -> anyhow::Error {
    match error {
        ServiceError::PipelineNotFound(name) => usage(format!(
            "pipeline {name} does not exist in this state directory; create it with `pipewright run FILE`"
        )),
        ServiceError::Rejected(rejection) => match rejection {
            Rejection::StageNotFound(_)
            | Rejection::ActionNotFound { .. }
            | Rejection::Validation(_)
            | Rejection::PipelineExecutionNotFound(_) => usage(format!("{}: {rejection}", rejection.exception())),
            other => anyhow::anyhow!("{}: {other}", other.exception()),
        },
        other => anyhow::Error::new(other),
    }
}
