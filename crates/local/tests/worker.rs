//! The in-process bus: a worker carries an execution to its end, across processes sharing a
//! state file, and takes over from a worker that died holding effects.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test binary: its helpers, like its #[test] functions, panic on what fails it"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use pipewright_core::declaration::{Format, PipelineDocument};
use pipewright_core::engine::{
    ActionStatus, Effect, Event, ExecutionStatus, RetryStage, StartExecution, Trigger, TriggerType,
};
use pipewright_core::pipeline::RetryMode;
use pipewright_core::ports::StateStore;
use pipewright_core::time::Timestamp;
use pipewright_local::backend::{Backend, Launcher, RunOptions, launch_marker, note_launch, now};
use pipewright_local::recovery::resume_orphans;
use pipewright_local::report::Silent;
use pipewright_local::store::StoreCounters;
use pipewright_local::worker::{Worker, WorkerError, WorkerOptions};

fn declaration(commands: &[&str]) -> pipewright_core::declaration::PipelineDeclaration {
    let value = json!({
        "name": "work",
        "roleArn": "arn:aws:iam::111122223333:role/p",
        "artifactStore": {"type": "S3", "location": "local-artifacts"},
        "pipelineType": "V2",
        "stages": [
            {"name": "Source", "actions": [{"name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": "b", "S3ObjectKey": "k.zip"},
                "outputArtifacts": [{"name": "Src"}]}]},
            {"name": "Build", "actions": [{"name": "Make",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": commands, "inputArtifacts": [{"name": "Src"}]}]}
        ]
    });
    PipelineDocument::parse(&value.to_string(), Format::Json).unwrap().pipeline
}

fn start(id: &str) -> Event {
    Event::StartExecution(StartExecution {
        execution_id: id.to_string(),
        seed: format!("seed-{id}"),
        trigger: Trigger { trigger_type: TriggerType::StartPipelineExecution, trigger_detail: None },
        variables: Vec::new(),
        source_revisions: Vec::new(),
        action_timeout_seconds: None,
    })
}

fn backend(dir: &Path) -> Backend {
    let source = dir.join("src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("file.txt"), "content").unwrap();
    let mut backend = Backend::open(&dir.join("state"), dir, Arc::new(Silent), None).unwrap();
    let options = RunOptions {
        sources: [("Source".to_string(), source)].into(),
        working_directory: dir.to_path_buf(),
        auto_approve: false,
        lambda_endpoint: None,
        build_projects: Default::default(),
        secrets: Default::default(),
        ..RunOptions::default()
    };
    backend.configure(&options);
    backend
}

/// Stores `declaration(commands)`, registers the worker of `e1` and starts `e1`.
async fn started<'b>(backend: &'b Backend, commands: &[&str]) -> Worker<'b> {
    backend.store.put_pipeline(&declaration(commands), now()).await.unwrap();
    let worker = Worker::register(backend, "work", "e1").await.unwrap();
    backend.submit("work", &start("e1"), &[], Some("e1")).await.unwrap();
    worker
}

#[tokio::test]
async fn a_worker_carries_an_execution_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    // `set` needs a script file: the runner's directory is made, and removed with the rest.
    let worker = started(&backend, &["set -e", "test -f file.txt"]).await;
    let execution = worker.run(&WorkerOptions::default()).await.unwrap();
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert!(backend.store.claim_effects("e1", "anyone").await.unwrap().is_empty(), "the outbox is empty");
    // Nothing its own commits claimed for it is left behind, carried out or not.
    assert!(backend.store.claims_of_others("e1", "anyone").await.unwrap().is_empty(), "no claim is left");
    assert!(backend.store.worker("e1").await.unwrap().is_none(), "the worker unregistered");
    let state = dir.path().join("state");
    assert!(!state.join("work/e1").exists(), "the workspaces and their directories are removed once it ends");
    assert_eq!(std::fs::read_dir(state.join("work")).unwrap().count(), 0, "nothing else is left");
    let logs: Vec<_> =
        std::fs::read_dir(state.join("logs/e1/Build")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(logs, ["Make.1.log"], "its log stays, for the console, in no directory of its own");
}

/// A worker that died with workspaces still queued for removal left them behind; the worker
/// that ends the execution removes them with its directories.
#[tokio::test]
async fn workspaces_a_dead_worker_left_go_when_the_execution_ends() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    let worker = started(&backend, &["true"]).await;
    let left = dir.path().join("state/work/e1/Build/0/Gone.1/deep");
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join("file"), "left").unwrap();
    assert_eq!(worker.run(&WorkerOptions::default()).await.unwrap().status, ExecutionStatus::Succeeded);
    assert!(!dir.path().join("state/work/e1").exists(), "nothing of the execution is left under work/");
}

