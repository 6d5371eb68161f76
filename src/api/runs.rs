//! `GET /runs`, `GET /health` and `GET /metrics`: what the ledger and the process know.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::app::App;
use crate::ledger::RunFilter;

pub async fn runs(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let filter = run_filter(&q)?;
    let runs = app
        .ledger
        .runs(&filter)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({ "count": runs.len(), "runs": runs })))
}

/// Reads `scraper`, `date`, `market`, `status`, `limit`; an unknown key or value is a 400.
pub fn run_filter(q: &HashMap<String, String>) -> Result<RunFilter, ApiError> {
    let bad = |e: String| ApiError::BadRequest(e);
    let mut f = RunFilter::default();
    for (k, v) in q {
        match k.as_str() {
            "scraper" => {
                f.scraper = Some(
                    v.parse()
                        .map_err(|e: crate::run::UnknownScraper| bad(e.to_string()))?,
                )
            }
            "date" => {
                f.game_date = Some(
                    v.parse()
                        .map_err(|e: crate::calendar::InvalidDate| bad(e.to_string()))?,
                )
            }
            "market" => {
                f.market = Some(
                    v.parse()
                        .map_err(|e: crate::market::UnknownMarket| bad(e.to_string()))?,
                )
            }
            "status" => f.status = Some(v.parse().map_err(bad)?),
            "limit" => {
                f.limit = v
                    .parse()
                    .ok()
                    .filter(|l| (1..=1000).contains(l))
                    .ok_or_else(|| {
                        bad(format!("limit {v:?} must be a whole number from 1 to 1000"))
                    })?
            }
            other => {
                return Err(bad(format!(
                    "unknown query parameter {other:?}: use scraper, date, market, status, limit"
                )))
            }
        }
    }
    Ok(f)
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
