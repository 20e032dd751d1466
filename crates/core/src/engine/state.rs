//! The state the engine works on: the pipeline-level state (stage locks, executions waiting
//! at stage boundaries, transitions) and each execution's state (stages, action attempts,
//! artifacts, variables). Plain data, serialisable as it is stored.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::declaration::PipelineDeclaration;
use crate::pipeline::{Mode, Pipeline};
use crate::time::Timestamp;

/// Everything `apply` may read or change for one event: the pipeline-level state and the
/// executions the event concerns (see [`super::executions_needed`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct World {
    pub pipeline: PipelineState,
    pub executions: BTreeMap<String, Execution>,
}

impl World {
    /// The world of a pipeline that has never run.
    pub fn new(pipeline: &Pipeline) -> World {
        World { pipeline: PipelineState::new(pipeline), executions: BTreeMap::new() }
    }
}

/// Per-pipeline state shared by its executions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineState {
    pub name: String,
    /// The structure version this state is laid out for.
    pub version: u32,
    pub stages: Vec<StageSlot>,
    /// How many executions are in progress or stopping: what the cap of QUEUED and PARALLEL
    /// pipelines counts (`MAX_ACTIVE_EXECUTIONS` in `moves.rs`). Every start and every
    /// execution move keeps it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub active_executions: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl PipelineState {
    pub fn new(pipeline: &Pipeline) -> PipelineState {
        PipelineState::for_declaration(&pipeline.declaration, pipeline.version)
    }

    /// The state of a pipeline that has never run, laid out for `declaration`.
    pub fn for_declaration(declaration: &PipelineDeclaration, version: u32) -> PipelineState {
        PipelineState {
            name: declaration.name.clone(),
            version,
            stages: declaration
                .stages
                .iter()
                .map(|stage| StageSlot {
                    name: stage.name.clone(),
                    occupant: None,
                    inbound: Vec::new(),
                    latest_execution: None,
                    transition: Transition::default(),
                    last_succeeded: None,
                })
                .collect(),
            active_executions: 0,
        }
    }

    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }
}

/// One stage as the pipeline sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageSlot {
    pub name: String,
    /// The execution inside the stage (SUPERSEDED and QUEUED): the stage lock.
    pub occupant: Option<String>,
    /// Executions waiting to enter, oldest first: at most one in SUPERSEDED mode.
    pub inbound: Vec<String>,
    /// The last execution that entered the stage.
    pub latest_execution: Option<String>,
    pub transition: Transition,
    /// The last standard execution that succeeded in the stage, kept only for a stage that
    /// rolls back on its own: what an automatic rollback returns to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_succeeded: Option<String>,
}

/// The inbound transition of a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub last_changed_by: Option<String>,
    pub last_changed_at: Option<Timestamp>,
}

impl Default for Transition {
    fn default() -> Self {
        Transition { enabled: true, disabled_reason: None, last_changed_by: None, last_changed_at: None }
    }
}

/// Pipeline execution status (docs/reference/codepipeline.md §3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExecutionStatus {
    Cancelled,
    InProgress,
    Stopped,
    Stopping,
    Succeeded,
    Superseded,
    Failed,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Cancelled => "Cancelled",
            ExecutionStatus::InProgress => "InProgress",
            ExecutionStatus::Stopped => "Stopped",
            ExecutionStatus::Stopping => "Stopping",
            ExecutionStatus::Succeeded => "Succeeded",
            ExecutionStatus::Superseded => "Superseded",
            ExecutionStatus::Failed => "Failed",
        }
    }

    /// Whether the execution has ended (Failed and Stopped ones may still be retried).
    pub fn is_finished(self) -> bool {
        !matches!(self, ExecutionStatus::InProgress | ExecutionStatus::Stopping)
    }
}

/// Stage execution status (docs/reference/codepipeline.md §3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StageStatus {
    Cancelled,
    InProgress,
    Failed,
    Stopped,
    Stopping,
    Succeeded,
    Skipped,
}

