//! Why `apply` refuses an event, and why it ignores one.
//!
//! A rejection is a request that must not happen (retry a stage that did not fail, a wrong
//! approval token): it changes nothing and names CodePipeline's exception. A stale event is
//! one that came too late or twice (a duplicate delivery, a result for an old attempt): it
//! also changes nothing, and is not an error for an at-least-once consumer.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("pipeline execution {0} does not exist")]
    PipelineExecutionNotFound(String),
    #[error("stage \"{0}\" does not exist in this pipeline")]
    StageNotFound(String),
    #[error("action \"{action}\" does not exist in stage \"{stage}\"")]
    ActionNotFound { stage: String, action: String },
    #[error("{0}")]
    StageNotRetryable(String),
    #[error("{0}")]
    NotLatestPipelineExecution(String),
    #[error("{0}")]
    Conflict(String),
    #[error("a stop-and-wait request is already in progress for execution {0}; only a stop-and-abandon can follow it")]
    DuplicatedStopRequest(String),
    #[error("execution {id} is {status}; only an execution in progress can be stopped")]
    PipelineExecutionNotStoppable { id: String, status: String },
    #[error("{0}")]
    InvalidApprovalToken(String),
    #[error("{0}")]
    InvalidJobState(String),
    #[error("output variables of {size} bytes exceed the limit of {limit} bytes")]
    OutputVariablesSizeExceeded { size: usize, limit: usize },
    #[error("{0}")]
    Validation(String),
    #[error("the pipeline already has {0} executions in progress, the most a QUEUED or PARALLEL pipeline may have")]
    ConcurrentExecutionsLimitExceeded(u32),
    #[error("{0}")]
    ConditionNotOverridable(String),
    #[error("{0}")]
    UnableToRollbackStage(String),
    #[error("{0}")]
    PipelineExecutionOutdated(String),
    /// The world handed to `apply` does not hold what the pipeline state refers to, or is
    /// laid out for another version of the declaration: a defect of the caller, not of the
    /// request.
    #[error("inconsistent state: {0}")]
    Inconsistent(String),
    /// The engine tried a status change its tables (`moves.rs`) do not allow: a defect of
    /// the engine.
    #[error("illegal status change: {0}")]
    IllegalMove(String),
}

impl Rejection {
    /// The exception name of botocore's CodePipeline model.
    pub fn exception(&self) -> &'static str {
        match self {
            Rejection::PipelineExecutionNotFound(_) => "PipelineExecutionNotFoundException",
            Rejection::StageNotFound(_) => "StageNotFoundException",
            Rejection::ActionNotFound { .. } => "ActionNotFoundException",
            Rejection::StageNotRetryable(_) => "StageNotRetryableException",
            Rejection::NotLatestPipelineExecution(_) => "NotLatestPipelineExecutionException",
            Rejection::Conflict(_) | Rejection::Inconsistent(_) | Rejection::IllegalMove(_) => "ConflictException",
            Rejection::DuplicatedStopRequest(_) => "DuplicatedStopRequestException",
            Rejection::PipelineExecutionNotStoppable { .. } => "PipelineExecutionNotStoppableException",
            Rejection::InvalidApprovalToken(_) => "InvalidApprovalTokenException",
            Rejection::InvalidJobState(_) => "InvalidJobStateException",
            Rejection::OutputVariablesSizeExceeded { .. } => "OutputVariablesSizeExceededException",
            Rejection::Validation(_) => "ValidationException",
            Rejection::ConcurrentExecutionsLimitExceeded(_) => "ConcurrentPipelineExecutionsLimitExceededException",
            Rejection::ConditionNotOverridable(_) => "ConditionNotOverridableException",
            Rejection::UnableToRollbackStage(_) => "UnableToRollbackStageException",
            Rejection::PipelineExecutionOutdated(_) => "PipelineExecutionOutdatedException",
        }
    }
}

impl Rejection {
    /// A defect of the caller or of the engine rather than a bad request: an internal error.
    pub fn is_defect(&self) -> bool {
        matches!(self, Rejection::Inconsistent(_) | Rejection::IllegalMove(_))
    }
}

/// Why an event changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// The execution already exists.
    DuplicateStart,
    /// The result is for an attempt that is no longer the current one.
    OldAttempt { current: u32, given: u32 },
    /// The result is for an earlier job of the attempt (before a continuation). `recorded` is
    /// the external execution id the attempt (or rule) records now: the work its current job
    /// continues, which a start delivered twice compares with the build it began.
    OldJob { current: u32, given: u32, recorded: Option<String> },
    /// The action has already finished (succeeded, failed, or was abandoned).
    ActionFinished { status: &'static str },
    /// The retry was already applied (the execution's attempt moved on).
    RetryAlreadyApplied,
    /// An older transition request than the last change.
    TransitionOutdated,
    /// The transition is already in the requested state.
    TransitionUnchanged,
    /// No deadline of the execution has passed.
    NothingDue,
    /// The pipeline is already at this version or a later one.
    VersionNotNewer,
    /// The condition was already overridden.
    AlreadyOverridden,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::DuplicateStart => write!(f, "the execution already exists"),
            Stale::OldAttempt { current, given } => {
                write!(f, "attempt {given} is not the current attempt ({current})")
            }
            Stale::OldJob { current, given, .. } => {
                write!(f, "job {given} is not the current job ({current})")
            }
            Stale::ActionFinished { status } => {
                write!(f, "the action has already finished ({status})")
            }
            Stale::RetryAlreadyApplied => write!(f, "the retry has already been applied"),
            Stale::TransitionOutdated => write!(f, "a newer transition change was already applied"),
            Stale::TransitionUnchanged => write!(f, "the transition is already in that state"),
            Stale::NothingDue => write!(f, "no deadline has passed"),
            Stale::VersionNotNewer => write!(f, "the pipeline is already at this version"),
            Stale::AlreadyOverridden => write!(f, "the condition was already overridden"),
        }
    }
}
