//! Many instances, one truth: real `backstop serve` processes sharing one PostgreSQL ledger,
//! as Cloud Run runs an old and a new revision side by side during a deploy. They share one
//! rate limit per upstream host, never take each other's live work, take over a killed
//! instance's work once its lease ran out (exactly once), answer one recovery request sent to
//! both at once with one job that sends each file once, and finish a job whose instance was
//! killed mid-send (`killed_mid_send`).

mod killed_mid_send;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backstop::calendar::GameDate;
use backstop::market::MarketType;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::{SimConfig, SimServer};
use serde_json::{json, Value};

use crate::support::api::{action_kinds, Api};
use crate::support::app::{spawn_app_with, var_pairs, TestApp, KEY};
use crate::support::bq::BqEmulator;
use crate::support::emulators::PROJECT;
use crate::support::loader::{scraped_history, Loader};
use crate::support::postgres::Postgres;
use crate::support::process::Backstop;

fn d(day: u32) -> GameDate {
    format!("2026-03-{day:02}").parse().unwrap()
}

/// The environment of a `backstop serve` beside the in-process app `t`.
fn env(t: &TestApp, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let topic = t.app.config.pubsub.topic.clone();
    var_pairs(&t.sim, &t.gcs, &t.pubsub, &topic, t.dir.path(), extra)
}

async fn start(env: &[(String, String)], t: &TestApp, name: &str) -> Backstop {
    Backstop::start(env, t.dir.path().join(format!("{name}.log"))).await
}

/// Two instances, each told the upstream allows R requests a second, scrape a day each at
/// once. On one PostgreSQL ledger they keep to R together; each on its own SQLite file (as
/// before: one limiter per process) they send 2R and the upstream refuses some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_ledger_share_one_rate_limit_per_host() {
    const R: f64 = 10.0;
    let calendar = [(d(1), 2), (d(2), 2)];
    let sim = |_: ()| SimConfig {
        api_key: Some(KEY.into()),
        rate_limit: Some(R),
        latency: Duration::from_millis(20),
        ..SimConfig::new(Catalogue::synthetic(&calendar, 3))
    };
    let pg = Postgres::shared().await;
    let url = pg.database().await;
    let t = spawn_app_with(sim(()), &[("BACKSTOP_LEDGER", url.as_str())]).await;
    let rate = R.to_string();
    let shared = env(
        &t,
        &[
            ("BACKSTOP_LEDGER", url.as_str()),
            ("BACKSTOP_RATE_PER_SEC", &rate),
        ],
    );
    let (a, b) = (start(&shared, &t, "a").await, start(&shared, &t, "b").await);
    let (d1, d2) = (d(1).to_string(), d(2).to_string());
    let (x, y) = tokio::join!(a.api.scrape(&d1, "all"), b.api.scrape(&d2, "all"));
    assert_eq!(
        (x["run_status"].as_str(), y["run_status"].as_str()),
        (Some("success"), Some("success")),
        "{x} {y}"
    );
    let requests = t.sim.arrivals().len();
    assert!(
        requests >= 20,
        "both days were scraped: {requests} requests"
    );
    assert_eq!(
        t.sim.rate_violations(),
        0,
        "two instances on one ledger stay within R = {R}/s together ({requests} requests)"
    );

    // The control: the same race with a ledger (and so a limiter) per instance.
    let own = SimServer::start(sim(()))
        .await
        .expect("a second local BettingPros");
    let base = own.base_url();
    let dir = t.dir.path().display().to_string();
    let (la, lb) = (format!("{dir}/a.db"), format!("{dir}/b.db"));
    let apart = |ledger: &str| {
        let extra = [
            ("BACKSTOP_LEDGER", ledger),
            ("BACKSTOP_RATE_PER_SEC", rate.as_str()),
            ("BETTINGPROS_BASE_URL", base.as_str()),
        ];
        env(&t, &extra)
    };
    let (a, b) = (
        start(&apart(&la), &t, "c").await,
        start(&apart(&lb), &t, "d").await,
    );
    let body = |date: GameDate| json!({"scraper": "bp_player_props", "date": date.to_string(), "market_type": "all"});
    let post = |api: &Api, date| {
        reqwest::Client::new()
            .post(format!("{}/scrape", api.url))
            .json(&body(date))
            .send()
    };
    let _ = tokio::join!(post(&a.api, d(1)), post(&b.api, d(2)));
    assert!(
        own.rate_violations() > 0,
        "the control must exceed R: two limiters of R each send 2R"
    );
}

