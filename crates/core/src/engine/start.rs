//! Starting an execution (docs/reference/codepipeline.md §3.1): pipeline variables with their
//! overrides, source revision overrides, and the execution's arrival at the first stage.

use std::collections::{BTreeMap, BTreeSet};

use super::context::Context;
use super::event::{StartExecution, VariableOverride};
use super::flow::arrive;
use super::rejection::{Rejection, Stale};
use super::state::{
    ActionRun, Execution, ExecutionStatus, ExecutionType, RevisionType, SourceRevisionOverride, StageRun,
};
use crate::declaration::PipelineType;
use crate::pipeline::Pipeline;
use crate::providers::ProviderKind;

pub(crate) fn start(ctx: &mut Context, event: &StartExecution) -> Result<Option<Stale>, Rejection> {
    if ctx.world.executions.contains_key(&event.execution_id) {
        return Ok(Some(Stale::DuplicateStart));
    }
    if event.execution_id.is_empty() || event.seed.is_empty() {
        return Err(Rejection::Validation("an execution needs an id and a seed".to_string()));
    }
    if event.action_timeout_seconds == Some(0) {
        return Err(Rejection::Validation("actionTimeoutSeconds: must be at least 1".to_string()));
    }
    let variables = pipeline_variables(ctx.pipeline, &event.variables)?;
    check_source_revisions(ctx.pipeline, &event.source_revisions)?;
    let pipeline = ctx.pipeline;
    let execution = Execution {
        id: event.execution_id.clone(),
        pipeline_name: pipeline.name.clone(),
        pipeline_version: pipeline.version,
        pipeline_created: pipeline.created,
        mode: pipeline.mode,
        // The Start move sets it.
        status: ExecutionStatus::InProgress,
        status_summary: None,
        trigger: event.trigger.clone(),
        started_at: ctx.now,
        updated_at: ctx.now,
        attempt: 1,
        seed: event.seed.clone(),
        variables,
        source_revision_overrides: event.source_revisions.clone(),
        action_timeout_seconds: event.action_timeout_seconds,
        stop: None,
        stages: pipeline
            .stages
            .iter()
            .map(|stage| StageRun {
                name: stage.name.clone(),
                status: None,
                run: 1,
                auto_retries: 0,
                manual_retries: 0,
                latest_retry_trigger: None,
                actions: stage
                    .actions
                    .iter()
                    .map(|a| ActionRun { name: a.name.clone(), attempts: Vec::new() })
                    .collect(),
                conditions: Vec::new(),
            })
            .collect(),
        artifacts: BTreeMap::new(),
        namespaces: BTreeMap::new(),
        artifact_revisions: Vec::new(),
        execution_type: ExecutionType::Standard,
        rollback: None,
    };
    let id = execution.id.clone();
    ctx.start_execution(execution)?;
    arrive(ctx, &id, 0)?;
    Ok(None)
}

/// The declared variables' defaults, overridden by the values given at start.
fn pipeline_variables(
    pipeline: &Pipeline,
    overrides: &[VariableOverride],
) -> Result<BTreeMap<String, String>, Rejection> {
    let declared = pipeline.declaration.variables.as_deref().unwrap_or_default();
    if !overrides.is_empty() && pipeline.pipeline_type != PipelineType::V2 {
        return Err(Rejection::Validation("variables: pipeline variables need a V2 pipeline".to_string()));
    }
    if overrides.len() > 50 {
        return Err(Rejection::Validation(format!(
            "variables: {} values given; at most 50 are allowed",
            overrides.len()
        )));
    }
    let mut values = BTreeMap::new();
    for (i, given) in overrides.iter().enumerate() {
        if !declared.iter().any(|d| d.name == given.name) {
            return Err(Rejection::Validation(format!(
                "variables[{i}].name: the pipeline declares no variable \"{}\"",
                given.name
            )));
        }
        let length = given.value.chars().count();
        if !(1..=1000).contains(&length) {
            return Err(Rejection::Validation(format!(
                "variables[{i}].value: the value of \"{}\" must be 1 to 1000 characters",
                given.name
            )));
        }
        if values.insert(given.name.clone(), given.value.clone()).is_some() {
            return Err(Rejection::Validation(format!("variables[{i}].name: \"{}\" is given twice", given.name)));
        }
    }
    for variable in declared {
        if values.contains_key(&variable.name) {
            continue;
        }
        match &variable.default_value {
            Some(default) => {
                values.insert(variable.name.clone(), default.clone());
            }
            None => {
                return Err(Rejection::Validation(format!(
                    "variables: \"{}\" has no default value; give one when starting the execution",
                    variable.name
                )));
            }
        }
    }
    Ok(values)
}

