//! Property test of the state machine (docs/design.md §4): random valid pipelines, random schedules
//! over several concurrent executions in each mode, mixing completions, failures, duplicates,
//! reorderings, retries, stops, transition toggles, approvals, continuations and deadlines.
//! The invariants are checked after every step; at the end, with every transition enabled and
//! every outstanding action answered, every execution must have ended.

use proptest::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Debug;

use super::harness::*;
use crate::engine::*;
use crate::execution_parts::check;
use crate::pipeline::{Mode, RetryMode};

// ---- random pipelines ---------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Kind {
    Command,
    Approval,
    Lambda,
}

#[derive(Debug, Clone)]
struct ActionShape {
    kind: Kind,
    run_order: u32,
    input_pick: usize,
}

/// A stage condition: which, its result, and its one rule.
#[derive(Debug, Clone)]
struct ConditionShape {
    field: &'static str,
    result: &'static str,
    rule: RuleShape,
}

#[derive(Debug, Clone)]
enum RuleShape {
    /// A VariableCheck that holds, or not.
    Check(bool),
    /// A Commands rule: a job.
    Job,
    /// A deployment window open half of every hour.
    Window,
}

#[derive(Debug, Clone)]
struct StageShape {
    actions: Vec<ActionShape>,
    /// `Some(all)`: automatic retry.
    auto_retry: Option<bool>,
    condition: Option<ConditionShape>,
}

#[derive(Debug, Clone)]
struct PipelineShape {
    mode: &'static str,
    sources: usize,
    stages: Vec<StageShape>,
}

fn action_shape() -> impl Strategy<Value = ActionShape> {
    (
        prop_oneof![4 => Just(Kind::Command), 1 => Just(Kind::Approval), 1 => Just(Kind::Lambda)],
        1u32..=3,
        any::<usize>(),
    )
        .prop_map(|(kind, run_order, input_pick)| ActionShape { kind, run_order, input_pick })
}

fn rule_shape() -> impl Strategy<Value = RuleShape> {
    prop_oneof![any::<bool>().prop_map(RuleShape::Check), Just(RuleShape::Job), Just(RuleShape::Window)]
}

fn condition_shape() -> impl Strategy<Value = ConditionShape> {
    let field_and_result = prop_oneof![
        Just(("beforeEntry", "FAIL")),
        Just(("beforeEntry", "SKIP")),
        Just(("onSuccess", "FAIL")),
        Just(("onSuccess", "ROLLBACK")),
        Just(("onFailure", "ROLLBACK")),
        Just(("onFailure", "RETRY")),
    ];
    (field_and_result, rule_shape()).prop_map(|((field, result), rule)| ConditionShape { field, result, rule })
}

fn pipeline_shape() -> impl Strategy<Value = PipelineShape> {
    let mode = prop_oneof![Just("SUPERSEDED"), Just("QUEUED"), Just("PARALLEL")];
    let stage = (
        prop::collection::vec(action_shape(), 1..=4),
        prop::option::of(any::<bool>()),
        prop::option::weighted(0.4, condition_shape()),
    )
        .prop_map(|(actions, auto_retry, condition)| StageShape { actions, auto_retry, condition });
    (mode, 1usize..=2, prop::collection::vec(stage, 1..=3)).prop_map(|(mode, sources, mut stages)| {
        for stage in &mut stages {
            let rolls_back = stage.condition.as_ref().is_some_and(|c| c.result == "ROLLBACK");
            if mode == "PARALLEL" && rolls_back {
                // PARALLEL pipelines cannot roll back (docs/reference/codepipeline.md §3.7).
                stage.condition = None;
            }
            if stage.condition.as_ref().is_some_and(|c| c.field == "onFailure") {
                stage.auto_retry = None;
            }
            // An entry condition that skips takes only LambdaInvoke and VariableCheck rules
            // (docs/conditions.md).
            if let Some(condition) = stage.condition.as_mut()
                && condition.field == "beforeEntry"
                && condition.result == "SKIP"
                && !matches!(condition.rule, RuleShape::Check(_))
            {
                condition.rule = RuleShape::Check(false);
            }
        }
        PipelineShape { mode, sources, stages }
    })
}

