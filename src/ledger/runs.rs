//! Runs in the ledger: one row per scrape run, written when it starts and when it finishes.
//!
//! A run is inserted as `running`, owned by this instance with a lease, before any work, so a
//! process that dies mid-run leaves a trace; once the lease runs out another instance (or the
//! next start) turns it into `abandoned` ([`Ledger::abandon_running`]). A finished row's counts
//! are all numbers (zero stays 0); an abandoned row's are NULL (unknown). The game date is
//! always the date that was asked for, whatever the outcome.
//!
//! # After a crash
//!
//! | left behind | what it means | what happens |
//! |---|---|---|
//! | `running`, lease still held | the owner is alive (another instance, mid-run) | nothing: it finishes its own run |
//! | `running`, lease expired (or no owner: written before leases) | the owner died or stopped heartbeating | the first instance to look marks it `abandoned`, counts NULL — one conditional update, so exactly once |
//! | `abandoned`, then the late owner finishes | the owner was only slow (its heartbeat starved) | its real outcome replaces `abandoned`: the record says what happened |
//! | `success`/`partial`/`no_data`/`failed` | finished | final: a second finish is refused |

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::db::{DbError, Row, Value};
use super::{Doing, Ledger, LedgerError, LedgerProblem};
use crate::calendar::GameDate;
use crate::market::MarketType;
use crate::run::{RunStatus, Scraper, Trigger};

/// A run about to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub run_id: String,
    pub scraper: Scraper,
    pub game_date: GameDate,
    /// `None` for the events scraper.
    pub market: Option<MarketType>,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    /// The options the run was asked with, kept as given.
    pub opts: serde_json::Value,
}

/// What a run counted. `None` only where the count is truly unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// Events on the date (unknown when the events call failed).
    pub events: Option<u64>,
    /// The source's `total_items`, when it declared one.
    pub offers_declared: Option<u64>,
    pub offers_received: u64,
    pub props_written: u64,
    pub players: u64,
    pub failed_offers: u64,
    pub dropped_lines: u64,
    pub pages_fetched: u32,
    pub pages_total: Option<u32>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub finished_at: DateTime<Utc>,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub counts: RunCounts,
    pub attempts: u32,
    pub retries: u32,
    pub bytes: u64,
    pub object_name: Option<String>,
    pub generation: Option<i64>,
    /// Which network routes the attempts used.
    pub routes: Option<String>,
}

/// One row of the `runs` table, typed. Serialises for the HTTP API: statuses as `"success"`,
/// dates as `YYYY-MM-DD`, times as RFC 3339, NULL as `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// The `id` column.
    pub run_id: String,
    pub scraper: Scraper,
    pub game_date: GameDate,
    pub market: Option<MarketType>,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `finished_at - started_at`; `None` while running.
    pub duration_seconds: Option<f64>,
    pub status: RunStatus,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub events: Option<u64>,
    pub offers_declared: Option<u64>,
    pub offers_received: Option<u64>,
    pub props_written: Option<u64>,
    pub players: Option<u64>,
    pub failed_offers: Option<u64>,
    pub dropped_lines: Option<u64>,
    pub pages_fetched: Option<u32>,
    pub pages_total: Option<u32>,
    pub attempts: Option<u32>,
    pub retries: Option<u32>,
    pub bytes: Option<u64>,
    pub object_name: Option<String>,
    pub generation: Option<i64>,
    /// `None` until publishing was tried, then whether the completion message went out.
    pub published: Option<bool>,
    pub publish_error: Option<String>,
    pub routes: Option<String>,
    pub opts: serde_json::Value,
}

impl RunRecord {
    /// The counts, when the run finished with them known (not running, not abandoned).
    pub fn counts(&self) -> Option<RunCounts> {
        Some(RunCounts {
            events: self.events,
            offers_declared: self.offers_declared,
            offers_received: self.offers_received?,
            props_written: self.props_written?,
            players: self.players?,
            failed_offers: self.failed_offers?,
            dropped_lines: self.dropped_lines?,
            pages_fetched: self.pages_fetched?,
            pages_total: self.pages_total,
        })
    }
}

/// Which runs to list. `limit` 0 means the default (100); more than 1000 is cut to 1000.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    pub scraper: Option<Scraper>,
    pub game_date: Option<GameDate>,
    pub market: Option<MarketType>,
    pub status: Option<RunStatus>,
    pub limit: u32,
}

impl RunFilter {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 1000;

