//! The assembled service: configuration turned into the parts every mode shares.

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
}

impl App {
    /// Opens storage and the ledger and assembles the parts.
    pub async fn build(config: Config) -> Result<App, StartError> {
        let metrics = Arc::new(Metrics::new());
        let store = storage::open(&config.storage, &config.gcp).await?;
        let ledger = Arc::new(Ledger::open(&config.ledger_path)?);
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
        let limits = Arc::new(RateLimits::new(
            config.fetch.rate_per_sec,
            config.fetch.burst,
        ));
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
        Ok(App {
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

    /// For the process that owns the ledger (`serve`): runs a stopped process left `running`
    /// become `abandoned`, its unfinished recovery jobs resume, completion messages left in
    /// the outbox are published, and finished runs not yet in the execution log go there. One-off commands do not
    /// call this, so they never mark a running server's runs as abandoned.
    pub async fn take_over(&self) -> Result<usize, StartError> {
        let abandoned = self.ledger.abandon_running(chrono::Utc::now())?;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "runs left `running` by a stopped process are now recorded as abandoned"
            );
        }
        // Completion messages an earlier process recorded but did not publish, and runs not yet
        // in the execution log.
        let scrapes = self.scrapes.clone();
        tokio::spawn(async move { scrapes.announce_outbox().await });
        self.scrapes.export_runs_soon();
        Ok(self.recovery.resume_unfinished().await)
    }
}
