//! Status changes: every change of an execution's, a stage's or an action attempt's status
//! goes through [`Context::change`] (or, for something new, [`Context::start_execution`] and
//! [`Context::start_attempt`]). It looks the move up in the tables below, sets the status,
//! and publishes the state change CodePipeline sends for it (docs/reference/codepipeline.md §3.10), so a status
//! never changes without its event and no event is sent without its change.
//!
//! A move the tables do not hold is refused with [`Rejection::IllegalMove`]: a defect of the
//! engine, which the property test (`tests/properties.rs`) would catch; it also checks that
//! every row is reached.

use super::context::Context;
use super::effect::{ActionTypeDetail, ArtifactDetail, DetailType, ExecutionResult, ExecutionTrigger};
use super::rejection::Rejection;
use super::state::{
    ActionAttempt, ActionStatus, ArtifactRef, ConditionKind, ConditionRun, ConditionStatus, Execution, ExecutionStatus,
    RuleAttempt, RuleStatus, StageStatus,
};
use ActionStatus as A;
use ConditionStatus as C;
use ExecutionStatus as E;
use RuleStatus as R;
use StageStatus as S;

/// What happens to an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExecutionMove {
    Start,
    Stop,
    FinishStop,
    Succeed,
    Fail,
    Supersede,
    Resume,
    Cancel,
}

/// What happens to one stage of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StageMove {
    Start,
    Stop,
    FinishStop,
    Succeed,
    Fail,
    Resume,
    Cancel,
    /// An entry condition not met, with the SKIP result.
    Skip,
}

/// What happens to one evaluation of a stage condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConditionMove {
    Start,
    /// Every rule succeeded: the condition is met.
    Succeed,
    /// A rule failed: the condition's result engages.
    Fail,
    /// OverrideStageCondition released it.
    Override,
    /// A stop or a retry ended it before it was decided.
    Abandon,
    /// A pipeline update ended it.
    Cancel,
}

/// What happens to one run of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleMove {
    Start,
    Succeed,
    Fail,
    /// Its condition was decided (another rule failed, an override, a stop) while it ran.
    Abandon,
}

/// What happens to an action's latest attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionMove {
    Start,
    Succeed,
    Fail,
    /// Stop and abandon.
    Abandon,
    /// A pipeline update ends the attempt (Abandoned, published as CANCELED).
    Cancel,
}

/// One legal move: from a status (`None`: the thing is new, or a stage not yet entered),
/// by a move, to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Row<S, M> {
    pub from: Option<S>,
    pub by: M,
    pub to: S,
}

const fn row<S, M>(from: Option<S>, by: M, to: S) -> Row<S, M> {
    Row { from, by, to }
}

/// Every legal move of an execution (docs/reference/codepipeline.md §3.5–3.6, §3.10).
pub const EXECUTION_MOVES: &[Row<ExecutionStatus, ExecutionMove>] = &[
    row(None, ExecutionMove::Start, E::InProgress),
    row(Some(E::InProgress), ExecutionMove::Stop, E::Stopping),
    row(Some(E::Stopping), ExecutionMove::FinishStop, E::Stopped),
    row(Some(E::InProgress), ExecutionMove::Succeed, E::Succeeded),
    row(Some(E::InProgress), ExecutionMove::Fail, E::Failed),
    row(Some(E::InProgress), ExecutionMove::Supersede, E::Superseded),
    // RetryStageExecution of a failed or stopped execution.
    row(Some(E::Failed), ExecutionMove::Resume, E::InProgress),
    row(Some(E::Stopped), ExecutionMove::Resume, E::InProgress),
    // A pipeline update, or a hold behind a transition disabled too long.
    row(Some(E::InProgress), ExecutionMove::Cancel, E::Cancelled),
    row(Some(E::Stopping), ExecutionMove::Cancel, E::Cancelled),
];

