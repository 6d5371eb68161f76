//! The old dashboards' view of Phase 1: each finished run appended to BigQuery's
//! `nba_orchestration.scraper_execution_log` (the row is `ledger::export`'s), through the
//! ledger's execution-log outbox (`ledger::exports`), so a BigQuery outage loses no row and never
//! fails, nor slows, a scrape.
//!
//! A drain claims the oldest pending runs in batches of [`BATCH`]. Runs an earlier send may
//! have delivered (it timed out, its answer was lost) are looked for in the table first, by
//! `execution_id`: found ones are done, never sent again. The rest go in one `insertAll`, with
//! the run id as `insertId`, one attempt: a failure leaves them for the next drain, and stops
//! this one (BigQuery is unusable). A row BigQuery refuses is kept with the reason and not sent
//! again. Drains run after every run (as a task the application owns, one at a time per
//! process) and at every sweep (`POST /sweep`).

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::gcp::{endpoint, Credentials};
use crate::ledger::{execution_log_row, Exported, Ledger, PendingExport};
use crate::settings::{ConfigError, Vars};
use crate::warehouse::{BigQuery, QueryParam, WarehouseError, WarehouseFailure, WarehouseSettings};

/// The table, as the rest of the pipeline names it.
pub const DATASET: &str = "nba_orchestration";
pub const TABLE: &str = "scraper_execution_log";

/// Runs per `insertAll`.
pub const BATCH: u32 = 50;
/// Batches one drain sends at most: a later drain carries on.
const BATCHES: usize = 10;

/// The columns `ledger::export` fills, with their BigQuery types (emulated tables are made
/// from this).
pub const COLUMNS: &[(&str, &str)] = &[
    ("execution_id", "STRING"),
    ("scraper_name", "STRING"),
    ("workflow", "STRING"),
    ("game_date", "DATE"),
    ("status", "STRING"),
    ("triggered_at", "TIMESTAMP"),
    ("completed_at", "TIMESTAMP"),
    ("duration_seconds", "FLOAT64"),
    ("source", "STRING"),
    ("environment", "STRING"),
    ("triggered_by", "STRING"),
    ("gcs_path", "STRING"),
    ("data_summary", "STRING"),
    ("error_type", "STRING"),
    ("error_message", "STRING"),
    ("retry_count", "INT64"),
    ("recovery", "BOOL"),
    ("run_id", "STRING"),
    ("opts", "STRING"),
];

/// `BACKSTOP_EXECUTION_LOG` and `BACKSTOP_ENVIRONMENT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionLogSettings {
    /// On by default on Cloud Run (`K_SERVICE` set), off elsewhere.
    pub enabled: bool,
    /// The rows' `environment`: `prod` on Cloud Run by default, `local` elsewhere.
    pub environment: String,
}

impl ExecutionLogSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let on_cloud_run = vars.get("K_SERVICE").is_some();
        let environment =
            vars.get("BACKSTOP_ENVIRONMENT")
                .unwrap_or(if on_cloud_run { "prod" } else { "local" });
        let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c);
        if environment.len() > 32 || !environment.chars().all(plain) {
            return Err(ConfigError {
                var: "BACKSTOP_ENVIRONMENT",
                value: environment.into(),
                reason: "may hold only up to 32 lowercase letters, digits, - and _ (prod, dev…)"
                    .into(),
            });
        }
        Ok(Self {
            enabled: vars
                .switch("BACKSTOP_EXECUTION_LOG")?
                .unwrap_or(on_cloud_run),
            environment: environment.into(),
        })
    }
}

/// What one drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    pub sent: u32,
    /// Found in the table already: an earlier send had arrived.
    pub found: u32,
    pub rejected: u32,
    pub failed: u32,
}

pub struct ExecutionLog {
    settings: ExecutionLogSettings,
    /// The project's BigQuery (or the emulator), with the warehouse's credentials.
    bq: BigQuery,
    /// The bucket raw files are in, for `gcs_path` (none: a local directory).
    bucket: Option<String>,
    /// The project that owns the table.
    project: String,
    /// The longest one request may take.
    timeout: Duration,
    /// One drain at a time in this process.
    draining: Mutex<()>,
}

impl ExecutionLog {
    pub fn new(
        settings: ExecutionLogSettings,
        warehouse: &WarehouseSettings,
        credentials: Credentials,
        bucket: Option<String>,
    ) -> Self {
        let base = warehouse.emulator.as_deref().unwrap_or(endpoint::BIGQUERY);
        let bq = BigQuery::new(
            base,
            &warehouse.project,
            credentials,
            warehouse.max_attempts,
            warehouse.backoff_base,
            None,
        );
        Self {
            settings,
            bq,
            bucket,
            project: warehouse.project.clone(),
            timeout: warehouse.query_timeout,
            draining: Mutex::new(()),
        }
    }

    pub fn is_on(&self) -> bool {
        self.settings.enabled
    }

    /// Drains unless another drain of this process is under way (then `None`).
    pub async fn try_drain(&self, ledger: &Ledger) -> Option<Drained> {
        let _one = self.draining.try_lock().ok()?;
        Some(self.drain_batches(ledger).await)
    }

    /// Drains, after any drain under way has ended (a process about to exit flushes so).
    pub async fn drain(&self, ledger: &Ledger) -> Drained {
        let _one = self.draining.lock().await;
        self.drain_batches(ledger).await
    }

