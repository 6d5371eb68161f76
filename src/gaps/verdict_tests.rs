//! One test per row of the verdict table (`verdict.rs`).

use super::evidence::{Evidence, FileEvidence, Loaded, NoGames, Signal};
use super::verdict::*;
use crate::market::MarketType;

fn evidence(
    games: Signal<u64>,
    files: Vec<(&str, u64)>,
    loaded: Signal<Vec<(&str, u64)>>,
) -> Evidence {
    Evidence {
        date: "2026-01-14".parse().unwrap(),
        market: MarketType::Steals,
        games,
        no_games: None,
        files: Signal::Known(
            files
                .into_iter()
                .map(|(n, rows)| FileEvidence {
                    name: n.into(),
                    size: 10,
                    rows: Signal::Known(rows),
                })
                .collect(),
        ),
        loaded: match loaded {
            Signal::Known(rows) => {
                let mut l = Loaded::default();
                for (path, n) in rows {
                    if path == "unknown" {
                        l.unknown_path += n;
                    } else {
                        l.by_path.insert(path.into(), n);
                    }
                    l.total += n;
                }
                Signal::Known(l)
            }
            Signal::Unknown(why) => Signal::Unknown(why),
        },
        legacy: None,
        last_run: None,
    }
}
const NEW: &str = "bettingpros/player-props/steals/2026-01-14/20260114_200000.json";
const OLD: &str = "bettingpros/player-props/steals/2026-01-14/20260114_160000.json";

#[test]
fn off_day_is_not_a_loss() {
    let v = judge(&evidence(Signal::Known(0), vec![], Signal::Known(vec![])));
    assert_eq!((v.category, v.remedy), (Category::OffDay, Remedy::None));
}

fn sure(corroborated: bool, disagreeing: &[&str]) -> Option<NoGames> {
    Some(NoGames {
        corroborated,
        answers: 1,
        disagreeing: disagreeing.iter().map(|s| s.to_string()).collect(),
        ..NoGames::default()
    })
}

#[test]
fn an_off_day_not_yet_corroborated_says_so() {
    let mut e = evidence(Signal::Known(0), vec![], Signal::Known(vec![]));
    e.no_games = sure(false, &[]);
    let v = judge(&e);
    assert_eq!(v.category, Category::OffDay);
    assert!(v.reason.contains("not yet corroborated"), "{}", v.reason);
    e.no_games = sure(true, &[]);
    let v = judge(&e);
    assert!(v.reason.contains("(corroborated)"), "{}", v.reason);
}

#[test]
fn no_games_with_a_signal_disagreeing_is_not_an_off_day() {
    let mut e = evidence(Signal::Known(0), vec![], Signal::Known(vec![]));
    e.no_games = sure(false, &["the table holds 412 rows for 2026-01-14"]);
    let v = judge(&e);
    assert_eq!((v.category, v.remedy), (Category::Unknown, Remedy::None));
    assert!(v.reason.contains("412 rows"), "{}", v.reason);
}

#[test]
fn a_date_whose_files_hold_rows_is_judged_by_them_whatever_the_events_api_says() {
    let v = judge(&evidence(
        Signal::Known(0),
        vec![(NEW, 40)],
        Signal::Known(vec![]),
    ));
    assert_eq!(v.category, Category::ProcessorFailed);
    assert!(v.reason.contains("answered no games, but"), "{}", v.reason);
    let v = judge(&evidence(
        Signal::Known(0),
        vec![(NEW, 40)],
        Signal::Known(vec![(NEW, 40)]),
    ));
    assert_eq!(v.category, Category::Complete);
}

#[test]
fn a_file_on_a_day_without_games_is_a_legitimate_zero() {
    let v = judge(&evidence(
        Signal::Known(0),
        vec![(NEW, 0)],
        Signal::Known(vec![]),
    ));
    assert_eq!(v.category, Category::LegitimateZero);
}

#[test]
fn games_without_a_file_mean_the_scraper_failed() {
    let v = judge(&evidence(Signal::Known(8), vec![], Signal::Known(vec![])));
    assert_eq!(
        (v.category, v.remedy),
        (Category::ScraperFailed, Remedy::Rescrape)
    );
}

#[test]
fn a_newest_file_without_rows_means_the_processor_failed_and_it_is_sent() {
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 40), (OLD, 38)],
        Signal::Known(vec![]),
    ));
    assert_eq!(v.category, Category::ProcessorFailed);
    assert_eq!(
        v.remedy,
        Remedy::SendFile {
            object_name: NEW.into()
        }
    );
    assert!(v.reason.contains("yields 40"), "{}", v.reason);
    assert!(
        v.reason.starts_with("8 games; the newest file"),
        "the reason reads well: {}",
        v.reason
    );
}

