//! RollbackStage, OverrideStageCondition, ListRuleExecutions and ListRuleTypes: stage
//! conditions and rollback (docs/conditions.md), with botocore's shapes and exception names.

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::engine::{
    ConditionKind, Event, OverrideCondition, Rejection, RollbackStage, Stale, Trigger, TriggerType,
};
use pipewright_core::ports::StateStore;
use pipewright_core::queries;
use pipewright_core::rule_types::RULE_TYPES;
use pipewright_core::service::{Handled, ServiceError};

use crate::protocol::{ApiError, check_execution_id, check_text, required, required_name};
use crate::reads::{execution_of, listed_executions, page_of};
use crate::{Caller, ControlPlane, service_error, store_error};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackInput {
    pipeline_name: Option<String>,
    stage_name: Option<String>,
    target_pipeline_execution_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideInput {
    pipeline_name: Option<String>,
    stage_name: Option<String>,
    pipeline_execution_id: Option<String>,
    condition_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRuleExecutionsInput {
    pipeline_name: Option<String>,
    filter: Option<crate::reads::ExecutionListFilter>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRuleTypesInput {
    rule_owner_filter: Option<String>,
    region_filter: Option<String>,
}

/// The pipeline must exist before anything else is looked at.
async fn require_pipeline<C: ControlPlane>(plane: &C, name: &str) -> Result<(), ApiError> {
    plane.cache().current(plane.store(), name).await.map_err(service_error).map(|_| ())
}

pub async fn rollback<C: ControlPlane>(plane: &C, caller: &Caller, input: RollbackInput) -> Result<Value, ApiError> {
    let pipeline = required_name(input.pipeline_name, "pipelineName")?;
    let stage = required_name(input.stage_name, "stageName")?;
    let target = required(input.target_pipeline_execution_id, "targetPipelineExecutionId")?;
    check_execution_id(&target, "targetPipelineExecutionId")?;
    require_pipeline(plane, &pipeline).await?;
    execution_of(plane, &pipeline, &target).await?;
    let execution_id = uuid::Uuid::new_v4().to_string();
    let event = Event::RollbackStage(RollbackStage {
        execution_id: execution_id.clone(),
        seed: format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()),
        stage,
        target_execution_id: target,
        trigger: Trigger { trigger_type: TriggerType::ManualRollback, trigger_detail: Some(caller.name()) },
    });
    match plane.submit(&pipeline, &event).await.map_err(service_error)? {
        Handled::Applied { .. } | Handled::Stale(Stale::DuplicateStart) => {
            Ok(json!({ "pipelineExecutionId": execution_id }))
        }
        Handled::Stale(other) => Err(ApiError::client("ConflictException", other.to_string())),
    }
}

pub async fn override_condition<C: ControlPlane>(
    plane: &C,
    caller: &Caller,
    input: OverrideInput,
) -> Result<Value, ApiError> {
    let pipeline = required_name(input.pipeline_name, "pipelineName")?;
    let stage = required_name(input.stage_name, "stageName")?;
    let id = required(input.pipeline_execution_id, "pipelineExecutionId")?;
    check_execution_id(&id, "pipelineExecutionId")?;
    let condition = match required(input.condition_type, "conditionType")?.as_str() {
        "BEFORE_ENTRY" => ConditionKind::BeforeEntry,
        "ON_SUCCESS" => ConditionKind::OnSuccess,
        other => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'conditionType' failed to satisfy constraint: Member must satisfy enum value set: [BEFORE_ENTRY, ON_SUCCESS]"
            )));
        }
    };
    require_pipeline(plane, &pipeline).await?;
    // The attempt read here pins the evaluation meant (see OverrideCondition).
    let expected_attempt = match plane.store().get_execution(&id).await.map_err(store_error)? {
        Some(found) if found.value.pipeline_name == pipeline => Some(found.value.attempt),
        _ => None,
    };
    let event = Event::OverrideCondition(OverrideCondition {
        execution_id: id.clone(),
        stage,
        condition,
        by: Some(caller.name()),
        expected_attempt,
    });
    match plane.submit(&pipeline, &event).await {
        // A repeated override changes nothing and answers as the first did.
        Ok(_) => Ok(json!({})),
        // The model lists no PipelineExecutionNotFoundException for this operation.
        Err(ServiceError::Rejected(Rejection::PipelineExecutionNotFound(_))) => {
            Err(ApiError::validation(format!("Pipeline execution '{id}' does not exist in pipeline '{pipeline}'")))
        }
        Err(error) => Err(service_error(error)),
    }
}

pub async fn list_rule_executions<C: ControlPlane>(
    plane: &C,
    input: ListRuleExecutionsInput,
) -> Result<Value, ApiError> {
    let pipeline = required_name(input.pipeline_name, "pipelineName")?;
    let listed = listed_executions(plane, &pipeline, input.filter, input.max_results, input.next_token).await?;
    let store = plane.store();
    let mut details = Vec::new();
    for execution in &listed.executions {
        let version = plane.cache().pinned(store, execution).await.map_err(service_error)?;
        let mut of_execution = queries::rule_executions(&version, execution);
        for detail in &mut of_execution {
            crate::answered_region(plane, &mut detail.input.region);
        }
        if listed.only_latest {
            // The latest run of each rule only.
            let mut seen = std::collections::BTreeSet::new();
            of_execution.retain(|d| seen.insert((d.stage_name.clone(), d.rule_name.clone())));
        }
        details.extend(of_execution);
    }
    details.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
    let (page, next_token) = page_of(details, listed.offset, listed.limit);
    let mut output = json!({ "ruleExecutionDetails": page });
    if let Some(token) = next_token {
        output["nextToken"] = json!(token);
    }
    Ok(output)
}

pub async fn list_rule_types<C: ControlPlane>(_plane: &C, input: ListRuleTypesInput) -> Result<Value, ApiError> {
    if let Some(owner) = &input.rule_owner_filter
        && owner != "AWS"
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{owner}' at 'ruleOwnerFilter' failed to satisfy constraint: Member must satisfy enum value set: [AWS]"
        )));
    }
    if let Some(region) = &input.region_filter {
        check_text(region, "regionFilter", 4, 30, |_| true)?;
    }
    let rule_types: Vec<Value> = RULE_TYPES
        .iter()
        .map(|t| {
            json!({
                "id": {"category": "Rule", "owner": "AWS", "provider": t.name, "version": "1"},
                "settings": {},
                "ruleConfigurationProperties": t.properties.iter().map(|p| json!({
                    "name": p.name,
                    "required": p.required,
                    "key": p.required,
                    "secret": false,
                    "queryable": false,
                    "description": p.description,
                    "type": p.kind,
                })).collect::<Vec<_>>(),
                "inputArtifactDetails": {"minimumCount": t.min_inputs, "maximumCount": t.max_inputs},
            })
        })
        .collect();
    Ok(json!({ "ruleTypes": rule_types }))
}
