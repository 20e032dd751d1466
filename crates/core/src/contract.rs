//! The contract every [`StateStore`] keeps, written once and run against each adapter:
//! `pipewright_core::store_contract_tests!(make_store)` in an adapter's tests expands to one
//! `#[tokio::test]` per check below (enable the `contract` feature).
//!
//! The contract is what the engine relies on: versioned declarations; a conditional commit
//! that writes all or nothing and fails with `Conflict` on any stale version (so two
//! executions can never both take a stage lock); an idempotent re-apply; listings newest
//! first with pagination; and an outbox whose entries are claimed by one owner at a time.

use serde_json::json;

use crate::declaration::{Format, PipelineDeclaration, PipelineDocument};
use crate::engine::{
    self, ActionSucceeded, Effect, Event, ExecutionStatus, JobRef, PipelineUpdated, StartExecution, Step, Tick,
    Trigger, TriggerType, World,
};
use crate::pipeline::{Environment, Pipeline};
use crate::ports::{Changes, JobLocation, StateStore, StoreError};
use crate::service::{self, Handled, PipelineCache};
use crate::time::Timestamp;

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// What a failed check reports besides its assertions: the store's error, or what was missing.
pub type Failure = Box<dyn std::error::Error + Send + Sync>;
/// The outcome of one check.
pub type Checked = Result<(), Failure>;

/// A small SUPERSEDED pipeline: a source and one Commands action.
pub fn declaration(name: &str, command: &str) -> Result<PipelineDeclaration, Failure> {
    let value = json!({
        "name": name,
        "roleArn": "arn:aws:iam::111122223333:role/pipeline",
        "artifactStore": {"type": "S3", "location": "artifact-bucket"},
        "pipelineType": "V2",
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Src",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "configuration": {"RepositoryName": "repo", "BranchName": "main"},
                "outputArtifacts": [{"name": "Code"}]
            }]},
            {"name": "Build", "actions": [{
                "name": "Make",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": [command],
                "inputArtifacts": [{"name": "Code"}]
            }]}
        ]
    });
    Ok(PipelineDocument::parse(&value.to_string(), Format::Json)?.pipeline)
}

/// A pipeline whose Build stage runs `actions` Commands actions side by side: an execution
/// of it is many times one action's size.
pub fn wide_declaration(name: &str, actions: usize) -> Result<PipelineDeclaration, Failure> {
    let mut value = serde_json::to_value(declaration(name, "make")?)?;
    let make = value["stages"][1]["actions"][0].clone();
    let wide: Vec<serde_json::Value> = (0..actions)
        .map(|i| {
            let mut action = make.clone();
            action["name"] = json!(format!("Make{i}"));
            action
        })
        .collect();
    value["stages"][1]["actions"] = json!(wide);
    Ok(serde_json::from_value(value)?)
}

/// The success of the first job of action `action` of stage `stage`.
pub fn action_done(id: &str, stage: &str, action: &str) -> Event {
    let Event::ActionSucceeded(mut done) = source_done(id) else { unreachable!("source_done is a success") };
    done.job.stage = stage.into();
    done.job.action = action.into();
    Event::ActionSucceeded(done)
}

pub fn start(id: &str) -> Event {
    Event::StartExecution(StartExecution {
        execution_id: id.to_string(),
        seed: format!("seed-{id}"),
        trigger: Trigger { trigger_type: TriggerType::StartPipelineExecution, trigger_detail: None },
        variables: Vec::new(),
        source_revisions: Vec::new(),
        action_timeout_seconds: None,
    })
}

/// The success of the source action of [`declaration`]'s first attempt.
pub fn source_done(id: &str) -> Event {
    Event::ActionSucceeded(ActionSucceeded {
        job: JobRef {
            execution_id: id.into(),
            stage: "Source".into(),
            action: "Src".into(),
            attempt: 1,
            job: 1,
            condition: None,
        },
        output_variables: Default::default(),
        summary: None,
        external_execution_id: None,
        external_execution_url: None,
        revision: None,
        by: None,
        details: None,
    })
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_millis(NOW.millis() + seconds * 1000)
}

async fn with_pipeline<S: StateStore>(store: &S, name: &str) -> Result<PipelineCache, Failure> {
    store.put_pipeline(&declaration(name, "make")?, NOW).await?;
    Ok(PipelineCache::new(Environment::default()))
}

async fn compiled<S: StateStore>(store: &S, name: &str) -> Result<Pipeline, Failure> {
    let stored = store.get_pipeline(name, None).await?.ok_or("the pipeline is stored")?;
    let mut declaration = stored.declaration;
    declaration.version = Some(i64::from(stored.version));
    Pipeline::compile(declaration, Environment::default()).map_err(|report| format!("invalid: {report:?}").into())
}

