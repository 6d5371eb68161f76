//! The never-twice guard: a stored file is handed to Phase 2 by a recovery at most once.
//!
//! Phase 2 appends rows every time it is given a file, so a file sent twice is loaded twice.
//! Sending twice is worse than sending late; the ledger therefore writes *before* sending:
//!
//! 1. [`Ledger::claim_file_send`]: an insert guarded by the object name's primary key. `false`
//!    means some job already claimed or sent this file: do not send it (skip the action).
//! 2. Send.
//! 3. [`Ledger::settle_claim`] with what happened, recorded with the claim as evidence: on a 2xx
//!    answer, confirmed. When the downstream certainly did not load the file (a 4xx refusal, a
//!    connection that never opened, a 500 "processing error" that Phase 2 itself asks to be
//!    retried), released, so a later job may try. When the answer is unknown (a timeout or
//!    reset after the body went out) the claim stays, *unconfirmed*, until a check of the
//!    table settles it.
//!
//! A claim left `claimed` by a crash is *unconfirmed* too: see the crash table in [`super`].
//! [`Ledger::confirm_file_sent`] and [`Ledger::release_file_send`] are the bare moves, for a
//! person who checked by hand.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde::Serialize;

use super::names::{ClaimOutcome, EvidenceSource, FileSendState};
use super::still_running;
use crate::ledger::columns::{Count, RowExt, Time};
use crate::ledger::{all_rows, Doing, Ledger, LedgerError, LedgerProblem};

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

/// One piece of evidence about a claim: Phase 2's answer, or a check of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimEvidence {
    pub checked_at: DateTime<Utc>,
    /// What was checked: Phase 2's answer, the table, or a person's word.
    pub source: EvidenceSource,
    /// Where the claim stood afterwards.
    pub outcome: ClaimOutcome,
    /// Rows found under the file's `source_file_path` (either form); `None` when the table
    /// was not read (an answer from Phase 2, or BigQuery unreachable).
    pub rows_found: Option<u64>,
    /// What was checked or answered, in words (`Phase 2 answered 200`, `1035 rows in …`).
    pub detail: String,
}

/// A file a job was to send, with its delivery record now and what this job's claim went
/// through (for `GET /reprocess/{id}` and the CLI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobClaim {
    pub object_name: String,
    /// The file's delivery record now: this job's claim, another job's (after a release), or
    /// none (released, or never claimed).
    pub delivery: Option<FileSendRecord>,
    /// This job's evidence about the file, oldest first.
    pub evidence: Vec<ClaimEvidence>,
}

