//! A worker's own commits claim the effects they record for its execution, in the same
//! transaction, and hand them back: the worker carries them out from the commit's answer
//! instead of claiming them in a write of its own afterwards. At a stage boundary that write
//! was most of the time between the commit ending a stage and the next stage's first
//! command (docs/benchmarks.md, "stop 41").
//!
//! A claim is the record that the worker started what it claimed ([`crate::recovery`]): the
//! worker carries out every entry handed back before it looks for anything else, so a crash
//! between the commit and the start of an action fails that action as interrupted, as a
//! crash between a claim and the start always did. Effects for other executions, and every
//! commit made outside [`claiming_own_effects`], are left unclaimed as before.

use std::sync::{Arc, Mutex, PoisonError};

use pipewright_core::engine::Effect;
use pipewright_core::ports::OutboxEntry;

tokio::task_local! {
    static CLAIMING: Claiming;
}

/// Whose commits are in scope, and what they claimed so far.
#[derive(Clone)]
pub(crate) struct Claiming {
    execution_id: String,
    owner: String,
    claimed: Arc<Mutex<Vec<OutboxEntry>>>,
}

/// Runs `work` (a worker's submission) so that each commit it makes records the effects for
/// `execution_id` as claimed by `owner`; returns its output and the entries so claimed, in
/// the order they were committed.
pub async fn claiming_own_effects<T>(
    execution_id: &str,
    owner: &str,
    work: impl Future<Output = T>,
) -> (T, Vec<OutboxEntry>) {
    let claiming =
        Claiming { execution_id: execution_id.to_string(), owner: owner.to_string(), claimed: Arc::default() };
    let claimed = claiming.claimed.clone();
    let output = CLAIMING.scope(claiming, work).await;
    let entries = std::mem::take(&mut *claimed.lock().unwrap_or_else(PoisonError::into_inner));
    (output, entries)
}

impl Claiming {
    /// The claim in scope of the calling task, if any (read before the store's work leaves
    /// the task for a blocking thread).
    pub(crate) fn in_scope() -> Option<Claiming> {
        CLAIMING.try_with(Clone::clone).ok()
    }

    /// Who claims `effect` as it is committed: the worker in scope, for its own execution.
    pub(crate) fn owner_of(&self, effect: &Effect) -> Option<&str> {
        (effect.execution_id() == self.execution_id).then_some(self.owner.as_str())
    }

    /// Hands back the entries a commit claimed, once that commit is durable.
    pub(crate) fn committed(&self, entries: Vec<OutboxEntry>) {
        self.claimed.lock().unwrap_or_else(PoisonError::into_inner).extend(entries);
    }
}