/// Applies `event` to a fresh load without committing: the changes a handler would write.
async fn prepare<S: StateStore>(store: &S, name: &str, event: &Event, now: Timestamp) -> Result<Changes, Failure> {
    let snapshot = store.load(name, event).await?;
    let pipeline = compiled(store, name).await?;
    let versions: std::collections::HashMap<String, u64> =
        snapshot.executions.iter().map(|(id, v)| (id.clone(), v.version)).collect();
    let world = World {
        pipeline: snapshot.state.value,
        executions: snapshot.executions.into_iter().map(|(id, v)| (id, v.value)).collect(),
    };
    let Ok(Step::Applied(mut applied)) = engine::apply(&pipeline, world, event, now) else {
        return Err(format!("{} must apply", event.kind()).into());
    };
    let mut executions = Vec::new();
    for id in &applied.changed_executions {
        let execution = applied.world.executions.remove(id).ok_or("a changed execution is in the world")?;
        executions.push((execution, versions.get(id).copied()));
    }
    Ok(Changes {
        pipeline: name.to_string(),
        expected_state_version: snapshot.state.version,
        state_relied_on: engine::relies_on_state(event, applied.pipeline_changed),
        state: applied.pipeline_changed.then_some(applied.world.pipeline),
        executions,
        effects: applied.effects,
        completed_effects: Vec::new(),
    })
}

pub async fn declarations_are_versioned<S: StateStore>(store: S) -> Checked {
    let first = store.put_pipeline(&declaration("p", "make")?, NOW).await?;
    assert_eq!((first.version, first.created, first.changed), (1, true, true));
    let same = store.put_pipeline(&declaration("p", "make")?, at(1)).await?;
    assert_eq!(
        (same.version, same.created, same.changed),
        (1, false, false),
        "an unchanged declaration keeps its version"
    );
    let second = store.put_pipeline(&declaration("p", "make test")?, at(2)).await?;
    assert_eq!((second.version, second.created, second.changed), (2, false, true));
    let current = store.get_pipeline("p", None).await?.ok_or("it is stored")?;
    assert_eq!(current.version, 2);
    assert_eq!(current.declaration.version, Some(2), "the stored declaration carries its version");
    assert_eq!(current.declaration.stages[1].actions[0].commands.as_deref(), Some(&["make test".to_string()][..]));
    assert_eq!((current.created, current.updated), (NOW, at(2)));
    let old = store.get_pipeline("p", Some(1)).await?.ok_or("it is stored")?;
    assert_eq!(old.declaration.stages[1].actions[0].commands.as_deref(), Some(&["make".to_string()][..]));
    assert!(store.get_pipeline("p", Some(3)).await?.is_none());
    assert!(store.get_pipeline("nope", None).await?.is_none());
    store.put_pipeline(&declaration("another", "make")?, NOW).await?;
    let names: Vec<String> = store.list_pipelines().await?.into_iter().map(|p| p.declaration.name).collect();
    assert_eq!(names, ["another", "p"]);
    store.delete_pipeline("p").await?;
    assert!(store.get_pipeline("p", None).await?.is_none());
    assert!(matches!(store.load("p", &start("e1")).await, Err(StoreError::NotFound(_))));
    Ok(())
}

pub async fn a_view_holds_the_executions_the_state_shows_and_when_the_pipeline_was_created<S: StateStore>(
    store: S,
) -> Checked {
    let cache = with_pipeline(&store, "p").await?;
    service::handle(&store, &cache, "p", &start("e1"), NOW, &[]).await?;
    // e1 holds the source stage; e2 waits to enter it.
    service::handle(&store, &cache, "p", &start("e2"), at(1), &[]).await?;
    let view = store.load_view("p").await?;
    let shown = engine::executions_shown(&view.state.value).executions;
    assert_eq!(shown.iter().map(String::as_str).collect::<Vec<_>>(), ["e1", "e2"]);
    assert_eq!(view.executions.keys().cloned().collect::<std::collections::BTreeSet<_>>(), shown);
    assert_eq!(view.executions["e1"].value, store.get_execution("e1").await?.ok_or("e1 is stored")?.value);
    assert_eq!(view.created, NOW);
    assert_eq!(store.load("p", &start("e3")).await?.created, NOW);
    // Created again under the same name: versions start over, the creation time tells them apart.
    store.delete_pipeline("p").await?;
    store.put_pipeline(&declaration("p", "make")?, at(5)).await?;
    let again = store.load_view("p").await?;
    assert_eq!((again.declaration_version, again.created), (1, at(5)));
    assert!(again.executions.is_empty(), "the deleted pipeline's executions went with it");
    assert!(matches!(store.load_view("nope").await, Err(StoreError::NotFound(_))));
    Ok(())
}

pub async fn handled_events_are_stored<S: StateStore>(store: S) -> Checked {
    let cache = with_pipeline(&store, "p").await?;
    let handled = service::handle(&store, &cache, "p", &start("e1"), NOW, &[]).await?;
    let Handled::Applied { effects } = handled else { return Err("start applies".into()) };
    assert!(effects.iter().any(|e| matches!(e, Effect::Dispatch(_))));
    let stored = store.get_execution("e1").await?.ok_or("the execution is stored")?;
    assert_eq!(stored.value.status, ExecutionStatus::InProgress);
    let snapshot = store.load("p", &Event::Tick(Tick { execution_id: "e1".into() })).await?;
    assert_eq!(snapshot.executions["e1"].value, stored.value);
    assert_eq!(snapshot.state.value.stages[0].occupant.as_deref(), Some("e1"));
    service::handle(&store, &cache, "p", &source_done("e1"), at(1), &[]).await?;
    let later = store.get_execution("e1").await?.ok_or("it is stored")?;
    assert!(later.version > stored.version, "each write gives a new version");
    assert!(store.get_execution("nope").await?.is_none());
    Ok(())
}

