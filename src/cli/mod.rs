//! The command line: `serve`, `scrape`, `runs`, `gaps`, `reprocess`, `demo`. Thin: each
//! command calls the library.

#[cfg(feature = "sim")]
mod demo;
mod recovery;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::App;
use crate::config::Config;
use crate::query::runs::run_filter;
use crate::query::scrape::{answer, parse_scrape};
use crate::report::RunReport;
use crate::run::RunStatus;

#[derive(Parser)]
#[command(
    name = "backstop",
    version,
    about = "Keeps the BettingPros part of the NBA props pipeline from losing data"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API on $PORT (default 8080).
    Serve,
    /// Scrape one date now: `backstop scrape bp_player_props --date YESTERDAY --market all`.
    Scrape {
        /// bp_events or bp_player_props.
        scraper: String,
        /// YYYY-MM-DD, TODAY or YESTERDAY (US Eastern).
        #[arg(long, default_value = "TODAY")]
        date: String,
        /// points, rebounds, assists, threes, steals, blocks or all (props only).
        #[arg(long, default_value = "points")]
        market: String,
        /// Print the `/scrape` answer as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// List runs from the ledger, newest first.
    Runs {
        #[arg(long)]
        scraper: Option<String>,
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        market: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Lost dates: evidence and verdict per date and market (exit 1 when something is lost).
    Gaps {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// One market, or all six; by default the markets the schedule scrapes
        /// (scrapers/bp_player_props.json).
        #[arg(long)]
        market: Option<String>,
        #[arg(long)]
        json: bool,
        /// Show complete days and off days too.
        #[arg(long)]
        all: bool,
    },
    /// Recover lost dates: re-scrape what was never scraped, send unloaded files to Phase 2 once.
    Reprocess {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Instead of a range: comma-separated dates.
        #[arg(long, value_delimiter = ',')]
        dates: Option<Vec<String>>,
        /// One market, or all six; by default the markets the schedule scrapes.
        #[arg(long)]
        market: Option<String>,
        /// Only these categories (scraper_failed, processor_failed), comma-separated.
        #[arg(long, value_delimiter = ',')]
        category: Option<Vec<String>>,
        /// Print the plan only.
        #[arg(long)]
        dry_run: bool,
        /// Idempotency key: it names one job for ever (the same key again shows that job).
        /// Without one, the same request starts a new job once the last one finished.
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Hand-overs to Phase 2 whose outcome is unknown: settle what the table's rows can settle,
    /// list the rest, or settle one by hand after checking BigQuery (`confirm`: its rows are
    /// there; `release`: they are not, a recovery may send it once).
    Claims {
        /// `list` (default), `confirm` or `release`.
        #[arg(default_value = "list")]
        action: String,
        /// The object name, for confirm and release.
        object: Option<String>,
    },
    /// Offline: scrape a full synthetic game day from an in-process BettingPros (brotli, with
    /// injected faults) into a local store, and print what was written. Needs the `sim`
    /// feature (on by default; the production image leaves it out).
    Demo {
        #[arg(long, default_value = "2026-01-14")]
        date: String,
        /// Where the local store and ledger go.
        #[arg(long, default_value = "backstop-data/demo")]
        out: PathBuf,
    },
}

/// Exit codes: 0 success or no data; 1 failed; 2 partial; 3 bad input or configuration.
pub async fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve => crate::serve::run().await,
        Command::Scrape {
            scraper,
            date,
            market,
            json,
        } => scrape(&scraper, &date, &market, json).await,
        Command::Runs {
            scraper,
            date,
            market,
            status,
            limit,
            json,
        } => runs(scraper, date, market, status, limit, json).await,
        #[cfg(feature = "sim")]
        Command::Demo { date, out } => demo::run(&date, &out).await,
        #[cfg(not(feature = "sim"))]
        Command::Demo { .. } => usage(DEMO_LEFT_OUT),
        Command::Claims { action, object } => match build().await {
            Ok(app) => recovery::claims(&app, &action, object.as_deref()).await,
            Err(code) => code,
        },
        Command::Gaps {
            from,
            to,
            market,
            json,
            all,
        } => match build().await {
            Ok(app) => recovery::gaps(&app, &from, &to, market.as_deref(), json, all).await,
            Err(code) => code,
        },
        Command::Reprocess {
            from,
            to,
            dates,
            market,
            category,
            dry_run,
            key,
            json,
        } => {
            let req = crate::reprocess::ReprocessRequest {
                from,
                to,
                dates,
                market,
                categories: category,
                dry_run,
            };
            match build().await {
                Ok(app) => recovery::reprocess(&app, req, key, json).await,
                Err(code) => code,
            }
        }
    }
}