fn rule_json(rule: &RuleShape) -> Value {
    let id =
        |provider: &str| serde_json::json!({"category": "Rule", "owner": "AWS", "provider": provider, "version": "1"});
    match rule {
        RuleShape::Check(holds) => serde_json::json!({
            "name": "Check", "ruleTypeId": id("VariableCheck"),
            "configuration": {"Variable": "#{variables.Env}", "Operator": if *holds { "EQ" } else { "NE" }, "Value": "staging"}
        }),
        RuleShape::Job => serde_json::json!({"name": "Job", "ruleTypeId": id("Commands"), "commands": ["true"]}),
        RuleShape::Window => serde_json::json!({
            "name": "Window", "ruleTypeId": id("DeploymentWindow"), "configuration": {"Cron": "* 30-59 * ? * * *"}
        }),
    }
}

/// The declaration of a shape: every Commands action consumes an artifact produced in an
/// earlier stage and produces its own; `Some(all)` adds automatic retry to the stage.
fn declaration(shape: &PipelineShape) -> Value {
    let mut produced: Vec<String> = Vec::new();
    let mut stages = Vec::new();
    let sources: Vec<Value> = (0..shape.sources)
        .map(|i| {
            produced.push(format!("Src{i}Out"));
            source(&format!("Src{i}"), &format!("Src{i}Out"))
        })
        .collect();
    stages.push(stage("Source", sources));
    for (s, shape_of_stage) in shape.stages.iter().enumerate() {
        let (actions, auto_retry) = (&shape_of_stage.actions, &shape_of_stage.auto_retry);
        let available = produced.clone();
        let mut declared = Vec::new();
        for (a, action) in actions.iter().enumerate() {
            let name = format!("A{s}x{a}");
            declared.push(match action.kind {
                Kind::Command => {
                    let input = &available[action.input_pick % available.len()];
                    let output = format!("{name}Out");
                    produced.push(output.clone());
                    command(&name, action.run_order, &[input], &[&output])
                }
                Kind::Approval => approval(&name, action.run_order),
                Kind::Lambda => lambda(&name, action.run_order),
            });
        }
        let mut stage_json = stage(&format!("S{s}"), declared);
        if let Some(all) = auto_retry {
            let mode = if *all { "ALL_ACTIONS" } else { "FAILED_ACTIONS" };
            stage_json["onFailure"] = serde_json::json!({"result": "RETRY", "retryConfiguration": {"retryMode": mode}});
        }
        if let Some(condition) = &shape_of_stage.condition {
            let rule = rule_json(&condition.rule);
            stage_json[condition.field] = match condition.field {
                // Half of the failure conditions engage at once, half through their rule.
                "onFailure" if matches!(condition.rule, RuleShape::Check(true)) => {
                    serde_json::json!({"result": condition.result})
                }
                "onFailure" => serde_json::json!({"result": condition.result, "conditions": [{"rules": [rule]}]}),
                _ => serde_json::json!({"conditions": [{"result": condition.result, "rules": [rule]}]}),
            };
        }
        stages.push(stage_json);
    }
    pipeline_json(shape.mode, stages)
}

// ---- random schedules ---------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Start,
    Complete { pick: usize, success: bool },
    Continue { pick: usize },
    Answer { pick: usize, approve: bool },
    Redeliver { pick: usize },
    Retry { pick: usize, all: bool },
    Stop { pick: usize, abandon: bool },
    Toggle { pick: usize },
    Wait { minutes: u32, pick: usize },
    Update,
    CompleteRule { pick: usize, success: bool },
    Override { pick: usize, on_success: bool },
    Rollback { pick: usize, target: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Start),
        8 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(pick, success)| Op::Complete { pick, success }),
        1 => any::<usize>().prop_map(|pick| Op::Continue { pick }),
        2 => (any::<usize>(), prop::bool::weighted(0.7)).prop_map(|(pick, approve)| Op::Answer { pick, approve }),
        2 => any::<usize>().prop_map(|pick| Op::Redeliver { pick }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, all)| Op::Retry { pick, all }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, abandon)| Op::Stop { pick, abandon }),
        1 => any::<usize>().prop_map(|pick| Op::Toggle { pick }),
        1 => (prop_oneof![Just(1u32), Just(30), Just(24 * 60), Just(8 * 24 * 60)], any::<usize>())
            .prop_map(|(minutes, pick)| Op::Wait { minutes, pick }),
        1 => Just(Op::Update),
        3 => (any::<usize>(), prop::bool::weighted(0.7)).prop_map(|(pick, success)| Op::CompleteRule { pick, success }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, on_success)| Op::Override { pick, on_success }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(pick, target)| Op::Rollback { pick, target }),
    ]
}

/// A rule job in flight: (execution, stage, condition, rule).
type RuleInFlight = (String, String, ConditionKind, String);

