//! Tests of the ledger's runs: what is stored is what happened, and it survives a restart.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::calendar::GameDate;
use crate::market::MarketType;
use crate::run::{Scraper, Trigger};

pub(super) fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 14, hour, minute, 0).unwrap()
}

pub(super) fn date(s: &str) -> GameDate {
    s.parse().unwrap()
}

fn new_run(
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

fn outcome(status: RunStatus, finished: DateTime<Utc>, props: u64) -> RunOutcome {
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

fn run_to_end(
    l: &Ledger,
    id: &str,
    d: &str,
    m: Option<MarketType>,
    start: DateTime<Utc>,
    st: RunStatus,
) {
    l.start_run(&new_run(id, d, m, start)).unwrap();
    l.finish_run(id, &outcome(st, start + Duration::seconds(30), 5))
        .unwrap();
}

#[test]
fn zero_counts_are_stored_as_zero_not_null() {
    let l = Ledger::open_in_memory().unwrap();
    l.start_run(&new_run(
        "r1",
        "2026-01-14",
        Some(MarketType::Steals),
        at(10, 0),
    ))
    .unwrap();
    let mut zero = outcome(RunStatus::NoData, at(10, 1), 0);
    zero.counts.events = Some(0);
    zero.counts.pages_fetched = 0;
    zero.counts.pages_total = None;
    zero.counts.offers_declared = None;
    zero.bytes = 0;
    l.finish_run("r1", &zero).unwrap();

    let types: Vec<String> = l
        .conn()
        .query_row(
            "SELECT typeof(events), typeof(offers_received), typeof(props_written),
                    typeof(players), typeof(failed_offers), typeof(dropped_lines),
                    typeof(pages_fetched), typeof(attempts), typeof(retries), typeof(bytes),
                    typeof(offers_declared), typeof(pages_total)
             FROM runs WHERE id = 'r1'",
            [],
            |r| (0..12).map(|i| r.get(i)).collect(),
        )
        .unwrap();
    assert!(types[..10].iter().all(|t| t == "integer"), "{types:?}");
    assert_eq!(types[10..], ["null", "null"], "unknown stays NULL");

    let rec = l.run("r1").unwrap().unwrap();
    assert_eq!(rec.props_written, Some(0));
    assert_eq!(rec.events, Some(0));
    assert_eq!(rec.bytes, Some(0));
    assert_eq!(rec.offers_declared, None);
    assert_eq!(rec.counts().unwrap().props_written, 0);
    let api = serde_json::to_value(&rec).unwrap();
    assert_eq!(api["props_written"], 0);
    assert_eq!(api["pages_total"], serde_json::Value::Null);
}

#[test]
fn a_finished_run_without_counts_is_refused_by_the_database() {
    let l = Ledger::open_in_memory().unwrap();
    l.start_run(&new_run("r1", "2026-01-14", None, at(10, 0)))
        .unwrap();
    let err = l
        .conn()
        .execute(
            "UPDATE runs SET status = 'success', finished_at = '2026-01-14T10:01:00.000000Z'",
            [],
        )
        .unwrap_err();
    assert!(err.to_string().contains("CHECK"), "{err}");
}

#[test]
fn crash_left_running_becomes_abandoned() {
    let l = Ledger::open_in_memory().unwrap();
    l.start_run(&new_run(
        "gone",
        "2026-01-13",
        Some(MarketType::Points),
        at(9, 0),
    ))
    .unwrap();
    run_to_end(
        &l,
        "done",
        "2026-01-13",
        Some(MarketType::Assists),
        at(9, 5),
        RunStatus::Success,
    );

    assert_eq!(l.abandon_running(at(12, 0)).unwrap(), 1);
    assert_eq!(l.abandon_running(at(12, 1)).unwrap(), 0, "only once");

    let gone = l.run("gone").unwrap().unwrap();
    assert_eq!(gone.status, RunStatus::Abandoned);
    assert_eq!(
        gone.game_date,
        date("2026-01-13"),
        "the requested date, not today's"
    );
    assert_eq!(gone.finished_at, Some(at(12, 0)));
    assert_eq!(gone.error_kind.as_deref(), Some("abandoned"));
    assert!(gone
        .error_message
        .as_deref()
        .unwrap()
        .contains("stopped before the run finished"));
    assert_eq!(gone.props_written, None, "unknown, not 0");
    assert_eq!(gone.attempts, None);
    assert_eq!(gone.counts(), None);
    assert_eq!(l.run("done").unwrap().unwrap().status, RunStatus::Success);
}

#[test]
fn finishing_twice_is_an_error() {
    let l = Ledger::open_in_memory().unwrap();
    run_to_end(
        &l,
        "3fa2",
        "2026-01-14",
        Some(MarketType::Points),
        at(10, 0),
        RunStatus::Success,
    );
    let again = outcome(RunStatus::Failed, at(10, 5), 0);
    let err = l.finish_run("3fa2", &again).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ledger: finishing run 3fa2: the run already finished as success"
    );
    assert_eq!(
        l.run("3fa2").unwrap().unwrap().props_written,
        Some(5),
        "first record kept"
    );

    let err = l.finish_run("nope", &again).unwrap_err();
    assert_eq!(err.to_string(), "ledger: finishing run nope: no such run");
    assert!(err.is_not_found());

    l.start_run(&new_run("r2", "2026-01-14", None, at(11, 0)))
        .unwrap();
    let err = l.finish_run("r2", &outcome(RunStatus::Running, at(11, 1), 0));
    assert!(err
        .unwrap_err()
        .to_string()
        .contains("cannot finish as running"));
    let err = l
        .start_run(&new_run("r2", "2026-01-14", None, at(11, 0)))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ledger: starting run r2: a run with this id already exists"
    );
}

