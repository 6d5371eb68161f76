//! `POST /scrape`: the scheduler contract (section 7), byte-for-byte compatible answers.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use super::error::{rejection, ApiError};
use crate::app::App;
use crate::query::scrape::{answer, parse_request};
use crate::run::{RunStatus, Trigger};

pub async fn scrape(
    State(app): State<App>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| rejection("invalid request body", e.body_text()))?;
    let req = parse_request(&body, chrono::Utc::now(), Trigger::Scheduler)?;
    let reports = app.inflight.run(req).await;
    let answer = answer(req, &reports);
    let failed = reports.is_empty()
        || reports
            .iter()
            .any(|r| matches!(r.status, RunStatus::Failed | RunStatus::Partial));
    if failed {
        Err(ApiError::Answer(StatusCode::INTERNAL_SERVER_ERROR, answer))
    } else {
        Ok(Json(answer))
    }
}