/// Every legal move of a stage of an execution.
pub const STAGE_MOVES: &[Row<StageStatus, StageMove>] = &[
    row(None, StageMove::Start, S::InProgress),
    row(Some(S::InProgress), StageMove::Stop, S::Stopping),
    row(Some(S::Stopping), StageMove::FinishStop, S::Stopped),
    row(Some(S::InProgress), StageMove::Succeed, S::Succeeded),
    row(Some(S::InProgress), StageMove::Fail, S::Failed),
    // A retry, manual or automatic (onFailure: RETRY).
    row(Some(S::Failed), StageMove::Resume, S::InProgress),
    row(Some(S::Stopped), StageMove::Resume, S::InProgress),
    row(Some(S::InProgress), StageMove::Cancel, S::Cancelled),
    row(Some(S::Stopping), StageMove::Cancel, S::Cancelled),
    row(Some(S::InProgress), StageMove::Skip, S::Skipped),
];

/// Every legal move of an evaluation of a stage condition (docs/conditions.md).
pub const CONDITION_MOVES: &[Row<ConditionStatus, ConditionMove>] = &[
    row(None, ConditionMove::Start, C::InProgress),
    row(Some(C::InProgress), ConditionMove::Succeed, C::Succeeded),
    row(Some(C::InProgress), ConditionMove::Fail, C::Failed),
    row(Some(C::InProgress), ConditionMove::Override, C::Overridden),
    row(Some(C::InProgress), ConditionMove::Abandon, C::Abandoned),
    row(Some(C::InProgress), ConditionMove::Cancel, C::Cancelled),
];

/// Every legal move of a rule run.
pub const RULE_MOVES: &[Row<RuleStatus, RuleMove>] = &[
    row(None, RuleMove::Start, R::InProgress),
    row(Some(R::InProgress), RuleMove::Succeed, R::Succeeded),
    row(Some(R::InProgress), RuleMove::Fail, R::Failed),
    row(Some(R::InProgress), RuleMove::Abandon, R::Abandoned),
];

/// Every legal move of an action attempt (a retry starts a new attempt).
pub const ACTION_MOVES: &[Row<ActionStatus, ActionMove>] = &[
    row(None, ActionMove::Start, A::InProgress),
    row(Some(A::InProgress), ActionMove::Succeed, A::Succeeded),
    row(Some(A::InProgress), ActionMove::Fail, A::Failed),
    row(Some(A::InProgress), ActionMove::Abandon, A::Abandoned),
    row(Some(A::InProgress), ActionMove::Cancel, A::Abandoned),
];

/// The row for a move from `from`, if the table allows it.
fn legal<S: Copy + PartialEq, M: Copy + PartialEq>(table: &[Row<S, M>], from: Option<S>, by: M) -> Option<Row<S, M>> {
    table.iter().copied().find(|r| r.from == from && r.by == by)
}

/// A move to make: of the execution, of its stage, or of the latest attempt of its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Execution(ExecutionMove),
    Stage(usize, StageMove),
    Action(usize, usize, ActionMove),
    /// The evaluation at this index of the stage's `conditions`.
    Condition(usize, usize, ConditionMove),
    /// Rule `.2` of that evaluation.
    Rule(usize, usize, usize, RuleMove),
}

/// A move made, as the property test reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    Execution { id: String, row: Row<ExecutionStatus, ExecutionMove> },
    Stage { id: String, stage: usize, row: Row<StageStatus, StageMove> },
    Action { id: String, stage: usize, action: usize, attempt: u32, row: Row<ActionStatus, ActionMove> },
    Condition { id: String, stage: usize, kind: ConditionKind, number: u32, row: Row<ConditionStatus, ConditionMove> },
    Rule { id: String, stage: usize, kind: ConditionKind, number: u32, rule: String, row: Row<RuleStatus, RuleMove> },
}

