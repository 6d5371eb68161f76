//! Case 5's world, built once per bench process: a synthetic 180-day season (one date in ten
//! without games, the others 5–12 games) scraped with `market all` from the local BettingPros
//! into a local store (each request storing the day's events file too), and the BigQuery emulator holding Phase 2's rows for most files — some
//! partly, some not at all, some under the `unknown` path — with the verdict each (date,
//! market) should get.

use std::collections::HashMap;
use std::time::Instant;

use backstop::app::App;
use backstop::bettingpros::rows_in_props_file;
use backstop::calendar::GameDate;
use backstop::gaps::{Category, GapQuery};
use backstop::market::{MarketSelection, MarketType};
use backstop::run::{RunStatus, Scraper, Trigger};
use backstop::scrape::ScrapeRequest;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::{SimConfig, SimServer};
use serde_json::{json, Value};

use crate::bq::{self, Counted, Emulator};
use crate::upstream::{build_app, KEY};

pub const DAYS: u64 = 180;
const SEED: u64 = 2025;
const PROJECT: &str = "bench-proj";
/// backstop's rate towards the local BettingPros (which adds no latency and sets no limit):
/// the most `BACKSTOP_RATE_PER_SEC` accepts.
pub const RATE: f64 = 1000.0;
/// Files per DML statement when loading counted rows.
pub const PER_INSERT: usize = 100;

/// SplitMix64: a seeded, dependency-free draw per date and market.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The season from 2025-10-21: about one date in ten without games, the others 5–12 games.
fn calendar() -> Vec<(GameDate, usize)> {
    let first: GameDate = "2025-10-21".parse().expect("a valid date");
    std::iter::successors(Some(first), |d| Some(d.succ()))
        .take(DAYS as usize)
        .enumerate()
        .map(|(i, d)| {
            let draw = mix(SEED ^ i as u64);
            let games = if draw % 10 == 0 {
                0
            } else {
                5 + (draw >> 8) % 8
            };
            (d, games as usize)
        })
        .collect()
}

/// About one game date in sixty was never scraped (its six markets: `scraper_failed`).
fn never_scraped(i: usize) -> bool {
    mix(SEED ^ 0x5CA1E ^ i as u64) % 60 == 0
}

/// What Phase 2 did with a file.
#[derive(Clone, Copy)]
enum Load {
    Full,
    /// Fully, with `source_file_path` written as `unknown` (as from 2025-11-19 to 2026-06-03).
    AsUnknown,
    /// Half of its rows: a load that broke off.
    Partly,
    Not,
}

fn plan(i: usize, market: usize, date: GameDate) -> Load {
    let unknown_era = ("2025-11-19".parse().ok()..="2026-06-03".parse().ok()).contains(&Some(date));
    match mix(SEED ^ ((i as u64) << 8) ^ market as u64) % 100 {
        0..=4 => Load::Not,
        5..=9 => Load::Partly,
        10..=19 if unknown_era => Load::AsUnknown,
        _ => Load::Full,
    }
}

/// What was built once per bench process; the processes it started stop when it is dropped.
pub struct World {
    dir: tempfile::TempDir,
    sim: SimServer,
    bq: Emulator,
    pub query: GapQuery,
    /// The verdict each (date, market) should get.
    pub expected: HashMap<(GameDate, MarketType), Category>,
    /// Every complete props file (the newest, and only, of its date and market).
    pub files: Vec<String>,
    pub setup: Setup,
}

/// What building the world took.
pub struct Setup {
    pub game_days: usize,
    /// Requests the local BettingPros answered during the scrape, and its wall time.
    pub requests: usize,
    pub scrape_s: f64,
    /// Events files the props requests stored, one per scraped date.
    pub events_files: usize,
    pub file_bytes: u64,
    /// Rows the files yield, and rows put in the table.
    pub yielded: u64,
    pub in_table: u64,
    /// Full rows streamed with `insertAll` (one date's), and how long that took.
    pub streamed: usize,
    pub insert_all_s: f64,
    /// The other rows, inserted as counted rows by DML.
    pub dml_s: f64,
}

impl World {
    /// A fresh backstop on the world's store, local BettingPros and BigQuery emulator, with an
    /// empty ledger of its own: nothing remembered (schedules, file row counts, runs), so
    /// detection takes its cold path.
    pub async fn app(&self) -> App {
        let ledger = self
            .dir
            .path()
            .join(format!("cold-{:016x}.db", rand::random::<u64>()));
        let ledger = ledger.display().to_string();
        let extra = [
            ("BIGQUERY_EMULATOR_HOST", self.bq.url()),
            ("GCP_PROJECT_ID", PROJECT),
            ("BACKSTOP_BQ_TIMEOUT_SECS", "120"),
            ("BACKSTOP_LEDGER", ledger.as_str()),
        ];
        let base = self.sim.base_url();
        build_app(&base, self.dir.path(), &RATE.to_string(), "60", &extra).await
    }
}

/// One of Phase 2's rows per prop × side × sportsbook line of a props file (the tests' loader).
fn full_rows(file: &Value, label: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    for p in file["props"].as_array().into_iter().flatten() {
        for side in ["over", "under"] {
            for b in p[side]["sportsbooks"].as_array().into_iter().flatten() {
                rows.push(json!({
                    "game_date": file["date"], "market_type": file["market_type"],
                    "source_file_path": label, "event_id": p["event_id"],
                    "offer_id": p["offer_id"], "player_id": p["player_id"],
                    "player_name": p["player_name"], "player_team": p["player_team"],
                    "book_id": b["book_id"], "line": b["line"], "odds": b["odds"],
                    "active": b["active"], "best": b["best"], "updated": b["updated"],
                }));
            }
        }
    }
    rows
}

