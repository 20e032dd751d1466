//! How long `apply` takes per event on a 10-stage × 5-action pipeline.
//!
//! `whole_execution` replays every event of one execution (start, 50 action results) against
//! the world each event met; its throughput is events per second, i.e. the time per event.
//! Building the inputs and dropping the outputs are not timed.
//! `group_transition` is the single most common hop: the last action of a runOrder group
//! succeeds and the next group is dispatched.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark: its helpers, like its #[test] functions, panic on what fails it"
)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

use pipewright_core::declaration::{Format, PipelineDocument};
use pipewright_core::engine::{
    ActionSucceeded, Effect, Event, JobRef, StartExecution, Step, Trigger, TriggerType, World, apply,
};
use pipewright_core::pipeline::{Environment, Pipeline};
use pipewright_core::time::Timestamp;

const STAGES: usize = 10;
const ACTIONS: usize = 5;

fn declaration() -> Value {
    let sources: Vec<Value> = (0..ACTIONS)
        .map(|a| {
            json!({
                "name": format!("Src{a}"), "namespace": format!("Src{a}Vars"),
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "configuration": {"RepositoryName": format!("repo{a}"), "BranchName": "main"},
                "outputArtifacts": [{"name": format!("S0A{a}")}]
            })
        })
        .collect();
    let mut stages = vec![json!({"name": "Source", "actions": sources})];
    for s in 1..STAGES {
        let actions: Vec<Value> = (0..ACTIONS)
            .map(|a| {
                json!({
                    "name": format!("Act{a}"), "runOrder": 1 + a / 2,
                    "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                    "commands": ["make COMMIT=#{Src0Vars.CommitId} EXEC=#{codepipeline.PipelineExecutionId}"],
                    "environmentVariables": [{"name": "ENV", "value": "#{variables.Env}"}],
                    "inputArtifacts": [{"name": format!("S{}A{a}", s - 1)}],
                    "outputArtifacts": [{"name": format!("S{s}A{a}")}]
                })
            })
            .collect();
        stages.push(json!({"name": format!("Stage{s}"), "actions": actions}));
    }
    json!({
        "name": "bench", "roleArn": "arn:aws:iam::111122223333:role/pipeline", "pipelineType": "V2",
        "artifactStore": {"type": "S3", "location": "artifact-bucket"},
        "variables": [{"name": "Env", "defaultValue": "prod"}],
        "stages": stages
    })
}

/// Every (world, event) pair of one execution run from start to success.
fn recorded_execution(pipeline: &Pipeline) -> Vec<(World, Event)> {
    let mut world = World::new(pipeline);
    let mut now = Timestamp::from_millis(1_700_000_000_000);
    let mut pending: Vec<Event> = vec![Event::StartExecution(StartExecution {
        execution_id: "2f1c4a8e-0000-4000-8000-000000000001".into(),
        seed: "bench-seed".into(),
        trigger: Trigger { trigger_type: TriggerType::StartPipelineExecution, trigger_detail: None },
        variables: Vec::new(),
        source_revisions: Vec::new(),
        action_timeout_seconds: None,
    })];
    let mut recorded = Vec::new();
    while let Some(event) = pending.pop() {
        now = now.plus_minutes(1);
        recorded.push((world.clone(), event.clone()));
        let Ok(Step::Applied(applied)) = apply(pipeline, world, &event, now) else {
            panic!("the recorded run must apply every event");
        };
        for effect in &applied.effects {
            if let Effect::Dispatch(d) = effect {
                pending.push(Event::ActionSucceeded(ActionSucceeded {
                    job: JobRef {
                        execution_id: d.execution_id.clone(),
                        stage: d.stage.clone(),
                        action: d.action.clone(),
                        attempt: d.attempt,
                        job: d.job_sequence,
                        condition: None,
                    },
                    output_variables: [("CommitId".to_string(), "0123456789abcdef".to_string())].into(),
                    summary: Some("done".into()),
                    external_execution_id: None,
                    external_execution_url: None,
                    revision: None,
                    by: None,
                    details: None,
                }));
            }
        }
        world = applied.world;
    }
    recorded
}

fn bench(c: &mut Criterion) {
    let document = PipelineDocument::parse(&declaration().to_string(), Format::Json).expect("parses");
    let pipeline = Pipeline::compile(document.pipeline, Environment::default()).expect("valid");
    let recorded = recorded_execution(&pipeline);
    assert_eq!(recorded.len(), 1 + STAGES * ACTIONS);
    let now = Timestamp::from_millis(1_800_000_000_000);

    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(recorded.len() as u64));
    group.bench_function("whole_execution_10x5", |b| {
        b.iter_batched(
            || recorded.clone(),
            |pairs| {
                pairs
                    .into_iter()
                    .map(|(world, event)| black_box(apply(&pipeline, world, &event, now)))
                    .collect::<Vec<_>>()
            },
            BatchSize::LargeInput,
        )
    });
    group.throughput(Throughput::Elements(1));
    // Stage 5, action 1 finishing completes group 1 (actions 0 and 1) and starts group 2.
    let (world, event) = recorded
        .iter()
        .find(|(_, e)| matches!(e, Event::ActionSucceeded(s) if s.job.stage == "Stage5" && s.job.action == "Act0"))
        .expect("recorded");
    group.bench_function("group_transition", |b| {
        b.iter_batched(|| world.clone(), |w| black_box(apply(&pipeline, w, event, now)), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