impl ExecutionMove {
    fn published(self) -> &'static str {
        match self {
            ExecutionMove::Start => "STARTED",
            ExecutionMove::Stop => "STOPPING",
            ExecutionMove::FinishStop => "STOPPED",
            ExecutionMove::Succeed => "SUCCEEDED",
            ExecutionMove::Fail => "FAILED",
            ExecutionMove::Supersede => "SUPERSEDED",
            ExecutionMove::Resume => "RESUMED",
            ExecutionMove::Cancel => "CANCELED",
        }
    }
}

impl StageMove {
    fn published(self) -> &'static str {
        match self {
            StageMove::Start => "STARTED",
            StageMove::Stop => "STOPPING",
            StageMove::FinishStop => "STOPPED",
            StageMove::Succeed => "SUCCEEDED",
            StageMove::Fail => "FAILED",
            StageMove::Resume => "RESUMED",
            StageMove::Cancel => "CANCELED",
            // CodePipeline documents no stage state for it; Pipewright publishes SKIPPED
            // (docs/conditions.md), so a view of the run shows the stage passed over.
            StageMove::Skip => "SKIPPED",
        }
    }
}

impl ActionMove {
    fn published(self) -> &'static str {
        match self {
            ActionMove::Start => "STARTED",
            ActionMove::Succeed => "SUCCEEDED",
            ActionMove::Fail => "FAILED",
            ActionMove::Abandon => "ABANDONED",
            ActionMove::Cancel => "CANCELED",
        }
    }
}

fn illegal(what: String, from: Option<impl std::fmt::Debug>, by: impl std::fmt::Debug) -> Rejection {
    let from = from.map_or("nothing".to_string(), |s| format!("{s:?}"));
    Rejection::IllegalMove(format!("{what}: {by:?} from {from}"))
}

