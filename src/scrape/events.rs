//! The `bp_events` run: one events request, the events file, its completion message — and the
//! same file stored from the answer a `bp_player_props` request fetched anyway.
//!
//! A props request asks for the day's events before its offers. That answer is written as the
//! day's events file by a `bp_events` run of its own ([`store`]), exactly as `bp_events` writes
//! it (same object name, validated, create-only), with no request of its own: its ledger row
//! names the props run (`opts.for_run`), counts the events it stored and no attempts (the
//! props rows count the request, as they always did), and its completion message is the one a
//! `bp_events` run sends (`betting_pros_events`; Phase 2 ignores `bettingpros/events`). Its
//! outcome is its own: a file that could not be written fails that run — in the ledger, the
//! logs, the metrics and its message — and never a market's run or file.

use super::{Run, Scrapes};
use crate::bettingpros::events::{events_file, parse_events};
use crate::bettingpros::{validate_events_file, EventsAnswer};
use crate::report::RunReport;
use crate::run::{ErrorKind, RunStatus};
use crate::storage::StorageKey;

use super::tally::Tally;

pub(super) async fn run(scrapes: &Scrapes, run: Run) -> RunReport {
    let req = match scrapes
        .upstream
        .events_request(run.date, run.context(), Some(run.deadline))
    {
        Ok(r) => r,
        Err(e) => return run.failed(&e, "could not fetch the day's events"),
    };
    let fetched = match scrapes.fetcher.get_json(&req).await {
        Ok(f) => f,
        Err(e) => return run.failed(&e, "could not fetch the day's events"),
    };
    let answer = match parse_events(&fetched.json) {
        Ok(a) => a,
        Err(e) => {
            let mut r = run.report(
                RunStatus::Failed,
                format!("events answer for {} is malformed: {e}", run.date),
            );
            r.error_kind = Some(ErrorKind::InvalidPayload);
            r.attempts = fetched.attempts;
            return r;
        }
    };
    write(scrapes, &run, &answer, &Tally::of(&fetched)).await
}

/// Writes the events file of the answer a props run fetched (`run` is [`Run::events_of`] that
/// props run): one write, no request.
pub(super) async fn store(scrapes: &Scrapes, run: Run, answer: &EventsAnswer) -> RunReport {
    let mut report = write(scrapes, &run, answer, &Tally::default()).await;
    if report.status != RunStatus::Failed {
        let props = run.for_run.as_deref().unwrap_or_default();
        report.message = format!(
            "{} (fetched by bp_player_props run {props})",
            report.message
        );
    }
    report
}

/// The events file of `answer`, validated and written create-only for `run`.
async fn write(scrapes: &Scrapes, run: &Run, answer: &EventsAnswer, tally: &Tally) -> RunReport {
    let file = events_file(run.date, &run.timestamp, answer);
    let n = answer.events.len() as u64;
    let status = if n == 0 {
        RunStatus::NoData
    } else {
        RunStatus::Success
    };
    let message = if n == 0 {
        format!(
            "no games on {}: 0 events (file written as evidence)",
            run.date
        )
    } else {
        format!("{n} events on {}", run.date)
    };
    let mut report = run.report(status, message);
    tally.apply(&mut report);
    report.event_ids = answer.event_ids();
    report.counts.events = Some(n);
    let key = StorageKey::Events {
        date: run.date,
        timestamp: run.timestamp.clone(),
    };
    super::write::write_file(scrapes, run, key, &file, validate_events_file, report).await
}
