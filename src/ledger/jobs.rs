//! Recovery jobs in the ledger: the durable state that lets a reprocess resume after a crash.
//!
//! A job is a list of actions, each either re-scraping a (date, market) or sending one stored
//! file to Phase 2's loader. Its state survives a crash, so [`Ledger::unfinished_jobs`] can
//! resume it. Asking twice returns the first job ([`JobKey`]): for a key the caller gave, for
//! ever; for a request's own key (a hash of its content), while that job is unfinished or
//! finished within the repeat window — after that the same request makes a new job, planned
//! from the evidence then. The database enforces both (partial unique indexes), so two
//! instances asked at once make one job. A `send_file` action goes through the never-twice
//! guard in [`sends`]: claim, send, then settle the claim from what happened.
//!
//! # Ownership
//!
//! A job belongs to the instance that created or adopted it (`owner`, with a lease renewed by
//! heartbeat). Every change to it — an action's state, a claim, its end — is a conditional
//! statement that holds only while this instance is the owner, so a job taken over from a
//! starved instance cannot be advanced by both. An unfinished job whose lease ran out is
//! adopted by one instance ([`Ledger::adopt_job`], a compare-and-set), which resumes it.
//!
//! # After a crash
//!
//! | left behind | what it means | what resuming does |
//! |---|---|---|
//! | job `running`, lease held | its owner is alive and working on it | nothing: never taken from a live owner |
//! | job `running`, lease expired | its owner died (or stopped heartbeating) | one instance adopts it (compare-and-set) and resumes it from the rows below |
//! | action `pending` | never started | run it |
//! | `scrape` action `running` | died mid-scrape; its run is `abandoned` once its lease expires | scrape again: a scrape writes a new snapshot, never overwrites |
//! | `send_file` action `running`, no claim | died before claiming: nothing was sent | send it |
//! | `send_file` action `running`, claim `sent` | died after the 2xx, before marking the action | mark it `done` |
//! | `send_file` action `running`, claim `claimed` | died between claim and answer: Phase 2 may or may not have loaded the file | **never re-send**: mark the action `failed` with detail `unconfirmed` and report it |
//!
//! A claim left `claimed` is *unconfirmed* ([`Ledger::unconfirmed_file_sends`]). Nothing in
//! backstop resends it blindly: recovery settles it from evidence (rows with that
//! `source_file_path` in Phase 2's table → confirmed; none once the pending-load window has
//! passed → released), recording each check with the claim ([`Ledger::settle_claim`], which
//! any instance may do: evidence does not depend on who owns the job); what evidence cannot
//! settle (BigQuery unreachable) waits for a person (`backstop claims`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::db::{DbError, Row, Value};
use super::{Doing, Ledger, LedgerError, LedgerProblem};
use crate::calendar::GameDate;
use crate::market::MarketType;

mod evidence;
mod keys;
mod names;
pub mod sends;

pub use evidence::{ClaimEvidence, JobClaim};
pub use keys::JobKey;
pub use names::{ActionKind, ActionState, ClaimOutcome, EvidenceSource, FileSendState};
pub use sends::FileSendRecord;

/// An action to put in a new job.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAction {
    pub kind: ActionKind,
    pub game_date: GameDate,
    pub market: MarketType,
    /// The object to send: required for `SendFile`, absent for `Scrape`.
    pub object_name: Option<String>,
    /// Why the planner chose this action, for the people reading the job.
    pub reason: String,
}

/// A recovery job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: String,
    pub idempotency_key: String,
    /// The caller gave the key (it names this job for ever); else it is the request's hash.
    pub key_given: bool,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// The request that created the job, as given.
    pub request: serde_json::Value,
    /// What detection said about the job's dates after it ran.
    pub result: Option<serde_json::Value>,
    /// In order (`seq` from 1).
    pub actions: Vec<ActionRecord>,
}

/// One action of a job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    pub seq: u32,
    pub kind: ActionKind,
    pub game_date: GameDate,
    pub market: MarketType,
    pub object_name: Option<String>,
    pub reason: String,
    pub state: ActionState,
    /// How many times the action was moved to `running`.
    pub attempts: u32,
    /// What the last state change said (an error, "already sent by job …").
    pub detail: Option<String>,
    /// The last run this action started, for scrapes.
    pub run_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

