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
//! conditional `UPDATE … RETURNING` the message: the drain that gets the row won, so two drains
//! never take one message, on one instance or on several sharing a PostgreSQL ledger.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::db::{DbError, Row};
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
    pub async fn record_message(
        &self,
        run_id: &str,
        object_name: Option<&str>,
        message: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.db
            .execute(
                "INSERT INTO outbox (run_id, object_name, message, created_at, claimed_at)
                 VALUES ($1, $2, $3, $4, $4)",
                &[
                    run_id.into(),
                    object_name.into(),
                    message.into(),
                    now.into(),
                ],
            )
            .await
            .doing(|| format!("recording the completion message of run {run_id}"))?;
        Ok(())
    }

    /// Claims the oldest unpublished message that nobody holds (or whose holder's lease ran
    /// out), if there is one. The claim is a conditional update: of two drains (on any
    /// instances) looking at one message, one takes it and the other looks again.
    pub async fn claim_unpublished(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxEntry>, LedgerError> {
        let doing = || "claiming an unpublished completion message".to_string();
        let expired = now - CLAIM_LEASE;
        loop {
            let oldest = self
                .db
                .query_opt(
                    "SELECT run_id FROM outbox
                     WHERE published_at IS NULL AND (claimed_at IS NULL OR claimed_at < $1)
                     ORDER BY created_at, run_id LIMIT 1",
                    &[expired.into()],
                )
                .await
                .doing(doing)?;
            let Some(oldest) = oldest else {
                return Ok(None);
            };
            let run_id = oldest.text("run_id").doing(doing)?;
            let won = self
                .db
                .query_opt(
                    &format!(
                        "UPDATE outbox SET claimed_at = $2
                         WHERE run_id = $1 AND published_at IS NULL
                           AND (claimed_at IS NULL OR claimed_at < $3)
                         RETURNING {COLUMNS}"
                    ),
                    &[run_id.as_str().into(), now.into(), expired.into()],
                )
                .await
                .doing(doing)?;
            if let Some(row) = won {
                return entry_from_row(&row).map(Some).doing(doing);
            }
            // Another publisher took it between the two statements: look again.
        }
    }

    /// Records that the message went out (and says so on the run).
    pub async fn outbox_published(
        &self,
        run_id: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("recording the publish of run {run_id}'s completion message");
        let n = self
            .db
            .execute(
                "UPDATE outbox SET published_at = $2, message_id = $3, claimed_at = NULL,
                     attempts = attempts + 1
                 WHERE run_id = $1 AND published_at IS NULL",
                &[run_id.into(), now.into(), message_id.into()],
            )
            .await
            .doing(doing)?;
        if n == 0 {
            return Err(LedgerError::new(
                doing(),
                LedgerProblem::Invalid("no unpublished message for this run".into()),
            ));
        }
        self.record_publish(run_id, true, None).await
    }

    /// Records a failed publish: the error is kept and the claim released for a later drain.
    pub async fn outbox_failed(&self, run_id: &str, error: &str) -> Result<(), LedgerError> {
        self.db
            .execute(
                "UPDATE outbox SET last_error = $2, claimed_at = NULL, attempts = attempts + 1
                 WHERE run_id = $1 AND published_at IS NULL",
                &[run_id.into(), error.into()],
            )
            .await
            .doing(|| format!("recording the failed publish of run {run_id}"))?;
        self.record_publish(run_id, false, Some(error)).await
    }

    /// The outbox entry of a run, if it recorded one.
    pub async fn outbox_entry(&self, run_id: &str) -> Result<Option<OutboxEntry>, LedgerError> {
        let row = self
            .db
            .query_opt(
                &format!("SELECT {COLUMNS} FROM outbox WHERE run_id = $1"),
                &[run_id.into()],
            )
            .await;
        row.and_then(|r| r.as_ref().map(entry_from_row).transpose())
            .doing(|| format!("reading the completion message of run {run_id}"))
    }

    /// Messages not yet published.
    pub async fn unpublished_count(&self) -> Result<u64, LedgerError> {
        let doing = || "counting unpublished completion messages".to_string();
        let row = self
            .db
            .query_opt(
                "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL",
                &[],
            )
            .await
            .doing(doing)?;
        row.map_or(Ok(0), |r| r.unsigned("n")).doing(doing)
    }

    /// Where the completion message announcing `object_name` stands; `None` when none was ever
    /// recorded or sent. A run from before the outbox that says it published counts as
    /// published when it finished (the best that is known).
    pub async fn announcement(
        &self,
        object_name: &str,
    ) -> Result<Option<Announcement>, LedgerError> {
        let doing = || format!("reading the announcement of {object_name}");
        let queued = self
            .db
            .query_opt(
                "SELECT published_at FROM outbox WHERE object_name = $1 LIMIT 1",
                &[object_name.into()],
            )
            .await
            .doing(doing)?;
        if let Some(row) = queued {
            return Ok(Some(match row.time_opt("published_at").doing(doing)? {
                Some(at) => Announcement::Published(at),
                None => Announcement::Pending,
            }));
        }
        let legacy = self
            .db
            .query_opt(
                "SELECT finished_at FROM runs WHERE object_name = $1 AND published = 1
                 ORDER BY finished_at DESC LIMIT 1",
                &[object_name.into()],
            )
            .await
            .doing(doing)?;
        legacy
            .map(|r| r.time("finished_at").map(Announcement::Published))
            .transpose()
            .doing(doing)
    }
}

fn entry_from_row(row: &Row) -> Result<OutboxEntry, DbError> {
    Ok(OutboxEntry {
        run_id: row.text("run_id")?,
        object_name: row.text_opt("object_name")?,
        message: row.json("message")?,
        created_at: row.time("created_at")?,
        attempts: row.unsigned("attempts")?,
        last_error: row.text_opt("last_error")?,
        published_at: row.time_opt("published_at")?,
        message_id: row.text_opt("message_id")?,
    })
}
