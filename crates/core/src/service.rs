//! The stage-transition handler, over any [`StateStore`]: load what an event needs, `apply`
//! it, commit the result with its effects, and on a conflict load again and re-apply. The
//! local bus and the Lambda functions run this same code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::backoff;
use crate::engine::{self, Effect, Event, Execution, PipelineUpdated, Rejection, Stale, Step, World};
use crate::pipeline::{Environment, Pipeline};
use crate::ports::{Changes, Decision, Snapshot, StateStore, StoreError};
use crate::queries::{self, PipelineStateView};
use crate::time::Timestamp;
use crate::validate::Report;

/// An execution a start (a source event, a webhook delivery) started, or found started by
/// an earlier delivery of the same start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    pub pipeline: String,
    pub execution_id: String,
    /// False when the execution existed already (a duplicate or a redelivery).
    pub new: bool,
}

/// What handling an event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Committed; these effects are in the outbox.
    Applied { effects: Vec<Effect> },
    /// Late or duplicate: nothing changed (completed effects were still removed).
    Stale(Stale),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServiceError {
    #[error("pipeline {0} does not exist")]
    PipelineNotFound(String),
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Store(StoreError),
    /// A stored declaration no longer passes validation (it was stored by another version).
    #[error("stored declaration of {name} version {version} is invalid: {report}")]
    InvalidDeclaration { name: String, version: u32, report: Report },
    #[error("gave up after {0} conflicting writes")]
    TooManyConflicts(usize),
}

/// Validated declarations by (name, version): compiling one is the costliest step of a
/// handler, and a version never changes once stored. A name deleted and created again starts
/// over at version 1, so an entry also holds the creation time of the pipeline it was read
/// from, and a caller that knows the current one ([`PipelineCache::at`], or a read of the
/// current version) never gets the earlier pipeline's declaration.
pub struct PipelineCache {
    environment: Environment,
    compiled: Mutex<HashMap<(String, u32), Compiled>>,
}

/// A compiled declaration and what GetPipelineState shows of its version.
#[derive(Clone)]
pub struct Compiled {
    /// Its `created` tells this pipeline of the name from an earlier one deleted.
    pub pipeline: Arc<Pipeline>,
    /// When this version was stored.
    pub updated: Timestamp,
}

impl PipelineCache {
    pub fn new(environment: Environment) -> PipelineCache {
        PipelineCache { environment, compiled: Mutex::new(HashMap::new()) }
    }

    /// The pipeline `name` at its current version: the store says which version that is, and
    /// each version is compiled once.
    pub async fn current<S: StateStore>(&self, store: &S, name: &str) -> Result<Arc<Pipeline>, ServiceError> {
        Ok(self.read(store, name, None).await?.pipeline)
    }

    /// The declaration `execution` runs with: its pinned version, of the pipeline it belongs
    /// to. An entry of an earlier pipeline of the same name (deleted in another process) is
    /// read again; only an execution stored before it recorded its pipeline's creation time
    /// is looked up by version alone.
    pub async fn pinned<S: StateStore>(&self, store: &S, execution: &Execution) -> Result<Arc<Pipeline>, ServiceError> {
        let (name, version) = (&execution.pipeline_name, execution.pipeline_version);
        match execution.pipeline_created {
            Some(created) => Ok(self.at(store, name, version, created).await?.pipeline),
            None => self.by_version(store, name, version).await,
        }
    }

    /// The pipeline `name` at `version`, trusting an entry of that version whichever pipeline
    /// of the name it was read from. Only for a caller that holds no execution and would pay a
    /// read per job to get one: a deploy step's regional artifact store on AWS. An entry of a
    /// pipeline deleted in another process stays there until a read of the new pipeline in
    /// this process replaces it.
    pub async fn by_version<S: StateStore>(
        &self,
        store: &S,
        name: &str,
        version: u32,
    ) -> Result<Arc<Pipeline>, ServiceError> {
        match self.cached(name, version, None) {
            Some(found) => Ok(found.pipeline),
            None => Ok(self.read(store, name, Some(version)).await?.pipeline),
        }
    }

