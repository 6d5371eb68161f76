//! The scenario's figures, printed for the log (`--nocapture`): dates, upstream requests and
//! faults, runs by trigger and status, categories found, recovery rounds, rate headroom.

use std::collections::BTreeMap;
use std::time::Instant;

use backstop::ledger::RunRecord;
use serde_json::Value;

use super::{Calendar, RATE};
use crate::support::app::TestApp;

/// The figures, for the log (`--nocapture`).
pub fn print(
    cal: &Calendar,
    t: &TestApp,
    runs: &[RunRecord],
    first: &[Value],
    rounds: &[Vec<Value>],
    unknown: usize,
    started: Instant,
) {
    let arrivals = t.sim.arrivals();
    let mut faults: BTreeMap<String, u32> = BTreeMap::new();
    for a in arrivals.iter().filter(|a| !a.answer.starts_with("200")) {
        *faults.entry(a.answer.clone()).or_default() += 1;
    }
    let mut accepted: Vec<Instant> = arrivals
        .iter()
        .filter(|a| !a.answer.starts_with("fault"))
        .map(|a| a.at.into_std())
        .collect();
    accepted.sort();
    let closest = accepted
        .windows(2)
        .map(|w| w[1] - w[0])
        .min()
        .unwrap_or_default();
    let mut statuses: BTreeMap<String, u32> = BTreeMap::new();
    for r in runs {
        *statuses
            .entry(format!("{} {}", r.trigger.as_str(), r.status.as_str()))
            .or_default() += 1;
    }
    let mut categories: BTreeMap<String, u32> = BTreeMap::new();
    for r in first {
        *categories
            .entry(r["verdict"]["category"].as_str().unwrap_or("?").into())
            .or_default() += 1;
    }
    let actions: Vec<String> = rounds
        .iter()
        .map(|jobs| {
            let all: Vec<&Value> = jobs
                .iter()
                .flat_map(|j| j["actions"].as_array().into_iter().flatten())
                .collect();
            let n = |kind: &str, state: &str| {
                all.iter()
                    .filter(|a| a["kind"] == kind && a["state"] == state)
                    .count()
            };
            format!(
                "scrape {}/{} done, send {}/{} done",
                n("scrape", "done"),
                n("scrape", "done") + n("scrape", "failed"),
                n("send_file", "done"),
                n("send_file", "done") + n("send_file", "failed") + n("send_file", "skipped")
            )
        })
        .collect();
    eprintln!(
        "faults: {} dates × {} markets in {:.1} s; {} upstream requests; not-200 answers {faults:?}; \
         runs {statuses:?}; first gaps {categories:?} ({unknown} unknown: schedule unreadable); \
         recovery rounds after the Phase 2 outage: {actions:?}; closest accepted requests \
         {closest:?} apart (limit {RATE}/s)",
        cal.dates.len(),
        cal.markets.len(),
        started.elapsed().as_secs_f64(),
        arrivals.len(),
    );
}
