//! `GET /runs`, `GET /health` and `GET /metrics`: what the ledger and the process know.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::app::App;
use crate::query::Params;

pub async fn runs(
    State(app): State<App>,
    Query(q): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(crate::query::runs::runs(&app.ledger, &q).await?))
}

pub async fn health(State(app): State<App>) -> impl IntoResponse {
    let ledger = app.ledger.health().await.err().map(|e| e.to_string());
    let storage = app.store.health().await.err().map(|e| e.to_string());
    let healthy = ledger.is_none() && storage.is_none();
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "service": "backstop",
        "version": env!("CARGO_PKG_VERSION"),
        "commit": option_env!("BACKSTOP_COMMIT").unwrap_or("unknown"),
        "storage": app.store.location(),
        "checks": {
            "ledger": ledger.unwrap_or_else(|| "ok".into()),
            "storage": storage.unwrap_or_else(|| "ok".into()),
            // Not a health failure (gaps and recovery still work), but every scrape will fail.
            "bettingpros_api_key": if app.config.upstream.api_key.is_some() { "set" } else { "missing: every scrape fails until BETTINGPROS_API_KEY is mounted" },
        },
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

pub async fn proxies(State(app): State<App>) -> Json<Value> {
    let routes = app.scrapes.fetcher.routes_status();
    Json(json!({ "mode": format!("{:?}", app.config.proxies.mode), "routes": routes }))
}

pub async fn metrics(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}
