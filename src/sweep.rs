//! The sweep (`POST /sweep`, every few minutes from Cloud Scheduler: `scrapers/maintenance/
//! sweep.json`): everything that waits without a request is carried on here, since Cloud Run
//! gives CPU only while it answers one. In order, within one budget (`BACKSTOP_SLICE_SECS`):
//!
//! 1. runs whose owner's lease ran out become `abandoned` (one conditional update);
//! 2. the completion-message outbox is drained (each message claimed by one drain), and
//!    finished runs not yet in the execution log go there (`notify::execution_log`);
//! 3. hand-overs whose outcome is unknown are settled from BigQuery's rows;
//! 4. once a night (the first sweep past the declared hour): the last `BACKSTOP_SWEEP_DAYS`
//!    days (0: no nightly check) are checked and what is safe to recover automatically is recovered — re-scrape
//!    `scraper_failed`, send `processor_failed` files once past the pending-load window — as a
//!    recovery job like any other, whose given key `nightly-{date}` makes it one job per night
//!    across instances (the ledger's unique index decides); the instance that creates it logs
//!    one line per lost (date, market) ([`LOST_MESSAGE`], severity error), and the job's final
//!    check one per pair still lost (`reprocess::STILL_LOST_MESSAGE`: what needs a person);
//! 5. recovery jobs nobody live owns, and finished ones whose check is due, advance by a slice
//!    (at least one per sweep, more while the budget lasts);
//! 6. so do detection jobs (`gaps::job`: a long range's `GET /gaps`), and finished ones older
//!    than a day are forgotten.
//!
//! Every step is idempotent and decided in the ledger, so two instances sweeping at once do
//! each thing once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio::time::Instant;

use crate::calendar::GameDate;
use crate::gaps::GapReport;
use crate::ledger::{Ledger, LedgerError};
use crate::reprocess::plan::Plan;
use crate::reprocess::slice::Advanced;
use crate::reprocess::{Recovery, RecoveryError, ReprocessRequest};

/// The message of the line logged for each lost (date, market) the nightly check finds: a
/// log-based alert matches it (`jsonPayload.message`, severity `ERROR`). Never reworded.
pub const LOST_MESSAGE: &str = "lost data found by the nightly check";

/// What a sweep does: the parts it drives and how far back the nightly check looks.
pub struct Sweeper {
    pub recovery: Arc<Recovery>,
    /// `BACKSTOP_SWEEP_DAYS`: the nightly check covers the days before today, this many.
    pub days: u32,
}

/// What one sweep did, as `POST /sweep` answers it.
#[derive(Debug, Default, Serialize)]
pub struct Swept {
    pub abandoned_runs: u64,
    pub messages_published: u32,
    pub messages_failed: u32,
    /// Runs appended to the execution log (or found there already).
    pub runs_exported: u32,
    /// Unconfirmed hand-overs checked against the table.
    pub claims_checked: usize,
    /// The nightly check, once it is due (`None` before its hour).
    pub nightly: Option<Nightly>,
    /// Each job a slice was given, and what it did.
    pub jobs: Vec<JobSlice>,
    /// Each detection job a slice was given, and whether it is whole now.
    pub detections: Vec<DetectionSlice>,
    /// What went wrong (the ledger unreachable, …): the sweep answers 500 when any.
    pub problems: Vec<String>,
    pub seconds: f64,
}

/// The night's check: its recovery job.
#[derive(Debug, Serialize)]
pub struct Nightly {
    pub night: NaiveDate,
    pub job_id: String,
    /// Made by this sweep (else an earlier sweep, here or elsewhere, made it).
    pub created: bool,
    /// Lost (date, market) pairs found, when made now.
    pub lost: usize,
}

#[derive(Debug, Serialize)]
pub struct DetectionSlice {
    pub detection_id: String,
    pub whole: bool,
}

#[derive(Debug, Serialize)]
pub struct JobSlice {
    pub job_id: String,
    pub did: String,
}

impl Sweeper {
    /// One sweep: starts nothing new after `budget` (but always gives one due job a slice).
    pub async fn sweep(&self, budget: Duration) -> Swept {
        self.sweep_at(budget, Utc::now()).await
    }

