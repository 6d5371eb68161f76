//! Fault injection: the real service, driven over HTTP as the scheduler drives it, scrapes a
//! calendar of dates from a BettingPros that injects every fault production has seen (seeded
//! 503/502/500, 429 with Retry-After, stalls past the timeout, bodies cut off, challenge pages,
//! empty bodies, invalid JSON, single 403s; brotli without `Content-Encoding` on every answer),
//! through a 403 burst, a storage outage (fake-gcs-server stopped, then restarted on its files)
//! and a Phase 2 answering 500. Then `gaps`, recovery rounds, `gaps` again, and the checks in
//! [`checks`]: nothing invalid or unmarked in storage, every date complete or reported in its
//! right category, ledger counts = files, no file loaded twice, rate never exceeded, no panic.
//!
//! Scale: 8 dates × points and steals by default (CI: about half a minute). The larger run is
//! `BACKSTOP_FAULT_DAYS=60 cargo test --test it faults -- --nocapture`: 60 dates × all six
//! markets (several minutes). `--nocapture` prints the figures either way.

mod checks;
mod figures;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backstop::calendar::GameDate;
use backstop::ledger::{RunFilter, RunRecord};
use backstop::market::MarketType;
use backstop::run::RunStatus;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::faults::{Fault, FaultPlan};
use backstop::sim::server::{SimConfig, SimServer};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::support::api::Api;
use crate::support::app::{spawn_app_on, TestApp, BUCKET, KEY};
use crate::support::bq::BqEmulator;
use crate::support::emulators::{FakeGcs, PROJECT};
use crate::support::loader::Loader;

const SEED: u64 = 20_260_101;
const FAULT_PROBABILITY: f64 = 0.25;
/// Requests per second: the service's limit and the upstream's.
const RATE: f64 = 10.0;
const ROUNDS: u32 = 6;
/// The runtime's threads: a panic on one of them is a crash of the service.
const THREADS: &str = "backstop-faults";

fn menu() -> Vec<Fault> {
    let mut menu: Vec<Fault> = [503, 502, 500, 403].map(Fault::Status).to_vec();
    menu.extend([
        Fault::RetryAfter {
            status: 429,
            value: "1".into(),
        },
        Fault::Stall(Duration::from_secs(3)),
        Fault::Truncate,
        Fault::Challenge,
        Fault::EmptyBody,
        Fault::InvalidJson,
    ]);
    menu
}

/// The dates, the markets and what the upstream knows about them.
pub struct Calendar {
    pub dates: Vec<GameDate>,
    pub markets: Vec<MarketType>,
    pub catalogue: Catalogue,
}

impl Calendar {
    fn from_env() -> Calendar {
        let days = std::env::var("BACKSTOP_FAULT_DAYS").ok();
        let (days, markets) = match days.as_deref().map(str::parse::<usize>) {
            None => (8, vec![MarketType::Points, MarketType::Steals]),
            Some(Ok(n)) if n >= 8 => (n, MarketType::ALL.to_vec()),
            Some(_) => panic!("BACKSTOP_FAULT_DAYS={days:?}: give a number of days, 8 or more"),
        };
        let first: GameDate = "2026-01-01".parse().unwrap();
        let dates: Vec<GameDate> = std::iter::successors(Some(first), |d| Some(d.succ()))
            .take(days)
            .collect();
        // Every seventh date is an off day (the first during the 403 burst at the small
        // scale); the others have 3 to 5 games.
        let schedule: Vec<(GameDate, usize)> = (0..days)
            .map(|i| (dates[i], if i % 7 == 2 { 0 } else { 3 + i % 3 }))
            .collect();
        Calendar {
            markets,
            catalogue: Catalogue::synthetic(&schedule, SEED),
            dates,
        }
    }

    pub fn games(&self, date: GameDate) -> usize {
        self.catalogue.day(date).map_or(0, |d| d.events.len())
    }

    fn range(&self) -> (String, String) {
        let (first, last) = (self.dates[0], self.dates[self.dates.len() - 1]);
        (first.to_string(), last.to_string())
    }