/// Runs execution `e1` of `declaration(commands)` to success with `--keep-workspaces`.
async fn run_keeping_workspaces(dir: &Path, commands: &[&str]) {
    let mut backend = backend(dir);
    let options = RunOptions {
        sources: [("Source".to_string(), dir.join("src"))].into(),
        working_directory: dir.to_path_buf(),
        keep_workspaces: true,
        ..RunOptions::default()
    };
    backend.configure(&options);
    let worker = started(&backend, commands).await;
    assert_eq!(worker.run(&WorkerOptions::default()).await.unwrap().status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn workspaces_are_spread_over_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    run_keeping_workspaces(dir.path(), &["true"]).await;
    // Whether this file system takes the mark (ext4 does; tmpfs does not).
    let probe = dir.path().join("probe");
    std::fs::create_dir(&probe).unwrap();
    let takes_it = pipewright_local::top_dirs::mark(&probe);
    let state = dir.path().join("state");
    // The Source stage's directory, which no workspace used (a directory source), is gone
    // with the execution; Build's stays with the workspace kept in it.
    for spread in ["work", "logs", "work/e1/Build"] {
        assert_eq!(pipewright_local::top_dirs::is_marked(&state.join(spread)), takes_it, "{spread}");
    }
    // The lane is made in the marked stage directory (so spread), and its workspaces in it.
    let lane = only_lane(&state.join("work/e1/Build"));
    for near in [state.join("work/e1"), lane.clone(), lane.join("Make.1")] {
        assert!(!pipewright_local::top_dirs::is_marked(&near), "{}", near.display());
    }
}

/// A directory source zips its directory without a workspace: while the next stage runs, the
/// execution's directory under `work/` holds that stage's alone.
#[tokio::test]
async fn an_action_that_needs_no_workspace_makes_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    run_keeping_workspaces(dir.path(), &["ls ../../.. > stages.txt"]).await;
    let lane = only_lane(&dir.path().join("state/work/e1/Build"));
    assert_eq!(std::fs::read_to_string(lane.join("Make.1/stages.txt")).unwrap(), "Build\n");
}

/// The one lane of a stage directory whose one action's workspace was kept.
fn only_lane(stage: &Path) -> PathBuf {
    let lanes: Vec<_> = std::fs::read_dir(stage).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(lanes.len(), 1, "{lanes:?}");
    lanes[0].clone()
}

#[tokio::test]
async fn keep_workspaces_leaves_them_in_place() {
    let dir = tempfile::tempdir().unwrap();
    run_keeping_workspaces(dir.path(), &["set -e", "echo made > made.txt"]).await;
    let lane = only_lane(&dir.path().join("state/work/e1/Build"));
    let mut kept: Vec<_> = std::fs::read_dir(&lane).unwrap().map(|e| e.unwrap().path()).collect();
    kept.sort();
    let attempt = lane.join("Make.1");
    // The attempt's directory is the workspace itself; the runner's script (`set` needs one)
    // is in a directory beside it, never in the workspace.
    assert_eq!(kept, [attempt.clone(), lane.join("Make.1.run")]);
    let mut files: Vec<_> = walkdir_names(&attempt);
    files.sort();
    assert_eq!(files, ["file.txt", "made.txt"].map(|f| attempt.join(f).display().to_string()));
    assert!(!walkdir_names(&kept[1]).is_empty(), "the script is kept too");
}

