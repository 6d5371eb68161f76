//! A gap report: one row per (date, market) with its evidence and verdict, as JSON for
//! scripts and as a table for people.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use serde_json::Value;

use super::evidence::Evidence;
use super::verdict::{Category, Verdict};
use super::GapQuery;
use crate::calendar::GameDate;
use crate::market::MarketType;

/// The categories that count as a problem: lost, or not judged.
const LOST: [Category; 3] = [
    Category::ScraperFailed,
    Category::ProcessorFailed,
    Category::Unknown,
];

#[derive(Debug, Clone, Serialize)]
pub struct GapRow {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub verdict: Verdict,
}

/// What detection cost: the figures that show it lists once per market and queries once.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Work {
    pub storage_listings: u64,
    pub bigquery_queries: u64,
    pub events_requests: u64,
    /// Props files read for the rows they yield.
    pub files_read: u64,
    /// Stored events files read for a date's schedule.
    pub events_files_read: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GapReport {
    pub from: GameDate,
    pub to: GameDate,
    pub markets: Vec<MarketType>,
    pub counts: BTreeMap<&'static str, usize>,
    /// Complete dates whose newest file holds fewer rows than it yields (never re-sent).
    pub short_loads: usize,
    pub rows: Vec<GapRow>,
    pub work: Work,
}

impl GapReport {
    pub fn new(q: &GapQuery, rows: Vec<GapRow>, work: Work) -> Self {
        let mut counts = BTreeMap::new();
        for r in &rows {
            *counts.entry(r.verdict.category.as_str()).or_insert(0) += 1;
        }
        Self {
            from: q.from,
            to: q.to,
            markets: q.markets.clone(),
            counts,
            short_loads: rows
                .iter()
                .filter(|r| r.verdict.short_load.is_some())
                .count(),
            rows,
            work,
        }
    }

    pub fn row(&self, date: GameDate, market: MarketType) -> Option<&GapRow> {
        self.rows
            .iter()
            .find(|r| r.evidence.date == date && r.evidence.market == market)
    }

    /// The rows that are lost or cannot be judged.
    pub fn problems(&self) -> impl Iterator<Item = &GapRow> {
        self.rows
            .iter()
            .filter(|r| LOST.contains(&r.verdict.category))
    }

    /// A table for people ([`table`] of this report's JSON).
    pub fn table(&self, all: bool) -> String {
        table(&serde_json::to_value(self).unwrap_or_default(), all)
    }
}

/// A report as JSON (`GET /gaps`, `backstop gaps --json`), as a table for people: every row
/// that is not plainly fine (short loads are shown; `all` shows every row), then the totals.
/// The command line renders what it got, in-process or from a service, through this one table.
pub fn table(report: &Value, all: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10}  {:<8}  {:<16}  {:>5}  {:>5}  {:>13}  {:<9}  reason",
        "date", "market", "verdict", "games", "files", "rows file/bq", "last run"
    );
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let number = |v: &Value| v.as_u64().map(|n| n.to_string());
    for r in report["rows"].as_array().into_iter().flatten() {
        let verdict = &r["verdict"];
        let fine = ["complete", "off_day", "legitimate_zero"]
            .contains(&verdict["category"].as_str().unwrap_or_default())
            && verdict["short_load"].is_null();
        if fine && !all {
            continue;
        }
        let games = number(&r["games"]["known"]).unwrap_or_else(|| "?".into());
        let (files, file_rows) = match r["files"]["known"].as_array() {
            Some(f) => (
                f.len().to_string(),
                f.first()
                    .and_then(|f| number(&f["rows"]["known"]))
                    .unwrap_or_else(|| "-".into()),
            ),
            None => ("?".into(), "?".into()),
        };
        let bq = number(&r["loaded"]["known"]["total"]).unwrap_or_else(|| "?".into());
        let last = r["last_run"]["status"].as_str().unwrap_or("-");
        let _ = writeln!(
            out,
            "{:<10}  {:<8}  {:<16}  {:>5}  {:>5}  {:>13}  {:<9}  {}",
            text(&r["date"]),
            text(&r["market"]),
            text(&verdict["category"]),
            games,
            files,
            format!("{file_rows}/{bq}"),
            last,
            text(&verdict["reason"])
        );
    }
    let counts = report["counts"].as_object();
    let totals: Vec<String> = counts
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let rows = report["rows"].as_array().map_or(0, Vec::len);
    let w = &report["work"];
    let _ = writeln!(
        out,
        "{} to {}: {rows} (date, market) pairs: {}; {} short load(s). Work: {} storage listings, {} BigQuery queries, {} events requests, {} files read, {} events files read, {:.1} s.",
        text(&report["from"]), text(&report["to"]), totals.join(", "), report["short_loads"],
        w["storage_listings"], w["bigquery_queries"], w["events_requests"], w["files_read"],
        w["events_files_read"], w["seconds"].as_f64().unwrap_or_default()
    );
    out
}

/// Whether a report (as JSON) holds anything lost or that cannot be judged.
pub fn has_problems(report: &Value) -> bool {
    report["rows"].as_array().into_iter().flatten().any(|r| {
        let category = r["verdict"]["category"].as_str().unwrap_or_default();
        LOST.iter().any(|c| c.as_str() == category)
    })
}
