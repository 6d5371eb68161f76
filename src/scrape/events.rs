//! The `bp_events` run: one events request, the events file, its completion message.

use super::{Run, Scrapes};
use crate::bettingpros::events::{events_file, parse_events};
use crate::bettingpros::validate_events_file;
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
    let file = events_file(run.date, &run.timestamp, &answer);
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
    Tally::of(&fetched).apply(&mut report);
    report.event_ids = answer.event_ids();
    report.counts.events = Some(n);
    let key = StorageKey::Events {
        date: run.date,
        timestamp: run.timestamp.clone(),
    };
    super::write::write_file(scrapes, &run, key, &file, validate_events_file, report).await
}
