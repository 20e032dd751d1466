//! The ports: what the core needs from the world outside, as traits. The local adapters
//! (SQLite, directories) and the AWS adapters (DynamoDB, S3, SNS, EventBridge) implement the
//! same traits, and [`crate::service`] drives either.
//!
//! The methods are `async` so that network adapters fit; the core itself never awaits
//! anything but these calls.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::declaration::PipelineDeclaration;
use crate::engine::{ArtifactLocation, Effect, Event, Execution, PipelineState};
use crate::time::Timestamp;
use crate::unpacked::Unpacked;

/// A value and the store version it was read at; a write back is conditional on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// A declaration as stored: every version is kept, executions pin theirs.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPipeline {
    pub declaration: PipelineDeclaration,
    pub version: u32,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// Where a job belongs: what a job worker's result (PutJobSuccessResult…) is applied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLocation {
    pub pipeline: String,
    pub execution_id: String,
}

/// What `put_pipeline` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOutcome {
    /// The version now current.
    pub version: u32,
    pub created: bool,
    /// False when the declaration was already the current one.
    pub changed: bool,
}

/// What a handler loads for one event: the pipeline state and the executions
/// [`crate::engine::executions_needed`] names.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The pipeline's current declaration version (the state may still be laid out for an
    /// older one, until a `PipelineUpdated` is applied).
    pub declaration_version: u32,
    /// When the pipeline was created: tells it from an earlier pipeline of the same name,
    /// deleted, whose versions were numbered from 1 too.
    pub created: Timestamp,
    pub state: Versioned<PipelineState>,
    pub executions: BTreeMap<String, Versioned<Execution>>,
}

/// One atomic write: all of it happens, or none (a conflict).
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub pipeline: String,
    /// The pipeline state's version at load; the commit fails if it moved when the state is
    /// written, or when the change was decided on it (`state_relied_on`).
    pub expected_state_version: u64,
    /// The new pipeline state, when it changed.
    pub state: Option<PipelineState>,
    /// Whether the change was decided on the pipeline state (a stage lock, a transition, an
    /// execution waiting at a boundary): then the commit fails if the state moved, even when
    /// it does not write the state. A change that neither writes nor relied on the state (a
    /// job's result inside its stage, `engine::relies_on_state`) may commit over a state that
    /// moved, so that it costs no write of the pipeline's head item on DynamoDB.
    pub state_relied_on: bool,
    /// Executions to write, each with the version it was read at (`None`: it must be new).
    pub executions: Vec<(Execution, Option<u64>)>,
    /// Effects to carry out, recorded with the state so that none is lost to a crash.
    pub effects: Vec<Effect>,
    /// Outbox entries this change completes (the dispatch whose result this is).
    pub completed_effects: Vec<String>,
}

/// An effect waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: String,
    pub pipeline: String,
    pub execution_id: String,
    pub effect: Effect,
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_token: Option<String>,
}

/// Why a store call failed, and so whether it is worth another try: `Conflict` (reload and
/// apply again), `Unavailable` and `Throttled` are transient; `Corrupt` and `Refused` are permanent, since
/// a retry would read or write exactly the same thing, so they are never retried and surface
/// as a failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found a newer version: reload and apply again.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The next-page token is not one this store gave out.
    #[error("invalid next token")]
    InvalidNextToken,
    /// Transient: the store could not be reached, or did not answer in time (busy, throttled,
    /// a network or service error).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Transient: the store asks its callers to slow down (DynamoDB throttling that outlasted
    /// the SDK's own retries). Back off before another try ([`crate::backoff::THROTTLED`]).
    #[error("store throttled: {0}")]
    Throttled(String),
    /// Permanent: what the store holds cannot be read (corrupt JSON, a missing or mistyped
    /// field, a damaged database) or breaks an invariant of the store.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Permanent: the store refuses the request as it is (over one of its limits, a change
    /// that breaks the port's contract).
    #[error("the store refuses the change: {0}")]
    Refused(String),
}