/// A (lease 2 s) is mid-run. B starts and is restarted: A's run stays `running` and finishes.
/// Then A is SIGKILLed mid-run: once its lease ran out, one of B and C, swept at once, marks
/// the run `abandoned` — once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_leaves_another_instances_run_alone_and_a_killed_owners_run_is_abandoned_once() {
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        latency: Duration::from_millis(700),
        ..SimConfig::new(Catalogue::synthetic(&[(d(3), 4), (d(4), 4)], 5))
    };
    let pg = Postgres::shared().await;
    let url = pg.database().await;
    let extra = [
        ("BACKSTOP_LEDGER", url.as_str()),
        ("BACKSTOP_LEASE_SECS", "2"),
    ];
    let t = spawn_app_with(sim, &extra).await;
    let env = env(&t, &extra);
    let a = start(&env, &t, "a").await;

    let scrape = |day: u32| {
        let api = Api::new(a.api.url.clone());
        tokio::spawn(async move { api.scrape(&d(day).to_string(), "points").await })
    };
    let first = scrape(3);
    let run = running_run(&a.api, d(3)).await;
    let b = start(&env, &t, "b").await;
    tokio::time::sleep(Duration::from_secs(3)).await; // longer than the lease: A heartbeats
    assert_eq!(
        status(&b.api, &run).await,
        "running",
        "B took nothing from a live A"
    );
    b.kill();
    let b = start(&env, &t, "b2").await;
    assert_eq!(
        status(&b.api, &run).await,
        "running",
        "a restarted B takes nothing either"
    );
    let done = first.await.expect("the scrape answered");
    assert_eq!(done["run_status"], "success", "{done}");
    assert_eq!(status(&b.api, &run).await, "success");

    let second = scrape(4);
    let run = running_run(&a.api, d(4)).await;
    a.kill();
    assert!(second.await.is_err(), "A's caller got no answer");
    let c = start(&env, &t, "c").await;
    // Cloud Scheduler's sweep reaches either instance, often both at once.
    let sweeps = || async { tokio::join!(b.api.sweep(), c.api.sweep()) };
    let began = Instant::now();
    while status(&c.api, &run).await == "running" {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "the killed run was never taken over:\n{}",
            c.log_tail()
        );
        sweeps().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = find(&c.api, &run).await;
    assert_eq!(row["status"], "abandoned", "{row:#}");
    assert!(row["props_written"].is_null(), "counts unknown: {row:#}");
    for _ in 0..5 {
        sweeps().await; // B and C keep looking
    }
    let marked: usize = [&b, &c]
        .iter()
        .map(|p| p.log_text().matches("abandoned=1").count())
        .sum();
    assert_eq!(marked, 1, "abandoned by one instance, once");
}

/// Days of a lossy week of blocks (3 games a day): the 3rd never scraped; the 2nd, 4th and 6th
/// scraped but never loaded (sent by a recovery in date order).
const DAYS: u32 = 6;
const NEVER_SCRAPED: u32 = 3;
const NEVER_LOADED: [u32; 3] = [2, 4, 6];

/// The lossy week on one PostgreSQL ledger, Phase 2 loading what is announced after `delay`
/// (its stand-in goes on loading when its caller is gone), and two `backstop serve`
/// processes, `a` and `b`, with `more` settings.
struct TwoInstances {
    t: TestApp,
    loader: Loader,
    /// The never-loaded files by date.
    unloaded: HashMap<GameDate, String>,
    a: Backstop,
    b: Backstop,
    _bq: Arc<BqEmulator>,
    _pg: Arc<Postgres>,
}

