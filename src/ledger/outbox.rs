//! The outbox: each run's completion message, recorded before it is published, so that a file
//! whose message failed (or whose process died first) is announced later instead of never.
//!
//! The run that records a message claims it and publishes it at once; a drain takes the oldest
//! unpublished messages nobody holds, one claim at a time. A claim is a lease: one older than
//! [`CLAIM_LEASE`] belongs to a process that is gone, and a drain may take it.
//!
//! # After a crash
//!
//! | state when the process died | what it means | what happens next |
//! |---|---|---|
//! | recorded, claimed, not published | the message never went out | a drain publishes it once the lease has run out |
//! | published by Pub/Sub, not yet marked | it went out; the ledger does not know | a drain publishes it again after the lease: at least once, as Pub/Sub itself delivers |
//! | failed (claim released, error kept) | it never went out | the next drain publishes it |
//! | published and marked | done | nothing; never claimed again |
//!
//! Plain SQL over TEXT times (fixed-width RFC 3339, so text order is time order); a claim is a
//! conditional `UPDATE` whose row count says who won, so two drains never take one message.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::columns::{Json, RowExt, Time};
use super::{Doing, Ledger, LedgerError, LedgerProblem};

/// How long a claim holds: far longer than a publish with all its retries takes.
pub const CLAIM_LEASE: Duration = Duration::minutes(10);

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEntry {
    pub run_id: String,
    /// The complete file the message announces, if any.
    pub object_name: Option<String>,
    pub message: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// Publishes tried (each with the publisher's own retries).
    pub attempts: u32,
    /// The last failure, kept after a later success.
    pub last_error: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    /// Pub/Sub's id for the published message.
    pub message_id: Option<String>,
}

/// Where a file's completion message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// It went out at this time.
    Published(DateTime<Utc>),
    /// It waits in the outbox: a drain will publish it.
    Pending,
}

const COLUMNS: &str = "run_id, object_name, message, created_at, attempts, last_error, \
                       published_at, message_id";

impl Ledger {
    /// Records a run's completion message before it is published, claimed by the caller (who
    /// publishes it next). `object_name` is the complete file it announces, if any.
    pub fn record_message(
        &self,
        run_id: &str,
        object_name: Option<&str>,
        message: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.conn()
            .execute(
                "INSERT INTO outbox (run_id, object_name, message, created_at, claimed_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![run_id, object_name, Json(message), Time(now)],
            )
            .doing(|| format!("recording the completion message of run {run_id}"))?;
        Ok(())
    }

    /// Claims the oldest unpublished message that nobody holds (or whose holder's lease ran
    /// out), if there is one.
    pub fn claim_unpublished(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxEntry>, LedgerError> {
        let doing = || "claiming an unpublished completion message".to_string();
        let expired = Time(now - CLAIM_LEASE);
        let conn = self.conn();
        loop {
            let oldest: Option<String> = conn
                .query_row(
                    "SELECT run_id FROM outbox
                     WHERE published_at IS NULL AND (claimed_at IS NULL OR claimed_at < ?1)
                     ORDER BY created_at, run_id LIMIT 1",
                    params![expired],
                    |r| r.get(0),
                )
                .optional()
                .doing(doing)?;
            let Some(run_id) = oldest else {
                return Ok(None);
            };
            let won = conn
                .execute(
                    "UPDATE outbox SET claimed_at = ?2
                     WHERE run_id = ?1 AND published_at IS NULL
                       AND (claimed_at IS NULL OR claimed_at < ?3)",
                    params![run_id, Time(now), expired],
                )
                .doing(doing)?;
            if won == 1 {
                return entry(&conn, &run_id).map(Some).doing(doing);
            }
            // Another publisher took it between the two statements: look again.
        }
    }

    /// Records that the message went out (and says so on the run).
    pub fn outbox_published(
        &self,
        run_id: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("recording the publish of run {run_id}'s completion message");
        let n = self
            .conn()
            .execute(
                "UPDATE outbox SET published_at = ?2, message_id = ?3, claimed_at = NULL,
                     attempts = attempts + 1
                 WHERE run_id = ?1 AND published_at IS NULL",
                params![run_id, Time(now), message_id],
            )
            .doing(doing)?;
        if n == 0 {
            return Err(LedgerError::new(
                doing(),
                LedgerProblem::Invalid("no unpublished message for this run".into()),
            ));
        }
        self.record_publish(run_id, true, None)
    }

    /// Records a failed publish: the error is kept and the claim released for a later drain.
    pub fn outbox_failed(&self, run_id: &str, error: &str) -> Result<(), LedgerError> {
        self.conn()
            .execute(
                "UPDATE outbox SET last_error = ?2, claimed_at = NULL, attempts = attempts + 1
                 WHERE run_id = ?1 AND published_at IS NULL",
                params![run_id, error],
            )
            .doing(|| format!("recording the failed publish of run {run_id}"))?;
        self.record_publish(run_id, false, Some(error))
    }

    /// The outbox entry of a run, if it recorded one.
    pub fn outbox_entry(&self, run_id: &str) -> Result<Option<OutboxEntry>, LedgerError> {
        entry(&self.conn(), run_id)
            .optional()
            .doing(|| format!("reading the completion message of run {run_id}"))
    }

    /// Messages not yet published.
    pub fn unpublished_count(&self) -> Result<u64, LedgerError> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL",
                [],
                |r| r.get(0),
            )
            .doing(|| "counting unpublished completion messages".into())?;
        Ok(n as u64)
    }

    /// Where the completion message announcing `object_name` stands; `None` when none was ever
    /// recorded or sent. A run from before the outbox that says it published counts as
    /// published when it finished (the best that is known).
    pub fn announcement(&self, object_name: &str) -> Result<Option<Announcement>, LedgerError> {
        let doing = || format!("reading the announcement of {object_name}");
        let conn = self.conn();
        let queued: Option<Option<Time>> = conn
            .query_row(
                "SELECT published_at FROM outbox WHERE object_name = ?1 LIMIT 1",
                [object_name],
                |r| r.get(0),
            )
            .optional()
            .doing(doing)?;
        if let Some(published) = queued {
            return Ok(Some(match published {
                Some(at) => Announcement::Published(at.0),
                None => Announcement::Pending,
            }));
        }
        let legacy: Option<Time> = conn
            .query_row(
                "SELECT finished_at FROM runs WHERE object_name = ?1 AND published = 1
                 ORDER BY finished_at DESC LIMIT 1",
                [object_name],
                |r| r.get(0),
            )
            .optional()
            .doing(doing)?;
        Ok(legacy.map(|at| Announcement::Published(at.0)))
    }
}

