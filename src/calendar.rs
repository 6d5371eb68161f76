//! Game dates (the US Eastern calendar date of the games) and run timestamps.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::America::New_York;
use serde::{Deserialize, Serialize};

/// The US Eastern calendar date of a day's games, as BettingPros and the storage layout use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GameDate(NaiveDate);

/// A date given by a person or a scheduler: `YYYY-MM-DD`, `TODAY` or `YESTERDAY`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {given:?}: expected YYYY-MM-DD, TODAY or YESTERDAY")]
pub struct InvalidDate {
    pub given: String,
}

impl GameDate {
    pub fn new(date: NaiveDate) -> Self {
        Self(date)
    }

    /// Resolves `TODAY`/`YESTERDAY` (US Eastern, case-insensitive) or parses `YYYY-MM-DD`.
    pub fn resolve(given: &str, now: DateTime<Utc>) -> Result<Self, InvalidDate> {
        let today = now.with_timezone(&New_York).date_naive();
        match given.trim().to_ascii_uppercase().as_str() {
            "TODAY" => Ok(Self(today)),
            "YESTERDAY" => Ok(Self(today - Days::new(1))),
            _ => given.parse(),
        }
    }

    pub fn naive(self) -> NaiveDate {
        self.0
    }

    pub fn succ(self) -> Self {
        Self(self.0 + Days::new(1))
    }

    /// Every date from `self` to `last`, both included.
    pub fn through(self, last: GameDate) -> impl Iterator<Item = GameDate> {
        std::iter::successors(Some(self), move |d| Some(d.succ())).take_while(move |d| *d <= last)
    }
}

impl FromStr for GameDate {
    type Err = InvalidDate;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidDate {
            given: s.to_string(),
        };
        if s.len() != 10 {
            return Err(invalid());
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Self)
            .map_err(|_| invalid())
    }
}

impl TryFrom<String> for GameDate {
    type Error = InvalidDate;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<GameDate> for String {
    fn from(d: GameDate) -> String {
        d.to_string()
    }
}

impl fmt::Display for GameDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// The UTC start of a run as it appears in object names: `YYYYMMDD_HHMMSS`.
pub fn run_timestamp(started: DateTime<Utc>) -> String {
    started.format("%Y%m%d_%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn today_is_the_eastern_date_not_the_utc_one() {
        // 03:00 UTC on Jan 15 is still Jan 14 in New York.
        let now = Utc.with_ymd_and_hms(2026, 1, 15, 3, 0, 0).unwrap();
        assert_eq!(
            GameDate::resolve("TODAY", now).unwrap().to_string(),
            "2026-01-14"
        );
        assert_eq!(
            GameDate::resolve("yesterday", now).unwrap().to_string(),
            "2026-01-13"
        );
    }

    #[test]
    fn explicit_dates_parse_and_bad_ones_are_named() {
        let now = Utc::now();
        assert_eq!(
            GameDate::resolve("2026-01-14", now).unwrap().to_string(),
            "2026-01-14"
        );
        for bad in [
            "2026-1-14",
            "2026-02-30",
            "14/01/2026",
            "",
            "2026-01-14T00:00",
        ] {
            let err = GameDate::resolve(bad, now).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn run_timestamp_is_compact_utc() {
        let t = Utc.with_ymd_and_hms(2026, 1, 14, 18, 5, 12).unwrap();
        assert_eq!(run_timestamp(t), "20260114_180512");
    }

    #[test]
    fn through_includes_both_ends() {
        let a: GameDate = "2026-02-27".parse().unwrap();
        let b: GameDate = "2026-03-02".parse().unwrap();
        let all: Vec<String> = a.through(b).map(|d| d.to_string()).collect();
        assert_eq!(
            all,
            ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
        );
    }
}
