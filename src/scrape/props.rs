//! The `bp_player_props` run: the day's events, then every page of one market's offers,
//! transformed and validated into one props file.

use std::sync::Arc;

use super::{Run, Scrapes};
use crate::bettingpros::offers::parse_offers_page;
use crate::bettingpros::{events::parse_events, validate_props_file, EventsAnswer, MAX_PAGES};
use crate::bettingpros::{props_file, transform_offers, PropsFileInput};
use crate::fetch::FetchError;
use crate::report::RunReport;
use crate::run::{ErrorKind, RunStatus};
use crate::storage::StorageKey;

use super::tally::Tally;

/// The day's events, fetched once for all markets of a request.
#[derive(Debug, Clone)]
pub(super) enum Day {
    Events {
        ids: Vec<u64>,
        tally: Tally,
        /// The answer itself, stored as the day's events file.
        answer: EventsAnswer,
    },
    Failed {
        kind: ErrorKind,
        message: String,
        tally: Tally,
    },
}

pub(super) async fn fetch_events(scrapes: &Scrapes, run: &Run) -> Arc<Day> {
    let context = format!("{} {} events (run {})", run.scraper, run.date, run.id);
    let failed = |e: FetchError| Day::Failed {
        kind: e.kind(),
        message: format!("could not fetch the day's events: {e}"),
        tally: Tally::of_error(&e),
    };
    let fetched = match scrapes
        .upstream
        .events_request(run.date, context, Some(run.deadline))
    {
        Ok(req) => scrapes.fetcher.get_json(&req).await.map_err(failed),
        Err(e) => Err(failed(e)),
    };
    Arc::new(match fetched {
        Err(day) => day,
        Ok(f) => match parse_events(&f.json) {
            Ok(answer) => Day::Events {
                ids: answer.event_ids(),
                tally: Tally::of(&f),
                answer,
            },
            Err(e) => Day::Failed {
                kind: ErrorKind::InvalidPayload,
                message: format!("events answer for {} is malformed: {e}", run.date),
                tally: Tally::of(&f),
            },
        },
    })
}

/// Offers gathered page by page, and why gathering stopped early, if it did.
struct Pages {
    offers: Vec<serde_json::Value>,
    params: serde_json::Value,
    fetched: u32,
    total: Option<u32>,
    total_items: Option<u64>,
    tally: Tally,
    incomplete: Option<(ErrorKind, String)>,
}

