//! The execution state machine: `apply(pipeline, world, event, now)` returns the next world
//! and the effects to carry out, as a pure function (docs/design.md §3).
//!
//! * The world holds the pipeline-level state and the executions the event concerns; the
//!   adapter loads them as [`executions_needed`] says, and commits the executions `apply`
//!   reports changed, with a conditional write on each.
//! * Applying an event twice has the effect of applying it once: a duplicate or late event is
//!   [`Step::Stale`] and changes nothing.
//! * Effect ids are deterministic, so re-publishing the effects of a retried event is harmless.

mod conditions;
mod context;
mod dispatch;
mod effect;
mod event;
mod flow;
mod moves;
mod overrides;
mod rejection;
mod results;
mod retry;
mod rollback;
mod start;
mod state;
mod stop;
mod transitions;
mod update;

use std::collections::BTreeSet;

pub use conditions::{DEFAULT_RULE_TIMEOUT_MINUTES, next_due};
pub use dispatch::next_deadline;
pub use effect::*;
pub use event::*;
pub use moves::{
    ACTION_MOVES, ActionMove, CONDITION_MOVES, ConditionMove, EXECUTION_MOVES, ExecutionMove, Moved, RULE_MOVES, Row,
    RuleMove, STAGE_MOVES, StageMove,
};
pub use rejection::{Rejection, Stale};
pub use results::MAX_OUTPUT_VARIABLES_BYTES;
pub use start::{is_commit_id, revision_types};
pub use state::*;

use crate::pipeline::Pipeline;
use crate::time::Timestamp;
use context::Context;

/// What applying an event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Applied(Applied),
    /// The event came too late or twice; nothing changed.
    Stale(Stale),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub world: World,
    pub effects: Vec<Effect>,
    /// Whether the pipeline-level state changed.
    pub pipeline_changed: bool,
    /// Executions that are new or were written to, in the order first touched: the ones to
    /// store back.
    pub changed_executions: Vec<String>,
    /// Every status change made, in order; each one also published a state change.
    pub moves: Vec<Moved>,
}

/// Applies `event` to `world` at time `now`.
///
/// The world is taken by value: an event usually changes one execution, and copying the
/// whole world to compare it afterwards would cost more than the transition itself.
pub fn apply(pipeline: &Pipeline, world: World, event: &Event, now: Timestamp) -> Result<Step, Rejection> {
    let updating = matches!(event, Event::PipelineUpdated(_));
    if !updating && (world.pipeline.version != pipeline.version || world.pipeline.stages.len() != pipeline.stages.len())
    {
        return Err(Rejection::Inconsistent(format!(
            "the state is for version {} of the pipeline, the declaration is version {}",
            world.pipeline.version, pipeline.version
        )));
    }
    let pipeline_before = world.pipeline.clone();
    let mut ctx = Context::new(pipeline, world, now);
    let outdated = event.execution_id().filter(|id| {
        ctx.world.executions.get(*id).is_some_and(|e| !e.status.is_finished() && e.pipeline_version < pipeline.version)
    });
    let stale = match outdated {
        // An execution the pipeline update missed (an index not yet up to date) stops here.
        Some(id) if !updating => {
            let id = id.to_string();
            update::cancel(&mut ctx, &id)?;
            None
        }
        _ => dispatch_event(&mut ctx, event)?,
    };
    if let Some(stale) = stale {
        return Ok(Step::Stale(stale));
    }
    let Context { world: mut next, effects, touched, moves, .. } = ctx;
    for id in &touched {
        if let Some(execution) = next.executions.get_mut(id) {
            execution.updated_at = now;
        }
    }
    let pipeline_changed = next.pipeline != pipeline_before;
    Ok(Step::Applied(Applied { world: next, effects, pipeline_changed, changed_executions: touched, moves }))
}

fn dispatch_event(ctx: &mut Context, event: &Event) -> Result<Option<Stale>, Rejection> {
    match event {
        Event::StartExecution(e) => start::start(ctx, e),
        Event::ActionSucceeded(e) => results::action_succeeded(ctx, e),
        Event::ActionFailed(e) => results::action_failed(ctx, e),
        Event::JobContinued(e) => results::job_continued(ctx, e),
        Event::ApprovalResult(e) => results::approval_result(ctx, e),
        Event::RetryStage(e) => retry::retry_stage(ctx, e),
        Event::StopExecution(e) => stop::stop(ctx, e),
        Event::SetTransition(e) => transitions::set_transition(ctx, e),
        Event::Tick(e) => results::tick(ctx, e),
        Event::PipelineUpdated(e) => update::pipeline_updated(ctx, e),
        Event::RollbackStage(e) => rollback::rollback_stage(ctx, e),
        Event::OverrideCondition(e) => overrides::override_condition(ctx, e),
    }
}

/// Whether a step was decided on the pipeline state, so that its commit must fail if the
/// state moved meanwhile even when the step does not write it. The state is read where an
/// execution crosses a stage boundary (locks, transitions, who waits), starts or ends (the
/// count of active executions), and in a user's commands (retry, rollback, override, stop,
/// transitions, a pipeline update); each of those but the commands writes the state too. A
/// job's result, an approval or the tick that keeps an execution inside its stage reads none
/// of it: only its execution, which its own version guards (docs/ARCHITECTURE.md, "How an
/// execution is stored").
pub fn relies_on_state(event: &Event, pipeline_changed: bool) -> bool {
    let inside_a_stage = matches!(
        event,
        Event::ActionSucceeded(_)
            | Event::ActionFailed(_)
            | Event::JobContinued(_)
            | Event::ApprovalResult(_)
            | Event::Tick(_)
    );
    pipeline_changed || !inside_a_stage
}

