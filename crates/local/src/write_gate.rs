//! The turn of the store's one writer connection, shared by everything in a process that
//! writes (`SqliteStore::write`). Under `serve`, the API's writes and the task workers' go
//! through the same connection: a request should not wait behind a queue of worker commits,
//! so a waiting foreground write (an API request) goes before waiting background writes (the
//! workers'), which wait at most [`MAX_DEFERRAL`] for it. Without priority the order among
//! waiters is the operating system's, as with a plain mutex.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Whose write it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePriority {
    /// A request someone is waiting for (the API, a command).
    Foreground,
    /// Work nobody is waiting on at this moment (a task worker's commits, claims, heartbeats).
    Background,
}

/// How long a background write lets foreground writes go first; past it, it takes its turn
/// whoever waits, so a stream of requests never starves the workers (whose heartbeat must
/// land within seconds).
pub const MAX_DEFERRAL: Duration = Duration::from_millis(20);

pub struct WriteGate {
    state: Mutex<GateState>,
    turn: Condvar,
    /// How long a background write defers to foreground ones ([`MAX_DEFERRAL`]).
    deferral: Duration,
}

impl Default for WriteGate {
    fn default() -> WriteGate {
        WriteGate::deferring(MAX_DEFERRAL)
    }
}

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct GateState {
    /// A write holds the turn.
    busy: bool,
    foreground_waiting: usize,
    background_waiting: usize,
    /// Background writes that have waited [`MAX_DEFERRAL`]: they go next, before any other.
    overdue: usize,
}

/// The turn, held until dropped.
pub struct Turn<'a> {
    gate: &'a WriteGate,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.gate.lock().busy = false;
        self.gate.turn.notify_all();
    }
}

impl WriteGate {
    /// A gate whose background writes defer to foreground ones for at most `deferral`.
    pub fn deferring(deferral: Duration) -> WriteGate {
        WriteGate { state: Mutex::default(), turn: Condvar::new(), deferral }
    }

    /// Waits for the turn: a foreground write as soon as no write holds it (and no background
    /// write is overdue), a background write when, besides, no foreground write waits, or
    /// once it has waited the gate's deferral.
    pub fn enter(&self, priority: WritePriority) -> Turn<'_> {
        let mut state = self.lock();
        match priority {
            WritePriority::Foreground => {
                state.foreground_waiting += 1;
                while state.busy || state.overdue > 0 {
                    state = self.wait(state, None);
                }
                state.foreground_waiting -= 1;
            }
            WritePriority::Background => {
                let deadline = Instant::now() + self.deferral;
                let mut overdue = false;
                state.background_waiting += 1;
                while state.busy || (state.foreground_waiting > 0 && !overdue) {
                    if !overdue && Instant::now() >= deadline {
                        overdue = true;
                        state.overdue += 1;
                        continue;
                    }
                    state = self.wait(state, (!overdue).then_some(deadline));
                }
                if overdue {
                    state.overdue -= 1;
                }
                state.background_waiting -= 1;
            }
        }
        state.busy = true;
        Turn { gate: self }
    }

    /// Writes waiting for the turn: (foreground, background).
    pub fn waiting(&self) -> (usize, usize) {
        let state = self.lock();
        (state.foreground_waiting, state.background_waiting)
    }

    /// A panic while holding the lock leaves only counters, which every path restores.
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a turn to end, or until `deadline`.
    fn wait<'a>(&self, state: MutexGuard<'a, GateState>, deadline: Option<Instant>) -> MutexGuard<'a, GateState> {
        match deadline {
            None => self.turn.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner()),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                self.turn.wait_timeout(state, left).map_or_else(|poisoned| poisoned.into_inner().0, |(s, _)| s)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;

    /// Polls until `ready` holds of the gate (a thread has reached its wait).
    fn until(gate: &WriteGate, ready: impl Fn((usize, usize)) -> bool) {
        while !ready(gate.waiting()) {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_waiting_foreground_write_goes_before_waiting_background_writes() {
        // Deferring for longer than this test can take, however slow the machine.
        let gate = Arc::new(WriteGate::deferring(Duration::from_secs(3600)));
        let (order_tx, order) = mpsc::channel();
        let held = gate.enter(WritePriority::Background);
        let mut threads = Vec::new();
        for name in ["worker 1", "worker 2"] {
            let (gate, order_tx) = (gate.clone(), order_tx.clone());
            threads.push(std::thread::spawn(move || {
                let _turn = gate.enter(WritePriority::Background);
                order_tx.send(name).unwrap();
            }));
        }
        until(&gate, |(_, background)| background == 2);
        let (api_gate, api_tx) = (gate.clone(), order_tx.clone());
        threads.push(std::thread::spawn(move || {
            let _turn = api_gate.enter(WritePriority::Foreground);
            api_tx.send("api").unwrap();
        }));
        until(&gate, |(foreground, _)| foreground == 1);
        drop(held);
        for thread in threads {
            thread.join().unwrap();
        }
        let order: Vec<&str> = order.try_iter().collect();
        assert_eq!(order.len(), 3);
        assert_eq!(order[0], "api", "{order:?}");
    }

    /// Two foreground writers that keep one of them always waiting do not keep a background
    /// write out: once overdue it takes the next turn.
    #[test]
    fn a_stream_of_foreground_writes_does_not_starve_a_background_write() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let gate = Arc::new(WriteGate::deferring(Duration::from_millis(20)));
        let stop = Arc::new(AtomicBool::new(false));
        let hammers: Vec<_> = (0..2)
            .map(|_| {
                let (gate, stop) = (gate.clone(), stop.clone());
                std::thread::spawn(move || {
                    let give_up = Instant::now() + Duration::from_secs(20);
                    while !stop.load(Ordering::SeqCst) && Instant::now() < give_up {
                        let _turn = gate.enter(WritePriority::Foreground);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        until(&gate, |(foreground, _)| foreground >= 1);
        let turn = gate.enter(WritePriority::Background);
        let hammering = hammers.iter().all(|h| !h.is_finished());
        drop(turn);
        stop.store(true, Ordering::SeqCst);
        for hammer in hammers {
            hammer.join().unwrap();
        }
        assert!(hammering, "the background write got its turn while foreground writes kept coming");
        assert_eq!(gate.waiting(), (0, 0));
    }
}
