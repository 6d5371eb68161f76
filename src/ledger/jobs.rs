//! Recovery jobs in the ledger: the durable state that lets a reprocess resume after a crash.
//!
//! A job is a list of actions, each either re-scraping a (date, market) or sending one stored
//! file to Phase 2's loader. Its state survives a crash, so [`Ledger::unfinished_jobs`] can
//! resume it. Asking twice returns the first job ([`JobKey`]): for a key the caller gave, for
//! ever; for a request's own key (a hash of its content), while that job is unfinished or
//! finished within the repeat window — after that the same request makes a new job, planned
//! from the evidence then. The database enforces both (partial unique indexes).
//! A `send_file` action goes through the never-twice guard in [`sends`]: claim, send, then
//! confirm or release.
//!
//! # After a crash
//!
//! | left behind | what it means | what resuming does |
//! |---|---|---|
//! | action `pending` | never started | run it |
//! | `scrape` action `running` | died mid-scrape; its run is `abandoned` at start-up | scrape again: a scrape writes a new snapshot, never overwrites |
//! | `send_file` action `running`, no claim | died before claiming: nothing was sent | send it |
//! | `send_file` action `running`, claim `sent` | died after the 2xx, before marking the action | mark it `done` |
//! | `send_file` action `running`, claim `claimed` | died between claim and answer: Phase 2 may or may not have loaded the file | **never re-send**: mark the action `failed` with detail `unconfirmed` and report it |
//!
//! A claim left `claimed` is *unconfirmed* ([`Ledger::unconfirmed_file_sends`]). Nothing in
//! backstop resends it blindly: recovery settles it from evidence (rows with that
//! `source_file_path` in Phase 2's table → confirmed; none once the pending-load window has
//! passed → released), recording each check with the claim ([`Ledger::settle_claim`]); what
//! evidence cannot settle (BigQuery unreachable) waits for a person (`backstop claims`).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde::Serialize;

use super::columns::{Json, RowExt, Time};
use super::{all_rows, Doing, Ledger, LedgerError, LedgerProblem};
use crate::calendar::GameDate;
use crate::market::MarketType;
use crate::run::new_run_id;

mod keys;
mod names;
pub mod sends;

use keys::job_for_key;
pub use keys::JobKey;
pub use names::{ActionKind, ActionState, ClaimOutcome, EvidenceSource, FileSendState};
pub use sends::{ClaimEvidence, FileSendRecord, JobClaim};

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
    /// Creates the job unless `key` names one already (see [`JobKey`]); returns the job and
    /// whether it was created now. Atomic: two callers with one key get one job. An existing
    /// job is returned as it was stored; `request` and `actions` of the second call are ignored.
    pub fn create_job(
        &self,
        key: JobKey<'_>,
        request: &serde_json::Value,
        actions: &[NewAction],
        now: DateTime<Utc>,
    ) -> Result<(JobRecord, bool), LedgerError> {
        let doing = || format!("creating the job for key {:?}", key.key());
        validate_actions(key.key(), actions).doing(doing)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .doing(doing)?;
        if let Some(job) = job_for_key(&tx, key, now).doing(doing)? {
            return Ok((job, false));
        }
        let id = new_run_id();
        tx.execute(
            "INSERT INTO jobs (id, idempotency_key, key_given, created_at, state, request)
             VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
            params![id, key.key(), key.is_given(), Time(now), Json(request)],
        )
        .doing(doing)?;
        for (seq, a) in (1u32..).zip(actions) {
            tx.execute(
                "INSERT INTO job_actions (job_id, seq, kind, game_date, market, object_name,
                     reason, state, attempts, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8)",
                params![
                    id,
                    seq,
                    a.kind.as_str(),
                    a.game_date.to_string(),
                    a.market.as_str(),
                    a.object_name,
                    a.reason,
                    Time(now),
                ],
            )
            .doing(doing)?;
        }
        let job = load_job(&tx, &id).doing(doing)?;
        tx.commit().doing(doing)?;
        job.map(|job| (job, true))
            .ok_or_else(|| LedgerError::new(doing(), LedgerProblem::NoSuchJob))
    }

    /// The job `key` names now, if any (see [`JobKey`]).
    pub fn job_for_key(
        &self,
        key: JobKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<JobRecord>, LedgerError> {
        job_for_key(&self.conn(), key, now)
            .doing(|| format!("looking up the job for key {:?}", key.key()))
    }

    /// One job with its actions.
    pub fn job(&self, id: &str) -> Result<Option<JobRecord>, LedgerError> {
        load_job(&self.conn(), id).doing(|| format!("reading job {id}"))
    }

    /// The `limit` most recent jobs, newest first, with their actions.
    pub fn recent_jobs(&self, limit: u32) -> Result<Vec<JobRecord>, LedgerError> {
        let sql = "SELECT id FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?1";
        load_jobs(&self.conn(), sql, [limit])
            .doing(|| format!("listing the {limit} most recent jobs"))
    }

    /// Jobs still `running` (to resume after a crash), oldest first.
    pub fn unfinished_jobs(&self) -> Result<Vec<JobRecord>, LedgerError> {
        let sql = "SELECT id FROM jobs WHERE state = 'running' ORDER BY created_at, rowid";
        load_jobs(&self.conn(), sql, []).doing(|| "listing unfinished jobs".to_string())
    }

    /// Moves an action to `state`, recording `detail` (replacing the last one) and `run_id`
    /// (kept when `None`). Moving to `Running` counts an attempt. `Done` and `Skipped` are
    /// final, and a finished job's actions do not change.
    pub fn set_action_state(
        &self,
        job_id: &str,
        seq: u32,
        state: ActionState,
        detail: Option<&str>,
        run_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("setting action {seq} of job {job_id} to {state}");
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .doing(doing)?;
        still_running(&tx, job_id).doing(doing)?;
        let current: ActionState = tx
            .query_row(
                "SELECT state FROM job_actions WHERE job_id = ?1 AND seq = ?2",
                params![job_id, seq],
                |r| r.parsed("state"),
            )
            .optional()
            .doing(doing)?
            .ok_or_else(|| LedgerError::new(doing(), LedgerProblem::NoSuchAction(seq)))?;
        if current.is_final() {
            let problem = LedgerProblem::ActionFinal {
                seq,
                state: current,
            };
            return Err(LedgerError::new(doing(), problem));
        }
        tx.execute(
            "UPDATE job_actions SET state = ?3, detail = ?4, run_id = COALESCE(?5, run_id),
                 attempts = attempts + ?6, updated_at = ?7
             WHERE job_id = ?1 AND seq = ?2",
            params![
                job_id,
                seq,
                state.as_str(),
                detail,
                run_id,
                u32::from(state == ActionState::Running),
                Time(now),
            ],
        )
        .doing(doing)?;
        tx.commit().doing(doing)
    }

    /// Records what detection said about the job's dates after it ran.
    pub fn set_job_result(
        &self,
        job_id: &str,
        result: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        let doing = || format!("recording the result of job {job_id}");
        let changed = self
            .conn()
            .execute(
                "UPDATE jobs SET result = ?2 WHERE id = ?1",
                params![job_id, Json(result)],
            )
            .doing(doing)?;
        if changed == 0 {
            return Err(LedgerError::new(doing(), LedgerProblem::NoSuchJob));
        }
        Ok(())
    }

    /// Ends a job as `done` (every action `done` or `skipped`) or `failed`.
    pub fn finish_job(
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
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .doing(doing)?;
        still_running(&tx, job_id).doing(doing)?;
        if state == "done" {
            let open: u32 = tx
                .query_row(
                    "SELECT count(*) FROM job_actions
                     WHERE job_id = ?1 AND state NOT IN ('done', 'skipped')",
                    [job_id],
                    |r| r.get(0),
                )
                .doing(doing)?;
            if open > 0 {
                return Err(invalid(format!(
                    "{open} action(s) are neither done nor skipped"
                )));
            }
        }
        tx.execute(
            "UPDATE jobs SET state = ?2, finished_at = ?3 WHERE id = ?1",
            params![job_id, state, Time(now)],
        )
        .doing(doing)?;
        tx.commit().doing(doing)
    }
}

