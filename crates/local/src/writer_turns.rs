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

/// The turns of one store's pipelines, each made at its first use.
#[derive(Default)]
pub struct WriterTurns {
    pipelines: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl WriterTurns {
    /// Waits for `pipeline`'s turn, in order of arrival; it ends when the guard is dropped.
    pub async fn enter(&self, pipeline: &str) -> OwnedMutexGuard<()> {
        let turn = {
            let mut pipelines = self.pipelines.lock().unwrap_or_else(PoisonError::into_inner);
            pipelines.entry(pipeline.to_string()).or_default().clone()
        };
        turn.lock_owned().await
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
}