    /// The pipeline `name` at `version`, of the pipeline created at `created` (a snapshot's):
    /// an entry of an earlier pipeline of the same name is read again.
    pub async fn at<S: StateStore>(
        &self,
        store: &S,
        name: &str,
        version: u32,
        created: Timestamp,
    ) -> Result<Compiled, ServiceError> {
        if let Some(found) = self.cached(name, version, Some(created)) {
            return Ok(found);
        }
        self.read(store, name, Some(version)).await
    }

    /// Forgets every version of `name` (it was deleted).
    pub fn forget(&self, name: &str) {
        self.lock().retain(|(cached, _), _| cached != name);
    }

    /// The entry of `name` at `version`, if it is of the pipeline created at `created` (any
    /// pipeline of the name when `None`). Never reads the store: a decision looks up here.
    fn cached(&self, name: &str, version: u32, created: Option<Timestamp>) -> Option<Compiled> {
        let found = self.lock().get(&(name.to_string(), version)).cloned()?;
        created.is_none_or(|created| Some(created) == found.pipeline.created).then_some(found)
    }

    /// Reads `name` at `version` (its current one if none) from the store, and compiles it
    /// unless the entry of that version is of the same pipeline.
    async fn read<S: StateStore>(&self, store: &S, name: &str, version: Option<u32>) -> Result<Compiled, ServiceError> {
        let stored = store
            .get_pipeline(name, version)
            .await
            .map_err(ServiceError::Store)?
            .ok_or_else(|| ServiceError::PipelineNotFound(name.to_string()))?;
        let version = stored.version;
        if let Some(found) = self.cached(name, version, Some(stored.created)) {
            return Ok(found);
        }
        let mut declaration = stored.declaration;
        declaration.version = Some(i64::from(version));
        let mut pipeline = Pipeline::compile(declaration, self.environment.clone())
            .map_err(|report| ServiceError::InvalidDeclaration { name: name.to_string(), version, report })?;
        pipeline.created = Some(stored.created);
        let compiled = Compiled { pipeline: Arc::new(pipeline), updated: stored.updated };
        self.lock().insert((name.to_string(), version), compiled.clone());
        Ok(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Compiled>> {
        // A panic while holding the lock cannot leave the map half-written: recover it.
        self.compiled.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A store error of pipeline `name`, with an unknown pipeline as the service says it.
fn of_pipeline(name: &str, error: StoreError) -> ServiceError {
    match error {
        StoreError::NotFound(_) => ServiceError::PipelineNotFound(name.to_string()),
        error => ServiceError::Store(error),
    }
}

/// The state of pipeline `name` and the executions GetPipelineState shows, read together.
pub async fn view<S: StateStore>(store: &S, name: &str) -> Result<Snapshot, ServiceError> {
    store.load_view(name).await.map_err(|error| of_pipeline(name, error))
}

/// GetPipelineState of `name`: the state with the executions it shows, read together, and the
/// declaration of the version the state is laid out for (not read again once compiled).
pub async fn pipeline_state<S: StateStore>(
    store: &S,
    cache: &PipelineCache,
    name: &str,
) -> Result<PipelineStateView, ServiceError> {
    let snapshot = view(store, name).await?;
    let state = snapshot.state.value;
    let compiled = cache.at(store, name, state.version, snapshot.created).await?;
    let executions = snapshot.executions.into_iter().map(|(id, versioned)| (id, versioned.value)).collect();
    // The pipeline the state belongs to: `at` answered with the declaration of that one.
    Ok(queries::pipeline_state(&compiled.pipeline, snapshot.created, compiled.updated, &state, &executions))
}

/// Applies `event` to pipeline `name` and commits it; `completed` names outbox entries that
/// this event finishes (removed in the same commit, or on their own if the event is stale).
///
/// A lost race (`Conflict`) is loaded again and re-applied, and throttling is tried again,
/// each after a jittered backoff ([`backoff`]); anything else goes back to the caller at once.
/// A declaration read, or the state brought up to a newer one, before deciding is free twice
/// (a cold cache, then an update); past that the pipeline is changing under the event, and each
/// further round counts as a lost race, so that the tries end ([`Tries::reread`]).
pub async fn handle<S: StateStore>(
    store: &S,
    cache: &PipelineCache,
    name: &str,
    event: &Event,
    now: Timestamp,
    completed: &[String],
) -> Result<Handled, ServiceError> {
    let mut tries = Tries::default();
    loop {
        let pause = match attempt(store, cache, name, event, now, completed).await {
            Ok(Decided::Done(handled)) => return Ok(handled),
            Ok(Decided::Missing { version, created }) => {
                cache.at(store, name, version, created).await?;
                tries.reread()?
            }
            Ok(Decided::UpdateFirst { version }) => {
                let update = Event::PipelineUpdated(PipelineUpdated { version });
                Box::pin(handle(store, cache, name, &update, now, &[])).await?;
                tries.reread()?
            }
            Err(ServiceError::Store(error)) => Some(tries.failed(error)?),
            Err(error) => return Err(error),
        };
        if let Some(pause) = pause {
            store.pause(pause).await;
        }
    }
}

/// The rounds a read of the declarations needs in the ordinary course: the current version
/// not yet cached, then the state brought up to it.
const FREE_REREADS: u32 = 2;

/// What the tries of one event have used of each retry policy.
#[derive(Default)]
struct Tries {
    conflicts: u32,
    throttles: u32,
    rereads: u32,
}

impl Tries {
    /// After a try that failed with `error`: how long to pause before the next, counting it
    /// against its policy's retries, or the error to give up with (anything but a lost race
    /// or throttling, or a policy's retries used up).
    fn failed(&mut self, error: StoreError) -> Result<std::time::Duration, ServiceError> {
        match error {
            StoreError::Conflict(_) => self.lost_race(),
            StoreError::Throttled(_) => {
                Self::count(backoff::THROTTLED, &mut self.throttles).ok_or(ServiceError::Store(error))
            }
            other => Err(ServiceError::Store(other)),
        }
    }

    /// After a try that had to read a declaration or update the state before it could decide:
    /// no pause for the first [`FREE_REREADS`]; after those the pipeline was deleted, created
    /// or updated again between the load and the read, a race lost like a conflict.
    fn reread(&mut self) -> Result<Option<std::time::Duration>, ServiceError> {
        self.rereads += 1;
        if self.rereads <= FREE_REREADS {
            return Ok(None);
        }
        self.lost_race().map(Some)
    }

    /// A lost race: the pause before the next try, or `TooManyConflicts` once they are used up.
    fn lost_race(&mut self) -> Result<std::time::Duration, ServiceError> {
        Self::count(backoff::CONFLICT, &mut self.conflicts)
            .ok_or(ServiceError::TooManyConflicts(backoff::CONFLICT.retries as usize))
    }

    /// One more try of `policy`, counted in `retries`: its pause, or `None` when none is left.
    fn count(policy: backoff::Policy, retries: &mut u32) -> Option<std::time::Duration> {
        if *retries >= policy.retries {
            return None;
        }
        let pause = policy.ceiling(*retries);
        *retries += 1;
        Some(pause)
    }
}

/// What [`handle_together`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Together {
    /// Committed in one write; these effects are in the outbox.
    Applied { effects: Vec<Effect> },
    /// Nothing written: the events are not all job results of one execution, or one of them
    /// is refused or stale, or the state must first be brought up to a newer declaration, or
    /// an event needs an execution the load did not read. Handle each with [`handle`].
    OneByOne,
}

/// Applies job results of one execution that arrived together (a local worker's actions
/// ending side by side) in one load and one commit: the same state, effects and outbox as
/// [`handle`] on each in order, in one write instead of one per result
/// (docs/benchmarks.md, "stop 24"). Each event comes with the outbox entries it completes.
/// Anything [`handle`] would do differently from plain application is left to it
/// ([`Together::OneByOne`]); a lost race loads and applies them all again.
pub async fn handle_together<S: StateStore>(
    store: &S,
    cache: &PipelineCache,
    name: &str,
    events: &[(Event, Vec<String>)],
    now: Timestamp,
) -> Result<Together, ServiceError> {
    let Some((first, _)) = events.first() else { return Ok(Together::Applied { effects: Vec::new() }) };
    let execution = first.execution_id();
    let joinable = |event: &Event| {
        matches!(event, Event::ActionSucceeded(_) | Event::ActionFailed(_)) && event.execution_id() == execution
    };
    if !events.iter().all(|(event, _)| joinable(event)) {
        return Ok(Together::OneByOne);
    }
    let mut tries = Tries::default();
    loop {
        let pause = match attempt_together(store, cache, name, first, events, now).await {
            Ok(Decided::Done(together)) => return Ok(together),
            Ok(Decided::UpdateFirst { .. }) => return Ok(Together::OneByOne),
            Ok(Decided::Missing { version, created }) => {
                cache.at(store, name, version, created).await?;
                tries.reread()?
            }
            Err(ServiceError::Store(error)) => Some(tries.failed(error)?),
            Err(error) => return Err(error),
        };
        if let Some(pause) = pause {
            store.pause(pause).await;
        }
    }
}

/// What a decision over a snapshot came to: done, with what its caller is told, or what must
/// happen before it can be made.
enum Decided<T> {
    Done(T),
    /// The snapshot needs a declaration version the cache lacks: read and compile it, then
    /// decide again.
    Missing {
        version: u32,
        created: Timestamp,
    },
    /// The state is laid out for an older declaration: apply `PipelineUpdated` to `version`
    /// first, then decide again.
    UpdateFirst {
        version: u32,
    },
}

/// A decision that writes nothing.
fn nothing<T>(outcome: T) -> Decision<T> {
    Decision { changes: None, outcome }
}

/// The outcome of a decision over the store's snapshot, as the service goes on with it.
type Outcome<T> = Result<Decided<T>, ServiceError>;

/// One load (for `first`, the first of `events`), the events applied in order, one commit.
async fn attempt_together<S: StateStore>(
    store: &S,
    cache: &PipelineCache,
    name: &str,
    first: &Event,
    events: &[(Event, Vec<String>)],
    now: Timestamp,
) -> Outcome<Together> {
    store
        .update(name, first, |snapshot| decide_together(cache, name, snapshot, first, events, now))
        .await
        .map_err(|error| of_pipeline(name, error))?
}

/// [`handle_together`]'s decision over `snapshot`, loaded for `first`, the first of `events`.
fn decide_together(
    cache: &PipelineCache,
    name: &str,
    snapshot: Snapshot,
    first: &Event,
    events: &[(Event, Vec<String>)],
    now: Timestamp,
) -> Decision<Outcome<Together>> {
    let Some(compiled) = cache.cached(name, snapshot.declaration_version, Some(snapshot.created)) else {
        return nothing(Ok(Decided::Missing { version: snapshot.declaration_version, created: snapshot.created }));
    };
    let pipeline = compiled.pipeline;
    if snapshot.state.value.version != pipeline.version {
        return nothing(Ok(Decided::Done(Together::OneByOne)));
    }
    // What the load read (or found absent): every later event must need no more.
    let loaded = engine::executions_needed(&snapshot.state.value, first).executions;
    let versions: HashMap<String, u64> = snapshot.executions.iter().map(|(id, v)| (id.clone(), v.version)).collect();
    let mut world = World {
        pipeline: snapshot.state.value,
        executions: snapshot.executions.into_iter().map(|(id, v)| (id, v.value)).collect(),
    };
    let (mut pipeline_changed, mut state_relied_on) = (false, false);
    let (mut changed, mut effects, mut completed): (Vec<String>, Vec<Effect>, Vec<String>) = Default::default();
    for (event, done) in events {
        if !engine::executions_needed(&world.pipeline, event).executions.is_subset(&loaded) {
            return nothing(Ok(Decided::Done(Together::OneByOne)));
        }
        let Ok(Step::Applied(applied)) = engine::apply(&pipeline, world, event, now) else {
            return nothing(Ok(Decided::Done(Together::OneByOne)));
        };
        pipeline_changed |= applied.pipeline_changed;
        state_relied_on |= engine::relies_on_state(event, applied.pipeline_changed);
        for id in applied.changed_executions {
            if !changed.contains(&id) {
                changed.push(id);
            }
        }
        effects.extend(applied.effects);
        completed.extend(done.iter().cloned());
        world = applied.world;
    }
    let executions =
        changed.iter().filter_map(|id| world.executions.remove(id).map(|e| (e, versions.get(id).copied()))).collect();
    let changes = Changes {
        pipeline: name.to_string(),
        expected_state_version: snapshot.state.version,
        state_relied_on,
        state: pipeline_changed.then_some(world.pipeline),
        executions,
        effects: effects.clone(),
        completed_effects: completed,
    };
    Decision { changes: Some(changes), outcome: Ok(Decided::Done(Together::Applied { effects })) }
}

/// One load, apply and commit ([`StateStore::update`]); the completed entries of a stale
/// event are removed on their own.
async fn attempt<S: StateStore>(
    store: &S,
    cache: &PipelineCache,
    name: &str,
    event: &Event,
    now: Timestamp,
    completed: &[String],
) -> Outcome<Handled> {
    let decided = store
        .update(name, event, |snapshot| decide(cache, name, snapshot, event, now, completed))
        .await
        .map_err(|error| of_pipeline(name, error))??;
    if matches!(decided, Decided::Done(Handled::Stale(_))) && !completed.is_empty() {
        let execution_id = event.execution_id().unwrap_or_default();
        store.complete_effects(execution_id, completed).await.map_err(ServiceError::Store)?;
    }
    Ok(decided)
}

/// [`handle`]'s decision over `snapshot`: `event` applied to it, committed with the outbox
/// entries it `completed`; nothing written when the event is refused or stale (the caller
/// decides what becomes of its completed entries then: it reports a refused success as a
/// failure, and removes them when stale).
fn decide(
    cache: &PipelineCache,
    name: &str,
    snapshot: Snapshot,
    event: &Event,
    now: Timestamp,
    completed: &[String],
) -> Decision<Outcome<Handled>> {
    let Snapshot { declaration_version, created, state, executions } = snapshot;
    // The version the load read with the state: cached on every event but the first.
    let Some(current) = cache.cached(name, declaration_version, Some(created)) else {
        return nothing(Ok(Decided::Missing { version: declaration_version, created }));
    };
    let current = current.pipeline;
    let updating = matches!(event, Event::PipelineUpdated(_));
    if state.value.version < current.version && !updating {
        return nothing(Ok(Decided::UpdateFirst { version: current.version }));
    }
    let pipeline = if state.value.version == current.version || updating {
        current
    } else {
        match cache.cached(name, state.value.version, Some(created)) {
            Some(compiled) => compiled.pipeline,
            None => return nothing(Ok(Decided::Missing { version: state.value.version, created })),
        }
    };
    let versions: HashMap<String, u64> = executions.iter().map(|(id, v)| (id.clone(), v.version)).collect();
    let world =
        World { pipeline: state.value, executions: executions.into_iter().map(|(id, v)| (id, v.value)).collect() };
    let applied = match engine::apply(&pipeline, world, event, now) {
        Ok(Step::Applied(applied)) => applied,
        Ok(Step::Stale(stale)) => return nothing(Ok(Decided::Done(Handled::Stale(stale)))),
        Err(rejection) => return nothing(Err(rejection.into())),
    };
    let mut world = applied.world;
    let executions = applied
        .changed_executions
        .iter()
        .filter_map(|id| world.executions.remove(id).map(|e| (e, versions.get(id).copied())))
        .collect();
    let changes = Changes {
        pipeline: name.to_string(),
        expected_state_version: state.version,
        state_relied_on: engine::relies_on_state(event, applied.pipeline_changed),
        state: applied.pipeline_changed.then_some(world.pipeline),
        executions,
        effects: applied.effects.clone(),
        completed_effects: completed.to_vec(),
    };
    // On a store that decides outside its write lock, a writer may commit first: the commit
    // then fails with `Conflict`, and [`handle`] loads its result and decides again.
    Decision { changes: Some(changes), outcome: Ok(Decided::Done(Handled::Applied { effects: applied.effects })) }
}

#[cfg(test)]
mod tests {
    //! The decision [`handle`] commits, over snapshots made here: no store.

    use super::*;
    use crate::engine::tests::harness::{Sim, three_stages};
    use crate::engine::{PipelineState, Stale};
    use crate::ports::Versioned;

    const CREATED: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    /// A compiled pipeline of `version`, and a cache that holds it when `cached`.
    fn compiled(version: u32, cached: bool) -> (Arc<Pipeline>, PipelineCache) {
        let mut pipeline = Sim::new(three_stages("QUEUED")).pipeline;
        (pipeline.version, pipeline.created) = (version, Some(CREATED));
        let pipeline = Arc::new(pipeline);
        let entries = PipelineCache::new(Environment::default());
        if cached {
            let compiled = Compiled { pipeline: pipeline.clone(), updated: CREATED };
            entries.lock().insert(("p".to_string(), version), compiled);
        }
        (pipeline, entries)
    }

    fn snapshot(declaration_version: u32, state: PipelineState, executions: Vec<(Execution, u64)>) -> Snapshot {
        Snapshot {
            declaration_version,
            created: CREATED,
            state: Versioned { value: state, version: 7 },
            executions: executions
                .into_iter()
                .map(|(e, version)| (e.id.clone(), Versioned { value: e, version }))
                .collect(),
        }
    }

    fn start(id: &str) -> Event {
        Sim::new(three_stages("QUEUED")).start_event(id)
    }

    /// The decision on starting execution "e1" over `loaded`, completing nothing.
    fn start_over(entries: &PipelineCache, loaded: Snapshot) -> Decision<Outcome<Handled>> {
        decide(entries, "p", loaded, &start("e1"), CREATED, &[])
    }

    #[test]
    fn a_start_is_decided_into_a_new_execution_its_effects_and_the_entries_it_completes() {
        let (pipeline, entries) = compiled(1, true);
        let loaded = snapshot(1, PipelineState::new(&pipeline), Vec::new());
        let done = vec!["entry".to_string()];
        let Decision { changes, outcome } = decide(&entries, "p", loaded, &start("e1"), CREATED, &done);
        let changes = changes.expect("a start writes");
        let Ok(Decided::Done(Handled::Applied { effects })) = outcome else { panic!("applied") };
        assert!(!effects.is_empty());
        assert_eq!(changes.effects, effects, "the effects the caller is told are the ones written");
        assert_eq!((changes.pipeline.as_str(), changes.expected_state_version), ("p", 7));
        assert_eq!(changes.completed_effects, done);
        let ids: Vec<_> = changes.executions.iter().map(|(e, expected)| (e.id.as_str(), *expected)).collect();
        assert_eq!(ids, [("e1", None)], "a new execution, which must not exist");
    }

    #[test]
    fn a_duplicate_start_writes_nothing() {
        let (pipeline, entries) = compiled(1, true);
        let first = start_over(&entries, snapshot(1, PipelineState::new(&pipeline), Vec::new()));
        let changes = first.changes.expect("the first start writes");
        let state = changes.state.unwrap_or_else(|| PipelineState::new(&pipeline));
        let executions = changes.executions.into_iter().map(|(e, _)| (e, 1)).collect();
        let again = start_over(&entries, snapshot(1, state, executions));
        assert_eq!(again.changes, None);
        assert!(matches!(again.outcome, Ok(Decided::Done(Handled::Stale(Stale::DuplicateStart)))));
    }

    #[test]
    fn a_declaration_the_cache_lacks_is_asked_for_and_nothing_is_written() {
        let (pipeline, entries) = compiled(3, false);
        let decision = start_over(&entries, snapshot(3, PipelineState::new(&pipeline), Vec::new()));
        assert_eq!(decision.changes, None);
        assert!(matches!(decision.outcome, Ok(Decided::Missing { version: 3, created: CREATED })));
    }

    #[test]
    fn a_state_laid_out_for_an_older_declaration_is_brought_up_to_date_first() {
        let (older, _) = compiled(1, false);
        let (_, entries) = compiled(2, true);
        let decision = start_over(&entries, snapshot(2, PipelineState::new(&older), Vec::new()));
        assert_eq!(decision.changes, None);
        assert!(matches!(decision.outcome, Ok(Decided::UpdateFirst { version: 2 })));
    }
}