/// The revision types a source of this kind can be started at (StartPipelineExecution's
/// `sourceRevisions`), the one naming a whole revision first: a commit, an image digest, an S3
/// object version. Other sources take none.
pub fn revision_types(kind: Option<ProviderKind>) -> &'static [RevisionType] {
    match kind {
        Some(ProviderKind::CodeCommit | ProviderKind::CodeStarSourceConnection | ProviderKind::GitHubV1) => {
            &[RevisionType::CommitId]
        }
        Some(ProviderKind::Ecr) => &[RevisionType::ImageDigest],
        Some(ProviderKind::S3Source) => &[RevisionType::S3ObjectVersionId, RevisionType::S3ObjectKey],
        _ => &[],
    }
}

/// A full or abbreviated git object name: SHA-1 (40) or SHA-256 (64) hexadecimal digits, or
/// at least 4 of them.
pub fn is_commit_id(text: &str) -> bool {
    (4..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_source_revisions(pipeline: &Pipeline, overrides: &[SourceRevisionOverride]) -> Result<(), Rejection> {
    if overrides.len() > 50 {
        return Err(Rejection::Validation("sourceRevisions: at most 50 are allowed".to_string()));
    }
    let mut seen = BTreeSet::new();
    let sources = &pipeline.stages[0];
    for (i, given) in overrides.iter().enumerate() {
        let path = format!("sourceRevisions[{i}]");
        let Some(index) = sources.action_index(&given.action_name) else {
            return Err(Rejection::Validation(format!(
                "{path}.actionName: no source action is named \"{}\"",
                given.action_name
            )));
        };
        if !seen.insert(given.action_name.as_str()) {
            return Err(Rejection::Validation(format!("{path}.actionName: \"{}\" is given twice", given.action_name)));
        }
        if given.revision_value.is_empty() || given.revision_value.len() > 1500 {
            return Err(Rejection::Validation(format!("{path}.revisionValue: must be 1 to 1500 characters")));
        }
        // A commit is named by its id, never by a ref or anything a git command line could
        // read as an option (docs/reference/codepipeline.md, "Decisions where AWS is silent").
        if given.revision_type == RevisionType::CommitId && !is_commit_id(&given.revision_value) {
            return Err(Rejection::Validation(format!(
                "{path}.revisionValue: \"{}\" is not a commit id (4 to 64 hexadecimal digits)",
                given.revision_value.chars().take(80).collect::<String>()
            )));
        }
        let allowed = revision_types(sources.actions[index].kind);
        if !allowed.contains(&given.revision_type) {
            return Err(Rejection::Validation(format!(
                "{path}.revisionType: {:?} does not apply to the {} source \"{}\"",
                given.revision_type, sources.actions[index].type_id.provider, given.action_name
            )));
        }
        if given.revision_type == RevisionType::S3ObjectKey {
            let declaration = pipeline.action_declaration(0, index);
            if declaration.config("AllowOverrideForS3ObjectKey") != Some("true") {
                return Err(Rejection::Validation(format!(
                    "{path}.revisionType: S3_OBJECT_KEY needs \"AllowOverrideForS3ObjectKey\": \"true\" on source \"{}\"",
                    given.action_name
                )));
            }
        }
    }
    Ok(())
}
