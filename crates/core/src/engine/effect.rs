//! What the engine asks the adapters to do. Effects are data with deterministic ids: carrying
//! one out twice is harmless, because its consumer keys on the id.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::event::JobRef;
use super::state::{ArtifactLocation, ArtifactRef, SourceRevisionOverride, TriggerType};
use crate::declaration::{ActionTypeId, EncryptionKey};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Effect {
    /// Run one job of an action through its provider.
    Dispatch(Box<Dispatch>),
    /// Ask a person to approve or reject (the SNS message of docs/reference/codepipeline.md §4).
    RequestApproval(Box<ApprovalRequest>),
    /// Publish a CodePipeline-format state-change event (docs/reference/codepipeline.md §7.1).
    Publish(Box<StateChange>),
    /// Deliver a `Tick` for this execution at `at`.
    WakeAt(WakeAt),
    /// Stop work a rule's provider runs on a service that the rule no longer waits for.
    StopWork(Box<StopWork>),
}

impl Effect {
    pub fn id(&self) -> &str {
        match self {
            Effect::Dispatch(d) => &d.id,
            Effect::RequestApproval(r) => &r.id,
            Effect::Publish(p) => &p.id,
            Effect::WakeAt(w) => &w.id,
            Effect::StopWork(s) => &s.id,
        }
    }

    /// The execution the effect belongs to: whose outbox holds it.
    pub fn execution_id(&self) -> &str {
        match self {
            Effect::Dispatch(d) => &d.execution_id,
            Effect::RequestApproval(r) => &r.execution_id,
            Effect::Publish(p) => &p.detail.execution_id,
            Effect::WakeAt(w) => &w.execution_id,
            Effect::StopWork(s) => &s.execution_id,
        }
    }
}

/// An output artifact the action is to write, at the location chosen for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputArtifactRef {
    pub name: String,
    pub location: ArtifactLocation,
    /// Globs of the files to collect (Commands actions).
    pub files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedEnvironmentVariable {
    pub name: String,
    pub value: String,
    /// PLAINTEXT, or SECRETS_MANAGER (then `value` names the secret).
    pub kind: String,
}

/// One job of one action attempt, with everything resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dispatch {
    pub id: String,
    pub pipeline: String,
    pub pipeline_version: u32,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub attempt: u32,
    pub action_execution_id: String,
    pub job_id: String,
    pub job_sequence: u32,
    pub action_type: ActionTypeId,
    pub region: Option<String>,
    pub role_arn: Option<String>,
    pub namespace: Option<String>,
    /// The configuration with every variable resolved.
    pub configuration: BTreeMap<String, String>,
    pub commands: Vec<String>,
    pub environment_variables: Vec<ResolvedEnvironmentVariable>,
    pub output_variables: Vec<String>,
    pub input_artifacts: Vec<ArtifactRef>,
    pub output_artifacts: Vec<OutputArtifactRef>,
    pub encryption_key: Option<EncryptionKey>,
    pub continuation_token: Option<String>,
    pub source_revision: Option<SourceRevisionOverride>,
    pub deadline: Timestamp,
    /// The revisions the execution's source actions fetched, by artifact name (a build's
    /// `CODEBUILD_RESOLVED_SOURCE_VERSION`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_revisions: Vec<super::state::ArtifactRevision>,
    /// Set when the job runs a rule of this stage condition: `action` is the rule's name,
    /// `attempt` the condition's evaluation, `action_type` the rule's type (category `Rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<super::state::ConditionKind>,
}

impl Dispatch {
    /// Whether this job looks at a wait an earlier job of its attempt started (a continuation):
    /// it calls the service it waits on, and moves no artifact bytes beyond a small output
    /// file, whatever the provider (on AWS it runs in the smaller invoke-action function).
    pub fn is_look(&self) -> bool {
        self.continuation_token.is_some()
    }

    /// The job this dispatch runs, as its result names it.
    pub fn job_ref(&self) -> JobRef {
        JobRef {
            execution_id: self.execution_id.clone(),
            stage: self.stage.clone(),
            action: self.action.clone(),
            attempt: self.attempt,
            job: self.job_sequence,
            condition: self.condition,
        }
    }
}

