//! The assembled service: configuration turned into the parts every mode shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::bettingpros::Upstream;
use crate::config::Config;
use crate::fetch::{Fetcher, RateLimits};
use crate::gaps::Detector;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::notify::completion::Notifier;
use crate::notify::execution_log::ExecutionLog;
use crate::notify::pubsub::Publisher;
use crate::phase2::Phase2;
use crate::reprocess::{Recovery, RecoverySettings};
use crate::scrape::inflight::Inflight;
use crate::scrape::Scrapes;
use crate::storage::{self, ObjectStore, StorageLocation};
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
    /// Renews this instance's leases while it lives (and takes over stopped work, once
    /// [`App::take_over`] was called).
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
            },
        ));
        let leases = Arc::new(Leases::start(ledger.clone(), recovery.clone()));
        tracing::info!(ledger = %ledger.location(), instance = %ledger.instance().id,
            rate_limit_shared = ledger.is_shared(), "ledger open");
        Ok(App {
            leases,
            config: Arc::new(config),
            inflight: Arc::new(Inflight::new(scrapes.clone())),
            detector,
            recovery,
            scrapes,
            store,
            ledger,
            metrics,
        })
    }

    /// For a serving instance: work whose owner stopped heartbeating is taken over now and
    /// from then on at every heartbeat — its runs become `abandoned`, its unfinished recovery
    /// jobs are adopted and resumed (each by one instance) — completion messages left in the
    /// outbox are published (each claimed by one drain, on whichever instance), and finished
    /// runs not yet in the execution log go there. Work a live
    /// instance holds is never touched, so starting during a deploy leaves the old revision's
    /// runs alone. One-off commands do not call this. Returns how many jobs this instance
    /// resumed now.
    pub async fn take_over(&self) -> Result<usize, StartError> {
        self.leases.taking_over.store(true, Ordering::SeqCst);
        // Completion messages an earlier process recorded but did not publish.
        let scrapes = self.scrapes.clone();
        tokio::spawn(async move { scrapes.announce_outbox().await });
        let resumed = take_over(&self.ledger, &self.recovery).await?;
        // Runs not yet in the execution log (runs abandoned just now too).
        self.scrapes.export_runs_soon();
        Ok(resumed)
    }

    /// This instance stops: no more heartbeats, and its unfinished jobs are released so that
    /// another instance adopts them at once (a deploy, a scale-down). Runs still going are
    /// left to their lease (or to `api::serve`, which marks them abandoned after the grace).
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

async fn take_over(
    ledger: &Ledger,
    recovery: &Arc<Recovery>,
) -> Result<usize, crate::ledger::LedgerError> {
    let abandoned = ledger.abandon_running(chrono::Utc::now()).await?;
    if abandoned > 0 {
        tracing::warn!(
            abandoned,
            "runs whose owner stopped heartbeating are now recorded as abandoned"
        );
    }
    Ok(recovery.resume_unfinished().await)
}

/// The task that heartbeats this instance's leases, stopped when the last `App` clone drops.
struct Leases {
    task: tokio::task::JoinHandle<()>,
    taking_over: Arc<AtomicBool>,
}

impl Leases {
    fn start(ledger: Arc<Ledger>, recovery: Arc<Recovery>) -> Leases {
        let taking_over = Arc::new(AtomicBool::new(false));
        let flag = taking_over.clone();
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
                if flag.load(Ordering::SeqCst) {
                    if let Err(e) = take_over(&ledger, &recovery).await {
                        tracing::error!(error = %e, "could not take over stopped work");
                    }
                }
            }
        });
        Leases { task, taking_over }
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.task.abort();
    }
}