fn walkdir_names(root: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                names.push(path.display().to_string());
            }
        }
    }
    names
}

#[tokio::test]
async fn only_one_live_worker_per_execution() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    let _first = Worker::register(&backend, "work", "e1").await.unwrap();
    let second = Worker::register(&backend, "work", "e1").await;
    assert!(matches!(second, Err(WorkerError::AlreadyWorked { .. })));
}

/// A worker that died: registered long ago by a process that no longer exists.
async fn dead_worker(backend: &Backend, execution_id: &str, owner: &str) {
    let long_ago = Timestamp::from_millis(now().millis() - 3_600_000);
    backend.store.register_worker(execution_id, owner, 4_000_000, long_ago, |_| false).await.unwrap().unwrap();
}

#[tokio::test]
async fn an_action_a_dead_worker_was_running_fails_as_interrupted_and_a_retry_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    backend.store.put_pipeline(&declaration(&["echo again"]), now()).await.unwrap();
    // The dead worker claimed the start's effects, among them the source action's dispatch,
    // which it was running in its own process when it died.
    dead_worker(&backend, "e1", "4000000-dead").await;
    backend.submit("work", &start("e1"), &[], Some("e1")).await.unwrap();
    let held = backend.store.claim_effects("e1", "4000000-dead").await.unwrap();
    assert!(held.iter().any(|entry| matches!(entry.effect, Effect::Dispatch(_))), "{held:?}");
    let worker = Worker::register(&backend, "work", "e1").await.unwrap();
    let execution = worker.run(&WorkerOptions::default()).await.unwrap();
    assert_eq!(execution.status, ExecutionStatus::Failed, "the interrupted action is failed, not run again");
    let source = execution.stages[0].actions[0].attempts.last().unwrap();
    assert_eq!(source.status, ActionStatus::Failed);
    let message = &source.error.as_ref().unwrap().message;
    assert!(message.starts_with("interrupted: the worker running this action (pid 4000000) stopped"), "{message}");
    assert!(backend.store.claim_effects("e1", "anyone").await.unwrap().is_empty(), "nothing is left claimed");
    // RetryStageExecution runs it again, to the end.
    let worker = Worker::register(&backend, "work", "e1").await.unwrap();
    let retry = Event::RetryStage(RetryStage {
        execution_id: "e1".into(),
        stage: "Source".into(),
        mode: RetryMode::FailedActions,
        by: None,
        expected_attempt: Some(execution.attempt),
    });
    backend.submit("work", &retry, &[], Some("e1")).await.unwrap();
    let execution = worker.run(&WorkerOptions::default()).await.unwrap();
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn effects_a_dead_worker_never_claimed_run_normally() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    backend.store.put_pipeline(&declaration(&["echo again"]), now()).await.unwrap();
    dead_worker(&backend, "e1", "4000000-dead").await;
    backend.submit("work", &start("e1"), &[], Some("e1")).await.unwrap();
    let worker = Worker::register(&backend, "work", "e1").await.unwrap();
    let execution = worker.run(&WorkerOptions::default()).await.unwrap();
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn a_job_handed_to_a_job_worker_stays_awaited_after_a_takeover() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    let value = json!({
        "name": "work",
        "roleArn": "arn:aws:iam::111122223333:role/p",
        "artifactStore": {"type": "S3", "location": "local-artifacts"},
        "stages": [
            {"name": "Source", "actions": [{"name": "Source",
                "actionTypeId": {"category": "Source", "owner": "Custom", "provider": "MySource", "version": "1"},
                "outputArtifacts": [{"name": "Src"}]}]},
            {"name": "Build", "actions": [{"name": "Make",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": ["true"], "inputArtifacts": [{"name": "Src"}]}]}
        ]
    });
    let declaration = PipelineDocument::parse(&value.to_string(), Format::Json).unwrap().pipeline;
    backend.store.put_pipeline(&declaration, now()).await.unwrap();
    // The dead worker had claimed the custom job's dispatch, maybe before handing it out.
    dead_worker(&backend, "e1", "4000000-dead").await;
    backend.submit("work", &start("e1"), &[], Some("e1")).await.unwrap();
    assert!(!backend.store.claim_effects("e1", "4000000-dead").await.unwrap().is_empty());
    let worker = Worker::register(&backend, "work", "e1").await.unwrap();
    let execution = backend.execution("e1").await.unwrap().unwrap();
    let custom = execution.stages[0].actions[0].attempts.last().unwrap();
    assert_eq!(custom.status, ActionStatus::InProgress, "not failed: {:?}", custom.error);
    let other = pipewright_local::store::SqliteStore::open(&dir.path().join("state/state.db")).unwrap();
    let stopper = async {
        // The job is handed out again: the outbox empties, and the action still waits.
        while !other.claims_of_others("e1", "nobody").await.unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let execution = other.get_execution("e1").await.unwrap().unwrap().value;
        let custom = execution.stages[0].actions[0].attempts.last().unwrap().clone();
        let stop = Event::StopExecution(pipewright_core::engine::StopExecution {
            execution_id: "e1".into(),
            abandon: true,
            reason: None,
            by: None,
        });
        Backend::open(&dir.path().join("state"), dir.path(), Arc::new(Silent), None)
            .unwrap()
            .submit("work", &stop, &[], None)
            .await
            .unwrap();
        custom
    };
    let options = WorkerOptions::default();
    let (execution, custom) = tokio::join!(worker.run(&options), stopper);
    assert_eq!(custom.status, ActionStatus::InProgress, "{:?}", custom.error);
    assert_eq!(execution.unwrap().status, ExecutionStatus::Stopped);
}

#[tokio::test]
async fn a_worker_stops_when_its_state_directory_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    let worker = started(&backend, &["sleep 300"]).await;
    let other = pipewright_local::store::SqliteStore::open(&dir.path().join("state/state.db")).unwrap();
    let remover = async {
        until_the_command_runs(&other).await;
        std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    };
    let options = WorkerOptions::default();
    let (result, ()) = tokio::join!(worker.run(&options), remover);
    assert!(matches!(result, Err(WorkerError::StateGone(_))), "{result:?}");
}

#[tokio::test]
async fn a_worker_stops_when_its_record_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    let worker = started(&backend, &["sleep 300"]).await;
    let other = pipewright_local::store::SqliteStore::open(&dir.path().join("state/state.db")).unwrap();
    let remover = async {
        until_the_command_runs(&other).await;
        let record = other.worker("e1").await.unwrap().unwrap();
        other.unregister_worker("e1", &record.owner).await.unwrap();
    };
    let options = WorkerOptions::default();
    let (result, ()) = tokio::join!(worker.run(&options), remover);
    assert!(matches!(result, Err(WorkerError::Displaced(_))), "{result:?}");
}

