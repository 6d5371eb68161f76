//! Reading "was it loaded?" from BigQuery: against bqemulator for the SQL and REST shapes, and
//! against a small fake for what the emulator never does (jobs still running, auth headers).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use backstop::calendar::GameDate;
use backstop::config::Secret;
use backstop::gcp::Credentials;
use backstop::warehouse::{LoadedRows, Warehouse, WarehouseFailure, WarehouseSettings};
use serde_json::{json, Value};

use crate::support::bq::{BqEmulator, PROPS_SCHEMA};
use crate::support::phase2::{closed_port, serve, Served};

const DATASET: &str = "nba_raw";
const TABLE: &str = "bettingpros_player_points_props";

fn date(s: &str) -> GameDate {
    s.parse().unwrap()
}

fn settings(base: &str) -> WarehouseSettings {
    WarehouseSettings {
        project: "test-proj".into(),
        emulator: Some(base.to_string()),
        query_timeout: Duration::from_secs(20),
        backoff_base: Duration::from_millis(10),
        ..WarehouseSettings::default()
    }
}

/// `n` rows of one file, shaped like Phase 2's (one per prop × side × sportsbook line).
fn rows(game_date: &str, market: &str, file: &str, n: u64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "game_date": game_date, "market_type": market, "source_file_path": file,
                "event_id": 30001, "offer_id": 123456 + i, "player_id": 3473,
                "player_name": "Trae Young", "player_team": "ATL", "book_id": 12,
                "line": 26.5, "odds": -110, "active": true, "best": false,
                "updated": "2026-01-14 18:01:09",
            })
        })
        .collect()
}

fn loaded(game_date: &str, market: &str, file: &str, n: u64) -> LoadedRows {
    LoadedRows {
        game_date: date(game_date),
        market: market.into(),
        source_file_path: file.into(),
        rows: n,
    }
}

/// An emulator holding a few days of rows, some with real file names, some `unknown`.
async fn seeded() -> BqEmulator {
    let bq = BqEmulator::start("test-proj").await;
    bq.create_table(DATASET, TABLE, PROPS_SCHEMA).await;
    let mut all = Vec::new();
    for (d, m, f, n) in [
        (
            "2026-01-13",
            "points",
            "bettingpros/player-props/points/2026-01-13/a.json",
            2,
        ),
        (
            "2026-01-14",
            "points",
            "bettingpros/player-props/points/2026-01-14/b.json",
            3,
        ),
        (
            "2026-01-14",
            "points",
            "bettingpros/player-props/points/2026-01-14/c.json",
            2,
        ),
        (
            "2026-01-14",
            "rebounds",
            "bettingpros/player-props/rebounds/2026-01-14/d.json",
            1,
        ),
        ("2026-01-15", "points", "unknown", 4),
        ("2026-01-15", "assists", "unknown", 2),
        (
            "2026-01-16",
            "steals",
            "bettingpros/player-props/steals/2026-01-16/e.json",
            1,
        ),
    ] {
        all.extend(rows(d, m, f, n));
    }
    bq.insert_rows(DATASET, TABLE, &all).await;
    bq
}

#[tokio::test]
async fn loaded_rows_groups_by_date_market_and_file_in_one_query() {
    let bq = seeded().await;
    let warehouse = Warehouse::new(settings(bq.url()), Credentials::None);

    let got = warehouse
        .loaded_rows(date("2026-01-14"), date("2026-01-15"))
        .await
        .expect("read");

    assert_eq!(
        got,
        vec![
            loaded(
                "2026-01-14",
                "points",
                "bettingpros/player-props/points/2026-01-14/b.json",
                3
            ),
            loaded(
                "2026-01-14",
                "points",
                "bettingpros/player-props/points/2026-01-14/c.json",
                2
            ),
            loaded(
                "2026-01-14",
                "rebounds",
                "bettingpros/player-props/rebounds/2026-01-14/d.json",
                1
            ),
            loaded("2026-01-15", "assists", "unknown", 2),
            loaded("2026-01-15", "points", "unknown", 4),
        ]
    );
    assert_eq!(warehouse.queries_made(), 1);

    let whole = warehouse
        .loaded_rows(date("2026-01-13"), date("2026-01-16"))
        .await
        .expect("read");
    assert_eq!(
        whole.len(),
        7,
        "both ends of the range are included: {whole:?}"
    );
    assert_eq!(whole.iter().map(|r| r.rows).sum::<u64>(), 15);
    assert_eq!(warehouse.queries_made(), 2);
}

