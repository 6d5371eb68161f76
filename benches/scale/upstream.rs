//! Cases 1 and 2a: a game day scraped at the upstream's rate limit (clean, then with seeded
//! transient faults), and the peak memory of a 30-day backfill measured in a child process.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use backstop::app::App;
use backstop::calendar::GameDate;
use backstop::config::{Config, Vars};
use backstop::market::MarketSelection;
use backstop::run::{RunStatus, Scraper, Trigger};
use backstop::scrape::{RunReport, ScrapeRequest};
use backstop::sim::catalogue::Catalogue;
use backstop::sim::faults::{Fault, FaultPlan};
use backstop::sim::server::{SimConfig, SimServer};

use crate::{mib, status_kib, Goal, Row};

pub const KEY: &str = "bench-key";
/// The upstream's limit R and backstop's configured rate, requests per second (case 1).
const RATE: f64 = 5.0;
const LATENCY: Duration = Duration::from_millis(50);
const GAMES: usize = 10;
/// Case 1 with faults: one attempt may take this long; a stall outlasts it.
const ATTEMPT_TIMEOUT: &str = "0.5";
const STALL: Duration = Duration::from_secs(1);
/// The argument that makes the bench binary the backfill's child process.
pub const BACKFILL_CHILD: &str = "__backfill-child";
const BACKFILL_DAYS: usize = 30;
const BACKFILL_RATE: &str = "200";

fn first_date() -> GameDate {
    "2026-01-14".parse().expect("a valid date")
}

/// backstop as configured for a bench: local store and ledger in `dir`, no notifications;
/// `extra` settings are added (or override).
pub async fn build_app(
    base: &str,
    dir: &Path,
    rate: &str,
    timeout: &str,
    extra: &[(&str, &str)],
) -> App {
    let store = dir.join("store").display().to_string();
    let ledger = dir.join("ledger.db").display().to_string();
    let settings = [
        ("BETTINGPROS_BASE_URL", base),
        ("BETTINGPROS_API_KEY", KEY),
        ("BACKSTOP_RATE_PER_SEC", rate),
        ("BACKSTOP_RATE_BURST", "1"),
        ("BACKSTOP_TIMEOUT_SECS", timeout),
        ("BACKSTOP_BACKOFF_BASE_MS", "200"),
        ("BACKSTOP_BACKOFF_MAX_MS", "2000"),
        ("BACKSTOP_STORAGE", store.as_str()),
        ("BACKSTOP_LEDGER", ledger.as_str()),
        ("BACKSTOP_NOTIFY", "off"),
    ];
    let vars = Vars::from_pairs(settings.into_iter().chain(extra.iter().copied()));
    let config = Config::from_vars(&vars).expect("bench settings are valid");
    App::build(config).await.expect("backstop builds")
}

/// A day as the scheduler scrapes it: `bp_events`, then `bp_player_props` for all markets.
pub async fn scrape_day(app: &App, date: GameDate) -> Vec<RunReport> {
    let mut reports = Vec::new();
    for scraper in [Scraper::Events, Scraper::PlayerProps] {
        let req = ScrapeRequest {
            scraper,
            date,
            markets: MarketSelection::All,
            trigger: Trigger::Cli,
        };
        reports.extend(app.scrapes.run(&req).await);
    }
    reports
}

fn not_ok(reports: &[RunReport]) -> usize {
    reports
        .iter()
        .filter(|r| r.status != RunStatus::Success)
        .count()
}

/// One scraped day: what the upstream saw and how long it took.
struct DayRun {
    wall: f64,
    /// Every request the upstream saw, retries and faults included.
    arrivals: usize,
    /// Requests answered with data.
    answered: usize,
    violations: u64,
    not_ok: usize,
}

async fn one_day(faults: FaultPlan, timeout: &str) -> DayRun {
    let date = first_date();
    let sim = SimServer::start(SimConfig {
        api_key: Some(KEY.into()),
        rate_limit: Some(RATE),
        latency: LATENCY,
        faults,
        ..SimConfig::new(Catalogue::synthetic(&[(date, GAMES)], 2026))
    })
    .await
    .expect("the local BettingPros starts");
    let dir = tempfile::tempdir().expect("a temp dir");
    let app = build_app(&sim.base_url(), dir.path(), &RATE.to_string(), timeout, &[]).await;
    let start = Instant::now();
    let reports = scrape_day(&app, date).await;
    let wall = start.elapsed().as_secs_f64();
    let arrivals = sim.arrivals();
    DayRun {
        wall,
        arrivals: arrivals.len(),
        answered: arrivals.iter().filter(|a| a.answer == "200").count(),
        violations: sim.rate_violations(),
        not_ok: not_ok(&reports),
    }
}

