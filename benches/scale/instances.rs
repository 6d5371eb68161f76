//! Case 6: two instances on one PostgreSQL ledger (PostgreSQL's own durability settings, not
//! the tests' `fsync=off`) scrape a game day each at the same time against a local BettingPros
//! that allows R requests a second; each instance is configured to R. They share one schedule
//! per host through the ledger, so together they should keep to R: wall ÷ (requests ÷ R) and
//! the 429s they cause. Then the cost of a permit: how many slots a second each store reserves
//! (16 tasks asking at once), on each ledger backend and in-process.
//!
//! The two instances are two `App`s in this process, each with its own owner id and its own
//! limiter; the only thing they share is the database.

#[allow(dead_code)]
#[path = "../../tests/it/support/postgres.rs"]
mod postgres;

/// What the tests' PostgreSQL harness takes from its neighbours.
mod emulators {
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding 127.0.0.1:0")
    }
}

use std::sync::Arc;
use std::time::{Duration, Instant};

use backstop::calendar::GameDate;
use backstop::fetch::limiter::InProcess;
use backstop::fetch::PaceStore;
use backstop::ledger::{Instance, Ledger, LedgerLocation};
use backstop::run::RunStatus;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::{SimConfig, SimServer};
use futures_util::future::join_all;

use crate::upstream::{build_app, scrape_day, KEY};
use crate::{Goal, Row};
use postgres::{Durability, Postgres};

const CASE: &str = "2 instances, 1 ledger";
const RATE: f64 = 5.0;
const LATENCY: Duration = Duration::from_millis(50);
const GAMES: usize = 10;
const PERMITS: usize = 2000;
const TASKS: usize = 16;

struct Race {
    wall: f64,
    requests: usize,
    violations: u64,
    not_ok: usize,
}

async fn race(pg: &Postgres) -> Race {
    let days: [GameDate; 2] = ["2026-01-14".parse().unwrap(), "2026-01-15".parse().unwrap()];
    let sim = SimServer::start(SimConfig {
        api_key: Some(KEY.into()),
        rate_limit: Some(RATE),
        latency: LATENCY,
        ..SimConfig::new(Catalogue::synthetic(
            &[(days[0], GAMES), (days[1], GAMES)],
            2026,
        ))
    })
    .await
    .expect("the local BettingPros starts");
    let url = pg.database().await;
    let extra = [("BACKSTOP_LEDGER", url.as_str())];
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut apps = Vec::new();
    for dir in &dirs {
        let rate = RATE.to_string();
        apps.push(build_app(&sim.base_url(), dir.path(), &rate, "60", &extra).await);
    }
    let start = Instant::now();
    let reports = join_all(apps.iter().zip(days).map(|(app, d)| scrape_day(app, d))).await;
    let wall = start.elapsed().as_secs_f64();
    Race {
        wall,
        requests: sim.arrivals().len(),
        violations: sim.rate_violations(),
        not_ok: reports
            .iter()
            .flatten()
            .filter(|r| r.status != RunStatus::Success)
            .count(),
    }
}

/// Reservations a second `store` makes with 16 tasks asking at once: the cost of one permit
/// of the rate limit, apart from any waiting for the rate.
async fn reservations_per_sec(store: Arc<dyn PaceStore>) -> f64 {
    let start = Instant::now();
    let tasks = (0..TASKS).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..PERMITS / TASKS {
                let now = chrono::Utc::now().timestamp_micros();
                store
                    .advance("api.example", now, 1)
                    .await
                    .expect("a reservation");
            }
        })
    });
    join_all(tasks).await;
    PERMITS as f64 / start.elapsed().as_secs_f64()
}

pub fn race_and_permits(rt: &tokio::runtime::Runtime, runs: usize) -> Vec<Row> {
    let pg = rt.block_on(Postgres::start(Durability::Production));
    let races: Vec<Race> = (0..runs).map(|_| rt.block_on(race(&pg))).collect();
    let of = |f: fn(&Race) -> f64| races.iter().map(f).collect::<Vec<f64>>();
    let setting = format!(
        "R = {RATE}/s, {} ms latency, {GAMES} games a day",
        LATENCY.as_millis()
    );
    let mut rows = vec![
        Row::median(
            CASE,
            format!("requests, both days ({setting})"),
            "",
            &of(|r| r.requests as f64),
            Goal::None,
        ),
        Row::median(
            CASE,
            "wall time, both days at once",
            "s",
            &of(|r| r.wall),
            Goal::None,
        ),
        Row::median(
            CASE,
            "wall ÷ (requests ÷ R)",
            "×",
            &of(|r| r.wall / (r.requests as f64 / RATE)),
            Goal::AtMost(1.10),
        ),
        Row::total(
            CASE,
            format!("429s from over-sending, all {runs} runs"),
            &of(|r| r.violations as f64),
            Goal::AtMost(0.0),
        ),
        Row::total(
            CASE,
            format!("runs not `success`, all {runs} runs"),
            &of(|r| r.not_ok as f64),
            Goal::AtMost(0.0),
        ),
    ];
    let mut cost = |name: &str, make: &dyn Fn() -> Arc<dyn PaceStore>| {
        let samples: Vec<f64> = (0..runs)
            .map(|_| rt.block_on(reservations_per_sec(make())))
            .collect();
        rows.push(Row::median(
            CASE,
            format!("slot reservations a second, {name} ({TASKS} tasks, {PERMITS} in all)"),
            "/s",
            &samples,
            Goal::None,
        ));
    };
    cost("in-process schedule", &|| Arc::new(InProcess::default()));
    let dir = tempfile::tempdir().unwrap();
    cost("SQLite ledger (WAL, synchronous=FULL)", &|| {
        let path = dir.path().join(format!("{:08x}.db", rand::random::<u32>()));
        Arc::new(rt.block_on(Ledger::open(&path)).expect("a SQLite ledger"))
    });
    cost(
        "PostgreSQL ledger (synchronous_commit=off for slots)",
        &|| {
            let url = rt.block_on(pg.database());
            let location = LedgerLocation::from_vars(
                &backstop::config::Vars::from_pairs([("BACKSTOP_LEDGER", url.as_str())]),
                "unused".into(),
            )
            .expect("a valid URL");
            let instance = Instance::new(Some("bench"), Duration::from_secs(60));
            Arc::new(
                rt.block_on(Ledger::connect(&location, instance))
                    .expect("a PostgreSQL ledger"),
            )
        },
    );
    rows
}
