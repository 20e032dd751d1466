//! What the store writes per event does not grow with the pipeline (issue 17): a run of N
//! actions (stages of 50), measured by the store's own byte counters at N = 20, 100 and 400.
//! A byte count, never a time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use pipewright_core::declaration::{Format, PipelineDocument};
use pipewright_core::engine::{Event, ExecutionStatus, StartExecution, Trigger, TriggerType};
use pipewright_core::ports::StateStore;
use pipewright_local::backend::{Backend, RunOptions, now};
use pipewright_local::report::Silent;
use pipewright_local::worker::{Worker, WorkerOptions};

/// An S3 source, then `actions` Commands actions of `true` in stages of up to 50 (a stage's
/// limit), all of a stage side by side: the pipeline of `tests/bench/scale.sh`.
fn declaration(actions: usize) -> pipewright_core::declaration::PipelineDeclaration {
    let action = |i: usize| {
        json!({"name": format!("Run{i}"),
            "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
            "commands": ["true"], "inputArtifacts": [{"name": "Src"}]})
    };
    let mut stages = vec![json!({"name": "Source", "actions": [{"name": "Source",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "b", "S3ObjectKey": "k.zip"},
        "outputArtifacts": [{"name": "Src"}]}]})];
    for (stage, first) in (0..actions).step_by(50).enumerate() {
        let wide: Vec<_> = (first..actions.min(first + 50)).map(action).collect();
        stages.push(json!({"name": format!("S{}", stage + 1), "actions": wide}));
    }
    let value = json!({
        "name": "wide",
        "roleArn": "arn:aws:iam::111122223333:role/p",
        "artifactStore": {"type": "S3", "location": "local-artifacts"},
        "pipelineType": "V2",
        "stages": stages,
    });
    PipelineDocument::parse(&value.to_string(), Format::Json).unwrap().pipeline
}

fn backend(dir: &Path) -> Backend {
    let source = dir.join("src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("file.txt"), "content").unwrap();
    let mut backend = Backend::open(&dir.join("state"), dir, Arc::new(Silent), None).unwrap();
    backend.configure(&RunOptions {
        sources: [("Source".to_string(), source)].into(),
        working_directory: dir.to_path_buf(),
        ..RunOptions::default()
    });
    backend
}

/// One run's figures.
#[derive(Debug)]
struct Run {
    events: u64,
    bytes_per_event: u64,
    read_per_event: u64,
    /// The whole execution as one JSON body, after its start and at its end: the previous
    /// layout rewrote it on every event, so it wrote about their mean per event.
    whole_at_start: u64,
    whole_at_end: u64,
}

async fn run(actions: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    backend.store.put_pipeline(&declaration(actions), now()).await.unwrap();
    let worker = Worker::register(&backend, "wide", "e1").await.unwrap();
    let before = backend.store.counters();
    let start = Event::StartExecution(StartExecution {
        execution_id: "e1".into(),
        seed: "seed-e1".into(),
        trigger: Trigger { trigger_type: TriggerType::StartPipelineExecution, trigger_detail: None },
        variables: Vec::new(),
        source_revisions: Vec::new(),
        action_timeout_seconds: None,
    });
    backend.submit("wide", &start, &[], Some("e1")).await.unwrap();
    let started = backend.store.get_execution("e1").await.unwrap().unwrap().value;
    let execution = worker.run(&WorkerOptions::default()).await.unwrap();
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    let after = backend.store.counters();
    // The start, the source's result and one result per action; results that end together
    // share a commit (`service::handle_together`), so there are at most as many commits.
    let events = actions as u64 + 2;
    let commits = after.commits - before.commits;
    assert!(commits > 0 && commits <= events, "{commits} commits for {events} events");
    Run {
        events,
        bytes_per_event: (after.bytes_written - before.bytes_written) / events,
        read_per_event: (after.bytes_read - before.bytes_read) / events,
        whole_at_start: serde_json::to_string(&started).unwrap().len() as u64,
        whole_at_end: serde_json::to_string(&execution).unwrap().len() as u64,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_written_per_event_do_not_grow_with_the_number_of_actions() {
    let mut runs = Vec::new();
    for actions in [20, 100, 400] {
        let run = run(actions).await;
        println!(
            "N={actions}: {} events, {} bytes written and {} read per event; whole execution {} → {} bytes",
            run.events, run.bytes_per_event, run.read_per_event, run.whole_at_start, run.whole_at_end
        );
        runs.push((actions, run));
    }
    let (_, small) = &runs[0];
    let (_, large) = &runs[2];
    assert!(
        large.bytes_per_event <= 2 * small.bytes_per_event,
        "N=400 writes {} bytes per event, N=20 {}: it grows with N",
        large.bytes_per_event,
        small.bytes_per_event
    );
    assert!(
        large.read_per_event <= 2 * small.read_per_event,
        "N=400 reads {} bytes per event, N=20 {}: it grows with N",
        large.read_per_event,
        small.read_per_event
    );
    assert!(large.bytes_per_event * 50 < large.whole_at_end, "far below rewriting the execution: {large:?}");
}