    /// Scheduled scrapes of `dates`, every market, four requests at a time.
    async fn scrape(&self, api: &Api, dates: &[GameDate]) -> Vec<Value> {
        let calls: Vec<(GameDate, MarketType)> = dates
            .iter()
            .flat_map(|d| self.markets.iter().map(move |m| (*d, *m)))
            .collect();
        stream::iter(calls)
            .map(|(d, m)| async move { api.scrape(&d.to_string(), m.as_str()).await })
            .buffer_unordered(4)
            .collect()
            .await
    }

    /// `GET /gaps` for every market.
    async fn gaps(&self, api: &Api) -> Vec<Value> {
        let (from, to) = self.range();
        let mut rows = Vec::new();
        for m in &self.markets {
            rows.extend(api.gaps(&from, &to, m.as_str()).await);
        }
        rows
    }

    /// One recovery round: a job per market (a new `Idempotency-Key` each round), run to the end.
    async fn recover(&self, api: &Api, round: u32, categories: Option<&[&str]>) -> Vec<Value> {
        let (from, to) = self.range();
        let mut ids = Vec::new();
        for m in &self.markets {
            let mut body = json!({"from": from, "to": to, "market": m.as_str()});
            if let Some(c) = categories {
                body["categories"] = json!(c);
            }
            ids.push(
                api.reprocess(&body, &format!("faults-round-{round}-{m}"))
                    .await,
            );
        }
        let mut jobs = Vec::new();
        for id in ids {
            jobs.push(api.finished_job(&id, Duration::from_secs(240)).await);
        }
        jobs
    }
}

/// The rows `gaps` still reports lost or unjudged.
fn problems(rows: &[Value]) -> Vec<&Value> {
    let fine = ["complete", "off_day", "legitimate_zero"];
    rows.iter()
        .filter(|r| !fine.contains(&r["verdict"]["category"].as_str().unwrap_or("")))
        .collect()
}

/// Counts panics on the threads whose name starts with `prefix`; earlier hooks still run.
fn count_panics(prefix: &'static str) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with(prefix))
        {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    count
}

#[test]
fn a_calendar_scraped_under_every_fault_loses_nothing_and_recovers_each_date_once() {
    let panics = count_panics(THREADS);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .thread_name(THREADS)
        .enable_all()
        .build()
        .expect("a runtime");
    // The upstream on threads of its own: the time it stamps on each arrival does not wait
    // for the service's work.
    let upstream = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("faults-upstream")
        .enable_all()
        .build()
        .expect("a runtime");
    let cal = Calendar::from_env();
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        announce_encoding: false,
        rate_limit: Some(RATE),
        faults: FaultPlan::seeded(SEED, FAULT_PROBABILITY, menu()),
        ..SimConfig::new(cal.catalogue.clone())
    };
    let sim = upstream
        .block_on(SimServer::start(sim))
        .expect("the local BettingPros");
    runtime.block_on(scenario(cal, sim));
    assert_eq!(
        panics.load(Ordering::SeqCst),
        0,
        "a task of the service panicked: see the output above"
    );
}

