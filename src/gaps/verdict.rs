//! The lost-date table of contract section 6, as a pure function of the evidence.
//!
//! | raw files | games | rows in the table | verdict |
//! |---|---|---|---|
//! | unreadable | – | – | unknown |
//! | none or some | unknown | – | unknown |
//! | none | 0 | – | off_day ("not yet corroborated" until it is: see `schedule`) |
//! | some, none with rows | 0 | – | legitimate_zero (likewise) |
//! | none, or none with rows | 0, but a signal disagrees | – | unknown: the schedule is in doubt |
//! | some with rows | 0 | – | judged by the files, as below: a date whose files hold rows is never an off day |
//! | none | > 0 | – | scraper_failed: scrape again |
//! | some | > 0 | unreadable | unknown |
//! | some | > 0 | the newest complete file has all its rows | complete |
//! | some | > 0 | it has fewer (a *short load*) or more (loaded twice) | complete, with both numbers |
//! | some | > 0 | it has none; rows under `unknown` ≥ what it yields | complete |
//! | some | > 0 | it has none; fewer rows under `unknown` | unknown: which file they came from cannot be told |
//! | some | > 0 | it has none, none under `unknown` either | processor_failed: send it |
//! | some | > 0 | no file has rows to load, or it cannot be read | unknown |
//!
//! *The newest complete file* is the newest snapshot under `bettingpros/player-props/` (a
//! partial run's file lives elsewhere) that yields rows; one yielding none holds nothing to load.
//! *Any* rows under its `source_file_path` mean it was loaded (the loader's own rule): it is
//! never sent again, because every delivery appends and a second send would duplicate the rows
//! that are there. Rows of an older snapshot do not make a date complete while the newest has
//! none: the newest is sent (it has no rows, so nothing can duplicate).
//!
//! **The `unknown` period.** From 2025-11-19 to 2026-06-03 the loader wrote `unknown` as the
//! path, so only the date-and-market total can be compared with a file. Rows under `unknown` at
//! least as many as the newest file yields → complete. Fewer → `unknown`, never a send: they may
//! be an older snapshot or a short load of the newest, and sending the newest could load rows
//! twice; a person decides.

use serde::Serialize;

use super::evidence::{Evidence, FileEvidence, Loaded, NoGames, Signal};

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
    /// The newest complete file holds fewer rows than it yields: reported, never re-sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_load: Option<ShortLoad>,
}

/// A file with some but not all of its rows in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShortLoad {
    pub object_name: String,
    /// Rows under its `source_file_path`.
    pub rows_held: u64,
    /// Rows it yields (prop × side × sportsbook line).
    pub rows_expected: u64,
}

fn verdict(category: Category, reason: impl Into<String>, remedy: Remedy) -> Verdict {
    Verdict {
        category,
        reason: reason.into(),
        remedy,
        short_load: None,
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
    let with_rows = files
        .iter()
        .find(|f| f.rows.known().is_some_and(|n| *n > 0));
    let label = match (games, with_rows) {
        (0, Some(f)) => format!(
            "the events API answered no games, but {} yields rows",
            f.name
        ),
        (0, None) => return no_games(files.len(), e.no_games.as_ref()),
        (n, _) => format!("{n} games"),
    };
    if files.is_empty() {
        return verdict(
            Category::ScraperFailed,
            format!("{label} but no raw file"),
            Remedy::Rescrape,
        );
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
    judge_loaded(&label, files, loaded)
}

/// No games, and no file with rows: an off day or a legitimate zero — unless a signal
/// disagrees — saying how sure the zero is.
fn no_games(files: usize, sure: Option<&NoGames>) -> Verdict {
    let sure = sure.cloned().unwrap_or_default();
    if !sure.disagreeing.is_empty() {
        return verdict(
            Category::Unknown,
            format!(
                "the events API answered no games, but {}: not an off day; the schedule is in doubt",
                sure.disagreeing.join("; ")
            ),
            Remedy::None,
        );
    }
    let how = if sure.corroborated {
        "corroborated".to_string()
    } else {
        format!(
            "{} empty answer(s) so far, not yet corroborated: remembered only when an answer hours after the first agrees, so every detection asks again",
            sure.answers.max(1)
        )
    };
    if files == 0 {
        verdict(
            Category::OffDay,
            format!("no games ({how}) and no raw file"),
            Remedy::None,
        )
    } else {
        verdict(
            Category::LegitimateZero,
            format!("no games ({how}); {files} raw file(s) hold no loadable rows"),
            Remedy::None,
        )
    }
}

/// A game day with raw files and readable rows: by the newest complete file. `games` says
/// what the schedule said (`8 games`).
fn judge_loaded(games: &str, files: &[FileEvidence], loaded: &Loaded) -> Verdict {
    let Some(newest) = files.iter().find(|f| !matches!(f.rows, Signal::Known(0))) else {
        return verdict(
            Category::Unknown,
            format!(
                "{games} but none of the {} raw file(s) has rows to load",
                files.len()
            ),
            Remedy::None,
        );
    };
    let name = &newest.name;
    let held = loaded.by_path.get(name).copied().unwrap_or(0);
    let yields = newest.rows.known().copied();
    if held > 0 {
        let mut v = verdict(Category::Complete, String::new(), Remedy::None);
        v.reason = match yields {
            Some(n) if held == n => format!("{name} holds all its {n} rows"),
            Some(n) if held < n => {
                v.short_load = Some(ShortLoad {
                    object_name: name.clone(),
                    rows_held: held,
                    rows_expected: n,
                });
                format!("{name} holds {held} of its {n} rows: a short load, reported and never sent again (a second send would duplicate the {held} rows there)")
            }
            Some(n) => format!(
                "{name} holds {held} rows for its {n}: loaded about {} times (duplicate rows)",
                held / n
            ),
            None => format!("{name} holds {held} rows (its own count could not be read)"),
        };
        return v;
    }
    let Some(yields) = yields else {
        let why = match &newest.rows {
            Signal::Unknown(why) => why.as_str(),
            Signal::Known(_) => "",
        };
        return verdict(
            Category::Unknown,
            format!("{games}; the newest file {name} has no rows in the table and cannot be read: {why}"),
            Remedy::None,
        );
    };
    if loaded.unknown_path > 0 {
        let unknown = loaded.unknown_path;
        return if unknown >= yields {
            verdict(
                Category::Complete,
                format!("{unknown} rows recorded under source_file_path 'unknown' (2025-11-19 to 2026-06-03) ≥ the {yields} rows of {name}"),
                Remedy::None,
            )
        } else {
            verdict(
                Category::Unknown,
                format!("{unknown} rows under source_file_path 'unknown' (2025-11-19 to 2026-06-03), fewer than the {yields} rows of {name}: which file they came from cannot be told, and a send could load rows twice; check by hand"),
                Remedy::None,
            )
        };
    }
    let older = files
        .iter()
        .filter(|f| loaded.by_path.get(&f.name).is_some_and(|n| *n > 0))
        .map(|f| {
            format!(
                "; the older snapshot {} holds {} rows, which does not make the date complete",
                f.name, loaded.by_path[&f.name]
            )
        })
        .next()
        .unwrap_or_default();
    verdict(
        Category::ProcessorFailed,
        format!("{games}; the newest file {name} yields {yields} rows, none in the table{older}"),
        Remedy::SendFile {
            object_name: name.clone(),
        },
    )
}
