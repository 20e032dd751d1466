//! What can happen to a pipeline: the inputs of [`super::apply`]. Events travel between the
//! functions as JSON (tagged by `type`), so each names its target by ids and names, never by
//! position.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::state::{ConditionKind, SourceRevisionOverride, Trigger};
use crate::pipeline::RetryMode;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    StartExecution(StartExecution),
    ActionSucceeded(ActionSucceeded),
    ActionFailed(ActionFailed),
    JobContinued(JobContinued),
    ApprovalResult(ApprovalResult),
    RetryStage(RetryStage),
    StopExecution(StopExecution),
    SetTransition(SetTransition),
    Tick(Tick),
    PipelineUpdated(PipelineUpdated),
    RollbackStage(RollbackStage),
    OverrideCondition(OverrideCondition),
}

impl Event {
    /// The execution the event is about, if it is about one.
    pub fn execution_id(&self) -> Option<&str> {
        match self {
            Event::StartExecution(e) => Some(&e.execution_id),
            Event::ActionSucceeded(e) => Some(&e.job.execution_id),
            Event::ActionFailed(e) => Some(&e.job.execution_id),
            Event::JobContinued(e) => Some(&e.job.execution_id),
            Event::ApprovalResult(e) => Some(&e.execution_id),
            Event::RetryStage(e) => Some(&e.execution_id),
            Event::StopExecution(e) => Some(&e.execution_id),
            Event::Tick(e) => Some(&e.execution_id),
            Event::RollbackStage(e) => Some(&e.execution_id),
            Event::OverrideCondition(e) => Some(&e.execution_id),
            Event::SetTransition(_) | Event::PipelineUpdated(_) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Event::StartExecution(_) => "StartExecution",
            Event::ActionSucceeded(_) => "ActionSucceeded",
            Event::ActionFailed(_) => "ActionFailed",
            Event::JobContinued(_) => "JobContinued",
            Event::ApprovalResult(_) => "ApprovalResult",
            Event::RetryStage(_) => "RetryStage",
            Event::StopExecution(_) => "StopExecution",
            Event::SetTransition(_) => "SetTransition",
            Event::Tick(_) => "Tick",
            Event::PipelineUpdated(_) => "PipelineUpdated",
            Event::RollbackStage(_) => "RollbackStage",
            Event::OverrideCondition(_) => "OverrideCondition",
        }
    }
}

/// A pipeline-level variable value given at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableOverride {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartExecution {
    /// A new UUID, chosen by the caller.
    pub execution_id: String,
    /// A random secret, chosen by the caller; the execution's capabilities derive from it.
    pub seed: String,
    pub trigger: Trigger,
    #[serde(default)]
    pub variables: Vec<VariableOverride>,
    #[serde(default)]
    pub source_revisions: Vec<SourceRevisionOverride>,
    /// Caps every action's timeout for this execution (seconds); for quick local feedback.
    /// CodePipeline has no such setting; the AWS API never sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_timeout_seconds: Option<u32>,
}

/// One job of one attempt of one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRef {
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub attempt: u32,
    /// The job's sequence number within the attempt (1, then one more per continuation).
    pub job: u32,
    /// Set for the job of a rule: `action` is then the rule's name and `attempt` the number
    /// of the condition's evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<ConditionKind>,
}

/// The revision a source action fetched (`currentRevision` of PutJobSuccessResult).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    pub revision_id: String,
    pub change_identifier: Option<String>,
    pub summary: Option<String>,
    pub url: Option<String>,
    pub created: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionSucceeded {
    pub job: JobRef,
    #[serde(default)]
    pub output_variables: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub external_execution_id: Option<String>,
    pub external_execution_url: Option<String>,
    pub revision: Option<Revision>,
    pub by: Option<String>,
    /// Phases and report counts of a build-like action (CodeBuild, Commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<crate::action_details::ActionDetails>,
}

/// `failureDetails.type` of PutJobFailureResult.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureType {
    JobFailed,
    ConfigurationError,
    PermissionError,
    RevisionOutOfSync,
    RevisionUnavailable,
    SystemUnavailable,
}

impl FailureType {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureType::JobFailed => "JobFailed",
            FailureType::ConfigurationError => "ConfigurationError",
            FailureType::PermissionError => "PermissionError",
            FailureType::RevisionOutOfSync => "RevisionOutOfSync",
            FailureType::RevisionUnavailable => "RevisionUnavailable",
            FailureType::SystemUnavailable => "SystemUnavailable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureDetails {
    #[serde(rename = "type")]
    pub kind: FailureType,
    pub message: String,
    pub external_execution_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionFailed {
    pub job: JobRef,
    pub failure: FailureDetails,
    /// Phases and report counts of a build-like action (CodeBuild, Commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<crate::action_details::ActionDetails>,
}

/// PutJobSuccessResult with a continuation token: the action stays in progress and a new
/// job carries the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobContinued {
    pub job: JobRef,
    pub continuation_token: String,
    pub summary: Option<String>,
    pub percent_complete: Option<u8>,
    pub external_execution_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalStatus {
    Approved,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalResult {
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub token: String,
    pub status: ApprovalStatus,
    pub summary: Option<String>,
    pub by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryStage {
    pub execution_id: String,
    pub stage: String,
    pub mode: RetryMode,
    pub by: Option<String>,
    /// The execution's attempt the caller saw; a redelivered retry then finds a newer
    /// attempt and changes nothing.
    pub expected_attempt: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopExecution {
    pub execution_id: String,
    pub abandon: bool,
    pub reason: Option<String>,
    pub by: Option<String>,
}

/// DisableStageTransition / EnableStageTransition (inbound).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetTransition {
    pub stage: String,
    pub enabled: bool,
    pub reason: Option<String>,
    pub by: Option<String>,
    /// When the change was asked for; an older request never overrides a newer one.
    pub requested_at: Timestamp,
}

/// Fires the deadlines of one execution that have passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tick {
    pub execution_id: String,
}

/// The pipeline's declaration changed to `version`: executions of older versions stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineUpdated {
    pub version: u32,
}

/// RollbackStage, or an automatic rollback: a new execution runs `stage` again with the
/// artifacts and variables of `target_execution_id` (docs/reference/codepipeline.md §3.9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackStage {
    /// The new execution's id, chosen by the caller.
    pub execution_id: String,
    /// Its secret seed, chosen by the caller.
    pub seed: String,
    pub stage: String,
    pub target_execution_id: String,
    pub trigger: Trigger,
}

/// OverrideStageCondition: releases a condition under evaluation (docs/conditions.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideCondition {
    pub execution_id: String,
    pub stage: String,
    pub condition: ConditionKind,
    pub by: Option<String>,
    /// The execution's attempt the caller saw. An override can end in a stage retry (the
    /// stage fails at once and retries on its own), which evaluates the condition anew under
    /// the next attempt; a redelivered override then finds its own evaluation overridden
    /// instead of releasing the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_attempt: Option<u32>,
}
