//! CreatePipeline, GetPipeline, UpdatePipeline, DeletePipeline, ListPipelines.

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::declaration::PipelineDeclaration;
use pipewright_core::engine::{Event, PipelineUpdated};
use pipewright_core::ports::{StateStore, StoredPipeline};
use pipewright_core::queries;
use pipewright_core::validate::{self, Report};

use crate::protocol::{self, ApiError, check_name, required};
use crate::{Caller, ControlPlane, pipeline_not_found, seconds, service_error, store_error};

/// CodePipeline's quota of pipelines per account and region.
const MAX_PIPELINES: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateInput {
    pipeline: Option<Value>,
    #[serde(default)]
    tags: Option<Vec<Tag>>,
}

#[derive(Deserialize, serde::Serialize, Clone)]
pub struct Tag {
    key: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInput {
    pipeline: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NameInput {
    name: Option<String>,
    version: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListInput {
    next_token: Option<String>,
    max_results: Option<i64>,
}

/// The `pipeline` member, decoded and validated; every problem in one message.
fn declaration(value: Option<Value>) -> Result<PipelineDeclaration, ApiError> {
    let value = required(value, "pipeline")?;
    let mut declaration: PipelineDeclaration = serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::client("InvalidStructureException", format!("pipeline.{}: {}", e.path(), e.inner())))?;
    // `version` is ignored on input: the store numbers versions.
    declaration.version = None;
    let report = validate::validate(&declaration);
    if !report.is_valid() {
        return Err(invalid(&report));
    }
    Ok(declaration)
}

/// The exception CodePipeline gives for the report's errors: the action's or the stage's when
/// all of them are in one kind of declaration, the structure's otherwise.
fn invalid(report: &Report) -> ApiError {
    let in_actions = report.errors.iter().all(|e| e.path.contains(".actions["));
    let in_stages = report.errors.iter().all(|e| e.path.starts_with("stages["));
    let exception = if in_actions {
        "InvalidActionDeclarationException"
    } else if in_stages {
        "InvalidStageDeclarationException"
    } else {
        "InvalidStructureException"
    };
    let lines: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    ApiError::client(exception, lines.join("; "))
}

fn with_version(stored: &StoredPipeline) -> Value {
    let mut declaration = stored.declaration.clone();
    declaration.version = Some(i64::from(stored.version));
    serde_json::to_value(&declaration).unwrap_or(Value::Null)
}

pub async fn create<C: ControlPlane>(plane: &C, input: CreateInput) -> Result<Value, ApiError> {
    let declaration = declaration(input.pipeline)?;
    if let Some(tags) = &input.tags
        && tags.len() > 50
    {
        return Err(ApiError::client("TooManyTagsException", "a pipeline takes at most 50 tags"));
    }
    let store = plane.store();
    if store.get_pipeline(&declaration.name, None).await.map_err(store_error)?.is_some() {
        return Err(ApiError::client(
            "PipelineNameInUseException",
            format!("A pipeline with the name '{}' already exists", declaration.name),
        ));
    }
    if store.list_pipelines().await.map_err(store_error)?.len() >= MAX_PIPELINES {
        return Err(ApiError::client(
            "LimitExceededException",
            format!("an account holds at most {MAX_PIPELINES} pipelines"),
        ));
    }
    let outcome = store.put_pipeline(&declaration, plane.now()).await.map_err(store_error)?;
    if !outcome.created {
        // Another CreatePipeline of the same name won the race.
        return Err(ApiError::client(
            "PipelineNameInUseException",
            format!("A pipeline with the name '{}' already exists", declaration.name),
        ));
    }
    let mut declaration = declaration;
    declaration.version = Some(i64::from(outcome.version));
    let mut output = json!({ "pipeline": declaration });
    if let Some(tags) = input.tags {
        output["tags"] = json!(tags);
    }
    Ok(output)
}

pub async fn get<C: ControlPlane>(plane: &C, input: NameInput) -> Result<Value, ApiError> {
    let name = required(input.name, "name")?;
    let version = match input.version {
        None => None,
        Some(v) if v >= 1 && v <= i64::from(u32::MAX) => Some(v as u32),
        Some(v) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{v}' at 'version' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )));
        }
    };
    let stored = stored(plane, &name, version).await?;
    Ok(json!({
        "pipeline": with_version(&stored),
        "metadata": {
            "pipelineArn": format!("arn:aws:codepipeline:{}:{}:{name}", plane.region(), plane.account()),
            "created": seconds(stored.created),
            "updated": seconds(stored.updated),
        },
    }))
}

/// Version `version` (the latest when `None`) of the pipeline `name`: GetPipeline's answer.
pub(crate) async fn stored<C: ControlPlane>(
    plane: &C,
    name: &str,
    version: Option<u32>,
) -> Result<StoredPipeline, ApiError> {
    check_name(name, "name")?;
    let store = plane.store();
    let Some(stored) = store.get_pipeline(name, version).await.map_err(store_error)? else {
        if let Some(version) = version
            && store.get_pipeline(name, None).await.map_err(store_error)?.is_some()
        {
            return Err(ApiError::client(
                "PipelineVersionNotFoundException",
                format!("Pipeline '{name}' has no version {version}"),
            ));
        }
        return Err(pipeline_not_found(name));
    };
    Ok(stored)
}

pub async fn update<C: ControlPlane>(plane: &C, _caller: &Caller, input: UpdateInput) -> Result<Value, ApiError> {
    let declaration = declaration(input.pipeline)?;
    let store = plane.store();
    if store.get_pipeline(&declaration.name, None).await.map_err(store_error)?.is_none() {
        return Err(pipeline_not_found(&declaration.name));
    }
    let outcome = store.put_pipeline(&declaration, plane.now()).await.map_err(store_error)?;
    if outcome.changed {
        // Executions of the old version stop, as CodePipeline's update does.
        let event = Event::PipelineUpdated(PipelineUpdated { version: outcome.version });
        plane.submit(&declaration.name, &event).await.map_err(service_error)?;
    }
    let mut declaration = declaration;
    declaration.version = Some(i64::from(outcome.version));
    Ok(json!({ "pipeline": declaration }))
}

pub async fn delete<C: ControlPlane>(plane: &C, input: NameInput) -> Result<Value, ApiError> {
    let name = required(input.name, "name")?;
    check_name(&name, "name")?;
    // Deleting a pipeline that does not exist succeeds, as in CodePipeline.
    plane.store().delete_pipeline(&name).await.map_err(store_error)?;
    Ok(json!({}))
}

/// `nextToken` of ListPipelines: the name after which the page starts.
fn decode_token(token: &str) -> Result<String, ApiError> {
    token
        .strip_prefix("after:")
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::client("InvalidNextTokenException", "the nextToken is not one ListPipelines gave"))
}

