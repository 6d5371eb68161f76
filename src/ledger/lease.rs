//! Leases: which instance owns a running run or an unfinished job, and until when.
//!
//! An owner renews the leases of all its work in progress by [`Ledger::heartbeat`], at a
//! fraction of the lease (`BACKSTOP_LEASE_SECS`, default 60). Work is taken over only when its
//! lease ran out — its owner died, was killed, or stopped getting CPU — and then by one
//! conditional update, so exactly once however many instances look at the same moment:
//!
//! - a run: [`Ledger::abandon_running`] marks it `abandoned` (counts unknown);
//! - a job: [`Ledger::adopt_job`] makes this instance its owner, and the caller resumes it.
//!
//! `adopt_job` is also how every request advances a job by a bounded slice: adopt it if nobody
//! live owns it, work, then [`Ledger::release_job`] so the next request (on any instance) can
//! take it at once.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::db::Value;
use super::{Doing, Ledger, LedgerError};

/// The lease when `BACKSTOP_LEASE_SECS` is not set.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// This process as an owner of work: a unique id and how long its leases hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `{K_REVISION or "backstop"}-{8 random hex digits}`: unique per process.
    pub id: String,
    pub lease: Duration,
}

impl Instance {
    /// A new owner id: the Cloud Run revision (when known) and a random suffix.
    pub fn new(revision: Option<&str>, lease: Duration) -> Instance {
        let prefix = revision.filter(|r| !r.is_empty()).unwrap_or("backstop");
        Instance {
            id: format!("{prefix}-{:08x}", rand::random::<u32>()),
            lease,
        }
    }

    /// When a lease taken or renewed at `now` runs out.
    pub fn lease_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX)
    }

    /// How often to renew: a third of the lease, so two missed beats still hold it.
    pub fn heartbeat_every(&self) -> Duration {
        self.lease / 3
    }
}

/// What a heartbeat renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewed {
    pub runs: u64,
    pub jobs: u64,
}

const ABANDONED_MESSAGE: &str =
    "stopped heartbeating before the run finished (the process died or lost its CPU); its counts and output are unknown";

impl Ledger {
    /// Renews the lease of every unfinished run this instance owns, and of the jobs among
    /// `jobs` (the ones a slice of it is working on, its actions or its check: a job whose
    /// slice died is not renewed, so it is taken over — by this instance too — once its lease
    /// runs out).
    pub async fn heartbeat(
        &self,
        now: DateTime<Utc>,
        jobs: &[String],
    ) -> Result<Renewed, LedgerError> {
        let doing = || format!("renewing the leases of instance {}", self.instance.id);
        let args: [Value; 2] = [
            self.instance.id.as_str().into(),
            self.instance.lease_from(now).into(),
        ];
        let runs = self
            .db
            .execute(
                "UPDATE runs SET lease_until = $2 WHERE owner = $1 AND status = 'running'",
                &args,
            )
            .await
            .doing(doing)?;
        let mut params = args.to_vec();
        params.extend(jobs.iter().map(Value::from));
        let listed: Vec<String> = (3..=params.len()).map(|n| format!("${n}")).collect();
        let jobs = if jobs.is_empty() {
            0
        } else {
            let sql = format!(
                "UPDATE jobs SET lease_until = $2
                 WHERE owner = $1 AND (state = 'running' OR result IS NULL) AND id IN ({})",
                listed.join(", ")
            );
            self.db.execute(&sql, &params).await.doing(doing)?
        };
        Ok(Renewed { runs, jobs })
    }

