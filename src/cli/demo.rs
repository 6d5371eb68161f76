//! `backstop demo`: the main job, offline. An in-process BettingPros serves a synthetic game
//! day (brotli bodies, a few injected faults); backstop scrapes events and all six markets
//! into a local store and ledger, and prints what it wrote.

use std::path::Path;
use std::process::ExitCode;

use crate::app::App;
use crate::calendar::GameDate;
use crate::config::{Config, Vars};
use crate::ledger::RunFilter;
use crate::market::MarketSelection;
use crate::run::{Scraper, Trigger};
use crate::scrape::ScrapeRequest;
use crate::sim::catalogue::Catalogue;
use crate::sim::faults::{Fault, FaultPlan};
use crate::sim::server::{Encoding, SimConfig, SimServer};

const DEMO_KEY: &str = "demo-key";

pub async fn run(date: &str, out: &Path) -> ExitCode {
    let date: GameDate = match date.parse() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("backstop demo: {e}");
            return ExitCode::from(3);
        }
    };
    let faults = FaultPlan::seeded(
        7,
        0.1,
        vec![
            Fault::Status(502),
            Fault::Status(503),
            Fault::RetryAfter {
                status: 429,
                value: "1".into(),
            },
            Fault::Challenge,
            Fault::Truncate,
            Fault::EmptyBody,
        ],
    );
    let sim = SimConfig {
        api_key: Some(DEMO_KEY.into()),
        encoding: Encoding::Brotli,
        faults,
        ..SimConfig::new(Catalogue::synthetic(&[(date, 10)], 2026))
    };
    let sim = match SimServer::start(sim).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("backstop demo: cannot start the local BettingPros: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base = sim.base_url();
    let store = out.join("store").display().to_string();
    let ledger = out.join("ledger.db").display().to_string();
    let vars = Vars::from_pairs([
        ("BETTINGPROS_BASE_URL", base.as_str()),
        ("BETTINGPROS_API_KEY", DEMO_KEY),
        ("BACKSTOP_RATE_PER_SEC", "20"),
        ("BACKSTOP_BACKOFF_BASE_MS", "100"),
        ("BACKSTOP_BACKOFF_MAX_MS", "1000"),
        ("BACKSTOP_TIMEOUT_SECS", "5"),
        ("BACKSTOP_STORAGE", store.as_str()),
        ("BACKSTOP_LEDGER", ledger.as_str()),
        ("BACKSTOP_NOTIFY", "off"),
    ]);
    let app = match Config::from_vars(&vars) {
        Ok(config) => match App::build(config).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("backstop demo: {e}");
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("backstop demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("backstop demo: scraping {date} from a local BettingPros at {base} into {store}");
    // As the deployed schedule does: the props scraper asks for the day's events once and
    // stores them as the events file (a `bp_events` run of its own), then the six markets.
    let req = ScrapeRequest {
        scraper: Scraper::PlayerProps,
        date,
        markets: MarketSelection::All,
        trigger: Trigger::Cli,
    };
    let reports = app.scrapes.run(&req).await;
    super::print_reports(&reports);
    let arrivals = sim.arrivals();
    let faults = arrivals
        .iter()
        .filter(|a| a.answer.starts_with("fault"))
        .count();
    let props: u64 = reports
        .iter()
        .filter(|r| r.scraper == Scraper::PlayerProps)
        .map(|r| r.counts.props_written)
        .sum();
    let day = RunFilter {
        game_date: Some(date),
        ..RunFilter::default()
    };
    let runs = app
        .ledger
        .runs(&day)
        .await
        .map_or(reports.len(), |r| r.len());
    println!(
        "{runs} runs (the events file and six markets), {props} props written, {} upstream requests ({faults} answered with an injected fault and retried); ledger at {ledger}",
        arrivals.len()
    );
    let runs = super::demo_runs(&out.join("ledger.db"));
    println!(
        "see its runs: {runs} (from a checkout: {})",
        runs.replace("backstop runs", "cargo run -- runs")
    );
    super::exit_code(&reports)
}