impl StageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Cancelled => "Cancelled",
            StageStatus::InProgress => "InProgress",
            StageStatus::Failed => "Failed",
            StageStatus::Stopped => "Stopped",
            StageStatus::Stopping => "Stopping",
            StageStatus::Succeeded => "Succeeded",
            StageStatus::Skipped => "Skipped",
        }
    }

    /// Succeeded or Skipped: an execution goes on past the stage.
    pub fn is_passed(self) -> bool {
        matches!(self, StageStatus::Succeeded | StageStatus::Skipped)
    }
}

/// Action execution status (docs/reference/codepipeline.md §3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActionStatus {
    InProgress,
    Abandoned,
    Succeeded,
    Failed,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::InProgress => "InProgress",
            ActionStatus::Abandoned => "Abandoned",
            ActionStatus::Succeeded => "Succeeded",
            ActionStatus::Failed => "Failed",
        }
    }

    /// Failed or Abandoned: what a FAILED_ACTIONS retry runs again.
    pub fn needs_retry(self) -> bool {
        matches!(self, ActionStatus::Failed | ActionStatus::Abandoned)
    }
}

/// Which stage condition (docs/reference/codepipeline.md §1.2): the `conditionType` of
/// OverrideStageCondition, and which of GetPipelineState's condition states it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConditionKind {
    BeforeEntry,
    OnSuccess,
    OnFailure,
}

impl ConditionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionKind::BeforeEntry => "BEFORE_ENTRY",
            ConditionKind::OnSuccess => "ON_SUCCESS",
            ConditionKind::OnFailure => "ON_FAILURE",
        }
    }

    /// How the declaration names it.
    pub fn field(self) -> &'static str {
        match self {
            ConditionKind::BeforeEntry => "beforeEntry",
            ConditionKind::OnSuccess => "onSuccess",
            ConditionKind::OnFailure => "onFailure",
        }
    }
}

/// Condition execution status (docs/reference/codepipeline.md §3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    InProgress,
    Failed,
    Errored,
    Succeeded,
    Cancelled,
    Abandoned,
    Overridden,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::InProgress => "InProgress",
            ConditionStatus::Failed => "Failed",
            ConditionStatus::Errored => "Errored",
            ConditionStatus::Succeeded => "Succeeded",
            ConditionStatus::Cancelled => "Cancelled",
            ConditionStatus::Abandoned => "Abandoned",
            ConditionStatus::Overridden => "Overridden",
        }
    }
}

/// Rule execution status (botocore `RuleExecutionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuleStatus {
    InProgress,
    Abandoned,
    Succeeded,
    Failed,
}

impl RuleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::InProgress => "InProgress",
            RuleStatus::Abandoned => "Abandoned",
            RuleStatus::Succeeded => "Succeeded",
            RuleStatus::Failed => "Failed",
        }
    }
}

/// `executionType` of an execution (and `type` of its stage executions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionType {
    #[default]
    Standard,
    Rollback,
}

impl ExecutionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionType::Standard => "STANDARD",
            ExecutionType::Rollback => "ROLLBACK",
        }
    }
}

/// What a rollback execution rolls back (docs/reference/codepipeline.md §3.9): one stage, to
/// the artifacts and variables of `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackOf {
    pub stage: String,
    /// The execution whose artifacts and variables the stage runs with again.
    pub target_execution_id: String,
}

/// `trigger.triggerType` (docs/reference/codepipeline.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TriggerType {
    CreatePipeline,
    StartPipelineExecution,
    PollForSourceChanges,
    Webhook,
    CloudWatchEvent,
    PutActionRevision,
    WebhookV2,
    ManualRollback,
    AutomatedRollback,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub trigger_type: TriggerType,
    pub trigger_detail: Option<String>,
}

