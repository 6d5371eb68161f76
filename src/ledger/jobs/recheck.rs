//! After a job's last action: its range is checked again once `recheck_after` has passed, and
//! what detection says is the job's `result`. The check is work like an action: one instance
//! takes it by a compare-and-set ([`Ledger::adopt_check`]), under a lease, and records the
//! result ([`Ledger::set_job_result`]), which gives the lease up. Which jobs a sweep may
//! advance now — unfinished with no live owner, or finished and due for their check — is
//! [`Ledger::jobs_to_advance`].

use chrono::{DateTime, Utc};

use crate::ledger::{Doing, Ledger, LedgerError, LedgerProblem};

impl Ledger {
    /// Takes the check of a finished job whose result is not recorded yet, once its
    /// `recheck_after` has passed and nobody live holds it. A compare-and-set: of several
    /// instances asking at once, one gets `true`.
    pub async fn adopt_check(&self, job_id: &str, now: DateTime<Utc>) -> Result<bool, LedgerError> {
        let due = "state <> 'running' AND result IS NULL
                   AND (recheck_after IS NULL OR recheck_after <= $4)";
        self.take_lease("jobs", job_id, due, now)
            .await
            .doing(|| format!("taking the check of job {job_id}"))
    }

    /// Records what detection said about a finished job's range, and gives up the check's
    /// lease. Only the instance holding the check records it.
    pub async fn set_job_result(
        &self,
        job_id: &str,
        result: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        let doing = || format!("recording the result of job {job_id}");
        let changed = self
            .db
            .execute(
                "UPDATE jobs SET result = $2, lease_until = NULL
                 WHERE id = $1 AND state <> 'running' AND owner = $3",
                &[
                    job_id.into(),
                    result.into(),
                    self.instance.id.as_str().into(),
                ],
            )
            .await
            .doing(doing)?;
        if changed == 1 {
            return Ok(());
        }
        let problem = match self.job(job_id).await? {
            None => LedgerProblem::NoSuchJob,
            Some(job) if !job.state.is_final() => {
                LedgerProblem::Invalid("the job has not finished: its actions come first".into())
            }
            Some(_) => LedgerProblem::Invalid(
                "another instance took the job's check: it records the result".into(),
            ),
        };
        Err(LedgerError::new(doing(), problem))
    }

    /// Jobs a sweep may advance at `now`, oldest first: unfinished ones nobody live owns (their
    /// owner died, or a slice ended and released them), and finished ones whose check is due
    /// and not held.
    pub async fn jobs_to_advance(&self, now: DateTime<Utc>) -> Result<Vec<String>, LedgerError> {
        let sql = "SELECT id FROM jobs
                   WHERE (lease_until IS NULL OR lease_until < $1)
                     AND (state = 'running' OR (result IS NULL
                          AND (recheck_after IS NULL OR recheck_after <= $1)))
                   ORDER BY created_at, rowid";
        self.ids(sql, now, "listing the jobs a sweep may advance")
            .await
    }
}
