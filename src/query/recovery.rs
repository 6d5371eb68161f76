//! Recovery jobs: `POST /reprocess` (a plan, or a job started), `GET /reprocess/{id}` (one job)
//! and `GET /reprocess` (recent jobs); `backstop reprocess` asks the same. A job advances only
//! inside these requests (and the sweep): starting one runs its first slice, asking for one
//! runs its next slice when nobody live holds it (`reprocess::slice`).

use std::time::Duration;

use serde_json::{json, Value};

use super::{only, to_json, Params, QueryError};
use crate::app::App;
use crate::ledger::{JobRecord, JobState};
use crate::reprocess::execute::progress;
use crate::reprocess::{ReprocessRequest, REPEAT_WINDOW};

/// Jobs `GET /reprocess` lists by default, and at most.
const JOBS: (u32, u32) = (20, 100);

/// What `POST /reprocess` answered: a job started now (HTTP 202), or a plan or an existing
/// job (200).
pub struct Submission {
    pub created: bool,
    pub answer: Value,
}

/// A dry run's plan, or the job for `body` (started now, its first slice run here, or the one
/// `key` or the request's content names, given its next slice when it has more to do). `q` may hold `repeat_window_secs`: how long after
/// its job finished the same request without a key still gets that job (default 300; a client
/// that waits for its job, as the command line and the recovery script do, sends 0).
pub async fn reprocess(
    app: &App,
    body: Value,
    key: Option<&str>,
    q: &Params,
) -> Result<Submission, QueryError> {
    only(q, &["repeat_window_secs"])?;
    let window = match q.get("repeat_window_secs") {
        None => REPEAT_WINDOW,
        Some(v) => v
            .parse()
            .ok()
            .filter(|s| *s <= REPEAT_WINDOW.as_secs())
            .map(Duration::from_secs)
            .ok_or_else(|| {
                QueryError::Invalid(format!(
                    "repeat_window_secs {v:?} must be a whole number from 0 to {}",
                    REPEAT_WINDOW.as_secs()
                ))
            })?,
    };
    let req: ReprocessRequest = serde_json::from_value(body)
        .map_err(|e| QueryError::Invalid(format!("invalid reprocess request: {e}")))?;
    if req.dry_run {
        let plan = app.recovery.plan(&req).await?;
        return Ok(Submission {
            created: false,
            answer: json!({ "dry_run": true, "plan": to_json(plan)? }),
        });
    }
    let submitted = app.recovery.submit(&req, key, window).await?;
    let job_id = submitted.job.id.clone();
    let job = advanced(app, &job_id).await?.unwrap_or(submitted.job);
    let message = if submitted.created {
        "recovery job started: its first slice ran in this request; asking for status_url carries it on"
    } else if job.key_given {
        "this Idempotency-Key already names this job"
    } else if job.state == JobState::Running {
        "this request's job is still running: this is that job"
    } else {
        "this request's job finished moments ago: this is that job; the same request after that plans anew"
    };
    Ok(Submission {
        created: submitted.created,
        answer: json!({
            "job_id": job_id,
            "created": submitted.created,
            "message": message,
            "state": job.state,
            "progress": progress(&job),
            "plan": to_json(submitted.plan)?,
            "status_url": format!("/reprocess/{job_id}"),
        }),
    })
}

/// Gives the job a slice when it has more to do and nobody live holds it, then reads it. A
/// slice that fails is logged; the job is answered as the ledger has it.
async fn advanced(app: &App, id: &str) -> Result<Option<JobRecord>, QueryError> {
    if let Err(e) = app.advance_job(id).await {
        if e.is_not_found() {
            return Ok(None);
        }
        tracing::error!(job_id = id, error = %e, "a slice of the recovery job failed");
    }
    Ok(app.ledger.job(id).await?)
}

/// `{"progress", "job", "claims"}`: the job with its actions, counts per state, and each file
/// it was to send with its delivery record and evidence — after a slice of it when it has more
/// to do and nobody live holds it: asking for a job carries it to its end.
pub async fn job(app: &App, id: &str) -> Result<Value, QueryError> {
    let Some(job) = advanced(app, id).await? else {
        return Err(QueryError::NotFound(format!("no recovery job {id}")));
    };
    let claims = app.ledger.job_claims(id).await?;
    Ok(json!({ "progress": progress(&job), "job": to_json(&job)?, "claims": to_json(claims)? }))
}

/// `{"count", "jobs"}`: the most recent jobs (`limit`, default 20, at most 100), newest first,
/// each with its state, request, result and counts of actions per state (not the actions).
pub async fn jobs(app: &App, q: &Params) -> Result<Value, QueryError> {
    only(q, &["limit"])?;
    let limit = match q.get("limit") {
        None => JOBS.0,
        Some(v) => v
            .parse()
            .ok()
            .filter(|l| (1..=JOBS.1).contains(l))
            .ok_or_else(|| {
                QueryError::Invalid(format!(
                    "limit {v:?} must be a whole number from 1 to {}",
                    JOBS.1
                ))
            })?,
    };
    let jobs: Vec<Value> = app
        .ledger
        .recent_jobs(limit)
        .await?
        .iter()
        .map(|job| {
            json!({
                "id": job.id,
                "created_at": job.created_at,
                "finished_at": job.finished_at,
                "state": job.state,
                "request": job.request,
                "result": job.result,
                "actions_total": job.actions.len(),
                "progress": progress(job),
                "status_url": format!("/reprocess/{}", job.id),
            })
        })
        .collect();
    Ok(json!({ "count": jobs.len(), "jobs": jobs }))
}
