//! The assembled service: configuration turned into the parts every mode shares.

use std::sync::Arc;

use crate::bettingpros::Upstream;
use crate::config::Config;
use crate::fetch::{Fetcher, RateLimits};
use crate::gaps::{Detector, GapAnswer, GapQuery};
use crate::ledger::Ledger;
use crate::ledger::LedgerError;
use crate::metrics::Metrics;
use crate::notify::completion::Notifier;
use crate::notify::execution_log::ExecutionLog;
use crate::notify::pubsub::Publisher;
use crate::phase2::Phase2;
use crate::reprocess::slice::Advanced;
use crate::reprocess::{Recovery, RecoverySettings};
use crate::scrape::inflight::Inflight;
use crate::scrape::Scrapes;
use crate::storage::{self, ObjectStore, StorageLocation};
use crate::sweep::{Sweeper, Swept};
use crate::tasks::Tasks;
use crate::warehouse::Warehouse;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::settings::ConfigError),
    #[error("could not open storage: {0}")]
    Storage(#[from] storage::StorageError),
    #[error("could not open the run ledger: {0}")]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error("could not set up completion messages: {0}")]
    Notify(String),
}

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub scrapes: Scrapes,
    pub inflight: Arc<Inflight>,
    pub store: Arc<dyn ObjectStore>,
    pub ledger: Arc<Ledger>,
    pub metrics: Arc<Metrics>,
    pub detector: Arc<Detector>,
    pub recovery: Arc<Recovery>,
    /// Work this process owns beyond a request (runs whose caller hung up, slices): drained
    /// within the shutdown grace.
    pub tasks: Tasks,
    /// Renews the leases of this instance's work in progress while it lives.
    leases: Arc<Leases>,
}

impl App {
    /// Opens storage and the ledger and assembles the parts.
    pub async fn build(config: Config) -> Result<App, StartError> {
        let metrics = Arc::new(Metrics::new());
        let store = storage::open(&config.storage, &config.gcp).await?;
        let ledger =
            Arc::new(Ledger::connect(&config.ledger.location, config.ledger.instance()).await?);
        let publisher = if config.pubsub.enabled {
            Some(
                Publisher::connect(config.pubsub.clone(), &config.gcp)
                    .await
                    .map_err(|e| StartError::Notify(e.to_string()))?,
            )
        } else {
            None
        };
        let bucket = match &config.storage {
            StorageLocation::Gcs { bucket, .. } => Some(bucket.clone()),
            StorageLocation::Local(_) => None,
        };
        let (rate, burst) = (config.fetch.rate_per_sec, config.fetch.burst);
        // A shared ledger carries one rate limit per upstream host for every instance.
        let limits = Arc::new(if ledger.is_shared() {
            RateLimits::with_store(rate, burst, ledger.clone(), "ledger")
        } else {
            RateLimits::new(rate, burst)
        });
        let tasks = Tasks::new();
        let scrapes = Scrapes {
            fetcher: Fetcher::with_routes(
                config.fetch.clone(),
                &config.proxies,
                limits,
                metrics.clone(),
            )?,
            upstream: Arc::new(Upstream::new(&config.upstream)?),
            store: store.clone(),
            ledger: ledger.clone(),
            notifier: Arc::new(Notifier::new(publisher)),
            execution_log: Arc::new(ExecutionLog::new(
                config.execution_log.clone(),
                &config.warehouse,
                config.warehouse.credentials(&config.gcp),
                bucket.clone(),
            )),
            metrics: metrics.clone(),
            run_deadline: config.run_deadline,
            tasks: tasks.clone(),
        };
        let detector = Arc::new(
            Detector::new(
                scrapes.clone(),
                Arc::new(Warehouse::new(
                    config.warehouse.clone(),
                    config.warehouse.credentials(&config.gcp),
                )),
            )
            .with_no_games_recheck(config.no_games_recheck),
        );
        let recovery = Arc::new(Recovery::new(
            scrapes.clone(),
            detector.clone(),
            Arc::new(Phase2::new(config.phase2.clone())),
            RecoverySettings {
                bucket,
                rate_per_sec: config.fetch.rate_per_sec,
                settle: config.recovery_settle,
                pending_load: config.pending_load,
                slice: config.slice,
            },
        ));
        let leases = Arc::new(Leases::start(ledger.clone(), recovery.clone()));
        tracing::info!(ledger = %ledger.location(), instance = %ledger.instance().id,
            rate_limit_shared = ledger.is_shared(), "ledger open");
        Ok(App {
            leases,
            config: Arc::new(config),
            inflight: Arc::new(Inflight::new(scrapes.clone(), tasks.clone())),
            tasks,
            detector,
            recovery,
            scrapes,
            store,
            ledger,
            metrics,
        })
    }

