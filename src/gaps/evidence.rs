//! The evidence behind a verdict: games, raw files, rows loaded, last run. Each signal is
//! either known or unknown with the reason it could not be read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::GameDate;
use crate::market::MarketType;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal<T> {
    Known(T),
    /// Could not be read; the reason.
    Unknown(String),
}

impl<T> Signal<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Signal::Known(v) => Some(v),
            Signal::Unknown(_) => None,
        }
    }
}

/// What the schedule says about one date: the games, and how sure a zero is.
pub type Games = (Signal<u64>, Option<NoGames>);

/// One complete raw props file for the date and market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEvidence {
    pub name: String,
    pub size: u64,
    /// Rows Phase 2 writes from it (prop × side × sportsbook line).
    pub rows: Signal<u64>,
}

/// Rows in the table for the date and market.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Loaded {
    /// By `source_file_path` (the object name).
    pub by_path: BTreeMap<String, u64>,
    /// Rows whose `source_file_path` is `unknown` (written so from 2025-11-19 to 2026-06-03).
    pub unknown_path: u64,
    pub total: u64,
}

/// The old completeness rule, reported for comparison only: it misjudges small markets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegacyFigure {
    pub rows_all_markets: u64,
    pub threshold: u64,
    pub would_pass: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRun {
    pub run_id: String,
    pub status: String,
    pub started_at: String,
    pub props_written: u64,
    pub error: Option<String>,
}

/// How sure "no games" is, when the schedule says there were none. One empty answer is not
/// proof (contract section 6): the zero is remembered only when corroborated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoGames {
    /// Remembered as a fact: empty answers at least the recheck interval apart, and nothing
    /// disagreeing. Until then every detection asks the events API again.
    pub corroborated: bool,
    /// Empty answers for the date, first and last: the events API's once the date was over,
    /// and with them its stored empty events files' (each counted once, at its timestamp).
    /// None for a remembered fact, or a date not over yet.
    pub answers: u32,
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    /// Signals that say there were games after all: a file with rows, rows in the table for
    /// the date, a run that saw events, an older stored events file that lists games.
    pub disagreeing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub date: GameDate,
    pub market: MarketType,
    pub games: Signal<u64>,
    /// With a zero game count: how sure that is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_games: Option<NoGames>,
    /// Complete props files, newest first.
    pub files: Signal<Vec<FileEvidence>>,
    pub loaded: Signal<Loaded>,
    pub legacy: Option<LegacyFigure>,
    pub last_run: Option<LastRun>,
}