pub(super) async fn run(scrapes: &Scrapes, run: Run, day: Arc<Day>) -> RunReport {
    let market = run.market.expect("props runs have a market");
    let (ids, events_tally) = match &*day {
        Day::Failed {
            kind,
            message,
            tally,
        } => {
            let mut r = run.report(RunStatus::Failed, format!("{}: {message}", run.context()));
            r.error_kind = Some(*kind);
            tally.apply(&mut r);
            return r;
        }
        Day::Events { ids, tally, .. } => (ids.clone(), tally.clone()),
    };
    if ids.is_empty() {
        let mut r = run.report(
            RunStatus::NoData,
            format!("no games on {}: 0 events, nothing to scrape", run.date),
        );
        r.counts.events = Some(0);
        events_tally.apply(&mut r);
        return r;
    }
    let pages = fetch_pages(scrapes, &run, &ids).await;
    let mut report = run.report(RunStatus::Success, String::new());
    report.event_ids = ids.clone();
    events_tally.clone().add(&pages.tally).apply(&mut report);
    report.counts.events = Some(ids.len() as u64);
    report.counts.pages_fetched = pages.fetched;
    report.counts.pages_total = pages.total;
    report.counts.offers_declared = pages.total_items;
    report.counts.offers_received = pages.offers.len() as u64;
    if pages.fetched == 0 {
        let (kind, why) = pages.incomplete.unzip();
        report.status = RunStatus::Failed;
        report.error_kind = kind;
        report.message = format!(
            "{}: no page of offers could be fetched: {}",
            run.context(),
            why.unwrap_or_default()
        );
        return report;
    }
    if pages.offers.is_empty() {
        report.status = RunStatus::NoData;
        report.message = format!(
            "{} games on {} but no {market} offers posted yet",
            ids.len(),
            run.date
        );
        return report;
    }
    let transformed = transform_offers(market, &pages.offers);
    let total_pages = pages.total.unwrap_or(pages.fetched);
    let file = props_file(&PropsFileInput {
        date: run.date,
        market,
        event_ids: &ids,
        timestamp: &run.timestamp,
        params: pages.params.clone(),
        pages_fetched: pages.fetched,
        total_pages,
        total_items: pages.total_items,
        offers_received: pages.offers.len() as u64,
        transformed: &transformed,
    });
    report.counts.props_written = transformed.props.len() as u64;
    report.counts.players = transformed.players_count() as u64;
    report.counts.failed_offers = transformed.failed_offers;
    report.counts.dropped_lines = transformed.dropped_lines;
    let key = match &pages.incomplete {
        None => {
            report.message = format!(
                "{} {market} props ({} players) from {} of {} pages for {} games on {}",
                transformed.props.len(),
                report.counts.players,
                pages.fetched,
                total_pages,
                ids.len(),
                run.date
            );
            StorageKey::Props {
                market,
                date: run.date,
                timestamp: run.timestamp.clone(),
            }
        }
        Some((kind, why)) => {
            report.status = RunStatus::Partial;
            report.error_kind = Some(*kind);
            report.message = format!(
                "{}: partial — {} of {} pages fetched ({} props kept in a partial file, not sent to Phase 2): {why}",
                run.context(), pages.fetched, total_pages, transformed.props.len()
            );
            StorageKey::PartialProps {
                market,
                date: run.date,
                timestamp: run.timestamp.clone(),
            }
        }
    };
    let report =
        super::write::write_file(scrapes, &run, key, &file, validate_props_file, report).await;
    if report.status == RunStatus::Partial {
        // A partial file is kept for people, never announced as loadable.
        return RunReport {
            complete_file_url: None,
            ..report
        };
    }
    report
}

async fn fetch_pages(scrapes: &Scrapes, run: &Run, ids: &[u64]) -> Pages {
    let market = run.market.expect("props runs have a market");
    let mut p = Pages {
        offers: Vec::new(),
        params: serde_json::Value::Null,
        fetched: 0,
        total: None,
        total_items: None,
        tally: Tally::default(),
        incomplete: None,
    };
    let mut page = 1;
    loop {
        if p.total.is_some_and(|total| page > total) {
            return p;
        }
        let of = p.total.map(|t| format!(" of {t}")).unwrap_or_default();
        let context = format!("{} page {page}{of}", run.context());
        let fetched =
            match scrapes
                .upstream
                .offers_request(market, ids, page, context, Some(run.deadline))
            {
                Ok(req) => scrapes.fetcher.get_json(&req).await,
                Err(e) => Err(e),
            };
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) => {
                p.tally = p.tally.add(&Tally::of_error(&e));
                p.incomplete = Some((e.kind(), format!("page {page}{of} failed: {}", e.cause())));
                return p;
            }
        };
        p.tally = p.tally.add(&Tally::of(&fetched));
        let parsed = match parse_offers_page(&fetched.json, page) {
            Ok(parsed) => parsed,
            Err(e) => {
                p.incomplete = Some((
                    ErrorKind::InvalidPayload,
                    format!("page {page}{of} is malformed: {e}"),
                ));
                return p;
            }
        };
        if page == 1 {
            p.params = parsed.params.clone();
            p.total_items = parsed.total_items;
            if parsed.total_pages > MAX_PAGES {
                p.incomplete = Some((
                    ErrorKind::PageCap,
                    format!(
                        "upstream declares {} pages; only the first {MAX_PAGES} are fetched",
                        parsed.total_pages
                    ),
                ));
            }
            p.total = Some(parsed.total_pages.min(MAX_PAGES));
        }
        let total = p.total.unwrap_or(0);
        if page > 1 && parsed.offers.is_empty() && page < total {
            p.incomplete = Some((
                ErrorKind::EmptyPage,
                format!("page {page} of {total} came back with no offers"),
            ));
            return p;
        }
        p.offers.extend(parsed.offers);
        p.fetched += 1;
        page += 1;
    }
}
