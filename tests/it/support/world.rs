//! A labelled calendar for the recovery and status-page tests: a local BettingPros with a
//! January of 4-game days (two without games), fake-gcs-server, the BigQuery emulator and a
//! stand-in Phase 2 that really loads; `history` scrapes and loads steals, leaving one date of
//! every kind of loss, and [`category`] says which verdict each day should get.

use std::collections::HashMap;
use std::sync::Arc;

use backstop::calendar::GameDate;
use backstop::gaps::Category;
use backstop::market::{MarketSelection, MarketType};
use backstop::run::{Scraper, Trigger};
use backstop::scrape::ScrapeRequest;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::SimConfig;
use serde_json::json;

use super::app::{spawn_app_with, var_pairs, TestApp, KEY};
use super::bq::BqEmulator;
use super::emulators::PROJECT;
use super::loader::Loader;

/// 2026-01-`day`.
pub fn d(day: u32) -> GameDate {
    format!("2026-01-{day:02}").parse().unwrap()
}

pub const OFF_DAYS: [u32; 2] = [5, 20];
pub const NEVER_SCRAPED: [u32; 2] = [3, 15];
pub const NEVER_LOADED: u32 = 7;
pub const HALF_LOADED: u32 = 12;
pub const LOADED_AS_UNKNOWN: u32 = 25;
/// Day 20 has no games but holds a stale file without rows.
pub const STALE_FILE_DAY: u32 = 20;

/// The verdict [`history`] leaves on a day of the steals market. The half-loaded day is
/// complete: its newest file has rows (a short load, reported beside it, never re-sent).
pub fn category(day: u32) -> Category {
    match day {
        STALE_FILE_DAY => Category::LegitimateZero,
        d if OFF_DAYS.contains(&d) => Category::OffDay,
        d if NEVER_SCRAPED.contains(&d) => Category::ScraperFailed,
        NEVER_LOADED => Category::ProcessorFailed,
        _ => Category::Complete,
    }
}

pub struct World {
    pub t: TestApp,
    pub loader: Loader,
    _bq: Arc<BqEmulator>,
}

impl World {
    /// The recovery job `id` as the ledger has it now (read without advancing it).
    pub async fn job(&self, id: &str) -> backstop::ledger::JobRecord {
        let job = self.t.app.ledger.job(id).await;
        job.unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no job {id}"))
    }
}

/// The service over `days` days (4 games a day but on the off days); `bq_host` replaces the
/// BigQuery emulator's address (e.g. a dead one); `more` adds settings.
pub async fn world(days: u32, bq_host: Option<&str>, more: &[(&str, &str)]) -> World {
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

/// Scrapes steals for `date`; the object written, or "" when none was.
pub async fn scrape(t: &TestApp, date: GameDate) -> String {
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
pub async fn history(w: &World, days: u32) -> HashMap<u32, String> {
    let mut files = HashMap::new();
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

/// The environment of a `backstop` process on the same world as the in-process service (the
/// emulators, the ledger, Phase 2), with quiet logs; `extra` overrides or adds.
pub fn process_env(w: &World, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let config = &w.t.app.config;
    let bq = config
        .warehouse
        .emulator
        .clone()
        .expect("the BigQuery emulator");
    let settings = [
        ("BIGQUERY_EMULATOR_HOST", bq.as_str()),
        ("BACKSTOP_BQ_MAX_ATTEMPTS", "1"),
        ("PHASE2_URL", w.loader.url.as_str()),
        ("BACKSTOP_PHASE2_AUTH", "off"),
        ("BACKSTOP_RECOVERY_SETTLE_SECS", "3"),
        ("RUST_LOG", "warn"),
    ];
    let (t, topic) = (&w.t, config.pubsub.topic.as_str());
    let all = [settings.as_slice(), extra].concat();
    var_pairs(&t.sim, &t.gcs, &t.pubsub, topic, t.dir.path(), &all)
}