/// Launches nothing; records what it was asked to launch.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

impl Launcher for Recorder {
    fn launch(&self, _pipeline: &str, execution_id: &str) -> std::io::Result<()> {
        self.0.lock().unwrap().push(execution_id.to_string());
        Ok(())
    }
}

#[tokio::test]
async fn opening_the_state_directory_launches_workers_for_orphaned_executions_only() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let mut backend =
        Backend::open(&dir.path().join("state"), dir.path(), Arc::new(Silent), Some(recorder.clone())).unwrap();
    backend.configure(&RunOptions { working_directory: dir.path().to_path_buf(), ..RunOptions::default() });
    let before = backend.store.counters();
    assert!(resume_orphans(&backend, None).await.unwrap().is_empty(), "nothing to resume");
    assert_eq!(backend.store.counters().writes, before.writes, "looking for orphans writes nothing");
    // e1: effects and a dead worker; e2: effects and a live worker (this process);
    // e3: effects and no worker; e4: the caller's own. Submitting as the worker of each
    // launches nothing.
    dead_worker(&backend, "e1", "4000000-dead").await;
    backend.store.register_worker("e2", "live", std::process::id(), now(), |_| false).await.unwrap().unwrap();
    for id in ["e1", "e2", "e3", "e4"] {
        // One pipeline each: a newer execution would supersede an older one.
        let mut pipeline = declaration(&["true"]);
        pipeline.name = format!("work-{id}");
        backend.store.put_pipeline(&pipeline, now()).await.unwrap();
        backend.submit(&pipeline.name, &start(id), &[], Some(id)).await.unwrap();
    }
    assert!(recorder.0.lock().unwrap().is_empty());
    let mut launched = resume_orphans(&backend, Some("e4")).await.unwrap();
    launched.sort();
    assert_eq!(launched, ["e1", "e3"]);
    assert_eq!(recorder.0.lock().unwrap().len(), 2);
}

