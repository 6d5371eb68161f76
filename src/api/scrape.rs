//! `POST /scrape`: the scheduler contract (section 7), byte-for-byte compatible answers.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::{rejection, ApiError};
use crate::app::App;
use crate::calendar::GameDate;
use crate::market::{MarketSelection, MarketType};
use crate::report::RunReport;
use crate::run::{RunStatus, Scraper, Trigger};
use crate::scrape::ScrapeRequest;

/// Reads the scheduler's body: `scraper`, `date`, `market_type`; other keys are ignored.
pub fn parse_request(
    body: &Value,
    now: chrono::DateTime<chrono::Utc>,
    trigger: Trigger,
) -> Result<ScrapeRequest, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    };
    let scraper = match obj.get("scraper") {
        None | Some(Value::Null) => {
            return Err(ApiError::UnknownScraper("missing \"scraper\"".into()))
        }
        Some(Value::String(s)) => s
            .parse::<Scraper>()
            .map_err(|e| ApiError::UnknownScraper(e.to_string()))?,
        Some(other) => {
            return Err(ApiError::UnknownScraper(format!(
                "\"scraper\" must be a string, got {other}"
            )))
        }
    };
    let date = match obj.get("date") {
        None | Some(Value::Null) => "TODAY",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "\"date\" must be a string, got {other}"
            )))
        }
    };
    let date = GameDate::resolve(date, now).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let markets = match obj.get("market_type") {
        None | Some(Value::Null) => MarketSelection::One(MarketType::Points),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|e: crate::market::UnknownMarket| ApiError::BadRequest(e.to_string()))?,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "\"market_type\" must be a string, got {other}"
            )))
        }
    };
    Ok(ScrapeRequest {
        scraper,
        date,
        markets,
        trigger,
    })
}

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

/// The answer for one request's reports (one, or one per market for `all`).
pub fn answer(req: ScrapeRequest, reports: &[RunReport]) -> Value {
    let Some(first) = reports.first() else {
        return json!({"status": "error", "scraper": req.scraper.name(),
                      "message": "the run stopped unexpectedly; see the logs and GET /runs"});
    };
    let worst = reports
        .iter()
        .map(|r| r.status)
        .max_by_key(|s| severity(*s))
        .unwrap_or(RunStatus::Failed);
    let ok = matches!(worst, RunStatus::Success | RunStatus::NoData);
    let message = reports
        .iter()
        .map(|r| r.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let (run_id, summary) = if reports.len() == 1 {
        (first.run_id.clone(), first.data_summary())
    } else {
        let rows: u64 = reports.iter().map(|r| r.row_count()).sum();
        let per_market: Vec<Value> = reports
            .iter()
            .map(|r| {
                json!({
                    "market_type": r.market.map(|m| m.as_str()), "run_id": r.run_id,
                    "status": r.status.as_str(), "data_summary": r.data_summary(),
                })
            })
            .collect();
        let ids: Vec<&str> = reports.iter().map(|r| r.run_id.as_str()).collect();
        (
            ids.join(","),
            json!({
                "rowCount": rows, "props_count": rows, "market_type": "all", "date": first.date.to_string(),
                "timestamp": first.timestamp, "event_ids_count": first.event_ids.len(), "markets": per_market,
            }),
        )
    };
    json!({
        "status": if ok { "success" } else { "error" },
        "run_status": worst.as_str(),
        "message": message,
        "scraper": req.scraper.name(),
        "run_id": run_id,
        "data_summary": summary,
    })
}

fn severity(s: RunStatus) -> u8 {
    match s {
        RunStatus::Success => 0,
        RunStatus::NoData => 1,
        RunStatus::Partial => 2,
        RunStatus::Running => 3,
        RunStatus::Abandoned => 4,
        RunStatus::Failed => 5,
    }
}
