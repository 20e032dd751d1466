//! A small simulator around `apply`: it keeps every execution, hands `apply` only what
//! `executions_needed` asks for (so a missing need fails a test), and offers one-line helpers
//! for the events a test sends.

use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::declaration::{Format, PipelineDocument};
use crate::engine::*;
use crate::pipeline::{Environment, Pipeline, RetryMode};
use crate::time::Timestamp;

pub const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

// ---- declarations -------------------------------------------------------------------------

pub fn pipeline_json(mode: &str, stages: Vec<Value>) -> Value {
    json!({
        "name": "demo",
        "roleArn": "arn:aws:iam::111122223333:role/pipeline",
        "artifactStore": {"type": "S3", "location": "artifact-bucket"},
        "pipelineType": "V2",
        "executionMode": mode,
        "variables": [{"name": "Env", "defaultValue": "staging"}, {"name": "Region"}],
        "stages": stages,
    })
}

pub fn stage(name: &str, actions: Vec<Value>) -> Value {
    json!({"name": name, "actions": actions})
}

pub fn source(name: &str, output: &str) -> Value {
    json!({
        "name": name, "namespace": format!("{name}Vars"),
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
        "configuration": {"RepositoryName": "repo", "BranchName": "main"},
        "outputArtifacts": [{"name": output}]
    })
}

pub fn command(name: &str, run_order: u32, inputs: &[&str], outputs: &[&str]) -> Value {
    json!({
        "name": name, "runOrder": run_order,
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": [format!("echo {name}")],
        "inputArtifacts": inputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "outputArtifacts": outputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
    })
}

pub fn approval(name: &str, run_order: u32) -> Value {
    json!({
        "name": name, "runOrder": run_order,
        "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
        "configuration": {"NotificationArn": "arn:aws:sns:eu-west-1:111122223333:approvals", "CustomData": "Ship #{codepipeline.PipelineExecutionId}?"}
    })
}

pub fn lambda(name: &str, run_order: u32) -> Value {
    json!({
        "name": name, "runOrder": run_order,
        "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
        "configuration": {"FunctionName": "worker", "UserParameters": "#{variables.Env}"}
    })
}

/// Source → Build (two parallel commands, then a third) → Deploy (one command).
pub fn three_stages(mode: &str) -> Value {
    pipeline_json(
        mode,
        vec![
            stage("Source", vec![source("Src", "Code")]),
            stage(
                "Build",
                vec![
                    command("Compile", 1, &["Code"], &["Bin"]),
                    command("Lint", 1, &["Code"], &[]),
                    command("Package", 2, &["Bin"], &["Pkg"]),
                ],
            ),
            stage("Deploy", vec![command("Ship", 1, &["Pkg"], &[])]),
        ],
    )
}

pub fn compile(declaration: Value) -> Pipeline {
    let document = PipelineDocument::parse(&declaration.to_string(), Format::Json).expect("declaration parses");
    Pipeline::compile(document.pipeline, Environment { region: Some("eu-west-1".into()) })
        .unwrap_or_else(|report| panic!("declaration is invalid:\n{report}"))
}

// ---- the simulator ------------------------------------------------------------------------

pub struct Sim {
    pub pipeline: Pipeline,
    pub world: World,
    pub now: Timestamp,
    /// Every effect emitted so far, in order.
    pub log: Vec<Effect>,
}

impl Sim {
    pub fn new(declaration: Value) -> Sim {
        let pipeline = compile(declaration);
        let world = World::new(&pipeline);
        Sim { pipeline, world, now: T0, log: Vec::new() }
    }

    /// The world `apply` gets: the pipeline state and the executions the event needs.
    pub fn world_for(&self, event: &Event) -> World {
        let needs = executions_needed(&self.world.pipeline, event);
        let executions = self
            .world
            .executions
            .iter()
            .filter(|(id, e)| needs.executions.contains(*id) || (needs.all_active && !e.status.is_finished()))
            .map(|(id, e)| (id.clone(), e.clone()))
            .collect();
        World { pipeline: self.world.pipeline.clone(), executions }
    }

    pub fn try_apply(&mut self, event: Event) -> Result<Step, Rejection> {
        let partial = self.world_for(&event);
        let step = apply(&self.pipeline, partial, &event, self.now)?;
        if let Step::Applied(applied) = &step {
            self.world.pipeline = applied.world.pipeline.clone();
            for id in &applied.changed_executions {
                self.world.executions.insert(id.clone(), applied.world.executions[id].clone());
            }
            self.log.extend(applied.effects.iter().cloned());
        }
        Ok(step)
    }

    /// Applies an event that must change something; returns its effects.
    #[track_caller]
    pub fn ok(&mut self, event: Event) -> Vec<Effect> {
        match self.try_apply(event.clone()) {
            Ok(Step::Applied(applied)) => applied.effects,
            Ok(Step::Stale(stale)) => panic!("{} was stale: {stale}", event.kind()),
            Err(rejection) => panic!("{} was rejected: {rejection}", event.kind()),
        }
    }

