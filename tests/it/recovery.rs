//! Lost dates end to end: a 30-day calendar holding every category, detection against
//! fake-gcs-server and the BigQuery emulator, the plan, and recovery through a Phase 2 that
//! really loads — each file exactly once.

use std::sync::Arc;
use std::time::Duration;

use backstop::calendar::GameDate;
use backstop::gaps::{Category, GapQuery};
use backstop::ledger::{ActionState, FileSendState};
use backstop::market::{MarketSelection, MarketType};
use backstop::reprocess::ReprocessRequest;
use backstop::run::{Scraper, Trigger};
use backstop::scrape::ScrapeRequest;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::SimConfig;
use serde_json::json;

use crate::support::app::{spawn_app_with, TestApp, KEY};
use crate::support::bq::BqEmulator;
use crate::support::emulators::PROJECT;
use crate::support::loader::Loader;

fn d(day: u32) -> GameDate {
    format!("2026-01-{day:02}").parse().unwrap()
}

const OFF_DAYS: [u32; 2] = [5, 20];
const NEVER_SCRAPED: [u32; 2] = [3, 15];
const NEVER_LOADED: u32 = 7;
const HALF_LOADED: u32 = 12;
const LOADED_AS_UNKNOWN: u32 = 25;

struct World {
    t: TestApp,
    loader: Loader,
    _bq: Arc<BqEmulator>,
}

async fn world(days: u32, bq_host: Option<&str>, more: &[(&str, &str)]) -> World {
    let calendar: Vec<(GameDate, usize)> = (1..=days)
        .map(|day| (d(day), if OFF_DAYS.contains(&day) { 0 } else { 4 }))
        .collect();
    let bq = Arc::new(BqEmulator::start(PROJECT).await);
    let loader = Loader::start(bq.clone()).await;
    let bq_url = bq.url().to_string();
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::new(Catalogue::synthetic(&calendar, 21))
    };
    let extra = [
        ("BIGQUERY_EMULATOR_HOST", bq_host.unwrap_or(&bq_url)),
        ("BACKSTOP_BQ_TIMEOUT_SECS", "5"),
        ("BACKSTOP_BQ_MAX_ATTEMPTS", "1"),
        ("PHASE2_URL", loader.url.as_str()),
        ("BACKSTOP_PHASE2_AUTH", "off"),
        ("BACKSTOP_PHASE2_TIMEOUT_SECS", "10"),
        ("BACKSTOP_RECOVERY_SETTLE_SECS", "3"),
    ];
    let t = spawn_app_with(sim, &[extra.as_slice(), more].concat()).await;
    loader.attach(t.app.store.clone());
    World { t, loader, _bq: bq }
}

async fn scrape(t: &TestApp, date: GameDate) -> String {
    let req = ScrapeRequest {
        scraper: Scraper::PlayerProps,
        date,
        markets: MarketSelection::One(MarketType::Steals),
        trigger: Trigger::Cli,
    };
    let r = t.app.scrapes.run(&req).await.remove(0);
    r.object_name.unwrap_or_default()
}

/// Scrapes and loads the calendar, leaving one date of every kind of loss.
async fn history(w: &World, days: u32) -> std::collections::HashMap<u32, String> {
    let mut files = std::collections::HashMap::new();
    for day in 1..=days {
        if OFF_DAYS.contains(&day) || NEVER_SCRAPED.contains(&day) {
            continue;
        }
        let name = scrape(&w.t, d(day)).await;
        assert!(!name.is_empty(), "day {day} scraped");
        match day {
            NEVER_LOADED => {}
            HALF_LOADED => w.loader.load_partly(&name, 10).await,
            // The months when Phase 2 wrote `unknown` as the path.
            LOADED_AS_UNKNOWN => w.loader.load_labelled(&name, "unknown").await,
            _ => w.loader.load(&name).await,
        }
        files.insert(day, name);
    }
    // A postponed day: a stale file, no games.
    let stale = "bettingpros/player-props/steals/2026-01-20/20260120_150000.json";
    let zero = json!({"date": "2026-01-20", "props": [], "props_count": 0});
    w.t.app
        .store
        .put_new(
            stale,
            serde_json::to_vec(&zero).unwrap(),
            "application/json",
        )
        .await
        .unwrap();
    files
}

fn steals(from: u32, to: u32) -> GapQuery {
    GapQuery::new(d(from), d(to), MarketSelection::One(MarketType::Steals)).unwrap()
}