#[tokio::test]
async fn rows_written_by_a_batch_statement_count_like_streamed_ones() {
    // Phase 2 may load with jobs rather than insertAll; detection must not care how.
    let bq = seeded().await;
    let name = "bettingpros/player-props/steals/2026-02-01/20260201_180000.json";
    bq.query(&format!(
        "INSERT INTO `test-proj.{DATASET}.{TABLE}` (game_date, market_type, source_file_path) \
         SELECT DATE '2026-02-01', 'steals', '{name}' FROM UNNEST(GENERATE_ARRAY(1, 7))"
    ))
    .await;
    let warehouse = Warehouse::new(settings(bq.url()), Credentials::None);
    let got = warehouse
        .loaded_rows(date("2026-02-01"), date("2026-02-01"))
        .await
        .expect("read");
    assert_eq!(got, vec![loaded("2026-02-01", "steals", name, 7)]);
}

#[tokio::test]
async fn every_page_is_read_when_the_answer_is_paged() {
    let bq = seeded().await;
    let whole = Warehouse::new(settings(bq.url()), Credentials::None);
    let paged = Warehouse::new(
        WarehouseSettings {
            page_rows: Some(2),
            ..settings(bq.url())
        },
        Credentials::None,
    );
    let (from, to) = (date("2026-01-01"), date("2026-01-31"));

    let expected = whole.loaded_rows(from, to).await.expect("one page");
    let got = paged.loaded_rows(from, to).await.expect("four pages");

    assert_eq!(got, expected);
    assert_eq!(got.len(), 7);
    assert_eq!(paged.queries_made(), 1, "pages are not new queries");
}

