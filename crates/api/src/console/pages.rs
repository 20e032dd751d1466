//! What each console page reads, with the same typed reads the wire API answers from
//! (`pipelines::stored`, `reads::state_view`, …), before `views` renders it.

use std::collections::{BTreeMap, BTreeSet};

use pipewright_core::declaration::{ExecutionMode, PipelineDeclaration, PipelineType};
use pipewright_core::engine::{ExecutionType, StageStatus};
use pipewright_core::ports::StateStore as _;
use pipewright_core::queries::PipelineStateView;

use crate::protocol::ApiError;
use crate::{ControlPlane, pipelines, reads, store_error};

use super::views::{self, ApprovalForm, ApprovalReview, Frame, PipelineData};

/// The newest executions the history page lists, and the pipeline view looks through for
/// the executions its Rollback buttons return to.
const HISTORY_LENGTH: usize = 50;

/// How many executions the pipeline view reads at a time while it looks for rollback targets.
const ROLLBACK_PAGE: usize = 10;

pub async fn pipelines<C: ControlPlane>(plane: &C) -> Result<String, ApiError> {
    let (summaries, _) = pipelines::summaries(plane, usize::MAX, None).await?;
    let mut rows = Vec::with_capacity(summaries.len());
    for pipeline in summaries {
        let (latest, _) = reads::execution_summaries(plane, &pipeline.name, 1, None, None).await?;
        rows.push((pipeline, latest.into_iter().next()));
    }
    Ok(views::pipelines(&rows))
}

/// What the pipeline view shows.
pub async fn pipeline_data<C: ControlPlane>(plane: &C, name: &str) -> Result<PipelineData, ApiError> {
    let declaration = pipelines::stored(plane, name, None).await?.declaration;
    let state = reads::state_view(plane, name).await?;
    let (latest, _) = reads::execution_summaries(plane, name, 1, None, None).await?;
    let executions: BTreeSet<&str> = state
        .stage_states
        .iter()
        .filter_map(|s| s.latest_execution.as_ref().map(|e| e.pipeline_execution_id.as_str()))
        .collect();
    let mut details = BTreeMap::new();
    for id in executions {
        for detail in reads::action_details(plane, name, Some(id), true).await? {
            let key = (id.to_string(), detail.stage_name.clone(), detail.action_name.clone());
            details.entry(key).or_insert(detail);
        }
    }
    let rollback_targets = rollback_targets(plane, &declaration, &state).await?;
    Ok(PipelineData {
        declaration,
        state,
        latest: latest.into_iter().next(),
        details,
        rollback_targets,
        now: plane.now().epoch_seconds(),
    })
}

/// By stage: the execution its Rollback button returns to, for each stage that RollbackStage
/// would roll back now (docs/conditions.md, Rollback). That is the newest standard execution
/// of the current pipeline version that succeeded in the stage, other than the one the stage
/// shows (rolling back to it would change nothing), among the newest [`HISTORY_LENGTH`]; none
/// for a V1 or PARALLEL pipeline, the source stage, or a stage an execution is running.
async fn rollback_targets<C: ControlPlane>(
    plane: &C,
    declaration: &PipelineDeclaration,
    state: &PipelineStateView,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut targets = BTreeMap::new();
    if declaration.effective_type() != PipelineType::V2
        || declaration.effective_mode() == ExecutionMode::Parallel
        || declaration.stages.len() < 2
    {
        return Ok(targets);
    }
    // The stages that may roll back, with the execution each shows.
    let mut open: Vec<(usize, &str, Option<&str>)> = state
        .stage_states
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, s)| {
            !s.latest_execution.as_ref().is_some_and(|e| matches!(e.status.as_str(), "InProgress" | "Stopping"))
        })
        .map(|(index, s)| {
            (index, s.stage_name.as_str(), s.latest_execution.as_ref().map(|e| e.pipeline_execution_id.as_str()))
        })
        .collect();
    // Newest first, a few at a time: the view is fetched again and again while it is open, and
    // the newest executions usually name every stage's target.
    let (mut read, mut token) = (0, None);
    while !open.is_empty() && read < HISTORY_LENGTH {
        let page = plane
            .store()
            .list_executions(&declaration.name, ROLLBACK_PAGE, token.as_deref())
            .await
            .map_err(store_error)?;
        read += page.items.len();
        for execution in &page.items {
            open.retain(|&(index, stage, shown)| {
                let target = execution.execution_type == ExecutionType::Standard
                    && execution.pipeline_version == state.pipeline_version
                    && execution.stages.get(index).is_some_and(|run| run.status == Some(StageStatus::Succeeded))
                    && shown != Some(execution.id.as_str());
                if target {
                    targets.insert(stage.to_string(), execution.id.clone());
                }
                !target
            });
        }
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    Ok(targets)
}

