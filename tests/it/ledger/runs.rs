//! Runs in the ledger: what is stored is what happened, and it survives a restart.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use backstop::ledger::{Ledger, NewRun, RunCounts, RunFilter, RunOutcome};
use backstop::market::MarketType;
use backstop::run::{RunStatus, Scraper, Trigger};

use super::{at, date, Backend};

pub fn new_run(
    id: &str,
    game_date: &str,
    market: Option<MarketType>,
    started: DateTime<Utc>,
) -> NewRun {
    NewRun {
        run_id: id.into(),
        scraper: if market.is_some() {
            Scraper::PlayerProps
        } else {
            Scraper::Events
        },
        game_date: date(game_date),
        market,
        trigger: Trigger::Scheduler,
        started_at: started,
        opts: json!({"date": game_date, "market_type": market.map(|m| m.as_str())}),
    }
}

pub fn outcome(status: RunStatus, finished: DateTime<Utc>, props: u64) -> RunOutcome {
    RunOutcome {
        status,
        finished_at: finished,
        error_kind: None,
        error_message: None,
        counts: RunCounts {
            events: Some(8),
            offers_declared: Some(props),
            offers_received: props,
            props_written: props,
            players: props,
            failed_offers: 0,
            dropped_lines: 0,
            pages_fetched: 1,
            pages_total: Some(1),
        },
        attempts: 2,
        retries: 0,
        bytes: 1234,
        object_name: None,
        generation: None,
        routes: None,
    }
}

pub async fn run_to_end(
    l: &Ledger,
    id: &str,
    d: &str,
    m: Option<MarketType>,
    start: DateTime<Utc>,
    st: RunStatus,
) {
    l.start_run(&new_run(id, d, m, start)).await.unwrap();
    l.finish_run(id, &outcome(st, start + Duration::seconds(30), 5))
        .await
        .unwrap();
}

pub async fn zero_counts_are_stored_as_zero_not_null(b: &Backend) {
    let l = &b.ledger;
    l.start_run(&new_run(
        "r1",
        "2026-01-14",
        Some(MarketType::Steals),
        at(10, 0),
    ))
    .await
    .unwrap();
    let mut zero = outcome(RunStatus::NoData, at(10, 1), 0);
    zero.counts.events = Some(0);
    zero.counts.pages_fetched = 0;
    zero.counts.pages_total = None;
    zero.counts.offers_declared = None;
    zero.bytes = 0;
    l.finish_run("r1", &zero).await.unwrap();

    let zeros = b
        .raw_count(
            "runs WHERE id = 'r1' AND events = 0 AND offers_received = 0 AND props_written = 0
               AND players = 0 AND failed_offers = 0 AND dropped_lines = 0
               AND pages_fetched = 0 AND retries = 0 AND bytes = 0 AND attempts = 2",
        )
        .await;
    assert_eq!(zeros, 1, "zero is stored as the number 0");
    let unknown = b
        .raw_count("runs WHERE id = 'r1' AND offers_declared IS NULL AND pages_total IS NULL")
        .await;
    assert_eq!(unknown, 1, "unknown stays NULL");

    let rec = l.run("r1").await.unwrap().unwrap();
    assert_eq!(rec.props_written, Some(0));
    assert_eq!(rec.events, Some(0));
    assert_eq!(rec.bytes, Some(0));
    assert_eq!(rec.offers_declared, None);
    assert_eq!(rec.counts().unwrap().props_written, 0);
    let api = serde_json::to_value(&rec).unwrap();
    assert_eq!(api["props_written"], 0);
    assert_eq!(api["pages_total"], serde_json::Value::Null);
}

pub async fn a_finished_run_without_counts_is_refused_by_the_database(b: &Backend) {
    let l = &b.ledger;
    l.start_run(&new_run("r1", "2026-01-14", None, at(10, 0)))
        .await
        .unwrap();
    let err = b
        .raw_execute(
            "UPDATE runs SET status = 'success', finished_at = '2026-01-14T10:01:00.000000Z'",
        )
        .await
        .unwrap_err();
    assert!(err.to_lowercase().contains("check constraint"), "{err}");
}