/// `sourceRevisions[]` of StartPipelineExecution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevisionOverride {
    pub action_name: String,
    pub revision_type: RevisionType,
    pub revision_value: String,
    /// Output variables the change that started the execution gives the source action (the
    /// pushed branch, a pull request's id, title and branches; docs/sources.md). Never part of
    /// StartPipelineExecution's input.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RevisionType {
    CommitId,
    ImageDigest,
    S3ObjectVersionId,
    S3ObjectKey,
}

/// Where an artifact is stored: an object in the artifact bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactLocation {
    pub bucket: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRef {
    pub name: String,
    pub location: ArtifactLocation,
}

/// The revision a source action fetched (`artifactRevisions[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRevision {
    pub name: String,
    pub action_name: String,
    pub revision_id: String,
    pub revision_change_identifier: Option<String>,
    pub revision_summary: Option<String>,
    pub revision_url: Option<String>,
    pub created: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopRequest {
    pub abandon: bool,
    pub reason: Option<String>,
    pub by: Option<String>,
    pub requested_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetryTrigger {
    AutomatedStageRetry,
    ManualStageRetry,
}

/// One pipeline execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub id: String,
    pub pipeline_name: String,
    /// The structure version the execution started with.
    pub pipeline_version: u32,
    /// When the pipeline it belongs to was created: its `pipeline_version` is of that pipeline,
    /// not of an earlier one deleted under the same name. None in executions stored before
    /// this was recorded, and in those of a declaration not read from a store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_created: Option<Timestamp>,
    pub mode: Mode,
    pub status: ExecutionStatus,
    pub status_summary: Option<String>,
    pub trigger: Trigger,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    /// 1, plus one for each stage retry (`pipeline-execution-attempt`).
    pub attempt: u32,
    /// Secret from which the execution's capabilities (tokens, job ids) are derived.
    pub seed: String,
    /// Pipeline-level variables, resolved at start.
    pub variables: BTreeMap<String, String>,
    pub source_revision_overrides: Vec<SourceRevisionOverride>,
    /// Caps every action's timeout (seconds), when the start asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_timeout_seconds: Option<u32>,
    pub stop: Option<StopRequest>,
    pub stages: Vec<StageRun>,
    /// Artifacts produced so far, by name.
    pub artifacts: BTreeMap<String, ArtifactLocation>,
    /// Output variables so far, by namespace.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    pub artifact_revisions: Vec<ArtifactRevision>,
    /// STANDARD, or ROLLBACK for an execution that runs one stage again.
    #[serde(default, skip_serializing_if = "is_standard")]
    pub execution_type: ExecutionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackOf>,
}

fn is_standard(kind: &ExecutionType) -> bool {
    *kind == ExecutionType::Standard
}

/// Where an execution is in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Waiting to enter this stage (or about to).
    Waiting(usize),
    /// Inside this stage.
    InStage(usize),
    /// Past the last stage.
    Done,
}

impl Execution {
    /// Derived from the stage statuses: the last stage entered, or the boundary after it. A
    /// Skipped stage is passed like a Succeeded one; a rollback runs its one stage only.
    pub fn position(&self) -> Position {
        let only = self.rollback_stage();
        match self.stages.iter().rposition(|s| s.status.is_some()) {
            None => Position::Waiting(only.unwrap_or(0)),
            Some(k) if self.stages[k].status.is_some_and(StageStatus::is_passed) => {
                if k + 1 < self.stages.len() && only.is_none() { Position::Waiting(k + 1) } else { Position::Done }
            }
            Some(k) => Position::InStage(k),
        }
    }

    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// The one stage a rollback execution runs.
    pub fn rollback_stage(&self) -> Option<usize> {
        self.rollback.as_ref().and_then(|r| self.stage_index(&r.stage))
    }
}

/// One stage of one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageRun {
    pub name: String,
    /// None until the execution enters the stage.
    pub status: Option<StageStatus>,
    /// Bumped by an ALL_ACTIONS retry: attempts of earlier runs no longer count.
    pub run: u32,
    pub auto_retries: u32,
    pub manual_retries: u32,
    pub latest_retry_trigger: Option<RetryTrigger>,
    pub actions: Vec<ActionRun>,
    /// Every evaluation of the stage's conditions, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionRun>,
}

