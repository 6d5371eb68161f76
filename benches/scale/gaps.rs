//! Case 5: gap detection over 180 days × 6 markets (goal: one storage listing per market
//! prefix and one for the range's events files, one BigQuery query), in the world of
//! `season.rs`. Each run builds a fresh `App` (an empty ledger) and detects twice: cold (a
//! date's schedule read from its stored events file, the events API asked for the dates
//! without one and for those whose file lists no games; every needed file read) and warm (the
//! same `Detector` again, with its remembered schedules and file row counts). Then, for the
//! breakdown, the BigQuery query, the file reads and the events requests alone.

use std::time::Instant;

use backstop::app::App;
use backstop::bettingpros::{parse_events, rows_in_props_file};
use backstop::calendar::GameDate;
use backstop::gaps::{Category, GapReport};
use backstop::warehouse::Warehouse;
use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use crate::season::{World, DAYS, PER_INSERT, RATE};
use crate::{Goal, Row};

const CASE: &str = "gap detection";

/// The events API's rate budget in production (`scrapers/*.json`), requests per second.
const PRODUCTION_RATE: f64 = 0.5;

const CATEGORIES: [Category; 6] = Category::ALL;

/// What one run measured.
struct Sample {
    /// Wall time of detection, cold then warm.
    wall: [f64; 2],
    /// The reports, cold then warm.
    reports: [GapReport; 2],
    /// The BigQuery query alone, outside detection.
    query_alone: f64,
    /// Every file read, then parsed and counted, one at a time outside detection.
    files_alone: [f64; 2],
    /// Every date's schedule asked of the events API outside detection, 16 at a time as
    /// detection asks.
    events_alone: f64,
}

/// The events API asked for every date of the query, as detection asks (16 at a time, paced
/// by the shared limiter), answers parsed.
async fn events_alone(app: &App, w: &World) -> Result<f64, String> {
    let dates: Vec<GameDate> = w.query.from.through(w.query.to).collect();
    let started = Instant::now();
    let answers = stream::iter(dates)
        .map(|date| async move {
            let context = format!("bench {date} events");
            let req = app.scrapes.upstream.events_request(date, context, None);
            let fetched = app
                .scrapes
                .fetcher
                .get_json(&req.map_err(|e| e.cause())?)
                .await;
            let json = fetched.map_err(|e| e.cause())?.json;
            parse_events(&json).map_err(|e| e.to_string()).map(drop)
        })
        .buffer_unordered(16)
        .collect::<Vec<Result<(), String>>>()
        .await;
    answers.into_iter().collect::<Result<(), String>>()?;
    Ok(started.elapsed().as_secs_f64())
}

async fn run(w: &World) -> Result<Sample, String> {
    let app = w.app().await;
    let started = Instant::now();
    let cold = app.detector.detect(&w.query).await;
    let cold_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let warm = app.detector.detect(&w.query).await;
    let warm_s = started.elapsed().as_secs_f64();
    let settings = app.config.warehouse.clone();
    let warehouse = Warehouse::new(settings.clone(), settings.credentials(&app.config.gcp));
    let started = Instant::now();
    warehouse
        .loaded_rows(w.query.from, w.query.to)
        .await
        .map_err(|e| e.reason())?;
    let query_alone = started.elapsed().as_secs_f64();
    let mut files_alone = [0.0; 2];
    for name in &w.files {
        let started = Instant::now();
        let bytes = app.store.get(name).await.map_err(|e| e.to_string())?;
        files_alone[0] += started.elapsed().as_secs_f64();
        let started = Instant::now();
        let file: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        rows_in_props_file(&file).map_err(|e| e.to_string())?;
        files_alone[1] += started.elapsed().as_secs_f64();
    }
    Ok(Sample {
        wall: [cold_s, warm_s],
        reports: [cold, warm],
        query_alone,
        files_alone,
        events_alone: events_alone(&app, w).await?,
    })
}

/// (date, market) pairs whose verdict is not the planned one, or that are missing.
fn off_plan(w: &World, report: &GapReport) -> usize {
    let wrong = report
        .rows
        .iter()
        .filter(|r| {
            let key = (r.evidence.date, r.evidence.market);
            w.expected.get(&key) != Some(&r.verdict.category)
        })
        .count();
    wrong + w.expected.len().saturating_sub(report.rows.len())
}

/// The world's figures: measured once, so shown without a spread.
fn setup_rows(w: &World) -> Vec<Row> {
    let s = &w.setup;
    let per_s = s.streamed as f64 / s.insert_all_s;
    let once = |figure: String, unit: &'static str, value: f64| {
        Row::median(CASE, figure, unit, &[value], Goal::None)
    };
    vec![
        once(
            format!(
                "setup, once: scrape of {DAYS} dates ({} with games), `market all`, {} requests \
                 at R = {RATE}/s → {} props files, {:.0} MB, and {} events files",
                s.game_days,
                s.requests,
                w.files.len(),
                s.file_bytes as f64 / 1e6,
                s.events_files
            ),
            "s",
            s.scrape_s,
        ),
        once(
            format!(
                "setup, once: `insertAll` of one date's real rows ({} rows)",
                s.streamed
            ),
            "rows/s",
            per_s,
        ),
        once(
            format!(
                "setup, once: the other rows as counted rows, one DML insert per {PER_INSERT} \
                 files ({} rows in the table of the {} the files yield; `insertAll` would need \
                 ≈ {:.0} s)",
                s.in_table,
                s.yielded,
                s.yielded as f64 / per_s
            ),
            "s",
            s.dml_s,
        ),
    ]
}

