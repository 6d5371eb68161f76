//! `GET /gaps`, `POST /reprocess`, `GET /reprocess`, `GET /reprocess/{id}`: lost dates and
//! their recovery.

use std::collections::HashMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::error::{rejection, ApiError};
use crate::app::App;
use crate::gaps::GapQuery;
use crate::ledger::JobRecord;
use crate::reprocess::execute::progress;
use crate::reprocess::{ReprocessRequest, SubmitError, REPEAT_WINDOW};

pub async fn gaps(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(other) = q
        .keys()
        .find(|k| !["from", "to", "market"].contains(&k.as_str()))
    {
        return Err(ApiError::BadRequest(format!(
            "unknown query parameter {other:?}: use from, to, market"
        )));
    }
    let (Some(from), Some(to)) = (q.get("from"), q.get("to")) else {
        return Err(ApiError::BadRequest(
            "give from and to (YYYY-MM-DD, TODAY or YESTERDAY)".into(),
        ));
    };
    let query = GapQuery::parse(from, to, q.get("market").map(|s| s.as_str()))
        .map_err(ApiError::BadRequest)?;
    app.recovery.settle_claims().await;
    let report = app.detector.detect(&query).await;
    Ok(Json(
        serde_json::to_value(report).map_err(|e| ApiError::Internal(e.to_string()))?,
    ))
}

pub async fn submit(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body.map_err(|e| rejection("invalid request body", e.body_text()))?;
    let req: ReprocessRequest = serde_json::from_value(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid reprocess request: {e}")))?;
    req.scope().map_err(ApiError::BadRequest)?;
    if req.dry_run {
        let plan = app
            .recovery
            .plan(&req)
            .await
            .map_err(ApiError::BadRequest)?;
        return Ok((
            StatusCode::OK,
            Json(json!({ "dry_run": true, "plan": plan })),
        ));
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let submitted = app
        .recovery
        .submit(&req, key.as_deref(), REPEAT_WINDOW)
        .await
        .map_err(|e| match e {
            SubmitError::Invalid(msg) => ApiError::BadRequest(msg),
            e @ SubmitError::KeyReused { .. } => ApiError::Answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": e.to_string() }),
            ),
            SubmitError::Failed(msg) => ApiError::Internal(msg),
        })?;
    let job_id = submitted.job.id.clone();
    // The job's first slice runs in this request (a repeat's next one, if nobody holds it).
    let job = advanced(&app, &job_id).await?.unwrap_or(submitted.job);
    let status = if submitted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "job_id": job_id,
            "created": submitted.created,
            "message": if submitted.created {
                "recovery job started: its first slice ran in this request; poll status_url to carry it on"
            } else if job.key_given {
                "this Idempotency-Key already names this job"
            } else {
                "this request's job is unfinished or finished moments ago; the same request after that plans anew"
            },
            "state": job.state,
            "progress": progress(&job),
            "plan": submitted.plan,
            "status_url": format!("/reprocess/{job_id}"),
        })),
    ))
}

/// Advances the job by a slice when it has more to do and nobody live holds it, then reads
/// it. A slice that fails is logged; the job is answered as the ledger has it.
async fn advanced(app: &App, id: &str) -> Result<Option<JobRecord>, ApiError> {
    if let Err(e) = app.advance_job(id).await {
        if e.is_not_found() {
            return Ok(None);
        }
        tracing::error!(job_id = id, error = %e, "a slice of the recovery job failed");
    }
    app.ledger
        .job(id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// The job with its actions and claims, after a slice of it when it has more to do and
/// nobody live holds it: polling this carries a job to its end.
pub async fn status(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(job) = advanced(&app, &id).await? else {
        return Err(ApiError::NotFound(format!("no recovery job {id}")));
    };
    let claims = app
        .ledger
        .job_claims(&id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(
        json!({ "progress": progress(&job), "job": job, "claims": claims }),
    ))
}

/// `GET /reprocess?limit=N`: the most recent jobs (default 20, at most 100), newest first,
/// each with its state, request, result and counts of actions per state (not the actions).
pub async fn jobs(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut limit = 20;
    for (k, v) in &q {
        match k.as_str() {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|l| (1..=100).contains(l))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "limit {v:?} must be a whole number from 1 to 100"
                        ))
                    })?
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter {other:?}: use limit"
                )))
            }
        }
    }
    let jobs = app
        .ledger
        .recent_jobs(limit)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let jobs: Vec<Value> = jobs
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
    Ok(Json(json!({ "count": jobs.len(), "jobs": jobs })))
}