    /// [`Sweeper::sweep`] as if the clock said `now` (whether the nightly check is due, and of
    /// which night).
    pub async fn sweep_at(&self, budget: Duration, now: DateTime<Utc>) -> Swept {
        let started = Instant::now();
        let deadline = started + budget;
        let recovery = &self.recovery;
        let mut swept = Swept::default();
        match abandon_stopped_runs(&recovery.ledger).await {
            Ok(n) => swept.abandoned_runs = n,
            Err(e) => swept.problems.push(e.to_string()),
        }
        let drained = recovery.scrapes.announce_outbox().await;
        (swept.messages_published, swept.messages_failed) = (drained.published, drained.failed);
        if recovery.scrapes.execution_log.is_on() {
            let exported = recovery.scrapes.export_runs().await;
            swept.runs_exported = exported.sent + exported.found;
        }
        swept.claims_checked = recovery.settle_claims().await.len();
        match self.nightly(now).await {
            Ok(Some((nightly, slice))) => {
                swept
                    .jobs
                    .extend(slice.map(|a| job_slice(&nightly.job_id, a)));
                swept.nightly = Some(nightly);
            }
            Ok(None) => {}
            Err(e) => swept.problems.push(e),
        }
        let due = recovery.advance_due(deadline).await;
        swept
            .jobs
            .extend(due.into_iter().map(|(id, a)| job_slice(&id, a)));
        let detections = recovery.detector.advance_due_detections(deadline).await;
        swept.detections = detections
            .into_iter()
            .map(|(detection_id, whole)| DetectionSlice {
                detection_id,
                whole,
            })
            .collect();
        swept.seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            abandoned_runs = swept.abandoned_runs,
            published = swept.messages_published,
            claims_checked = swept.claims_checked,
            jobs = swept.jobs.len(),
            detections = swept.detections.len(),
            problems = swept.problems.len(),
            seconds = swept.seconds,
            "sweep done"
        );
        swept
    }

    /// The nightly check when it is due: the night's recovery job (made now, or found), and
    /// its first slice when made now. `None` before the declared hour.
    async fn nightly(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<(Nightly, Option<Advanced>)>, String> {
        let Some(night) = crate::scrapers::sweep().nightly_check.due(now) else {
            return Ok(None);
        };
        if self.days == 0 {
            return Ok(None);
        }
        let key = format!("{}{night}", crate::reprocess::NIGHTLY_KEY_PREFIX);
        let req = nightly_request(night, self.days);
        let submitted = match self.recovery.submit(&req, Some(&key), Duration::ZERO).await {
            Ok(s) => s,
            Err(e @ RecoveryError::KeyReused { .. }) => {
                // BACKSTOP_SWEEP_DAYS changed since tonight's check: it ran; tomorrow's uses it.
                tracing::warn!(error = %e, "tonight's check already ran over another range");
                return Ok(None);
            }
            Err(e) => return Err(format!("the nightly check of {night}: {e}")),
        };
        let job_id = submitted.job.id.clone();
        let mut nightly = Nightly {
            night,
            job_id: job_id.clone(),
            created: submitted.created,
            lost: 0,
        };
        if !submitted.created {
            return Ok(Some((nightly, None)));
        }
        if let Some(report) = &submitted.report {
            nightly.lost = log_lost(report, &submitted.plan, &job_id);
        }
        tracing::info!(job_id = %job_id, %night, lost = nightly.lost,
                       actions = submitted.plan.actions.len(), "nightly check: recovery job made");
        let first = self
            .recovery
            .advance(&job_id, self.recovery.slice)
            .await
            .map_err(|e: LedgerError| e.to_string())?;
        Ok(Some((nightly, Some(first))))
    }
}

/// Marks `abandoned` the runs whose owner's lease ran out; logs how many (`abandoned=N`).
pub async fn abandon_stopped_runs(ledger: &Ledger) -> Result<u64, LedgerError> {
    let abandoned = ledger.abandon_running(Utc::now()).await?;
    if abandoned > 0 {
        tracing::warn!(
            abandoned,
            "runs whose owner stopped heartbeating are now recorded as abandoned"
        );
    }
    Ok(abandoned)
}

/// The nightly check's request: the `days` days before `night` (a local date), the scheduled
/// markets, the categories safe to recover automatically (the default ones).
pub fn nightly_request(night: NaiveDate, days: u32) -> ReprocessRequest {
    let day = |back: u32| GameDate::new(night - chrono::Days::new(u64::from(back))).to_string();
    ReprocessRequest {
        from: Some(day(days)),
        to: Some(day(1)),
        ..ReprocessRequest::default()
    }
}

/// One error line per (date, market) the report finds lost or unjudged, saying what the job
/// does about it; returns how many.
fn log_lost(report: &GapReport, plan: &Plan, job_id: &str) -> usize {
    let mut lost = 0;
    for row in report.problems() {
        let (date, market) = (row.evidence.date, row.evidence.market);
        let here = |d: GameDate, m| d == date && m == market;
        let recovery = match plan.actions.iter().find(|a| here(a.date, a.market)) {
            Some(a) => match &a.object_name {
                Some(object) => format!("send {object} to Phase 2, once"),
                None => "re-scrape".to_string(),
            },
            None => match plan.skipped.iter().find(|s| here(s.date, s.market)) {
                Some(s) => format!("not sent: {}", s.reason),
                None => "none automatically: needs a person".to_string(),
            },
        };
        tracing::error!(date = %date, market = %market,
                        category = %row.verdict.category.as_str(), reason = %row.verdict.reason,
                        job_id, recovery = %recovery, "{LOST_MESSAGE}");
        lost += 1;
    }
    lost
}

fn job_slice(job_id: &str, did: Advanced) -> JobSlice {
    let did = match did {
        Advanced::Busy => "held by another slice".to_string(),
        Advanced::Progressed { actions } => format!("ran {actions} action(s); more remain"),
        Advanced::Finished {
            actions,
            recheck_after,
        } => format!("ran its last {actions} action(s); checks its range after {recheck_after}"),
        Advanced::Waiting { until } => format!("waits to check its range until {until}"),
        Advanced::Checked => "checked its range and recorded the result".to_string(),
        Advanced::Ended => "had ended".to_string(),
    };
    JobSlice {
        job_id: job_id.to_string(),
        did,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nightly_request_covers_the_days_before_the_night() {
        let req = nightly_request("2026-01-15".parse().unwrap(), 3);
        assert_eq!(
            (req.from.as_deref(), req.to.as_deref()),
            (Some("2026-01-12"), Some("2026-01-14"))
        );
        assert!(req.market.is_none() && req.categories.is_none() && !req.dry_run);
    }
}
