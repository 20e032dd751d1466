//! Waking an execution's worker when effects for it are committed, instead of polling: each
//! worker listens on a Unix datagram socket, `workers/<execution>.wake` under the state
//! directory, and whoever commits effects for the execution — a command in another shell,
//! `serve`'s API, another execution's worker — sends it one byte. A datagram lost (a full
//! buffer is a worker already woken; a path too long for a socket address) costs only latency:
//! the worker still looks at its next heartbeat or deadline, and every [`FALLBACK`] when it
//! could not bind a socket at all.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixDatagram;

/// How often a worker that cannot be woken (no socket bound) looks for committed work.
pub const FALLBACK: Duration = Duration::from_secs(1);

/// The socket an execution's worker listens on.
pub fn socket_path(state_dir: &Path, execution_id: &str) -> PathBuf {
    state_dir.join("workers").join(format!("{execution_id}.wake"))
}

/// Tells the worker of `execution_id`, if one listens, that effects were committed for it.
/// Never fails: nobody listening is no worker to wake.
pub fn wake(state_dir: &Path, execution_id: &str) {
    if let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() {
        let _ = socket.set_nonblocking(true);
        let _ = socket.send_to(b"w", socket_path(state_dir, execution_id));
    }
}

/// A worker's end: bound while the worker runs, removed when it is dropped.
pub struct WakeSocket {
    socket: Option<UnixDatagram>,
    path: PathBuf,
}

impl WakeSocket {
    /// Listens for the wake-ups of `execution_id`. A socket that cannot be bound (a state
    /// directory path too long for a socket address) leaves the worker on its fallback poll.
    pub fn bind(state_dir: &Path, execution_id: &str) -> WakeSocket {
        let path = socket_path(state_dir, execution_id);
        let bound = (|| -> io::Result<UnixDatagram> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            // A socket file left by a worker that died: this worker is the registered one now.
            let _ = std::fs::remove_file(&path);
            UnixDatagram::bind(&path)
        })();
        WakeSocket { socket: bound.ok(), path }
    }

    /// Whether wake-ups reach this worker (otherwise it only polls).
    pub fn is_bound(&self) -> bool {
        self.socket.is_some()
    }

    /// Waits for a wake-up, or `longest` (at most [`FALLBACK`] without a socket); takes every
    /// wake-up already queued.
    pub async fn wait(&self, longest: Duration) {
        let Some(socket) = &self.socket else {
            tokio::time::sleep(longest.min(FALLBACK)).await;
            return;
        };
        let mut buffer = [0u8; 16];
        if let Ok(Ok(_)) = tokio::time::timeout(longest, socket.recv(&mut buffer)).await {
            // Several commits may have woken us: one look serves them all.
            while socket.try_recv(&mut buffer).is_ok() {}
        }
    }
}

impl Drop for WakeSocket {
    fn drop(&mut self) {
        if self.socket.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_reaches_the_worker_of_its_execution_only() {
        let dir = tempfile::tempdir().unwrap();
        let mine = WakeSocket::bind(dir.path(), "e1");
        let other = WakeSocket::bind(dir.path(), "e2");
        assert!(mine.is_bound() && other.is_bound());
        wake(dir.path(), "e1");
        wake(dir.path(), "e1");
        let woken = tokio::time::timeout(FALLBACK / 2, mine.wait(FALLBACK)).await;
        assert!(woken.is_ok(), "the wake-up arrives before the fallback");
        let waited = tokio::time::timeout(FALLBACK / 2, other.wait(FALLBACK)).await;
        assert!(waited.is_err(), "another execution's worker is not woken");
        wake(dir.path(), "nobody");
    }

    #[tokio::test]
    async fn the_socket_goes_with_its_worker_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = socket_path(dir.path(), "e1");
        let first = WakeSocket::bind(dir.path(), "e1");
        std::mem::forget(first); // a worker killed: its socket file stays
        assert!(path.exists());
        let second = WakeSocket::bind(dir.path(), "e1");
        assert!(second.is_bound(), "a new worker binds over the dead one's file");
        drop(second);
        assert!(!path.exists(), "removed with its worker");
    }
}