/// Case 5: wall time cold and warm, the work each did, and the verdicts by category.
pub fn detect(rt: &tokio::runtime::Runtime, runs: usize) -> Vec<Row> {
    let w = match rt.block_on(crate::season::build()) {
        Ok(w) => w,
        Err(e) => return vec![Row::failed(CASE, e)],
    };
    let mut samples = Vec::new();
    for _ in 0..runs {
        match rt.block_on(run(&w)) {
            Ok(s) => samples.push(s),
            Err(e) => return vec![Row::failed(CASE, e)],
        }
    }
    let of = |f: &dyn Fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
    let row = |figure: &str, unit: &'static str, values: Vec<f64>, goal: Goal| {
        Row::median(CASE, figure, unit, &values, goal)
    };
    let none =
        |figure: &str, unit: &'static str, values: Vec<f64>| row(figure, unit, values, Goal::None);
    let (q, mb) = (&w.query, w.setup.file_bytes as f64 / 1e6);
    let mut rows = setup_rows(&w);
    rows.extend([
        none(
            &format!("(date, market) pairs judged, {} to {}", q.from, q.to),
            "",
            of(&|s| s.reports[0].rows.len() as f64),
        ),
        none(
            "wall time, cold (a fresh App: stored schedules read or asked, files read)",
            "s",
            of(&|s| s.wall[0]),
        ),
        none(
            "wall time, warm (the same Detector again)",
            "s",
            of(&|s| s.wall[1]),
        ),
        none("warm ÷ cold", "×", of(&|s| s.wall[1] / s.wall[0])),
        none(
            "the one BigQuery query, asked alone",
            "ms",
            of(&|s| s.query_alone * 1000.0),
        ),
        none(
            "the one BigQuery query alone ÷ cold wall",
            "×",
            of(&|s| s.query_alone / s.wall[0]),
        ),
        none(
            &format!("the {} files alone, one at a time: read ({mb:.0} MB)", w.files.len()),
            "s",
            of(&|s| s.files_alone[0]),
        ),
        none(
            "the same files alone: JSON parse + `rows_in_props_file`",
            "s",
            of(&|s| s.files_alone[1]),
        ),
        none(
            "the files alone (read + parse) ÷ cold wall",
            "×",
            of(&|s| (s.files_alone[0] + s.files_alone[1]) / s.wall[0]),
        ),
        none(
            &format!(
                "the {DAYS} events requests alone, 16 at a time (local BettingPros, brotli, \
                 no latency)"
            ),
            "s",
            of(&|s| s.events_alone),
        ),
        none(
            "the events requests alone ÷ cold wall",
            "×",
            of(&|s| s.events_alone / s.wall[0]),
        ),
        none(
            &format!("the limiter's floor for the cold events requests (requests ÷ {RATE}/s) ÷ cold wall"),
            "×",
            of(&|s| s.reports[0].work.events_requests as f64 / RATE / s.wall[0]),
        ),
        none(
            &format!(
                "the cold events requests' floor at the default {PRODUCTION_RATE}/s, (requests − 1) \
                 ÷ R (every date asked: {:.0} s)",
                (DAYS as f64 - 1.0) / PRODUCTION_RATE
            ),
            "s",
            of(&|s| {
                let n = s.reports[0].work.events_requests as f64;
                (n - 1.0).max(0.0) / PRODUCTION_RATE
            }),
        ),
    ]);
    for (k, when) in ["cold", "warm"].into_iter().enumerate() {
        let work = |f: fn(&GapReport) -> u64| of(&|s| f(&s.reports[k]) as f64);
        rows.extend([
            row(
                &format!("{when}: storage listings (one per market prefix, one for events files)"),
                "",
                work(|r| r.work.storage_listings),
                Goal::AtMost(7.0),
            ),
            row(
                &format!("{when}: BigQuery queries"),
                "",
                work(|r| r.work.bigquery_queries),
                Goal::AtMost(1.0),
            ),
            none(
                &format!("{when}: events requests"),
                "",
                work(|r| r.work.events_requests),
            ),
            none(
                &format!("{when}: files read"),
                "",
                work(|r| r.work.files_read),
            ),
            none(
                &format!("{when}: events files read"),
                "",
                work(|r| r.work.events_files_read),
            ),
        ]);
    }
    for c in CATEGORIES {
        let planned = w.expected.values().filter(|e| **e == c).count();
        let count = |s: &Sample| s.reports[0].counts.get(c.as_str()).copied().unwrap_or(0);
        rows.push(none(
            &format!("verdicts `{}`, cold (planned: {planned})", c.as_str()),
            "",
            of(&|s| count(s) as f64),
        ));
    }
    rows.push(Row::total(
        CASE,
        format!("verdicts other than planned, all {runs} runs, cold and warm"),
        &of(&|s| s.reports.iter().map(|r| off_plan(&w, r)).sum::<usize>() as f64),
        Goal::AtMost(0.0),
    ));
    rows
}
