//! ListDeployActionExecutionTargets: the targets a deploy action (ECS, CodeDeploy) reported
//! for one action execution, from the attempt's details (`DeployTarget` in
//! `pipewright_core::action_details`). An action that reports none has an empty list.

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::action_details::DeployTarget;
use pipewright_core::engine::{ActionAttempt, Execution};
use pipewright_core::ports::StateStore;

use crate::protocol::{ApiError, check_name, max_results, required};
use crate::{ControlPlane, pipeline_not_found, seconds, store_error};

/// How many of a pipeline's newest executions are looked through for the action execution.
const SEARCH_WINDOW: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListInput {
    pipeline_name: Option<String>,
    action_execution_id: Option<String>,
    filters: Option<Vec<FilterInput>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
pub struct FilterInput {
    name: Option<String>,
    values: Option<Vec<String>>,
}

fn attempt_in<'a>(execution: &'a Execution, id: &str) -> Option<&'a ActionAttempt> {
    execution.stages.iter().flat_map(|s| &s.actions).flat_map(|a| &a.attempts).find(|at| at.action_execution_id == id)
}

/// The attempt `id` names, in `pipeline` or, without one, in any pipeline.
async fn find_attempt<C: ControlPlane>(
    plane: &C,
    pipeline: Option<&str>,
    id: &str,
) -> Result<Option<ActionAttempt>, ApiError> {
    let store = plane.store();
    let names: Vec<String> = match pipeline {
        Some(name) => {
            if store.get_pipeline(name, None).await.map_err(store_error)?.is_none() {
                return Err(pipeline_not_found(name));
            }
            vec![name.to_string()]
        }
        None => store.list_pipelines().await.map_err(store_error)?.into_iter().map(|p| p.declaration.name).collect(),
    };
    for name in names {
        let executions = store.list_executions(&name, SEARCH_WINDOW, None).await.map_err(store_error)?.items;
        if let Some(attempt) = executions.iter().find_map(|e| attempt_in(e, id)) {
            return Ok(Some(attempt.clone()));
        }
    }
    Ok(None)
}

fn view(target: &DeployTarget) -> Value {
    let mut view = json!({ "targetId": target.target_id, "targetType": target.target_type, "status": target.status });
    if let Some(t) = target.start_time {
        view["startTime"] = json!(seconds(t));
    }
    if let Some(t) = target.end_time {
        view["endTime"] = json!(seconds(t));
    }
    let events: Vec<Value> = target
        .events
        .iter()
        .map(|event| {
            let mut e = json!({ "name": event.name, "status": event.status });
            if let Some(t) = event.start_time {
                e["startTime"] = json!(seconds(t));
            }
            if let Some(t) = event.end_time {
                e["endTime"] = json!(seconds(t));
            }
            let mut context = json!({});
            if let Some(id) = &event.ssm_command_id {
                context["ssmCommandId"] = json!(id);
            }
            if let Some(message) = &event.message {
                context["message"] = json!(message);
            }
            if context != json!({}) {
                e["context"] = context;
            }
            e
        })
        .collect();
    if !events.is_empty() {
        view["events"] = json!(events);
    }
    view
}

pub async fn list<C: ControlPlane>(plane: &C, input: ListInput) -> Result<Value, ApiError> {
    if let Some(name) = &input.pipeline_name {
        check_name(name, "pipelineName")?;
    }
    let id = required(input.action_execution_id, "actionExecutionId")?;
    let limit = max_results(input.max_results, "maxResults", 1, 100, 100)?;
    let offset = match &input.next_token {
        None => 0,
        Some(token) => token.strip_prefix("offset:").and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| {
            ApiError::client(
                "InvalidNextTokenException",
                "the nextToken is not one ListDeployActionExecutionTargets gave",
            )
        })?,
    };
    let mut statuses: Option<Vec<String>> = None;
    for (i, filter) in input.filters.unwrap_or_default().into_iter().enumerate() {
        match filter.name.as_deref() {
            Some("TARGET_STATUS") => statuses.get_or_insert_with(Vec::new).extend(filter.values.unwrap_or_default()),
            other => {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{}' at 'filters.{}.member.name' failed to satisfy constraint: Member must satisfy enum value set: [TARGET_STATUS]",
                    other.unwrap_or("null"),
                    i + 1
                )));
            }
        }
    }
    let Some(attempt) = find_attempt(plane, input.pipeline_name.as_deref(), &id).await? else {
        return Err(ApiError::client(
            "ActionExecutionNotFoundException",
            format!("The action execution {id} was not found"),
        ));
    };
    let targets: Vec<&DeployTarget> = attempt
        .details
        .iter()
        .flat_map(|d| &d.targets)
        .filter(|t| statuses.as_ref().is_none_or(|s| s.iter().any(|v| v.eq_ignore_ascii_case(&t.status))))
        .collect();
    let page: Vec<Value> = targets.iter().skip(offset).take(limit).map(|t| view(t)).collect();
    let mut output = json!({ "targets": page });
    if offset + limit < targets.len() {
        output["nextToken"] = json!(format!("offset:{}", offset + limit));
    }
    Ok(output)
}