#[tokio::test]
async fn a_30_day_calendar_is_judged_then_recovered_with_every_file_sent_once() {
    let w = world(30, None, &[]).await;
    let files = history(&w, 30).await;
    w.t.app.ledger.health().await.unwrap();

    let report = w.t.app.detector.detect(&steals(1, 30)).await;
    assert_eq!(
        (report.work.storage_listings, report.work.bigquery_queries),
        (1, 1),
        "one listing, one query"
    );
    // Dates a finished run saw after they were over need no events request: the 2 off days
    // and the 2 never-scraped dates do.
    assert_eq!(report.work.events_requests, 4, "{:?}", report.work);
    let category = |day: u32| {
        report
            .row(d(day), MarketType::Steals)
            .unwrap()
            .verdict
            .category
    };
    assert_eq!(category(5), Category::OffDay);
    assert_eq!(category(20), Category::LegitimateZero);
    assert_eq!(category(3), Category::ScraperFailed);
    assert_eq!(category(15), Category::ScraperFailed);
    assert_eq!(category(NEVER_LOADED), Category::ProcessorFailed);
    assert_eq!(category(HALF_LOADED), Category::ProcessorFailed);
    assert_eq!(category(1), Category::Complete);
    let unknown_path = report
        .row(d(LOADED_AS_UNKNOWN), MarketType::Steals)
        .unwrap();
    assert_eq!(unknown_path.verdict.category, Category::Complete);
    assert!(
        unknown_path.verdict.reason.contains("'unknown'"),
        "{}",
        unknown_path.verdict.reason
    );
    let lost = report.problems().count();
    assert_eq!(lost, 4, "{}", report.table(false));
    let row = report.row(d(HALF_LOADED), MarketType::Steals).unwrap();
    assert!(
        row.verdict.reason.contains("holds 10"),
        "{}",
        row.verdict.reason
    );
    assert!(
        row.evidence.legacy.is_some(),
        "the old 150-per-game figure is reported alongside"
    );

    let req = ReprocessRequest {
        from: Some("2026-01-01".into()),
        to: Some("2026-01-30".into()),
        market: Some("steals".into()),
        ..Default::default()
    };
    let plan = w.t.app.recovery.plan(&req).await.unwrap();
    let mut kinds: Vec<(String, &str)> = plan
        .actions
        .iter()
        .map(|a| (a.date.to_string(), a.kind))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("2026-01-03".into(), "scrape"),
            ("2026-01-07".into(), "send_file"),
            ("2026-01-12".into(), "send_file"),
            ("2026-01-15".into(), "scrape")
        ]
    );
    assert!(plan.upstream_requests >= 4 && plan.eta_seconds > 0.0);
    let send = plan
        .actions
        .iter()
        .find(|a| a.date == d(NEVER_LOADED))
        .unwrap();
    assert_eq!(
        send.object_name.as_deref(),
        Some(files[&NEVER_LOADED].as_str())
    );

    // Phase 2 gets completion messages by push, as in production.
    w.t.push_to(&format!("{}/process", w.loader.url)).await;
    let submitted = w.t.app.recovery.submit(&req, None).await.unwrap();
    assert!(submitted.created);
    w.t.app.recovery.execute(&submitted.job.id).await;
    let job =
        w.t.app
            .ledger
            .job(&submitted.job.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(job.state, "done", "{job:#?}");
    let result = job.result.clone().unwrap();
    assert_eq!(
        (
            result["now_complete"].as_u64(),
            result["still_lost"].as_u64()
        ),
        (Some(4), Some(0)),
        "{result:#}"
    );

    let deliveries = w.loader.deliveries();
    assert_eq!(deliveries[&files[&NEVER_LOADED]], 1);
    assert_eq!(
        deliveries[&files[&HALF_LOADED]], 2,
        "one partial load before, one send by the recovery"
    );
    let rescraped: Vec<_> = deliveries
        .keys()
        .filter(|k| k.contains("2026-01-03") || k.contains("2026-01-15"))
        .collect();
    assert_eq!(
        rescraped.len(),
        2,
        "the re-scraped files reached Phase 2 through their completion messages"
    );

    // The same request again returns the same job; nothing is sent again.
    let again = w.t.app.recovery.submit(&req, None).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.job.id, submitted.job.id);
    let fresh =
        w.t.app
            .recovery
            .submit(&req, Some("operator-retry-1"))
            .await
            .unwrap();
    assert!(fresh.created);
    assert!(
        fresh.plan.actions.is_empty(),
        "nothing left to do: {:?}",
        fresh.plan.actions
    );
    w.t.app.recovery.execute(&fresh.job.id).await;
    assert_eq!(w.loader.deliveries(), deliveries, "no file sent twice");

    let after = w.t.app.detector.detect(&steals(1, 30)).await;
    assert_eq!(after.problems().count(), 0, "{}", after.table(false));

    // A restarted service remembers past schedules and file sizes: it asks nothing again.
    let restarted = backstop::app::App::build((*w.t.app.config).clone())
        .await
        .unwrap();
    let again = restarted.detector.detect(&steals(1, 30)).await;
    assert_eq!(
        (again.work.events_requests, again.work.files_read),
        (0, 0),
        "{:?}",
        again.work
    );
    assert_eq!(again.counts, after.counts);
}

