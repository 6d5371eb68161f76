//! What gap detection remembers across restarts, and empty events answers counted apart until
//! they are corroborated.

use chrono::Utc;

use super::{at, date, Backend};

pub async fn remembered_facts_survive_a_reopen(b: &Backend) {
    let date = date("2026-01-14");
    let object = "bettingpros/player-props/points/2026-01-14/20260114_180530.json";
    let l = &b.ledger;
    assert_eq!(l.known_games(date).await.unwrap(), None);
    l.remember_games(date, 3, Utc::now()).await.unwrap();
    l.remember_games(date, 0, Utc::now()).await.unwrap();
    l.remember_file_rows(object, 412).await.unwrap();
    let l = b.reopen().await;
    assert_eq!(
        l.known_games(date).await.unwrap(),
        Some(0),
        "zero games is a fact, not a gap; the last word counts"
    );
    assert_eq!(l.known_file_rows(object).await.unwrap(), Some(412));
    assert_eq!(l.known_file_rows("nope").await.unwrap(), None);
}

pub async fn empty_answers_are_counted_apart_until_the_date_is_remembered(b: &Backend) {
    let l = &b.ledger;
    let date = date("2026-01-10");
    let first = l.record_empty_events_answer(date, at(6, 0)).await.unwrap();
    assert_eq!(
        (first.answers, first.first_at, first.last_at),
        (1, at(6, 0), at(6, 0))
    );
    assert_eq!(
        l.known_games(date).await.unwrap(),
        None,
        "one answer is not a fact"
    );
    // Two instances each got an empty answer at once: both are counted.
    let other = b.instance("b", std::time::Duration::from_secs(60)).await;
    let (x, y) = tokio::join!(
        l.record_empty_events_answer(date, at(13, 0)),
        other.record_empty_events_answer(date, at(13, 0)),
    );
    let most = x.unwrap().answers.max(y.unwrap().answers);
    assert_eq!(most, 3);
    let again = l.record_empty_events_answer(date, at(14, 0)).await.unwrap();
    assert_eq!(
        (again.answers, again.first_at, again.last_at),
        (4, at(6, 0), at(14, 0))
    );
    l.remember_games(date, 0, at(14, 0)).await.unwrap();
    assert_eq!(l.known_games(date).await.unwrap(), Some(0));
    let after = l.record_empty_events_answer(date, at(20, 0)).await.unwrap();
    assert_eq!(after.answers, 1, "remembering cleared the answers");
}
