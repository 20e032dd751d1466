//! A few values a store keeps between its calls, by key: what a process learned from its own
//! reads and writes and may use again (a batch's key, a head's resolved state). Bounded, with
//! no order kept: when full, any entry goes, and whoever needed it reads the table instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// How many entries each kind keeps.
const KEPT: usize = 64;

#[derive(Clone)]
pub(super) struct Kept<V> {
    entries: Arc<Mutex<HashMap<String, V>>>,
}

impl<V> Default for Kept<V> {
    fn default() -> Self {
        Kept { entries: Arc::default() }
    }
}

impl<V: Clone> Kept<V> {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, V>> {
        // A panic while holding the lock cannot leave the map half-written: recover it.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn insert(&self, key: &str, value: V) {
        let mut entries = self.lock();
        if entries.len() >= KEPT
            && !entries.contains_key(key)
            && let Some(any) = entries.keys().next().cloned()
        {
            entries.remove(&any);
        }
        entries.insert(key.to_string(), value);
    }

    pub(super) fn get(&self, key: &str) -> Option<V> {
        self.lock().get(key).cloned()
    }

    pub(super) fn take(&self, key: &str) -> Option<V> {
        self.lock().remove(key)
    }
}
