//! What each hand-over of a file to Phase 2 went through: Phase 2's answer, and every check of
//! the table that settled (or could not settle) a claim whose outcome was unknown. Settling a
//! claim records the evidence and moves the claim in one transaction; the move is a conditional
//! statement on the claiming job's open claim, so of two instances settling one claim at once,
//! one does (the other finds it settled and records nothing). Evidence does not depend on who
//! owns the job: any instance settles any claim, after the job ended too.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::names::{ClaimOutcome, EvidenceSource};
use super::sends::FileSendRecord;
use crate::ledger::db::{DbError, Row, Tx, Value};
use crate::ledger::{Doing, Ledger, LedgerError};

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

const EVIDENCE: &str = "SELECT * FROM claim_evidence WHERE object_name = $1 AND job_id = $2
                        ORDER BY checked_at, id";

impl Ledger {
    /// Records `evidence` with `job_id`'s claim on `object_name` and moves the claim as it
    /// says: confirmed → `sent`; released → dropped (a later job may send the file);
    /// unconfirmed → left as it is. In one transaction; `false`, recording nothing, when the
    /// claim is no longer this job's unconfirmed one (settled meanwhile, here or elsewhere).
    pub async fn settle_claim(
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
        let claim: Vec<Value> = vec![object_name.into(), job_id.into()];
        let mut tx = self.db.begin().await.doing(doing)?;
        // The move decides, and holds the claim's row until the commit: a second settler waits,
        // then finds the claim settled. `state = state` only takes the row.
        let moved = match evidence.outcome {
            ClaimOutcome::Confirmed => {
                let sql = "UPDATE file_sends SET state = 'sent', sent_at = $3
                           WHERE object_name = $1 AND job_id = $2 AND state = 'claimed'";
                let params = [claim, vec![evidence.checked_at.into()]].concat();
                tx.execute(sql, &params).await
            }
            ClaimOutcome::Released => {
                let sql = "DELETE FROM file_sends
                           WHERE object_name = $1 AND job_id = $2 AND state = 'claimed'";
                tx.execute(sql, &claim).await
            }
            ClaimOutcome::Unconfirmed => {
                let sql = "UPDATE file_sends SET state = state
                           WHERE object_name = $1 AND job_id = $2 AND state = 'claimed'";
                tx.execute(sql, &claim).await
            }
        };
        if moved.doing(doing)? == 0 {
            tx.commit().await.doing(doing)?;
            return Ok(false);
        }
        record(&mut tx, object_name, job_id, evidence)
            .await
            .doing(doing)?;
        tx.commit().await.doing(doing)?;
        Ok(true)
    }

    /// The evidence recorded with `job_id`'s claim on `object_name`, oldest first.
    pub async fn claim_evidence(
        &self,
        object_name: &str,
        job_id: &str,
    ) -> Result<Vec<ClaimEvidence>, LedgerError> {
        let rows = self
            .db
            .query(EVIDENCE, &[object_name.into(), job_id.into()])
            .await;
        rows.and_then(|rows| rows.iter().map(evidence_from_row).collect())
            .doing(|| format!("reading the evidence on {object_name} for job {job_id}"))
    }

    /// Every file the job was to send, with its delivery record and this job's evidence.
    pub async fn job_claims(&self, job_id: &str) -> Result<Vec<JobClaim>, LedgerError> {
        let doing = || format!("reading the claims of job {job_id}");
        let rows = self
            .db
            .query(
                "SELECT DISTINCT object_name FROM job_actions
                 WHERE job_id = $1 AND kind = 'send_file' ORDER BY object_name",
                &[job_id.into()],
            )
            .await
            .doing(doing)?;
        let mut claims = Vec::with_capacity(rows.len());
        for row in rows {
            let object_name = row.text("object_name").doing(doing)?;
            claims.push(JobClaim {
                delivery: self.file_send(&object_name).await?,
                evidence: self.claim_evidence(&object_name, job_id).await?,
                object_name,
            });
        }
        Ok(claims)
    }
}

/// Adds `evidence` to the claim's record. A check of the table that finds what the last one
/// found moves that one's time on (and its words) rather than piling up rows while BigQuery is
/// down or the pending-load window runs.
async fn record(
    tx: &mut Tx<'_>,
    object_name: &str,
    job_id: &str,
    evidence: &ClaimEvidence,
) -> Result<(), DbError> {
    let rows = tx
        .query(EVIDENCE, &[object_name.into(), job_id.into()])
        .await?;
    let last = rows
        .last()
        .map(|r| Ok::<_, DbError>((r.int("id")?, evidence_from_row(r)?)));
    let checking = (EvidenceSource::Table, ClaimOutcome::Unconfirmed);
    let repeats = match last.transpose()? {
        Some((id, l)) => ((l.source, l.outcome) == checking
            && (evidence.source, evidence.outcome) == checking
            && l.rows_found.is_some() == evidence.rows_found.is_some())
        .then_some(id),
        None => None,
    };
    let (sql, mut params): (_, Vec<Value>) = match repeats {
        Some(id) => (
            "UPDATE claim_evidence SET checked_at = $2, rows_found = $3, detail = $4
             WHERE id = $1",
            vec![id.into()],
        ),
        None => (
            "INSERT INTO claim_evidence
                 (object_name, job_id, source, outcome, checked_at, rows_found, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                object_name.into(),
                job_id.into(),
                evidence.source.as_str().into(),
                evidence.outcome.as_str().into(),
            ],
        ),
    };
    params.extend([
        evidence.checked_at.into(),
        evidence.rows_found.into(),
        evidence.detail.as_str().into(),
    ]);
    tx.execute(sql, &params).await?;
    Ok(())
}

fn evidence_from_row(r: &Row) -> Result<ClaimEvidence, DbError> {
    Ok(ClaimEvidence {
        checked_at: r.time("checked_at")?,
        source: r.parsed("source")?,
        outcome: r.parsed("outcome")?,
        rows_found: r.unsigned_opt("rows_found")?,
        detail: r.text("detail")?,
    })
}
