//! Turns per pipeline for the background handlers of one process (`serve`'s task workers),
//! from a load to its commit (`SqliteStore::update`). The workers load a pipeline's state,
//! apply an event and commit through the server's one writer connection; without turns, two
//! workers of one pipeline load the same state and the second to commit loses its race: a
//! load, an apply and a pause wasted. The API's handlers take no turn: a request does not
//! wait for a worker's load and apply, and it still wins the write gate
//! (`crate::write_gate`); a worker that loses to one tries again (docs/benchmarks.md,
//! "stop 43" and "stop 44", have what each choice cost).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

/// The turns of one store's pipelines, each made at its first use and dropped once no one
/// holds or awaits it (a long-lived `serve` sees pipelines come and go).
#[derive(Default)]
pub struct WriterTurns {
    pipelines: Mutex<Turns>,
}

#[derive(Default)]
struct Turns {
    by_pipeline: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// The size past which unused turns are dropped: twice what was left the last time, so
    /// that dropping them costs a constant per `enter` however many pipelines there are.
    prune_at: usize,
}

/// Fewer turns than this are never pruned.
const PRUNE_FLOOR: usize = 64;

impl WriterTurns {
    /// Waits for `pipeline`'s turn, in order of arrival; it ends when the guard is dropped.
    pub async fn enter(&self, pipeline: &str) -> OwnedMutexGuard<()> {
        let turn = {
            let mut turns = self.pipelines.lock().unwrap_or_else(PoisonError::into_inner);
            if turns.by_pipeline.len() >= turns.prune_at.max(PRUNE_FLOOR) {
                // Only the map holds a turn no guard holds and no `enter` awaits: clones are
                // made under this lock, and a guard keeps its turn's `Arc`.
                turns.by_pipeline.retain(|_, turn| Arc::strong_count(turn) > 1);
                turns.prune_at = 2 * turns.by_pipeline.len();
            }
            turns.by_pipeline.entry(pipeline.to_string()).or_default().clone()
        };
        turn.lock_owned().await
    }

    /// How many pipelines have a turn kept.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.pipelines.lock().unwrap_or_else(PoisonError::into_inner).by_pipeline.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_handler_of_a_pipeline_at_a_time_and_other_pipelines_meanwhile() {
        let turns = Arc::new(WriterTurns::default());
        let held = turns.enter("p").await;
        let other = tokio::time::timeout(Duration::from_secs(5), turns.enter("q")).await;
        assert!(other.is_ok(), "another pipeline's turn is free");
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move { drop(turns.enter("p").await) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "p's turn is held");
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn turns_of_pipelines_gone_are_dropped_and_a_held_one_is_kept() {
        let turns = Arc::new(WriterTurns::default());
        let held = turns.enter("held").await;
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move { drop(turns.enter("held").await) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        for i in 0..10_000 {
            drop(turns.enter(&format!("p{i}")).await);
        }
        assert!(turns.kept() <= 2 * PRUNE_FLOOR, "kept {} turns", turns.kept());
        let late = tokio::time::timeout(Duration::from_millis(20), turns.enter("held")).await;
        assert!(late.is_err(), "the held turn was kept: a new handler waits for it");
        assert!(!waiting.is_finished(), "and so does the one that waited before");
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    }
}
