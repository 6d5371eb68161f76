//! The execution-log outbox: each finished run's row of the pipeline's BigQuery table
//! `nba_orchestration.scraper_execution_log` (mapped by [`super::export`]) goes out from here,
//! so a BigQuery outage loses no row and never fails a scrape.
//!
//! A run's own finish is the enqueue: a finished run with no exported row is pending, so no
//! crash between finishing and exporting can lose one. The table `execution_log` keeps only
//! the delivery: who holds a run (a lease, as the completion outbox's), how many sends may have
//! reached BigQuery, the last error, and when and how it was exported. A drain claims a batch,
//! oldest first; runs already in the ledger when this table came are exported too.
//!
//! # After a crash (or an answer that never came)
//!
//! | left behind | what it means | what the next drain does |
//! |---|---|---|
//! | pending, never sent | the row never went out | sends it |
//! | claimed, `sends` 0 | a drain died before sending | takes it once the lease ran out, sends it |
//! | `sends` ≥ 1, not exported | a send failed, and may have reached BigQuery (a timeout, a lost answer, a dying process) | looks for the run's `execution_id` in the table first: found → exported (`found`), never sent again; absent → sends it |
//! | rejected | BigQuery refused the row itself | nothing: it would be refused again; the error stays for a person |
//! | exported | done | nothing; never claimed again |

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::db::Row;
use super::outbox::CLAIM_LEASE;
use super::{Doing, Ledger, LedgerError, RunRecord};

/// A finished run whose row is to go out now (claimed by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingExport {
    pub run: RunRecord,
    /// Earlier sends that may have reached BigQuery: look in the table before sending again.
    pub sends: u32,
}

/// How a run's row came to be in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exported {
    /// BigQuery took it just now.
    Sent,
    /// It was there already: an earlier send whose answer was lost had reached BigQuery.
    Found,
}

impl Exported {
    fn as_str(self) -> &'static str {
        match self {
            Exported::Sent => "sent",
            Exported::Found => "found",
        }
    }
}

/// Where one run's export stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRecord {
    pub run_id: String,
    pub sends: u32,
    pub last_error: Option<String>,
    pub rejected: bool,
    pub exported_at: Option<DateTime<Utc>>,
    pub how: Option<String>,
}

/// Finished runs whose row is neither exported nor rejected.
const UNEXPORTED: &str = "FROM runs r LEFT JOIN execution_log e ON e.run_id = r.id
     WHERE r.status <> 'running'
       AND (e.run_id IS NULL OR (e.exported_at IS NULL AND e.rejected = 0))";

impl Ledger {
    /// Claims up to `limit` pending runs, oldest finish first, for one drain: one conditional
    /// upsert, so of two drains (on any instances) each run goes to one.
    pub async fn claim_exports(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingExport>, LedgerError> {
        let doing = || "claiming finished runs for the execution log".to_string();
        let expired = now - CLAIM_LEASE;
        let sql = format!(
            "INSERT INTO execution_log (run_id, claimed_at)
             SELECT r.id, $2 {UNEXPORTED} AND (e.claimed_at IS NULL OR e.claimed_at < $1)
             ORDER BY r.finished_at, r.id LIMIT $3
             ON CONFLICT (run_id) DO UPDATE SET claimed_at = excluded.claimed_at
             WHERE execution_log.exported_at IS NULL AND execution_log.rejected = 0
               AND (execution_log.claimed_at IS NULL OR execution_log.claimed_at < $1)
             RETURNING run_id, sends"
        );
        let claimed = self
            .db
            .query(&sql, &[expired.into(), now.into(), limit.into()])
            .await
            .doing(doing)?;
        let mut out = Vec::with_capacity(claimed.len());
        for row in claimed {
            let (run_id, sends) = (
                row.text("run_id").doing(doing)?,
                row.unsigned("sends").doing(doing)?,
            );
            if let Some(run) = self.run(&run_id).await? {
                out.push(PendingExport { run, sends });
            }
        }
        out.sort_by(|a, b| {
            (a.run.finished_at, &a.run.run_id).cmp(&(b.run.finished_at, &b.run.run_id))
        });
        Ok(out)
    }

    /// Records that these runs' rows are in the table (`how`), for good.
    pub async fn exports_done(
        &self,
        run_ids: &[String],
        how: Exported,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || {
            format!(
                "recording {} run(s) exported ({})",
                run_ids.len(),
                how.as_str()
            )
        };
        for run_id in run_ids {
            self.db
                .execute(
                    "UPDATE execution_log SET exported_at = $2, how = $3, claimed_at = NULL,
                         sends = sends + $4
                     WHERE run_id = $1 AND exported_at IS NULL",
                    &[
                        run_id.into(),
                        now.into(),
                        how.as_str().into(),
                        (how == Exported::Sent).into(),
                    ],
                )
                .await
                .doing(doing)?;
        }
        Ok(())
    }

    /// Records a failed send: the error is kept and the claim released for a later drain.
    /// `maybe_sent`: the request may have reached BigQuery (the next drain looks first).
    pub async fn exports_failed(
        &self,
        run_ids: &[String],
        error: &str,
        maybe_sent: bool,
    ) -> Result<(), LedgerError> {
        let doing = || format!("recording a failed export of {} run(s)", run_ids.len());
        for run_id in run_ids {
            self.db
                .execute(
                    "UPDATE execution_log SET last_error = $2, claimed_at = NULL, sends = sends + $3
                     WHERE run_id = $1 AND exported_at IS NULL",
                    &[run_id.into(), error.into(), maybe_sent.into()],
                )
                .await
                .doing(doing)?;
        }
        Ok(())
    }

    /// Records that BigQuery refused this run's row itself: it is not sent again.
    pub async fn export_rejected(&self, run_id: &str, error: &str) -> Result<(), LedgerError> {
        self.db
            .execute(
                "UPDATE execution_log SET rejected = 1, last_error = $2, claimed_at = NULL
                 WHERE run_id = $1 AND exported_at IS NULL",
                &[run_id.into(), error.into()],
            )
            .await
            .doing(|| format!("recording the refused export of run {run_id}"))?;
        Ok(())
    }

    /// Finished runs whose row has not gone out yet (claimed ones too; rejected ones not).
    pub async fn unexported_count(&self) -> Result<u64, LedgerError> {
        let doing = || "counting runs not yet in the execution log".to_string();
        let row = self
            .db
            .query_opt(&format!("SELECT count(*) AS n {UNEXPORTED}"), &[])
            .await
            .doing(doing)?;
        row.map_or(Ok(0), |r| r.unsigned("n")).doing(doing)
    }

    /// Where one run's export stands (`None`: never claimed).
    pub async fn export_record(&self, run_id: &str) -> Result<Option<ExportRecord>, LedgerError> {
        let row = self
            .db
            .query_opt(
                "SELECT run_id, sends, last_error, rejected, exported_at, how
                 FROM execution_log WHERE run_id = $1",
                &[run_id.into()],
            )
            .await;
        row.and_then(|r| r.as_ref().map(record_from_row).transpose())
            .doing(|| format!("reading the export of run {run_id}"))
    }
}

fn record_from_row(r: &Row) -> Result<ExportRecord, super::DbError> {
    Ok(ExportRecord {
        run_id: r.text("run_id")?,
        sends: r.unsigned("sends")?,
        last_error: r.text_opt("last_error")?,
        rejected: r.flag("rejected")?,
        exported_at: r.time_opt("exported_at")?,
        how: r.text_opt("how")?,
    })
}
