//! The working copy one `apply` mutates, and the state-change events it records.

use super::effect::{
    ActionTypeDetail, ArtifactDetail, DetailType, Effect, ExecutionResult, ExecutionTrigger, StateChange,
    StateChangeDetail,
};
use super::rejection::Rejection;
use super::state::{ActionAttempt, Execution, StageSlot, World};
use crate::pipeline::Pipeline;
use crate::time::Timestamp;

pub(crate) struct Context<'p> {
    pub pipeline: &'p Pipeline,
    pub world: World,
    pub effects: Vec<Effect>,
    pub now: Timestamp,
    /// Executions written through `exec_mut` or created: the ones to store back.
    pub touched: Vec<String>,
}

impl<'p> Context<'p> {
    pub fn new(pipeline: &'p Pipeline, world: World, now: Timestamp) -> Self {
        Context { pipeline, world, effects: Vec::new(), now, touched: Vec::new() }
    }

    fn touch(&mut self, id: &str) {
        if !self.touched.iter().any(|t| t == id) {
            self.touched.push(id.to_string());
        }
    }

    /// Adds a new execution.
    pub fn insert(&mut self, execution: Execution) {
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
    pub fn base_detail(execution: &Execution, state: &str) -> StateChangeDetail {
        StateChangeDetail::new(
            &execution.pipeline_name,
            &execution.id,
            state,
            execution.pipeline_version,
            execution.attempt,
        )
    }

    pub fn publish(&mut self, id: String, detail_type: DetailType, detail: StateChangeDetail) {
        self.emit(Effect::Publish(Box::new(StateChange { id, time: self.now, detail_type, detail })));
    }

    /// A "CodePipeline Pipeline Execution State Change".
    pub fn publish_pipeline(&mut self, execution_id: &str, state: &str) -> Result<(), Rejection> {
        let execution = self.exec(execution_id)?;
        let mut detail = Self::base_detail(execution, state);
        match state {
            "STARTED" => {
                detail.execution_trigger = Some(ExecutionTrigger {
                    trigger_type: execution.trigger.trigger_type,
                    trigger_detail: execution.trigger.trigger_detail.clone(),
                });
            }
            "STOPPING" => detail.stop_execution_comments = execution.stop.as_ref().and_then(|s| s.reason.clone()),
            _ => {}
        }
        let id = format!("{}/{}/{state}", execution.id, execution.attempt);
        self.publish(id, DetailType::Pipeline, detail);
        Ok(())
    }

    /// A "CodePipeline Stage Execution State Change".
    pub fn publish_stage(&mut self, execution_id: &str, stage: usize, state: &str) -> Result<(), Rejection> {
        let execution = self.exec(execution_id)?;
        let mut detail = Self::base_detail(execution, state);
        let stage_name = execution.stages[stage].name.clone();
        let id = format!("{}/{}/{stage_name}/{state}", execution.id, execution.attempt);
        detail.stage = Some(stage_name);
        self.publish(id, DetailType::Stage, detail);
        Ok(())
    }

    /// A "CodePipeline Action Execution State Change" for the action's latest attempt.
    pub fn publish_action(
        &mut self,
        execution_id: &str,
        stage: usize,
        action: usize,
        state: &str,
    ) -> Result<(), Rejection> {
        let execution = self.exec(execution_id)?;
        let run = &execution.stages[stage];
        let action_run = &run.actions[action];
        let Some(attempt) = action_run.attempts.last() else {
            return Err(Rejection::Inconsistent(format!("action {} has no attempt to report", action_run.name)));
        };
        let declaration = self.pipeline.action_declaration(stage, action);
        let mut detail = Self::base_detail(execution, state);
        detail.stage = Some(run.name.clone());
        detail.action = Some(action_run.name.clone());
        detail.region = declaration.region.clone().or_else(|| self.pipeline.environment.region.clone());
        detail.action_type = Some(ActionTypeDetail::from(&declaration.action_type_id));
        let artifacts = |refs: &[super::state::ArtifactRef]| Some(refs.iter().map(ArtifactDetail::from).collect());
        match state {
            "STARTED" => detail.input_artifacts = artifacts(&attempt.input_artifacts),
            "SUCCEEDED" => {
                detail.input_artifacts = artifacts(&attempt.input_artifacts);
                detail.output_artifacts = artifacts(&attempt.output_artifacts);
                detail.execution_result = Some(result_of(attempt, None));
            }
            "FAILED" => {
                let code = attempt.error.as_ref().map(|e| e.code.clone());
                detail.execution_result = Some(result_of(attempt, code));
            }
            _ => {}
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