/// Whether `effects` (those of one commit) announce `dispatch` with the action's `STARTED`
/// state change: the action's first job (no rule's, no look at a wait) and, among the
/// effects, the STARTED event of the same execution, stage and action, which names a type
/// other than `Approval`. On AWS such a job travels on that event: the bus carries no
/// dispatch of its own for it, and invoke-action rebuilds the job from the execution
/// (docs/ARCHITECTURE.md, "A start carries its job").
pub fn announced_by_start(dispatch: &Dispatch, effects: &[Effect]) -> bool {
    if dispatch.condition.is_some() || dispatch.continuation_token.is_some() {
        return false;
    }
    effects.iter().any(|effect| match effect {
        Effect::Publish(change) => {
            let detail = &change.detail;
            change.detail_type == DetailType::Action
                && detail.state == "STARTED"
                && detail.execution_id == dispatch.execution_id
                && detail.stage.as_deref() == Some(dispatch.stage.as_str())
                && detail.action.as_deref() == Some(dispatch.action.as_str())
                && detail.action_type.as_ref().is_some_and(|t| t.category != "Approval")
        }
        _ => false,
    })
}

/// A manual approval waiting for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub id: String,
    pub pipeline: String,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub attempt: u32,
    pub action_execution_id: String,
    pub token: String,
    pub expires: Timestamp,
    pub notification_arn: Option<String>,
    pub custom_data: Option<String>,
    pub external_entity_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WakeAt {
    pub id: String,
    pub execution_id: String,
    pub at: Timestamp,
}

/// Work a rule's provider started on a service (a Commands rule's build) that nobody waits for
/// any more: the rule was abandoned (another rule failed, the execution stopped, the stage
/// retried, the pipeline updated, the condition overridden) or timed out. An action's work is
/// stopped on its ABANDONED or FAILED state change, which is published anyway; CodePipeline
/// publishes no rule events, hence an effect of its own (docs/conditions.md, "On AWS"). The
/// rule is named, not described: its region and role are read from the version the execution
/// ran, which a pipeline update that abandons the rule no longer is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopWork {
    pub id: String,
    pub pipeline: String,
    /// The version the execution ran, which declares the rule.
    pub pipeline_version: u32,
    pub execution_id: String,
    pub stage: String,
    pub condition: super::state::ConditionKind,
    pub rule: String,
    /// What the provider runs (a build id).
    pub external_execution_id: String,
}

/// The three detail-types CodePipeline publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DetailType {
    #[serde(rename = "CodePipeline Pipeline Execution State Change")]
    Pipeline,
    #[serde(rename = "CodePipeline Stage Execution State Change")]
    Stage,
    #[serde(rename = "CodePipeline Action Execution State Change")]
    Action,
}

impl DetailType {
    pub fn as_str(self) -> &'static str {
        match self {
            DetailType::Pipeline => "CodePipeline Pipeline Execution State Change",
            DetailType::Stage => "CodePipeline Stage Execution State Change",
            DetailType::Action => "CodePipeline Action Execution State Change",
        }
    }
}

/// A state-change event: the adapter adds the envelope (source, account, region, resources).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    pub id: String,
    pub time: Timestamp,
    pub detail_type: DetailType,
    pub detail: StateChangeDetail,
}

/// `detail` exactly as CodePipeline writes it (kebab-case keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StateChangeDetail {
    pub pipeline: String,
    pub execution_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub action_type: Option<ActionTypeDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_artifacts: Option<Vec<ArtifactDetail>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_artifacts: Option<Vec<ArtifactDetail>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_result: Option<ExecutionResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_trigger: Option<ExecutionTrigger>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_execution_comments: Option<String>,
    pub version: u32,
    pub pipeline_execution_attempt: u32,
}

impl StateChangeDetail {
    /// The fields every state change carries; the rest start empty.
    pub fn new(pipeline: &str, execution_id: &str, state: &str, version: u32, attempt: u32) -> StateChangeDetail {
        StateChangeDetail {
            pipeline: pipeline.to_string(),
            execution_id: execution_id.to_string(),
            stage: None,
            action: None,
            state: state.to_string(),
            region: None,
            action_type: None,
            input_artifacts: None,
            output_artifacts: None,
            execution_result: None,
            execution_trigger: None,
            stop_execution_comments: None,
            version,
            pipeline_execution_attempt: attempt,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTypeDetail {
    pub owner: String,
    pub category: String,
    pub provider: String,
    pub version: String,
}

impl From<&ActionTypeId> for ActionTypeDetail {
    fn from(t: &ActionTypeId) -> Self {
        ActionTypeDetail {
            owner: t.owner.to_string(),
            category: t.category.to_string(),
            provider: t.provider.clone(),
            version: t.version.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactDetail {
    pub name: String,
    pub s3location: S3Location,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

impl From<&ArtifactRef> for ArtifactDetail {
    fn from(a: &ArtifactRef) -> Self {
        ArtifactDetail {
            name: a.name.clone(),
            s3location: S3Location { bucket: a.location.bucket.clone(), key: a.location.key.clone() },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecutionResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecutionTrigger {
    pub trigger_type: TriggerType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_detail: Option<String>,
}
