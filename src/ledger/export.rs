//! A run as a row of the pipeline's BigQuery table `nba_orchestration.scraper_execution_log`.
//!
//! The rest of the pipeline watches Phase 1 through that table, so each run is mapped onto it
//! the way the old scrapers filled it (including the table's own words for `source`, and JSON
//! columns sent as JSON text). The mapping:
//!
//! | column | value | when unknown |
//! |---|---|---|
//! | `execution_id` | the run id | – |
//! | `scraper_name` | the processor name: `betting_pros_player_props` or `betting_pros_events` | – |
//! | `workflow` | `betting_lines` | – |
//! | `game_date` | the date that was asked for, `YYYY-MM-DD`, even when the run failed | – |
//! | `status` | `success`, `partial`, `no_data` or `failed`; an `abandoned` run (the process died) is `failed` with `error_type` `abandoned`; a run still going is `running` | – |
//! | `triggered_at` | when the run started, RFC 3339 UTC | – |
//! | `completed_at` | when it finished (failures too) | NULL while running |
//! | `duration_seconds` | `completed_at - triggered_at`, seconds | NULL while running |
//! | `source` | the trigger in the table's words: `SCHEDULER`, `MANUAL` (command line), `RECOVERY` | – |
//! | `environment` | as configured (`prod`, `dev`, `local`) | – |
//! | `triggered_by` | `backstop` | – |
//! | `gcs_path` | `gs://{bucket}/{object}` of the file written | NULL when no file was written |
//! | `data_summary` | JSON text, below | – |
//! | `error_type` | the run's error kind (`abandoned`, `blocked`, …: [`crate::run::ErrorKind`], README's table) | NULL when none |
//! | `error_message` | the run's error message | NULL when none |
//! | `retry_count` | retries over all requests of the run | NULL when unknown (abandoned) |
//! | `recovery` | `true` when a recovery job started the run, else `false` | – |
//! | `run_id` | the run id (same as `execution_id`) | – |
//! | `opts` | JSON text of the options the run was asked with | – |
//!
//! `data_summary` holds `record_count` (props written, or events for the events scraper: the
//! key the pipeline's queries read), `is_empty_report` (status `no_data`), `market_type`, and
//! every count of the run under its ledger name: `events`, `offers_declared`,
//! `offers_received`, `props_written`, `players`, `failed_offers`, `dropped_lines`,
//! `pages_fetched`, `pages_total`, `attempts`, `retries`, `bytes`. A count that is 0 is `0`; a
//! count nobody knows (an abandoned run, a source that declared no total) is `null`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::RunRecord;
use crate::run::{RunStatus, Scraper, Trigger};

/// The row of `nba_orchestration.scraper_execution_log` describing `run`.
pub fn execution_log_row(run: &RunRecord, environment: &str, bucket: &str) -> Value {
    let status = match run.status {
        RunStatus::Abandoned => RunStatus::Failed,
        other => other,
    };
    let source = match run.trigger {
        Trigger::Scheduler => "SCHEDULER",
        Trigger::Cli => "MANUAL",
        Trigger::Recovery => "RECOVERY",
    };
    let record_count = match run.scraper {
        Scraper::Events => run.events,
        Scraper::PlayerProps => run.props_written,
    };
    let data_summary = json!({
        "record_count": record_count,
        "is_empty_report": run.status == RunStatus::NoData,
        "market_type": run.market.map(|m| m.as_str()),
        "events": run.events,
        "offers_declared": run.offers_declared,
        "offers_received": run.offers_received,
        "props_written": run.props_written,
        "players": run.players,
        "failed_offers": run.failed_offers,
        "dropped_lines": run.dropped_lines,
        "pages_fetched": run.pages_fetched,
        "pages_total": run.pages_total,
        "attempts": run.attempts,
        "retries": run.retries,
        "bytes": run.bytes,
    });
    json!({
        "execution_id": run.run_id,
        "scraper_name": run.scraper.processor_name(),
        "workflow": "betting_lines",
        "game_date": run.game_date.to_string(),
        "status": status.as_str(),
        "triggered_at": rfc3339(run.started_at),
        "completed_at": run.finished_at.map(rfc3339),
        "duration_seconds": run.duration_seconds,
        "source": source,
        "environment": environment,
        "triggered_by": "backstop",
        "gcs_path": run.object_name.as_ref().map(|o| format!("gs://{bucket}/{o}")),
        "data_summary": data_summary.to_string(),
        "error_type": run.error_kind,
        "error_message": run.error_message,
        "retry_count": run.retries,
        "recovery": run.trigger == Trigger::Recovery,
        "run_id": run.run_id,
        "opts": run.opts.to_string(),
    })
}

