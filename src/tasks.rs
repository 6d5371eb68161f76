//! Work the application owns beyond the request that started it — a run whose caller hung up, a
//! recovery job's slice — spawned here so that it is tracked, named and drained within the
//! shutdown grace, the way mini-redis drains its connections.
//!
//! [`Tasks::spawn`] runs a future as a tokio task and records it under a name until it ends,
//! however it ends (finished, panicked, aborted). [`Tasks::drain`] waits for the recorded tasks
//! up to a deadline; those still running then are aborted and named, so the caller can record
//! what they leave behind (their runs and jobs: see `api::serve`).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};

/// Whether a slice of work that is to start nothing after `deadline` may start its next step,
/// `started` steps in: the first always starts (so every slice moves its work on), no other
/// once the deadline has passed. The step under way when it passes finishes.
pub fn may_start(deadline: tokio::time::Instant, started: usize) -> bool {
    started == 0 || tokio::time::Instant::now() < deadline
}

/// The tasks this process owns. Cloning shares the same set.
#[derive(Clone, Default)]
pub struct Tasks {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    live: Mutex<BTreeMap<u64, Live>>,
    next: AtomicU64,
    /// Woken each time a task ends.
    ended: Notify,
}

struct Live {
    what: String,
    abort: Option<AbortHandle>,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `task`, recorded as `what` (e.g. `scrape bp_player_props 2026-01-14 points`)
    /// until it ends. The handle may be awaited or dropped: the task goes on either way.
    pub fn spawn<F>(&self, what: impl Into<String>, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let mut live = self.live();
        let ended = Ended {
            inner: self.inner.clone(),
            id,
        };
        let handle = tokio::spawn(async move {
            let _ended = ended;
            task.await
        });
        // Inserted under the lock the task's end waits for, so it is never left behind.
        live.insert(
            id,
            Live {
                what: what.into(),
                abort: Some(handle.abort_handle()),
            },
        );
        handle
    }

    /// What is running now, oldest first.
    pub fn running(&self) -> Vec<String> {
        self.live().values().map(|l| l.what.clone()).collect()
    }

    /// Waits up to `within` for every task to end. `Ok` when none is left; else the tasks
    /// still running, which are aborted (they stop at their next await).
    pub async fn drain(&self, within: Duration) -> Result<(), Vec<String>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the check, so an end between the two is not missed.
            let ended = self.inner.ended.notified();
            if self.live().is_empty() {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                let mut live = self.live();
                let left = live
                    .values_mut()
                    .map(|l| {
                        if let Some(abort) = l.abort.take() {
                            abort.abort();
                        }
                        l.what.clone()
                    })
                    .collect();
                return Err(left);
            }
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Live>> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Owned by a spawned task: takes it out of the set when the task ends, however it ends.
struct Ended {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for Ended {
    fn drop(&mut self) {
        let mut live = self
            .inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        live.remove(&self.id);
        drop(live);
        self.inner.ended.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_step_always_starts_and_no_other_after_the_deadline() {
        let now = tokio::time::Instant::now();
        let passed = now - Duration::from_millis(1);
        assert!(may_start(passed, 0), "every slice moves its work on");
        assert!(!may_start(passed, 1));
        let later = now + Duration::from_secs(60);
        assert!(may_start(later, 0) && may_start(later, 5));
    }

    #[tokio::test]
    async fn draining_waits_for_tasks_that_end_within_the_grace() {
        let tasks = Tasks::new();
        let handle = tasks.spawn("short", async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            7
        });
        assert_eq!(tasks.running(), ["short"]);
        assert_eq!(tasks.drain(Duration::from_secs(5)).await, Ok(()));
        assert!(tasks.running().is_empty());
        assert_eq!(handle.await.unwrap(), 7, "the task's own answer is kept");
    }

    #[tokio::test]
    async fn tasks_still_running_after_the_grace_are_named_and_aborted() {
        let tasks = Tasks::new();
        let handle = tasks.spawn("scrape 2026-01-14 points", std::future::pending::<()>());
        tasks.spawn("quick", async {});
        let left = tasks.drain(Duration::from_millis(50)).await.unwrap_err();
        assert_eq!(left, ["scrape 2026-01-14 points"]);
        assert!(handle.await.unwrap_err().is_cancelled());
        assert!(tasks.running().is_empty(), "an aborted task leaves the set");
    }

    #[tokio::test]
    async fn a_task_that_panics_leaves_the_set() {
        let tasks = Tasks::new();
        let handle = tasks.spawn("panics", async { panic!("a task that panics (expected)") });
        assert!(handle.await.unwrap_err().is_panic());
        assert!(tasks.running().is_empty());
        assert_eq!(tasks.drain(Duration::ZERO).await, Ok(()));
    }
}
