//! Detection jobs: a gap detection over a range too long for one request, carried on slice by
//! slice (`gaps::job`). Each holds its query, the games per date its slices got (so no date is
//! asked twice), the rows judged so far, and the whole report once every pair is judged. One
//! unfinished detection per range (`query_key`, a partial unique index), so two requests for
//! the same range, on any instances, share one. A slice adopts it like a job
//! ([`Ledger::take_lease`]: nobody live may own it) and gives its lease up when it saves.
//!
//! # After a crash
//!
//! | left behind | what it means | what the next slice does |
//! |---|---|---|
//! | `running`, lease held | a slice is under way | nothing: the request answers with the rows saved so far |
//! | `running`, lease expired | its slice died | adopts it and goes on from the games saved (a date asked since is asked again: facts are remembered, so it costs at most one request) |
//! | `done` | the report is whole | answers it; finished detections are forgotten after a day |

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::db::{DbError, Row, Value as DbValue};
use super::{Doing, Ledger, LedgerError};
use crate::run::new_run_id;

/// A detection job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionRecord {
    pub id: String,
    /// `{"from", "to", "markets"}`.
    pub query: Value,
    pub created_at: DateTime<Utc>,
    /// Set once every pair is judged: `report` is then the whole report.
    pub finished_at: Option<DateTime<Utc>>,
    /// The games per date its slices got.
    pub answers: Value,
    /// While unfinished, `{"rows": […]}`: the rows judged so far; then the whole report.
    pub report: Option<Value>,
}

impl Ledger {
    /// The unfinished detection of `query_key`, made now (owned by this instance, its lease
    /// given up so any instance may carry it on) or found (made meanwhile elsewhere); and
    /// whether it was made now.
    pub async fn open_detection(
        &self,
        query_key: &str,
        query: &Value,
        answers: &Value,
        report: &Value,
        now: DateTime<Utc>,
    ) -> Result<(DetectionRecord, bool), LedgerError> {
        let doing = || format!("opening the detection of {query_key}");
        let id = new_run_id();
        let made = self
            .db
            .execute(
                "INSERT INTO detections (id, query_key, query, created_at, state, owner,
                     lease_until, answers, report)
                 VALUES ($1, $2, $3, $4, 'running', $5, $4, $6, $7)
                 ON CONFLICT (query_key) WHERE state = 'running' DO NOTHING",
                &[
                    id.as_str().into(),
                    query_key.into(),
                    query.into(),
                    now.into(),
                    self.instance.id.as_str().into(),
                    answers.into(),
                    report.into(),
                ],
            )
            .await
            .doing(doing)?;
        let open = self.unfinished_detection(query_key).await?;
        let open = open.ok_or_else(|| {
            let why = "neither made nor found: it finished at this moment".to_string();
            LedgerError::new(doing(), super::LedgerProblem::Invalid(why))
        })?;
        let made_now = made == 1 && open.id == id;
        Ok((open, made_now))
    }

    /// The unfinished detection of `query_key`, if any.
    pub async fn unfinished_detection(
        &self,
        query_key: &str,
    ) -> Result<Option<DetectionRecord>, LedgerError> {
        let sql = "SELECT * FROM detections WHERE query_key = $1 AND state = 'running'";
        let row = self.db.query_opt(sql, &[query_key.into()]).await;
        row.and_then(|r| r.as_ref().map(detection_from_row).transpose())
            .doing(|| format!("reading the unfinished detection of {query_key}"))
    }

    /// One detection job.
    pub async fn detection(&self, id: &str) -> Result<Option<DetectionRecord>, LedgerError> {
        let row = self
            .db
            .query_opt("SELECT * FROM detections WHERE id = $1", &[id.into()])
            .await;
        row.and_then(|r| r.as_ref().map(detection_from_row).transpose())
            .doing(|| format!("reading detection {id}"))
    }

    /// Makes this instance the owner of an unfinished detection nobody live holds.
    pub async fn adopt_detection(&self, id: &str, now: DateTime<Utc>) -> Result<bool, LedgerError> {
        self.take_lease("detections", id, "state = 'running'", now)
            .await
            .doing(|| format!("adopting detection {id}"))
    }

    /// Saves a slice's progress and gives the lease up; `false` when another instance took
    /// the detection meanwhile (its slice saves instead).
    pub async fn save_detection(
        &self,
        id: &str,
        answers: &Value,
        report: &Value,
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let set = "answers = $3, report = $4, lease_until = $5";
        self.own_detection(id, set, [answers.into(), report.into(), now.into()])
            .await
            .doing(|| format!("saving detection {id}"))
    }

    /// Records the whole report: the detection is done. `false` as for
    /// [`Ledger::save_detection`].
    pub async fn finish_detection(
        &self,
        id: &str,
        report: &Value,
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let set = "state = 'done', report = $3, finished_at = $4, lease_until = NULL";
        self.own_detection(id, set, [report.into(), now.into()])
            .await
            .doing(|| format!("finishing detection {id}"))
    }

    /// `UPDATE detections SET {set}` (its parameters from `$3`) on `id` while it is unfinished
    /// and this instance's; whether it was.
    async fn own_detection<const N: usize>(
        &self,
        id: &str,
        set: &str,
        values: [DbValue; N],
    ) -> Result<bool, DbError> {
        let sql = format!(
            "UPDATE detections SET {set} WHERE id = $1 AND state = 'running' AND owner = $2"
        );
        let mut params = vec![id.into(), self.instance.id.as_str().into()];
        params.extend(values);
        Ok(self.db.execute(&sql, &params).await? == 1)
    }

    /// Unfinished detections nobody live holds, oldest first: for the sweep.
    pub async fn detections_to_advance(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, LedgerError> {
        let sql = "SELECT id FROM detections WHERE state = 'running'
                     AND (lease_until IS NULL OR lease_until < $1)
                   ORDER BY created_at, id";
        self.ids(sql, now, "listing the detections a sweep may advance")
            .await
    }

    /// Forgets detections that finished before `before`; returns how many.
    pub async fn forget_detections(&self, before: DateTime<Utc>) -> Result<u64, LedgerError> {
        self.db
            .execute(
                "DELETE FROM detections WHERE state = 'done' AND finished_at < $1",
                &[before.into()],
            )
            .await
            .doing(|| "forgetting finished detections".into())
    }
}

fn detection_from_row(r: &Row) -> Result<DetectionRecord, DbError> {
    Ok(DetectionRecord {
        id: r.text("id")?,
        query: r.json("query")?,
        created_at: r.time("created_at")?,
        finished_at: r.time_opt("finished_at")?,
        answers: r.json("answers")?,
        report: r.json_opt("report")?,
    })
}