impl StageRun {
    /// The attempt of action `index` that counts in the current run, if it has started.
    pub fn current(&self, index: usize) -> Option<&ActionAttempt> {
        self.actions[index].attempts.last().filter(|a| a.stage_run == self.run)
    }

    pub fn action_index(&self, name: &str) -> Option<usize> {
        self.actions.iter().position(|a| a.name == name)
    }

    /// The latest evaluation of the `kind` condition, if any.
    pub fn latest_condition(&self, kind: ConditionKind) -> Option<&ConditionRun> {
        self.conditions.iter().rev().find(|c| c.kind == kind)
    }

    /// The evaluation being made, if one is in progress.
    pub fn condition_in_progress(&self) -> Option<usize> {
        self.conditions.iter().rposition(|c| c.status == ConditionStatus::InProgress)
    }
}

/// One evaluation of one stage condition: its rules, run together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionRun {
    pub kind: ConditionKind,
    /// 1 for the first evaluation of this kind in the stage, one more for each later one.
    pub number: u32,
    /// The execution's attempt and the stage's run when it began: a retry evaluates anew.
    pub attempt: u32,
    pub stage_run: u32,
    pub status: ConditionStatus,
    pub summary: Option<String>,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub rules: Vec<RuleAttempt>,
}

/// One run of one rule of a condition: a rule execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleAttempt {
    pub name: String,
    pub rule_execution_id: String,
    pub status: RuleStatus,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the rule fails if it has not finished (its `timeoutInMinutes`).
    pub deadline: Option<Timestamp>,
    /// A rule the engine decides itself (a deployment window) looks again then.
    pub recheck_at: Option<Timestamp>,
    /// The job of a rule a provider runs (Commands, LambdaInvoke, CloudWatchAlarm).
    pub job: Option<Job>,
    pub resolved_configuration: BTreeMap<String, String>,
    pub input_artifacts: Vec<ArtifactRef>,
    pub summary: Option<String>,
    pub error: Option<ErrorDetails>,
    pub external_execution_id: Option<String>,
    pub external_execution_url: Option<String>,
    pub last_updated_by: Option<String>,
}

impl RuleAttempt {
    /// The earliest time the engine must look at the rule again, while it is in progress.
    pub fn next_due(&self) -> Option<Timestamp> {
        if self.status != RuleStatus::InProgress {
            return None;
        }
        [self.deadline, self.recheck_at].into_iter().flatten().min()
    }
}

/// Every attempt of one action in one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRun {
    pub name: String,
    pub attempts: Vec<ActionAttempt>,
}

/// One run of one action: an action execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionAttempt {
    /// 1 for the first run of the action in this execution.
    pub number: u32,
    pub stage_run: u32,
    pub action_execution_id: String,
    pub status: ActionStatus,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the action fails if it has not finished.
    pub deadline: Timestamp,
    /// The job of a job-based action (every action but manual approvals).
    pub job: Option<Job>,
    /// The approval token of a manual approval.
    pub token: Option<String>,
    pub resolved_configuration: BTreeMap<String, String>,
    pub input_artifacts: Vec<ArtifactRef>,
    pub output_artifacts: Vec<ArtifactRef>,
    pub output_variables: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub error: Option<ErrorDetails>,
    pub external_execution_id: Option<String>,
    pub external_execution_url: Option<String>,
    pub percent_complete: Option<u8>,
    pub last_updated_by: Option<String>,
    /// Phases and report counts, when the provider reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<crate::action_details::ActionDetails>,
}

/// The current job of an attempt. A continuation ends one job and starts the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub sequence: u32,
    pub continuation_token: Option<String>,
    /// Lambda: fails when no reply comes by then (20 minutes, restarted by each reply).
    pub heartbeat_deadline: Option<Timestamp>,
}