/// Case 1: wall time against the ideal `requests ÷ R`, and 429s caused by over-sending.
pub fn day(rt: &tokio::runtime::Runtime, runs: usize, faulty: bool) -> Vec<Row> {
    let mut days = Vec::new();
    for i in 0..runs {
        let (faults, timeout) = if faulty {
            let menu = vec![Fault::Status(503), Fault::Stall(STALL), Fault::Truncate];
            (
                FaultPlan::seeded(100 + i as u64, 0.1, menu),
                ATTEMPT_TIMEOUT,
            )
        } else {
            (FaultPlan::none(), "60")
        };
        days.push(rt.block_on(one_day(faults, timeout)));
    }
    let of = |f: fn(&DayRun) -> f64| days.iter().map(f).collect::<Vec<f64>>();
    let case = if faulty {
        "1 day, 10 % faults"
    } else {
        "1 day"
    };
    let setting = format!(
        "R = {RATE}/s, {} ms latency, {GAMES} games",
        LATENCY.as_millis()
    );
    let mut rows = vec![Row::median(
        case,
        format!("requests answered with data ({setting})"),
        "",
        &of(|d| d.answered as f64),
        Goal::None,
    )];
    if faulty {
        rows.push(Row::median(
            case,
            "retries (requests the upstream saw − requests answered)",
            "",
            &of(|d| (d.arrivals - d.answered) as f64),
            Goal::None,
        ));
    }
    rows.push(Row::median(
        case,
        "wall time",
        "s",
        &of(|d| d.wall),
        Goal::None,
    ));
    let (ratio, goal) = if faulty {
        ("wall ÷ ((requests + retries) ÷ R)", 1.15)
    } else {
        ("wall ÷ (requests ÷ R)", 1.05)
    };
    rows.push(Row::median(
        case,
        ratio,
        "×",
        &of(|d| d.wall / (d.arrivals as f64 / RATE)),
        Goal::AtMost(goal),
    ));
    rows.push(Row::total(
        case,
        format!("429s from over-sending, all {runs} runs"),
        &of(|d| d.violations as f64),
        Goal::AtMost(0.0),
    ));
    rows.push(Row::total(
        case,
        format!("runs not `success`, all {runs} runs"),
        &of(|d| d.not_ok as f64),
        Goal::AtMost(0.0),
    ));
    rows
}

/// Case 2a: the local BettingPros runs here; backstop runs in a child process (this binary
/// again) so that its peak memory is its own.
pub fn backfill(rt: &tokio::runtime::Runtime, runs: usize) -> Vec<Row> {
    let case = "30-day backfill";
    let days: Vec<(GameDate, usize)> =
        std::iter::successors(Some(first_date()), |d| Some(d.succ()))
            .take(BACKFILL_DAYS)
            .map(|d| (d, GAMES))
            .collect();
    let catalogue = Catalogue::synthetic(&days, 2026);
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return vec![Row::failed(case, e)],
    };
    let mut figures: Vec<[f64; 5]> = Vec::new();
    for _ in 0..runs {
        let sim = rt
            .block_on(SimServer::start(SimConfig {
                api_key: Some(KEY.into()),
                latency: Duration::from_millis(5),
                ..SimConfig::new(catalogue.clone())
            }))
            .expect("the local BettingPros starts");
        let out = Command::new(&exe)
            .args([BACKFILL_CHILD, &sim.base_url(), &first_date().to_string()])
            .output();
        let child: Option<Vec<f64>> = out.ok().and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            let v: Vec<f64> = text
                .split_whitespace()
                .filter_map(|kv| kv.split_once('=')?.1.parse().ok())
                .collect();
            (o.status.success() && v.len() == 4).then_some(v)
        });
        let Some(v) = child else {
            return vec![Row::failed(case, "the child process did not report")];
        };
        figures.push([v[0], v[1], v[2], v[3], sim.arrivals().len() as f64]);
    }
    let of = |i: usize| figures.iter().map(|f| f[i]).collect::<Vec<f64>>();
    vec![
        Row::median(
            case,
            format!("peak RSS (VmHWM), {BACKFILL_DAYS} dates × (events + 6 markets), R = {BACKFILL_RATE}/s"),
            "MiB",
            &of(0),
            Goal::AtMost(64.0),
        ),
        Row::median(case, "RSS before the first scrape (VmHWM)", "MiB", &of(1), Goal::None),
        Row::median(case, "requests", "", &of(4), Goal::None),
        Row::median(case, "wall time", "s", &of(2), Goal::None),
        Row::total(case, format!("runs not `success`, all {runs} backfills"), &of(3), Goal::AtMost(0.0)),
    ]
}

/// The child's side of case 2a: scrape every date, one after the other, then print
/// `peak_mib=… start_mib=… wall_s=… not_ok=…` on one line.
pub fn backfill_child(args: &[String]) -> ExitCode {
    let (Some(base), Some(first)) = (args.first(), args.get(1)) else {
        eprintln!("usage: scale {BACKFILL_CHILD} BASE_URL FIRST_DATE");
        return ExitCode::from(2);
    };
    let Ok(first) = first.parse::<GameDate>() else {
        eprintln!("scale: {first:?} is not a date");
        return ExitCode::from(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("a temp dir");
        let app = build_app(base, dir.path(), BACKFILL_RATE, "60", &[]).await;
        let hwm = || status_kib("/proc/self/status", "VmHWM").map_or(f64::NAN, mib);
        let at_start = hwm();
        let start = Instant::now();
        let mut not_ok_runs = 0;
        let mut date = first;
        for _ in 0..BACKFILL_DAYS {
            not_ok_runs += not_ok(&scrape_day(&app, date).await);
            date = date.succ();
        }
        let wall = start.elapsed().as_secs_f64();
        println!(
            "peak_mib={} start_mib={at_start} wall_s={wall} not_ok={not_ok_runs}",
            hwm()
        );
    });
    ExitCode::SUCCESS
}
