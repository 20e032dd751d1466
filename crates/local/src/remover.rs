//! Removes ended attempts' workspaces on one thread of the process, at the lowest CPU
//! priority, until someone waits for them.
//!
//! The actions of a stage start together and, when they are alike, end together: their
//! workspaces were all removed at the stage's end, each on a blocking thread of its own, while
//! the worker committed the stage's results and made the next stage's workspaces. The removals
//! took CPU from the only work anything waits for. Removing is cleanup that nothing waits on
//! until the execution ends, so it runs here at nice 19, one workspace after another, on
//! whatever CPU the execution leaves idle (docs/benchmarks.md, "stop 38"). When the execution
//! ends and its worker waits for its removals, [`Remover::hurry`] takes the ones not yet begun
//! back to the blocking pool at the ordinary priority, so that a busy machine does not hold a
//! run's end behind its cleanup. The thread never starts a process, so no user command
//! inherits its priority.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use tokio::sync::oneshot;

/// A workspace to remove, and who is told once it is gone.
struct Removal {
    workspace: PathBuf,
    done: oneshot::Sender<()>,
}

/// A removal under way.
pub enum Removing {
    Queued(oneshot::Receiver<()>),
    OnBlockingPool(tokio::task::JoinHandle<()>),
}

impl Removing {
    /// Returns once the workspace is gone (or could not be removed).
    pub async fn wait(self) {
        match self {
            // The sender is dropped only once the workspace is gone, by the thread or by `hurry`.
            Removing::Queued(gone) => drop(gone.await),
            Removing::OnBlockingPool(removing) => drop(removing.await),
        }
    }
}