fn validate_actions(key: &str, actions: &[NewAction]) -> Result<(), LedgerProblem> {
    if key.trim().is_empty() {
        return Err(LedgerProblem::Invalid(
            "the idempotency key is empty".into(),
        ));
    }
    for (seq, a) in (1u32..).zip(actions) {
        let ok = match a.kind {
            ActionKind::SendFile => a.object_name.as_deref().is_some_and(|o| !o.is_empty()),
            ActionKind::Scrape => a.object_name.is_none(),
        };
        if !ok {
            return Err(LedgerProblem::Invalid(format!(
                "action {seq}: a send_file action names its object and a scrape action does not"
            )));
        }
    }
    Ok(())
}

/// Ok when the job exists and has not finished.
fn still_running(conn: &Connection, job_id: &str) -> Result<(), LedgerProblem> {
    let state: String = conn
        .query_row("SELECT state FROM jobs WHERE id = ?1", [job_id], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or(LedgerProblem::NoSuchJob)?;
    match state.as_str() {
        "running" => Ok(()),
        _ => Err(LedgerProblem::JobFinished(state)),
    }
}

/// The jobs whose ids `sql` selects, in its order.
fn load_jobs(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<JobRecord>> {
    let ids: Vec<String> = all_rows(conn, sql, params, |r| r.get(0))?;
    let mut jobs = Vec::with_capacity(ids.len());
    for id in ids {
        jobs.extend(load_job(conn, &id)?);
    }
    Ok(jobs)
}

fn load_job(conn: &Connection, id: &str) -> rusqlite::Result<Option<JobRecord>> {
    let Some(mut job) = conn
        .query_row("SELECT * FROM jobs WHERE id = ?1", [id], |r| {
            Ok(JobRecord {
                id: r.get("id")?,
                idempotency_key: r.get("idempotency_key")?,
                key_given: r.get("key_given")?,
                created_at: r.time("created_at")?,
                finished_at: r.time_opt("finished_at")?,
                state: r.get("state")?,
                request: r.json("request")?,
                result: r
                    .get::<_, Option<String>>("result")?
                    .and_then(|s| serde_json::from_str(&s).ok()),
                actions: Vec::new(),
            })
        })
        .optional()?
    else {
        return Ok(None);
    };
    let sql = "SELECT * FROM job_actions WHERE job_id = ?1 ORDER BY seq";
    job.actions = all_rows(conn, sql, [id], action_from_row)?;
    Ok(Some(job))
}

fn action_from_row(r: &Row<'_>) -> rusqlite::Result<ActionRecord> {
    Ok(ActionRecord {
        seq: r.get("seq")?,
        kind: r.parsed("kind")?,
        game_date: r.parsed("game_date")?,
        market: r.parsed("market")?,
        object_name: r.get("object_name")?,
        reason: r.get("reason")?,
        state: r.parsed("state")?,
        attempts: r.get("attempts")?,
        detail: r.get("detail")?,
        run_id: r.get("run_id")?,
        updated_at: r.time("updated_at")?,
    })
}