#[test]
fn an_older_loaded_snapshot_does_not_make_the_date_complete() {
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 40), (OLD, 38)],
        Signal::Known(vec![(OLD, 38)]),
    ));
    assert_eq!(v.category, Category::ProcessorFailed);
    assert_eq!(
        v.remedy,
        Remedy::SendFile {
            object_name: NEW.into()
        }
    );
    assert!(v.reason.contains(OLD), "{}", v.reason);
}

#[test]
fn a_fully_loaded_newest_file_makes_the_date_complete() {
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 40), (OLD, 38)],
        Signal::Known(vec![(NEW, 40)]),
    ));
    assert_eq!((v.category, v.short_load), (Category::Complete, None));
}

#[test]
fn a_short_load_is_complete_reported_with_both_numbers_and_never_sent() {
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 40), (OLD, 38)],
        Signal::Known(vec![(NEW, 12)]),
    ));
    assert_eq!(
        (v.category, v.remedy.clone()),
        (Category::Complete, Remedy::None)
    );
    assert_eq!(
        v.short_load,
        Some(ShortLoad {
            object_name: NEW.into(),
            rows_held: 12,
            rows_expected: 40
        })
    );
    assert!(v.reason.contains("12 of its 40"), "{}", v.reason);
}

#[test]
fn a_newest_file_that_yields_nothing_leaves_the_verdict_to_the_one_before() {
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 0), (OLD, 38)],
        Signal::Known(vec![(OLD, 38)]),
    ));
    assert_eq!(v.category, Category::Complete);
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 0)],
        Signal::Known(vec![]),
    ));
    assert_eq!((v.category, v.remedy), (Category::Unknown, Remedy::None));
}

#[test]
fn a_small_market_is_judged_by_its_own_file_not_by_150_per_game() {
    // 8 games × 150 = 1200 rows under the old rule; a steals file yields 60.
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 60)],
        Signal::Known(vec![(NEW, 60)]),
    ));
    assert_eq!(v.category, Category::Complete);
}

#[test]
fn rows_under_the_unknown_path_at_least_the_newest_yields_make_it_complete() {
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 60)],
        Signal::Known(vec![("unknown", 75)]),
    ));
    assert_eq!(v.category, Category::Complete);
}

#[test]
fn fewer_rows_under_the_unknown_path_give_unknown_never_a_send() {
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 60)],
        Signal::Known(vec![("unknown", 20)]),
    ));
    assert_eq!((v.category, v.remedy), (Category::Unknown, Remedy::None));
    assert!(v.reason.contains("cannot be told"), "{}", v.reason);
}

#[test]
fn a_file_loaded_twice_is_complete_and_says_so() {
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 60)],
        Signal::Known(vec![(NEW, 120)]),
    ));
    assert_eq!(v.category, Category::Complete);
    assert!(v.reason.contains("loaded about 2 times"), "{}", v.reason);
}

#[test]
fn bigquery_down_gives_unknown_not_a_guess() {
    let v = judge(&evidence(
        Signal::Known(8),
        vec![(NEW, 60)],
        Signal::Unknown("connection refused".into()),
    ));
    assert_eq!(
        (v.category, v.remedy.clone()),
        (Category::Unknown, Remedy::None)
    );
    assert!(v.reason.contains("connection refused"));
}

#[test]
fn an_unreadable_listing_gives_unknown() {
    let mut e = evidence(Signal::Known(8), vec![], Signal::Known(vec![]));
    e.files = Signal::Unknown("storage: HTTP 503".into());
    let v = judge(&e);
    assert_eq!((v.category, v.remedy), (Category::Unknown, Remedy::None));
    assert!(v.reason.contains("503"), "{}", v.reason);
}

#[test]
fn an_unreadable_newest_file_without_rows_gives_unknown() {
    let mut e = evidence(Signal::Known(8), vec![(NEW, 40)], Signal::Known(vec![]));
    if let Signal::Known(files) = &mut e.files {
        files[0].rows = Signal::Unknown("storage: HTTP 503".into());
    }
    let v = judge(&e);
    assert_eq!((v.category, v.remedy), (Category::Unknown, Remedy::None));
    assert!(v.reason.contains("503"), "{}", v.reason);
}

#[test]
fn unknown_schedule_gives_unknown() {
    let v = judge(&evidence(
        Signal::Unknown("events API: HTTP 403".into()),
        vec![],
        Signal::Known(vec![]),
    ));
    assert_eq!(v.category, Category::Unknown);
    assert!(v.reason.contains("403"));
    let v = judge(&evidence(
        Signal::Unknown("events API: HTTP 403".into()),
        vec![(NEW, 40)],
        Signal::Known(vec![]),
    ));
    assert_eq!((v.category, v.remedy), (Category::Unknown, Remedy::None));
}
