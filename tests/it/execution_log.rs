//! The old dashboards keep working: every finished run is appended to the BigQuery emulator's
//! `nba_orchestration.scraper_execution_log`, through the ledger's outbox. BigQuery down: the
//! scrapes succeed all the same and their rows wait. BigQuery acting on a request whose answer
//! is lost: the rows are found there, not sent again. Back up: every run's row is there exactly
//! once.

use std::collections::BTreeMap;
use std::sync::Arc;

use backstop::calendar::GameDate;
use backstop::ledger::RunFilter;
use backstop::market::{MarketSelection, MarketType};
use backstop::notify::execution_log::{COLUMNS, DATASET, TABLE};
use backstop::run::{RunStatus, Scraper, Trigger};
use backstop::scrape::ScrapeRequest;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::SimConfig;
use serde_json::Value;

use crate::support::app::{finished_run, spawn_app_with, spawn_offline, TestApp, KEY};
use crate::support::bq::BqEmulator;
use crate::support::canned_http::CannedHttp;
use crate::support::emulators::PROJECT;
use crate::support::relay::{Mode, Relay};

fn d(day: u32) -> GameDate {
    format!("2026-01-{day:02}").parse().unwrap()
}

/// Scrapes steals for `date` — which stores the day's events file through a `bp_events` run of
/// its own — and returns both runs' ids (events, then props): both must succeed, whatever
/// BigQuery does.
async fn scrape(t: &TestApp, date: GameDate) -> Vec<String> {
    let req = ScrapeRequest {
        scraper: Scraper::PlayerProps,
        date,
        markets: MarketSelection::One(MarketType::Steals),
        trigger: Trigger::Scheduler,
    };
    let report = t.app.scrapes.run(&req).await.remove(0);
    assert_eq!(report.status, RunStatus::Success, "{}", report.message);
    let filter = RunFilter {
        scraper: Some(Scraper::Events),
        game_date: Some(date),
        ..RunFilter::default()
    };
    let events = t.app.ledger.runs(&filter).await.unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].status, RunStatus::Success);
    vec![events[0].run_id.clone(), report.run_id]
}

