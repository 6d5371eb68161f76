//! The completion message of contract section 3, and the notifier that sends it after a run.

use serde_json::{json, Value};

use super::pubsub::Publisher;
use crate::report::RunReport;
use crate::run::{RunStatus, Scraper};

/// The unified Phase 1 → Phase 2 message for one run.
pub fn completion_message(report: &RunReport) -> Value {
    let output_table = match report.scraper {
        Scraper::Events => "bettingprosevents",
        Scraper::PlayerProps => "bettingprosplayerprops",
    };
    let mut metadata = json!({
        "scraper_class": report.scraper.class_name(),
        "workflow": "betting_lines",
        "scraper_type": "api",
        "opts": {
            "date": report.date.to_string(),
            "market_type": report.market.map(|m| m.as_str()),
        },
        "run_status_detail": report.message,
    });
    if let Some(url) = &report.complete_file_url {
        metadata["gcs_path"] = json!(url);
    }
    let mut message = json!({
        "processor_name": report.scraper.processor_name(),
        "phase": "phase_1_scrapers",
        "execution_id": report.run_id,
        "correlation_id": report.run_id,
        "game_date": report.date.to_string(),
        "output_table": output_table,
        "output_dataset": "nba_raw",
        "status": report.status.as_str(),
        "record_count": report.row_count(),
        "records_failed": report.counts.failed_offers,
        "timestamp": report.finished_at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
        "duration_seconds": report.duration_seconds(),
        "trigger_source": report.trigger.as_str(),
        "metadata": metadata,
    });
    if matches!(
        report.status,
        RunStatus::Failed | RunStatus::Partial | RunStatus::Abandoned
    ) {
        message["error_message"] = json!(report.message);
    }
    message
}

/// Sends completion messages, or nothing when notifications are off. Messages go through the
/// ledger's outbox ([`super::outbox`]).
pub struct Notifier {
    pub(super) publisher: Option<Publisher>,
}

impl Notifier {
    pub fn new(publisher: Option<Publisher>) -> Self {
        Self { publisher }
    }

    pub fn off() -> Self {
        Self { publisher: None }
    }

    /// Whether runs announce themselves.
    pub fn is_on(&self) -> bool {
        self.publisher.is_some()
    }
}