fn rules_in_flight(sim: &Sim) -> Vec<RuleInFlight> {
    let mut out = Vec::new();
    for execution in sim.world.executions.values() {
        for run in &execution.stages {
            let Some(c) = run.condition_in_progress() else { continue };
            for rule in &run.conditions[c].rules {
                if rule.status == RuleStatus::InProgress && rule.job.is_some() {
                    out.push((execution.id.clone(), run.name.clone(), run.conditions[c].kind, rule.name.clone()));
                }
            }
        }
    }
    out
}

/// Whether anything of the execution is still being decided: an action or a condition.
fn busy(execution: &Execution) -> bool {
    execution.stages.iter().any(|run| {
        run.condition_in_progress().is_some()
            || (0..run.actions.len()).any(|a| run.current(a).is_some_and(|at| at.status == ActionStatus::InProgress))
    })
}

/// An in-flight attempt: (execution, stage, action, is approval, is lambda).
type InFlight = (String, String, String, bool, bool);

fn in_flight(sim: &Sim) -> Vec<InFlight> {
    let mut out = Vec::new();
    for execution in sim.world.executions.values() {
        for (s, run) in execution.stages.iter().enumerate() {
            for (a, action) in run.actions.iter().enumerate() {
                if run.current(a).is_some_and(|attempt| attempt.status == ActionStatus::InProgress) {
                    let plan = &sim.pipeline.stages[s].actions[a];
                    let lambda = plan.kind == Some(crate::providers::ProviderKind::Lambda);
                    out.push((execution.id.clone(), run.name.clone(), action.name.clone(), plan.is_approval(), lambda));
                }
            }
        }
    }
    out
}

struct Run {
    shape: PipelineShape,
    sim: Sim,
    started: usize,
    delivered: Vec<Event>,
    dispatch_keys: BTreeSet<String>,
    effect_ids: BTreeSet<String>,
    final_statuses: BTreeMap<String, ExecutionStatus>,
    /// Every row of the move tables a step went through.
    rows: Rows,
    rollbacks: usize,
    /// The last pipeline states of the run: a step decided without the state must decide
    /// the same over each (its commit does not check the state).
    recent_states: Vec<PipelineState>,
}

/// How many of the run's last pipeline states a step decided without the state is tried on.
const RECENT_STATES: usize = 6;

/// Rows of the move tables.
#[derive(Default)]
struct Rows {
    execution: HashSet<Row<ExecutionStatus, ExecutionMove>>,
    stage: HashSet<Row<StageStatus, StageMove>>,
    action: HashSet<Row<ActionStatus, ActionMove>>,
    condition: HashSet<Row<ConditionStatus, ConditionMove>>,
    rule: HashSet<Row<RuleStatus, RuleMove>>,
}

impl Run {
    fn new(shape: &PipelineShape) -> Run {
        Run {
            shape: shape.clone(),
            sim: Sim::new(declaration(shape)),
            started: 0,
            delivered: Vec::new(),
            dispatch_keys: BTreeSet::new(),
            effect_ids: BTreeSet::new(),
            final_statuses: BTreeMap::new(),
            rows: Rows::default(),
            rollbacks: 0,
            recent_states: Vec::new(),
        }
    }

    fn pick_execution(&self, pick: usize) -> Option<String> {
        let ids: Vec<&String> = self.sim.world.executions.keys().collect();
        (!ids.is_empty()).then(|| ids[pick % ids.len()].clone())
    }