pub async fn history<C: ControlPlane>(plane: &C, name: &str) -> Result<String, ApiError> {
    let (executions, _) = reads::execution_summaries(plane, name, HISTORY_LENGTH, None, None).await?;
    Ok(views::history(name, &executions))
}

pub async fn execution<C: ControlPlane>(plane: &C, name: &str, id: &str) -> Result<String, ApiError> {
    let execution = reads::execution_view(plane, name, id).await?;
    let mut details = reads::action_details(plane, name, Some(id), false).await?;
    details.sort_by(|a, b| a.start_time.total_cmp(&b.start_time));
    Ok(views::execution(name, &execution, &details))
}

/// The page a local approval link opens (`/pipelines/<p>/approve/<stage>/<action>?token=…`):
/// the form while that token's approval waits.
pub async fn approval<C: ControlPlane>(
    plane: &C,
    name: &str,
    stage: &str,
    action: &str,
    token: &str,
    csrf: &str,
) -> Result<String, ApiError> {
    let state = reads::state_view(plane, name).await?;
    let stage_state = state
        .stage_states
        .iter()
        .find(|s| s.stage_name == stage)
        .ok_or_else(|| ApiError::client("StageNotFoundException", format!("stage {stage} does not exist")))?;
    let latest =
        stage_state.action_states.iter().find(|a| a.action_name == action).and_then(|a| a.latest_execution.as_ref());
    let waiting = latest.is_some_and(|l| l.status == "InProgress" && l.token.as_deref() == Some(token));
    let execution_id = stage_state.latest_execution.as_ref().map(|e| e.pipeline_execution_id.clone());
    let mut review = ApprovalReview {
        pipeline: name.to_string(),
        stage: stage.to_string(),
        action: action.to_string(),
        execution_id: execution_id.clone().unwrap_or_default(),
        facts: Vec::new(),
        link: None,
    };
    if let (true, Some(id)) = (waiting, &execution_id) {
        let execution = reads::execution_view(plane, name, id).await?;
        for revision in &execution.artifact_revisions {
            review.facts.push((
                "Revision",
                views::revision_text(&revision.name, "", &revision.revision_id, revision.revision_summary.as_deref()),
            ));
        }
        let attempt = reads::action_details(plane, name, Some(id), true)
            .await?
            .into_iter()
            .find(|d| d.stage_name == stage && d.action_name == action);
        if let Some(configuration) = attempt.map(|d| d.input.resolved_configuration) {
            if let Some(comments) = configuration.get("CustomData") {
                review.facts.push(("Comments", comments.clone()));
            }
            review.link = configuration.get("ExternalEntityLink").cloned();
        }
    }
    let form = ApprovalForm {
        action: Some(format!("/pipelines/{}/approve", crate::protocol::percent_encode(name))),
        hidden: vec![
            ("csrf", csrf.to_string()),
            ("stage", stage.to_string()),
            ("action", action.to_string()),
            ("token", token.to_string()),
        ],
        decision_field: "status",
        chosen: None,
    };
    Ok(views::approval(Frame::Console, &review, waiting.then_some(&form)))
}