/// A worker launched a moment ago (`start`'s, holding its `--secret` values) has not
/// registered yet: a command that looks for orphans meanwhile launches no second one, which
/// could register first and run without the secrets. A marker whose process is gone, or an
/// old one, does not hold the execution.
#[tokio::test]
async fn a_worker_launched_and_not_yet_registered_is_not_launched_again() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let state = dir.path().join("state");
    let mut backend = Backend::open(&state, dir.path(), Arc::new(Silent), Some(recorder.clone())).unwrap();
    backend.configure(&RunOptions { working_directory: dir.path().to_path_buf(), ..RunOptions::default() });
    for id in ["launched", "gone", "old"] {
        let mut pipeline = declaration(&["true"]);
        pipeline.name = format!("work-{id}");
        backend.store.put_pipeline(&pipeline, now()).await.unwrap();
        backend.submit(&pipeline.name, &start(id), &[], Some(id)).await.unwrap();
    }
    // A process that stands for the launched worker, killed however the test ends.
    struct Sleeper(std::process::Child);
    impl Drop for Sleeper {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let sleeper = Sleeper(std::process::Command::new("sleep").arg("30").spawn().unwrap());
    let mut ended = std::process::Command::new("true").spawn().unwrap();
    ended.wait().unwrap();
    note_launch(&state, "launched", sleeper.0.id());
    note_launch(&state, "gone", ended.id());
    let a_minute_ago = now().millis() - 60_000;
    std::fs::write(launch_marker(&state, "old"), format!("{} {a_minute_ago}", sleeper.0.id())).unwrap();

    let mut launched = resume_orphans(&backend, None).await.unwrap();
    launched.sort();
    assert_eq!(launched, ["gone", "old"]);
    assert!(backend.has_live_worker("launched").await);
    assert!(!backend.has_live_worker("gone").await);
    // Once its worker registers, the marker is gone: the record speaks for it.
    let worker = Worker::register(&backend, "work-launched", "launched").await.unwrap();
    assert!(!launch_marker(&state, "launched").exists());
    drop(worker);
}