    /// The event for an operation, if it applies to the current state.
    fn event_for(&mut self, op: &Op) -> Option<Event> {
        let sim = &self.sim;
        let flights = in_flight(sim);
        let pick_flight = |pick: usize, approvals: bool| {
            let matching: Vec<&InFlight> = flights.iter().filter(|f| f.3 == approvals).collect();
            (!matching.is_empty()).then(|| matching[pick % matching.len()].clone())
        };
        match op {
            Op::Start => (self.started < 4).then(|| {
                self.started += 1;
                sim.start_event(&format!("e{}", self.started))
            }),
            Op::Complete { pick, success } => pick_flight(*pick, false).map(|(e, s, a, _, _)| {
                if *success { sim.success_event(&e, &s, &a) } else { sim.failure_event(&e, &s, &a) }
            }),
            Op::Continue { pick } => {
                let lambdas: Vec<&InFlight> = flights.iter().filter(|f| f.4).collect();
                (!lambdas.is_empty()).then(|| {
                    let (e, s, a, _, _) = lambdas[pick % lambdas.len()];
                    Event::JobContinued(JobContinued {
                        job: sim.job_ref(e, s, a),
                        continuation_token: "next".into(),
                        summary: None,
                        percent_complete: None,
                        external_execution_id: None,
                    })
                })
            }
            Op::Answer { pick, approve } => pick_flight(*pick, true).map(|(e, s, a, _, _)| {
                let status = if *approve { ApprovalStatus::Approved } else { ApprovalStatus::Rejected };
                sim.approval_event(&e, &s, &a, status)
            }),
            Op::Redeliver { pick } => {
                (!self.delivered.is_empty()).then(|| self.delivered[pick % self.delivered.len()].clone())
            }
            Op::Retry { pick, all } => {
                let id = self.pick_execution(*pick)?;
                let execution = sim.execution(&id);
                let stage = match execution.position() {
                    Position::InStage(k) | Position::Waiting(k) => k.min(execution.stages.len() - 1),
                    Position::Done => execution.stages.len() - 1,
                };
                let mode = if *all { RetryMode::AllActions } else { RetryMode::FailedActions };
                Some(sim.retry_event(&id, &execution.stages[stage].name, mode))
            }
            Op::Stop { pick, abandon } => self.pick_execution(*pick).map(|id| sim.stop_event(&id, *abandon)),
            Op::Toggle { pick } => {
                let stages = &sim.world.pipeline.stages;
                let index = 1 + pick % (stages.len() - 1);
                Some(sim.transition_event(&stages[index].name.clone(), !stages[index].transition.enabled))
            }
            Op::Wait { minutes, pick } => {
                self.sim.advance_minutes(*minutes);
                self.pick_execution(*pick).map(|id| self.sim.tick_event(&id))
            }
            Op::CompleteRule { pick, success } => {
                let rules = rules_in_flight(sim);
                (!rules.is_empty()).then(|| {
                    let (e, s, kind, rule) = &rules[pick % rules.len()];
                    sim.rule_result_event(e, s, *kind, rule, *success)
                })
            }
            Op::Override { pick, on_success } => {
                let id = self.pick_execution(*pick)?;
                let execution = sim.execution(&id);
                let stage = match execution.position() {
                    Position::InStage(k) | Position::Waiting(k) => k.min(execution.stages.len() - 1),
                    Position::Done => execution.stages.len() - 1,
                };
                let kind = if *on_success { ConditionKind::OnSuccess } else { ConditionKind::BeforeEntry };
                Some(sim.override_event(&id, &execution.stages[stage].name, kind))
            }
            Op::Rollback { pick, target } => {
                let target = self.pick_execution(*target)?;
                let stages = &sim.pipeline.stages;
                let stage = stages[pick % stages.len()].name.clone();
                self.rollbacks += 1;
                Some(sim.rollback_event(&format!("r{}", self.rollbacks), &stage, &target))
            }
            Op::Update => {
                // The same structure under a new version: running executions are cancelled.
                let version = self.sim.pipeline.version + 1;
                let mut updated = declaration(&self.shape);
                updated["version"] = version.into();
                self.sim.pipeline = compile(updated);
                Some(Event::PipelineUpdated(PipelineUpdated { version }))
            }
        }
    }

