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
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::columns::Time;
use super::outbox::CLAIM_LEASE;
use super::{all_rows, Doing, Ledger, LedgerError, RunRecord};

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
     WHERE r.status != 'running'
       AND (e.run_id IS NULL OR (e.exported_at IS NULL AND e.rejected = 0))";

impl Ledger {
    /// Claims up to `limit` pending runs, oldest finish first, for one drain.
    pub fn claim_exports(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingExport>, LedgerError> {
        let doing = || "claiming finished runs for the execution log".to_string();
        let expired = Time(now - CLAIM_LEASE);
        let claimed: Vec<(String, u32)> = {
            let mut conn = self.conn();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .doing(doing)?;
            // Not held by a live claim either.
            let sql = format!(
                "SELECT r.id, coalesce(e.sends, 0) {UNEXPORTED}
                   AND (e.claimed_at IS NULL OR e.claimed_at < ?1)
                 ORDER BY r.finished_at, r.id LIMIT ?2"
            );
            let pending: Vec<(String, u32)> = all_rows(&tx, &sql, params![expired, limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .doing(doing)?;
            for (run_id, _) in &pending {
                tx.execute(
                    "INSERT INTO execution_log (run_id, claimed_at) VALUES (?1, ?2)
                     ON CONFLICT (run_id) DO UPDATE SET claimed_at = excluded.claimed_at",
                    params![run_id, Time(now)],
                )
                .doing(doing)?;
            }
            tx.commit().doing(doing)?;
            pending
        };
        let mut out = Vec::with_capacity(claimed.len());
        for (run_id, sends) in claimed {
            if let Some(run) = self.run(&run_id)? {
                out.push(PendingExport { run, sends });
            }
        }
        Ok(out)
    }

    /// Records that these runs' rows are in the table (`how`), for good.
    pub fn exports_done(
        &self,
        run_ids: &[String],
        how: Exported,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let mut conn = self.conn();
        let doing = || {
            format!(
                "recording {} run(s) exported ({})",
                run_ids.len(),
                how.as_str()
            )
        };
        let tx = conn.transaction().doing(doing)?;
        for run_id in run_ids {
            tx.execute(
                "UPDATE execution_log SET exported_at = ?2, how = ?3, claimed_at = NULL,
                     sends = sends + ?4
                 WHERE run_id = ?1 AND exported_at IS NULL",
                params![
                    run_id,
                    Time(now),
                    how.as_str(),
                    (how == Exported::Sent) as u32
                ],
            )
            .doing(doing)?;
        }
        tx.commit().doing(doing)
    }

    /// Records a failed send: the error is kept and the claim released for a later drain.
    /// `maybe_sent`: the request may have reached BigQuery (the next drain looks first).
    pub fn exports_failed(
        &self,
        run_ids: &[String],
        error: &str,
        maybe_sent: bool,
    ) -> Result<(), LedgerError> {
        let mut conn = self.conn();
        let doing = || format!("recording a failed export of {} run(s)", run_ids.len());
        let tx = conn.transaction().doing(doing)?;
        for run_id in run_ids {
            tx.execute(
                "UPDATE execution_log SET last_error = ?2, claimed_at = NULL, sends = sends + ?3
                 WHERE run_id = ?1 AND exported_at IS NULL",
                params![run_id, error, maybe_sent as u32],
            )
            .doing(doing)?;
        }
        tx.commit().doing(doing)
    }

    /// Records that BigQuery refused this run's row itself: it is not sent again.
    pub fn export_rejected(&self, run_id: &str, error: &str) -> Result<(), LedgerError> {
        self.conn()
            .execute(
                "UPDATE execution_log SET rejected = 1, last_error = ?2, claimed_at = NULL
                 WHERE run_id = ?1 AND exported_at IS NULL",
                params![run_id, error],
            )
            .doing(|| format!("recording the refused export of run {run_id}"))?;
        Ok(())
    }

    /// Finished runs whose row has not gone out yet (rejected ones not counted).
    pub fn unexported_count(&self) -> Result<u64, LedgerError> {
        // Claimed ones count too: they have not gone out either.
        let sql = format!("SELECT count(*) {UNEXPORTED}");
        let n: i64 = self
            .conn()
            .query_row(&sql, [], |r| r.get(0))
            .doing(|| "counting runs not yet in the execution log".into())?;
        Ok(n as u64)
    }

    /// Where one run's export stands (`None`: never claimed).
    pub fn export_record(&self, run_id: &str) -> Result<Option<ExportRecord>, LedgerError> {
        self.conn()
            .query_row(
                "SELECT run_id, sends, last_error, rejected, exported_at, how
                 FROM execution_log WHERE run_id = ?1",
                [run_id],
                |r| {
                    Ok(ExportRecord {
                        run_id: r.get(0)?,
                        sends: r.get(1)?,
                        last_error: r.get(2)?,
                        rejected: r.get(3)?,
                        exported_at: r.get::<_, Option<Time>>(4)?.map(|t| t.0),
                        how: r.get(5)?,
                    })
                },
            )
            .optional()
            .doing(|| format!("reading the export of run {run_id}"))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use serde_json::json;

    use super::*;
    use crate::ledger::{NewRun, RunCounts, RunOutcome};
    use crate::run::{RunStatus, Scraper, Trigger};

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 18, 0, 0).unwrap() + Duration::minutes(minute)
    }

    /// Runs `a`, `b` finished at minutes 2 and 1; `c` still running.
    fn ledger() -> Ledger {
        let l = Ledger::open_in_memory().unwrap();
        for (id, finished) in [("a", Some(2)), ("b", Some(1)), ("c", None)] {
            l.start_run(&NewRun {
                run_id: id.into(),
                scraper: Scraper::Events,
                game_date: "2026-01-14".parse().unwrap(),
                market: None,
                trigger: Trigger::Scheduler,
                started_at: at(0),
                opts: json!({}),
            })
            .unwrap();
            if let Some(minute) = finished {
                let outcome = RunOutcome {
                    status: RunStatus::NoData,
                    finished_at: at(minute),
                    error_kind: None,
                    error_message: None,
                    counts: RunCounts::default(),
                    attempts: 1,
                    retries: 0,
                    bytes: 10,
                    object_name: None,
                    generation: None,
                    routes: None,
                };
                l.finish_run(id, &outcome).unwrap();
            }
        }
        l
    }

    fn claim(l: &Ledger, minute: i64) -> Vec<(String, u32)> {
        let claimed = l.claim_exports(at(minute), 10).unwrap();
        claimed
            .into_iter()
            .map(|p| (p.run.run_id, p.sends))
            .collect()
    }

    #[test]
    fn finished_runs_are_pending_oldest_first_and_a_claim_holds_until_its_lease_runs_out() {
        let l = ledger();
        assert_eq!(
            l.unexported_count().unwrap(),
            2,
            "a running run is not pending"
        );
        assert_eq!(claim(&l, 3), [("b".into(), 0), ("a".into(), 0)]);
        assert!(claim(&l, 4).is_empty(), "held by the first drain");
        let lease = CLAIM_LEASE.num_minutes();
        assert_eq!(claim(&l, 4 + lease).len(), 2, "the first drain died");
        l.exports_done(&["b".into()], Exported::Sent, at(20))
            .unwrap();
        assert_eq!(l.unexported_count().unwrap(), 1);
        let b = l.export_record("b").unwrap().unwrap();
        assert_eq!((b.sends, b.how.as_deref()), (1, Some("sent")));
        assert_eq!(b.exported_at, Some(at(20)));
        assert!(
            claim(&l, 100).iter().all(|(id, _)| id != "b"),
            "exported: never again"
        );
    }

    #[test]
    fn a_send_that_may_have_arrived_is_counted_and_a_rejected_row_is_not_sent_again() {
        let l = ledger();
        claim(&l, 3);
        l.exports_failed(&["a".into()], "BigQuery did not answer in time", true)
            .unwrap();
        l.exports_failed(&["b".into()], "BigQuery is unreachable", false)
            .unwrap();
        assert_eq!(
            claim(&l, 4),
            [("b".into(), 0), ("a".into(), 1)],
            "free at once"
        );
        l.export_rejected("b", "invalid: no such field").unwrap();
        l.exports_done(&["a".into()], Exported::Found, at(5))
            .unwrap();
        let a = l.export_record("a").unwrap().unwrap();
        assert_eq!(
            (a.sends, a.how.as_deref()),
            (1, Some("found")),
            "found: no new send"
        );
        let b = l.export_record("b").unwrap().unwrap();
        assert!(b.rejected && b.last_error.unwrap().contains("no such field"));
        assert!(claim(&l, 500).is_empty());
        assert_eq!(l.unexported_count().unwrap(), 0);
    }
}