fn entry(conn: &rusqlite::Connection, run_id: &str) -> rusqlite::Result<OutboxEntry> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM outbox WHERE run_id = ?1"),
        [run_id],
        entry_from_row,
    )
}

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        run_id: row.get("run_id")?,
        object_name: row.get("object_name")?,
        message: row.json("message")?,
        created_at: row.time("created_at")?,
        attempts: row.get("attempts")?,
        last_error: row.get("last_error")?,
        published_at: row.time_opt("published_at")?,
        message_id: row.get("message_id")?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::ledger::NewRun;
    use crate::run::{Scraper, Trigger};

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 18, 0, 0).unwrap() + Duration::minutes(minute)
    }

    /// A ledger with runs `a`, `b`, `c` whose messages were recorded at minutes 0, 1, 2.
    fn ledger() -> Ledger {
        let l = Ledger::open_in_memory().unwrap();
        for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
            l.start_run(&NewRun {
                run_id: id.into(),
                scraper: Scraper::Events,
                game_date: "2026-01-14".parse().unwrap(),
                market: None,
                trigger: Trigger::Scheduler,
                started_at: at(i as i64),
                opts: json!({}),
            })
            .unwrap();
            let object = format!("bettingpros/events/2026-01-14/{id}.json");
            let message = json!({ "execution_id": id });
            l.record_message(id, Some(&object), &message, at(i as i64))
                .unwrap();
        }
        l
    }

    fn claim(l: &Ledger, minute: i64) -> Option<String> {
        l.claim_unpublished(at(minute)).unwrap().map(|e| e.run_id)
    }

    #[test]
    fn a_message_its_run_holds_is_not_drained_until_the_lease_runs_out() {
        let l = ledger();
        assert_eq!(claim(&l, 5), None, "each run publishes its own first");
        let lease = CLAIM_LEASE.num_minutes();
        assert_eq!(
            claim(&l, lease + 1).as_deref(),
            Some("a"),
            "a died holding it"
        );
        assert_eq!(claim(&l, lease + 1), None, "b and c are still held");
        assert_eq!(claim(&l, lease + 3).as_deref(), Some("b"), "oldest first");
        assert_eq!(claim(&l, lease + 3).as_deref(), Some("c"));
        assert_eq!(claim(&l, lease + 3), None, "each taken once");
    }

    #[test]
    fn a_failure_keeps_its_error_and_frees_the_message_and_a_publish_ends_it() {
        let l = ledger();
        l.outbox_failed("b", "publish: topic not found").unwrap();
        let b = l.outbox_entry("b").unwrap().unwrap();
        assert_eq!((b.attempts, b.published_at), (1, None));
        assert_eq!(b.last_error.as_deref(), Some("publish: topic not found"));
        assert_eq!(l.run("b").unwrap().unwrap().published, Some(false));
        assert_eq!(claim(&l, 3).as_deref(), Some("b"), "free at once");
        l.outbox_published("b", "m-1", at(4)).unwrap();
        let b = l.outbox_entry("b").unwrap().unwrap();
        assert_eq!((b.attempts, b.published_at), (2, Some(at(4))));
        assert_eq!(b.message_id.as_deref(), Some("m-1"));
        assert!(b.last_error.is_some(), "the failure stays on record");
        assert_eq!(l.run("b").unwrap().unwrap().published, Some(true));
        assert!(l.outbox_published("b", "m-2", at(5)).is_err(), "once only");
        assert_eq!(l.unpublished_count().unwrap(), 2);
        assert_eq!(
            claim(&l, 60).as_deref(),
            Some("a"),
            "published ones are never taken"
        );
    }

    #[test]
    fn a_file_is_announced_when_its_message_went_out_not_when_its_run_ended() {
        let l = ledger();
        let object = |id: &str| format!("bettingpros/events/2026-01-14/{id}.json");
        assert_eq!(
            l.announcement(&object("a")).unwrap(),
            Some(Announcement::Pending)
        );
        l.outbox_published("a", "m", at(180)).unwrap();
        assert_eq!(
            l.announcement(&object("a")).unwrap(),
            Some(Announcement::Published(at(180)))
        );
        assert_eq!(
            l.announcement("bettingpros/events/none.json").unwrap(),
            None
        );
    }
}