    /// Applies one event and checks every invariant. Rejections are fine (the schedule asks
    /// for things that may not be allowed); they must change nothing.
    fn step(&mut self, event: Event) -> Result<(), TestCaseError> {
        let before = self.sim.world.clone();
        let log_start = self.sim.log.len();
        let result = self.sim.try_apply(event.clone());
        match &result {
            Err(rejection) if rejection.is_defect() => {
                return Err(TestCaseError::fail(format!("{} failed: {rejection}", event.kind())));
            }
            Err(_) | Ok(Step::Stale(_)) => {
                prop_assert_eq!(&self.sim.world, &before, "a refused or stale {} changed the world", event.kind());
            }
            Ok(Step::Applied(applied)) => {
                self.check_moves(&before, &applied.moves)?;
                // Every execution the step changed is stored as its parts: they join back
                // exactly, and writing only the changed parts over the old ones gives it too.
                for id in &applied.changed_executions {
                    let new = self.sim.execution(id);
                    prop_assert_eq!(&check::round_trip(new), new, "{} does not split and join back", id);
                    if let Some(old) = before.executions.get(id) {
                        prop_assert_eq!(&check::by_changes(old, new), new, "{}'s changed parts miss a change", id);
                    }
                }
                if !relies_on_state(&event, applied.pipeline_changed) {
                    self.check_decided_without_state(&before, &event, applied)?;
                }
                self.delivered.push(event.clone());
            }
        }
        self.recent_states.push(self.sim.world.pipeline.clone());
        if self.recent_states.len() > RECENT_STATES {
            self.recent_states.remove(0);
        }
        // Applying the same event again changes nothing.
        let after = self.sim.world.clone();
        let log_end = self.sim.log.len();
        match self.sim.try_apply(event.clone()) {
            Ok(Step::Applied(_)) => {
                return Err(TestCaseError::fail(format!("{} applied twice", event.kind())));
            }
            _ => prop_assert_eq!(&self.sim.world, &after, "a duplicate {} changed the world", event.kind()),
        }
        prop_assert_eq!(self.sim.log.len(), log_end);
        for effect in &self.sim.log[log_start..log_end] {
            prop_assert!(self.effect_ids.insert(effect.id().to_string()), "effect id {} emitted twice", effect.id());
            let key = match effect {
                Effect::Dispatch(d) => Some((
                    format!(
                        "{}/{}/{:?}/{}/{}/{}",
                        d.execution_id, d.stage, d.condition, d.action, d.attempt, d.job_sequence
                    ),
                    d.execution_id.clone(),
                    d.stage.clone(),
                )),
                Effect::RequestApproval(r) => Some((
                    format!("{}/{}/{}/{}/0", r.execution_id, r.stage, r.action, r.attempt),
                    r.execution_id.clone(),
                    r.stage.clone(),
                )),
                _ => None,
            };
            if let Some((key, execution, stage)) = key {
                // No action runs twice for one attempt.
                prop_assert!(self.dispatch_keys.insert(key.clone()), "{key} dispatched twice");
                // No stage starts before its predecessor passed (a rollback runs one stage).
                let e = self.sim.execution(&execution);
                let index = e.stage_index(&stage).unwrap();
                if index > 0 && e.execution_type == ExecutionType::Standard {
                    prop_assert!(
                        e.stages[index - 1].status.is_some_and(StageStatus::is_passed),
                        "{} started before its predecessor passed",
                        key
                    );
                }
            }
        }
        self.check_state()
    }

    /// A step `relies_on_state` says was decided without the pipeline state commits without
    /// checking it: over any other state the run was in lately, the same event must leave that
    /// state alone and decide the same for the executions, with the same effects.
    fn check_decided_without_state(
        &self,
        before: &World,
        event: &Event,
        applied: &Applied,
    ) -> Result<(), TestCaseError> {
        // A state of another declaration version is left out: the update between them
        // cancelled every active execution, writing each, so a step of one of them conflicts
        // on the execution's own version.
        for state in self.recent_states.iter().filter(|s| s.version == before.pipeline.version) {
            let other = World { pipeline: state.clone(), executions: before.executions.clone() };
            let again = match apply(&self.sim.pipeline, other, event, self.sim.now) {
                Ok(Step::Applied(again)) => again,
                other => {
                    return Err(TestCaseError::fail(format!(
                        "{} is decided otherwise over another state: {other:?}",
                        event.kind()
                    )));
                }
            };
            prop_assert!(!again.pipeline_changed, "{} changes another state", event.kind());
            prop_assert_eq!(&again.effects, &applied.effects, "{}'s effects over another state", event.kind());
            prop_assert_eq!(&again.changed_executions, &applied.changed_executions);
            for id in &applied.changed_executions {
                prop_assert_eq!(&again.world.executions[id], &applied.world.executions[id]);
            }
        }
        Ok(())
    }