    /// The limit actually applied.
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

const RUN_COLUMNS: &str = r#"id, scraper, game_date, market, "trigger", started_at, finished_at,
    status, error_kind, error_message, events, offers_declared, offers_received, props_written,
    players, failed_offers, dropped_lines, pages_fetched, pages_total, attempts, retries, bytes,
    object_name, generation, published, publish_error, routes, opts"#;

impl Ledger {
    /// Records that a run has started (status `running`), owned by this instance.
    pub async fn start_run(&self, run: &NewRun) -> Result<(), LedgerError> {
        let doing = || format!("starting run {}", run.run_id);
        let inserted = self
            .db
            .execute(
                r#"INSERT INTO runs (id, scraper, game_date, market, "trigger", started_at, status,
                       opts, owner, lease_until)
                   VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9)
                   ON CONFLICT (id) DO NOTHING"#,
                &[
                    run.run_id.as_str().into(),
                    run.scraper.name().into(),
                    run.game_date.to_string().into(),
                    run.market.map(MarketType::as_str).into(),
                    run.trigger.as_str().into(),
                    run.started_at.into(),
                    (&run.opts).into(),
                    self.instance.id.as_str().into(),
                    self.instance.lease_from(run.started_at).into(),
                ],
            )
            .await
            .doing(doing)?;
        if inserted == 0 {
            return Err(LedgerError::new(doing(), LedgerProblem::DuplicateRun));
        }
        Ok(())
    }

    /// Records how a run ended. Fails if the run is unknown or has already finished (a second
    /// finish would overwrite the first record). A run of this instance that another marked
    /// `abandoned` (its heartbeat starved) takes its real outcome.
    pub async fn finish_run(&self, run_id: &str, outcome: &RunOutcome) -> Result<(), LedgerError> {
        let doing = || format!("finishing run {run_id}");
        if outcome.status == RunStatus::Running {
            return Err(LedgerError::new(
                doing(),
                LedgerProblem::Invalid("a run cannot finish as running".into()),
            ));
        }
        let c = &outcome.counts;
        let changed = self
            .db
            .execute(
                "UPDATE runs SET status = $2, finished_at = $3, error_kind = $4, error_message = $5,
                     events = $6, offers_declared = $7, offers_received = $8, props_written = $9,
                     players = $10, failed_offers = $11, dropped_lines = $12, pages_fetched = $13,
                     pages_total = $14, attempts = $15, retries = $16, bytes = $17,
                     object_name = $18, generation = $19, routes = $20, lease_until = NULL
                 WHERE id = $1 AND (status = 'running' OR (status = 'abandoned' AND owner = $21))",
                &[
                    run_id.into(),
                    outcome.status.as_str().into(),
                    outcome.finished_at.into(),
                    outcome.error_kind.as_deref().into(),
                    outcome.error_message.as_deref().into(),
                    c.events.into(),
                    c.offers_declared.into(),
                    c.offers_received.into(),
                    c.props_written.into(),
                    c.players.into(),
                    c.failed_offers.into(),
                    c.dropped_lines.into(),
                    c.pages_fetched.into(),
                    c.pages_total.into(),
                    outcome.attempts.into(),
                    outcome.retries.into(),
                    outcome.bytes.into(),
                    outcome.object_name.as_deref().into(),
                    outcome.generation.into(),
                    outcome.routes.as_deref().into(),
                    self.instance.id.as_str().into(),
                ],
            )
            .await
            .doing(doing)?;
        if changed == 1 {
            return Ok(());
        }
        let problem = match self.run(run_id).await? {
            None => LedgerProblem::NoSuchRun,
            Some(run) => LedgerProblem::AlreadyFinished(run.status),
        };
        Err(LedgerError::new(doing(), problem))
    }

    /// Records whether the completion message went out. Once a message went out the run stays
    /// `published` (Pub/Sub cannot take it back); a later attempt's error is still recorded.
    pub async fn record_publish(
        &self,
        run_id: &str,
        published: bool,
        error: Option<&str>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("recording the publish of run {run_id}");
        let n = self
            .db
            .execute(
                "UPDATE runs SET published = CASE WHEN published = 1 THEN 1 ELSE $2 END,
                     publish_error = $3
                 WHERE id = $1",
                &[run_id.into(), published.into(), error.into()],
            )
            .await
            .doing(doing)?;
        if n == 0 {
            return Err(LedgerError::new(doing(), LedgerProblem::NoSuchRun));
        }
        Ok(())
    }

    /// One run by id.
    pub async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, LedgerError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        let row = self.db.query_opt(&sql, &[run_id.into()]).await;
        row.and_then(|r| r.as_ref().map(run_from_row).transpose())
            .doing(|| format!("reading run {run_id}"))
    }

    /// The run that wrote an object, if backstop wrote it.
    pub async fn run_by_object(&self, object_name: &str) -> Result<Option<RunRecord>, LedgerError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE object_name = $1
             ORDER BY started_at DESC LIMIT 1"
        );
        let row = self.db.query_opt(&sql, &[object_name.into()]).await;
        row.and_then(|r| r.as_ref().map(run_from_row).transpose())
            .doing(|| format!("finding the run that wrote {object_name}"))
    }

    /// Runs matching the filter, newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, LedgerError> {
        let mut clauses = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let mut add = |clause: &str, value: String| {
            values.push(value.into());
            clauses.push(format!("{clause} = ${}", values.len()));
        };
        if let Some(s) = filter.scraper {
            add("scraper", s.name().into());
        }
        if let Some(d) = filter.game_date {
            add("game_date", d.to_string());
        }
        if let Some(m) = filter.market {
            add("market", m.as_str().into());
        }
        if let Some(s) = filter.status {
            add("status", s.as_str().into());
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        values.push(filter.effective_limit().into());
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs {filter_sql}
             ORDER BY started_at DESC, rowid DESC LIMIT ${}",
            values.len()
        );
        let rows = self.db.query(&sql, &values).await;
        rows.and_then(|rows| rows.iter().map(run_from_row).collect())
            .doing(|| "listing runs".to_string())
    }

    /// For gap reports: the latest run (by start) per (game date, scraper, market) with
    /// `from <= game_date <= to`, whatever its status, ordered by date, scraper, market.
    pub async fn last_runs(
        &self,
        from: GameDate,
        to: GameDate,
    ) -> Result<Vec<RunRecord>, LedgerError> {
        let doing = || format!("reading the last runs from {from} to {to}");
        if from > to {
            return Err(LedgerError::new(
                doing(),
                LedgerProblem::Invalid("the range ends before it starts".into()),
            ));
        }
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM (
                 SELECT *, ROW_NUMBER() OVER (
                     PARTITION BY game_date, scraper, market
                     ORDER BY started_at DESC, rowid DESC) AS latest
                 FROM runs WHERE game_date BETWEEN $1 AND $2) AS ranked
             WHERE latest = 1
             ORDER BY game_date, scraper, market"
        );
        let range = [from.to_string().into(), to.to_string().into()];
        let rows = self.db.query(&sql, &range).await;
        rows.and_then(|rows| rows.iter().map(run_from_row).collect())
            .doing(doing)
    }
}