pub async fn finishing_twice_is_an_error(b: &Backend) {
    let l = &b.ledger;
    run_to_end(
        l,
        "3fa2",
        "2026-01-14",
        Some(MarketType::Points),
        at(10, 0),
        RunStatus::Success,
    )
    .await;
    let again = outcome(RunStatus::Failed, at(10, 5), 0);
    let err = l.finish_run("3fa2", &again).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "ledger: finishing run 3fa2: the run already finished as success"
    );
    assert_eq!(
        l.run("3fa2").await.unwrap().unwrap().props_written,
        Some(5),
        "first record kept"
    );

    let err = l.finish_run("nope", &again).await.unwrap_err();
    assert_eq!(err.to_string(), "ledger: finishing run nope: no such run");
    assert!(err.is_not_found());

    l.start_run(&new_run("r2", "2026-01-14", None, at(11, 0)))
        .await
        .unwrap();
    let err = l
        .finish_run("r2", &outcome(RunStatus::Running, at(11, 1), 0))
        .await;
    assert!(err
        .unwrap_err()
        .to_string()
        .contains("cannot finish as running"));
    let err = l
        .start_run(&new_run("r2", "2026-01-14", None, at(11, 0)))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ledger: starting run r2: a run with this id already exists"
    );
}

pub async fn filters_and_newest_first(b: &Backend) {
    let l = &b.ledger;
    let pts = Some(MarketType::Points);
    run_to_end(l, "a", "2026-01-13", pts, at(9, 0), RunStatus::Success).await;
    run_to_end(l, "b", "2026-01-14", pts, at(10, 0), RunStatus::Failed).await;
    run_to_end(
        l,
        "c",
        "2026-01-14",
        Some(MarketType::Assists),
        at(11, 0),
        RunStatus::Success,
    )
    .await;
    run_to_end(l, "d", "2026-01-14", None, at(12, 0), RunStatus::Success).await;
    run_to_end(l, "e", "2026-01-14", pts, at(13, 0), RunStatus::Success).await;
    let ids = |f: RunFilter| async move {
        let runs = l.runs(&f).await.unwrap();
        runs.into_iter().map(|r| r.run_id).collect::<Vec<String>>()
    };

    assert_eq!(ids(RunFilter::default()).await, ["e", "d", "c", "b", "a"]);
    let on_14 = RunFilter {
        game_date: Some(date("2026-01-14")),
        ..Default::default()
    };
    assert_eq!(ids(on_14.clone()).await, ["e", "d", "c", "b"]);
    let points_14 = RunFilter {
        market: pts,
        ..on_14.clone()
    };
    assert_eq!(ids(points_14.clone()).await, ["e", "b"]);
    assert_eq!(
        ids(RunFilter {
            status: Some(RunStatus::Failed),
            ..points_14
        })
        .await,
        ["b"]
    );
    assert_eq!(
        ids(RunFilter {
            scraper: Some(Scraper::Events),
            ..on_14
        })
        .await,
        ["d"]
    );
    assert_eq!(
        ids(RunFilter {
            limit: 2,
            ..Default::default()
        })
        .await,
        ["e", "d"]
    );
    assert_eq!(
        RunFilter {
            limit: 5000,
            ..Default::default()
        }
        .effective_limit(),
        1000
    );
}

