//! The working copy one `apply` mutates, and the state-change events it records.

use super::effect::{DetailType, Effect, StateChange, StateChangeDetail};
use super::moves::Moved;
use super::rejection::Rejection;
use super::state::{Execution, StageSlot, World};
use crate::pipeline::Pipeline;
use crate::time::Timestamp;

pub(crate) struct Context<'p> {
    pub pipeline: &'p Pipeline,
    pub world: World,
    pub effects: Vec<Effect>,
    pub now: Timestamp,
    /// Executions written through `exec_mut` or created: the ones to store back.
    pub touched: Vec<String>,
    /// Every status change made, in order (`moves.rs`).
    pub moves: Vec<Moved>,
}

impl<'p> Context<'p> {
    pub fn new(pipeline: &'p Pipeline, world: World, now: Timestamp) -> Self {
        Context { pipeline, world, effects: Vec::new(), now, touched: Vec::new(), moves: Vec::new() }
    }

    fn touch(&mut self, id: &str) {
        if !self.touched.iter().any(|t| t == id) {
            self.touched.push(id.to_string());
        }
    }

    /// Adds a new execution (through [`Context::start_execution`]).
    pub(super) fn insert(&mut self, execution: Execution) {
        self.touch(&execution.id);
        self.world.executions.insert(execution.id.clone(), execution);
    }

    /// The execution an event names: absent means the caller named a wrong id.
    pub fn target(&self, id: &str) -> Result<&Execution, Rejection> {
        self.world.executions.get(id).ok_or_else(|| Rejection::PipelineExecutionNotFound(id.to_string()))
    }

    /// An execution the engine reached through the pipeline state: absent means the caller
    /// did not load what `executions_needed` asked for.
    pub fn exec(&self, id: &str) -> Result<&Execution, Rejection> {
        self.world
            .executions
            .get(id)
            .ok_or_else(|| Rejection::Inconsistent(format!("execution {id} is referenced but was not loaded")))
    }

    pub fn exec_mut(&mut self, id: &str) -> Result<&mut Execution, Rejection> {
        if self.world.executions.contains_key(id) {
            self.touch(id);
        }
        self.world
            .executions
            .get_mut(id)
            .ok_or_else(|| Rejection::Inconsistent(format!("execution {id} is referenced but was not loaded")))
    }

    pub fn slot(&mut self, stage: usize) -> &mut StageSlot {
        &mut self.world.pipeline.stages[stage]
    }

    pub fn emit(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    /// The fields every state change of `execution` carries.
    pub(super) fn base_detail(execution: &Execution, state: &str) -> StateChangeDetail {
        StateChangeDetail::new(
            &execution.pipeline_name,
            &execution.id,
            state,
            execution.pipeline_version,
            execution.attempt,
        )
    }

    pub(super) fn publish(&mut self, id: String, detail_type: DetailType, detail: StateChangeDetail) {
        self.emit(Effect::Publish(Box::new(StateChange { id, time: self.now, detail_type, detail })));
    }
}