/// The removals not yet begun, shared by the handles and the thread.
#[derive(Default)]
struct Queue {
    waiting: Mutex<VecDeque<Removal>>,
    changed: Condvar,
    /// Whether the thread runs: started by the first removal, so that a process that removes
    /// nothing (`pipewright status`) starts none. False when it could not be started.
    thread: OnceLock<bool>,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Removal>> {
        // A removal never panics while holding the lock; if one did, the queue is still whole.
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A handle to the process's removing thread; clones share it.
#[derive(Clone)]
pub struct Remover {
    queue: Arc<Queue>,
}

impl Remover {
    /// The process's remover: one thread for every backend, so that `serve`'s executions, each
    /// with a backend of its own, share it rather than start one each.
    pub fn shared() -> Remover {
        static SHARED: OnceLock<Remover> = OnceLock::new();
        SHARED.get_or_init(|| Remover { queue: Arc::default() }).clone()
    }

    /// Queues the removal of an attempt's workspace, and of its runner's directory when there
    /// is one; [`Removing::wait`] returns once both are gone. A failure only leaves files
    /// behind: the action's result stands. Queued before the result is handed on, so that
    /// whoever has every result also knows every removal is queued ([`Remover::hurry`]).
    pub fn remove(&self, workspace: PathBuf) -> Removing {
        let queue = self.queue.clone();
        if !*self.queue.thread.get_or_init(|| start_thread(queue)) {
            return Removing::OnBlockingPool(tokio::task::spawn_blocking(move || remove_workspace_now(&workspace)));
        }
        let (done, gone) = oneshot::channel();
        self.queue.lock().push_back(Removal { workspace, done });
        self.queue.changed.notify_one();
        Removing::Queued(gone)
    }

    /// Carries out every removal not yet begun on the blocking pool, at the ordinary priority
    /// and spread over the machine's cores, and returns when they are done: for a caller about
    /// to wait for its removals.
    pub async fn hurry(&self) {
        let taken: Vec<Removal> = self.queue.lock().drain(..).collect();
        if taken.is_empty() {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut shares: Vec<Vec<Removal>> = (0..cores.min(taken.len())).map(|_| Vec::new()).collect();
        let count = shares.len();
        for (index, removal) in taken.into_iter().enumerate() {
            shares[index % count].push(removal);
        }
        let helpers: Vec<_> = shares
            .into_iter()
            .map(|share| {
                tokio::task::spawn_blocking(move || {
                    for removal in share {
                        remove_workspace_now(&removal.workspace);
                        let _ = removal.done.send(());
                    }
                })
            })
            .collect();
        for helper in helpers {
            let _ = helper.await;
        }
    }

    /// A queue that no thread takes from: what waits there is removed only by [`Remover::hurry`].
    #[cfg(test)]
    fn without_thread() -> Remover {
        let queue = Queue::default();
        let _ = queue.thread.set(true);
        Remover { queue: Arc::new(queue) }
    }
}

/// Starts the thread that removes what `queue` holds, for the rest of the process; whether it
/// started.
fn start_thread(queue: Arc<Queue>) -> bool {
    let started = std::thread::Builder::new().name("pw-remover".to_string()).spawn(move || {
        lower_this_threads_priority();
        loop {
            let removal = next(&queue);
            remove_workspace_now(&removal.workspace);
            let _ = removal.done.send(());
        }
    });
    started.is_ok()
}

/// The next removal for the thread, waiting for one.
fn next(queue: &Queue) -> Removal {
    let mut waiting = queue.lock();
    loop {
        if let Some(removal) = waiting.pop_front() {
            return removal;
        }
        waiting = queue.changed.wait(waiting).unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}

fn remove_workspace_now(workspace: &Path) {
    let _ = std::fs::remove_dir_all(crate::providers::runner_dir(workspace));
    let _ = std::fs::remove_dir_all(workspace);
}

/// Nice 19 for the calling thread only: on Linux a thread's nice value is its own. Elsewhere
/// (macOS would set it for the whole process) the priority is left as it is.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take and return plain integers.
        let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_with_files(root: &Path, name: &str) -> PathBuf {
        let workspace = root.join(name);
        std::fs::create_dir_all(workspace.join("deep/er")).unwrap();
        std::fs::write(workspace.join("deep/er/file"), b"x").unwrap();
        std::fs::create_dir_all(crate::providers::runner_dir(&workspace)).unwrap();
        workspace
    }

    #[tokio::test]
    async fn a_workspace_and_its_runners_directory_are_gone_when_removing_returns() {
        let root = tempfile::tempdir().unwrap();
        let workspace = workspace_with_files(root.path(), "A.1");
        let remover = Remover::shared();
        remover.clone().remove(workspace.clone()).wait().await;
        assert!(!workspace.exists() && !crate::providers::runner_dir(&workspace).exists());
        // A workspace already gone is no error, and the thread goes on with the next one.
        remover.remove(workspace.clone()).wait().await;
        let next = workspace_with_files(root.path(), "B.1");
        remover.remove(next.clone()).wait().await;
        assert!(!next.exists());
    }

    #[tokio::test]
    async fn hurrying_removes_what_waits_and_every_waiter_is_answered() {
        let root = tempfile::tempdir().unwrap();
        let remover = Remover::without_thread();
        let workspaces: Vec<PathBuf> = (0..20).map(|i| workspace_with_files(root.path(), &format!("A{i}.1"))).collect();
        let waiters: Vec<Removing> = workspaces.iter().map(|workspace| remover.remove(workspace.clone())).collect();
        assert_eq!(remover.queue.lock().len(), workspaces.len());
        assert!(workspaces.iter().all(|workspace| workspace.exists()), "nothing removes them before");
        remover.hurry().await;
        for waiter in waiters {
            waiter.wait().await;
        }
        for workspace in &workspaces {
            assert!(!workspace.exists(), "{} is left", workspace.display());
        }
        remover.hurry().await;
    }

    #[test]
    fn every_backend_of_a_process_shares_one_remover() {
        assert!(Arc::ptr_eq(&Remover::shared().queue, &Remover::shared().queue));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_removing_thread_runs_at_the_lowest_priority_and_the_callers_keeps_its_own() {
        let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let lowered = std::thread::spawn(|| {
            lower_this_threads_priority();
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        })
        .join()
        .unwrap();
        assert_eq!(lowered, 19);
        assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, before, "only that thread is lowered");
    }
}