impl Context<'_> {
    /// Adds a new execution, InProgress, and publishes its STARTED.
    pub fn start_execution(&mut self, mut execution: Execution) -> Result<(), Rejection> {
        let id = execution.id.clone();
        let row = legal(EXECUTION_MOVES, None, ExecutionMove::Start)
            .ok_or_else(|| illegal(format!("execution {id}"), None::<E>, ExecutionMove::Start))?;
        execution.status = row.to;
        self.insert(execution);
        self.moves.push(Moved::Execution { id: id.clone(), row });
        self.publish_pipeline(&id, row.by)
    }

    /// Adds `attempt` to an action as its latest, InProgress, and publishes its STARTED.
    pub fn start_attempt(
        &mut self,
        id: &str,
        stage: usize,
        action: usize,
        mut attempt: ActionAttempt,
    ) -> Result<(), Rejection> {
        let row = legal(ACTION_MOVES, None, ActionMove::Start).ok_or_else(|| {
            illegal(format!("execution {id} stage {stage} action {action}"), None::<A>, ActionMove::Start)
        })?;
        attempt.status = row.to;
        attempt.updated_at = self.now;
        let number = attempt.number;
        self.exec_mut(id)?.stages[stage].actions[action].attempts.push(attempt);
        self.moves.push(Moved::Action { id: id.to_string(), stage, action, attempt: number, row });
        self.publish_action(id, stage, action, row.by)
    }

    /// Adds an evaluation of a stage condition, InProgress; returns its index. Conditions and
    /// rules publish no state change: CodePipeline has no event for them.
    pub fn start_condition(&mut self, id: &str, stage: usize, mut run: ConditionRun) -> Result<usize, Rejection> {
        let row = legal(CONDITION_MOVES, None, ConditionMove::Start).ok_or_else(|| {
            illegal(format!("execution {id} stage {stage} condition"), None::<C>, ConditionMove::Start)
        })?;
        run.status = row.to;
        let (kind, number) = (run.kind, run.number);
        let conditions = &mut self.exec_mut(id)?.stages[stage].conditions;
        conditions.push(run);
        let index = conditions.len() - 1;
        self.moves.push(Moved::Condition { id: id.to_string(), stage, kind, number, row });
        Ok(index)
    }

    /// Adds a rule run to the evaluation `condition`, InProgress; returns its index.
    pub fn start_rule(
        &mut self,
        id: &str,
        stage: usize,
        condition: usize,
        mut attempt: RuleAttempt,
    ) -> Result<usize, Rejection> {
        let row = legal(RULE_MOVES, None, RuleMove::Start)
            .ok_or_else(|| illegal(format!("execution {id} rule {}", attempt.name), None::<R>, RuleMove::Start))?;
        attempt.status = row.to;
        let name = attempt.name.clone();
        let run = &mut self.exec_mut(id)?.stages[stage].conditions[condition];
        let (kind, number) = (run.kind, run.number);
        run.rules.push(attempt);
        let index = run.rules.len() - 1;
        self.moves.push(Moved::Rule { id: id.to_string(), stage, kind, number, rule: name, row });
        Ok(index)
    }

    /// Makes one move, if the tables allow it from the current status, and publishes it.
    pub fn change(&mut self, id: &str, change: Change) -> Result<(), Rejection> {
        let now = self.now;
        let execution = self.exec_mut(id)?;
        match change {
            Change::Execution(by) => {
                let from = Some(execution.status);
                let row =
                    legal(EXECUTION_MOVES, from, by).ok_or_else(|| illegal(format!("execution {id}"), from, by))?;
                execution.status = row.to;
                self.moves.push(Moved::Execution { id: id.to_string(), row });
                self.publish_pipeline(id, by)
            }
            Change::Stage(stage, by) => {
                let run = &mut execution.stages[stage];
                let from = run.status;
                let row = legal(STAGE_MOVES, from, by)
                    .ok_or_else(|| illegal(format!("execution {id} stage {}", run.name), from, by))?;
                run.status = Some(row.to);
                self.moves.push(Moved::Stage { id: id.to_string(), stage, row });
                self.publish_stage(id, stage, by)
            }
            Change::Action(stage, action, by) => {
                let action_run = &mut execution.stages[stage].actions[action];
                let what = format!("execution {id} action {}", action_run.name);
                let Some(attempt) = action_run.attempts.last_mut() else {
                    return Err(illegal(what, None::<A>, by));
                };
                let from = Some(attempt.status);
                let row = legal(ACTION_MOVES, from, by)
                    .ok_or_else(|| illegal(format!("{what} attempt {}", attempt.number), from, by))?;
                attempt.status = row.to;
                attempt.updated_at = now;
                let number = attempt.number;
                self.moves.push(Moved::Action { id: id.to_string(), stage, action, attempt: number, row });
                self.publish_action(id, stage, action, by)
            }
            Change::Condition(stage, condition, by) => {
                let run = &mut execution.stages[stage].conditions[condition];
                let from = Some(run.status);
                let row = legal(CONDITION_MOVES, from, by).ok_or_else(|| {
                    illegal(format!("execution {id} stage {stage} {} condition", run.kind.as_str()), from, by)
                })?;
                run.status = row.to;
                run.updated_at = now;
                let (kind, number) = (run.kind, run.number);
                self.moves.push(Moved::Condition { id: id.to_string(), stage, kind, number, row });
                Ok(())
            }
            Change::Rule(stage, condition, rule, by) => {
                let run = &mut execution.stages[stage].conditions[condition];
                let (kind, number) = (run.kind, run.number);
                let attempt = &mut run.rules[rule];
                let from = Some(attempt.status);
                let row = legal(RULE_MOVES, from, by)
                    .ok_or_else(|| illegal(format!("execution {id} rule {}", attempt.name), from, by))?;
                attempt.status = row.to;
                attempt.updated_at = now;
                let name = attempt.name.clone();
                self.moves.push(Moved::Rule { id: id.to_string(), stage, kind, number, rule: name, row });
                Ok(())
            }
        }
    }

    /// A "CodePipeline Pipeline Execution State Change".
    fn publish_pipeline(&mut self, execution_id: &str, by: ExecutionMove) -> Result<(), Rejection> {
        let execution = self.exec(execution_id)?;
        let state = by.published();
        let mut detail = Self::base_detail(execution, state);
        match by {
            ExecutionMove::Start => {
                detail.execution_trigger = Some(ExecutionTrigger {
                    trigger_type: execution.trigger.trigger_type,
                    trigger_detail: execution.trigger.trigger_detail.clone(),
                });
            }
            ExecutionMove::Stop => {
                detail.stop_execution_comments = execution.stop.as_ref().and_then(|s| s.reason.clone());
            }
            _ => {}
        }
        let id = format!("{}/{}/{state}", execution.id, execution.attempt);
        self.publish(id, DetailType::Pipeline, detail);
        Ok(())
    }

    /// A "CodePipeline Stage Execution State Change".
    fn publish_stage(&mut self, execution_id: &str, stage: usize, by: StageMove) -> Result<(), Rejection> {
        let execution = self.exec(execution_id)?;
        let state = by.published();
        let mut detail = Self::base_detail(execution, state);
        let stage_name = execution.stages[stage].name.clone();
        let id = format!("{}/{}/{stage_name}/{state}", execution.id, execution.attempt);
        detail.stage = Some(stage_name);
        self.publish(id, DetailType::Stage, detail);
        Ok(())
    }

    /// A "CodePipeline Action Execution State Change" for the action's latest attempt.
    fn publish_action(
        &mut self,
        execution_id: &str,
        stage: usize,
        action: usize,
        by: ActionMove,
    ) -> Result<(), Rejection> {
        let execution = self.exec(execution_id)?;
        let state = by.published();
        let run = &execution.stages[stage];
        let action_run = &run.actions[action];
        let Some(attempt) = action_run.attempts.last() else {
            return Err(Rejection::Inconsistent(format!("action {} has no attempt to report", action_run.name)));
        };
        let mut detail = Self::base_detail(execution, state);
        detail.stage = Some(run.name.clone());
        detail.action = Some(action_run.name.clone());
        let artifacts = |refs: &[ArtifactRef]| Some(refs.iter().map(ArtifactDetail::from).collect());
        if by == ActionMove::Cancel {
            // A pipeline update cancels it: the event describes the old structure, which the
            // new declaration no longer holds, so it carries only what the execution records.
            detail.region = self.pipeline.environment.region.clone();
        } else {
            let declaration = self.pipeline.action_declaration(stage, action);
            detail.region = declaration.region.clone().or_else(|| self.pipeline.environment.region.clone());
            detail.action_type = Some(ActionTypeDetail::from(&declaration.action_type_id));
        }
        match by {
            ActionMove::Start => detail.input_artifacts = artifacts(&attempt.input_artifacts),
            ActionMove::Succeed => {
                detail.input_artifacts = artifacts(&attempt.input_artifacts);
                detail.output_artifacts = artifacts(&attempt.output_artifacts);
                detail.execution_result = Some(result_of(attempt, None));
            }
            ActionMove::Fail => {
                let code = attempt.error.as_ref().map(|e| e.code.clone());
                detail.execution_result = Some(result_of(attempt, code));
            }
            ActionMove::Abandon | ActionMove::Cancel => {}
        }
        let id = format!(
            "{}/{}/{}/{}/{}/{state}",
            execution.id, execution.attempt, run.name, action_run.name, attempt.number
        );
        self.publish(id, DetailType::Action, detail);
        Ok(())
    }
}

fn result_of(attempt: &ActionAttempt, error_code: Option<String>) -> ExecutionResult {
    let summary = match &attempt.error {
        Some(error) if error_code.is_some() => Some(error.message.clone()),
        _ => attempt.summary.clone(),
    };
    ExecutionResult {
        external_execution_url: attempt.external_execution_url.clone(),
        external_execution_summary: summary,
        external_execution_id: attempt.external_execution_id.clone(),
        error_code,
    }
}