/// Work the engine handed out and is still waiting on.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    /// When the attempt last changed (its job started or continued).
    pub since: Timestamp,
    /// The `Dispatch` or `RequestApproval` effect, rebuilt as it was first emitted (same id).
    pub effect: Effect,
}

/// The work in flight in `execution`: the current job of each running action, and each
/// pending approval, rebuilt as they were sent, for re-sending work that was never picked up.
/// `pipeline` is the version the execution runs.
pub fn work_in_flight(pipeline: &Pipeline, execution: &Execution, now: Timestamp) -> Vec<InFlight> {
    let mut world = World::new(pipeline);
    world.executions.insert(execution.id.clone(), execution.clone());
    let ctx = Context::new(pipeline, world, now);
    let mut work = Vec::new();
    for (s, run) in execution.stages.iter().enumerate() {
        for (a, action) in run.actions.iter().enumerate() {
            let Some(attempt) = action.attempts.last() else { continue };
            if attempt.status != ActionStatus::InProgress || s >= pipeline.stages.len() {
                continue;
            }
            let Ok(resolved) = dispatch::resolve(pipeline, execution, s, a, &attempt.action_execution_id) else {
                continue;
            };
            let effect = if attempt.token.is_some() {
                dispatch::approval_request(&ctx, &execution.id, s, a, &resolved)
                    .map(|request| Effect::RequestApproval(Box::new(request)))
            } else if attempt.job.is_some() {
                dispatch::build_dispatch(&ctx, &execution.id, s, a, resolved).map(|d| Effect::Dispatch(Box::new(d)))
            } else {
                continue;
            };
            if let Ok(effect) = effect {
                work.push(InFlight { since: attempt.updated_at, effect });
            }
        }
        // The jobs of rules under evaluation.
        let Some(c) = run.condition_in_progress() else { continue };
        for (r, rule) in run.conditions[c].rules.iter().enumerate() {
            if rule.status != RuleStatus::InProgress || rule.job.is_none() || s >= pipeline.stages.len() {
                continue;
            }
            if let Ok(dispatch) = conditions::build_rule_dispatch(&ctx, &execution.id, (s, c, r)) {
                work.push(InFlight { since: rule.updated_at, effect: Effect::Dispatch(Box::new(dispatch)) });
            }
        }
    }
    work
}

/// Whether `job` is the live job of a rule or an action of `execution`: its attempt is the
/// current one and in progress, and the job is its current job.
pub fn job_is_live(execution: &Execution, job: &JobRef) -> bool {
    let Some(stage) = execution.stage_index(&job.stage) else { return false };
    let run = &execution.stages[stage];
    let sequence = |j: &Option<Job>| j.as_ref().map_or(0, |j| j.sequence);
    match job.condition {
        Some(kind) => {
            run.conditions.iter().rev().find(|c| c.kind == kind && c.number == job.attempt).is_some_and(|c| {
                c.rules
                    .iter()
                    .any(|r| r.name == job.action && r.status == RuleStatus::InProgress && sequence(&r.job) == job.job)
            })
        }
        None => run.action_index(&job.action).is_some_and(|a| {
            run.actions[a].attempts.last().is_some_and(|attempt| {
                attempt.number == job.attempt
                    && attempt.status == ActionStatus::InProgress
                    && sequence(&attempt.job) == job.job
            })
        }),
    }
}

/// Which executions an adapter must load for `apply` to handle `event`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Needs {
    pub executions: BTreeSet<String>,
    /// Every execution of the pipeline that has not finished (a pipeline update stops them).
    pub all_active: bool,
}

/// The executions GetPipelineState shows: each stage's latest, and those waiting to enter it.
pub fn executions_shown(state: &PipelineState) -> Needs {
    let executions =
        state.stages.iter().flat_map(|slot| slot.latest_execution.iter().chain(slot.inbound.iter()).cloned()).collect();
    Needs { executions, all_active: false }
}

/// The executions `apply` may read for `event`: the one it names, and every execution
/// waiting at a stage boundary (a stage it frees lets them in; a newer arrival supersedes them).
pub fn executions_needed(state: &PipelineState, event: &Event) -> Needs {
    let mut executions: BTreeSet<String> = state.stages.iter().flat_map(|slot| slot.inbound.iter().cloned()).collect();
    if let Some(id) = event.execution_id() {
        executions.insert(id.to_string());
    }
    // What a rollback returns to: the one RollbackStage names, and for a stage that rolls
    // back on its own, the last execution that succeeded there.
    // And what occupies the stages: whether that is itself a rollback decides between
    // ConflictException and UnableToRollbackStageException.
    if let Event::RollbackStage(rollback) = event {
        executions.insert(rollback.target_execution_id.clone());
        executions.extend(state.stages.iter().filter_map(|slot| slot.occupant.clone()));
    }
    executions.extend(state.stages.iter().filter_map(|slot| slot.last_succeeded.clone()));
    Needs { executions, all_active: matches!(event, Event::PipelineUpdated(_)) }
}

#[cfg(test)]
pub(crate) mod tests;
