//! A recovery job advances only inside requests, in slices bounded by a budget
//! (`BACKSTOP_SLICE_SECS`): Cloud Run gives a service CPU while it answers a request, not
//! after. `POST /reprocess` runs the first slice, `GET /reprocess/{id}` one more whenever nobody
//! live owns the job, the scheduler's sweep advances every job left waiting, and the command
//! line drives its job slice after slice until the end.
//!
//! A slice adopts the job (a compare-and-set on its lease: nobody live may own it), settles
//! the job's own unconfirmed hand-overs from evidence, runs its pending actions in order —
//! recording each before and after — and stops starting new ones once the budget is spent
//! (the first always runs, so every slice moves the job on; the one under way when the budget
//! runs out finishes: a scrape within the run deadline, a hand-over within Phase 2's timeout).
//! Then it releases the job, so the next request on any instance may adopt it at once, or, after
//! the last action, finishes it. The check of the job's range afterwards waits for the settle
//! time (`BACKSTOP_RECOVERY_SETTLE_SECS`) as a state, `recheck_after`, never as a sleep: the first
//! slice after it takes the check (another compare-and-set), detects, and records the result.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::Recovery;
use crate::ledger::{ActionKind, ActionState, JobRecord, JobState, LedgerError, LedgerProblem};

/// What one slice did to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advanced {
    /// Another slice holds the job (in this process, or on an instance whose lease holds):
    /// nothing was done.
    Busy,
    /// Ran `actions` action(s); more remain for the next slice.
    Progressed { actions: usize },
    /// Ran the last action(s): the job is done or failed; its range is checked again from
    /// `recheck_after` on.
    Finished {
        actions: usize,
        recheck_after: DateTime<Utc>,
    },
    /// The job has finished; the check of its range is due at `until`.
    Waiting { until: DateTime<Utc> },
    /// Checked the job's range again and recorded the result (after its last actions, when
    /// the check was due at once and the budget allowed).
    Checked,
    /// Nothing left: the job has its result.
    Ended,
}

impl Advanced {
    /// The job has its result: nothing will change it again.
    pub fn is_end(self) -> bool {
        matches!(self, Advanced::Checked | Advanced::Ended)
    }
}

/// The jobs a slice of this process is working on (one slice per job at a time): the ones
/// whose leases its heartbeat renews.
#[derive(Default)]
pub struct Running(Mutex<HashSet<String>>);

impl Running {
    /// Marks `job_id` as being worked on, until the guard drops; `None` when it already is.
    fn enter(&self, job_id: &str) -> Option<Entered<'_>> {
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        set.insert(job_id.to_string()).then(|| Entered {
            running: self,
            job_id: job_id.to_string(),
        })
    }
}

/// A slice in progress; leaves [`Running`] however the slice ends (a cancelled request too).
struct Entered<'a> {
    running: &'a Running,
    job_id: String,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let mut set = self
            .running
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        set.remove(&self.job_id);
    }
}

impl Recovery {
    /// The jobs this process is working on now: the ones whose leases its heartbeat renews.
    pub fn jobs_in_progress(&self) -> Vec<String> {
        let running = self
            .running
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        running.iter().cloned().collect()
    }

    /// Advances a job by one slice of at most `budget` (see the module's doc).
    pub async fn advance(&self, job_id: &str, budget: Duration) -> Result<Advanced, LedgerError> {
        let deadline = Instant::now() + budget;
        let Some(_entered) = self.running.enter(job_id) else {
            return Ok(Advanced::Busy);
        };
        let job = self.load(job_id).await?;
        if job.state.is_final() {
            return self.check(&job).await;
        }
        if !self.ledger.adopt_job(job_id, Utc::now()).await? {
            return Ok(Advanced::Busy);
        }
        // A send this job's last slice left unanswered may be settled by now.
        self.settle_claims_of(Some(job_id)).await;
        let job = self.load(job_id).await?;
        let mut ran = 0;
        for action in job.actions.iter().filter(|a| is_open(a.state)) {
            if !crate::tasks::may_start(deadline, ran) {
                break;
            }
            self.run_action(&job, action).await?;
            ran += 1;
        }
        let job = self.load(job_id).await?;
        if job.actions.iter().any(|a| is_open(a.state)) {
            self.ledger.release_job(job_id, Utc::now()).await?;
            return Ok(Advanced::Progressed { actions: ran });
        }
        let recheck_after = self.finish(&job).await?;
        if recheck_after <= Utc::now() && Instant::now() < deadline {
            return self.check(&self.load(job_id).await?).await;
        }
        Ok(Advanced::Finished {
            actions: ran,
            recheck_after,
        })
    }

