//! `GET /gaps`, `POST /reprocess`, `GET /reprocess/{id}`: lost dates and their recovery.

use std::collections::HashMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::error::{rejection, ApiError};
use crate::app::App;
use crate::gaps::GapQuery;
use crate::reprocess::execute::progress;
use crate::reprocess::ReprocessRequest;

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
        .submit(&req, key.as_deref())
        .await
        .map_err(ApiError::Internal)?;
    let job_id = submitted.job.id.clone();
    if submitted.created {
        let recovery = app.recovery.clone();
        let id = job_id.clone();
        tokio::spawn(async move { recovery.execute(&id).await });
    }
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
            "message": if submitted.created { "recovery job started" } else { "this request already made this job; send an Idempotency-Key header to start a new one" },
            "state": submitted.job.state,
            "plan": submitted.plan,
            "status_url": format!("/reprocess/{job_id}"),
        })),
    ))
}

pub async fn status(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = app
        .ledger
        .job(&id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let Some(job) = job else {
        return Err(ApiError::NotFound(format!("no recovery job {id}")));
    };
    Ok(Json(json!({ "progress": progress(&job), "job": job })))
}