pub async fn a_stale_state_version_conflicts_and_writes_nothing<S: StateStore>(store: S) -> Checked {
    let _cache = with_pipeline(&store, "p").await?;
    // Two handlers load the same state; both want stage Source for a new execution.
    let first = prepare(&store, "p", &start("e1"), NOW).await?;
    let second = prepare(&store, "p", &start("e2"), NOW).await?;
    store.commit(first).await?;
    let effects_before = store.claim_effects("e2", "observer").await?;
    assert!(effects_before.is_empty());
    assert!(matches!(store.commit(second).await, Err(StoreError::Conflict(_))), "only one may take the stage lock");
    assert!(store.get_execution("e2").await?.is_none(), "a conflicting commit writes nothing");
    assert!(store.claim_effects("e2", "observer").await?.is_empty(), "nor its effects");
    Ok(())
}

pub async fn an_unchanged_state_is_still_a_condition<S: StateStore>(store: S) -> Checked {
    let cache = with_pipeline(&store, "p").await?;
    service::handle(&store, &cache, "p", &start("e1"), NOW, &[]).await?;
    // A result that changes only e1 was computed against the state as it was...
    let tick_world = prepare(&store, "p", &source_done("e1"), at(1)).await?;
    // ...then another execution changes the pipeline state.
    service::handle(&store, &cache, "p", &start("e2"), at(2), &[]).await?;
    let mut only_execution = tick_world;
    only_execution.state = None;
    only_execution.state_relied_on = true;
    assert!(matches!(store.commit(only_execution.clone()).await, Err(StoreError::Conflict(_))));
    // A change decided without the state (a job's result inside its stage) commits over it.
    only_execution.state_relied_on = false;
    store.commit(only_execution).await?;
    assert_eq!(store.get_execution("e1").await?.ok_or("it is stored")?.version, 2, "the result is stored");
    Ok(())
}

pub async fn a_stale_execution_version_conflicts<S: StateStore>(store: S) -> Checked {
    let cache = with_pipeline(&store, "p").await?;
    service::handle(&store, &cache, "p", &start("e1"), NOW, &[]).await?;
    let mut stale = prepare(&store, "p", &source_done("e1"), at(1)).await?;
    service::handle(&store, &cache, "p", &source_done("e1"), at(2), &[]).await?;
    // Even with the state condition met, the execution's own version must match.
    stale.expected_state_version = store.load("p", &source_done("e1")).await?.state.version;
    stale.state = None;
    assert!(matches!(store.commit(stale).await, Err(StoreError::Conflict(_))));
    Ok(())
}

pub async fn a_new_execution_must_not_exist<S: StateStore>(store: S) -> Checked {
    let cache = with_pipeline(&store, "p").await?;
    service::handle(&store, &cache, "p", &start("e1"), NOW, &[]).await?;
    let existing = store.get_execution("e1").await?.ok_or("it is stored")?.value;
    let state = store.load("p", &start("e9")).await?.state;
    let changes = Changes {
        pipeline: "p".into(),
        expected_state_version: state.version,
        state_relied_on: true,
        state: None,
        executions: vec![(existing, None)],
        effects: Vec::new(),
        completed_effects: Vec::new(),
    };
    assert!(matches!(store.commit(changes).await, Err(StoreError::Conflict(_))));
    Ok(())
}

pub async fn reapplying_an_event_changes_nothing<S: StateStore>(store: S) -> Checked {
    let cache = with_pipeline(&store, "p").await?;
    service::handle(&store, &cache, "p", &start("e1"), NOW, &[]).await?;
    service::handle(&store, &cache, "p", &source_done("e1"), at(1), &[]).await?;
    let before = store.get_execution("e1").await?.ok_or("it is stored")?;
    let outbox_before = store.claim_effects("e1", "a").await?.len();
    store.release_effects("e1", "a").await?;
    for event in [start("e1"), source_done("e1")] {
        let again = service::handle(&store, &cache, "p", &event, at(5), &[]).await?;
        assert!(matches!(again, Handled::Stale(_)), "{} applied twice", event.kind());
    }
    assert_eq!(store.get_execution("e1").await?.ok_or("it is stored")?, before, "no write at all");
    assert_eq!(store.claim_effects("e1", "a").await?.len(), outbox_before, "no new effects");
    Ok(())
}

