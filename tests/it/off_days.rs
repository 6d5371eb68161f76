//! "No games" is a strong claim (contract section 6): one empty events answer for a past date
//! is not remembered as an off day; a later answer with games makes the date a loss.

use std::time::Duration;

use backstop::gaps::{Category, GapQuery};
use backstop::market::{MarketSelection, MarketType};
use backstop::sim::faults::Fault;

use crate::support::world::{d, history, world, NEVER_SCRAPED, OFF_DAYS};

fn steals(day: u32) -> GapQuery {
    GapQuery::new(d(day), d(day), MarketSelection::One(MarketType::Steals)).unwrap()
}

#[tokio::test]
async fn one_empty_events_answer_does_not_hide_a_lost_date_for_ever() {
    let w = world(4, None, &[]).await;
    history(&w, 4).await;
    let lost = NEVER_SCRAPED[0];
    // For a moment the upstream has lost the date's schedule.
    w.t.sim
        .fail_when(&format!("date={}", d(lost)), Fault::NoEvents);
    let first = w.t.app.detector.detect(&steals(lost)).await;
    let row = first.row(d(lost), MarketType::Steals).unwrap();
    assert_eq!(row.verdict.category, Category::OffDay);
    assert!(
        row.verdict.reason.contains("not yet corroborated"),
        "{}",
        row.verdict.reason
    );
    assert_eq!(w.t.app.ledger.known_games(d(lost)).await.unwrap(), None);

    w.t.sim.clear_rules();
    let second = w.t.app.detector.detect(&steals(lost)).await;
    let row = second.row(d(lost), MarketType::Steals).unwrap();
    assert_eq!(
        row.verdict.category,
        Category::ScraperFailed,
        "{}",
        row.verdict.reason
    );
    assert_eq!(second.work.events_requests, 1, "asked again");
}

#[tokio::test]
async fn two_empty_answers_the_recheck_apart_are_remembered_as_an_off_day() {
    let w = world(6, None, &[("BACKSTOP_NO_GAMES_RECHECK_MINS", "0.02")]).await;
    let off = OFF_DAYS[0];
    let first = w.t.app.detector.detect(&steals(off)).await;
    let reason = &first
        .row(d(off), MarketType::Steals)
        .unwrap()
        .verdict
        .reason;
    assert!(reason.contains("not yet corroborated"), "{reason}");
    assert_eq!(w.t.app.ledger.known_games(d(off)).await.unwrap(), None);

    tokio::time::sleep(Duration::from_millis(1300)).await;
    let second = w.t.app.detector.detect(&steals(off)).await;
    let row = second.row(d(off), MarketType::Steals).unwrap();
    assert_eq!(row.verdict.category, Category::OffDay);
    assert!(
        row.verdict.reason.contains("(corroborated)"),
        "{}",
        row.verdict.reason
    );
    assert_eq!(w.t.app.ledger.known_games(d(off)).await.unwrap(), Some(0));

    let third = w.t.app.detector.detect(&steals(off)).await;
    assert_eq!(third.work.events_requests, 0, "remembered: not asked again");
}
