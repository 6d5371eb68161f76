//! The never-twice guard: a stored file is handed to Phase 2 by a recovery at most once.
//!
//! Phase 2 appends rows every time it is given a file, so a file sent twice is loaded twice.
//! Sending twice is worse than sending late; the ledger therefore writes *before* sending:
//!
//! 1. [`Ledger::claim_file_send`]: an insert guarded by the object name's primary key, made only
//!    while the claiming job is running and owned by this instance (one statement, so two
//!    instances racing get one claim). `false` means some job already claimed or sent this
//!    file: do not send it (skip the action).
//! 2. Send.
//! 3. [`Ledger::settle_claim`] with what happened, recorded with the claim as evidence
//!    (`super::evidence`): on a 2xx answer, confirmed. When the downstream certainly did not
//!    load the file (a 4xx refusal, a connection that never opened, a 500 "processing error"
//!    that Phase 2 itself asks to be retried), released, so a later job may try. When the
//!    answer is unknown (a timeout or reset after the body went out) the claim stays,
//!    *unconfirmed*, until a check of the table settles it.
//!
//! A claim left `claimed` by a crash is *unconfirmed* too: see the crash table in [`super`].
//! [`Ledger::confirm_file_sent`] and [`Ledger::release_file_send`] are the bare moves, for a
//! person who checked by hand.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::names::FileSendState;
use crate::ledger::db::{DbError, Row};
use crate::ledger::{Doing, Ledger, LedgerError, LedgerProblem};

/// The delivery record of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSendRecord {
    pub object_name: String,
    /// The job that claimed it.
    pub job_id: String,
    /// `claimed` (sent or about to be, answer not yet recorded: unconfirmed) or `sent`.
    pub state: FileSendState,
    pub claimed_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl Ledger {
    /// The never-twice guard: records that `object_name` is being delivered by `job_id`.
    /// Returns `false`, recording nothing, if it was already claimed or sent by any job. Fails
    /// when the job has finished or another instance owns it.
    pub async fn claim_file_send(
        &self,
        object_name: &str,
        job_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let doing = || format!("claiming {object_name} for job {job_id}");
        let inserted = self
            .db
            .execute(
                "INSERT INTO file_sends (object_name, job_id, state, claimed_at)
                 SELECT $1, $2, 'claimed', $3
                 WHERE EXISTS (SELECT 1 FROM jobs
                               WHERE id = $2 AND state = 'running' AND owner = $4)
                 ON CONFLICT (object_name) DO NOTHING",
                &[
                    object_name.into(),
                    job_id.into(),
                    now.into(),
                    self.instance.id.as_str().into(),
                ],
            )
            .await
            .doing(doing)?;
        if inserted == 1 {
            return Ok(true);
        }
        self.owned_job(job_id).await.doing(doing)?;
        Ok(false)
    }

    /// Records that the downstream answered 2xx for a claimed file. Confirming twice is fine.
    pub async fn confirm_file_sent(
        &self,
        object_name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("confirming the delivery of {object_name}");
        let n = self
            .db
            .execute(
                "UPDATE file_sends SET state = 'sent', sent_at = $2
                 WHERE object_name = $1 AND state = 'claimed'",
                &[object_name.into(), now.into()],
            )
            .await
            .doing(doing)?;
        match (n, self.file_send(object_name).await?) {
            (1, _) | (_, Some(_)) => Ok(()),
            (_, None) => Err(LedgerError::new(doing(), LedgerProblem::NoSuchFileSend)),
        }
    }

    /// Drops a claim whose file the downstream certainly did not load, so a later job may send
    /// it. A confirmed delivery is never released.
    pub async fn release_file_send(&self, object_name: &str) -> Result<(), LedgerError> {
        let doing = || format!("releasing the claim on {object_name}");
        let n = self
            .db
            .execute(
                "DELETE FROM file_sends WHERE object_name = $1 AND state = 'claimed'",
                &[object_name.into()],
            )
            .await
            .doing(doing)?;
        match (n, self.file_send(object_name).await?) {
            (1, _) => Ok(()),
            (_, Some(_)) => Err(LedgerError::new(doing(), LedgerProblem::AlreadySent)),
            (_, None) => Err(LedgerError::new(doing(), LedgerProblem::NoSuchFileSend)),
        }
    }

    /// The delivery record of one object, if any job ever claimed it.
    pub async fn file_send(
        &self,
        object_name: &str,
    ) -> Result<Option<FileSendRecord>, LedgerError> {
        let row = self
            .db
            .query_opt(
                "SELECT * FROM file_sends WHERE object_name = $1",
                &[object_name.into()],
            )
            .await;
        row.and_then(|r| r.as_ref().map(file_send_from_row).transpose())
            .doing(|| format!("reading the delivery record of {object_name}"))
    }

    /// Claims never confirmed: the file may or may not have been loaded. For a person to decide.
    pub async fn unconfirmed_file_sends(&self) -> Result<Vec<FileSendRecord>, LedgerError> {
        let sql = "SELECT * FROM file_sends WHERE state = 'claimed' ORDER BY claimed_at, rowid";
        let rows = self.db.query(sql, &[]).await;
        rows.and_then(|rows| rows.iter().map(file_send_from_row).collect())
            .doing(|| "listing unconfirmed file deliveries".to_string())
    }
}

fn file_send_from_row(r: &Row) -> Result<FileSendRecord, DbError> {
    Ok(FileSendRecord {
        object_name: r.text("object_name")?,
        job_id: r.text("job_id")?,
        state: r.parsed("state")?,
        claimed_at: r.time("claimed_at")?,
        sent_at: r.time_opt("sent_at")?,
    })
}