async fn scenario(cal: Calendar, sim: SimServer) {
    let started = Instant::now();
    let bq = Arc::new(BqEmulator::start(PROJECT).await);
    let loader = Loader::start(bq.clone()).await;
    let (rate, bq_url) = (RATE.to_string(), bq.url().to_string());
    let extra = [
        ("BACKSTOP_RATE_PER_SEC", rate.as_str()),
        ("BACKSTOP_TIMEOUT_SECS", "1"),
        ("BACKSTOP_MAX_ATTEMPTS", "3"),
        ("BACKSTOP_BACKOFF_BASE_MS", "20"),
        ("BACKSTOP_BACKOFF_MAX_MS", "200"),
        ("BACKSTOP_RUN_DEADLINE_SECS", "120"),
        ("BIGQUERY_EMULATOR_HOST", bq_url.as_str()),
        ("BACKSTOP_BQ_TIMEOUT_SECS", "10"),
        ("PHASE2_URL", loader.url.as_str()),
        ("BACKSTOP_PHASE2_AUTH", "off"),
        ("BACKSTOP_PHASE2_TIMEOUT_SECS", "10"),
        ("BACKSTOP_PHASE2_MAX_ATTEMPTS", "1"),
        ("BACKSTOP_RECOVERY_SETTLE_SECS", "2"),
    ];
    let gcs = FakeGcs::start_persistent(BUCKET).await;
    let mut t = spawn_app_on(sim, gcs, &extra).await;
    loader.attach(t.app.store.clone());
    let api = Api::new(t.serve().await);
    let d = &cal.dates;
    let a = d.len() / 4;
    let (unpushed, blocked, outage, partial, rest) = (
        &d[..a],
        &d[a..a + 1],
        &d[a + 1..a + 3],
        &d[a + 3..a + 4],
        &d[a + 4..],
    );

    // Before Phase 2 subscribes: these dates' files never reach it.
    cal.scrape(&api, unpushed).await;
    assert_eq!(api.health().await, 200);

    // A 403 burst: every request refused while it lasts.
    t.sim.fail_when("/v3/", Fault::Status(403));
    let blocked_runs = cal.scrape(&api, blocked).await;
    t.sim.clear_rules();

    // Storage down: runs fetch, validate, then cannot write.
    t.gcs.stop();
    assert_eq!(
        api.health().await,
        503,
        "storage down: unhealthy, but answering"
    );
    let outage_runs = cal.scrape(&api, outage).await;
    t.gcs.restart().await;
    assert_eq!(api.health().await, 200, "storage back");

    // Phase 2 subscribes by push; one date's page 2 fails whatever the retries.
    let subscribed = chrono::Utc::now();
    t.push_to(&format!("{}/process", loader.url)).await;
    let day = cal.catalogue.day(partial[0]).expect("a game day");
    let last_event = &day.events.last().expect("games")["id"];
    t.sim.fail_when(
        &format!("{last_event}&book_id=null&limit=10&page=2"),
        Fault::Status(503),
    );
    let partial_runs = cal.scrape(&api, partial).await;
    t.sim.clear_rules();
    cal.scrape(&api, rest).await;
    assert_eq!(api.health().await, 200);

    let runs = all_runs(&t).await;
    checks::burst_and_outage(&runs, &blocked_runs, &outage_runs);
    checks::page_two_made_partial_runs(&runs, &partial_runs);
    checks::wait_for_pushes(&runs, &loader, subscribed).await;
    let first = cal.gaps(&api).await;
    let unknown = checks::categories(&cal, &runs, &first, subscribed);

    // Phase 2 answers 500: a recovery of the unloaded files sends each, fails, releases it.
    loader.refuse(true);
    let refused = cal.recover(&api, 1, Some(&["processor_failed"])).await;
    loader.refuse(false);
    let refused_files = checks::sends_refused_and_released(&t, &loader, &refused).await;

    // Recovery rounds, faults still on, until gaps reports nothing lost.
    let mut rounds: Vec<Vec<Value>> = Vec::new();
    let mut last = first.clone();
    for round in 2..=ROUNDS {
        rounds.push(cal.recover(&api, round, None).await);
        checks::wait_for_pushes(&all_runs(&t).await, &loader, subscribed).await;
        last = cal.gaps(&api).await;
        if problems(&last).is_empty() {
            break;
        }
    }
    let lost: Vec<String> = problems(&last)
        .iter()
        .map(|r| format!("{} {} {}", r["date"], r["market"], r["verdict"]))
        .collect();
    assert!(
        lost.is_empty(),
        "still lost after {ROUNDS} rounds: {lost:#?}"
    );

    let runs = all_runs(&t).await;
    checks::storage_matches_the_ledger(&t, &runs).await;
    checks::lost_dates_rescraped(&cal, &runs, &d[a..a + 4]);
    checks::each_file_loaded_once(&cal, &t, &loader, &last, &refused_files).await;
    checks::rate_kept(&t.sim, RATE);
    assert_eq!(api.health().await, 200);
    figures::print(&cal, &t, &runs, &first, &rounds, unknown, started);
}

async fn all_runs(t: &TestApp) -> Vec<RunRecord> {
    let filter = RunFilter {
        limit: RunFilter::MAX_LIMIT,
        ..Default::default()
    };
    let runs = t.app.ledger.runs(&filter).await.expect("the ledger reads");
    assert!(
        runs.len() < RunFilter::MAX_LIMIT as usize,
        "more runs than one page"
    );
    assert!(
        runs.iter().all(|r| r.status != RunStatus::Running),
        "a run was left running"
    );
    runs
}