async fn two_instances_over_a_lossy_week(more: &[(&str, &str)], delay: Duration) -> TwoInstances {
    let calendar: Vec<(GameDate, usize)> = (1..=DAYS).map(|day| (d(day), 3)).collect();
    let bq = Arc::new(BqEmulator::start(PROJECT).await);
    let loader = Loader::start(bq.clone()).await;
    let pg = Postgres::shared().await;
    let url = pg.database().await;
    let bq_url = bq.url().to_string();
    let base = [
        ("BACKSTOP_LEDGER", url.as_str()),
        ("BIGQUERY_EMULATOR_HOST", bq_url.as_str()),
        ("PHASE2_URL", loader.url.as_str()),
        ("BACKSTOP_PHASE2_AUTH", "off"),
        ("BACKSTOP_RECOVERY_SETTLE_SECS", "1"),
    ];
    let extra = [base.as_slice(), more].concat();
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::new(Catalogue::synthetic(&calendar, 9))
    };
    let t = spawn_app_with(sim, &extra).await;
    loader.attach(t.app.store.clone());
    let dates = (1..=DAYS).filter(|d| *d != NEVER_SCRAPED).map(d);
    let unloaded =
        scraped_history(&t, &loader, MarketType::Blocks, dates, &NEVER_LOADED.map(d)).await;
    t.push_to(&format!("{}/process", loader.url)).await;
    loader.set_delay(delay);
    let env = env(&t, &extra);
    let (a, b) = (start(&env, &t, "a").await, start(&env, &t, "b").await);
    TwoInstances {
        t,
        loader,
        unloaded,
        a,
        b,
        _bq: bq,
        _pg: pg,
    }
}

/// The same recovery request reaches two instances at once (a retrying script behind a load
/// balancer): one job, created once, run by one owner; every lost file sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_recovery_sent_to_two_instances_at_once_is_one_job_that_sends_each_file_once() {
    // Every part is bound (`_t`, `_bq`, `_pg`), so that none is dropped while the test runs.
    let TwoInstances {
        t: _t,
        loader,
        unloaded,
        a,
        b,
        _bq,
        _pg,
    } = two_instances_over_a_lossy_week(&[], Duration::from_millis(300)).await;

    let body = json!({"from": d(1).to_string(), "to": d(DAYS).to_string(), "market": "blocks"});
    let ((sa, ja), (sb, jb)) = tokio::join!(
        a.api.reprocess_answer(&body, None),
        b.api.reprocess_answer(&body, None)
    );
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [200, 202], "created once: {ja} {jb}");
    assert_eq!(ja["job_id"], jb["job_id"], "one job");
    let id = ja["job_id"].as_str().unwrap().to_string();
    let job = a.api.finished_job(&id, Duration::from_secs(90)).await;
    assert_eq!(job["state"], "done", "{job:#}");
    let kinds = action_kinds(&job);
    assert_eq!(
        kinds.iter().filter(|k| **k == "send_file").count(),
        NEVER_LOADED.len()
    );
    assert_eq!(kinds.iter().filter(|k| **k == "scrape").count(), 1);
    for a in job["actions"].as_array().unwrap() {
        assert_eq!(a["attempts"], 1, "each action ran once: {a:#}");
    }
    loader.assert_sent_once_and_none_loaded_twice(unloaded.values());
    let ran_actions = |p: &Backstop| {
        let log = p.log_text();
        log.lines().any(|l| l.contains(&id) && l.contains(" seq="))
    };
    let owners = [&a, &b].into_iter().filter(|p| ran_actions(p)).count();
    assert_eq!(owners, 1, "one instance ran the job");
}

/// Waits for the date's run to be recorded `running`; returns its id.
async fn running_run(api: &Api, date: GameDate) -> String {
    let began = Instant::now();
    loop {
        let runs = api.runs(&format!("date={date}&status=running")).await;
        if let Some(r) = runs.first() {
            return r["run_id"].as_str().unwrap().to_string();
        }
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "no run started for {date}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn find(api: &Api, run_id: &str) -> Value {
    let runs = api.runs("limit=100").await;
    runs.into_iter()
        .find(|r| r["run_id"] == run_id)
        .unwrap_or_else(|| panic!("run {run_id} is not in the ledger"))
}

async fn status(api: &Api, run_id: &str) -> String {
    find(api, run_id).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