const JOB_STATES: [&str; 3] = ["running", "done", "failed"];

impl Ledger {
    /// One job with its actions.
    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>, LedgerError> {
        let doing = || format!("reading job {id}");
        let Some(row) = self
            .db
            .query_opt("SELECT * FROM jobs WHERE id = $1", &[id.into()])
            .await
            .doing(doing)?
        else {
            return Ok(None);
        };
        let mut job = job_from_row(&row).doing(doing)?;
        let rows = self
            .db
            .query(
                "SELECT * FROM job_actions WHERE job_id = $1 ORDER BY seq",
                &[id.into()],
            )
            .await
            .doing(doing)?;
        job.actions = rows
            .iter()
            .map(action_from_row)
            .collect::<Result<_, _>>()
            .doing(doing)?;
        Ok(Some(job))
    }

    /// The `limit` most recent jobs, newest first, with their actions.
    pub async fn recent_jobs(&self, limit: u32) -> Result<Vec<JobRecord>, LedgerError> {
        let sql = "SELECT id FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT $1";
        self.jobs(sql, &[limit.into()], || {
            format!("listing the {limit} most recent jobs")
        })
        .await
    }

    /// Jobs still `running`, oldest first, whoever owns them.
    pub async fn unfinished_jobs(&self) -> Result<Vec<JobRecord>, LedgerError> {
        let sql = "SELECT id FROM jobs WHERE state = 'running' ORDER BY created_at, rowid";
        self.jobs(sql, &[], || "listing unfinished jobs".to_string())
            .await
    }

    /// The jobs whose ids `sql` selects, in its order.
    async fn jobs(
        &self,
        sql: &str,
        params: &[Value],
        doing: impl Fn() -> String,
    ) -> Result<Vec<JobRecord>, LedgerError> {
        let rows = self.db.query(sql, params).await.doing(&doing)?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in rows {
            jobs.extend(self.job(&r.text("id").doing(&doing)?).await?);
        }
        Ok(jobs)
    }

    /// Moves an action to `state`, recording `detail` (replacing the last one) and `run_id`
    /// (kept when `None`). Moving to `Running` counts an attempt. `Done` and `Skipped` are
    /// final, a finished job's actions do not change, and only the job's owner changes them.
    pub async fn set_action_state(
        &self,
        job_id: &str,
        seq: u32,
        state: ActionState,
        detail: Option<&str>,
        run_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("setting action {seq} of job {job_id} to {state}");
        let changed = self
            .db
            .execute(
                "UPDATE job_actions SET state = $3, detail = $4, run_id = COALESCE($5, run_id),
                     attempts = attempts + $6, updated_at = $7
                 WHERE job_id = $1 AND seq = $2 AND state NOT IN ('done', 'skipped')
                   AND EXISTS (SELECT 1 FROM jobs
                               WHERE id = $1 AND state = 'running' AND owner = $8)",
                &[
                    job_id.into(),
                    seq.into(),
                    state.as_str().into(),
                    detail.into(),
                    run_id.into(),
                    u32::from(state == ActionState::Running).into(),
                    now.into(),
                    self.instance.id.as_str().into(),
                ],
            )
            .await
            .doing(doing)?;
        if changed == 1 {
            return Ok(());
        }
        self.owned_job(job_id).await.doing(doing)?;
        let current = self
            .db
            .query_opt(
                "SELECT state FROM job_actions WHERE job_id = $1 AND seq = $2",
                &[job_id.into(), seq.into()],
            )
            .await
            .doing(doing)?;
        let problem = match current
            .map(|r| r.parsed("state"))
            .transpose()
            .doing(doing)?
        {
            None => LedgerProblem::NoSuchAction(seq),
            Some(state) => LedgerProblem::ActionFinal { seq, state },
        };
        Err(LedgerError::new(doing(), problem))
    }

