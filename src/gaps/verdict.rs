//! The lost-date table of contract section 6, as a pure function of the evidence.

use serde::Serialize;

use super::evidence::{Evidence, Signal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Complete,
    OffDay,
    LegitimateZero,
    ScraperFailed,
    ProcessorFailed,
    Unknown,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Complete => "complete",
            Category::OffDay => "off_day",
            Category::LegitimateZero => "legitimate_zero",
            Category::ScraperFailed => "scraper_failed",
            Category::ProcessorFailed => "processor_failed",
            Category::Unknown => "unknown",
        }
    }

    pub const ALL: [Category; 6] = [
        Category::Complete,
        Category::OffDay,
        Category::LegitimateZero,
        Category::ScraperFailed,
        Category::ProcessorFailed,
        Category::Unknown,
    ];

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What recovery should do about a date and market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Remedy {
    None,
    Rescrape,
    SendFile { object_name: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub category: Category,
    /// Why, in words a person can check against the evidence.
    pub reason: String,
    pub remedy: Remedy,
}

fn verdict(category: Category, reason: impl Into<String>, remedy: Remedy) -> Verdict {
    Verdict {
        category,
        reason: reason.into(),
        remedy,
    }
}

/// Applies the table. Unreadable signals give `unknown` with the reason, never a guess.
pub fn judge(e: &Evidence) -> Verdict {
    let files = match &e.files {
        Signal::Unknown(why) => {
            return verdict(
                Category::Unknown,
                format!("storage listing failed: {why}"),
                Remedy::None,
            )
        }
        Signal::Known(files) => files,
    };
    let games = match (&e.games, files.is_empty()) {
        (Signal::Known(n), _) => *n,
        (Signal::Unknown(why), true) => {
            return verdict(
                Category::Unknown,
                format!("no raw file, and the schedule is unknown: {why}"),
                Remedy::None,
            )
        }
        (Signal::Unknown(why), false) => {
            return verdict(
                Category::Unknown,
                format!("raw files exist, but the schedule is unknown: {why}"),
                Remedy::None,
            )
        }
    };
    match (files.is_empty(), games) {
        (true, 0) => return verdict(Category::OffDay, "no games and no raw file", Remedy::None),
        (false, 0) => {
            return verdict(
                Category::LegitimateZero,
                format!(
                    "no games; {} raw file(s) hold no loadable rows",
                    files.len()
                ),
                Remedy::None,
            )
        }
        (true, n) => {
            return verdict(
                Category::ScraperFailed,
                format!("{n} games but no raw file"),
                Remedy::Rescrape,
            )
        }
        (false, _) => {}
    }
    let loaded = match &e.loaded {
        Signal::Unknown(why) => {
            return verdict(
                Category::Unknown,
                format!("raw files exist but BigQuery could not be read: {why}"),
                Remedy::None,
            )
        }
        Signal::Known(l) => l,
    };
    // Newest first: the file whose rows are all in the table, per file or (where the loader
    // wrote `unknown` as the path) per date and market.
    for f in files {
        let Signal::Known(expected) = f.rows else {
            continue;
        };
        let by_path = loaded.by_path.get(&f.name).copied().unwrap_or(0);
        if expected > 0 && by_path >= expected {
            return verdict(
                Category::Complete,
                match by_path / expected {
                    1 => format!("{} holds {by_path} of its {expected} rows", f.name),
                    // Complete, but a person should know: Phase 2 appends on every delivery.
                    times => format!(
                        "{} holds {by_path} rows for its {expected}: loaded about {times} times (duplicate rows)",
                        f.name
                    ),
                },
                Remedy::None,
            );
        }
        if expected > 0 && loaded.unknown_path >= expected {
            return verdict(
                Category::Complete,
                format!(
                    "{} rows recorded under source_file_path 'unknown' ≥ the {expected} rows of {}",
                    loaded.unknown_path, f.name
                ),
                Remedy::None,
            );
        }
    }
    let Some(newest) = files
        .iter()
        .find(|f| matches!(f.rows, Signal::Known(n) if n > 0))
    else {
        let why: Vec<String> = files
            .iter()
            .map(|f| match &f.rows {
                Signal::Unknown(r) => format!("{}: {r}", f.name),
                Signal::Known(_) => format!("{}: 0 loadable rows", f.name),
            })
            .collect();
        return verdict(
            Category::Unknown,
            format!(
                "{games} games but no readable raw file with rows: {}",
                why.join("; ")
            ),
            Remedy::None,
        );
    };
    let rows = match newest.rows {
        Signal::Known(n) => n,
        Signal::Unknown(_) => 0,
    };
    let held = loaded.by_path.get(&newest.name).copied().unwrap_or(0);
    verdict(
        Category::ProcessorFailed,
        format!(
            "{games} games; newest file {} yields {rows} rows, the table holds {held} for it",
            newest.name
        ),
        Remedy::SendFile {
            object_name: newest.name.clone(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaps::evidence::{FileEvidence, Loaded};
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
    fn a_file_without_its_rows_means_the_processor_failed_and_the_newest_is_sent() {
        let v = judge(&evidence(
            Signal::Known(8),
            vec![(NEW, 40), (OLD, 38)],
            Signal::Known(vec![(NEW, 12)]),
        ));
        assert_eq!(v.category, Category::ProcessorFailed);
        assert_eq!(
            v.remedy,
            Remedy::SendFile {
                object_name: NEW.into()
            }
        );
        assert!(
            v.reason.contains("40") && v.reason.contains("12"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn any_fully_loaded_snapshot_makes_the_date_complete() {
        let v = judge(&evidence(
            Signal::Known(8),
            vec![(NEW, 40), (OLD, 38)],
            Signal::Known(vec![(OLD, 38)]),
        ));
        assert_eq!(v.category, Category::Complete);
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
    fn rows_under_the_unknown_path_count_for_the_date_and_market() {
        let v = judge(&evidence(
            Signal::Known(8),
            vec![(NEW, 60)],
            Signal::Known(vec![("unknown", 75)]),
        ));
        assert_eq!(v.category, Category::Complete);
        let v = judge(&evidence(
            Signal::Known(8),
            vec![(NEW, 60)],
            Signal::Known(vec![("unknown", 20)]),
        ));
        assert_eq!(v.category, Category::ProcessorFailed);
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
    fn unknown_schedule_gives_unknown() {
        let v = judge(&evidence(
            Signal::Unknown("events API: HTTP 403".into()),
            vec![],
            Signal::Known(vec![]),
        ));
        assert_eq!(v.category, Category::Unknown);
        assert!(v.reason.contains("403"));
    }
}