pub async fn last_runs_picks_the_latest_per_date_and_market(b: &Backend) {
    let l = &b.ledger;
    let (pts, ast) = (Some(MarketType::Points), Some(MarketType::Assists));
    run_to_end(l, "p1", "2026-01-13", pts, at(9, 0), RunStatus::Success).await;
    run_to_end(l, "p2", "2026-01-13", pts, at(15, 0), RunStatus::Failed).await;
    run_to_end(l, "a1", "2026-01-13", ast, at(10, 0), RunStatus::NoData).await;
    run_to_end(l, "e1", "2026-01-13", None, at(8, 0), RunStatus::Success).await;
    l.start_run(&new_run("p3", "2026-01-14", pts, at(16, 0)))
        .await
        .unwrap();
    run_to_end(l, "old", "2026-01-10", pts, at(9, 0), RunStatus::Success).await;

    let last = l
        .last_runs(date("2026-01-13"), date("2026-01-14"))
        .await
        .unwrap();
    let got: Vec<(String, String)> = last
        .iter()
        .map(|r| (r.game_date.to_string(), r.run_id.clone()))
        .collect();
    let want = [
        ("2026-01-13", "e1"),
        ("2026-01-13", "a1"),
        ("2026-01-13", "p2"),
        ("2026-01-14", "p3"),
    ];
    assert_eq!(got, want.map(|(d, r)| (d.to_string(), r.to_string())));
    assert_eq!(last[3].status, RunStatus::Running);

    let err = l
        .last_runs(date("2026-01-14"), date("2026-01-13"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ends before it starts"), "{err}");
}

pub async fn publishing_is_null_until_tried_and_a_sent_message_stays_sent(b: &Backend) {
    let l = &b.ledger;
    run_to_end(l, "r", "2026-01-14", None, at(10, 0), RunStatus::Success).await;
    assert_eq!(l.run("r").await.unwrap().unwrap().published, None);
    l.record_publish("r", false, Some("pubsub: 503"))
        .await
        .unwrap();
    assert_eq!(l.run("r").await.unwrap().unwrap().published, Some(false));
    l.record_publish("r", true, None).await.unwrap();
    l.record_publish("r", false, Some("duplicate attempt failed"))
        .await
        .unwrap();
    let rec = l.run("r").await.unwrap().unwrap();
    assert_eq!(rec.published, Some(true));
    assert_eq!(
        rec.publish_error.as_deref(),
        Some("duplicate attempt failed")
    );
    assert!(l
        .record_publish("nope", true, None)
        .await
        .unwrap_err()
        .is_not_found());
}

pub async fn a_record_serialises_for_the_api(b: &Backend) {
    let l = &b.ledger;
    run_to_end(
        l,
        "r",
        "2026-01-14",
        Some(MarketType::Threes),
        at(10, 0),
        RunStatus::Success,
    )
    .await;
    let v = serde_json::to_value(l.run("r").await.unwrap().unwrap()).unwrap();
    assert_eq!(v["run_id"], "r");
    assert_eq!(v["status"], "success");
    assert_eq!(v["scraper"], "bp_player_props");
    assert_eq!(v["market"], "threes");
    assert_eq!(v["trigger"], "scheduler");
    assert_eq!(v["game_date"], "2026-01-14");
    assert_eq!(v["started_at"], "2026-01-14T10:00:00Z");
    assert_eq!(v["duration_seconds"], 30.0);
    assert_eq!(v["opts"]["market_type"], "threes");
}

pub async fn reopen_keeps_everything(b: &Backend) {
    let mut full = outcome(RunStatus::Partial, at(10, 1), 40);
    full.error_kind = Some("incomplete".into());
    full.error_message = Some("page 3 of 5 failed".into());
    full.object_name = Some("bettingpros/player-props/points/2026-01-14/x.json".into());
    full.generation = Some(1_736_877_930_123_456);
    full.routes = Some("direct".into());
    full.counts.pages_total = Some(5);
    let l = &b.ledger;
    l.start_run(&new_run(
        "r",
        "2026-01-14",
        Some(MarketType::Points),
        at(10, 0),
    ))
    .await
    .unwrap();
    l.finish_run("r", &full).await.unwrap();
    l.record_publish("r", true, None).await.unwrap();
    l.start_run(&new_run("open", "2026-01-14", None, at(10, 2)))
        .await
        .unwrap();
    let before = l.runs(&RunFilter::default()).await.unwrap();
    let l = b.reopen().await;
    l.health().await.unwrap();
    assert_eq!(l.runs(&RunFilter::default()).await.unwrap(), before);
    assert_eq!(
        l.run("r").await.unwrap().unwrap().counts(),
        Some(full.counts)
    );
}

pub async fn a_newer_schema_is_refused(b: &Backend) {
    b.ledger.health().await.unwrap();
    let bump = match b
        .raw_execute("UPDATE schema_version SET version = 99")
        .await
    {
        Ok(n) => Ok(n),
        Err(_) => b.raw_execute("PRAGMA user_version = 99").await,
    };
    bump.unwrap();
    let err = b.ledger.health().await.unwrap_err().to_string();
    assert!(err.contains("schema version is 99"), "{err}");
    let err = b.reopen_result().await.unwrap_err();
    assert!(err.starts_with("ledger: opening "), "{err}");
    assert!(
        err.contains("schema version 99") && err.contains("refusing"),
        "{err}"
    );
}