/// A commit writes what changed: the result of one action of a wide stage writes about one
/// action's worth of bytes, not the whole execution. And whatever a store keeps to write less
/// (parts, a cache), a load returns exactly what was committed, also after a lost race.
pub async fn a_small_change_writes_little_and_loads_return_what_was_committed<S: StateStore>(store: S) -> Checked {
    const ACTIONS: usize = 24;
    store.put_pipeline(&wide_declaration("w", ACTIONS)?, NOW).await?;
    let committed = |changes: &Changes| changes.executions.first().map(|(e, _)| e.clone());
    let check_stored = |expected: Option<crate::engine::Execution>| async {
        let expected = expected.ok_or("the change writes the execution")?;
        let stored = store.get_execution("e1").await?.ok_or("it is stored")?;
        assert_eq!(stored.value, expected, "get_execution returns what was committed");
        let loaded = store.load("w", &Event::Tick(Tick { execution_id: "e1".into() })).await?;
        assert_eq!(loaded.executions["e1"], stored, "load returns what was committed");
        Result::<crate::engine::Execution, Failure>::Ok(expected)
    };
    for (event, seconds) in [(start("e1"), 0), (source_done("e1"), 1)] {
        let changes = prepare(&store, "w", &event, at(seconds)).await?;
        let execution = committed(&changes);
        store.commit(changes).await?;
        check_stored(execution).await?;
    }
    let whole = serde_json::to_string(&store.get_execution("e1").await?.ok_or("it is stored")?.value)?.len() as u64;

    // Two results computed from the same load: the second loses the race and writes nothing.
    let first = prepare(&store, "w", &action_done("e1", "Build", "Make0"), at(2)).await?;
    let second = prepare(&store, "w", &action_done("e1", "Build", "Make1"), at(2)).await?;
    let first_execution = committed(&first);
    let before = store.bytes_written();
    store.commit(first).await?;
    // A store that does not count its bytes (a test double) is held to the rest of the check;
    // the SQLite and DynamoDB stores count theirs.
    if let (Some(before), Some(after)) = (before, store.bytes_written()) {
        let one_action = after - before;
        assert!(
            one_action * 4 < whole,
            "one action's result wrote {one_action} bytes, the whole execution of {ACTIONS} actions is {whole}"
        );
    }
    assert!(matches!(store.commit(second).await, Err(StoreError::Conflict(_))));
    let after_race = check_stored(first_execution).await?;
    let again = prepare(&store, "w", &action_done("e1", "Build", "Make1"), at(3)).await?;
    let execution = committed(&again);
    store.commit(again).await?;
    let current = check_stored(execution).await?;
    assert_ne!(current, after_race);
    for i in 0..ACTIONS {
        assert_eq!(current.stages[1].actions[i].attempts.len(), 1, "every action started once");
    }
    Ok(())
}

pub async fn executions_are_listed_newest_first_in_pages<S: StateStore>(store: S) -> Checked {
    let cache = with_pipeline(&store, "p").await?;
    store.put_pipeline(&declaration("other", "make")?, NOW).await?;
    service::handle(&store, &cache, "other", &start("x1"), NOW, &[]).await?;
    for (i, id) in ["e1", "e2", "e3", "e4", "e5"].iter().enumerate() {
        service::handle(&store, &cache, "p", &start(id), at(i as i64 * 10), &[]).await?;
    }
    let all = store.list_executions("p", 100, None).await?;
    let ids: Vec<&str> = all.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e5", "e4", "e3", "e2", "e1"]);
    assert!(all.next_token.is_none());
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store.list_executions("p", 2, token.as_deref()).await?;
        pages.push(page.items.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, vec![vec!["e5", "e4"], vec!["e3", "e2"], vec!["e1"]]);
    let exact = store.list_executions("p", 5, None).await?;
    assert_eq!(exact.items.len(), 5);
    assert!(exact.next_token.is_none(), "a page that ends the listing points at no further page");
    assert!(matches!(store.list_executions("p", 2, Some("not-a-token")).await, Err(StoreError::InvalidNextToken)));
    assert!(store.list_executions("nope", 10, None).await?.items.is_empty());
    Ok(())
}

pub async fn a_pipeline_update_loads_every_active_execution<S: StateStore>(store: S) -> Checked {
    let cache = with_pipeline(&store, "p").await?;
    for (i, id) in ["e1", "e2", "e3"].iter().enumerate() {
        service::handle(&store, &cache, "p", &start(id), at(i as i64), &[]).await?;
    }
    // e2 was superseded by e3 at the first stage: it has finished.
    assert_eq!(store.get_execution("e2").await?.ok_or("it is stored")?.value.status, ExecutionStatus::Superseded);
    store.put_pipeline(&declaration("p", "make all")?, at(10)).await?;
    let snapshot = store.load("p", &Event::PipelineUpdated(PipelineUpdated { version: 2 })).await?;
    assert_eq!(snapshot.declaration_version, 2, "the load names the current declaration");
    assert_eq!(snapshot.state.value.version, 1, "the state is still laid out for version 1");
    let mut loaded: Vec<&str> = snapshot.executions.keys().map(String::as_str).collect();
    loaded.sort_unstable();
    assert_eq!(loaded, ["e1", "e3"]);
    // A handler that finds the state behind the declaration brings it up to date first:
    // the executions of version 1 are cancelled.
    let tick = Event::Tick(Tick { execution_id: "e1".into() });
    service::handle(&store, &cache, "p", &tick, at(11), &[]).await?;
    assert_eq!(store.get_execution("e1").await?.ok_or("it is stored")?.value.status, ExecutionStatus::Cancelled);
    assert_eq!(store.get_execution("e3").await?.ok_or("it is stored")?.value.status, ExecutionStatus::Cancelled);
    assert_eq!(store.load("p", &tick).await?.state.value.version, 2);
    Ok(())
}