#[tokio::test]
async fn bigquery_down_gives_unknown_with_the_reason_not_a_guess() {
    let w = world(10, Some("http://127.0.0.1:9"), &[]).await;
    history(&w, 10).await;
    let report = w.t.app.detector.detect(&steals(1, 10)).await;
    let row = |day: u32| report.row(d(day), MarketType::Steals).unwrap();
    assert_eq!(row(1).verdict.category, Category::Unknown);
    assert!(
        row(1).verdict.reason.to_lowercase().contains("bigquery"),
        "{}",
        row(1).verdict.reason
    );
    // Verdicts that need no BigQuery still stand.
    assert_eq!(row(3).verdict.category, Category::ScraperFailed);
    assert_eq!(row(5).verdict.category, Category::OffDay);
    let req = ReprocessRequest {
        from: Some("2026-01-01".into()),
        to: Some("2026-01-10".into()),
        market: Some("steals".into()),
        ..Default::default()
    };
    let plan = w.t.app.recovery.plan(&req).await.unwrap();
    assert!(
        plan.actions.iter().all(|a| a.kind == "scrape"),
        "nothing is sent on a guess: {:?}",
        plan.actions
    );
}

#[tokio::test]
async fn a_job_stopped_half_way_resumes_without_repeating_finished_actions() {
    let w = world(12, None, &[]).await;
    let files = history(&w, 12).await;
    let req = ReprocessRequest {
        dates: Some(vec!["2026-01-07".into(), "2026-01-12".into()]),
        market: Some("steals".into()),
        ..Default::default()
    };
    let submitted = w.t.app.recovery.submit(&req, None).await.unwrap();
    let job = submitted.job;
    assert_eq!(job.actions.len(), 2);
    // The first process sent the first file, got the 2xx, and died before marking the action.
    let first = &job.actions[0];
    let name = first.object_name.clone().unwrap();
    let ledger = &w.t.app.ledger;
    ledger
        .set_action_state(
            &job.id,
            first.seq,
            ActionState::Running,
            None,
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert!(ledger
        .claim_file_send(&name, &job.id, chrono::Utc::now())
        .await
        .unwrap());
    w.loader.load(&name).await;
    ledger
        .confirm_file_sent(&name, chrono::Utc::now())
        .await
        .unwrap();

    // The first instance stops: its heartbeat ends and its job is free for another.
    w.t.app.stand_down().await;
    let mut config = (*w.t.app.config).clone();
    config.recovery_settle = Duration::ZERO;
    let restarted = backstop::app::App::build(config).await.unwrap();
    assert_eq!(restarted.recovery.resume_unfinished().await, 1);
    let done = wait_finished(&restarted, &job.id).await;
    assert_eq!(done.state, "done", "{done:#?}");
    assert_eq!(done.actions[0].state, ActionState::Done);
    assert!(done.actions[0]
        .detail
        .as_deref()
        .unwrap()
        .contains("before the restart"));
    let deliveries = w.loader.deliveries();
    assert_eq!(deliveries[&name], 1, "the finished send was not repeated");
    let other = if name == files[&NEVER_LOADED] {
        &files[&HALF_LOADED]
    } else {
        &files[&NEVER_LOADED]
    };
    assert_eq!(
        ledger.file_send(other).await.unwrap().unwrap().state,
        FileSendState::Sent
    );
}

async fn wait_finished(app: &backstop::app::App, id: &str) -> backstop::ledger::JobRecord {
    for _ in 0..200 {
        let job = app.ledger.job(id).await.unwrap().unwrap();
        if job.state != "running" && job.result.is_some() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not finish in 20 s");
}

#[tokio::test]
async fn a_file_announced_a_moment_ago_is_not_sent_again_by_a_recovery() {
    // Its completion message may still be on its way to Phase 2: a send would load it twice.
    let w = world(8, None, &[("BACKSTOP_PENDING_LOAD_MINS", "60")]).await;
    let files = history(&w, 8).await;
    let req = ReprocessRequest {
        dates: Some(vec!["2026-01-07".into()]),
        market: Some("steals".into()),
        ..Default::default()
    };
    let plan = w.t.app.recovery.plan(&req).await.unwrap();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(plan.skipped[0].object_name, files[&NEVER_LOADED]);
    assert!(
        plan.skipped[0].reason.contains("announced on Pub/Sub"),
        "{}",
        plan.skipped[0].reason
    );
}
