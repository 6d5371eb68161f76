//! `POST /sweep`: Cloud Scheduler's call every few minutes (`scrapers/maintenance/sweep.json`)
//! that carries on what waits without a request. Behind IAM like `/scrape`: it takes no input,
//! and does only what the service would do on its own (see [`crate::sweep`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use crate::app::App;

/// 200 with what the sweep did; 500 (the scheduler retries) when part of it failed.
pub async fn sweep(State(app): State<App>) -> (StatusCode, Json<Value>) {
    let swept = app.sweep().await;
    let status = if swept.problems.is_empty() {
        StatusCode::OK
    } else {
        tracing::error!(problems = %swept.problems.join("; "), "the sweep met problems");
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (
        status,
        Json(serde_json::to_value(&swept).unwrap_or_default()),
    )
}