/// What `backstop demo` says in a build without the local BettingPros (the production image).
#[cfg(not(feature = "sim"))]
const DEMO_LEFT_OUT: &str = "demo needs the local BettingPros, which this build leaves out: \
    build with the `sim` feature (on by default; the production image is built with \
    --no-default-features), e.g. `cargo run -- demo`";

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("backstop: {msg}");
    ExitCode::from(3)
}

async fn build() -> Result<App, ExitCode> {
    let config = Config::from_env().map_err(usage)?;
    App::build(config).await.map_err(usage)
}

async fn scrape(scraper: &str, date: &str, market: &str, json: bool) -> ExitCode {
    let req = match parse_scrape(scraper, date, market) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let app = match build().await {
        Ok(a) => a,
        Err(code) => return code,
    };
    let reports = app.scrapes.run(&req).await;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&answer(req, &reports)).unwrap_or_default()
        );
    } else {
        print_reports(&reports);
    }
    exit_code(&reports)
}

pub fn print_reports(reports: &[RunReport]) {
    for r in reports {
        let market = r.market.map(|m| format!(" {m}")).unwrap_or_default();
        let kind = r.error_kind.map(|k| format!(" [{k}]")).unwrap_or_default();
        println!(
            "{} {}{} {}{}: {}",
            r.scraper, r.date, market, r.status, kind, r.message
        );
        if let Some(name) = &r.object_name {
            println!("    wrote {name}");
        }
    }
}

pub fn exit_code(reports: &[RunReport]) -> ExitCode {
    let statuses: Vec<RunStatus> = reports.iter().map(|r| r.status).collect();
    if statuses.is_empty()
        || statuses
            .iter()
            .any(|s| matches!(s, RunStatus::Failed | RunStatus::Abandoned))
    {
        ExitCode::from(1)
    } else if statuses.contains(&RunStatus::Partial) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

async fn runs(
    scraper: Option<String>,
    date: Option<String>,
    market: Option<String>,
    status: Option<String>,
    limit: u32,
    json: bool,
) -> ExitCode {
    let mut q = std::collections::HashMap::new();
    for (k, v) in [
        ("scraper", scraper),
        ("date", date),
        ("market", market),
        ("status", status),
    ] {
        if let Some(v) = v {
            q.insert(k.to_string(), v);
        }
    }
    q.insert("limit".into(), limit.to_string());
    let filter = match run_filter(&q) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let ledger = &config.ledger;
    let ledger = match crate::ledger::Ledger::connect(&ledger.location, ledger.instance()).await {
        Ok(l) => l,
        Err(e) => return usage(e),
    };
    let runs = match ledger.runs(&filter).await {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runs).unwrap_or_default()
        );
    } else {
        println!(
            "{:<16}  {:<15}  {:<10}  {:<8}  {:<9}  {:>5}  {:>7}  {:<20}  message",
            "run", "scraper", "date", "market", "status", "props", "pages", "started (UTC)"
        );
        for r in &runs {
            let pages = match (r.pages_fetched, r.pages_total) {
                (Some(f), Some(t)) => format!("{f}/{t}"),
                (Some(f), None) => f.to_string(),
                _ => "-".into(),
            };
            println!(
                "{:<16}  {:<15}  {:<10}  {:<8}  {:<9}  {:>5}  {:>7}  {:<20}  {}",
                r.run_id,
                r.scraper.name(),
                r.game_date.to_string(),
                r.market.map(|m| m.as_str()).unwrap_or("-"),
                r.status.as_str(),
                r.props_written
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                pages,
                r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.error_message.as_deref().unwrap_or("")
            );
        }
    }
    ExitCode::SUCCESS
}
