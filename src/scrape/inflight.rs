//! Identical requests at the same time run once: later callers wait for the first one's result.
//!
//! Runs are spawned as tasks the application owns ([`Tasks`]: drained at shutdown), so a caller
//! that hangs up does not cut a run short. The spawned run itself
//! takes its entry out of the table when it ends — normally, by a panic, or because the runtime
//! dropped it — so joining ends with the run whoever was waiting: a request that arrives after
//! the end is a new run (a new snapshot), even when every caller of the old one hung up.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::{BoxFuture, FutureExt, Shared};

use super::{RunReport, ScrapeRequest, Scrapes};
use crate::calendar::GameDate;
use crate::market::MarketSelection;
use crate::run::Scraper;
use crate::tasks::Tasks;

type Key = (Scraper, GameDate, Option<MarketSelection>);

pub struct Inflight {
    scrapes: Scrapes,
    running: Table<Key, Vec<RunReport>>,
}

impl Inflight {
    /// Runs are spawned on `tasks`.
    pub fn new(scrapes: Scrapes, tasks: Tasks) -> Self {
        Self {
            scrapes,
            running: Table::new(tasks),
        }
    }

    /// Runs `req`, or joins the identical run already under way.
    pub async fn run(&self, req: ScrapeRequest) -> Arc<Vec<RunReport>> {
        let markets = (req.scraper == Scraper::PlayerProps).then_some(req.markets);
        let scrapes = self.scrapes.clone();
        let joined = || {
            tracing::info!(scraper = %req.scraper, game_date = %req.date,
                "identical request already running: joining it");
        };
        let what = match markets {
            Some(m) => format!("scrape {} {} {m}", req.scraper, req.date),
            None => format!("scrape {} {}", req.scraper, req.date),
        };
        let run = async move { scrapes.run(&req).await };
        self.running
            .join((req.scraper, req.date, markets), what, run, joined)
            .await
    }

    /// Requests still running (for shutdown).
    pub fn len(&self) -> usize {
        self.running.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type Running<T> = Shared<BoxFuture<'static, Arc<T>>>;

/// The runs under way, by key, spawned on `tasks`.
struct Table<K, T> {
    runs: Arc<Mutex<HashMap<K, Running<T>>>>,
    tasks: Tasks,
}

impl<K, T> Table<K, T> {
    fn new(tasks: Tasks) -> Self {
        Self {
            runs: Arc::default(),
            tasks,
        }
    }
}

impl<K, T> Table<K, T>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Default + Send + Sync + 'static,
{
    /// Joins the run under `key`, or spawns `run` as it, named `what` (`joined` is called when
    /// joining). A run that panicked answers `T::default()`.
    async fn join(
        &self,
        key: K,
        what: String,
        run: impl Future<Output = T> + Send + 'static,
        joined: impl FnOnce(),
    ) -> Arc<T> {
        let running = {
            let mut table = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
            match table.get(&key) {
                Some(running) => {
                    joined();
                    running.clone()
                }
                None => {
                    let leave = Leave {
                        table: self.runs.clone(),
                        key: key.clone(),
                    };
                    let task = self.tasks.spawn(what, async move {
                        let _leave = leave;
                        run.await
                    });
                    let running = async move { Arc::new(task.await.unwrap_or_default()) }
                        .boxed()
                        .shared();
                    table.insert(key, running.clone());
                    running
                }
            }
        };
        running.await
    }

    fn len(&self) -> usize {
        self.runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Owned by a spawned run: takes the run's entry out of the table when the run ends, however it
/// ends. The entry is in place by then: it is inserted under the lock this waits for.
struct Leave<K: Hash + Eq, T> {
    table: Arc<Mutex<HashMap<K, Running<T>>>>,
    key: K,
}

impl<K: Hash + Eq, T> Drop for Leave<K, T> {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn counted(runs: &Arc<AtomicU32>, ms: u64) -> impl Future<Output = Vec<u32>> + Send {
        let runs = runs.clone();
        async move {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            vec![n]
        }
    }

    #[tokio::test]
    async fn a_run_whose_callers_all_hung_up_is_drained_and_leaves_the_table_when_it_ends() {
        let tasks = Tasks::new();
        let table = Table::<&str, Vec<u32>>::new(tasks.clone());
        let runs = Arc::new(AtomicU32::new(0));
        let first = table.join("k", "scrape k".into(), counted(&runs, 100), || {});
        assert!(tokio::time::timeout(Duration::from_millis(20), first)
            .await
            .is_err());
        assert_eq!(table.len(), 1, "the run goes on without its caller");
        assert_eq!(tasks.running(), ["scrape k"], "owned by the application");
        assert_eq!(tasks.drain(Duration::from_secs(5)).await, Ok(()));
        assert_eq!(table.len(), 0);
        assert_eq!(
            *table.join("k", "k".into(), counted(&runs, 0), || {}).await,
            [2]
        );
    }

    #[tokio::test]
    async fn callers_that_join_get_the_one_result_and_a_later_call_runs_again() {
        let table = Table::<&str, Vec<u32>>::new(Tasks::new());
        let runs = Arc::new(AtomicU32::new(0));
        let mut joins = 0;
        let (a, b) = tokio::join!(
            table.join("k", "k".into(), counted(&runs, 50), || joins += 10),
            table.join("k", "k".into(), counted(&runs, 50), || {})
        );
        assert_eq!((*a == [1], *b == [1]), (true, true));
        assert_eq!(joins, 0, "the first caller started the run");
        assert_eq!(
            *table.join("k", "k".into(), counted(&runs, 0), || {}).await,
            [2]
        );
    }

    #[tokio::test]
    async fn a_run_that_panics_answers_the_default_and_leaves_the_table() {
        let table = Table::<&str, Vec<u32>>::new(Tasks::new());
        let (a, b) = tokio::join!(
            table.join(
                "k",
                "k".into(),
                async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    panic!("a run that panics (expected in this test)")
                },
                || {}
            ),
            table.join("k", "k".into(), async { vec![7] }, || {})
        );
        assert!(a.is_empty() && b.is_empty(), "both callers get the default");
        assert_eq!(table.len(), 0);
        assert_eq!(
            *table.join("k", "k".into(), async { vec![7] }, || {}).await,
            [7]
        );
    }
}
