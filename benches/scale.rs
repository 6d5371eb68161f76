//! Scale benchmarks against a local BettingPros, printed as a Markdown table of medians.
//!
//! `cargo bench --bench scale -- [case…]` (or `scripts/bench`, which also rewrites
//! BENCHMARKS.md). Each case runs `BENCH_RUNS` times (default 5). Cases:
//!
//! 1. `day`, `faults`: a full game day at the upstream's rate limit, clean and with faults.
//! 2. `backfill`: peak memory of a 30-day backfill (child process); `idle`: `backstop serve`.
//! 3. `startup`: process start to the first 200 from `/health` (release binary).
//! 4. `page`: CPU cost of decoding, parsing and transforming one ~1 MiB brotli page.
//! 5. `gaps`: gap detection over 180 days × 6 markets against a scraped local store and the
//!    BigQuery emulator: wall time cold and warm, storage listings, BigQuery queries.
//! 6. `calendar`: the status page's calendar of that season in headless Chromium, from
//!    remembered facts: `GET /gaps` answered, then drawn (the page's performance marks).
//! 7. `instances`: two instances on one PostgreSQL ledger scrape a day each at once at the
//!    upstream's limit R; and what a permit of the shared rate limit costs per backend.
//!
//! Under `cargo test` (no `--bench` argument) only a small smoke pass of case 4 runs.

#[path = "scale/bq.rs"]
mod bq;
#[path = "scale/calendar.rs"]
mod calendar;
#[path = "scale/gaps.rs"]
mod gaps;
#[path = "scale/instances.rs"]
mod instances;
#[path = "scale/page.rs"]
mod page;
#[path = "scale/process.rs"]
mod process;
#[path = "scale/season.rs"]
mod season;
#[path = "scale/upstream.rs"]
mod upstream;

// The integration tests' browser harness (Chromium over chromedriver), for case 6.
#[allow(dead_code)]
#[path = "../tests/it/support/browser.rs"]
mod browser;
#[allow(dead_code)]
#[path = "../tests/it/support/emulators.rs"]
mod emulators;

use std::process::ExitCode;

/// Every case, in the order they run when none is named.
const CASES: [&str; 9] = [
    "day",
    "faults",
    "backfill",
    "idle",
    "startup",
    "page",
    "gaps",
    "calendar",
    "instances",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(upstream::BACKFILL_CHILD) {
        return upstream::backfill_child(&args[1..]);
    }
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("scale: not run by `cargo bench`: smoke pass only (see scripts/bench)");
        page::smoke();
        return ExitCode::SUCCESS;
    }
    let mut cases: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    if let Some(unknown) = cases.iter().find(|c| !CASES.contains(c)) {
        eprintln!(
            "scale: unknown case {unknown:?}; cases: {}",
            CASES.join(", ")
        );
        return ExitCode::from(2);
    }
    if cases.is_empty() {
        cases = CASES.to_vec();
    }
    let runs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut rows = Vec::new();
    for case in cases {
        eprintln!("scale: {case}, {runs} runs");
        rows.extend(run_case(&rt, case, runs));
    }
    print!("{}", table(runs, &rows));
    ExitCode::SUCCESS
}

fn run_case(rt: &tokio::runtime::Runtime, case: &str, runs: usize) -> Vec<Row> {
    match case {
        "day" => upstream::day(rt, runs, false),
        "faults" => upstream::day(rt, runs, true),
        "backfill" => upstream::backfill(rt, runs),
        "idle" => process::idle(runs),
        "startup" => process::startup(runs),
        "page" => page::cost(runs),
        "gaps" => gaps::detect(rt, runs),
        "calendar" => calendar::render(rt, runs),
        "instances" => instances::race_and_permits(rt, runs),
        other => unreachable!("case {other} is checked against CASES"),
    }
}

/// What a figure should be.
#[derive(Clone, Copy)]
pub enum Goal {
    None,
    AtMost(f64),
}

/// One line of the table.
pub struct Row {
    pub case: &'static str,
    pub figure: String,
    /// The median over the runs, or the total the figure names.
    pub value: f64,
    pub unit: &'static str,
    /// Smallest and largest over the runs, when the value is a median.
    pub spread: Option<(f64, f64)>,
    pub goal: Goal,
}

impl Row {
    /// The median of one sample per run, with their spread.
    pub fn median(
        case: &'static str,
        figure: impl Into<String>,
        unit: &'static str,
        samples: &[f64],
        goal: Goal,
    ) -> Row {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let value = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Row {
            case,
            figure: figure.into(),
            value,
            unit,
            spread: (n > 1).then(|| (sorted[0], sorted[n - 1])),
            goal,
        }
    }

    /// A total over every run (counts of things that should not happen at all).
    pub fn total(
        case: &'static str,
        figure: impl Into<String>,
        samples: &[f64],
        goal: Goal,
    ) -> Row {
        Row {
            case,
            figure: figure.into(),
            value: samples.iter().sum(),
            unit: "",
            spread: None,
            goal,
        }
    }

    /// A case that could not be measured, with the reason in the figure.
    pub fn failed(case: &'static str, why: impl std::fmt::Display) -> Row {
        Row {
            case,
            figure: format!("not measured: {why}"),
            value: f64::NAN,
            unit: "",
            spread: None,
            goal: Goal::None,
        }
    }
}

fn show(v: f64, unit: &str) -> String {
    if v.is_nan() {
        return "—".into();
    }
    let decimals = match unit {
        "×" => 3,
        _ if v.fract() == 0.0 || v.abs() >= 100.0 => 0,
        _ if v.abs() >= 10.0 => 1,
        _ => 2,
    };
    let sep = if unit.is_empty() || unit == "×" {
        ""
    } else {
        " "
    };
    format!("{v:.decimals$}{sep}{unit}")
}

fn table(runs: usize, rows: &[Row]) -> String {
    let mut out = format!(
        "| case | figure | median of {runs} | min – max | goal | verdict |\n\
         |---|---|---:|---:|---|---|\n"
    );
    for r in rows {
        let spread = r.spread.map_or(String::new(), |(lo, hi)| {
            format!("{} – {}", show(lo, r.unit), show(hi, r.unit))
        });
        let (goal, verdict) = match r.goal {
            Goal::None => (String::new(), ""),
            Goal::AtMost(g) if r.value.is_nan() => (format!("≤ {}", show(g, r.unit)), "—"),
            Goal::AtMost(g) if r.value <= g => (format!("≤ {}", show(g, r.unit)), "met"),
            Goal::AtMost(g) => (format!("≤ {}", show(g, r.unit)), "**missed**"),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {spread} | {goal} | {verdict} |\n",
            r.case,
            r.figure,
            show(r.value, r.unit)
        ));
    }
    out
}

/// A `kB` field of a `/proc/<pid>/status` file (`VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(status_file: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status_file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// KiB → MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