pub async fn outbox_entries_are_claimed_by_one_owner<S: StateStore>(store: S) -> Checked {
    let cache = with_pipeline(&store, "p").await?;
    let Handled::Applied { effects } = service::handle(&store, &cache, "p", &start("e1"), NOW, &[]).await? else {
        return Err("start applies".into());
    };
    let claimed = store.claim_effects("e1", "worker-a").await?;
    let ids: Vec<&str> = claimed.iter().map(|e| e.id.as_str()).collect();
    // Every effect but a deadline, which a store may serve otherwise (`keeps_effect`).
    assert!(
        effects.iter().all(|e| matches!(e, Effect::WakeAt(_)) || store.keeps_effect(e)),
        "only a deadline left out"
    );
    let expected: Vec<&str> = effects.iter().filter(|e| store.keeps_effect(e)).map(Effect::id).collect();
    assert_eq!(ids, expected, "every effect the store keeps, in order");
    assert!(claimed.iter().all(|e| e.execution_id == "e1" && e.pipeline == "p"));
    assert!(store.claim_effects("e1", "worker-b").await?.is_empty(), "held by worker-a");
    assert!(store.claim_effects("e1", "worker-a").await?.is_empty(), "claimed once");
    store.release_effects("e1", "worker-a").await?;
    let reclaimed = store.claim_effects("e1", "worker-b").await?;
    assert_eq!(reclaimed.len(), claimed.len(), "released entries can be claimed again");
    let dispatch =
        reclaimed.iter().find(|e| matches!(e.effect, Effect::Dispatch(_))).ok_or("a dispatch is claimed")?.id.clone();
    let others: Vec<String> = reclaimed.iter().map(|e| e.id.clone()).filter(|id| *id != dispatch).collect();
    store.complete_effects("e1", &others).await?;
    // The result of the dispatched action completes its entry in the same commit.
    service::handle(&store, &cache, "p", &source_done("e1"), at(1), std::slice::from_ref(&dispatch)).await?;
    store.release_effects("e1", "worker-b").await?;
    let next = store.claim_effects("e1", "worker-c").await?;
    assert!(next.iter().all(|e| e.id != dispatch), "completed with the result");
    assert!(next.iter().any(|e| matches!(&e.effect, Effect::Dispatch(d) if d.stage == "Build")));
    // A stale result still completes the entry it names.
    let build =
        next.iter().find(|e| matches!(e.effect, Effect::Dispatch(_))).ok_or("the next dispatch is claimed")?.id.clone();
    store.release_effects("e1", "worker-c").await?;
    let stale = service::handle(&store, &cache, "p", &source_done("e1"), at(2), std::slice::from_ref(&build)).await?;
    assert!(matches!(stale, Handled::Stale(_)));
    assert!(store.claim_effects("e1", "worker-d").await?.iter().all(|e| e.id != build));
    Ok(())
}

pub async fn dispatched_jobs_can_be_found_by_id<S: StateStore>(store: S) -> Checked {
    let cache = with_pipeline(&store, "p").await?;
    let Handled::Applied { effects } = service::handle(&store, &cache, "p", &start("e1"), NOW, &[]).await? else {
        return Err("start applies".into());
    };
    let job_id = effects
        .iter()
        .find_map(|e| match e {
            Effect::Dispatch(d) => Some(d.job_id.clone()),
            _ => None,
        })
        .ok_or("the source is dispatched")?;
    let found = store.find_job(&job_id).await?;
    assert_eq!(found, Some(JobLocation { pipeline: "p".into(), execution_id: "e1".into() }));
    assert_eq!(store.find_job("00000000-0000-4000-8000-000000000000").await?, None);
    // A conflicting commit records no job.
    let changes = prepare(&store, "p", &start("e2"), NOW).await?;
    let dispatched: Vec<String> = changes
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Dispatch(d) => Some(d.job_id.clone()),
            _ => None,
        })
        .collect();
    let stale = Changes { expected_state_version: changes.expected_state_version + 7, ..changes };
    assert!(matches!(store.commit(stale).await, Err(StoreError::Conflict(_))));
    for job in dispatched {
        assert_eq!(store.find_job(&job).await?, None, "nothing of a conflicting commit is written");
    }
    store.delete_pipeline("p").await?;
    // A job of a deleted pipeline leads nowhere (its location may linger until it expires).
    if let Some(location) = store.find_job(&job_id).await? {
        assert!(store.get_execution(&location.execution_id).await?.is_none(), "deleted with its pipeline");
    }
    Ok(())
}