#[tokio::test]
async fn approvals_and_stops_from_another_process_reach_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    // The command records its process, then becomes a long sleep.
    let command = format!("echo $$ > {}/command.pid; exec sleep 300", dir.path().display());
    let worker = started(&backend, &[&command]).await;
    // Another process on the same state file stops the execution once the command runs.
    let other = pipewright_local::store::SqliteStore::open(&dir.path().join("state/state.db")).unwrap();
    let stopper = async {
        until_the_command_runs(&other).await;
        let second = Backend::open(&dir.path().join("state"), dir.path(), Arc::new(Silent), None).unwrap();
        let stop = Event::StopExecution(pipewright_core::engine::StopExecution {
            execution_id: "e1".into(),
            abandon: true,
            reason: Some("from elsewhere".into()),
            by: None,
        });
        second.submit("work", &stop, &[], None).await.unwrap();
    };
    let options = WorkerOptions::default();
    let (execution, ()) = tokio::join!(worker.run(&options), stopper);
    assert_eq!(execution.unwrap().status, ExecutionStatus::Stopped);
    // The worker ended with the command's task: the command was killed (and reaped), not
    // left running nor waited for.
    let pid: i32 = std::fs::read_to_string(dir.path().join("command.pid")).unwrap().trim().parse().unwrap();
    let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None);
    assert_eq!(gone, Err(nix::errno::Errno::ESRCH), "the abandoned command {pid} was killed");
}

/// Waits until the first action of execution e1's second stage runs.
async fn until_the_command_runs(store: &pipewright_local::store::SqliteStore) {
    loop {
        let execution = store.get_execution("e1").await.unwrap().unwrap().value;
        let running = execution.stages[1].actions[0]
            .attempts
            .last()
            .is_some_and(|a| a.status == pipewright_core::engine::ActionStatus::InProgress);
        if running {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_idle_worker_takes_no_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    let worker = started(&backend, &["sleep 30"]).await;
    let store = &backend.store;
    let watcher = async {
        // Wait until the command runs: from then on the worker has nothing to do but poll.
        until_the_command_runs(store).await;
        // Settled: what the dispatch committed with it (its state changes) is carried out, so
        // that a whole look writes nothing but heartbeats. Idle, the worker sleeps until it is
        // woken, looking on its own only when a heartbeat is due (every 2 s).
        loop {
            let start = store.counters();
            while store.counters().claims < start.claims + 1 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let end = store.counters();
            if end.writes - start.writes == end.heartbeats - start.heartbeats {
                break;
            }
        }
        let before = store.counters();
        tokio::time::sleep(std::time::Duration::from_millis(5_000)).await;
        let after = store.counters();
        let stop = Event::StopExecution(pipewright_core::engine::StopExecution {
            execution_id: "e1".into(),
            abandon: true,
            reason: None,
            by: None,
        });
        backend.submit("work", &stop, &[], None).await.unwrap();
        (before, after)
    };
    let options = WorkerOptions::default();
    let (execution, (before, after)) = tokio::join!(worker.run(&options), watcher);
    assert_eq!(execution.unwrap().status, ExecutionStatus::Stopped);
    // Heartbeats (one per two seconds) are the only writes an idle worker makes, and it looks
    // for work on its own only with them: in 5 s, at most three looks (it looked every second
    // before, five). A slower machine only makes fewer.
    let writes = after.writes - before.writes;
    let heartbeats = after.heartbeats - before.heartbeats;
    let looks = after.claims - before.claims;
    assert_eq!(writes, heartbeats, "{looks} looks took {writes} write locks ({heartbeats} heartbeats)");
    assert!((1..=3).contains(&looks), "{looks} looks in 5 s while idle ({heartbeats} heartbeats)");
}

#[tokio::test]
async fn a_worker_taken_over_stops_at_its_next_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    let worker = started(&backend, &["sleep 30"]).await;
    // Another process judged this worker dead and took the execution over.
    backend.store.register_worker("e1", "usurper", std::process::id(), now(), |_| false).await.unwrap().unwrap();
    let result = worker.run(&WorkerOptions::default()).await;
    assert!(matches!(result, Err(WorkerError::Displaced(_))), "{result:?}");
    assert_eq!(
        backend.store.worker("e1").await.unwrap().unwrap().owner,
        "usurper",
        "the new owner keeps its registration"
    );
}

/// Runs `worker`'s execution to success; returns what it wrote from `before`: the claims that
/// took the write lock, and the write locks besides heartbeats.
async fn written_to_success(backend: &Backend, worker: Worker<'_>, before: StoreCounters) -> (u64, u64) {
    assert_eq!(worker.run(&WorkerOptions::default()).await.unwrap().status, ExecutionStatus::Succeeded);
    let after = backend.store.counters();
    let heartbeats = after.heartbeats - before.heartbeats;
    (after.claim_writes - before.claim_writes, after.writes - before.writes - heartbeats)
}

#[tokio::test]
async fn what_a_workers_own_commits_set_off_is_claimed_in_those_commits_not_in_writes_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    let worker = started(&backend, &["true"]).await;
    let before = backend.store.counters();
    // The start was committed by someone else (here the test; under `serve`, the API) after
    // the worker registered: its effects are claimed in a write. Source's result starts Build
    // and Make's ends the execution; the worker committed both, and each claimed what it set
    // off. Write locks: that claim, the two commits and the worker's last write (8 before:
    // two more claims, and a removal, a release and an unregistration of their own).
    assert_eq!(written_to_success(&backend, worker, before).await, (1, 4), "claims that wrote, write locks");
    assert!(backend.store.worker("e1").await.unwrap().is_none(), "unregistered");
    assert!(backend.store.claims_of_others("e1", "anyone").await.unwrap().is_empty(), "no claim is left");
}