pub async fn list<C: ControlPlane>(plane: &C, input: ListInput) -> Result<Value, ApiError> {
    let limit = protocol::max_results(input.max_results, "maxResults", 1, 1000, 1000)?;
    let after = input.next_token.as_deref().map(decode_token).transpose()?;
    let (items, next) = summaries(plane, limit, after.as_deref()).await?;
    let mut output = json!({ "pipelines": items });
    if let Some(last) = next {
        output["nextToken"] = json!(format!("after:{last}"));
    }
    Ok(output)
}

/// ListPipelines' page of at most `limit` pipelines after the name `after`, by name, and the
/// last name of the page when more follow.
pub(crate) async fn summaries<C: ControlPlane>(
    plane: &C,
    limit: usize,
    after: Option<&str>,
) -> Result<(Vec<queries::PipelineSummaryView>, Option<String>), ApiError> {
    let mut pipelines = plane.store().list_pipelines().await.map_err(store_error)?;
    pipelines.sort_by(|a, b| a.declaration.name.cmp(&b.declaration.name));
    let start = after.map_or(0, |after| pipelines.partition_point(|p| p.declaration.name.as_str() <= after));
    let page: Vec<&StoredPipeline> = pipelines.iter().skip(start).take(limit).collect();
    let more = start + page.len() < pipelines.len();
    let next = page.last().filter(|_| more).map(|last| last.declaration.name.clone());
    Ok((page.into_iter().map(queries::pipeline_summary).collect(), next))
}