/// `2026-01-14T18:05:30Z`, as the HTTP API shows times.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::MarketType;
    use chrono::TimeZone;

    fn finished_props_run() -> RunRecord {
        let started = Utc.with_ymd_and_hms(2026, 1, 14, 18, 5, 30).unwrap();
        RunRecord {
            run_id: "a1b2c3d4e5f60718".into(),
            scraper: Scraper::PlayerProps,
            game_date: "2026-01-14".parse().unwrap(),
            market: Some(MarketType::Points),
            trigger: Trigger::Recovery,
            started_at: started,
            finished_at: Some(started + chrono::Duration::milliseconds(41_700)),
            duration_seconds: Some(41.7),
            status: RunStatus::Success,
            error_kind: None,
            error_message: None,
            events: Some(8),
            offers_declared: None,
            offers_received: Some(94),
            props_written: Some(94),
            players: Some(94),
            failed_offers: Some(0),
            dropped_lines: Some(0),
            pages_fetched: Some(10),
            pages_total: Some(10),
            attempts: Some(12),
            retries: Some(1),
            bytes: Some(512_000),
            object_name: Some(
                "bettingpros/player-props/points/2026-01-14/20260114_180530.json".into(),
            ),
            generation: Some(1_736_877_930_000_000),
            published: Some(true),
            publish_error: None,
            routes: None,
            opts: json!({"date": "2026-01-14", "market_type": "points"}),
        }
    }

    #[test]
    fn a_finished_run_maps_onto_every_column_of_the_execution_log() {
        let row = execution_log_row(&finished_props_run(), "prod", "nba-scraped-data");
        let summary: Value = serde_json::from_str(row["data_summary"].as_str().unwrap()).unwrap();
        let expected = json!({
            "execution_id": "a1b2c3d4e5f60718",
            "scraper_name": "betting_pros_player_props",
            "workflow": "betting_lines",
            "game_date": "2026-01-14",
            "status": "success",
            "triggered_at": "2026-01-14T18:05:30Z",
            "completed_at": "2026-01-14T18:06:11.700Z",
            "duration_seconds": 41.7,
            "source": "RECOVERY",
            "environment": "prod",
            "triggered_by": "backstop",
            "gcs_path": "gs://nba-scraped-data/bettingpros/player-props/points/2026-01-14/20260114_180530.json",
            "data_summary": row["data_summary"],
            "error_type": null,
            "error_message": null,
            "retry_count": 1,
            "recovery": true,
            "run_id": "a1b2c3d4e5f60718",
            "opts": "{\"date\":\"2026-01-14\",\"market_type\":\"points\"}",
        });
        assert_eq!(row, expected);
        assert_eq!(summary["record_count"], 94);
        assert_eq!(summary["is_empty_report"], false);
        assert_eq!(summary["market_type"], "points");
        assert_eq!(summary["failed_offers"], 0, "zero is 0, not null");
        assert_eq!(summary["offers_declared"], Value::Null, "unknown is null");
        assert_eq!(summary["bytes"], 512_000);
    }

    #[test]
    fn an_abandoned_run_is_a_failure_with_unknown_counts_and_no_file() {
        let mut run = finished_props_run();
        run.status = RunStatus::Abandoned;
        run.trigger = Trigger::Scheduler;
        run.error_kind = Some(crate::run::ErrorKind::Abandoned.to_string());
        run.error_message = Some("the process stopped".into());
        for c in [
            &mut run.events,
            &mut run.offers_received,
            &mut run.props_written,
            &mut run.failed_offers,
            &mut run.bytes,
        ] {
            *c = None;
        }
        run.retries = None;
        run.object_name = None;
        let row = execution_log_row(&run, "dev", "b");
        assert_eq!(row["status"], "failed");
        assert_eq!(row["error_type"], "abandoned");
        assert_eq!(row["source"], "SCHEDULER");
        assert_eq!(row["recovery"], false);
        assert_eq!(row["gcs_path"], Value::Null);
        assert_eq!(row["retry_count"], Value::Null);
        let summary: Value = serde_json::from_str(row["data_summary"].as_str().unwrap()).unwrap();
        assert_eq!(summary["record_count"], Value::Null);
        assert_eq!(summary["failed_offers"], Value::Null);
    }

    #[test]
    fn the_events_scraper_counts_events_and_has_no_market() {
        let mut run = finished_props_run();
        run.scraper = Scraper::Events;
        run.market = None;
        run.trigger = Trigger::Cli;
        run.status = RunStatus::NoData;
        run.events = Some(0);
        let row = execution_log_row(&run, "prod", "b");
        assert_eq!(row["scraper_name"], "betting_pros_events");
        assert_eq!(row["source"], "MANUAL");
        let summary: Value = serde_json::from_str(row["data_summary"].as_str().unwrap()).unwrap();
        assert_eq!(summary["record_count"], 0);
        assert_eq!(summary["is_empty_report"], true);
        assert_eq!(summary["market_type"], Value::Null);
    }
}