    #[track_caller]
    pub fn stale(&mut self, event: Event) -> Stale {
        match self.try_apply(event) {
            Ok(Step::Stale(stale)) => stale,
            other => panic!("expected a stale event, got {other:?}"),
        }
    }

    #[track_caller]
    pub fn rejected(&mut self, event: Event) -> Rejection {
        let before = self.world.clone();
        match self.try_apply(event) {
            Err(rejection) => {
                assert_eq!(self.world, before, "a rejection must change nothing");
                rejection
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    pub fn advance_minutes(&mut self, minutes: u32) {
        self.now = self.now.plus_minutes(minutes);
    }

    // ---- events ---------------------------------------------------------------------------

    pub fn start_event(&self, id: &str) -> Event {
        Event::StartExecution(StartExecution {
            execution_id: id.to_string(),
            seed: format!("seed-{id}"),
            trigger: Trigger {
                trigger_type: TriggerType::StartPipelineExecution,
                trigger_detail: Some("tester".into()),
            },
            variables: vec![VariableOverride { name: "Region".into(), value: "eu-west-1".into() }],
            source_revisions: Vec::new(),
            action_timeout_seconds: None,
        })
    }

    pub fn start(&mut self, id: &str) -> Vec<Effect> {
        let event = self.start_event(id);
        self.ok(event)
    }

    pub fn job_ref(&self, execution: &str, stage: &str, action: &str) -> JobRef {
        let attempt = self.attempt(execution, stage, action);
        JobRef {
            execution_id: execution.to_string(),
            stage: stage.to_string(),
            action: action.to_string(),
            attempt: attempt.number,
            job: attempt.job.as_ref().map_or(0, |j| j.sequence),
            condition: None,
        }
    }

    pub fn success_event(&self, execution: &str, stage: &str, action: &str) -> Event {
        Event::ActionSucceeded(ActionSucceeded {
            job: self.job_ref(execution, stage, action),
            output_variables: BTreeMap::from([("Out".to_string(), format!("{action}-out"))]),
            summary: Some(format!("{action} done")),
            external_execution_id: None,
            external_execution_url: None,
            revision: None,
            by: None,
            details: None,
        })
    }

    pub fn failure_event(&self, execution: &str, stage: &str, action: &str) -> Event {
        Event::ActionFailed(ActionFailed {
            job: self.job_ref(execution, stage, action),
            failure: FailureDetails {
                kind: FailureType::JobFailed,
                message: format!("{action} broke"),
                external_execution_id: None,
            },
            details: None,
        })
    }

    pub fn succeed(&mut self, execution: &str, stage: &str, action: &str) -> Vec<Effect> {
        let event = self.success_event(execution, stage, action);
        self.ok(event)
    }

    pub fn fail(&mut self, execution: &str, stage: &str, action: &str) -> Vec<Effect> {
        let event = self.failure_event(execution, stage, action);
        self.ok(event)
    }

    pub fn approval_event(&self, execution: &str, stage: &str, action: &str, status: ApprovalStatus) -> Event {
        let token = self.attempt(execution, stage, action).token.clone().expect("approval has a token");
        Event::ApprovalResult(ApprovalResult {
            execution_id: execution.to_string(),
            stage: stage.to_string(),
            action: action.to_string(),
            token,
            status,
            summary: Some("looks good".into()),
            by: Some("reviewer".into()),
        })
    }

    pub fn retry_event(&self, execution: &str, stage: &str, mode: RetryMode) -> Event {
        Event::RetryStage(RetryStage {
            execution_id: execution.to_string(),
            stage: stage.to_string(),
            mode,
            by: Some("tester".into()),
            expected_attempt: Some(self.execution(execution).attempt),
        })
    }

    pub fn stop_event(&self, execution: &str, abandon: bool) -> Event {
        Event::StopExecution(StopExecution {
            execution_id: execution.to_string(),
            abandon,
            reason: Some("testing stop".into()),
            by: Some("tester".into()),
        })
    }

    pub fn transition_event(&self, stage: &str, enabled: bool) -> Event {
        Event::SetTransition(SetTransition {
            stage: stage.to_string(),
            enabled,
            reason: (!enabled).then(|| "Holding releases".to_string()),
            by: Some("tester".into()),
            requested_at: self.now,
        })
    }

    /// The job of rule `rule` in the latest evaluation of the stage's `kind` condition.
    pub fn rule_job(&self, execution: &str, stage: &str, kind: ConditionKind, rule: &str) -> JobRef {
        let (evaluation, attempt) = self.rule(execution, stage, kind, rule);
        JobRef {
            execution_id: execution.to_string(),
            stage: stage.to_string(),
            action: rule.to_string(),
            attempt: evaluation,
            job: attempt.job.as_ref().map_or(0, |j| j.sequence),
            condition: Some(kind),
        }
    }

    pub fn rule_result_event(&self, execution: &str, stage: &str, kind: ConditionKind, rule: &str, ok: bool) -> Event {
        let job = self.rule_job(execution, stage, kind, rule);
        if ok {
            Event::ActionSucceeded(ActionSucceeded {
                job,
                output_variables: BTreeMap::new(),
                summary: Some(format!("{rule} passed")),
                external_execution_id: None,
                external_execution_url: None,
                revision: None,
                by: None,
                details: None,
            })
        } else {
            Event::ActionFailed(ActionFailed {
                job,
                failure: FailureDetails {
                    kind: FailureType::JobFailed,
                    message: format!("{rule} found a problem"),
                    external_execution_id: None,
                },
                details: None,
            })
        }
    }

    pub fn override_event(&self, execution: &str, stage: &str, kind: ConditionKind) -> Event {
        Event::OverrideCondition(OverrideCondition {
            execution_id: execution.to_string(),
            stage: stage.to_string(),
            condition: kind,
            by: Some("tester".into()),
            expected_attempt: self.world.executions.get(execution).map(|e| e.attempt),
        })
    }

    pub fn rollback_event(&self, id: &str, stage: &str, target: &str) -> Event {
        Event::RollbackStage(RollbackStage {
            execution_id: id.to_string(),
            seed: format!("seed-{id}"),
            stage: stage.to_string(),
            target_execution_id: target.to_string(),
            trigger: Trigger { trigger_type: TriggerType::ManualRollback, trigger_detail: Some("tester".into()) },
        })
    }

    /// The latest evaluation of the stage's `kind` condition.
    pub fn condition(&self, execution: &str, stage: &str, kind: ConditionKind) -> &ConditionRun {
        let e = self.execution(execution);
        let s = e.stage_index(stage).expect("stage exists");
        e.stages[s].latest_condition(kind).unwrap_or_else(|| panic!("{stage} has no {kind:?} evaluation"))
    }

    /// (evaluation number, rule run) of the latest evaluation.
    pub fn rule(&self, execution: &str, stage: &str, kind: ConditionKind, rule: &str) -> (u32, &RuleAttempt) {
        let condition = self.condition(execution, stage, kind);
        let attempt = condition.rules.iter().find(|r| r.name == rule).unwrap_or_else(|| panic!("no rule {rule}"));
        (condition.number, attempt)
    }

    pub fn tick_event(&self, execution: &str) -> Event {
        Event::Tick(Tick { execution_id: execution.to_string() })
    }

    // ---- queries --------------------------------------------------------------------------

    pub fn execution(&self, id: &str) -> &Execution {
        self.world.executions.get(id).unwrap_or_else(|| panic!("no execution {id}"))
    }

    pub fn status(&self, id: &str) -> ExecutionStatus {
        self.execution(id).status
    }

    pub fn stage_status(&self, id: &str, stage: &str) -> Option<StageStatus> {
        let execution = self.execution(id);
        execution.stages[execution.stage_index(stage).expect("stage exists")].status
    }

    pub fn attempt(&self, execution: &str, stage: &str, action: &str) -> &ActionAttempt {
        let e = self.execution(execution);
        let s = e.stage_index(stage).expect("stage exists");
        let a = e.stages[s].action_index(action).expect("action exists");
        e.stages[s].actions[a].attempts.last().unwrap_or_else(|| panic!("{stage}/{action} has not started"))
    }

    pub fn action_status(&self, execution: &str, stage: &str, action: &str) -> Option<ActionStatus> {
        let e = self.execution(execution);
        let s = e.stage_index(stage).expect("stage exists");
        let a = e.stages[s].action_index(action).expect("action exists");
        e.stages[s].current(a).map(|attempt| attempt.status)
    }

    pub fn occupant(&self, stage: &str) -> Option<&str> {
        let index = self.world.pipeline.stage_index(stage).expect("stage exists");
        self.world.pipeline.stages[index].occupant.as_deref()
    }

    pub fn inbound(&self, stage: &str) -> Vec<&str> {
        let index = self.world.pipeline.stage_index(stage).expect("stage exists");
        self.world.pipeline.stages[index].inbound.iter().map(String::as_str).collect()
    }
}

// ---- effect inspection -------------------------------------------------------------------

/// `stage/action` of each dispatch, in order.
pub fn dispatched(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Dispatch(d) => Some(format!("{}/{}", d.stage, d.action)),
            Effect::RequestApproval(r) => Some(format!("{}/{}", r.stage, r.action)),
            _ => None,
        })
        .collect()
}

pub fn dispatches(effects: &[Effect]) -> Vec<&Dispatch> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Dispatch(d) => Some(d.as_ref()),
            _ => None,
        })
        .collect()
}

/// Each state change as `pipeline STATE`, `stage Name STATE` or `action Stage/Action STATE`.
pub fn published(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Publish(p) => Some(match (&p.detail.stage, &p.detail.action) {
                (Some(stage), Some(action)) => {
                    format!("action {stage}/{action} {}", p.detail.state)
                }
                (Some(stage), None) => format!("stage {stage} {}", p.detail.state),
                _ => format!("pipeline {} {}", p.detail.execution_id, p.detail.state),
            }),
            _ => None,
        })
        .collect()
}
