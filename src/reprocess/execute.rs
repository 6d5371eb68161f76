//! Carrying out a recovery job, durably: every action's state is in the ledger before and
//! after it runs, so a job resumed after a crash redoes nothing that finished and never
//! sends a file to Phase 2 twice.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::Utc;
use serde_json::json;

use super::Recovery;
use crate::gaps::{Category, GapQuery};
use crate::ledger::{ActionKind, ActionRecord, ActionState, FileSendState, JobRecord};
use crate::market::MarketSelection;
use crate::run::{RunStatus, Scraper, Trigger};
use crate::scrape::ScrapeRequest;

/// How an action ended: its state, what happened, and the run it made (scrapes).
type Outcome = (ActionState, String, Option<String>);

/// Jobs being executed by this process (a job runs in one task at a time).
#[derive(Default)]
pub struct Running(Mutex<HashSet<String>>);

impl Recovery {
    /// The jobs this process is executing now: the ones whose leases its heartbeat renews.
    pub fn jobs_in_progress(&self) -> Vec<String> {
        let running = self.running.0.lock().expect("running jobs");
        running.iter().cloned().collect()
    }

    /// Runs every unfinished action of a job, then records what detection says afterwards.
    pub async fn execute(&self, job_id: &str) {
        if !self
            .running
            .0
            .lock()
            .expect("running jobs")
            .insert(job_id.to_string())
        {
            return;
        }
        let result = self.execute_inner(job_id).await;
        if let Err(e) = result {
            tracing::error!(job_id, error = %e, "recovery job stopped");
        }
        self.running.0.lock().expect("running jobs").remove(job_id);
    }

    async fn execute_inner(&self, job_id: &str) -> Result<(), String> {
        let job = self.load(job_id).await?;
        for action in job.actions.iter().filter(|a| !a.state.is_final()) {
            let (state, detail, run_id) = match action.kind {
                ActionKind::Scrape => self.rescrape(&job, action).await,
                ActionKind::SendFile => self.send(&job, action).await,
            };
            self.ledger
                .set_action_state(
                    job_id,
                    action.seq,
                    state,
                    Some(&detail),
                    run_id.as_deref(),
                    Utc::now(),
                )
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(job_id, seq = action.seq, kind = ?action.kind, game_date = %action.game_date,
                           market = action.market.as_str(), state = ?state, "{detail}");
        }
        let job = self.load(job_id).await?;
        let ok = job
            .actions
            .iter()
            .all(|a| matches!(a.state, ActionState::Done | ActionState::Skipped));
        self.ledger
            .finish_job(job_id, if ok { "done" } else { "failed" }, Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        if job
            .actions
            .iter()
            .any(|a| a.kind == ActionKind::Scrape && a.state == ActionState::Done)
        {
            tokio::time::sleep(self.settle).await;
        }
        self.record_after(&job).await
    }

    async fn load(&self, job_id: &str) -> Result<JobRecord, String> {
        self.ledger
            .job(job_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no recovery job {job_id}"))
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
                        format!("{object} was delivered before the restart"),
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
                    format!("unconfirmed: the process stopped while {object} was being sent; Phase 2 may have loaded it. Check rows with source_file_path = '{object}', then confirm or release the claim — backstop will not send it again on its own"),
                    None,
                );
            }
            Ok(Some(rec)) => {
                return (
                    ActionState::Skipped,
                    format!(
                        "{object} is claimed by job {} (unconfirmed): never sent twice",
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
        match self.phase2.send_file(&bucket, &object).await {
            Ok(d) => {
                if let Err(e) = self.ledger.confirm_file_sent(&object, Utc::now()).await {
                    return (ActionState::Failed, format!("Phase 2 took {object} but the ledger could not record it: {e}"), None);
                }
                (ActionState::Done, format!("Phase 2 answered {} for {object} after {} attempt(s)", d.status, d.attempts), None)
            }
            Err(e) if e.maybe_loaded() && !e.is_rejected() => (
                ActionState::Failed,
                format!("unconfirmed: {e}; Phase 2 may have loaded {object}, so it is not sent again automatically"),
                None,
            ),
            Err(e) => {
                let _ = self.ledger.release_file_send(&object).await;
                (ActionState::Failed, e.to_string(), None)
            }
        }
    }

    /// Detection again over the job's dates and markets: which are complete now.
    async fn record_after(&self, job: &JobRecord) -> Result<(), String> {
        let (Some(first), Some(last)) = (
            job.actions.iter().map(|a| a.game_date).min(),
            job.actions.iter().map(|a| a.game_date).max(),
        ) else {
            return self
                .ledger
                .set_job_result(&job.id, &json!({"checked": []}))
                .await
                .map_err(|e| e.to_string());
        };
        let mut markets: Vec<_> = job.actions.iter().map(|a| a.market).collect();
        markets.sort();
        markets.dedup();
        let query = GapQuery {
            from: first,
            to: last,
            markets,
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
        let result = json!({ "checked": checked, "now_complete": complete, "still_lost": checked.len() - complete });
        self.ledger
            .set_job_result(&job.id, &result)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Counts of actions per state, for progress.
pub fn progress(job: &JobRecord) -> serde_json::Value {
    let mut counts = std::collections::BTreeMap::new();
    for a in &job.actions {
        *counts
            .entry(format!("{:?}", a.state).to_lowercase())
            .or_insert(0u32) += 1;
    }
    json!(counts)
}