    /// Drives a job to its end here: slice after slice, waiting out the settle time and any
    /// slice another instance holds (the command line, which has no request timeout).
    pub async fn execute(&self, job_id: &str) {
        loop {
            let pause = match self.advance(job_id, self.slice).await {
                Ok(a) if a.is_end() => return,
                Ok(Advanced::Waiting { until }) => (until - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .min(Duration::from_secs(5)),
                Ok(Advanced::Busy) => Duration::from_millis(300),
                Ok(_) => Duration::ZERO,
                Err(e) => {
                    tracing::error!(job_id, error = %e, "recovery job stopped");
                    return;
                }
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// Advances every job that is due (unfinished with no live owner, or finished with its
    /// check due), oldest first, one slice each, starting none after `deadline` but the first
    /// (so a sweep always moves one on). Returns what each slice did.
    pub async fn advance_due(&self, deadline: Instant) -> Vec<(String, Advanced)> {
        let ids = match self.ledger.jobs_to_advance(Utc::now()).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the recovery jobs waiting for a slice");
                return Vec::new();
            }
        };
        let mut advanced = Vec::new();
        for (n, id) in ids.into_iter().enumerate() {
            if !crate::tasks::may_start(deadline, n) {
                break;
            }
            match self
                .advance(&id, deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Ok(a) => advanced.push((id, a)),
                Err(e) => tracing::error!(job_id = %id, error = %e, "a slice of the job failed"),
            }
        }
        advanced
    }

    async fn load(&self, job_id: &str) -> Result<JobRecord, LedgerError> {
        self.ledger.job(job_id).await?.ok_or_else(|| {
            LedgerError::new(format!("reading job {job_id}"), LedgerProblem::NoSuchJob)
        })
    }

    /// Finishes a job whose actions all ran: `done` when each is done or skipped, else
    /// `failed`; returns when its range is to be checked again (after the settle time when a
    /// re-scrape ran: Phase 2 loads the new files on its own time).
    async fn finish(&self, job: &JobRecord) -> Result<DateTime<Utc>, LedgerError> {
        let ok = job
            .actions
            .iter()
            .all(|a| matches!(a.state, ActionState::Done | ActionState::Skipped));
        let scraped = job
            .actions
            .iter()
            .any(|a| a.kind == ActionKind::Scrape && a.state == ActionState::Done);
        let now = Utc::now();
        let settle = if scraped { self.settle } else { Duration::ZERO };
        let recheck_after = now + chrono::Duration::from_std(settle).unwrap_or_default();
        let state = if ok { JobState::Done } else { JobState::Failed };
        self.ledger
            .finish_job(&job.id, state, recheck_after, now)
            .await?;
        tracing::info!(job_id = %job.id, state = %state, %recheck_after,
                       "recovery job finished its actions; its range is checked again after the settle time");
        Ok(recheck_after)
    }

    /// The check of a finished job's range, once due and taken by this instance.
    async fn check(&self, job: &JobRecord) -> Result<Advanced, LedgerError> {
        if job.result.is_some() {
            return Ok(Advanced::Ended);
        }
        let now = Utc::now();
        if let Some(until) = job.recheck_after.filter(|t| *t > now) {
            return Ok(Advanced::Waiting { until });
        }
        if !self.ledger.adopt_check(&job.id, now).await? {
            return Ok(Advanced::Busy);
        }
        // A send that timed out may have loaded by now: record it with the claim.
        self.settle_claims_of(Some(&job.id)).await;
        self.record_after(job).await?;
        Ok(Advanced::Checked)
    }
}

/// An action a slice still has to run: never started, or left running by a slice that died.
fn is_open(state: ActionState) -> bool {
    matches!(state, ActionState::Pending | ActionState::Running)
}
