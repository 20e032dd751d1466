//! PutActionRevision (docs/reference/codepipeline.md §8): a new revision of a source action
//! starts an execution at that revision, with trigger `PutActionRevision`.
//!
//! The execution's id is derived from the pipeline, the action and the revision, so the same
//! revision put twice starts one execution: the second answer says `newRevision: false` and
//! names the execution the first started.

use serde::Deserialize;
use serde_json::{Value, json};

use pipewright_core::declaration::ActionCategory;
use pipewright_core::engine::{RevisionType, SourceRevisionOverride, Trigger, TriggerType, revision_types};
use pipewright_core::ids;
use pipewright_core::ports::StateStore;

use crate::executions::{StartError, start_new};
use crate::protocol::{ApiError, check_text, required, required_name};
use crate::{Caller, ControlPlane, service_error, store_error};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutInput {
    pipeline_name: Option<String>,
    stage_name: Option<String>,
    action_name: Option<String>,
    action_revision: Option<ActionRevisionInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRevisionInput {
    revision_id: Option<String>,
    revision_change_id: Option<String>,
    created: Option<f64>,
}

pub async fn put<C: ControlPlane>(plane: &C, caller: &Caller, input: PutInput) -> Result<Value, ApiError> {
    let pipeline = required_name(input.pipeline_name, "pipelineName")?;
    let stage = required_name(input.stage_name, "stageName")?;
    let action = required_name(input.action_name, "actionName")?;
    let revision = required(input.action_revision, "actionRevision")?;
    let revision_id = required(revision.revision_id, "actionRevision.revisionId")?;
    check_text(&revision_id, "actionRevision.revisionId", 1, 1500, |_| true)?;
    let change_id = required(revision.revision_change_id, "actionRevision.revisionChangeId")?;
    check_text(&change_id, "actionRevision.revisionChangeId", 1, 100, |_| true)?;
    required(revision.created, "actionRevision.created")?;

    let compiled = plane.cache().current(plane.store(), &pipeline).await.map_err(service_error)?;
    let Some(s) = compiled.stage_index(&stage) else {
        return Err(ApiError::client(
            "StageNotFoundException",
            format!("Stage '{stage}' does not exist in pipeline '{pipeline}'"),
        ));
    };
    let Some(a) = compiled.stages[s].action_index(&action) else {
        return Err(ApiError::client(
            "ActionNotFoundException",
            format!("Action '{action}' does not exist in stage '{stage}' of pipeline '{pipeline}'"),
        ));
    };
    let source = &compiled.stages[s].actions[a];
    if source.type_id.category != ActionCategory::Source {
        return Err(ApiError::validation(format!(
            "actionName: '{action}' is a {} action; PutActionRevision takes revisions of source actions",
            source.type_id.category
        )));
    }
    // A source that can be started at a revision is started at this one; any other (a custom
    // or partner source) runs as it would, its job worker reporting what it fetched.
    let revision_type = revision_types(source.kind).first().copied();
    if revision_type == Some(RevisionType::CommitId) && !pipewright_core::engine::is_commit_id(&revision_id) {
        return Err(ApiError::validation(format!(
            "actionRevision.revisionId: {action} is a git source, whose revision is a commit id (4 to 64 hexadecimal digits)"
        )));
    }
    let overrides: Vec<SourceRevisionOverride> = revision_type
        .as_ref()
        .map(|revision_type| SourceRevisionOverride {
            action_name: action.clone(),
            revision_type: *revision_type,
            revision_value: revision_id.clone(),
            variables: Default::default(),
        })
        .into_iter()
        .collect();
    let execution_id = ids::uuid_from(&["put-action-revision", &pipeline, &stage, &action, &revision_id]);
    let seen = plane.store().get_execution(&execution_id).await.map_err(store_error)?.is_some();
    let trigger = Trigger { trigger_type: TriggerType::PutActionRevision, trigger_detail: Some(caller.name()) };
    let id = start_new(plane, &pipeline, trigger, Vec::new(), overrides, Some(execution_id))
        .await
        .map_err(StartError::into_api)?;
    Ok(json!({ "newRevision": !seen, "pipelineExecutionId": id }))
}
