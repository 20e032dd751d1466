//! CreatePipeline, GetPipeline, UpdatePipeline, DeletePipeline, ListPipelines.

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::declaration::{
    MaskWithoutSecret, PipelineDeclaration, masked, normalized, with_home_region, with_kept_secrets,
    without_home_region,
};
use pipewright_core::engine::{Event, PipelineUpdated, Trigger, TriggerType};
use pipewright_core::ports::{StateStore, StoredPipeline};
use pipewright_core::queries;
use pipewright_core::validate::{self, Report};

use crate::action_types::Secrets;
use crate::protocol::{self, ACCOUNT_MARK, ApiError, check_name, required, required_name};
use crate::tags::{self, Resource, TagInput};
use crate::{Caller, ControlPlane, pipeline_not_found, seconds, service_error, store_error};

/// CodePipeline's quota of pipelines per account and region.
const MAX_PIPELINES: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateInput {
    pipeline: Option<Value>,
    tags: Option<Vec<TagInput>>,
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
    let mut declaration: PipelineDeclaration = serde_path_to_error::deserialize(value).map_err(|e| {
        ApiError::client(
            "InvalidStructureException",
            format!("{}: {}", protocol::member_path("pipeline", e.path()), e.inner()),
        )
    })?;
    // `version` is ignored on input: the store numbers versions.
    declaration.version = None;
    // The name's pattern and length are the model's constraints, checked before the service
    // looks at the structure: a ValidationException, as CodePipeline answers.
    check_name(&declaration.name, "pipeline.name")?;
    let report = validate::validate(&declaration);
    if !report.is_valid() {
        return Err(invalid(&report));
    }
    Ok(declaration)
}

/// The exception CodePipeline gives for the report's errors: the blocker's, the action's or
/// the stage's when all of them are in one kind of declaration, the structure's otherwise.
fn invalid(report: &Report) -> ApiError {
    let in_blockers = report.errors.iter().all(|e| e.path.contains(".blockers["));
    let in_actions = report.errors.iter().all(|e| e.path.contains(".actions["));
    let in_stages = report.errors.iter().all(|e| e.path.starts_with("stages["));
    let exception = if in_blockers {
        "InvalidBlockerDeclarationException"
    } else if in_actions {
        "InvalidActionDeclarationException"
    } else if in_stages {
        "InvalidStageDeclarationException"
    } else {
        "InvalidStructureException"
    };
    let lines: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    ApiError::client(exception, lines.join("; "))
}

/// A `****` with no stored secret behind it, as the declaration error it is.
fn mask_error(error: MaskWithoutSecret) -> ApiError {
    ApiError::client("InvalidActionDeclarationException", error.to_string())
}

/// The declaration as CodePipeline answers it: defaults written out, the home region on every
/// action, its version, secrets masked.
fn answered(declaration: &PipelineDeclaration, version: u32, secrets: &Secrets, region: &str) -> Value {
    let mut declaration = masked(with_home_region(normalized(declaration.clone()), region), secrets);
    declaration.version = Some(i64::from(version));
    serde_json::to_value(&declaration).unwrap_or(Value::Null)
}

fn name_in_use(name: &str) -> ApiError {
    ApiError::client(
        "PipelineNameInUseException",
        format!("A pipeline with the name '{name}' already exists in account '{ACCOUNT_MARK}'"),
    )
}

pub async fn create<C: ControlPlane>(plane: &C, caller: &Caller, input: CreateInput) -> Result<Value, ApiError> {
    let declaration = declaration(input.pipeline)?;
    let resource = Resource::Pipeline(declaration.name.clone());
    let tags = tags::checked_tags(input.tags.clone(), &resource.arn(plane, caller))?;
    let secrets = Secrets::load(plane).await?;
    let region = plane.home_region();
    let declaration =
        normalized(without_home_region(with_kept_secrets(declaration, None, &secrets).map_err(mask_error)?, region));
    let store = plane.store();
    let name = declaration.name.clone();
    if store.get_pipeline(&name, None).await.map_err(store_error)?.is_some() {
        return Err(name_in_use(&name));
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
        return Err(name_in_use(&name));
    }
    tags::set(plane, &resource, &tags).await?;
    // CodePipeline starts the first execution at once (docs/reference/codepipeline.md §8).
    let trigger = Trigger { trigger_type: TriggerType::CreatePipeline, trigger_detail: Some(caller.name()) };
    match crate::executions::start_new(plane, &name, trigger, Vec::new(), Vec::new(), None).await {
        // A pipeline whose first execution the engine refuses (a variable without a default
        // value) is created all the same, without an execution.
        Ok(_) | Err(crate::executions::StartError::Refused(_)) => {}
        Err(crate::executions::StartError::Api(error)) => return Err(error),
    }
    let mut output = json!({ "pipeline": answered(&declaration, outcome.version, &secrets, region) });
    if input.tags.is_some() {
        output["tags"] = json!(tags);
    }
    Ok(output)
}

pub async fn get<C: ControlPlane>(plane: &C, caller: &Caller, input: NameInput) -> Result<Value, ApiError> {
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
    let secrets = Secrets::load(plane).await?;
    let mut metadata = json!({
        "pipelineArn": Resource::Pipeline(name.clone()).arn(plane, caller),
        "created": seconds(stored.created),
        "updated": seconds(stored.updated),
    });
    let latest = plane.store().list_executions(&name, 1, None).await.map_err(store_error)?.items;
    let last_activity = latest.first().map_or(stored.updated, |e| e.started_at.max(stored.updated));
    if let Some(at) = queries::polling_disabled_at(&stored.declaration, last_activity, plane.now()) {
        metadata["pollingDisabledAt"] = json!(seconds(at));
    }
    let answer = answered(&stored.declaration, stored.version, &secrets, plane.home_region());
    Ok(json!({ "pipeline": answer, "metadata": metadata }))
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
    let Some(current) = store.get_pipeline(&declaration.name, None).await.map_err(store_error)? else {
        // The model names no error for this; CodePipeline answers ResourceNotFoundException.
        return Err(ApiError::client(
            "ResourceNotFoundException",
            format!(
                "The account with id '{ACCOUNT_MARK}' does not include a pipeline with the name '{}'",
                declaration.name
            ),
        ));
    };
    let secrets = Secrets::load(plane).await?;
    // A `****` read back from GetPipeline keeps the stored secret.
    let region = plane.home_region();
    let kept = with_kept_secrets(declaration, Some(&current.declaration), &secrets).map_err(mask_error)?;
    let declaration = normalized(without_home_region(kept, region));
    let outcome = store.put_pipeline(&declaration, plane.now()).await.map_err(store_error)?;
    if outcome.changed {
        // Executions of the old version stop, as CodePipeline's update does.
        let event = Event::PipelineUpdated(PipelineUpdated { version: outcome.version });
        plane.submit(&declaration.name, &event).await.map_err(service_error)?;
    }
    Ok(json!({ "pipeline": answered(&declaration, outcome.version, &secrets, region) }))
}

pub async fn delete<C: ControlPlane>(plane: &C, _caller: &Caller, input: NameInput) -> Result<Value, ApiError> {
    let name = required_name(input.name, "name")?;
    // Deleting a pipeline that does not exist succeeds, as in CodePipeline.
    plane.store().delete_pipeline(&name).await.map_err(store_error)?;
    // A pipeline created again under this name numbers its versions from 1 again.
    plane.cache().forget(&name);
    tags::forget(plane, &Resource::Pipeline(name)).await?;
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
