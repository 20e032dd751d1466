//! GetPipelineExecution, GetPipelineState, ListPipelineExecutions, ListActionExecutions:
//! the core's read models (`queries`), served with CodePipeline's pagination.

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::declaration::{SECRET_MASK, SecretKeys};
use pipewright_core::engine::{ActionStatus, Execution, StageStatus};
use pipewright_core::ports::StateStore;
use pipewright_core::queries;
use pipewright_core::service;

use crate::protocol::{ApiError, check_execution_id, check_name, max_results, required, required_name};
use crate::{ControlPlane, execution_not_found, pipeline_not_found, service_error, store_error};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionInput {
    pipeline_name: Option<String>,
    pipeline_execution_id: Option<String>,
}

#[derive(Deserialize)]
pub struct StateInput {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListExecutionsInput {
    pipeline_name: Option<String>,
    max_results: Option<i64>,
    filter: Option<ExecutionFilter>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionFilter {
    succeeded_in_stage: Option<SucceededInStage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SucceededInStage {
    stage_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListActionExecutionsInput {
    pipeline_name: Option<String>,
    filter: Option<ExecutionListFilter>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// The `filter` of ListActionExecutions and ListRuleExecutions.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionListFilter {
    pipeline_execution_id: Option<String>,
    latest_in_pipeline_execution: Option<LatestInPipelineExecution>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LatestInPipelineExecution {
    pipeline_execution_id: Option<String>,
    start_time_range: Option<String>,
}

/// The execution `id` of `pipeline`, or the errors CodePipeline gives.
pub(crate) async fn execution_of<C: ControlPlane>(plane: &C, pipeline: &str, id: &str) -> Result<Execution, ApiError> {
    let store = plane.store();
    match store.get_execution(id).await.map_err(store_error)? {
        Some(found) if found.value.pipeline_name == pipeline => Ok(found.value),
        _ if store.get_pipeline(pipeline, None).await.map_err(store_error)?.is_none() => {
            Err(pipeline_not_found(pipeline))
        }
        _ => Err(execution_not_found(pipeline, id)),
    }
}

pub async fn get_execution<C: ControlPlane>(plane: &C, input: ExecutionInput) -> Result<Value, ApiError> {
    let pipeline = required(input.pipeline_name, "pipelineName")?;
    let id = required(input.pipeline_execution_id, "pipelineExecutionId")?;
    Ok(json!({ "pipelineExecution": execution_view(plane, &pipeline, &id).await? }))
}

/// GetPipelineExecution's answer.
pub(crate) async fn execution_view<C: ControlPlane>(
    plane: &C,
    pipeline: &str,
    id: &str,
) -> Result<queries::ExecutionView, ApiError> {
    check_name(pipeline, "pipelineName")?;
    check_execution_id(id, "pipelineExecutionId")?;
    Ok(queries::execution(&execution_of(plane, pipeline, id).await?))
}

/// The latest execution to have entered `stage`, read with the pipeline state in one load
/// (GetPipelineState's: the state and the executions it shows).
pub(crate) async fn latest_in_stage<C: ControlPlane>(
    plane: &C,
    pipeline: &str,
    stage: &str,
) -> Result<Option<Execution>, ApiError> {
    let mut snapshot = service::view(plane.store(), pipeline).await.map_err(service_error)?;
    let latest = snapshot
        .state
        .value
        .stages
        .iter()
        .find(|slot| slot.name == stage)
        .and_then(|slot| slot.latest_execution.clone());
    Ok(latest.and_then(|id| snapshot.executions.remove(&id)).map(|versioned| versioned.value))
}

pub async fn get_state<C: ControlPlane>(plane: &C, input: StateInput) -> Result<Value, ApiError> {
    let name = required(input.name, "name")?;
    let view = state_view(plane, &name).await?;
    serde_json::to_value(view).map_err(|e| ApiError::internal(e.to_string()))
}

/// GetPipelineState's answer.
pub(crate) async fn state_view<C: ControlPlane>(plane: &C, name: &str) -> Result<queries::PipelineStateView, ApiError> {
    check_name(name, "name")?;
    service::pipeline_state(plane.store(), plane.cache(), name).await.map_err(service_error)
}

/// Whether `execution` got through `stage` (the `succeededInStage` filter).
fn succeeded_in(execution: &Execution, stage: &str) -> bool {
    execution.stages.iter().any(|run| run.name == stage && run.status == Some(StageStatus::Succeeded))
}

pub async fn list_executions<C: ControlPlane>(plane: &C, input: ListExecutionsInput) -> Result<Value, ApiError> {
    let pipeline = required(input.pipeline_name, "pipelineName")?;
    let limit = max_results(input.max_results, "maxResults", 1, 100, 100)?;
    let stage = match input.filter.and_then(|f| f.succeeded_in_stage) {
        Some(filter) => {
            let stage = required_name(filter.stage_name, "filter.succeededInStage.stageName")?;
            Some(stage)
        }
        None => None,
    };
    let (summaries, token) = execution_summaries(plane, &pipeline, limit, stage.as_deref(), input.next_token).await?;
    let mut output = json!({ "pipelineExecutionSummaries": summaries });
    if let Some(token) = token {
        output["nextToken"] = json!(token);
    }
    Ok(output)
}

/// ListPipelineExecutions' page: at most `limit` executions of `pipeline`, newest first, those
/// that got through `succeeded_in` only when it is given, and the token of the next page.
pub(crate) async fn execution_summaries<C: ControlPlane>(
    plane: &C,
    pipeline: &str,
    limit: usize,
    succeeded_in_stage: Option<&str>,
    mut token: Option<String>,
) -> Result<(Vec<queries::ExecutionSummaryView>, Option<String>), ApiError> {
    check_name(pipeline, "pipelineName")?;
    let store = plane.store();
    if store.get_pipeline(pipeline, None).await.map_err(store_error)?.is_none() {
        return Err(pipeline_not_found(pipeline));
    }
    let mut summaries = Vec::new();
    // With a filter, pages of the store are read until the page is full or the list ends.
    loop {
        let page = store.list_executions(pipeline, limit, token.as_deref()).await.map_err(store_error)?;
        token = page.next_token;
        for execution in &page.items {
            if succeeded_in_stage.is_none_or(|s| succeeded_in(execution, s)) {
                summaries.push(queries::execution_summary(execution));
            }
        }
        if succeeded_in_stage.is_none() || token.is_none() || summaries.len() >= limit {
            break;
        }
    }
    Ok((summaries, token))
}

/// How many of a pipeline's newest executions ListActionExecutions and ListRuleExecutions
/// read without a filter.
const LISTED_EXECUTIONS_WINDOW: usize = 100;

/// The executions a ListActionExecutions or ListRuleExecutions request covers, and its paging.
pub(crate) struct Listed {
    pub executions: Vec<Execution>,
    /// Only the latest run of each action or rule (`startTimeRange: Latest`).
    pub only_latest: bool,
    pub offset: usize,
    pub limit: usize,
}

pub(crate) async fn listed_executions<C: ControlPlane>(
    plane: &C,
    pipeline: &str,
    filter: Option<ExecutionListFilter>,
    max_results: Option<i64>,
    next_token: Option<String>,
) -> Result<Listed, ApiError> {
    let limit = crate::protocol::max_results(max_results, "maxResults", 1, 100, 100)?;
    let offset = match &next_token {
        None => 0,
        Some(token) => token.strip_prefix("offset:").and_then(|n| n.parse::<usize>().ok()).ok_or_else(|| {
            ApiError::client("InvalidNextTokenException", "the nextToken is not one this operation gave")
        })?,
    };
    let mut only_latest = false;
    let execution_id = match filter {
        Some(ExecutionListFilter { pipeline_execution_id: Some(id), .. }) => Some(id),
        Some(ExecutionListFilter { latest_in_pipeline_execution: Some(latest), .. }) => {
            if let Some(range) = &latest.start_time_range
                && range != "Latest"
                && range != "All"
            {
                return Err(ApiError::validation(format!(
                    "filter.latestInPipelineExecution.startTimeRange: {range:?} is not Latest or All"
                )));
            }
            only_latest = latest.start_time_range.as_deref() != Some("All");
            Some(required(latest.pipeline_execution_id, "filter.latestInPipelineExecution.pipelineExecutionId")?)
        }
        _ => None,
    };
    let executions = executions_in_scope(plane, pipeline, execution_id.as_deref()).await?;
    Ok(Listed { executions, only_latest, offset, limit })
}

/// The execution `execution_id` of `pipeline`, or without one the pipeline's newest executions.
async fn executions_in_scope<C: ControlPlane>(
    plane: &C,
    pipeline: &str,
    execution_id: Option<&str>,
) -> Result<Vec<Execution>, ApiError> {
    let store = plane.store();
    match execution_id {
        Some(id) => {
            check_execution_id(id, "filter.pipelineExecutionId")?;
            Ok(vec![execution_of(plane, pipeline, id).await?])
        }
        None => {
            if store.get_pipeline(pipeline, None).await.map_err(store_error)?.is_none() {
                return Err(pipeline_not_found(pipeline));
            }
            Ok(store.list_executions(pipeline, LISTED_EXECUTIONS_WINDOW, None).await.map_err(store_error)?.items)
        }
    }
}

/// One page of `items` and the token of the next, as `offset:<n>`.
pub(crate) fn page_of<T>(items: Vec<T>, offset: usize, limit: usize) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let page = items.into_iter().skip(offset).take(limit).collect();
    (page, (offset + limit < total).then(|| format!("offset:{}", offset + limit)))
}

pub async fn list_action_executions<C: ControlPlane>(
    plane: &C,
    input: ListActionExecutionsInput,
) -> Result<Value, ApiError> {
    let pipeline = required_name(input.pipeline_name, "pipelineName")?;
    let listed = listed_executions(plane, &pipeline, input.filter, input.max_results, input.next_token).await?;
    let mut details = details_of(plane, &listed.executions, listed.only_latest).await?;
    for detail in &mut details {
        crate::answered_region(plane, &mut detail.input.region);
    }
    let (page, next_token) = page_of(details, listed.offset, listed.limit);
    let mut output = json!({ "actionExecutionDetails": page });
    if let Some(token) = next_token {
        output["nextToken"] = json!(token);
    }
    Ok(output)
}

/// ListActionExecutions' items, all of them, newest first: of the execution `execution_id`
/// (its latest attempts only with `only_latest`), or of the newest executions of `pipeline`.
pub(crate) async fn action_details<C: ControlPlane>(
    plane: &C,
    pipeline: &str,
    execution_id: Option<&str>,
    only_latest: bool,
) -> Result<Vec<queries::ActionExecutionDetailView>, ApiError> {
    check_name(pipeline, "pipelineName")?;
    let executions = executions_in_scope(plane, pipeline, execution_id).await?;
    details_of(plane, &executions, only_latest).await
}

/// The action executions of `executions`, newest first.
async fn details_of<C: ControlPlane>(
    plane: &C,
    executions: &[Execution],
    only_latest: bool,
) -> Result<Vec<queries::ActionExecutionDetailView>, ApiError> {
    let store = plane.store();
    let secrets = crate::action_types::Secrets::load(plane).await?;
    let mut details = Vec::new();
    for execution in executions {
        let version = plane.cache().pinned(store, execution).await.map_err(service_error)?;
        let mut of_execution = queries::action_executions(&version, execution);
        // Secret configuration values are answered masked, as GetPipeline answers them.
        for detail in &mut of_execution {
            let type_id = &detail.input.action_type_id;
            for map in [&mut detail.input.configuration, &mut detail.input.resolved_configuration] {
                for (key, value) in map.iter_mut() {
                    if secrets.is_secret(type_id, key) {
                        *value = SECRET_MASK.to_string();
                    }
                }
            }
        }
        if only_latest {
            // The latest attempt of each action only.
            let mut seen = std::collections::BTreeSet::new();
            of_execution.retain(|d| seen.insert((d.stage_name.clone(), d.action_name.clone())));
        }
        details.extend(of_execution);
    }
    details.sort_by(|a, b| b.start_time.total_cmp(&a.start_time));
    Ok(details)
}

/// The executions of `pipeline` that have not finished, newest first.
pub(crate) async fn active_executions<C: ControlPlane>(plane: &C, pipeline: &str) -> Result<Vec<Execution>, ApiError> {
    let store = plane.store();
    let mut token: Option<String> = None;
    let mut active = Vec::new();
    loop {
        let page = store.list_executions(pipeline, 100, token.as_deref()).await.map_err(store_error)?;
        active.extend(page.items.into_iter().filter(|e| !e.status.is_finished()));
        token = page.next_token;
        if token.is_none() {
            return Ok(active);
        }
    }
}

/// Whether the latest attempt of `stage`/`action` in `execution` waits.
pub(crate) fn waits(execution: &Execution, stage: &str, action: &str) -> Option<bool> {
    let s = execution.stage_index(stage)?;
    let a = execution.stages[s].action_index(action)?;
    let attempt = execution.stages[s].actions[a].attempts.last()?;
    Some(attempt.status == ActionStatus::InProgress)
}
