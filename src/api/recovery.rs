//! `GET /gaps`, `GET /gaps/{id}`, `POST /reprocess`, `GET /reprocess`, `GET /reprocess/{id}`:
//! lost dates and their recovery. Thin: the answers are [`crate::query`]'s, as the command line gets them.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use super::error::{rejection, ApiError};
use crate::app::App;
use crate::query::{self, Params};

/// 200 with the whole report, or 202 with the rows judged so far and a detection to poll.
pub async fn gaps(
    State(app): State<App>,
    Query(q): Query<Params>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok(gaps_answer(query::gaps::gaps(&app, &q).await?))
}

/// A detection job: as `GET /gaps`, after a slice of it.
pub async fn detection(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok(gaps_answer(query::gaps::detection(&app, &id).await?))
}

fn gaps_answer(a: query::gaps::GapsAnswer) -> (StatusCode, Json<Value>) {
    let status = if a.whole {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    (status, Json(a.answer))
}

/// 202 for a job started now; 200 for a plan, or the job this request (or its
/// `Idempotency-Key`) already names.
pub async fn submit(
    State(app): State<App>,
    Query(q): Query<Params>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body.map_err(|e| rejection("invalid request body", e.body_text()))?;
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let submitted = query::recovery::reprocess(&app, body, key, &q).await?;
    let status = if submitted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(submitted.answer)))
}

pub async fn status(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(query::recovery::job(&app, &id).await?))
}

pub async fn jobs(
    State(app): State<App>,
    Query(q): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(query::recovery::jobs(&app, &q).await?))
}