#[tokio::test]
async fn an_empty_range_asks_nothing_and_a_quiet_one_finds_nothing() {
    let bq = seeded().await;
    let warehouse = Warehouse::new(settings(bq.url()), Credentials::None);

    let backwards = warehouse.loaded_rows(date("2026-01-15"), date("2026-01-14"));
    assert_eq!(backwards.await.unwrap(), vec![]);
    assert_eq!(warehouse.queries_made(), 0);

    let quiet = warehouse.loaded_rows(date("2026-02-01"), date("2026-02-28"));
    assert_eq!(quiet.await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_missing_table_is_an_error_never_an_empty_answer() {
    let bq = BqEmulator::start("test-proj").await;
    let warehouse = Warehouse::new(settings(bq.url()), Credentials::None);

    let err = warehouse
        .loaded_rows(date("2026-01-14"), date("2026-01-14"))
        .await
        .unwrap_err();

    // The emulator reports it inside a 200 answer; BigQuery itself answers 404.
    assert!(
        matches!(
            err.failure,
            WarehouseFailure::QueryFailed | WarehouseFailure::Status(404)
        ),
        "{err:?}"
    );
    let reason = err.reason();
    assert!(
        reason.contains("test-proj.nba_raw.bettingpros_player_points_props"),
        "{reason}"
    );
    assert!(reason.contains("2026-01-14..2026-01-14"), "{reason}");
}

#[tokio::test]
async fn an_unreachable_warehouse_fails_fast_with_a_reason() {
    let warehouse = Warehouse::new(
        WarehouseSettings {
            query_timeout: Duration::from_secs(2),
            max_attempts: 2,
            ..settings(&format!("http://127.0.0.1:{}", closed_port()))
        },
        Credentials::None,
    );
    let started = std::time::Instant::now();

    let err = warehouse
        .loaded_rows(date("2026-01-14"), date("2026-01-15"))
        .await
        .unwrap_err();

    assert_eq!(err.failure, WarehouseFailure::Unreachable);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.reason().starts_with("bigquery_unreachable"),
        "{}",
        err.reason()
    );
    assert_eq!(warehouse.queries_made(), 2);
}

/// What the fake BigQuery saw: (method, query string, Authorization header).
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

fn record(seen: &Seen, method: &str, query: &str, headers: &HeaderMap) {
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    seen.lock()
        .unwrap()
        .push((method.into(), query.into(), auth));
}

/// A BigQuery whose job is still running on the first answer, then gives two pages; or, with
/// `never_done`, never finishes.
async fn fake_bigquery(never_done: bool) -> (String, Seen, Served) {
    let seen: Seen = Arc::default();
    let schema = json!({"fields": [{"name": "game_date"}, {"name": "market_type"},
                                    {"name": "source_file_path"}, {"name": "row_count"}]});
    let pending = json!({"jobReference": {"projectId": "test-proj", "jobId": "j1", "location": "us-west2"},
                         "jobComplete": false});
    let page = |d: &str, token: Option<&str>| {
        let mut a = json!({"jobReference": {"jobId": "j1"}, "jobComplete": true, "schema": schema,
                           "totalRows": "2", "rows": [{"f": [{"v": d}, {"v": "points"}, {"v": "unknown"}, {"v": "7"}]}]});
        if let Some(t) = token {
            a["pageToken"] = t.into();
        }
        a
    };
    let (first, second) = (page("2026-01-14", Some("p2")), page("2026-01-15", None));
    let router = Router::new()
        .route(
            "/bigquery/v2/projects/test-proj/queries",
            post(|State(seen): State<Seen>, headers: HeaderMap| async move {
                record(&seen, "POST", "", &headers);
                Json(pending)
            }),
        )
        .route(
            "/bigquery/v2/projects/test-proj/queries/j1",
            get(
                move |State(seen): State<Seen>,
                      headers: HeaderMap,
                      Query(q): Query<Vec<(String, String)>>| async move {
                    let query: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    record(&seen, "GET", &query.join("&"), &headers);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let token = q.iter().find(|(k, _)| k == "pageToken");
                    Json(match (never_done, token) {
                        (true, _) => json!({"jobReference": {"jobId": "j1"}, "jobComplete": false}),
                        (false, None) => first,
                        (false, Some(_)) => second,
                    })
                },
            ),
        )
        .with_state(seen.clone());
    let (addr, server) = serve(router).await;
    (format!("http://{addr}"), seen, server)
}

#[tokio::test]
async fn a_running_job_is_polled_at_its_location_then_paged_with_the_token_sent() {
    let (base, seen, _server) = fake_bigquery(false).await;
    let warehouse = Warehouse::new(
        settings(&base),
        Credentials::Fixed(Secret::new("ya29.test")),
    );

    let got = warehouse
        .loaded_rows(date("2026-01-14"), date("2026-01-15"))
        .await
        .expect("read");

    assert_eq!(
        got,
        vec![
            loaded("2026-01-14", "points", "unknown", 7),
            loaded("2026-01-15", "points", "unknown", 7)
        ]
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen
        .iter()
        .all(|(_, _, auth)| auth.as_deref() == Some("Bearer ya29.test")));
    assert!(seen[1].1.contains("location=us-west2") && !seen[1].1.contains("pageToken"));
    assert!(seen[2].1.contains("location=us-west2") && seen[2].1.contains("pageToken=p2"));
}

#[tokio::test]
async fn a_job_that_never_finishes_times_out() {
    let (base, _, _server) = fake_bigquery(true).await;
    let warehouse = Warehouse::new(
        WarehouseSettings {
            query_timeout: Duration::from_millis(600),
            ..settings(&base)
        },
        Credentials::None,
    );

    let err = warehouse
        .loaded_rows(date("2026-01-14"), date("2026-01-15"))
        .await
        .unwrap_err();

    assert_eq!(err.failure, WarehouseFailure::TimedOut, "{err:?}");
}