    /// For a serving instance, once at start: runs whose owner stopped heartbeating (its lease
    /// ran out) become `abandoned`. Work a live instance holds is never touched, so starting
    /// during a deploy leaves the old revision's runs alone. Everything else that waits — jobs,
    /// detections, the outbox — is advanced by requests (the status polls and the sweep), never
    /// in the background. One-off commands do not call this. Returns how many runs it marked.
    pub async fn take_over(&self) -> Result<u64, StartError> {
        Ok(crate::sweep::abandon_stopped_runs(&self.ledger).await?)
    }

    /// Advances a recovery job by one slice (`BACKSTOP_SLICE_SECS`) as a task this process
    /// owns: a caller that hangs up does not cut it short, and shutdown drains it.
    pub async fn advance_job(&self, job_id: &str) -> Result<Advanced, LedgerError> {
        let (recovery, id, budget) = (self.recovery.clone(), job_id.to_string(), self.config.slice);
        let what = format!("slice of recovery job {job_id}");
        self.owned(what, async move { recovery.advance(&id, budget).await })
            .await
    }

    /// `GET /gaps`: the gaps of `q` within a slice's budget — whole, or the rows judged and a
    /// detection job that carries the rest on (see [`crate::gaps::job`]) — as an owned task.
    pub async fn gaps(&self, q: GapQuery) -> Result<GapAnswer, LedgerError> {
        let (detector, budget) = (self.detector.clone(), self.config.slice);
        let what = format!("gaps {} to {}", q.from, q.to);
        self.owned(what, async move { detector.answer(&q, budget).await })
            .await
    }

    /// `GET /gaps/{id}`: a slice of the detection job (when nobody live holds it), then what
    /// it knows; `None` for no such detection.
    pub async fn detection(&self, id: &str) -> Result<Option<GapAnswer>, LedgerError> {
        let (detector, budget, owned_id) =
            (self.detector.clone(), self.config.slice, id.to_string());
        let what = format!("slice of detection {id}");
        self.owned(what, async move {
            detector.advance_detection(&owned_id, budget).await
        })
        .await
    }

    /// Runs `work` as a task this process owns and waits for it.
    async fn owned<T: Send + 'static>(
        &self,
        what: String,
        work: impl std::future::Future<Output = Result<T, LedgerError>> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let task = self.tasks.spawn(what.clone(), work);
        task.await.unwrap_or_else(|e| {
            let problem = crate::ledger::LedgerProblem::Invalid(format!("it stopped: {e}"));
            Err(LedgerError::new(what, problem))
        })
    }

    /// One sweep (`POST /sweep`; see [`crate::sweep`]) within `BACKSTOP_SLICE_SECS`, as a task
    /// this process owns.
    pub async fn sweep(&self) -> Swept {
        let sweeper = Sweeper {
            recovery: self.recovery.clone(),
            days: self.config.sweep_days,
        };
        let budget = self.config.slice;
        let task = self
            .tasks
            .spawn("sweep", async move { sweeper.sweep(budget).await });
        task.await.unwrap_or_else(|e| Swept {
            problems: vec![format!("the sweep stopped: {e}")],
            ..Swept::default()
        })
    }

    /// This instance stops: no more heartbeats, and its unfinished jobs are released so that
    /// another instance adopts them at once (a deploy, a scale-down). Runs still going are
    /// left to their lease (or to `api::serve`, which marks them abandoned when the tasks that
    /// carry them outlast the grace).
    pub async fn stand_down(&self) {
        self.leases.task.abort();
        match self.ledger.release_own_jobs(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                jobs = n,
                "released unfinished recovery jobs for another instance"
            ),
            Err(e) => {
                tracing::error!(error = %e, "could not release this instance's jobs; they are taken over when the lease runs out")
            }
        }
    }
}

/// The task that heartbeats this instance's leases, stopped when the last `App` clone drops.
/// It only renews: it takes nothing over (the sweep does, inside a request).
struct Leases {
    task: tokio::task::JoinHandle<()>,
}

impl Leases {
    fn start(ledger: Arc<Ledger>, recovery: Arc<Recovery>) -> Leases {
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(ledger.instance().heartbeat_every());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let jobs = recovery.jobs_in_progress();
                if let Err(e) = ledger.heartbeat(chrono::Utc::now(), &jobs).await {
                    tracing::error!(error = %e, "heartbeat failed: this instance's work may be taken over");
                }
            }
        });
        Leases { task }
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.task.abort();
    }
}
