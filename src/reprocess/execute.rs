//! Carrying out a recovery job's actions, durably: every action's state is in the ledger
//! before and after it runs, so a job resumed after a crash redoes nothing that finished and
//! never sends a file to Phase 2 twice; then the check of the job's range afterwards. Which
//! actions run when is `slice`'s business.

use chrono::Utc;
use serde_json::json;

use super::plan::scope_from_json;
use super::Recovery;
use crate::calendar::GameDate;
use crate::gaps::{Category, GapQuery};
use crate::ledger::{
    ActionKind, ActionRecord, ActionState, ClaimEvidence, ClaimOutcome, EvidenceSource,
    FileSendState, JobRecord, LedgerError,
};
use crate::market::MarketSelection;
use crate::run::{RunStatus, Scraper, Trigger};
use crate::scrape::ScrapeRequest;

/// How an action ended: its state, what happened, and the run it made (scrapes).
type Outcome = (ActionState, String, Option<String>);

impl Recovery {
    /// Runs one action and records how it ended.
    pub(super) async fn run_action(
        &self,
        job: &JobRecord,
        action: &ActionRecord,
    ) -> Result<ActionState, LedgerError> {
        let (state, detail, run_id) = match action.kind {
            ActionKind::Scrape => self.rescrape(job, action).await,
            ActionKind::SendFile => self.send(job, action).await,
        };
        self.ledger
            .set_action_state(
                &job.id,
                action.seq,
                state,
                Some(&detail),
                run_id.as_deref(),
                Utc::now(),
            )
            .await?;
        tracing::info!(job_id = %job.id, seq = action.seq, kind = %action.kind,
                       game_date = %action.game_date, market = action.market.as_str(),
                       state = %state, "{detail}");
        Ok(state)
    }

    /// Records that an action is under way (before any effect), or why that failed.
    async fn mark_running(&self, job: &JobRecord, a: &ActionRecord) -> Option<Outcome> {
        let now = Utc::now();
        let marked = self
            .ledger
            .set_action_state(&job.id, a.seq, ActionState::Running, None, None, now)
            .await;
        marked
            .err()
            .map(|e| (ActionState::Failed, e.to_string(), None))
    }

    async fn rescrape(&self, job: &JobRecord, a: &ActionRecord) -> Outcome {
        if let Some(failed) = self.mark_running(job, a).await {
            return failed;
        }
        let req = ScrapeRequest {
            scraper: Scraper::PlayerProps,
            date: a.game_date,
            markets: MarketSelection::One(a.market),
            trigger: Trigger::Recovery,
        };
        let reports = self.scrapes.run(&req).await;
        let Some(r) = reports.first() else {
            return (
                ActionState::Failed,
                "the scrape stopped without a report".into(),
                None,
            );
        };
        let state = if r.status == RunStatus::Success {
            ActionState::Done
        } else {
            ActionState::Failed
        };
        (
            state,
            format!("scrape {}: {}", r.status, r.message),
            Some(r.run_id.clone()),
        )
    }

