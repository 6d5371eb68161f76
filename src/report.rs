//! What a finished run reports: to the ledger, the completion message, the CLI and `/scrape`.
//! Below both `scrape`, which makes reports, and `notify`, which announces them.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::calendar::GameDate;
use crate::ledger::{RunCounts, RunOutcome};
use crate::market::MarketType;
use crate::run::{ErrorKind, RunStatus, Scraper, Trigger};

/// One run's result, with its exact counts.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: String,
    pub scraper: Scraper,
    pub date: GameDate,
    pub market: Option<MarketType>,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `YYYYMMDD_HHMMSS`, the run's start as used in object names.
    pub timestamp: String,
    pub status: RunStatus,
    /// A sentence for people: what happened and why.
    pub message: String,
    pub error_kind: Option<ErrorKind>,
    pub counts: RunCounts,
    pub event_ids: Vec<u64>,
    pub attempts: u32,
    pub retries: u32,
    pub bytes: u64,
    /// The object written, if any (complete or partial).
    pub object_name: Option<String>,
    pub generation: Option<i64>,
    /// `gs://bucket/name` (or the local path) of a complete file Phase 2 may load.
    pub complete_file_url: Option<String>,
    /// The route of every attempt (`direct`, a proxy's name), in order.
    pub routes: Vec<String>,
}

impl RunReport {
    pub fn duration_seconds(&self) -> f64 {
        (self.finished_at - self.started_at).num_milliseconds() as f64 / 1000.0
    }

    /// Rows this run wrote: props for the props scraper, events for the events scraper.
    pub fn row_count(&self) -> u64 {
        match self.scraper {
            Scraper::Events => self.counts.events.unwrap_or(0),
            Scraper::PlayerProps => self.counts.props_written,
        }
    }

    pub fn outcome(&self) -> RunOutcome {
        RunOutcome {
            status: self.status,
            finished_at: self.finished_at,
            error_kind: self.error_kind.map(|k| k.to_string()),
            error_message: (self.status != RunStatus::Success).then(|| self.message.clone()),
            counts: self.counts.clone(),
            attempts: self.attempts,
            retries: self.retries,
            bytes: self.bytes,
            object_name: self.object_name.clone(),
            generation: self.generation,
            routes: route_summary(&self.routes),
        }
    }

    /// The `data_summary` of the scheduler contract (section 7).
    pub fn data_summary(&self) -> Value {
        let c = &self.counts;
        let mut s = json!({
            "rowCount": self.row_count(),
            "date": self.date.to_string(),
            "timestamp": self.timestamp,
            "status": self.status.as_str(),
            "event_ids_count": self.event_ids.len(),
            "events_count": c.events,
            "attempts": self.attempts,
            "retries": self.retries,
        });
        if self.scraper == Scraper::PlayerProps {
            let m = self.market.expect("props runs have a market");
            let extra = json!({
                "props_count": c.props_written,
                "players_count": c.players,
                "pages_fetched": c.pages_fetched,
                "pages_total": c.pages_total,
                "total_offers": c.offers_received,
                "total_items": c.offers_declared,
                "failed_offers": c.failed_offers,
                "dropped_lines": c.dropped_lines,
                "market_type": m.as_str(),
                "market_id": m.id(),
            });
            merge(&mut s, extra);
        }
        if let Some(name) = &self.object_name {
            merge(&mut s, json!({ "object_name": name }));
        }
        if let Some(url) = &self.complete_file_url {
            merge(&mut s, json!({ "gcs_path": url }));
        }
        s
    }
}

/// `direct×12, res-1×2`: attempts per route, in first-use order.
fn route_summary(routes: &[String]) -> Option<String> {
    let mut counts: Vec<(&str, u32)> = Vec::new();
    for r in routes {
        match counts.iter_mut().find(|(name, _)| name == r) {
            Some((_, n)) => *n += 1,
            None => counts.push((r, 1)),
        }
    }
    (!counts.is_empty()).then(|| {
        counts
            .iter()
            .map(|(r, n)| format!("{r}×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}