fn run_from_row(row: &Row) -> Result<RunRecord, DbError> {
    let started_at = row.time("started_at")?;
    let finished_at = row.time_opt("finished_at")?;
    Ok(RunRecord {
        run_id: row.text("id")?,
        scraper: row.parsed("scraper")?,
        game_date: row.parsed("game_date")?,
        market: row.parsed_opt("market")?,
        trigger: row.parsed("trigger")?,
        started_at,
        finished_at,
        duration_seconds: finished_at
            .map(|f| (f - started_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6),
        status: row.parsed("status")?,
        error_kind: row.text_opt("error_kind")?,
        error_message: row.text_opt("error_message")?,
        events: row.unsigned_opt("events")?,
        offers_declared: row.unsigned_opt("offers_declared")?,
        offers_received: row.unsigned_opt("offers_received")?,
        props_written: row.unsigned_opt("props_written")?,
        players: row.unsigned_opt("players")?,
        failed_offers: row.unsigned_opt("failed_offers")?,
        dropped_lines: row.unsigned_opt("dropped_lines")?,
        pages_fetched: row.unsigned_opt("pages_fetched")?,
        pages_total: row.unsigned_opt("pages_total")?,
        attempts: row.unsigned_opt("attempts")?,
        retries: row.unsigned_opt("retries")?,
        bytes: row.unsigned_opt("bytes")?,
        object_name: row.text_opt("object_name")?,
        generation: row.int_opt("generation")?,
        published: row.flag_opt("published")?,
        publish_error: row.text_opt("publish_error")?,
        routes: row.text_opt("routes")?,
        opts: row.json("opts")?,
    })
}