/// `pipewright run`: the worker registers, then starts its execution itself; the start's
/// commit records the run options and claims what the start sets off.
#[tokio::test]
async fn a_worker_that_starts_its_execution_claims_in_its_commits_only() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    backend.store.put_pipeline(&declaration(&["true"]), now()).await.unwrap();
    let worker = Worker::register(&backend, "work", "e1").await.unwrap();
    let options = RunOptions { auto_approve: true, ..RunOptions::default() };
    let before = backend.store.counters();
    worker.start(&start("e1"), &options).await.unwrap();
    assert!(backend.load_run_options("e1").await.unwrap().auto_approve, "the options came with the start");
    // The start, the two commits of results and the worker's last write.
    assert_eq!(written_to_success(&backend, worker, before).await, (0, 4), "claims that wrote, write locks");
}

/// Under `serve` (and for a background worker), the start is committed first and the worker
/// launched for it claims the start's effects in the write that registers it.
#[tokio::test]
async fn a_worker_registered_after_the_start_claims_its_work_in_the_registration() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    backend.store.put_pipeline(&declaration(&["true"]), now()).await.unwrap();
    backend.submit("work", &start("e1"), &[], None).await.unwrap();
    let before = backend.store.counters();
    let worker = Worker::register(&backend, "work", "e1").await.unwrap();
    assert!(backend.store.claim_effects("e1", "anyone").await.unwrap().is_empty(), "all claimed");
    // The registration, the two commits of results and the worker's last write.
    assert_eq!(written_to_success(&backend, worker, before).await, (0, 4), "claims that wrote, write locks");
}

#[tokio::test]
async fn state_changes_shown_leave_the_outbox_with_the_next_results_not_in_writes_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    let worker = started(&backend, &["true"]).await;
    let before = backend.store.counters();
    assert_eq!(worker.run(&WorkerOptions::default()).await.unwrap().status, ExecutionStatus::Succeeded);
    let after = backend.store.counters();
    // Three rounds show state changes: the start's, the source's result's (Build starts) and
    // the build's (the execution ends). The first two go with the results of Source and Make;
    // the last with the worker's last write, which also unregisters it. Should this machine be
    // slow enough for a heartbeat meanwhile (one per two seconds), that write removes what
    // waits for results.
    assert_eq!(after.removals - before.removals, 0, "writes removing entries carried out");
    // And none is left behind, claimed or not.
    assert!(backend.store.claim_effects("e1", "anyone").await.unwrap().is_empty(), "the outbox is empty");
    assert!(backend.store.claims_of_others("e1", "anyone").await.unwrap().is_empty(), "no claim is left");
}