/// Scrapes every date but the never-scraped ones: (date index, date, market, object name) of
/// each complete props file, and the requests the upstream answered.
async fn scrape(
    app: &App,
    sim: &SimServer,
    days: &[(GameDate, usize)],
) -> Result<(Vec<(usize, GameDate, MarketType, String)>, usize), String> {
    let (mut files, mut not_ok) = (Vec::new(), 0);
    for (i, &(date, games)) in days.iter().enumerate() {
        if games > 0 && never_scraped(i) {
            continue;
        }
        let req = ScrapeRequest {
            scraper: Scraper::PlayerProps,
            date,
            markets: MarketSelection::All,
            trigger: Trigger::Cli,
        };
        for r in app.scrapes.run(&req).await {
            match (r.status, r.object_name, r.market) {
                (RunStatus::Success, Some(name), Some(m)) => files.push((i, date, m, name)),
                (RunStatus::NoData, ..) => {}
                _ => not_ok += 1,
            }
        }
    }
    if not_ok > 0 {
        return Err(format!("{not_ok} scrape runs of the setup did not succeed"));
    }
    Ok((files, sim.arrivals().len()))
}

pub async fn build() -> Result<World, String> {
    let days = calendar();
    let sim = SimServer::start(SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::new(Catalogue::synthetic(&days, SEED))
    })
    .await
    .map_err(|e| format!("the local BettingPros: {e}"))?;
    let bq = Emulator::start(PROJECT).await;
    bq::create_table(&bq).await;
    let from = days.first().map(|d| d.0).ok_or("no dates")?;
    let to = days.last().map(|d| d.0).ok_or("no dates")?;
    let mut world = World {
        dir: tempfile::tempdir().map_err(|e| e.to_string())?,
        sim,
        bq,
        query: GapQuery::new(from, to, MarketSelection::All)?,
        expected: HashMap::new(),
        files: Vec::new(),
        setup: Setup {
            game_days: days.iter().filter(|d| d.1 > 0).count(),
            requests: 0,
            scrape_s: 0.0,
            events_files: 0,
            file_bytes: 0,
            yielded: 0,
            in_table: 0,
            streamed: 0,
            insert_all_s: 0.0,
            dml_s: 0.0,
        },
    };
    let app = world.app().await;
    let started = Instant::now();
    let (files, requests) = scrape(&app, &world.sim, &days).await?;
    world.setup.scrape_s = started.elapsed().as_secs_f64();
    world.setup.requests = requests;
    let events = app.store.list("bettingpros/events/").await;
    world.setup.events_files = events.map_err(|e| e.to_string())?.len();
    for &(date, games) in &days {
        let none = match games {
            0 => Category::OffDay,
            _ => Category::ScraperFailed,
        };
        for m in MarketType::ALL {
            world.expected.insert((date, m), none);
        }
    }
    load(&app, &mut world, &files).await?;
    world.files = files.into_iter().map(|f| f.3).collect();
    Ok(world)
}

/// Phase 2's rows by plan: the first game date's as full rows through `insertAll` (to time
/// it), the others as counted rows.
async fn load(
    app: &App,
    world: &mut World,
    files: &[(usize, GameDate, MarketType, String)],
) -> Result<(), String> {
    let (mut counted, mut streamed) = (Vec::new(), Vec::new());
    let first_game_date = files.first().map(|f| f.1);
    for (i, date, m, name) in files {
        let bytes = app.store.get(name).await.map_err(|e| e.to_string())?;
        world.setup.file_bytes += bytes.len() as u64;
        let file: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{name}: {e}"))?;
        let rows = rows_in_props_file(&file).map_err(|e| format!("{name}: {e}"))?;
        world.setup.yielded += rows;
        let index = MarketType::ALL.iter().position(|x| x == m).unwrap_or(0);
        let (label, n, verdict) = match plan(*i, index, *date) {
            Load::Full => (name.as_str(), rows, Category::Complete),
            Load::AsUnknown => ("unknown", rows, Category::Complete),
            // A short load: complete, reported, never sent again.
            Load::Partly => (name.as_str(), rows / 2, Category::Complete),
            Load::Not => (name.as_str(), 0, Category::ProcessorFailed),
        };
        world.expected.insert((*date, *m), verdict);
        if Some(*date) == first_game_date {
            let mut full = full_rows(&file, label);
            full.truncate(n as usize);
            streamed.extend(full);
        } else {
            counted.push((date.to_string(), m.as_str(), label, n));
        }
    }
    let started = Instant::now();
    bq::insert_all(&world.bq, &streamed).await;
    world.setup.insert_all_s = started.elapsed().as_secs_f64();
    world.setup.streamed = streamed.len();
    world.setup.in_table = streamed.len() as u64;
    let started = Instant::now();
    for chunk in counted.chunks(PER_INSERT) {
        let specs: Vec<Counted> = chunk
            .iter()
            .map(|(date, market, label, rows)| Counted {
                date,
                market,
                label,
                rows: *rows,
            })
            .collect();
        world.setup.in_table += bq::insert_counted(&world.bq, PROJECT, &specs).await?;
    }
    world.setup.dml_s = started.elapsed().as_secs_f64();
    Ok(())
}