    /// Every status change of the step is a row of its move table, the moves of one thing
    /// follow each other, and they account for every status that changed: nothing changes a
    /// status without its move.
    fn check_moves(&mut self, before: &World, moves: &[Moved]) -> Result<(), TestCaseError> {
        let (mut executions, mut stages, mut actions) = (Vec::new(), Vec::new(), Vec::new());
        let (mut conditions, mut rules) = (Vec::new(), Vec::new());
        for moved in moves {
            match moved {
                Moved::Execution { id, row } => {
                    prop_assert!(EXECUTION_MOVES.contains(row), "{id}: {row:?} is not in the table");
                    self.rows.execution.insert(*row);
                    executions.push((id.clone(), *row));
                }
                Moved::Stage { id, stage, row } => {
                    prop_assert!(STAGE_MOVES.contains(row), "{id} stage {stage}: {row:?} is not in the table");
                    self.rows.stage.insert(*row);
                    stages.push(((id.clone(), *stage), *row));
                }
                Moved::Action { id, stage, action, attempt, row } => {
                    prop_assert!(ACTION_MOVES.contains(row), "{id} {stage}/{action}: {row:?} is not in the table");
                    self.rows.action.insert(*row);
                    actions.push(((id.clone(), *stage, *action, *attempt), *row));
                }
                Moved::Condition { id, stage, kind, number, row } => {
                    prop_assert!(CONDITION_MOVES.contains(row), "{id} {stage} {kind:?}: {row:?} is not in the table");
                    self.rows.condition.insert(*row);
                    conditions.push(((id.clone(), *stage, *kind, *number), *row));
                }
                Moved::Rule { id, stage, kind, number, rule, row } => {
                    prop_assert!(RULE_MOVES.contains(row), "{id} {stage} {kind:?} {rule}: {row:?} is not in the table");
                    self.rows.rule.insert(*row);
                    rules.push(((id.clone(), *stage, *kind, *number, rule.clone()), *row));
                }
            }
        }
        let after = &self.sim.world;
        follow("execution", &execution_statuses(before), &execution_statuses(after), &executions)?;
        follow("stage", &stage_statuses(before), &stage_statuses(after), &stages)?;
        follow("attempt", &attempt_statuses(before), &attempt_statuses(after), &actions)?;
        follow("condition", &condition_statuses(before), &condition_statuses(after), &conditions)?;
        follow("rule", &rule_statuses(before), &rule_statuses(after), &rules)
    }

    fn check_state(&mut self) -> Result<(), TestCaseError> {
        let world = &self.sim.world;
        let mode = self.sim.pipeline.mode;
        for (index, slot) in world.pipeline.stages.iter().enumerate() {
            let inside: Vec<&String> = world
                .executions
                .values()
                .filter(|e| matches!(e.stages[index].status, Some(StageStatus::InProgress | StageStatus::Stopping)))
                .map(|e| &e.id)
                .collect();
            if mode.locks_stages() {
                // In SUPERSEDED and QUEUED no two executions hold one stage.
                prop_assert!(inside.len() <= 1, "stage {} held by {:?}", slot.name, inside);
                prop_assert_eq!(inside.first().copied(), slot.occupant.as_ref(), "stage {} lock", &slot.name);
            } else {
                prop_assert_eq!(slot.occupant.as_ref(), None);
            }
            if mode == Mode::Superseded {
                prop_assert!(slot.inbound.len() <= 1, "SUPERSEDED keeps at most one inbound execution");
            }
            for waiting in &slot.inbound {
                let e = &world.executions[waiting];
                prop_assert_eq!(e.status, ExecutionStatus::InProgress);
                prop_assert_eq!(e.position(), Position::Waiting(index));
            }
        }
        let active = world.executions.values().filter(|e| !e.status.is_finished()).count();
        prop_assert_eq!(world.pipeline.active_executions as usize, active, "the count of active executions");
        for execution in world.executions.values() {
            if execution.execution_type == ExecutionType::Rollback {
                // A rollback runs its one stage and nothing else.
                let entered: Vec<&str> =
                    execution.stages.iter().filter(|s| s.status.is_some()).map(|s| s.name.as_str()).collect();
                let only = execution.rollback.as_ref().map(|r| r.stage.as_str());
                prop_assert!(entered.iter().all(|s| Some(*s) == only), "rollback {} ran {:?}", &execution.id, entered);
            } else {
                for window in execution.stages.windows(2) {
                    if window[1].status.is_some() {
                        prop_assert!(
                            window[0].status.is_some_and(StageStatus::is_passed),
                            "{} entered {} early",
                            &execution.id,
                            &window[1].name
                        );
                    }
                }
            }
            // Succeeded, Superseded and Cancelled are final.
            if let Some(previous) = self.final_statuses.get(&execution.id) {
                prop_assert_eq!(*previous, execution.status, "{} left a final status", &execution.id);
            }
            if matches!(
                execution.status,
                ExecutionStatus::Succeeded | ExecutionStatus::Superseded | ExecutionStatus::Cancelled
            ) {
                self.final_statuses.insert(execution.id.clone(), execution.status);
            }
            let running_actions = busy(execution);
            // At most one condition of a stage is under evaluation, and only inside the stage.
            for run in &execution.stages {
                let evaluating = run.conditions.iter().filter(|c| c.status == ConditionStatus::InProgress).count();
                prop_assert!(evaluating <= 1, "{} evaluates {} conditions of {}", &execution.id, evaluating, &run.name);
                if evaluating == 1 {
                    prop_assert_eq!(run.status, Some(StageStatus::InProgress));
                }
            }
            // An execution ends only once nothing of it is in flight.
            prop_assert!(
                !(execution.status.is_finished() && running_actions),
                "{} ended with actions in flight",
                &execution.id
            );
            // Every execution ends, or waits on an action (a job, a person, a deadline) or at a boundary.
            if !execution.status.is_finished() {
                let waiting_at_boundary = match execution.position() {
                    Position::Waiting(k) => world.pipeline.stages[k].inbound.contains(&execution.id),
                    _ => false,
                };
                prop_assert!(
                    running_actions || waiting_at_boundary,
                    "{} is stuck: {:?}",
                    &execution.id,
                    execution.position()
                );
            }
        }
        Ok(())
    }