    /// Records what detection said about the job's dates after it ran.
    pub async fn set_job_result(
        &self,
        job_id: &str,
        result: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        let doing = || format!("recording the result of job {job_id}");
        let changed = self
            .db
            .execute(
                "UPDATE jobs SET result = $2 WHERE id = $1",
                &[job_id.into(), result.into()],
            )
            .await
            .doing(doing)?;
        if changed == 0 {
            return Err(LedgerError::new(doing(), LedgerProblem::NoSuchJob));
        }
        Ok(())
    }

    /// Ends a job as `done` (every action `done` or `skipped`) or `failed`; only its owner can.
    pub async fn finish_job(
        &self,
        job_id: &str,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("finishing job {job_id} as {state}");
        let invalid = |msg: String| LedgerError::new(doing(), LedgerProblem::Invalid(msg));
        if !JOB_STATES[1..].contains(&state) {
            return Err(invalid("a job finishes as done or failed".into()));
        }
        let changed = self
            .db
            .execute(
                "UPDATE jobs SET state = $2, finished_at = $3, lease_until = NULL
                 WHERE id = $1 AND state = 'running' AND owner = $4
                   AND ($2 <> 'done' OR NOT EXISTS (
                       SELECT 1 FROM job_actions
                       WHERE job_id = $1 AND state NOT IN ('done', 'skipped')))",
                &[
                    job_id.into(),
                    state.into(),
                    now.into(),
                    self.instance.id.as_str().into(),
                ],
            )
            .await
            .doing(doing)?;
        if changed == 1 {
            return Ok(());
        }
        self.owned_job(job_id).await.doing(doing)?;
        let open = self
            .db
            .query_opt(
                "SELECT count(*) AS open FROM job_actions
                 WHERE job_id = $1 AND state NOT IN ('done', 'skipped')",
                &[job_id.into()],
            )
            .await
            .doing(doing)?;
        let open: u64 = match open {
            Some(r) => r.unsigned("open").doing(doing)?,
            None => 0,
        };
        Err(invalid(format!(
            "{open} action(s) are neither done nor skipped"
        )))
    }

    /// Ok when the job exists, has not finished and this instance owns it; else why not.
    pub(crate) async fn owned_job(&self, job_id: &str) -> Result<(), LedgerProblem> {
        let row = self
            .db
            .query_opt(
                "SELECT state, owner, lease_until FROM jobs WHERE id = $1",
                &[job_id.into()],
            )
            .await?
            .ok_or(LedgerProblem::NoSuchJob)?;
        let state = row.text("state")?;
        let owner = row.text_opt("owner")?;
        if state != "running" {
            return Err(LedgerProblem::JobFinished(state));
        }
        if owner.as_deref() != Some(self.instance.id.as_str()) {
            return Err(LedgerProblem::NotOwner {
                owner: owner.unwrap_or_else(|| "none".into()),
                lease_until: row.text_opt("lease_until")?.unwrap_or_else(|| "–".into()),
                me: self.instance.id.clone(),
            });
        }
        Ok(())
    }
}

fn job_from_row(r: &Row) -> Result<JobRecord, DbError> {
    Ok(JobRecord {
        id: r.text("id")?,
        idempotency_key: r.text("idempotency_key")?,
        key_given: r.flag("key_given")?,
        created_at: r.time("created_at")?,
        finished_at: r.time_opt("finished_at")?,
        state: r.text("state")?,
        request: r.json("request")?,
        result: r.json_opt("result").ok().flatten(),
        actions: Vec::new(),
    })
}

fn action_from_row(r: &Row) -> Result<ActionRecord, DbError> {
    Ok(ActionRecord {
        seq: r.unsigned("seq")?,
        kind: r.parsed("kind")?,
        game_date: r.parsed("game_date")?,
        market: r.parsed("market")?,
        object_name: r.text_opt("object_name")?,
        reason: r.text("reason")?,
        state: r.parsed("state")?,
        attempts: r.unsigned("attempts")?,
        detail: r.text_opt("detail")?,
        run_id: r.text_opt("run_id")?,
        updated_at: r.time("updated_at")?,
    })
}