impl StoreError {
    /// Corrupt or Refused: the same call fails again, so it must not be retried.
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Corrupt(_) | StoreError::Refused(_))
    }
}

/// What a decision over a [`Snapshot`] writes, if anything, and what it tells its caller
/// ([`StateStore::update`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<T> {
    pub changes: Option<Changes>,
    pub outcome: T,
}

/// [`StateStore::update`] as the port has it: a load, the decision, and a commit of what it
/// writes, which fails with `Conflict` when another writer committed after the load.
pub async fn load_decide_commit<S: StateStore + ?Sized, T>(
    store: &S,
    pipeline: &str,
    event: &Event,
    decide: impl FnOnce(Snapshot) -> Decision<T>,
) -> Result<T, StoreError> {
    let Decision { changes, outcome } = decide(store.load(pipeline, event).await?);
    if let Some(changes) = changes {
        store.commit(changes).await?;
    }
    Ok(outcome)
}

/// Pipeline declarations, state, executions and the effect outbox.
pub trait StateStore: Send + Sync {
    /// Stores `declaration` as the pipeline's current version: version 1 for a new pipeline,
    /// one more when it differs from the current one, unchanged otherwise. A new pipeline
    /// also gets its initial state.
    fn put_pipeline(
        &self,
        declaration: &PipelineDeclaration,
        now: Timestamp,
    ) -> impl Future<Output = Result<PutOutcome, StoreError>> + Send;