    async fn drain_batches(&self, ledger: &Ledger) -> Drained {
        let mut done = Drained::default();
        if !self.is_on() {
            return done;
        }
        for _ in 0..BATCHES {
            let batch = match ledger.claim_exports(Utc::now(), BATCH).await {
                Ok(b) if b.is_empty() => break,
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the runs waiting for the execution log");
                    break;
                }
            };
            if !self.export(ledger, batch, &mut done).await {
                break;
            }
        }
        done
    }

    /// One batch; false when BigQuery failed (the drain stops).
    async fn export(&self, ledger: &Ledger, batch: Vec<PendingExport>, done: &mut Drained) -> bool {
        let deadline = Instant::now() + self.timeout;
        // Runs an earlier send may have delivered: in the table already, or not sent again yet.
        let maybe_sent: Vec<String> = batch
            .iter()
            .filter(|p| p.sends > 0)
            .map(|p| p.run.run_id.clone())
            .collect();
        let mut usable = true;
        let held_back: HashSet<String> = match self.present(&maybe_sent, deadline).await {
            Ok(found) => {
                if !found.is_empty() {
                    let found: Vec<String> = found.iter().cloned().collect();
                    tracing::warn!(runs = ?found, "execution log: rows an unanswered send had delivered after all; not sent again");
                    record(
                        ledger
                            .exports_done(&found, Exported::Found, Utc::now())
                            .await,
                    );
                    done.found += found.len() as u32;
                }
                found
            }
            // Not known whether they arrived: they wait; the ones never sent may still go.
            Err(e) => {
                usable = self.failed(ledger, &maybe_sent, &e, false, done).await;
                maybe_sent.into_iter().collect()
            }
        };
        let rows: Vec<(String, Value)> = batch
            .iter()
            .filter(|p| !held_back.contains(&p.run.run_id))
            .map(|p| (p.run.run_id.clone(), self.row(p)))
            .collect();
        if rows.is_empty() {
            return usable;
        }
        let sent: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        match self.bq.insert_all(DATASET, TABLE, &rows, deadline).await {
            Ok(refused) if refused.is_empty() => {
                record(ledger.exports_done(&sent, Exported::Sent, Utc::now()).await);
                done.sent += sent.len() as u32;
                usable
            }
            Ok(refused) => {
                // One bad row fails the whole request: the others go again without it.
                let invalid: HashSet<usize> = refused
                    .iter()
                    .filter(|r| r.invalid && r.index < sent.len())
                    .map(|r| r.index)
                    .collect();
                for r in refused.iter().filter(|r| invalid.contains(&r.index)) {
                    let id = &sent[r.index];
                    tracing::error!(run_id = %id, reason = %r.reason, "execution log: BigQuery refused this run's row; it is not sent again");
                    record(ledger.export_rejected(id, &r.reason).await);
                    done.rejected += 1;
                }
                let again: Vec<String> = (0..sent.len())
                    .filter(|i| !invalid.contains(i))
                    .map(|i| sent[i].clone())
                    .collect();
                let why = "not appended: another row of the request was refused";
                record(ledger.exports_failed(&again, why, false).await);
                usable
            }
            Err(e) => {
                // An answer that never came (a timeout, 5xx, a reset) may have appended the rows.
                let maybe = !matches!(e.failure, WarehouseFailure::Auth)
                    && !matches!(e.failure, WarehouseFailure::Status(s) if s < 500);
                self.failed(ledger, &sent, &e, maybe, done).await
            }
        }
    }

    async fn failed(
        &self,
        ledger: &Ledger,
        ids: &[String],
        e: &WarehouseError,
        maybe_sent: bool,
        done: &mut Drained,
    ) -> bool {
        tracing::error!(runs = ids.len(), error = %e, "execution log: rows not appended; they wait in the ledger and go with a later drain");
        record(ledger.exports_failed(ids, &e.to_string(), maybe_sent).await);
        done.failed += ids.len() as u32;
        false
    }

    /// Which of `run_ids` the table holds already (by `execution_id`).
    async fn present(
        &self,
        run_ids: &[String],
        deadline: Instant,
    ) -> Result<HashSet<String>, WarehouseError> {
        if run_ids.is_empty() {
            return Ok(HashSet::new());
        }
        // Run ids are hex: a comma-joined list splits back exactly.
        let params = [QueryParam {
            name: "ids",
            kind: "STRING",
            value: run_ids.join(","),
        }];
        let sql = format!(
            "SELECT execution_id FROM `{}.{DATASET}.{TABLE}` WHERE execution_id IN UNNEST(SPLIT(@ids, ','))",
            self.project
        );
        let doing = format!("looking for {} run(s) in {DATASET}.{TABLE}", run_ids.len());
        let result = self.bq.query(&doing, &sql, &params, deadline).await?;
        Ok(result
            .rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect())
    }

    fn row(&self, p: &PendingExport) -> Value {
        let bucket = self.bucket.as_deref().unwrap_or_default();
        let mut row = execution_log_row(&p.run, &self.settings.environment, bucket);
        if self.bucket.is_none() {
            row["gcs_path"] = Value::Null;
        }
        row
    }
}

/// Logs a ledger write that failed: the drain goes on (the run stays pending, or is sent again
/// and found).
fn record(written: Result<(), crate::ledger::LedgerError>) {
    if let Err(e) = written {
        tracing::error!(error = %e, "execution log: could not record the export in the ledger");
    }
}