#[test]
fn filters_and_newest_first() {
    let l = Ledger::open_in_memory().unwrap();
    let pts = Some(MarketType::Points);
    run_to_end(&l, "a", "2026-01-13", pts, at(9, 0), RunStatus::Success);
    run_to_end(&l, "b", "2026-01-14", pts, at(10, 0), RunStatus::Failed);
    run_to_end(
        &l,
        "c",
        "2026-01-14",
        Some(MarketType::Assists),
        at(11, 0),
        RunStatus::Success,
    );
    run_to_end(&l, "d", "2026-01-14", None, at(12, 0), RunStatus::Success);
    run_to_end(&l, "e", "2026-01-14", pts, at(13, 0), RunStatus::Success);
    let ids = |f: RunFilter| -> Vec<String> {
        l.runs(&f).unwrap().into_iter().map(|r| r.run_id).collect()
    };

    assert_eq!(ids(RunFilter::default()), ["e", "d", "c", "b", "a"]);
    let on_14 = RunFilter {
        game_date: Some(date("2026-01-14")),
        ..Default::default()
    };
    assert_eq!(ids(on_14.clone()), ["e", "d", "c", "b"]);
    let points_14 = RunFilter {
        market: pts,
        ..on_14.clone()
    };
    assert_eq!(ids(points_14.clone()), ["e", "b"]);
    assert_eq!(
        ids(RunFilter {
            status: Some(RunStatus::Failed),
            ..points_14
        }),
        ["b"]
    );
    assert_eq!(
        ids(RunFilter {
            scraper: Some(Scraper::Events),
            ..on_14
        }),
        ["d"]
    );
    assert_eq!(
        ids(RunFilter {
            limit: 2,
            ..Default::default()
        }),
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

#[test]
fn last_runs_picks_the_latest_per_date_and_market() {
    let l = Ledger::open_in_memory().unwrap();
    let (pts, ast) = (Some(MarketType::Points), Some(MarketType::Assists));
    run_to_end(&l, "p1", "2026-01-13", pts, at(9, 0), RunStatus::Success);
    run_to_end(&l, "p2", "2026-01-13", pts, at(15, 0), RunStatus::Failed);
    run_to_end(&l, "a1", "2026-01-13", ast, at(10, 0), RunStatus::NoData);
    run_to_end(&l, "e1", "2026-01-13", None, at(8, 0), RunStatus::Success);
    l.start_run(&new_run("p3", "2026-01-14", pts, at(16, 0)))
        .unwrap();
    run_to_end(&l, "old", "2026-01-10", pts, at(9, 0), RunStatus::Success);

    let last = l.last_runs(date("2026-01-13"), date("2026-01-14")).unwrap();
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
        .unwrap_err();
    assert!(err.to_string().contains("ends before it starts"), "{err}");
}

#[test]
fn publishing_is_null_until_tried_and_a_sent_message_stays_sent() {
    let l = Ledger::open_in_memory().unwrap();
    run_to_end(&l, "r", "2026-01-14", None, at(10, 0), RunStatus::Success);
    assert_eq!(l.run("r").unwrap().unwrap().published, None);
    l.record_publish("r", false, Some("pubsub: 503")).unwrap();
    assert_eq!(l.run("r").unwrap().unwrap().published, Some(false));
    l.record_publish("r", true, None).unwrap();
    l.record_publish("r", false, Some("duplicate attempt failed"))
        .unwrap();
    let rec = l.run("r").unwrap().unwrap();
    assert_eq!(rec.published, Some(true));
    assert_eq!(
        rec.publish_error.as_deref(),
        Some("duplicate attempt failed")
    );
    assert!(l
        .record_publish("nope", true, None)
        .unwrap_err()
        .is_not_found());
}

#[test]
fn a_record_serialises_for_the_api() {
    let l = Ledger::open_in_memory().unwrap();
    run_to_end(
        &l,
        "r",
        "2026-01-14",
        Some(MarketType::Threes),
        at(10, 0),
        RunStatus::Success,
    );
    let v = serde_json::to_value(l.run("r").unwrap().unwrap()).unwrap();
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

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state/ledger.db");
    let mut full = outcome(RunStatus::Partial, at(10, 1), 40);
    full.error_kind = Some("incomplete".into());
    full.error_message = Some("page 3 of 5 failed".into());
    full.object_name = Some("bettingpros/player-props/points/2026-01-14/x.json".into());
    full.generation = Some(1_736_877_930_123_456);
    full.routes = Some("direct".into());
    full.counts.pages_total = Some(5);
    let before = {
        let l = Ledger::open(&path).unwrap();
        l.start_run(&new_run(
            "r",
            "2026-01-14",
            Some(MarketType::Points),
            at(10, 0),
        ))
        .unwrap();
        l.finish_run("r", &full).unwrap();
        l.record_publish("r", true, None).unwrap();
        l.start_run(&new_run("open", "2026-01-14", None, at(10, 2)))
            .unwrap();
        l.runs(&RunFilter::default()).unwrap()
    };
    let l = Ledger::open(&path).unwrap();
    l.health().unwrap();
    assert_eq!(l.runs(&RunFilter::default()).unwrap(), before);
    assert_eq!(l.run("r").unwrap().unwrap().counts(), Some(full.counts));
    let mode: String = l
        .conn()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}