    /// The current version, or the given one.
    fn get_pipeline(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> impl Future<Output = Result<Option<StoredPipeline>, StoreError>> + Send;

    /// Every pipeline's current version, by name.
    fn list_pipelines(&self) -> impl Future<Output = Result<Vec<StoredPipeline>, StoreError>> + Send;

    /// Removes the pipeline, its versions, state, executions and outbox.
    fn delete_pipeline(&self, name: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The pipeline state and the executions `event` needs; `NotFound` for an unknown pipeline.
    fn load(&self, pipeline: &str, event: &Event) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;

    /// The pipeline state and the executions GetPipelineState shows
    /// ([`crate::engine::executions_shown`]), read together; `NotFound` for an unknown pipeline.
    fn load_view(&self, pipeline: &str) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;

    /// Writes `changes` atomically, or fails with `Conflict` and writes nothing.
    fn commit(&self, changes: Changes) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Loads what `event` needs, lets `decide` (pure and quick) choose what to write, and
    /// commits it: the outcome `decide` gave. A `Conflict` (another writer committed after the
    /// load) goes back to the caller, which decides again on a fresh load. A store may order
    /// its own writers here: the local store gives `serve`'s task workers turns per pipeline,
    /// so that they do not load the same state and lose the race to each other; DynamoDB keeps
    /// this default (its writers are Lambda invocations in many processes, which race and
    /// retry).
    fn update<T: Send>(
        &self,
        pipeline: &str,
        event: &Event,
        decide: impl FnOnce(Snapshot) -> Decision<T> + Send,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        load_decide_commit(self, pipeline, event, decide)
    }

    /// Waits a random time below `ceiling` ([`crate::backoff::jittered`] over the adapter's
    /// own random bits) before its caller tries again after a conflict or throttling.
    fn pause(&self, ceiling: Duration) -> impl Future<Output = ()> + Send;

    fn get_execution(&self, id: &str) -> impl Future<Output = Result<Option<Versioned<Execution>>, StoreError>> + Send;

    /// A pipeline's executions, newest first.
    fn list_executions(
        &self,
        pipeline: &str,
        limit: usize,
        next_token: Option<&str>,
    ) -> impl Future<Output = Result<Page<Execution>, StoreError>> + Send;

    /// Whether `commit` keeps `effect` in the outbox for a worker or relay to carry out. Every
    /// effect is kept but a deadline (`WakeAt`) where something else serves deadlines: the
    /// local store's workers schedule their wake-ups from the outbox, while on DynamoDB the
    /// tick finds deadlines through each execution's `deadlines` entry, and an outbox entry for
    /// one would be written and deleted for nothing.
    fn keeps_effect(&self, effect: &Effect) -> bool;

    /// Claims for `owner` the outbox entries of an execution that nobody holds, oldest first.
    fn claim_effects(
        &self,
        execution_id: &str,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, StoreError>> + Send;

    /// Removes finished entries of an execution from the outbox.
    fn complete_effects(
        &self,
        execution_id: &str,
        ids: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives back every entry of an execution that `owner` holds (its worker is gone).
    fn release_effects(&self, execution_id: &str, owner: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The execution job `job_id` belongs to. `commit` records it, in the same atomic write,
    /// for every `Dispatch` effect it writes; it is kept as long as the execution.
    fn find_job(&self, job_id: &str) -> impl Future<Output = Result<Option<JobLocation>, StoreError>> + Send;

    /// Small records beside the pipelines (custom action types, job acknowledgements):
    /// writes `value` at (`kind`, `key`) unless a record is there. True when it wrote.
    fn put_record_if_absent(
        &self,
        kind: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces the record at (`kind`, `key`) with `value` only while it still holds
    /// `expected` (a compare-and-swap): false, and nothing written, when it holds anything else
    /// or is gone. Read, change, replace, and read again on false: no update is lost.
    fn replace_record(
        &self,
        kind: &str,
        key: &str,
        expected: &str,
        value: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn get_record(&self, kind: &str, key: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Every record of `kind`, by key.
    fn list_records(&self, kind: &str) -> impl Future<Output = Result<Vec<(String, String)>, StoreError>> + Send;

    fn delete_record(&self, kind: &str, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The bytes of stored values this store has written since it was opened (what one event
    /// costs is the difference over its commit), when the store counts them.
    fn bytes_written(&self) -> Option<u64> {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact {0} does not exist")]
    Missing(String),
    #[error("artifact location {0} is not acceptable")]
    BadLocation(String),
    #[error("invalid file pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
    /// The artifact store refuses to work (e.g. an unversioned bucket).
    #[error("{0}")]
    Refused(String),
    #[error("artifact store: {0}")]
    Unavailable(String),
}

/// Where artifacts live: zip objects addressed by bucket and key (S3, or a directory).
pub trait ArtifactStore: Send + Sync {
    /// Extracts the artifact at `location` into `directory`, saying what it put there.
    fn unpack(
        &self,
        location: &ArtifactLocation,
        directory: &Path,
    ) -> impl Future<Output = Result<Unpacked, ArtifactError>> + Send;

    /// Zips the files of `directory` that match `patterns` (every file when empty), leaving out
    /// `.git` and `exclude`, and stores the zip at `location`. Returns how many files it holds.
    fn pack(
        &self,
        location: &ArtifactLocation,
        directory: &Path,
        patterns: &[String],
        exclude: &[PathBuf],
    ) -> impl Future<Output = Result<usize, ArtifactError>> + Send;

    /// Zips `entries` (a file's path, its name in the zip) and stores the zip at `location`:
    /// an action's output artifact. Links stay links when `symlinks`, else what they point at
    /// is zipped. The zip is written where the store keeps it, never in the action's
    /// workspace, so that nothing the action left running can reach it. When the entries are
    /// one of the action's `inputs` unchanged, a store may keep that input's object as the
    /// output instead ([`crate::unpacked`]).
    fn pack_files(
        &self,
        location: &ArtifactLocation,
        entries: &[(PathBuf, String)],
        symlinks: bool,
        inputs: &[Unpacked],
    ) -> impl Future<Output = Result<(), ArtifactError>> + Send;

    /// Stores an existing zip file at `location`.
    fn put_zip(
        &self,
        location: &ArtifactLocation,
        zip: &Path,
    ) -> impl Future<Output = Result<(), ArtifactError>> + Send;
}