    /// Marks `abandoned`, with unknown counts, every run left `running` whose lease ran out at
    /// `now` (or that has no lease: recorded before leases existed). A live instance's runs are
    /// never touched. One statement: two instances doing this at once abandon each run once.
    /// Returns how many it marked.
    pub async fn abandon_running(&self, now: DateTime<Utc>) -> Result<u64, LedgerError> {
        self.db
            .execute(
                "UPDATE runs SET status = 'abandoned', finished_at = $1, error_kind = 'abandoned',
                     error_message = 'the instance ' || COALESCE(owner, 'that started it') || ' ' || $2,
                     lease_until = NULL
                 WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $1)",
                &[now.into(), ABANDONED_MESSAGE.into()],
            )
            .await
            .doing(|| "abandoning runs whose owner stopped heartbeating".into())
    }

    /// Marks this instance's own unfinished runs `abandoned` (it is stopping without them).
    pub async fn abandon_own_runs(&self, now: DateTime<Utc>) -> Result<u64, LedgerError> {
        self.db
            .execute(
                "UPDATE runs SET status = 'abandoned', finished_at = $1, error_kind = 'abandoned',
                     error_message = $2, lease_until = NULL
                 WHERE status = 'running' AND owner = $3",
                &[
                    now.into(),
                    "the process stopped before the run finished; its counts and output are unknown"
                        .into(),
                    self.instance.id.as_str().into(),
                ],
            )
            .await
            .doing(|| "abandoning this instance's unfinished runs".into())
    }

    /// Unfinished jobs whose owner's lease ran out at `now`, oldest first: candidates for
    /// [`Ledger::adopt_job`].
    pub async fn orphaned_jobs(&self, now: DateTime<Utc>) -> Result<Vec<String>, LedgerError> {
        let sql = "SELECT id FROM jobs WHERE state = 'running'
                     AND (lease_until IS NULL OR lease_until < $1)
                   ORDER BY created_at, rowid";
        self.ids(sql, now, "listing jobs whose owner stopped heartbeating")
            .await
    }

    /// The `id`s a query over leased work at `now` selects, in its order.
    pub(crate) async fn ids(
        &self,
        sql: &str,
        now: DateTime<Utc>,
        doing: &str,
    ) -> Result<Vec<String>, LedgerError> {
        let rows = self
            .db
            .query(sql, &[now.into()])
            .await
            .doing(|| doing.into())?;
        rows.iter()
            .map(|r| r.text("id"))
            .collect::<Result<_, _>>()
            .doing(|| doing.into())
    }

    /// Makes this instance the owner of an unfinished job if nobody live owns it (its lease ran
    /// out, or this instance already owns it). A compare-and-set: of several instances asking
    /// at once, one gets `true`.
    pub async fn adopt_job(&self, job_id: &str, now: DateTime<Utc>) -> Result<bool, LedgerError> {
        self.take_lease("jobs", job_id, "state = 'running'", now)
            .await
            .doing(|| format!("adopting job {job_id}"))
    }

    /// The compare-and-set every adoption is: this instance becomes the owner of the row `id`
    /// of `table` (a table with `owner` and `lease_until`), under its lease from `now`, when
    /// `condition` holds and nobody live owns it. `true` when it did.
    pub(crate) async fn take_lease(
        &self,
        table: &str,
        id: &str,
        condition: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, super::DbError> {
        let sql = format!(
            "UPDATE {table} SET owner = $2, lease_until = $3
             WHERE id = $1 AND {condition}
               AND (owner = $2 OR lease_until IS NULL OR lease_until < $4)"
        );
        let params = [
            id.into(),
            self.instance.id.as_str().into(),
            self.instance.lease_from(now).into(),
            now.into(),
        ];
        Ok(self.db.execute(&sql, &params).await? == 1)
    }

    /// Gives up this instance's leases on all its unfinished jobs (it is stopping), so another
    /// instance adopts them at once instead of after the lease. Returns how many.
    pub async fn release_own_jobs(&self, now: DateTime<Utc>) -> Result<u64, LedgerError> {
        self.db
            .execute(
                "UPDATE jobs SET lease_until = $2 WHERE owner = $1 AND state = 'running'",
                &[self.instance.id.as_str().into(), now.into()],
            )
            .await
            .doing(|| "releasing this instance's jobs".into())
    }

    /// Gives up this instance's lease on a job it stops working on (a slice ended), so any
    /// instance may adopt it at once. The job stays unfinished and keeps its last owner's name.
    pub async fn release_job(&self, job_id: &str, now: DateTime<Utc>) -> Result<(), LedgerError> {
        self.db
            .execute(
                "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND owner = $2 AND state = 'running'",
                &[job_id.into(), self.instance.id.as_str().into(), now.into()],
            )
            .await
            .doing(|| format!("releasing job {job_id}"))
            .map(|_| ())
    }
}