/// Rows in the table per execution id.
async fn rows(bq: &BqEmulator) -> BTreeMap<String, u64> {
    let answer = bq
        .query(&format!(
            "SELECT execution_id, COUNT(*) AS n FROM `{PROJECT}.{DATASET}.{TABLE}` GROUP BY execution_id"
        ))
        .await;
    let cell = |r: &Value, i: usize| r["f"][i]["v"].as_str().unwrap_or_default().to_string();
    answer["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (cell(r, 0), cell(r, 1).parse().unwrap()))
        .collect()
}

#[tokio::test]
async fn every_finished_run_reaches_the_execution_log_exactly_once_through_an_outage() {
    let bq = Arc::new(BqEmulator::start(PROJECT).await);
    bq.create_table(DATASET, TABLE, COLUMNS).await;
    let relay = Relay::start(bq.url().trim_start_matches("http://")).await;
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::new(Catalogue::synthetic(&[(d(3), 4), (d(4), 4), (d(5), 4)], 5))
    };
    let t = spawn_app_with(
        sim,
        &[
            ("BIGQUERY_EMULATOR_HOST", relay.url.as_str()),
            ("BACKSTOP_BQ_MAX_ATTEMPTS", "1"),
            ("BACKSTOP_BQ_TIMEOUT_SECS", "5"),
            ("BACKSTOP_EXECUTION_LOG", "on"),
            ("BACKSTOP_ENVIRONMENT", "dev"),
        ],
    )
    .await;
    let ledger = &t.app.ledger;

    // Up: each run's row goes out after it.
    let first = scrape(&t, d(3)).await;
    t.app.scrapes.export_runs().await;
    let table = rows(&bq).await;
    assert_eq!(table.keys().cloned().collect::<Vec<_>>(), sorted(&first));
    let answer = bq
        .query(&format!(
            "SELECT scraper_name, game_date, status, source, environment, gcs_path, recovery \
             FROM `{PROJECT}.{DATASET}.{TABLE}` WHERE execution_id = '{}'",
            first[1]
        ))
        .await;
    let cells: Vec<&str> = answer["rows"][0]["f"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["v"].as_str().unwrap_or("NULL"))
        .collect();
    assert_eq!(
        &cells[..5],
        [
            "betting_pros_player_props",
            "2026-01-03",
            "success",
            "SCHEDULER",
            "dev"
        ]
    );
    assert!(
        cells[5].starts_with("gs://nba-scraped-data/bettingpros/player-props/steals/2026-01-03/"),
        "{cells:?}"
    );
    assert_eq!(cells[6], "false");

    // Answers lost: BigQuery appends the rows, backstop never hears so.
    relay.set(Mode::AnswersLost);
    let second = scrape(&t, d(4)).await;
    let drained = t.app.scrapes.export_runs().await;
    assert_eq!((drained.sent, drained.failed), (0, 2), "{drained:?}");
    assert_eq!(rows(&bq).await.len(), 4, "they arrived");
    let unsure = ledger.export_record(&second[0]).await.unwrap().unwrap();
    assert_eq!(
        (unsure.sends, unsure.exported_at),
        (1, None),
        "may have arrived"
    );

    // Down: the scrapes succeed all the same; every row waits in the ledger.
    relay.set(Mode::Down);
    let third = scrape(&t, d(5)).await;
    let drained = t.app.scrapes.export_runs().await;
    assert_eq!((drained.sent, drained.found), (0, 0), "{drained:?}");
    assert_eq!(ledger.unexported_count().await.unwrap(), 4);
    assert_eq!(rows(&bq).await.len(), 4, "nothing more arrived");
    let waiting = ledger.export_record(&third[0]).await.unwrap().unwrap();
    assert!(waiting.last_error.unwrap().contains("BigQuery"));
    let gauge = t.app.metrics.render();
    assert!(
        gauge.contains("backstop_execution_log_unexported 4"),
        "{gauge}"
    );

    // Back up: the lost answers' rows are found in the table, not sent again; the others go.
    relay.set(Mode::Up);
    let drained = t.app.scrapes.export_runs().await;
    assert_eq!((drained.found, drained.sent), (2, 2), "{drained:?}");
    assert_eq!(ledger.unexported_count().await.unwrap(), 0);
    let record = ledger.export_record(&second[1]).await.unwrap().unwrap();
    assert_eq!((record.sends, record.how.as_deref()), (1, Some("found")));
    let all: Vec<String> = [first, second, third].concat();
    let table = rows(&bq).await;
    assert_eq!(table.keys().cloned().collect::<Vec<_>>(), sorted(&all));
    assert!(
        table.values().all(|n| *n == 1),
        "each row exactly once: {table:?}"
    );
    let again = t.app.scrapes.export_runs().await;
    assert_eq!((again.sent, again.found), (0, 0), "nothing left to send");
}

fn sorted(ids: &[String]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_row_bigquery_refuses_is_kept_with_the_reason_and_the_others_go_without_it() {
    // insertAll: the first row invalid (the whole request fails: the second only `stopped`),
    // then the second alone, taken.
    let refused = r#"{"insertErrors": [
        {"index": 0, "errors": [{"reason": "invalid", "message": "no such field: recovery"}]},
        {"index": 1, "errors": [{"reason": "stopped", "message": ""}]}]}"#;
    let bq = CannedHttp::script(vec![(200, refused.into()), (200, "{}".into())]).await;
    let t = spawn_offline(&[
        ("BIGQUERY_EMULATOR_HOST", bq.url.as_str()),
        ("BACKSTOP_EXECUTION_LOG", "on"),
    ])
    .await;
    let ledger = &t.app.ledger;
    let now = chrono::Utc::now();
    finished_run(ledger, "aaaa", d(3), now).await;
    finished_run(ledger, "bbbb", d(3), now + chrono::Duration::seconds(1)).await;
    let drained = t.app.scrapes.export_runs().await;
    assert_eq!((drained.rejected, drained.sent), (1, 1), "{drained:?}");
    assert_eq!(bq.hits(), 2, "{:#?}", bq.requests());
    assert!(
        bq.requests()[1].contains("\"insertId\":\"bbbb\"") && !bq.requests()[1].contains("aaaa")
    );
    let a = ledger.export_record("aaaa").await.unwrap().unwrap();
    assert!(a.rejected && a.last_error.unwrap().contains("no such field: recovery"));
    assert_eq!(
        ledger
            .export_record("bbbb")
            .await
            .unwrap()
            .unwrap()
            .how
            .as_deref(),
        Some("sent")
    );
    t.app.scrapes.export_runs().await;
    assert_eq!(bq.hits(), 2, "a refused row is not sent again");
}
