//! A validated declaration, indexed for the engine: stages in order, actions grouped by
//! runOrder, and the settled defaults (type, mode, timeouts).

use serde::{Deserialize, Serialize};

use crate::declaration::{
    ActionDeclaration, ActionTypeId, ArtifactStore, Condition, ConditionResult, ExecutionMode, PipelineDeclaration,
    PipelineType, RuleDeclaration, StageDeclaration, StageRetryMode,
};
use crate::engine::ConditionKind;
use crate::providers::{self, ProviderKind};
use crate::rule_types::RuleProvider;
use crate::time::Timestamp;
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

/// What a stage condition does when it is not met (docs/reference/codepipeline.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engage {
    /// The stage fails (for `onFailure`: it fails as it would without the condition).
    Fail,
    /// The stage is Skipped and the execution goes on.
    Skip,
    /// The stage fails and runs again with the last successful execution's artifacts.
    Rollback,
    /// One automatic retry of the failed stage.
    Retry(RetryMode),
}

impl Engage {
    pub fn as_str(self) -> &'static str {
        match self {
            Engage::Fail => "FAIL",
            Engage::Skip => "SKIP",
            Engage::Rollback => "ROLLBACK",
            Engage::Retry(_) => "RETRY",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RulePlan {
    pub name: String,
    pub provider: Option<RuleProvider>,
    /// `timeoutInMinutes`, when declared.
    pub timeout_minutes: Option<u32>,
}

/// One stage condition: what it does when not met, and its rules (none for an `onFailure`
/// that engages its result at once).
#[derive(Debug, Clone)]
pub struct ConditionPlan {
    pub kind: ConditionKind,
    pub result: Engage,
    pub rules: Vec<RulePlan>,
}

#[derive(Debug, Clone)]
pub struct StagePlan {
    pub name: String,
    pub actions: Vec<ActionPlan>,
    /// Action indexes grouped by runOrder, lowest first.
    pub groups: Vec<Vec<usize>>,
    pub before_entry: Option<ConditionPlan>,
    pub on_success: Option<ConditionPlan>,
    pub on_failure: Option<ConditionPlan>,
}

impl StagePlan {
    pub fn action_index(&self, name: &str) -> Option<usize> {
        self.actions.iter().position(|a| a.name == name)
    }

    pub fn condition(&self, kind: ConditionKind) -> Option<&ConditionPlan> {
        match kind {
            ConditionKind::BeforeEntry => self.before_entry.as_ref(),
            ConditionKind::OnSuccess => self.on_success.as_ref(),
            ConditionKind::OnFailure => self.on_failure.as_ref(),
        }
    }

    /// Whether a failure or an unmet condition of the stage rolls it back on its own.
    pub fn rolls_back(&self) -> bool {
        [&self.on_failure, &self.on_success].into_iter().flatten().any(|c| c.result == Engage::Rollback)
    }
}

/// A validated pipeline declaration, ready to run.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub declaration: PipelineDeclaration,
    pub name: String,
    /// The structure version executions pin.
    pub version: u32,
    /// When the stored pipeline this was compiled from was created, which tells it from an
    /// earlier pipeline of the same name; None for a declaration not read from a store.
    pub created: Option<Timestamp>,
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
                StagePlan {
                    name: stage.name.clone(),
                    actions,
                    groups,
                    before_entry: plan_condition(stage, ConditionKind::BeforeEntry),
                    on_success: plan_condition(stage, ConditionKind::OnSuccess),
                    on_failure: plan_condition(stage, ConditionKind::OnFailure),
                }
            })
            .collect();
        Ok(Pipeline {
            name: declaration.name.clone(),
            version: declaration.version.and_then(|v| u32::try_from(v).ok()).unwrap_or(1),
            created: None,
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

    /// The declaration of rule `rule` of the stage's `kind` condition.
    pub fn rule_declaration(&self, stage: usize, kind: ConditionKind, rule: usize) -> Option<&RuleDeclaration> {
        declared_condition(self.declaration.stages.get(stage)?, kind)?.rules.as_ref()?.get(rule)
    }

    /// The declaration of the rule named `rule` of stage `stage`'s `kind` condition.
    pub fn rule_named(&self, stage: &str, kind: ConditionKind, rule: &str) -> Option<&RuleDeclaration> {
        let stage = self.declaration.stages.iter().find(|s| s.name == stage)?;
        declared_condition(stage, kind)?.rules.as_ref()?.iter().find(|r| r.name == rule)
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

/// The one condition a stage declares for `kind`.
fn declared_condition(stage: &StageDeclaration, kind: ConditionKind) -> Option<&Condition> {
    match kind {
        ConditionKind::BeforeEntry => stage.before_entry.as_ref()?.conditions.first(),
        ConditionKind::OnSuccess => stage.on_success.as_ref()?.conditions.first(),
        ConditionKind::OnFailure => stage.on_failure.as_ref()?.conditions.as_ref()?.first(),
    }
}

/// The stage's `kind` condition, its result settled: the condition's own, else (for
/// `onFailure`) the outer one, else FAIL (docs/conditions.md).
fn plan_condition(stage: &StageDeclaration, kind: ConditionKind) -> Option<ConditionPlan> {
    let declared = declared_condition(stage, kind);
    let outer = match kind {
        ConditionKind::OnFailure => stage.on_failure.as_ref().and_then(|f| f.result.clone()),
        _ => None,
    };
    if declared.is_none() && outer.is_none() {
        return None;
    }
    let retry_mode = match stage.on_failure.as_ref().and_then(|f| f.retry_configuration.as_ref()?.retry_mode.as_ref()) {
        Some(StageRetryMode::AllActions) => RetryMode::AllActions,
        _ => RetryMode::FailedActions,
    };
    let result = match declared.and_then(|c| c.result.clone()).or(outer) {
        Some(ConditionResult::Skip) => Engage::Skip,
        Some(ConditionResult::Rollback) => Engage::Rollback,
        Some(ConditionResult::Retry) => Engage::Retry(retry_mode),
        _ => Engage::Fail,
    };
    let rules = declared
        .and_then(|c| c.rules.as_ref())
        .into_iter()
        .flatten()
        .map(|rule| RulePlan {
            name: rule.name.clone(),
            provider: RuleProvider::of(&rule.rule_type_id.provider),
            timeout_minutes: rule.timeout_in_minutes.and_then(|t| u32::try_from(t).ok()),
        })
        .collect();
    Some(ConditionPlan { kind, result, rules })
}
