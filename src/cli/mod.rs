//! The command line: `serve`, `scrape`, `runs`, `gaps`, `reprocess`, `claims`, `demo`. Thin:
//! each command calls the library. `runs`, `gaps`, `reprocess` and `claims` work here or on a
//! running service (`--url`, or `BACKSTOP_URL`), through the same answers ([`service`]).

mod args;
#[cfg(feature = "sim")]
mod demo;
mod recovery;
mod remote;
mod service;
mod show;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::App;
use crate::config::{Config, Vars};
use crate::market::{MarketSelection, MarketType};
use crate::query::scrape::{answer, parse_scrape};
use crate::query::{Params, QueryError};
use crate::report::RunReport;
use crate::run::{RunStatus, Scraper};
use args::Actionable;
use service::Service;

#[derive(Parser)]
#[command(
    name = "backstop",
    version,
    about = "Keeps the BettingPros part of the NBA props pipeline from losing data"
)]
pub struct Cli {
    /// A running service to ask instead of this machine's ledger and storage (runs, gaps,
    /// reprocess, claims): e.g. https://backstop-….a.run.app. Sends BACKSTOP_ADMIN_TOKEN and,
    /// for https, Google's identity token (gcloud auth print-identity-token).
    #[arg(long, global = true, env = "BACKSTOP_URL", value_name = "URL")]
    pub url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Dates: YYYY-MM-DD, TODAY or YESTERDAY (US Eastern).
const DATE: &str = "DATE";

/// Where `backstop demo` writes by default: its store, and its ledger beside it.
const DEMO_OUT: &str = "backstop-data/demo";

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API on $PORT (default 8080).
    Serve,
    /// Scrape one date now: `backstop scrape bp_player_props --date YESTERDAY --market all`.
    Scrape {
        /// Which scraper.
        #[arg(value_enum)]
        scraper: Scraper,
        /// The game date: YYYY-MM-DD, TODAY or YESTERDAY (US Eastern).
        #[arg(long, default_value = "TODAY", value_name = DATE)]
        date: String,
        /// One market, or all six (props only).
        #[arg(long, value_enum, ignore_case = true, default_value = "points")]
        market: MarketSelection,
        /// Print the `/scrape` answer as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// List runs from the ledger, newest first.
    Runs {
        /// Only this scraper's runs.
        #[arg(long, value_enum)]
        scraper: Option<Scraper>,
        /// Only runs for this game date: YYYY-MM-DD, TODAY or YESTERDAY (US Eastern).
        #[arg(long, value_name = DATE)]
        date: Option<String>,
        /// Only this market's runs.
        #[arg(long, value_enum, ignore_case = true)]
        market: Option<MarketType>,
        /// Only runs that ended so (or are still running).
        #[arg(long, value_enum)]
        status: Option<RunStatus>,
        /// At most this many runs (1 to 1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print the runs as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lost dates: evidence and verdict per date and market (exit 1 when something is lost).
    Gaps {
        /// First date: YYYY-MM-DD, TODAY or YESTERDAY (US Eastern).
        #[arg(long, value_name = DATE)]
        from: String,
        /// Last date, included (at most 400 days after --from).
        #[arg(long, value_name = DATE)]
        to: String,
        /// One market, or all six; by default the markets the schedule scrapes
        /// (scrapers/bp_player_props.json).
        #[arg(long, value_enum, ignore_case = true)]
        market: Option<MarketSelection>,
        /// Print the report as JSON (as GET /gaps answers).
        #[arg(long)]
        json: bool,
        /// Show complete days and off days too.
        #[arg(long)]
        all: bool,
    },
    /// Recover lost dates: re-scrape what was never scraped, send unloaded files to Phase 2 once.
    Reprocess {
        /// First date: YYYY-MM-DD, TODAY or YESTERDAY (US Eastern).
        #[arg(long, value_name = DATE)]
        from: Option<String>,
        /// Last date, included.
        #[arg(long, value_name = DATE)]
        to: Option<String>,
        /// Instead of a range: comma-separated dates.
        #[arg(long, value_delimiter = ',', value_name = "DATES")]
        dates: Option<Vec<String>>,
        /// One market, or all six; by default the markets the schedule scrapes.
        #[arg(long, value_enum, ignore_case = true)]
        market: Option<MarketSelection>,
        /// Only these categories, comma-separated (default both).
        #[arg(long, value_enum, value_delimiter = ',')]
        category: Option<Vec<Actionable>>,
        /// Print the plan only.
        #[arg(long)]
        dry_run: bool,
        /// Idempotency key: it names one job for ever (the same key again shows that job).
        /// Without one, the same request starts a new job once the last one finished.
        #[arg(long)]
        key: Option<String>,
        /// Print the plan or the finished job as JSON.
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
        /// The game date to make up and scrape.
        #[arg(long, default_value = "2026-01-14", value_name = DATE)]
        date: String,
        /// Where the local store and ledger go.
        #[arg(long, default_value = DEMO_OUT)]
        out: PathBuf,
    },
}

/// Exit codes: 0 success or no data; 1 failed; 2 partial; 3 bad input or configuration.
pub async fn main(cli: Cli) -> ExitCode {
    let url = cli.url;
    let service = || service(url.as_deref());
    match cli.command {
        Command::Serve => crate::serve::run().await,
        Command::Scrape { .. } | Command::Demo { .. } if url.is_some() => usage(format!(
            "--url (or BACKSTOP_URL) works with runs, gaps, reprocess and claims; this command runs here: unset BACKSTOP_URL, or ask the service with POST {}/scrape",
            url.as_deref().unwrap_or_default().trim_end_matches('/')
        )),
        Command::Scrape {
            scraper,
            date,
            market,
            json,
        } => scrape(scraper, &date, market, json).await,
        #[cfg(feature = "sim")]
        Command::Demo { date, out } => demo::run(&date, &out).await,
        #[cfg(not(feature = "sim"))]
        Command::Demo { .. } => usage(DEMO_LEFT_OUT),
        Command::Runs {
            scraper,
            date,
            market,
            status,
            limit,
            json,
        } => {
            let q = params([
                ("scraper", scraper.map(|s| s.name().to_string())),
                ("date", date),
                ("market", market.map(|m| m.as_str().to_string())),
                ("status", status.map(|s| s.as_str().to_string())),
                ("limit", Some(limit.to_string())),
            ]);
            match service().await {
                Ok(s) => runs(&s, &q, json).await,
                Err(code) => code,
            }
        }
        Command::Claims { action, object } => match service().await {
            Ok(s) => recovery::claims(&s, &action, object.as_deref()).await,
            Err(code) => code,
        },
        Command::Gaps {
            from,
            to,
            market,
            json,
            all,
        } => {
            let q = params([
                ("from", Some(from)),
                ("to", Some(to)),
                ("market", market.map(|m| m.to_string())),
            ]);
            match service().await {
                Ok(s) => recovery::gaps(&s, &q, json, all).await,
                Err(code) => code,
            }
        }
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
                market: market.map(|m| m.to_string()),
                categories: category
                    .map(|list| list.iter().map(|c| c.0.as_str().to_string()).collect()),
                dry_run,
            };
            match service().await {
                Ok(s) => recovery::reprocess(&s, req, key, json).await,
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

/// The parameters that were given.
fn params<const N: usize>(pairs: [(&str, Option<String>); N]) -> Params {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect()
}

/// The service at `url`, or this machine's configuration.
async fn service(url: Option<&str>) -> Result<Service, ExitCode> {
    let vars = Vars::from_env();
    let made = match url {
        Some(url) => remote::Remote::connect(url, &vars)
            .await
            .map(Service::Remote),
        None => Config::from_vars(&vars)
            .map(Service::local)
            .map_err(|e| QueryError::Invalid(e.to_string())),
    };
    made.map_err(|e| {
        eprintln!("backstop: {e}");
        ExitCode::from(e.exit_code())
    })
}

async fn scrape(scraper: Scraper, date: &str, market: MarketSelection, json: bool) -> ExitCode {
    let req = match parse_scrape(scraper.name(), date, &market.to_string()) {
        Ok(r) => r,
        Err(e) => return usage(e),
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    // Configuration, said once before any run (not once per market, each a failed run).
    if config.upstream.api_key.is_none() {
        return usage("BETTINGPROS_API_KEY is not set, so nothing can be scraped: set it (on Cloud Run the secret bettingpros-api-key is mounted as it)");
    }
    let app = match App::build(config).await {
        Ok(a) => a,
        Err(e) => return usage(e),
    };
    let reports = app.scrapes.run(&req).await;
    // Before the process ends: its runs' rows of the execution log (when that is on).
    app.scrapes.export_runs().await;
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

/// `backstop runs`: the table (or JSON) of the runs asked for.
async fn runs(service: &Service, q: &Params, json: bool) -> ExitCode {
    match service.runs(q).await {
        Ok(answer) if json => {
            recovery::pretty(&answer["runs"]);
            ExitCode::SUCCESS
        }
        Ok(answer) => {
            print!("{}", show::runs(&answer));
            if answer["count"] == 0 {
                eprintln!("{}", no_runs(service));
            }
            ExitCode::SUCCESS
        }
        Err(e) => recovery::failed("runs", e),
    }
}

/// What `runs` says when it found none: where it looked, and where the demo's runs are when
/// it looked in the default ledger and the demo wrote one.
fn no_runs(service: &Service) -> String {
    let Service::Local(local) = service else {
        return "no runs match on the service".into();
    };
    let config = &local.config;
    let ledger = config.ledger.location.describe();
    let demo = std::path::Path::new(DEMO_OUT).join("ledger.db");
    if !config.ledger_given && demo.is_file() {
        return format!(
            "no runs in {ledger}; `backstop demo` keeps its runs in {}: see them with\n  {}",
            demo.display(),
            demo_runs(&demo)
        );
    }
    format!("no runs in {ledger} match (BACKSTOP_LEDGER names the ledger)")
}

/// The command that lists the runs in the ledger at `ledger`.
fn demo_runs(ledger: &std::path::Path) -> String {
    format!("BACKSTOP_LEDGER={} backstop runs", ledger.display())
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
