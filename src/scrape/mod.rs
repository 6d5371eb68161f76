//! A scrape run: composes fetch + bettingpros + storage + ledger + notify.
//!
//! Every run is recorded in the ledger when it starts and finalised when it ends, writes a
//! file only after validating it, and announces itself with one completion message, kept in the
//! ledger's outbox until it went out.
//!
//! A `bp_player_props` request fetches the day's events once for all its markets and stores
//! that answer as the day's events file through a `bp_events` run of its own, beside the
//! markets' runs (see `events`): the request's answer is the markets' reports alone.

mod events;
pub mod inflight;
mod props;
mod tally;
mod write;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use tokio::time::Instant;

use crate::bettingpros::Upstream;
use crate::calendar::{run_timestamp, GameDate};
use crate::fetch::{FetchError, Fetcher};
use crate::ledger::{Ledger, NewRun, RunCounts};
use crate::market::{MarketSelection, MarketType};
use crate::metrics::{self, Metrics};
use crate::notify::completion::{completion_message, Notifier};
use crate::notify::execution_log::{self, ExecutionLog};
use crate::notify::outbox::{Drained, DRAIN_LIMIT};
use crate::run::{new_run_id, RunStatus, Scraper, Trigger};
use crate::storage::ObjectStore;
use crate::tasks::Tasks;

pub use crate::report::RunReport;

/// What to scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScrapeRequest {
    pub scraper: Scraper,
    pub date: GameDate,
    /// Ignored by `bp_events`.
    pub markets: MarketSelection,
    pub trigger: Trigger,
}

/// Everything a run needs, shared by every run in the process.
#[derive(Clone)]
pub struct Scrapes {
    pub fetcher: Fetcher,
    pub upstream: Arc<Upstream>,
    pub store: Arc<dyn ObjectStore>,
    pub ledger: Arc<Ledger>,
    pub notifier: Arc<Notifier>,
    /// Finished runs to the old dashboards' BigQuery table, through the ledger.
    pub execution_log: Arc<ExecutionLog>,
    pub metrics: Arc<Metrics>,
    pub run_deadline: Duration,
    /// Where work that outlives its run is spawned (the execution-log export): owned by the
    /// application, drained at shutdown.
    pub tasks: Tasks,
}

/// A run in progress: its identity and the bookkeeping shared by both scrapers.
#[derive(Clone)]
struct Run {
    id: String,
    scraper: Scraper,
    date: GameDate,
    market: Option<MarketType>,
    trigger: Trigger,
    started_at: chrono::DateTime<Utc>,
    timestamp: String,
    deadline: Instant,
    /// The props run whose events answer this `bp_events` run stores, if it is one.
    for_run: Option<String>,
}

impl Run {
    fn context(&self) -> String {
        match (self.market, &self.for_run) {
            (Some(m), _) => format!("{} {} {} (run {})", self.scraper, self.date, m, self.id),
            (None, Some(props)) => format!(
                "{} {} (run {}, the events of {} run {props})",
                self.scraper,
                self.date,
                self.id,
                Scraper::PlayerProps
            ),
            (None, None) => format!("{} {} (run {})", self.scraper, self.date, self.id),
        }
    }

    /// The `bp_events` run that stores the events answer this props run fetched: same date,
    /// trigger, start and file timestamp, a run id of its own.
    fn events_of(&self) -> Run {
        Run {
            id: new_run_id(),
            scraper: Scraper::Events,
            market: None,
            for_run: Some(self.id.clone()),
            ..self.clone()
        }
    }

    fn report(&self, status: RunStatus, message: String) -> RunReport {
        RunReport {
            run_id: self.id.clone(),
            scraper: self.scraper,
            date: self.date,
            market: self.market,
            trigger: self.trigger,
            started_at: self.started_at,
            finished_at: Utc::now(),
            timestamp: self.timestamp.clone(),
            status,
            message,
            error_kind: None,
            counts: RunCounts::default(),
            event_ids: Vec::new(),
            attempts: 0,
            retries: 0,
            bytes: 0,
            object_name: None,
            generation: None,
            complete_file_url: None,
            routes: Vec::new(),
        }
    }

    fn failed(&self, err: &FetchError, what: &str) -> RunReport {
        let mut r = self.report(RunStatus::Failed, format!("{what}: {err}"));
        r.error_kind = Some(err.kind());
        tally::Tally::of_error(err).apply(&mut r);
        r
    }
}

impl Scrapes {
    /// Publishes what the outbox still holds (a bounded number, oldest first; see
    /// [`crate::notify::outbox`]) and updates the `backstop_outbox_unpublished` gauge.
    pub async fn announce_outbox(&self) -> Drained {
        let drained = self.notifier.drain(&self.ledger, DRAIN_LIMIT).await;
        if let Ok(n) = self.ledger.unpublished_count().await {
            self.metrics.set(&metrics::OUTBOX_UNPUBLISHED, [], n as f64);
        }
        drained
    }

    /// Appends finished runs to the execution log (after any drain under way) and updates the
    /// `backstop_execution_log_unexported` gauge.
    pub async fn export_runs(&self) -> execution_log::Drained {
        let drained = self.execution_log.drain(&self.ledger).await;
        self.count_unexported().await;
        drained
    }

    /// [`Scrapes::export_runs`] as a task of the application's, unless a drain is under way: a
    /// BigQuery outage neither fails nor slows a run. What it does not finish (it may get no
    /// CPU once the request that ran the run has answered) the sweep exports.
    pub fn export_runs_soon(&self) {
        if !self.execution_log.is_on() {
            return;
        }
        let me = self.clone();
        self.tasks.spawn("execution-log export", async move {
            if me.execution_log.try_drain(&me.ledger).await.is_some() {
                me.count_unexported().await;
            }
        });
    }

