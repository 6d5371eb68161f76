//! Gap detection takes a past date's schedule from its stored events files, with no upstream
//! request; a date without one still asks, and a stored empty answer is one answer, never
//! proof of an off day on its own (contract section 6).

use std::time::Duration;

use backstop::app::App;
use backstop::gaps::evidence::Signal;
use backstop::gaps::{Category, GapQuery, GapReport};
use backstop::market::{MarketSelection, MarketType};
use backstop::sim::faults::Fault;

use crate::support::world::{category, d, history, scrape, world, World};

fn steals(from: u32, to: u32) -> GapQuery {
    GapQuery::new(d(from), d(to), MarketSelection::One(MarketType::Steals)).unwrap()
}

/// The service again on the same bucket, BettingPros and BigQuery, with an empty ledger of its
/// own: no remembered schedules, no runs — detection takes its cold path.
async fn cold(w: &World) -> App {
    let mut config = (*w.t.app.config).clone();
    let name = format!("cold-{:08x}.db", rand::random::<u32>());
    config.ledger.location = backstop::ledger::LedgerLocation::Sqlite(w.t.dir.path().join(name));
    App::build(config).await.expect("a second service builds")
}

/// The dates the events API was asked for since `since` arrivals, in order.
fn asked(w: &World, since: usize) -> Vec<String> {
    let arrivals = w.t.sim.arrivals();
    let mut dates: Vec<String> = arrivals[since..]
        .iter()
        .filter(|a| a.path.ends_with("/events"))
        .filter_map(|a| a.query.split('&').find_map(|p| p.strip_prefix("date=")))
        .map(str::to_string)
        .collect();
    dates.sort();
    dates
}

fn verdict(report: &GapReport, day: u32) -> (Category, String) {
    let row = report.row(d(day), MarketType::Steals).unwrap();
    (row.verdict.category, row.verdict.reason.clone())
}

#[tokio::test]
async fn a_cold_detection_over_dates_with_stored_events_files_asks_the_upstream_nothing() {
    let w = world(6, None, &[]).await;
    history(&w, 6).await;
    let app = cold(&w).await;
    let before = w.t.sim.arrivals().len();
    let report = app.detector.detect(&steals(1, 2)).await;
    assert_eq!(asked(&w, before), Vec::<String>::new());
    assert_eq!(report.work.events_requests, 0, "{:?}", report.work);
    assert_eq!(
        (report.work.storage_listings, report.work.events_files_read),
        (2, 2),
        "one listing for the market, one for the range's events files; the newest file of each date read"
    );
    for day in [1, 2] {
        let row = report.row(d(day), MarketType::Steals).unwrap();
        assert_eq!(row.evidence.games, Signal::Known(4));
        assert_eq!(
            row.verdict.category,
            category(day),
            "{}",
            row.verdict.reason
        );
        assert_eq!(app.ledger.known_games(d(day)).await.unwrap(), Some(4));
    }

    // Day 3 was never scraped and day 5 had no games: no events file, so they still ask.
    let app = cold(&w).await;
    let before = w.t.sim.arrivals().len();
    let report = app.detector.detect(&steals(1, 6)).await;
    assert_eq!(asked(&w, before), ["2026-01-03", "2026-01-05"]);
    assert_eq!(report.work.events_requests, 2, "{:?}", report.work);
    assert_eq!(
        report.work.storage_listings, 2,
        "one events listing for the range"
    );
    for day in 1..=6 {
        assert_eq!(verdict(&report, day).0, category(day), "day {day}");
    }
}

#[tokio::test]
async fn a_stored_empty_events_file_is_one_answer_and_never_proof_on_its_own() {
    let recheck = Duration::from_secs(6);
    let w = world(6, None, &[("BACKSTOP_NO_GAMES_RECHECK_MINS", "0.1")]).await;
    // The off day scraped: its empty answer is stored as the events file.
    assert_eq!(
        scrape(&w.t, d(5)).await,
        "",
        "no props file on a day without games"
    );
    let app = cold(&w).await;
    let before = w.t.sim.arrivals().len();
    let report = app.detector.detect(&steals(5, 5)).await;
    assert_eq!(
        asked(&w, before),
        ["2026-01-05"],
        "one stored answer is not proof"
    );
    let (category, reason) = verdict(&report, 5);
    assert_eq!(category, Category::OffDay);
    assert!(reason.contains("not yet corroborated"), "{reason}");
    assert_eq!(app.ledger.known_games(d(5)).await.unwrap(), None);

    // An answer after the recheck agrees with the stored one: corroborated at once, remembered.
    tokio::time::sleep(recheck + Duration::from_millis(200)).await;
    let app = cold(&w).await;
    let report = app.detector.detect(&steals(5, 5)).await;
    assert_eq!(report.work.events_requests, 1);
    let (category, reason) = verdict(&report, 5);
    assert_eq!(category, Category::OffDay);
    assert!(reason.contains("(corroborated)"), "{reason}");
    let no_games = report.rows[0].evidence.no_games.clone().unwrap();
    assert_eq!(no_games.answers, 2, "the stored answer and the upstream's");
    assert_eq!(app.ledger.known_games(d(5)).await.unwrap(), Some(0));
    let again = app.detector.detect(&steals(5, 5)).await;
    assert_eq!(again.work.events_requests, 0, "remembered");

    // The upstream lost day 3's schedule while the props scraper ran: the stored file is
    // empty, but the upstream, asked again, shows the games, and the date is a loss.
    w.t.sim.fail_when("date=2026-01-03", Fault::NoEvents);
    assert_eq!(scrape(&w.t, d(3)).await, "");
    w.t.sim.clear_rules();
    let app = cold(&w).await;
    let report = app.detector.detect(&steals(3, 3)).await;
    assert_eq!(report.work.events_requests, 1);
    let (category, reason) = verdict(&report, 3);
    assert_eq!(category, Category::ScraperFailed, "{reason}");
    assert_eq!(app.ledger.known_games(d(3)).await.unwrap(), Some(4));
}