pub async fn records_are_written_once_and_listed_by_key<S: StateStore>(store: S) -> Checked {
    assert!(store.put_record_if_absent("action-type", "b", "{\"v\":1}").await?);
    assert!(!store.put_record_if_absent("action-type", "b", "{\"v\":2}").await?, "the first write stays");
    assert!(store.put_record_if_absent("action-type", "a", "{}").await?);
    assert!(store.put_record_if_absent("job-ack", "b", "other kind").await?);
    assert_eq!(store.get_record("action-type", "b").await?.as_deref(), Some("{\"v\":1}"));
    assert_eq!(store.get_record("action-type", "zz").await?, None);
    let listed = store.list_records("action-type").await?;
    assert_eq!(listed, [("a".to_string(), "{}".to_string()), ("b".to_string(), "{\"v\":1}".to_string())]);
    store.delete_record("action-type", "b").await?;
    store.delete_record("action-type", "never-there").await?;
    assert_eq!(store.get_record("action-type", "b").await?, None);
    assert_eq!(store.get_record("job-ack", "b").await?.as_deref(), Some("other kind"));
    Ok(())
}

pub async fn records_are_replaced_only_from_the_value_read<S: StateStore>(store: S) -> Checked {
    assert!(store.put_record_if_absent("tags", "r", "[]").await?);
    assert!(store.replace_record("tags", "r", "[]", "[1]").await?);
    assert!(!store.replace_record("tags", "r", "[]", "[2]").await?, "a stale read replaces nothing");
    assert_eq!(store.get_record("tags", "r").await?.as_deref(), Some("[1]"));
    assert!(!store.replace_record("tags", "gone", "[]", "[3]").await?, "a missing record is not created");
    assert_eq!(store.get_record("tags", "gone").await?, None);
    assert!(!store.replace_record("other", "r", "[1]", "[4]").await?, "kinds are apart");
    assert_eq!(store.get_record("tags", "r").await?.as_deref(), Some("[1]"));
    Ok(())
}

/// A store that loses races on purpose: before a commit, a queued rival event is committed
/// through the store itself (so the commit really finds a newer version), or a queued
/// error is returned instead; while `recreating`, every load answers as if the pipeline had
/// been deleted and created again since the last one (a later creation time each time). It
/// records the ceiling of every pause it is asked for.
struct Racing<S> {
    inner: S,
    cache: PipelineCache,
    pipeline: String,
    rivals: std::sync::Mutex<std::collections::VecDeque<Event>>,
    faults: std::sync::Mutex<std::collections::VecDeque<StoreError>>,
    pauses: std::sync::Mutex<Vec<std::time::Duration>>,
    recreating: std::sync::atomic::AtomicBool,
    loads: std::sync::atomic::AtomicI64,
}

impl<S: StateStore> Racing<S> {
    async fn new(inner: S, pipeline: &str) -> Result<Racing<S>, Failure> {
        let cache = with_pipeline(&inner, pipeline).await?;
        Ok(Racing {
            inner,
            cache,
            pipeline: pipeline.to_string(),
            rivals: Default::default(),
            faults: Default::default(),
            pauses: Default::default(),
            recreating: Default::default(),
            loads: Default::default(),
        })
    }