    /// Enables every transition and answers every outstanding action with success until
    /// nothing is left; then every execution must have ended.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        for index in 1..self.sim.world.pipeline.stages.len() {
            if !self.sim.world.pipeline.stages[index].transition.enabled {
                self.sim.advance_minutes(1);
                let name = self.sim.world.pipeline.stages[index].name.clone();
                let event = self.sim.transition_event(&name, true);
                self.step(event)?;
            }
        }
        for _ in 0..500 {
            if let Some((e, s, kind, rule)) = rules_in_flight(&self.sim).into_iter().next() {
                let event = self.sim.rule_result_event(&e, &s, kind, &rule, true);
                self.step(event)?;
                continue;
            }
            // A deployment window opens within the hour.
            let held = self
                .sim
                .world
                .executions
                .values()
                .find(|e| busy(e) && in_flight(&self.sim).iter().all(|f| f.0 != e.id));
            if let Some(execution) = held.map(|e| e.id.clone()) {
                self.sim.advance_minutes(30);
                let tick = self.sim.tick_event(&execution);
                self.step(tick)?;
                continue;
            }
            let Some((e, s, a, approval, _)) = in_flight(&self.sim).into_iter().next() else {
                break;
            };
            // A deadline that has already passed fires first.
            let before = self.sim.world.clone();
            let tick = self.sim.tick_event(&e);
            self.step(tick)?;
            if self.sim.world != before {
                continue;
            }
            let event = if approval {
                self.sim.approval_event(&e, &s, &a, ApprovalStatus::Approved)
            } else {
                self.sim.success_event(&e, &s, &a)
            };
            self.step(event)?;
        }
        for execution in self.sim.world.executions.values() {
            prop_assert!(execution.status.is_finished(), "{} never ended: {:?}", &execution.id, execution.status);
        }
        for slot in &self.sim.world.pipeline.stages {
            prop_assert!(slot.occupant.is_none() && slot.inbound.is_empty(), "stage {} still held", &slot.name);
        }
        Ok(())
    }
}

// ---- status changes -----------------------------------------------------------------------

fn execution_statuses(world: &World) -> BTreeMap<String, ExecutionStatus> {
    world.executions.values().map(|e| (e.id.clone(), e.status)).collect()
}

fn stage_statuses(world: &World) -> BTreeMap<(String, usize), StageStatus> {
    let mut statuses = BTreeMap::new();
    for e in world.executions.values() {
        for (s, run) in e.stages.iter().enumerate() {
            if let Some(status) = run.status {
                statuses.insert((e.id.clone(), s), status);
            }
        }
    }
    statuses
}

fn attempt_statuses(world: &World) -> BTreeMap<(String, usize, usize, u32), ActionStatus> {
    let mut statuses = BTreeMap::new();
    for e in world.executions.values() {
        for (s, run) in e.stages.iter().enumerate() {
            for (a, action) in run.actions.iter().enumerate() {
                for attempt in &action.attempts {
                    statuses.insert((e.id.clone(), s, a, attempt.number), attempt.status);
                }
            }
        }
    }
    statuses
}

fn condition_statuses(world: &World) -> BTreeMap<(String, usize, ConditionKind, u32), ConditionStatus> {
    let mut statuses = BTreeMap::new();
    for e in world.executions.values() {
        for (s, run) in e.stages.iter().enumerate() {
            for c in &run.conditions {
                statuses.insert((e.id.clone(), s, c.kind, c.number), c.status);
            }
        }
    }
    statuses
}

fn rule_statuses(world: &World) -> BTreeMap<(String, usize, ConditionKind, u32, String), RuleStatus> {
    let mut statuses = BTreeMap::new();
    for e in world.executions.values() {
        for (s, run) in e.stages.iter().enumerate() {
            for c in &run.conditions {
                for r in &c.rules {
                    statuses.insert((e.id.clone(), s, c.kind, c.number, r.name.clone()), r.status);
                }
            }
        }
    }
    statuses
}

