//! The HTTP API as Cloud Scheduler and operators use it.

use std::time::Duration;

use backstop::calendar::GameDate;
use backstop::ledger::{Ledger, NewRun};
use backstop::run::{RunStatus, Scraper, Trigger};
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::SimConfig;
use serde_json::{json, Value};

use crate::support::app::{spawn_app, spawn_app_with, KEY};

fn date() -> GameDate {
    "2026-01-14".parse().unwrap()
}

async fn post(url: &str, body: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("the service answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("the service answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn scheduler_bodies_exactly_as_the_old_jobs_send_them_get_the_contract_answer() {
    let mut t = spawn_app(Catalogue::synthetic(&[(date(), 8)], 3)).await;
    let url = t.serve().await;
    let body = r#"{"scraper": "bp_player_props", "date": "2026-01-14", "market_type": "points", "group": "prod"}"#;
    let (status, answer) = post(&format!("{url}/scrape"), body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "success");
    assert_eq!(answer["scraper"], "bp_player_props");
    assert!(answer["run_id"].as_str().is_some_and(|id| !id.is_empty()));
    let s = &answer["data_summary"];
    for key in [
        "rowCount",
        "props_count",
        "players_count",
        "pages_fetched",
        "market_type",
        "market_id",
        "event_ids_count",
        "date",
        "timestamp",
    ] {
        assert!(!s[key].is_null(), "data_summary lacks {key}: {s}");
    }
    assert_eq!(s["rowCount"], s["props_count"]);
    assert_eq!(s["market_id"], 156);
    assert_eq!(s["event_ids_count"], 8);

    let (status, answer) = post(
        &format!("{url}/scrape"),
        r#"{"scraper": "bp_events", "date": "2026-01-14", "group": "prod"}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data_summary"]["rowCount"], 8);
}

#[tokio::test]
async fn two_identical_requests_at_the_same_time_run_once_and_both_get_the_result() {
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        latency: Duration::from_millis(150),
        ..SimConfig::new(Catalogue::synthetic(&[(date(), 4)], 3))
    };
    let mut t = spawn_app_with(sim, &[]).await;
    let url = format!("{}/scrape", t.serve().await);
    let body = r#"{"scraper": "bp_player_props", "date": "2026-01-14", "market_type": "steals"}"#;
    let (a, b) = tokio::join!(post(&url, body), post(&url, body));
    assert_eq!((a.0, b.0), (200, 200));
    assert_eq!(a.1["run_id"], b.1["run_id"], "both callers see the one run");
    let events_requests = t
        .sim
        .arrivals()
        .iter()
        .filter(|r| r.path.ends_with("/events"))
        .count();
    assert_eq!(events_requests, 1);
    let runs = t.app.ledger.runs(&Default::default()).await.unwrap();
    let of = |scraper: Scraper| runs.iter().filter(|r| r.scraper == scraper).count();
    assert_eq!(
        (of(Scraper::PlayerProps), of(Scraper::Events)),
        (1, 1),
        "one run, and the bp_events run that stored its events answer: {runs:#?}"
    );
}

#[tokio::test]
async fn a_caller_that_hangs_up_does_not_stop_later_identical_requests_from_scraping() {
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        latency: Duration::from_millis(1500),
        ..SimConfig::new(Catalogue::synthetic(&[(date(), 4)], 3))
    };
    let mut t = spawn_app_with(sim, &[]).await;
    let url = format!("{}/scrape", t.serve().await);
    let body = r#"{"scraper": "bp_events", "date": "2026-01-14"}"#;
    let events_requests = |t: &crate::support::app::TestApp| {
        let arrivals = t.sim.arrivals();
        arrivals
            .iter()
            .filter(|r| r.path.ends_with("/events"))
            .count()
    };

    // The scheduler's attempt deadline: it hangs up while the run is under way, and another
    // identical request joins the same run meanwhile.
    let hung_up = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
        .send();
    let joined = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        post(&url, body).await
    };
    let (hung_up, joined) = tokio::join!(hung_up, joined);
    assert!(
        hung_up.is_err(),
        "the first caller hung up before the answer"
    );
    assert_eq!(joined.0, 200, "{}", joined.1);
    assert_eq!(events_requests(&t), 1, "the joined request ran once");

    // The run is over: the same request later is a new snapshot, and so is the next one.
    for n in 2..=3 {
        let (status, answer) = post(&url, body).await;
        assert_eq!(status, 200, "{answer}");
        assert_ne!(
            answer["run_id"], joined.1["run_id"],
            "request {n} is a new run"
        );
        assert_eq!(events_requests(&t), n, "request {n} reached BettingPros");
    }
    assert_eq!(
        t.app.ledger.runs(&Default::default()).await.unwrap().len(),
        3
    );
}