    async fn send(&self, job: &JobRecord, a: &ActionRecord) -> Outcome {
        let object = a.object_name.clone().unwrap_or_default();
        let resumed = a.state == ActionState::Running;
        match self.ledger.file_send(&object).await {
            Err(e) => return (ActionState::Failed, e.to_string(), None),
            Ok(Some(rec)) if rec.state == FileSendState::Sent => {
                return if rec.job_id == job.id {
                    (
                        ActionState::Done,
                        format!(
                            "{object} was delivered before the restart (see the claim's evidence)"
                        ),
                        None,
                    )
                } else {
                    (
                        ActionState::Skipped,
                        format!(
                            "{object} was already delivered by job {}: never sent twice",
                            rec.job_id
                        ),
                        None,
                    )
                };
            }
            Ok(Some(rec)) if rec.job_id == job.id && resumed => {
                return (
                    ActionState::Failed,
                    format!("unconfirmed: the process stopped while {object} was being sent; Phase 2 may have loaded it. The claim is settled from the rows under its source_file_path (see its evidence; `backstop claims` when BigQuery cannot say): never re-sent blindly"),
                    None,
                );
            }
            Ok(Some(rec)) => {
                return (
                    ActionState::Skipped,
                    format!(
                        "{object} is claimed by job {} (unconfirmed, settled from evidence): never sent twice",
                        rec.job_id
                    ),
                    None,
                );
            }
            Ok(None) => {}
        }
        let Some(bucket) = self.bucket.clone() else {
            return (
                ActionState::Failed,
                "storage is a local directory: Phase 2 reads only Cloud Storage".into(),
                None,
            );
        };
        if let Some(failed) = self.mark_running(job, a).await {
            return failed;
        }
        match self
            .ledger
            .claim_file_send(&object, &job.id, Utc::now())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return (
                    ActionState::Skipped,
                    format!("{object} was claimed by another job just now: never sent twice"),
                    None,
                )
            }
            Err(e) => return (ActionState::Failed, e.to_string(), None),
        }
        let sent = self.phase2.send_file(&bucket, &object).await;
        let (outcome, state, detail) = match &sent {
            Ok(d) => (
                ClaimOutcome::Confirmed,
                ActionState::Done,
                format!("Phase 2 answered {} for {object} after {} attempt(s)", d.status, d.attempts),
            ),
            Err(e) if e.maybe_loaded() => (
                ClaimOutcome::Unconfirmed,
                ActionState::Failed,
                format!("unconfirmed: {e}; settled from the rows under its source_file_path, never re-sent blindly"),
            ),
            Err(e) => (ClaimOutcome::Released, ActionState::Failed, e.to_string()),
        };
        let evidence = ClaimEvidence {
            checked_at: Utc::now(),
            source: EvidenceSource::Answer,
            outcome,
            rows_found: None,
            detail: detail.clone(),
        };
        match self.ledger.settle_claim(&object, &job.id, &evidence).await {
            Ok(_) => (state, detail, None),
            Err(e) => (
                ActionState::Failed,
                format!("{detail}; but the ledger could not record it: {e}"),
                None,
            ),
        }
    }

    /// Detection again over the job's range: which of its actions' dates are complete now,
    /// and what in the range is still lost or cannot be judged (`still_lost`, `lost`).
    pub(super) async fn record_after(&self, job: &JobRecord) -> Result<(), LedgerError> {
        let Some((query, dates)) = scope_of(job) else {
            let nothing = json!({"checked": [], "now_complete": 0, "still_lost": 0, "lost": []});
            return self.ledger.set_job_result(&job.id, &nothing).await;
        };
        let report = self.detector.detect(&query).await;
        let checked: Vec<_> = job
            .actions
            .iter()
            .filter_map(|a| report.row(a.game_date, a.market).map(|r| (a, r)))
            .map(|(a, r)| json!({
                "date": a.game_date, "market": a.market, "category": r.verdict.category.as_str(),
                "complete": r.verdict.category == Category::Complete, "reason": r.verdict.reason,
            }))
            .collect();
        let complete = checked.iter().filter(|c| c["complete"] == true).count();
        let still_lost: Vec<_> = report
            .problems()
            .filter(|r| dates.as_ref().is_none_or(|d| d.contains(&r.evidence.date)))
            .collect();
        let lost: Vec<_> = still_lost
            .iter()
            .map(|r| {
                json!({
                    "date": r.evidence.date, "market": r.evidence.market,
                    "category": r.verdict.category.as_str(), "reason": r.verdict.reason,
                })
            })
            .collect();
        let result = json!({
            "checked": checked, "now_complete": complete, "still_lost": lost.len(), "lost": lost,
        });
        self.ledger.set_job_result(&job.id, &result).await?;
        if job.key_given && job.idempotency_key.starts_with(super::NIGHTLY_KEY_PREFIX) {
            for r in &still_lost {
                tracing::error!(date = %r.evidence.date, market = %r.evidence.market,
                                category = %r.verdict.category.as_str(), reason = %r.verdict.reason,
                                job_id = %job.id, key = %job.idempotency_key,
                                "{}", super::STILL_LOST_MESSAGE);
            }
        }
        Ok(())
    }
}

/// What a job covers: the scope stored with it, or (a job from before scopes were stored)
/// the dates and markets of its actions.
fn scope_of(job: &JobRecord) -> Option<(GapQuery, Option<Vec<GameDate>>)> {
    if let Some(scope) = scope_from_json(&job.request["scope"]) {
        return Some(scope);
    }
    let first = job.actions.iter().map(|a| a.game_date).min()?;
    let last = job.actions.iter().map(|a| a.game_date).max()?;
    let mut markets: Vec<_> = job.actions.iter().map(|a| a.market).collect();
    markets.sort();
    markets.dedup();
    let dates: Vec<GameDate> = job.actions.iter().map(|a| a.game_date).collect();
    let query = GapQuery {
        from: first,
        to: last,
        markets,
    };
    Some((query, Some(dates)))
}

/// Counts of actions per state, for progress.
pub fn progress(job: &JobRecord) -> serde_json::Value {
    let mut counts = std::collections::BTreeMap::new();
    for a in &job.actions {
        *counts.entry(a.state.as_str()).or_insert(0u32) += 1;
    }
    json!(counts)
}