    async fn count_unexported(&self) {
        if let Ok(n) = self.ledger.unexported_count().await {
            self.metrics
                .set(&metrics::EXECUTION_LOG_UNEXPORTED, [], n as f64);
        }
    }

    /// Runs a request: one report for `bp_events`, one per market for `bp_player_props`.
    pub async fn run(&self, req: &ScrapeRequest) -> Vec<RunReport> {
        match req.scraper {
            Scraper::Events => vec![
                self.finish(events::run(self, self.begin(req, None).await).await)
                    .await,
            ],
            Scraper::PlayerProps => {
                let markets = req.markets.markets();
                let mut runs: Vec<Run> = Vec::with_capacity(markets.len());
                for m in &markets {
                    runs.push(self.begin(req, Some(*m)).await);
                }
                let day = props::fetch_events(self, &runs[0]).await;
                // The answer is stored as the events file by a `bp_events` run of its own,
                // beside the markets: its failure is that run's, never theirs.
                let stored = self.store_events(runs[0].events_of(), &day);
                let markets = join_all(runs.into_iter().map(|run| {
                    let day = day.clone();
                    async move { self.finish(props::run(self, run, day).await).await }
                }));
                let (_, reports) = tokio::join!(stored, markets);
                reports
            }
        }
    }

    /// Writes the events file of a props request's events answer as the `bp_events` run `run`
    /// (see [`events::store`]), recorded and announced as any run; no run when there was no
    /// answer to store.
    async fn store_events(&self, run: Run, day: &props::Day) {
        if let props::Day::Events { answer, .. } = day {
            let run = self.record_start(run).await;
            self.finish(events::store(self, run, answer).await).await;
        }
    }

    async fn begin(&self, req: &ScrapeRequest, market: Option<MarketType>) -> Run {
        let started_at = Utc::now();
        self.record_start(Run {
            id: new_run_id(),
            scraper: req.scraper,
            date: req.date,
            market,
            trigger: req.trigger,
            started_at,
            timestamp: run_timestamp(started_at),
            deadline: Instant::now() + self.run_deadline,
            for_run: None,
        })
        .await
    }

    /// Records a run's start in the ledger.
    async fn record_start(&self, run: Run) -> Run {
        let mut opts = serde_json::json!({
            "date": run.date.to_string(),
            "market_type": run.market.map(|m| m.as_str()),
        });
        if let Some(props) = &run.for_run {
            opts["for_run"] = props.as_str().into();
        }
        let new = NewRun {
            run_id: run.id.clone(),
            scraper: run.scraper,
            game_date: run.date,
            market: run.market,
            trigger: run.trigger,
            started_at: run.started_at,
            opts,
        };
        if let Err(e) = self.ledger.start_run(&new).await {
            tracing::error!(run_id = %run.id, error = %e, "could not record the run's start in the ledger");
        }
        tracing::info!(run_id = %run.id, scraper = %run.scraper, game_date = %run.date,
                       market = run.market.map(|m| m.as_str()), trigger = run.trigger.as_str(),
                       for_run = run.for_run.as_deref(), "run started");
        run
    }

    /// Records the end of a run, counts it, and sends its completion message.
    async fn finish(&self, report: RunReport) -> RunReport {
        if let Err(e) = self
            .ledger
            .finish_run(&report.run_id, &report.outcome())
            .await
        {
            tracing::error!(run_id = %report.run_id, error = %e, "could not record the run's end in the ledger");
        }
        let market = report.market.map(|m| m.as_str()).unwrap_or("");
        let labels = [report.scraper.name(), market, report.status.as_str()];
        self.metrics.inc(&metrics::RUNS, labels);
        if report.scraper == Scraper::PlayerProps && report.object_name.is_some() {
            self.metrics.add(
                &metrics::PROPS_WRITTEN,
                [market],
                report.counts.props_written as f64,
            );
        }
        if report.status == RunStatus::Success {
            self.metrics.set(
                &metrics::LAST_SUCCESS_TIMESTAMP_SECONDS,
                [report.scraper.name(), market],
                report.finished_at.timestamp() as f64,
            );
        }
        let fields = (
            report.run_id.as_str(),
            report.scraper.name(),
            report.date.to_string(),
        );
        match report.status {
            RunStatus::Success | RunStatus::NoData => tracing::info!(
                run_id = fields.0, scraper = fields.1, game_date = %fields.2, market,
                status = report.status.as_str(), rows = report.row_count(), "{}", report.message),
            _ => tracing::error!(
                run_id = fields.0, scraper = fields.1, game_date = %fields.2, market,
                status = report.status.as_str(), error_kind = report.error_kind.map(|k| k.to_string()), "{}", report.message),
        }
        if self.notifier.is_on() {
            // A complete file's message is what Phase 2 loads from: the outbox keeps it until
            // it went out. When this one went out, Pub/Sub is up: publish what others left.
            let file = report
                .complete_file_url
                .as_ref()
                .and(report.object_name.as_deref());
            let message = completion_message(&report);
            let published = self
                .notifier
                .announce(&self.ledger, &report.run_id, file, &message)
                .await;
            if matches!(published, Some(Ok(_))) {
                self.announce_outbox().await;
            }
        }
        self.export_runs_soon();
        report
    }
}
