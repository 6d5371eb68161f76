//! The scheduler's request (contract section 7) as `POST /scrape` and `backstop scrape` take
//! it, and the answer both give.

use serde_json::{json, Value};

use super::{invalid, QueryError};
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
) -> Result<ScrapeRequest, QueryError> {
    let Some(obj) = body.as_object() else {
        return Err(QueryError::Invalid("the body must be a JSON object".into()));
    };
    let scraper = match obj.get("scraper") {
        None | Some(Value::Null) => {
            return Err(QueryError::UnknownScraper("missing \"scraper\"".into()))
        }
        Some(Value::String(s)) => s
            .parse::<Scraper>()
            .map_err(|e| QueryError::UnknownScraper(e.to_string()))?,
        Some(other) => {
            return Err(QueryError::UnknownScraper(format!(
                "\"scraper\" must be a string, got {other}"
            )))
        }
    };
    let date = match obj.get("date") {
        None | Some(Value::Null) => "TODAY",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(QueryError::Invalid(format!(
                "\"date\" must be a string, got {other}"
            )))
        }
    };
    let date = GameDate::resolve(date, now).map_err(invalid)?;
    let markets = match obj.get("market_type") {
        None | Some(Value::Null) => MarketSelection::One(MarketType::Points),
        Some(Value::String(s)) => s.parse::<MarketSelection>().map_err(invalid)?,
        Some(other) => {
            return Err(QueryError::Invalid(format!(
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

/// `backstop scrape SCRAPER --date D --market M`: the same request from the command line.
pub fn parse_scrape(scraper: &str, date: &str, market: &str) -> Result<ScrapeRequest, QueryError> {
    Ok(ScrapeRequest {
        scraper: scraper
            .parse::<Scraper>()
            .map_err(|e| QueryError::UnknownScraper(e.to_string()))?,
        date: GameDate::resolve(date, chrono::Utc::now()).map_err(invalid)?,
        markets: market.parse::<MarketSelection>().map_err(invalid)?,
        trigger: Trigger::Cli,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_and_the_scheduler_read_the_same_request() {
        let now = chrono::Utc::now();
        let body =
            json!({"scraper": "bp_player_props", "date": "2026-01-14", "market_type": "all"});
        let http = parse_request(&body, now, Trigger::Scheduler).unwrap();
        let cli = parse_scrape("bp_player_props", "2026-01-14", "all").unwrap();
        assert_eq!(
            (http.scraper, http.date, http.markets),
            (cli.scraper, cli.date, cli.markets)
        );
        assert!(matches!(
            parse_scrape("bp_odds", "TODAY", "points"),
            Err(QueryError::UnknownScraper(m)) if m.contains("bp_odds")
        ));
        assert!(matches!(
            parse_request(&json!({"scraper": "bp_events", "date": 7}), now, Trigger::Scheduler),
            Err(QueryError::Invalid(m)) if m.contains("\"date\"")
        ));
    }
}