/// Each thing's moves, in order, lead from its status before the step to its status after.
fn follow<K: Ord + Clone + Debug, S: Copy + PartialEq + Debug, M: Debug>(
    what: &str,
    before: &BTreeMap<K, S>,
    after: &BTreeMap<K, S>,
    moves: &[(K, Row<S, M>)],
) -> Result<(), TestCaseError> {
    let keys: BTreeSet<&K> = before.keys().chain(after.keys()).chain(moves.iter().map(|(k, _)| k)).collect();
    for key in keys {
        let mut status = before.get(key).copied();
        for (_, row) in moves.iter().filter(|(k, _)| k == key) {
            prop_assert_eq!(row.from, status, "{} {:?}: {:?} does not start where the {} was", what, key, row, what);
            status = Some(row.to);
        }
        prop_assert_eq!(status, after.get(key).copied(), "{} {:?} changed status without a move", what, key);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_schedules_keep_the_invariants(shape in pipeline_shape(), ops in prop::collection::vec(op(), 1..120)) {
        let mut run = Run::new(&shape);
        for op in &ops {
            if let Some(event) = run.event_for(op) {
                run.step(event)?;
            }
        }
        run.drain()?;
    }
}

/// Random schedules from a fixed seed reach every state change CodePipeline publishes and
/// apply every kind of event: the property test above does not pass by staying in a corner.
#[test]
fn random_schedules_exercise_every_transition() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let mut applied = BTreeSet::new();
    let mut states = BTreeSet::new();
    let mut rows = Rows::default();
    for _ in 0..400 {
        let shape = pipeline_shape().new_tree(&mut runner).expect("shape").current();
        let ops = prop::collection::vec(op(), 1..120).new_tree(&mut runner).expect("ops").current();
        let mut run = Run::new(&shape);
        for op in &ops {
            if let Some(event) = run.event_for(op) {
                run.step(event).expect("invariants hold");
            }
        }
        run.drain().expect("every execution ends");
        applied.extend(run.delivered.iter().map(|e| e.kind()));
        rows.execution.extend(run.rows.execution.iter().copied());
        rows.stage.extend(run.rows.stage.iter().copied());
        rows.action.extend(run.rows.action.iter().copied());
        rows.condition.extend(run.rows.condition.iter().copied());
        rows.rule.extend(run.rows.rule.iter().copied());
        for effect in &run.sim.log {
            if let Effect::Publish(p) = effect {
                let scope = match (&p.detail.stage, &p.detail.action) {
                    (_, Some(_)) => "action",
                    (Some(_), None) => "stage",
                    _ => "pipeline",
                };
                states.insert(format!("{scope} {}", p.detail.state));
            }
        }
    }
    let expected_states = [
        "pipeline STARTED",
        "pipeline SUCCEEDED",
        "pipeline FAILED",
        "pipeline STOPPING",
        "pipeline STOPPED",
        "pipeline SUPERSEDED",
        "pipeline RESUMED",
        "pipeline CANCELED",
        "stage STARTED",
        "stage SUCCEEDED",
        "stage FAILED",
        "stage STOPPING",
        "stage STOPPED",
        "stage RESUMED",
        "stage CANCELED",
        "stage SKIPPED",
        "action STARTED",
        "action SUCCEEDED",
        "action FAILED",
        "action ABANDONED",
        "action CANCELED",
    ];
    for state in expected_states {
        assert!(states.contains(state), "no schedule reached {state}; reached {states:?}");
    }
    let expected_events = [
        "StartExecution",
        "ActionSucceeded",
        "ActionFailed",
        "JobContinued",
        "ApprovalResult",
        "RetryStage",
        "StopExecution",
        "SetTransition",
        "Tick",
        "PipelineUpdated",
        "RollbackStage",
        "OverrideCondition",
    ];
    for kind in expected_events {
        assert!(applied.contains(kind), "no schedule applied {kind}");
    }
    // Every row of the move tables is reached: none is dead, so none can hide a wrong move.
    for row in EXECUTION_MOVES {
        assert!(rows.execution.contains(row), "no schedule made the execution move {row:?}");
    }
    for row in STAGE_MOVES {
        assert!(rows.stage.contains(row), "no schedule made the stage move {row:?}");
    }
    for row in ACTION_MOVES {
        assert!(rows.action.contains(row), "no schedule made the action move {row:?}");
    }
    for row in CONDITION_MOVES {
        assert!(rows.condition.contains(row), "no schedule made the condition move {row:?}");
    }
    for row in RULE_MOVES {
        assert!(rows.rule.contains(row), "no schedule made the rule move {row:?}");
    }
}
