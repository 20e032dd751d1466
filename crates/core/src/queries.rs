//! Read models in CodePipeline's wire shapes (botocore `GetPipelineState`,
//! `PipelineExecutionSummary`, `PipelineExecution`, `ActionExecutionDetail`): what `status`,
//! `history` and the API show. Timestamps are epoch seconds, as on the wire.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_with::skip_serializing_none;

use crate::declaration::ActionTypeId;
use crate::engine::{
    ActionAttempt, ArtifactRef, ConditionKind, ConditionRun, ErrorDetails, Execution, ExecutionStatus, PipelineState,
    RetryTrigger, RuleAttempt, TriggerType,
};
use crate::pipeline::Pipeline;
use crate::ports::StoredPipeline;
use crate::time::Timestamp;

fn seconds(t: crate::time::Timestamp) -> f64 {
    t.epoch_seconds()
}

/// ListPipelines item (`PipelineSummary`).
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSummaryView {
    pub name: String,
    pub version: u32,
    pub pipeline_type: String,
    pub execution_mode: String,
    pub created: f64,
    pub updated: f64,
}

pub fn pipeline_summary(stored: &StoredPipeline) -> PipelineSummaryView {
    PipelineSummaryView {
        name: stored.declaration.name.clone(),
        version: stored.version,
        pipeline_type: stored.declaration.effective_type().as_str().to_string(),
        execution_mode: stored.declaration.effective_mode().as_str().to_string(),
        created: seconds(stored.created),
        updated: seconds(stored.updated),
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStateView {
    pub pipeline_name: String,
    pub pipeline_version: u32,
    pub stage_states: Vec<StageStateView>,
    pub created: f64,
    pub updated: f64,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageStateView {
    pub stage_name: String,
    pub inbound_execution: Option<StageExecutionView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inbound_executions: Vec<StageExecutionView>,
    /// None for the first stage, which has no inbound transition.
    pub inbound_transition_state: Option<TransitionStateView>,
    pub action_states: Vec<ActionStateView>,
    pub latest_execution: Option<StageExecutionView>,
    pub before_entry_condition_state: Option<StageConditionStateView>,
    pub on_success_condition_state: Option<StageConditionStateView>,
    pub on_failure_condition_state: Option<StageConditionStateView>,
    pub retry_stage_metadata: Option<RetryStageMetadataView>,
}

/// botocore `StageConditionState`: the latest evaluation of one kind of condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageConditionStateView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<StageConditionsExecutionView>,
    pub condition_states: Vec<ConditionStateView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageConditionsExecutionView {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionStateView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<ConditionExecutionView>,
    pub rule_states: Vec<RuleStateView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionExecutionView {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub last_status_change: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleStateView {
    pub rule_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_execution: Option<RuleExecutionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionView {
    pub rule_execution_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub last_status_change: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
}

fn rule_execution_view(rule: &RuleAttempt) -> RuleExecutionView {
    RuleExecutionView {
        rule_execution_id: rule.rule_execution_id.clone(),
        status: rule.status.as_str().to_string(),
        summary: rule.summary.clone(),
        last_status_change: seconds(rule.updated_at),
        last_updated_by: rule.last_updated_by.clone(),
        external_execution_id: rule.external_execution_id.clone(),
        external_execution_url: rule.external_execution_url.clone(),
        error_details: rule.error.clone(),
    }
}

/// The state of the stage's `kind` condition: its rules as declared, with the latest
/// evaluation of the stage's latest execution. None when the stage declares no such condition.
fn condition_state(
    pipeline: &Pipeline,
    stage: usize,
    kind: ConditionKind,
    evaluation: Option<&ConditionRun>,
) -> Option<StageConditionStateView> {
    let plan = pipeline.stages.get(stage)?.condition(kind)?;
    if plan.rules.is_empty() {
        return None;
    }
    let rule_states = plan
        .rules
        .iter()
        .map(|rule| RuleStateView {
            rule_name: rule.name.clone(),
            latest_execution: evaluation
                .and_then(|e| e.rules.iter().find(|r| r.name == rule.name))
                .map(rule_execution_view),
        })
        .collect();
    Some(StageConditionStateView {
        latest_execution: evaluation.map(|e| StageConditionsExecutionView {
            status: e.status.as_str().to_string(),
            summary: e.summary.clone(),
        }),
        condition_states: vec![ConditionStateView {
            latest_execution: evaluation.map(|e| ConditionExecutionView {
                status: e.status.as_str().to_string(),
                summary: e.summary.clone(),
                last_status_change: seconds(e.updated_at),
            }),
            rule_states,
        }],
    })
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageExecutionView {
    pub pipeline_execution_id: String,
    pub status: String,
    #[serde(rename = "type")]
    pub execution_type: &'static str,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionStateView {
    pub enabled: bool,
    pub last_changed_by: Option<String>,
    pub last_changed_at: Option<f64>,
    pub disabled_reason: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryStageMetadataView {
    pub auto_stage_retry_attempt: u32,
    pub manual_stage_retry_attempt: u32,
    pub latest_retry_trigger: Option<RetryTrigger>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionStateView {
    pub action_name: String,
    pub current_revision: Option<ActionRevisionView>,
    pub latest_execution: Option<ActionExecutionView>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRevisionView {
    pub revision_id: String,
    pub revision_change_id: String,
    pub created: f64,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecutionView {
    pub action_execution_id: String,
    pub status: String,
    pub summary: Option<String>,
    pub last_status_change: f64,
    /// The approval token of a waiting manual approval.
    pub token: Option<String>,
    pub last_updated_by: Option<String>,
    pub external_execution_id: Option<String>,
    pub external_execution_url: Option<String>,
    pub percent_complete: Option<u8>,
    pub error_details: Option<ErrorDetails>,
}

fn action_execution_view(attempt: &ActionAttempt) -> ActionExecutionView {
    let waiting = attempt.status == crate::engine::ActionStatus::InProgress;
    ActionExecutionView {
        action_execution_id: attempt.action_execution_id.clone(),
        status: attempt.status.as_str().to_string(),
        summary: attempt.summary.clone(),
        last_status_change: seconds(attempt.updated_at),
        // CodePipeline shows the token while the approval waits.
        token: attempt.token.clone().filter(|_| waiting),
        last_updated_by: attempt.last_updated_by.clone(),
        external_execution_id: attempt.external_execution_id.clone(),
        external_execution_url: attempt.external_execution_url.clone(),
        percent_complete: attempt.percent_complete,
        error_details: attempt.error.clone(),
    }
}

fn stage_execution_view(execution: &Execution, status: String) -> StageExecutionView {
    StageExecutionView {
        pipeline_execution_id: execution.id.clone(),
        status,
        execution_type: execution.execution_type.as_str(),
    }
}

/// GetPipelineState. `executions` holds at least each stage's latest execution and the
/// inbound ones; those missing are left out of the view.
/// `created` and `updated` are the pipeline's and its version's times.
pub fn pipeline_state(
    pipeline: &Pipeline,
    created: Timestamp,
    updated: Timestamp,
    state: &PipelineState,
    executions: &BTreeMap<String, Execution>,
) -> PipelineStateView {
    let stage_states = state
        .stages
        .iter()
        .enumerate()
        .map(|(index, slot)| {
            let latest = slot.latest_execution.as_ref().and_then(|id| executions.get(id));
            let run = latest.and_then(|e| e.stages.get(index));
            let inbound: Vec<StageExecutionView> = slot
                .inbound
                .iter()
                .filter_map(|id| executions.get(id))
                .map(|e| stage_execution_view(e, e.status.as_str().to_string()))
                .collect();
            // The state is laid out for `pipeline`'s version; a stage it lacks shows no action
            // rather than failing the whole answer.
            let actions = pipeline.stages.get(index).map_or(&[][..], |stage| &stage.actions[..]);
            let action_states = actions
                .iter()
                .enumerate()
                .map(|(a, plan)| {
                    let attempt = run.and_then(|r| r.actions.get(a)).and_then(|r| r.attempts.last());
                    let current_revision = (index == 0)
                        .then(|| latest.and_then(|e| e.artifact_revisions.iter().find(|r| r.action_name == plan.name)))
                        .flatten()
                        .map(|r| ActionRevisionView {
                            revision_id: r.revision_id.clone(),
                            revision_change_id: r
                                .revision_change_identifier
                                .clone()
                                .unwrap_or_else(|| r.revision_id.clone()),
                            created: seconds(r.created.unwrap_or(latest.map_or(created, |e| e.started_at))),
                        });
                    ActionStateView {
                        action_name: plan.name.clone(),
                        current_revision,
                        latest_execution: attempt.map(action_execution_view),
                    }
                })
                .collect();
            StageStateView {
                stage_name: slot.name.clone(),
                inbound_execution: inbound.first().cloned(),
                inbound_executions: if inbound.len() > 1 { inbound } else { Vec::new() },
                inbound_transition_state: (index > 0).then(|| TransitionStateView {
                    enabled: slot.transition.enabled,
                    last_changed_by: slot.transition.last_changed_by.clone(),
                    last_changed_at: slot.transition.last_changed_at.map(seconds),
                    disabled_reason: slot.transition.disabled_reason.clone(),
                }),
                action_states,
                latest_execution: latest
                    .zip(run)
                    .and_then(|(e, r)| r.status.map(|status| stage_execution_view(e, status.as_str().to_string()))),
                before_entry_condition_state: condition_state(
                    pipeline,
                    index,
                    ConditionKind::BeforeEntry,
                    run.and_then(|r| r.latest_condition(ConditionKind::BeforeEntry)),
                ),
                on_success_condition_state: condition_state(
                    pipeline,
                    index,
                    ConditionKind::OnSuccess,
                    run.and_then(|r| r.latest_condition(ConditionKind::OnSuccess)),
                ),
                on_failure_condition_state: condition_state(
                    pipeline,
                    index,
                    ConditionKind::OnFailure,
                    run.and_then(|r| r.latest_condition(ConditionKind::OnFailure)),
                ),
                retry_stage_metadata: run.filter(|r| r.auto_retries + r.manual_retries > 0).map(|r| {
                    RetryStageMetadataView {
                        auto_stage_retry_attempt: r.auto_retries,
                        manual_stage_retry_attempt: r.manual_retries,
                        latest_retry_trigger: r.latest_retry_trigger,
                    }
                }),
            }
        })
        .collect();
    PipelineStateView {
        pipeline_name: pipeline.name.clone(),
        pipeline_version: pipeline.version,
        stage_states,
        created: seconds(created),
        updated: seconds(updated),
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionTriggerView {
    pub trigger_type: TriggerType,
    pub trigger_detail: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevisionView {
    pub action_name: String,
    pub revision_id: String,
    pub revision_summary: Option<String>,
    pub revision_url: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTriggerView {
    pub reason: Option<String>,
}

/// ListPipelineExecutions item.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummaryView {
    pub pipeline_execution_id: String,
    pub status: ExecutionStatus,
    pub status_summary: Option<String>,
    pub start_time: f64,
    pub last_update_time: f64,
    pub source_revisions: Vec<SourceRevisionView>,
    pub trigger: ExecutionTriggerView,
    pub stop_trigger: Option<StopTriggerView>,
    pub execution_mode: &'static str,
    pub execution_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_metadata: Option<RollbackMetadataView>,
}

/// botocore `PipelineRollbackMetadata`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackMetadataView {
    pub rollback_target_pipeline_execution_id: String,
}

fn rollback_metadata(execution: &Execution) -> Option<RollbackMetadataView> {
    execution
        .rollback
        .as_ref()
        .map(|r| RollbackMetadataView { rollback_target_pipeline_execution_id: r.target_execution_id.clone() })
}

pub fn execution_summary(execution: &Execution) -> ExecutionSummaryView {
    ExecutionSummaryView {
        pipeline_execution_id: execution.id.clone(),
        status: execution.status,
        status_summary: execution.status_summary.clone(),
        start_time: seconds(execution.started_at),
        last_update_time: seconds(execution.updated_at),
        source_revisions: execution
            .artifact_revisions
            .iter()
            .map(|r| SourceRevisionView {
                action_name: r.action_name.clone(),
                revision_id: r.revision_id.clone(),
                revision_summary: r.revision_summary.clone(),
                revision_url: r.revision_url.clone(),
            })
            .collect(),
        trigger: ExecutionTriggerView {
            trigger_type: execution.trigger.trigger_type,
            trigger_detail: execution.trigger.trigger_detail.clone(),
        },
        stop_trigger: execution.stop.as_ref().map(|s| StopTriggerView { reason: s.reason.clone() }),
        execution_mode: execution.mode.as_str(),
        execution_type: execution.execution_type.as_str(),
        rollback_metadata: rollback_metadata(execution),
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRevisionView {
    pub name: String,
    pub revision_id: String,
    pub revision_change_identifier: Option<String>,
    pub revision_summary: Option<String>,
    pub created: Option<f64>,
    pub revision_url: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedVariableView {
    pub name: String,
    pub resolved_value: String,
}

/// GetPipelineExecution.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionView {
    pub pipeline_name: String,
    pub pipeline_version: u32,
    pub pipeline_execution_id: String,
    pub status: ExecutionStatus,
    pub status_summary: Option<String>,
    pub artifact_revisions: Vec<ArtifactRevisionView>,
    pub variables: Vec<ResolvedVariableView>,
    pub trigger: ExecutionTriggerView,
    pub execution_mode: &'static str,
    pub execution_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_metadata: Option<RollbackMetadataView>,
}

pub fn execution(execution: &Execution) -> ExecutionView {
    ExecutionView {
        pipeline_name: execution.pipeline_name.clone(),
        pipeline_version: execution.pipeline_version,
        pipeline_execution_id: execution.id.clone(),
        status: execution.status,
        status_summary: execution.status_summary.clone(),
        artifact_revisions: execution
            .artifact_revisions
            .iter()
            .map(|r| ArtifactRevisionView {
                name: r.name.clone(),
                revision_id: r.revision_id.clone(),
                revision_change_identifier: r.revision_change_identifier.clone(),
                revision_summary: r.revision_summary.clone(),
                created: r.created.map(seconds),
                revision_url: r.revision_url.clone(),
            })
            .collect(),
        variables: execution
            .variables
            .iter()
            .map(|(name, value)| ResolvedVariableView { name: name.clone(), resolved_value: value.clone() })
            .collect(),
        trigger: ExecutionTriggerView {
            trigger_type: execution.trigger.trigger_type,
            trigger_detail: execution.trigger.trigger_detail.clone(),
        },
        execution_mode: execution.mode.as_str(),
        execution_type: execution.execution_type.as_str(),
        rollback_metadata: rollback_metadata(execution),
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct S3LocationView {
    pub bucket: String,
    pub key: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtifactDetailView {
    pub name: String,
    pub s3location: S3LocationView,
}

fn artifact_details(refs: &[ArtifactRef]) -> Vec<ArtifactDetailView> {
    refs.iter()
        .map(|r| ArtifactDetailView {
            name: r.name.clone(),
            s3location: S3LocationView { bucket: r.location.bucket.clone(), key: r.location.key.clone() },
        })
        .collect()
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecutionInputView {
    pub action_type_id: ActionTypeId,
    pub configuration: BTreeMap<String, String>,
    pub resolved_configuration: BTreeMap<String, String>,
    pub role_arn: Option<String>,
    pub region: Option<String>,
    pub input_artifacts: Vec<ArtifactDetailView>,
    pub namespace: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecutionResultView {
    pub external_execution_id: Option<String>,
    pub external_execution_summary: Option<String>,
    pub external_execution_url: Option<String>,
    pub error_details: Option<ErrorDetails>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecutionOutputView {
    pub output_artifacts: Vec<ArtifactDetailView>,
    pub execution_result: ActionExecutionResultView,
    pub output_variables: BTreeMap<String, String>,
}

/// ListActionExecutions item: one attempt of one action.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionExecutionDetailView {
    pub pipeline_execution_id: String,
    pub action_execution_id: String,
    pub pipeline_version: u32,
    pub stage_name: String,
    pub action_name: String,
    pub start_time: f64,
    pub last_update_time: f64,
    pub updated_by: Option<String>,
    pub status: String,
    pub input: ActionExecutionInputView,
    pub output: ActionExecutionOutputView,
}

/// Every attempt of every action of an execution, newest first. `pipeline` must be the
/// version the execution ran with.
pub fn action_executions(pipeline: &Pipeline, execution: &Execution) -> Vec<ActionExecutionDetailView> {
    let mut details = Vec::new();
    for (s, run) in execution.stages.iter().enumerate() {
        for (a, action) in run.actions.iter().enumerate() {
            let declaration = pipeline.stages.get(s).and_then(|_| pipeline.declaration.stages[s].actions.get(a));
            for attempt in &action.attempts {
                details.push(ActionExecutionDetailView {
                    pipeline_execution_id: execution.id.clone(),
                    action_execution_id: attempt.action_execution_id.clone(),
                    pipeline_version: execution.pipeline_version,
                    stage_name: run.name.clone(),
                    action_name: action.name.clone(),
                    start_time: seconds(attempt.started_at),
                    last_update_time: seconds(attempt.updated_at),
                    updated_by: attempt.last_updated_by.clone(),
                    status: attempt.status.as_str().to_string(),
                    input: ActionExecutionInputView {
                        action_type_id: declaration.map(|d| d.action_type_id.clone()).unwrap_or_default(),
                        configuration: declaration
                            .and_then(|d| d.configuration.as_ref())
                            .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                            .unwrap_or_default(),
                        resolved_configuration: attempt.resolved_configuration.clone(),
                        role_arn: declaration.and_then(|d| d.role_arn.clone()),
                        region: declaration
                            .and_then(|d| d.region.clone())
                            .or_else(|| pipeline.environment.region.clone()),
                        input_artifacts: artifact_details(&attempt.input_artifacts),
                        namespace: declaration.and_then(|d| d.namespace.clone()),
                    },
                    output: ActionExecutionOutputView {
                        output_artifacts: if attempt.status == crate::engine::ActionStatus::Succeeded {
                            artifact_details(&attempt.output_artifacts)
                        } else {
                            Vec::new()
                        },
                        execution_result: ActionExecutionResultView {
                            external_execution_id: attempt.external_execution_id.clone(),
                            // A failed build has no summary of its own: its phases and
                            // reports stand in (CodePipeline shows the build's outcome there).
                            external_execution_summary: attempt
                                .summary
                                .clone()
                                .or_else(|| attempt.details.as_ref().map(|d| d.describe()).filter(|d| !d.is_empty())),
                            external_execution_url: attempt.external_execution_url.clone(),
                            error_details: attempt.error.clone(),
                        },
                        output_variables: attempt.output_variables.clone(),
                    },
                });
            }
        }
    }
    details.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
    details
}

/// How long a polling pipeline stays idle before CodePipeline stops polling it
/// (docs/reference/codepipeline.md §9.1).
pub const POLLING_IDLE_DAYS: u32 = 30;

/// GetPipeline's `metadata.pollingDisabledAt`: for a pipeline whose sources poll, the moment
/// it had been idle (no update, no execution) for 30 days, once that moment has passed.
/// Pipewright's polling on AWS stops then too (docs/sources.md, "Polling").
pub fn polling_disabled_at(
    declaration: &crate::declaration::PipelineDeclaration,
    last_activity: crate::time::Timestamp,
    now: crate::time::Timestamp,
) -> Option<crate::time::Timestamp> {
    let disabled = last_activity.plus_days(POLLING_IDLE_DAYS);
    (declaration.actions().any(|(_, _, action)| crate::source_polling::polls(action)) && disabled <= now)
        .then_some(disabled)
}

/// botocore `RuleExecutionInput`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionInputView {
    pub rule_type_id: crate::declaration::RuleTypeId,
    pub configuration: BTreeMap<String, String>,
    pub resolved_configuration: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub input_artifacts: Vec<ArtifactDetailView>,
}

/// botocore `RuleExecutionResult`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionResultView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionOutputView {
    pub execution_result: RuleExecutionResultView,
}

/// ListRuleExecutions item: one run of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleExecutionDetailView {
    pub pipeline_execution_id: String,
    pub rule_execution_id: String,
    pub pipeline_version: u32,
    pub stage_name: String,
    pub rule_name: String,
    pub start_time: f64,
    pub last_update_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    pub status: String,
    pub input: RuleExecutionInputView,
    pub output: RuleExecutionOutputView,
}

/// Every run of every rule of an execution, newest first. `pipeline` must be the version the
/// execution ran with.
pub fn rule_executions(pipeline: &Pipeline, execution: &Execution) -> Vec<RuleExecutionDetailView> {
    let mut details = Vec::new();
    for (s, run) in execution.stages.iter().enumerate() {
        for evaluation in &run.conditions {
            for (r, rule) in evaluation.rules.iter().enumerate() {
                let declaration = pipeline.rule_declaration(s, evaluation.kind, r);
                details.push(RuleExecutionDetailView {
                    pipeline_execution_id: execution.id.clone(),
                    rule_execution_id: rule.rule_execution_id.clone(),
                    pipeline_version: execution.pipeline_version,
                    stage_name: run.name.clone(),
                    rule_name: rule.name.clone(),
                    start_time: seconds(rule.started_at),
                    last_update_time: seconds(rule.updated_at),
                    updated_by: rule.last_updated_by.clone(),
                    status: rule.status.as_str().to_string(),
                    input: RuleExecutionInputView {
                        rule_type_id: declaration.map(|d| d.rule_type_id.clone()).unwrap_or_default(),
                        configuration: declaration
                            .and_then(|d| d.configuration.as_ref())
                            .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                            .unwrap_or_default(),
                        resolved_configuration: rule.resolved_configuration.clone(),
                        role_arn: declaration.and_then(|d| d.role_arn.clone()),
                        region: declaration
                            .and_then(|d| d.region.clone())
                            .or_else(|| pipeline.environment.region.clone()),
                        input_artifacts: artifact_details(&rule.input_artifacts),
                    },
                    output: RuleExecutionOutputView {
                        execution_result: RuleExecutionResultView {
                            external_execution_id: rule.external_execution_id.clone(),
                            external_execution_summary: rule.summary.clone(),
                            external_execution_url: rule.external_execution_url.clone(),
                            error_details: rule.error.clone(),
                        },
                    },
                });
            }
        }
    }
    details.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
    details
}

#[cfg(test)]
mod polling_tests {
    use super::*;
    use crate::declaration::{Format, PipelineDocument};
    use crate::time::Timestamp;

    fn pipeline(poll: &str) -> crate::declaration::PipelineDeclaration {
        let text = format!(
            r#"{{"name": "p", "roleArn": "arn:aws:iam::123456789012:role/r",
              "artifactStore": {{"type": "S3", "location": "b"}},
              "stages": [{{"name": "S", "actions": [{{"name": "Src",
                "actionTypeId": {{"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}},
                "configuration": {{"S3Bucket": "b", "S3ObjectKey": "k"{poll}}},
                "outputArtifacts": [{{"name": "Code"}}]}}]}},
                {{"name": "A", "actions": [{{"name": "Gate",
                "actionTypeId": {{"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}}}]}}]}}"#
        );
        PipelineDocument::parse(&text, Format::Json).unwrap().pipeline
    }

    #[test]
    fn a_polling_pipeline_idle_for_thirty_days_stops_polling() {
        let start = Timestamp::from_millis(0);
        let later = start.plus_days(31);
        assert_eq!(polling_disabled_at(&pipeline(""), start, later), Some(start.plus_days(30)), "polls by default");
        assert_eq!(polling_disabled_at(&pipeline(""), start, start.plus_days(29)), None, "not idle long enough");
        let off = pipeline(r#", "PollForSourceChanges": "false""#);
        assert_eq!(polling_disabled_at(&off, start, later), None, "a pipeline that does not poll");
    }
}