impl Ledger {
    /// Records `evidence` with `job_id`'s claim on `object_name` and moves the claim as it
    /// says: confirmed → `sent`; released → dropped (a later job may send the file);
    /// unconfirmed → left as it is. In one transaction; `false`, recording nothing, when the
    /// claim is no longer this job's unconfirmed one (settled meanwhile).
    pub fn settle_claim(
        &self,
        object_name: &str,
        job_id: &str,
        evidence: &ClaimEvidence,
    ) -> Result<bool, LedgerError> {
        let doing = || {
            format!(
                "recording evidence ({}) on the claim of job {job_id} on {object_name}",
                evidence.outcome
            )
        };
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .doing(doing)?;
        let open = matches!(
            file_send(&tx, object_name).doing(doing)?,
            Some(rec) if rec.job_id == job_id && rec.state == FileSendState::Claimed
        );
        if !open {
            return Ok(false);
        }
        // A check that finds what the last one found moves that one's time on (and its words)
        // rather than piling up rows while BigQuery is down or the window runs.
        let last = claim_evidence(&tx, object_name, job_id).doing(doing)?.pop();
        let repeats = last.is_some_and(|l| {
            (l.source, l.outcome) == (EvidenceSource::Table, ClaimOutcome::Unconfirmed)
                && (evidence.source, evidence.outcome)
                    == (EvidenceSource::Table, ClaimOutcome::Unconfirmed)
                && l.rows_found.is_some() == evidence.rows_found.is_some()
        });
        let sql = if repeats {
            "UPDATE claim_evidence SET checked_at = ?3, rows_found = ?5, detail = ?6
             WHERE id = (SELECT max(id) FROM claim_evidence
                            WHERE object_name = ?1 AND job_id = ?2 AND outcome = ?4
                                AND source = ?7)"
        } else {
            "INSERT INTO claim_evidence
                 (object_name, job_id, checked_at, outcome, rows_found, detail, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        };
        tx.execute(
            sql,
            params![
                object_name,
                job_id,
                Time(evidence.checked_at),
                evidence.outcome.as_str(),
                evidence.rows_found.map(Count),
                evidence.detail,
                evidence.source.as_str(),
            ],
        )
        .doing(doing)?;
        match evidence.outcome {
            ClaimOutcome::Confirmed => {
                confirm(&tx, object_name, evidence.checked_at).doing(doing)?;
            }
            ClaimOutcome::Released => {
                release(&tx, object_name).doing(doing)?;
            }
            ClaimOutcome::Unconfirmed => {}
        }
        tx.commit().doing(doing)?;
        Ok(true)
    }

    /// The evidence recorded with `job_id`'s claim on `object_name`, oldest first.
    pub fn claim_evidence(
        &self,
        object_name: &str,
        job_id: &str,
    ) -> Result<Vec<ClaimEvidence>, LedgerError> {
        claim_evidence(&self.conn(), object_name, job_id)
            .doing(|| format!("reading the evidence on {object_name} for job {job_id}"))
    }

    /// Every file the job was to send, with its delivery record and this job's evidence.
    pub fn job_claims(&self, job_id: &str) -> Result<Vec<JobClaim>, LedgerError> {
        let doing = || format!("reading the claims of job {job_id}");
        let conn = self.conn();
        let sql = "SELECT DISTINCT object_name FROM job_actions
                   WHERE job_id = ?1 AND kind = 'send_file' ORDER BY object_name";
        let objects: Vec<String> = all_rows(&conn, sql, [job_id], |r| r.get(0)).doing(doing)?;
        objects
            .into_iter()
            .map(|object_name| {
                Ok(JobClaim {
                    delivery: file_send(&conn, &object_name).doing(doing)?,
                    evidence: claim_evidence(&conn, &object_name, job_id).doing(doing)?,
                    object_name,
                })
            })
            .collect()
    }

    /// The never-twice guard: records that `object_name` is being delivered by `job_id`.
    /// Returns `false`, recording nothing, if it was already claimed or sent by any job.
    pub fn claim_file_send(
        &self,
        object_name: &str,
        job_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let doing = || format!("claiming {object_name} for job {job_id}");
        let conn = self.conn();
        still_running(&conn, job_id).doing(doing)?;
        let inserted = conn
            .execute(
                "INSERT INTO file_sends (object_name, job_id, state, claimed_at)
                 VALUES (?1, ?2, 'claimed', ?3)
                 ON CONFLICT (object_name) DO NOTHING",
                params![object_name, job_id, Time(now)],
            )
            .doing(doing)?;
        Ok(inserted == 1)
    }

    /// Records that the downstream answered 2xx for a claimed file. Confirming twice is fine.
    pub fn confirm_file_sent(
        &self,
        object_name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("confirming the delivery of {object_name}");
        let conn = self.conn();
        let n = confirm(&conn, object_name, now).doing(doing)?;
        match (n, file_send(&conn, object_name).doing(doing)?) {
            (1, _) | (_, Some(_)) => Ok(()),
            (_, None) => Err(LedgerError::new(doing(), LedgerProblem::NoSuchFileSend)),
        }
    }

    /// Drops a claim whose file the downstream certainly did not load, so a later job may send
    /// it. A confirmed delivery is never released.
    pub fn release_file_send(&self, object_name: &str) -> Result<(), LedgerError> {
        let doing = || format!("releasing the claim on {object_name}");
        let conn = self.conn();
        let n = release(&conn, object_name).doing(doing)?;
        match (n, file_send(&conn, object_name).doing(doing)?) {
            (1, _) => Ok(()),
            (_, Some(_)) => Err(LedgerError::new(doing(), LedgerProblem::AlreadySent)),
            (_, None) => Err(LedgerError::new(doing(), LedgerProblem::NoSuchFileSend)),
        }
    }

    /// The delivery record of one object, if any job ever claimed it.
    pub fn file_send(&self, object_name: &str) -> Result<Option<FileSendRecord>, LedgerError> {
        file_send(&self.conn(), object_name)
            .doing(|| format!("reading the delivery record of {object_name}"))
    }

    /// Claims never confirmed: the file may or may not have been loaded. For a person to decide.
    pub fn unconfirmed_file_sends(&self) -> Result<Vec<FileSendRecord>, LedgerError> {
        let doing = || "listing unconfirmed file deliveries".to_string();
        let sql = "SELECT * FROM file_sends WHERE state = 'claimed' ORDER BY claimed_at, rowid";
        all_rows(&self.conn(), sql, [], file_send_from_row).doing(doing)
    }
}

fn confirm(conn: &Connection, object_name: &str, now: DateTime<Utc>) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE file_sends SET state = 'sent', sent_at = ?2
         WHERE object_name = ?1 AND state = 'claimed'",
        params![object_name, Time(now)],
    )
}

fn release(conn: &Connection, object_name: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM file_sends WHERE object_name = ?1 AND state = 'claimed'",
        [object_name],
    )
}

fn claim_evidence(
    conn: &Connection,
    object_name: &str,
    job_id: &str,
) -> rusqlite::Result<Vec<ClaimEvidence>> {
    let sql = "SELECT * FROM claim_evidence WHERE object_name = ?1 AND job_id = ?2
               ORDER BY checked_at, id";
    all_rows(conn, sql, params![object_name, job_id], |r| {
        Ok(ClaimEvidence {
            checked_at: r.time("checked_at")?,
            source: r.parsed("source")?,
            outcome: r.parsed("outcome")?,
            rows_found: r.count("rows_found")?,
            detail: r.get("detail")?,
        })
    })
}

fn file_send(conn: &Connection, object_name: &str) -> rusqlite::Result<Option<FileSendRecord>> {
    conn.query_row(
        "SELECT * FROM file_sends WHERE object_name = ?1",
        [object_name],
        file_send_from_row,
    )
    .optional()
}

fn file_send_from_row(r: &Row<'_>) -> rusqlite::Result<FileSendRecord> {
    Ok(FileSendRecord {
        object_name: r.get("object_name")?,
        job_id: r.get("job_id")?,
        state: r.parsed("state")?,
        claimed_at: r.time("claimed_at")?,
        sent_at: r.time_opt("sent_at")?,
    })
}