    fn pauses(&self) -> Vec<std::time::Duration> {
        self.pauses.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// Every call but `load`, `commit` and `pause` goes to the store as it is.
impl<S: StateStore> StateStore for Racing<S> {
    async fn put_pipeline(
        &self,
        declaration: &PipelineDeclaration,
        now: Timestamp,
    ) -> Result<crate::ports::PutOutcome, StoreError> {
        self.inner.put_pipeline(declaration, now).await
    }
    async fn get_pipeline(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<Option<crate::ports::StoredPipeline>, StoreError> {
        self.inner.get_pipeline(name, version).await
    }
    async fn list_pipelines(&self) -> Result<Vec<crate::ports::StoredPipeline>, StoreError> {
        self.inner.list_pipelines().await
    }
    async fn delete_pipeline(&self, name: &str) -> Result<(), StoreError> {
        self.inner.delete_pipeline(name).await
    }
    async fn load(&self, pipeline: &str, event: &Event) -> Result<crate::ports::Snapshot, StoreError> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut snapshot = self.inner.load(pipeline, event).await?;
        if self.recreating.load(Relaxed) {
            let later = self.loads.fetch_add(1, Relaxed) + 1;
            snapshot.created = Timestamp::from_millis(snapshot.created.millis() + later);
        }
        Ok(snapshot)
    }
    async fn load_view(&self, pipeline: &str) -> Result<crate::ports::Snapshot, StoreError> {
        self.inner.load_view(pipeline).await
    }
    fn bytes_written(&self) -> Option<u64> {
        self.inner.bytes_written()
    }
    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        let rival = self.rivals.lock().ok().and_then(|mut rivals| rivals.pop_front());
        if let Some(rival) = rival {
            service::handle(&self.inner, &self.cache, &self.pipeline, &rival, NOW, &[])
                .await
                .map_err(|e| StoreError::Unavailable(format!("the rival write failed: {e}")))?;
        }
        let fault = self.faults.lock().ok().and_then(|mut faults| faults.pop_front());
        match fault {
            Some(fault) => Err(fault),
            None => self.inner.commit(changes).await,
        }
    }
    async fn pause(&self, ceiling: std::time::Duration) {
        if let Ok(mut pauses) = self.pauses.lock() {
            pauses.push(ceiling);
        }
        // Recreating, nothing could settle during the pause: only its ceiling is of interest.
        if !self.recreating.load(std::sync::atomic::Ordering::Relaxed) {
            self.inner.pause(ceiling).await
        }
    }
    async fn get_execution(
        &self,
        id: &str,
    ) -> Result<Option<crate::ports::Versioned<crate::engine::Execution>>, StoreError> {
        self.inner.get_execution(id).await
    }
    async fn list_executions(
        &self,
        pipeline: &str,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<crate::ports::Page<crate::engine::Execution>, StoreError> {
        self.inner.list_executions(pipeline, limit, next_token).await
    }
    fn keeps_effect(&self, effect: &Effect) -> bool {
        self.inner.keeps_effect(effect)
    }
    async fn claim_effects(
        &self,
        execution_id: &str,
        owner: &str,
    ) -> Result<Vec<crate::ports::OutboxEntry>, StoreError> {
        self.inner.claim_effects(execution_id, owner).await
    }
    async fn complete_effects(&self, execution_id: &str, ids: &[String]) -> Result<(), StoreError> {
        self.inner.complete_effects(execution_id, ids).await
    }
    async fn release_effects(&self, execution_id: &str, owner: &str) -> Result<(), StoreError> {
        self.inner.release_effects(execution_id, owner).await
    }
    async fn find_job(&self, job_id: &str) -> Result<Option<JobLocation>, StoreError> {
        self.inner.find_job(job_id).await
    }
    async fn put_record_if_absent(&self, kind: &str, key: &str, value: &str) -> Result<bool, StoreError> {
        self.inner.put_record_if_absent(kind, key, value).await
    }
    async fn replace_record(&self, kind: &str, key: &str, expected: &str, value: &str) -> Result<bool, StoreError> {
        self.inner.replace_record(kind, key, expected, value).await
    }
    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.get_record(kind, key).await
    }
    async fn list_records(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.list_records(kind).await
    }
    async fn delete_record(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        self.inner.delete_record(kind, key).await
    }
}

/// A handler that loses races to real rival commits loads again and re-applies after
/// jittered pauses whose ceilings grow ([`crate::backoff::CONFLICT`]); a throttled commit
/// backs off longer and gives up after [`crate::backoff::THROTTLED`]'s retries; a refused one is never
/// tried again.
pub async fn lost_races_and_throttling_back_off<S: StateStore>(store: S) -> Checked {
    let store = Racing::new(store, "p").await?;
    let rivals: Vec<Event> = (1..=3).map(|i| start(&format!("rival{i}"))).collect();
    store.rivals.lock().map_err(|_| "poisoned")?.extend(rivals);
    let handled = service::handle(&store, &store.cache, "p", &start("e1"), NOW, &[]).await?;
    assert!(matches!(handled, Handled::Applied { .. }), "{handled:?}");
    let conflict: Vec<_> = (0..3).map(|retry| crate::backoff::CONFLICT.ceiling(retry)).collect();
    assert_eq!(store.pauses(), conflict, "one growing pause per lost race");
    for id in ["rival1", "rival2", "rival3", "e1"] {
        assert!(store.get_execution(id).await?.is_some(), "{id} was committed");
    }

    let throttled = || StoreError::Throttled("slow down".into());
    let retries = crate::backoff::THROTTLED.retries;
    store.faults.lock().map_err(|_| "poisoned")?.extend((0..=retries).map(|_| throttled()));
    let given_up = service::handle(&store, &store.cache, "p", &start("e2"), NOW, &[]).await;
    assert!(matches!(given_up, Err(service::ServiceError::Store(StoreError::Throttled(_)))), "{given_up:?}");
    let backed_off: Vec<_> = (0..retries).map(|retry| crate::backoff::THROTTLED.ceiling(retry)).collect();
    assert_eq!(store.pauses()[3..], backed_off[..], "throttling waits longer, then gives up");
    assert!(store.get_execution("e2").await?.is_none(), "nothing of a throttled commit is written");

    store.faults.lock().map_err(|_| "poisoned")?.push_back(StoreError::Refused("item too large".into()));
    let refused = service::handle(&store, &store.cache, "p", &start("e3"), NOW, &[]).await;
    assert!(matches!(refused, Err(service::ServiceError::Store(StoreError::Refused(_)))), "{refused:?}");
    assert_eq!(store.pauses().len(), 3 + retries as usize, "a refused commit is not tried again");
    Ok(())
}

/// A pipeline deleted and created again between every load and the read of its declaration
/// never lets an event be decided: after the ordinary rounds (a cold cache, an update), each
/// further one counts as a lost race, with its pause, until the handler gives up. Nothing is
/// written, one by one or together, and the pipeline still takes events once it settles.
pub async fn a_pipeline_recreated_under_every_load_gives_up<S: StateStore>(store: S) -> Checked {
    let store = Racing::new(store, "p").await?;
    store.recreating.store(true, std::sync::atomic::Ordering::Relaxed);
    let given_up = service::handle(&store, &store.cache, "p", &start("e1"), NOW, &[]).await;
    let retries = crate::backoff::CONFLICT.retries;
    assert!(
        matches!(given_up, Err(service::ServiceError::TooManyConflicts(n)) if n == retries as usize),
        "{given_up:?}"
    );
    let backed_off: Vec<_> = (0..retries).map(|retry| crate::backoff::CONFLICT.ceiling(retry)).collect();
    assert_eq!(store.pauses(), backed_off, "each round past the ordinary ones pauses like a lost race");
    assert!(store.get_execution("e1").await?.is_none(), "nothing is written");

    let results = vec![(source_done("e1"), Vec::new()), (action_done("e1", "Build", "Make"), Vec::new())];
    let together = service::handle_together(&store, &store.cache, "p", &results, NOW).await;
    assert!(matches!(together, Err(service::ServiceError::TooManyConflicts(_))), "{together:?}");
    assert_eq!(store.pauses()[retries as usize..], backed_off[..], "together, the same rounds");

    store.recreating.store(false, std::sync::atomic::Ordering::Relaxed);
    let handled = service::handle(&store, &store.cache, "p", &start("e1"), NOW, &[]).await?;
    assert!(matches!(handled, Handled::Applied { .. }), "{handled:?}");
    Ok(())
}

/// One `#[tokio::test]` per contract check, for a store made by `$make` (an async block or
/// function returning the store).
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        mod store_contract {
            #[allow(unused_imports)]
            use super::*;
            use $crate::contract;

            #[tokio::test]
            async fn declarations_are_versioned() -> contract::Checked {
                contract::declarations_are_versioned($make.await).await
            }
            #[tokio::test]
            async fn a_view_holds_the_executions_the_state_shows_and_when_the_pipeline_was_created() -> contract::Checked {
                contract::a_view_holds_the_executions_the_state_shows_and_when_the_pipeline_was_created($make.await).await
            }
            #[tokio::test]
            async fn handled_events_are_stored() -> contract::Checked {
                contract::handled_events_are_stored($make.await).await
            }
            #[tokio::test]
            async fn a_stale_state_version_conflicts_and_writes_nothing() -> contract::Checked {
                contract::a_stale_state_version_conflicts_and_writes_nothing($make.await).await
            }
            #[tokio::test]
            async fn an_unchanged_state_is_still_a_condition() -> contract::Checked {
                contract::an_unchanged_state_is_still_a_condition($make.await).await
            }
            #[tokio::test]
            async fn a_stale_execution_version_conflicts() -> contract::Checked {
                contract::a_stale_execution_version_conflicts($make.await).await
            }
            #[tokio::test]
            async fn a_new_execution_must_not_exist() -> contract::Checked {
                contract::a_new_execution_must_not_exist($make.await).await
            }
            #[tokio::test]
            async fn reapplying_an_event_changes_nothing() -> contract::Checked {
                contract::reapplying_an_event_changes_nothing($make.await).await
            }
            #[tokio::test]
            async fn a_small_change_writes_little_and_loads_return_what_was_committed() -> contract::Checked {
                contract::a_small_change_writes_little_and_loads_return_what_was_committed($make.await).await
            }
            #[tokio::test]
            async fn executions_are_listed_newest_first_in_pages() -> contract::Checked {
                contract::executions_are_listed_newest_first_in_pages($make.await).await
            }
            #[tokio::test]
            async fn a_pipeline_update_loads_every_active_execution() -> contract::Checked {
                contract::a_pipeline_update_loads_every_active_execution($make.await).await
            }
            #[tokio::test]
            async fn outbox_entries_are_claimed_by_one_owner() -> contract::Checked {
                contract::outbox_entries_are_claimed_by_one_owner($make.await).await
            }
            #[tokio::test]
            async fn records_are_written_once_and_listed_by_key() -> contract::Checked {
                contract::records_are_written_once_and_listed_by_key($make.await).await
            }
            #[tokio::test]
            async fn records_are_replaced_only_from_the_value_read() -> contract::Checked {
                contract::records_are_replaced_only_from_the_value_read($make.await).await
            }
            #[tokio::test]
            async fn dispatched_jobs_can_be_found_by_id() -> contract::Checked {
                contract::dispatched_jobs_can_be_found_by_id($make.await).await
            }
            #[tokio::test]
            async fn lost_races_and_throttling_back_off() -> contract::Checked {
                contract::lost_races_and_throttling_back_off($make.await).await
            }
            #[tokio::test]
            async fn a_pipeline_recreated_under_every_load_gives_up() -> contract::Checked {
                contract::a_pipeline_recreated_under_every_load_gives_up($make.await).await
            }
        }
    };
}
