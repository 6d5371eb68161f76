//! A gap report: one row per (date, market) with its evidence and verdict, as JSON for
//! scripts and as a table for people.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::evidence::{Evidence, Signal};
use super::verdict::{Category, Verdict};
use super::GapQuery;
use crate::calendar::GameDate;
use crate::market::MarketType;

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
        self.rows.iter().filter(|r| {
            matches!(
                r.verdict.category,
                Category::ScraperFailed | Category::ProcessorFailed | Category::Unknown
            )
        })
    }

    /// A table for people: every row that is not plainly fine (short loads are shown), then
    /// the totals.
    pub fn table(&self, all: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<10}  {:<8}  {:<16}  {:>5}  {:>5}  {:>13}  {:<9}  reason",
            "date", "market", "verdict", "games", "files", "rows file/bq", "last run"
        );
        for r in &self.rows {
            let fine = matches!(
                r.verdict.category,
                Category::Complete | Category::OffDay | Category::LegitimateZero
            ) && r.verdict.short_load.is_none();
            if fine && !all {
                continue;
            }
            let e = &r.evidence;
            let games = match &e.games {
                Signal::Known(n) => n.to_string(),
                Signal::Unknown(_) => "?".into(),
            };
            let (files, file_rows) = match &e.files {
                Signal::Known(f) => (
                    f.len().to_string(),
                    f.first()
                        .and_then(|f| f.rows.known().copied())
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                ),
                Signal::Unknown(_) => ("?".into(), "?".into()),
            };
            let bq = match &e.loaded {
                Signal::Known(l) => l.total.to_string(),
                Signal::Unknown(_) => "?".into(),
            };
            let last = e
                .last_run
                .as_ref()
                .map(|l| l.status.as_str())
                .unwrap_or("-");
            let _ = writeln!(
                out,
                "{:<10}  {:<8}  {:<16}  {:>5}  {:>5}  {:>13}  {:<9}  {}",
                e.date.to_string(),
                e.market.as_str(),
                r.verdict.category.as_str(),
                games,
                files,
                format!("{file_rows}/{bq}"),
                last,
                r.verdict.reason
            );
        }
        let totals: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            out,
            "{} to {}: {} (date, market) pairs: {}; {} short load(s). Work: {} storage listings, {} BigQuery queries, {} events requests, {} files read, {} events files read, {:.1} s.",
            self.from, self.to, self.rows.len(), totals.join(", "), self.short_loads,
            self.work.storage_listings, self.work.bigquery_queries, self.work.events_requests, self.work.files_read,
            self.work.events_files_read, self.work.seconds
        );
        out
    }
}