#[tokio::test]
async fn the_ledger_counts_equal_what_was_written() {
    let mut t = spawn_app(Catalogue::synthetic(&[(date(), 6)], 5)).await;
    let url = t.serve().await;
    let (status, _) = post(
        &format!("{url}/scrape"),
        r#"{"scraper": "bp_player_props", "date": "2026-01-14", "market_type": "all"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = get(&format!(
        "{url}/runs?date=2026-01-14&scraper=bp_player_props"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let runs: Value = serde_json::from_str(&body).unwrap();
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    for run in runs {
        let name = run["object_name"].as_str().expect("every run wrote a file");
        let file: Value = serde_json::from_slice(&t.app.store.get(name).await.unwrap()).unwrap();
        assert_eq!(run["props_written"], file["props_count"], "{name}");
        assert_eq!(run["players"], file["players_count"], "{name}");
        assert_eq!(run["failed_offers"], file["failed_offers"], "{name}");
        assert_eq!(
            run["pages_fetched"], file["pagination_info"]["pages_fetched"],
            "{name}"
        );
        assert_eq!(run["status"], "success");
    }
}

#[tokio::test]
async fn a_run_left_running_by_a_crash_is_abandoned_at_the_next_start() {
    let t = spawn_app(Catalogue::new()).await;
    let path = t.dir.path().join("crashed.db");
    let ledger = Ledger::open(&path).await.unwrap();
    // The crashed process started the run ten minutes ago and has not heartbeaten since.
    ledger
        .start_run(&NewRun {
            run_id: "crashed-run".into(),
            scraper: Scraper::Events,
            game_date: date(),
            market: None,
            trigger: Trigger::Scheduler,
            started_at: chrono::Utc::now() - chrono::Duration::minutes(10),
            opts: json!({}),
        })
        .await
        .unwrap();
    drop(ledger);
    let mut config = (*t.app.config).clone();
    config.ledger.location = backstop::ledger::LedgerLocation::Sqlite(path);
    let restarted = backstop::app::App::build(config).await.unwrap();
    let row = restarted.ledger.run("crashed-run").await.unwrap().unwrap();
    assert_eq!(
        row.status,
        RunStatus::Running,
        "a one-off command does not take over"
    );
    restarted.take_over().await.unwrap();
    let row = restarted.ledger.run("crashed-run").await.unwrap().unwrap();
    assert_eq!(row.status, RunStatus::Abandoned);
    assert!(row.error_message.is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn bad_input_gets_a_400_that_says_what_is_wrong() {
    let mut t = spawn_app(Catalogue::new()).await;
    let url = t.serve().await;
    let scrape = format!("{url}/scrape");
    let (s, b) = post(&scrape, r#"{"scraper": "bp_odds"}"#).await;
    assert_eq!(s, 400);
    assert_eq!(
        b["available_scrapers"],
        json!(["bp_events", "bp_player_props"])
    );
    assert!(b["error"].as_str().unwrap().contains("bp_odds"));
    let (s, b) = post(&scrape, r#"{"date": "2026-01-14"}"#).await;
    assert_eq!(s, 400);
    assert!(b["available_scrapers"].is_array(), "{b}");
    for (body, needle) in [
        (
            r#"{"scraper": "bp_events", "date": "14/01/2026"}"#,
            "14/01/2026",
        ),
        (
            r#"{"scraper": "bp_player_props", "market_type": "turnovers"}"#,
            "turnovers",
        ),
        (r#"{"scraper": "bp_events", "#, "JSON"),
        ("[1, 2]", "object"),
    ] {
        let (s, b) = post(&scrape, body).await;
        assert_eq!(s, 400, "{body}: {b}");
        assert!(
            b["error"].as_str().unwrap_or_default().contains(needle),
            "{body}: {b}"
        );
    }
    let big = format!(
        r#"{{"scraper": "bp_events", "pad": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let (s, b) = post(&scrape, &big).await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("length limit"),
        "{b}"
    );
    for q in ["limit=abc", "status=great", "date=2026-13-01", "colour=red"] {
        let (s, b) = get(&format!("{url}/runs?{q}")).await;
        assert_eq!(s, 400, "{q}: {b}");
    }
    let (s, proxies) = get(&format!("{url}/proxies")).await;
    assert_eq!(s, 200);
    assert!(proxies.contains(r#""name":"direct""#), "{proxies}");
    let (s, _) = get(&format!("{url}/nope")).await;
    assert_eq!(s, 404);
    let (s, _) = get(&format!("{url}/health")).await;
    assert_eq!(s, 200, "still healthy after all that");
}

#[tokio::test]
async fn metrics_move_with_runs_and_health_says_when_storage_is_gone() {
    let mut t = spawn_app(Catalogue::synthetic(&[(date(), 2)], 5)).await;
    let url = t.serve().await;
    let (s, health) = get(&format!("{url}/health")).await;
    assert_eq!(s, 200);
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        (health["status"].as_str(), health["service"].as_str()),
        (Some("healthy"), Some("backstop"))
    );
    assert!(health["version"].is_string() && health["commit"].is_string());
    assert_eq!(health["checks"]["bettingpros_api_key"], "set");

    post(
        &format!("{url}/scrape"),
        r#"{"scraper": "bp_player_props", "date": "2026-01-14", "market_type": "blocks"}"#,
    )
    .await;
    let (_, text) = get(&format!("{url}/metrics")).await;
    assert!(
        text.contains(
            r#"backstop_runs_total{scraper="bp_player_props",market="blocks",status="success"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"outcome="ok"} "#), "{text}");
    assert!(text.contains("backstop_last_success_timestamp_seconds{scraper=\"bp_player_props\",market=\"blocks\"}"), "{text}");
    assert!(
        text.contains(r#"backstop_http_requests_total{route="/scrape",status="200"} 1"#),
        "{text}"
    );

    drop(std::mem::replace(
        &mut t.gcs,
        crate::support::emulators::FakeGcs::start("other").await,
    ));
    let (s, body) = get(&format!("{url}/health")).await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("unhealthy"), "{body}");
}

#[tokio::test]
async fn sigterm_lets_runs_finish_within_the_grace_or_records_them_abandoned() {
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        latency: Duration::from_secs(3),
        ..SimConfig::new(Catalogue::synthetic(&[(date(), 2)], 5))
    };
    let t = spawn_app_with(sim, &[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/scrape", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(backstop::api::serve(
        t.app.clone(),
        listener,
        async move {
            let _ = stop_rx.await;
        },
        Duration::from_millis(500),
    ));
    let caller = tokio::spawn(async move {
        post(&url, r#"{"scraper": "bp_events", "date": "2026-01-14"}"#).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(());
    let started = std::time::Instant::now();
    server.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopped after {:?}",
        started.elapsed()
    );
    let runs = t.app.ledger.runs(&Default::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].status,
        RunStatus::Abandoned,
        "a run cut off by shutdown is not left running"
    );
    caller.abort();
}
