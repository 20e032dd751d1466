//! A validated declaration, indexed for the engine: stages in order, actions grouped by
//! runOrder, and the settled defaults (type, mode, timeouts).

use serde::{Deserialize, Serialize};

use crate::declaration::{
    ActionDeclaration, ActionTypeId, ArtifactStore, ConditionResult, ExecutionMode, PipelineDeclaration, PipelineType,
    StageRetryMode,
};
use crate::providers::{self, ProviderKind};
use crate::validate::{self, Report};

/// How a pipeline handles several executions (docs/reference/codepipeline.md §3.6–3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    /// One execution per stage; a newer execution replaces one waiting at a boundary.
    Superseded,
    /// One execution per stage; waiting executions queue in order.
    Queued,
    /// No stage locks; executions run independently.
    Parallel,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Superseded => "SUPERSEDED",
            Mode::Queued => "QUEUED",
            Mode::Parallel => "PARALLEL",
        }
    }

    /// Whether a stage holds one execution at a time.
    pub fn locks_stages(self) -> bool {
        self != Mode::Parallel
    }
}

/// Which actions a stage retry re-runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryMode {
    FailedActions,
    AllActions,
}

impl RetryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryMode::FailedActions => "FAILED_ACTIONS",
            RetryMode::AllActions => "ALL_ACTIONS",
        }
    }
}

/// Settings that come from where the pipeline is deployed rather than from its declaration.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The pipeline's home region, where actions without a `region` run.
    pub region: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ActionPlan {
    pub name: String,
    pub type_id: ActionTypeId,
    pub kind: Option<ProviderKind>,
    pub run_order: u32,
    pub timeout_minutes: u32,
    pub namespace: Option<String>,
}

impl ActionPlan {
    pub fn is_approval(&self) -> bool {
        self.kind == Some(ProviderKind::ManualApproval)
    }
}

#[derive(Debug, Clone)]
pub struct StagePlan {
    pub name: String,
    pub actions: Vec<ActionPlan>,
    /// Action indexes grouped by runOrder, lowest first.
    pub groups: Vec<Vec<usize>>,
    /// `onFailure: {result: RETRY}`: the mode of the one automatic retry.
    pub auto_retry: Option<RetryMode>,
}

impl StagePlan {
    pub fn action_index(&self, name: &str) -> Option<usize> {
        self.actions.iter().position(|a| a.name == name)
    }
}

/// A validated pipeline declaration, ready to run.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub declaration: PipelineDeclaration,
    pub name: String,
    /// The structure version executions pin.
    pub version: u32,
    pub pipeline_type: PipelineType,
    pub mode: Mode,
    pub environment: Environment,
    pub stages: Vec<StagePlan>,
}

impl Pipeline {
    /// Validates `declaration` and indexes it, or returns every validation error.
    pub fn compile(declaration: PipelineDeclaration, environment: Environment) -> Result<Pipeline, Report> {
        let report = validate::validate(&declaration);
        if !report.is_valid() {
            return Err(report);
        }
        let mode = match declaration.effective_mode() {
            ExecutionMode::Queued => Mode::Queued,
            ExecutionMode::Parallel => Mode::Parallel,
            _ => Mode::Superseded,
        };
        let stages = declaration
            .stages
            .iter()
            .map(|stage| {
                let actions: Vec<ActionPlan> = stage.actions.iter().map(plan_action).collect();
                let mut orders: Vec<u32> = actions.iter().map(|a| a.run_order).collect();
                orders.sort_unstable();
                orders.dedup();
                let groups = orders
                    .iter()
                    .map(|order| (0..actions.len()).filter(|&i| actions[i].run_order == *order).collect())
                    .collect();
                let auto_retry = stage.on_failure.as_ref().and_then(|failure| {
                    (failure.result == Some(ConditionResult::Retry)).then(|| {
                        match failure.retry_configuration.as_ref().and_then(|r| r.retry_mode.as_ref()) {
                            Some(StageRetryMode::AllActions) => RetryMode::AllActions,
                            _ => RetryMode::FailedActions,
                        }
                    })
                });
                StagePlan { name: stage.name.clone(), actions, groups, auto_retry }
            })
            .collect();
        Ok(Pipeline {
            name: declaration.name.clone(),
            version: declaration.version.and_then(|v| u32::try_from(v).ok()).unwrap_or(1),
            pipeline_type: declaration.effective_type(),
            mode,
            environment,
            stages,
            declaration,
        })
    }

    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    pub fn action_declaration(&self, stage: usize, action: usize) -> &ActionDeclaration {
        &self.declaration.stages[stage].actions[action]
    }

    /// The artifact store for an action running in `region` (or the home region).
    pub fn artifact_store(&self, region: Option<&str>) -> Option<&ArtifactStore> {
        if let Some(store) = &self.declaration.artifact_store {
            return Some(store);
        }
        let stores = self.declaration.artifact_stores.as_ref()?;
        let region = region.or(self.environment.region.as_deref());
        region.and_then(|r| stores.get(r)).or_else(|| stores.values().next())
    }

    /// The ARN CodePipeline would give this pipeline.
    pub fn arn(&self, account: &str) -> String {
        let region = self.environment.region.as_deref().unwrap_or("local");
        format!("arn:aws:codepipeline:{region}:{account}:{}", self.name)
    }
}

fn plan_action(action: &ActionDeclaration) -> ActionPlan {
    let kind = providers::spec_of(&action.action_type_id).map(|spec| spec.kind);
    ActionPlan {
        name: action.name.clone(),
        type_id: action.action_type_id.clone(),
        kind,
        // Validation proved 1..=999.
        run_order: u32::try_from(action.effective_run_order()).unwrap_or(1),
        timeout_minutes: providers::timeout_minutes(&action.action_type_id, action.timeout_in_minutes),
        namespace: action.namespace.clone(),
    }
}
