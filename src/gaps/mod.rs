//! Lost-date detection: gather the evidence for every (date, market), then apply the table of
//! contract section 6. `verdict` is pure; `gather` does the reading, within a `bound` when a
//! request's time limits it; `job` carries a long range on in detection jobs.

pub mod bound;
pub mod evidence;
pub mod gather;
pub mod job;
pub mod report;
mod schedule;
mod stored_schedule;
pub mod verdict;
#[cfg(test)]
mod verdict_tests;

use crate::calendar::GameDate;
use crate::market::{MarketSelection, MarketType};
use crate::scrapers::scheduled_markets;

pub use bound::{Bound, Detected};
pub use evidence::Games;
pub use gather::Detector;
pub use job::GapAnswer;
pub use report::GapReport;
pub use verdict::{Category, Remedy, Verdict};

/// The longest range one detection covers.
pub const MAX_DAYS: i64 = 400;

/// Which dates and markets to examine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapQuery {
    pub from: GameDate,
    pub to: GameDate,
    pub markets: Vec<MarketType>,
}

impl GapQuery {
    /// Validates a range: dates in order, at most [`MAX_DAYS`] days.
    pub fn new(from: GameDate, to: GameDate, markets: MarketSelection) -> Result<Self, String> {
        if from > to {
            return Err(format!(
                "the range is backwards: from {from} is after to {to}"
            ));
        }
        let days = (to.naive() - from.naive()).num_days() + 1;
        if days > MAX_DAYS {
            return Err(format!(
                "{days} days from {from} to {to}: at most {MAX_DAYS} days at a time"
            ));
        }
        Ok(Self {
            from,
            to,
            markets: markets.markets(),
        })
    }

    /// Parses `from`, `to` (dates or TODAY/YESTERDAY) and `market`: one market, `all` six,
    /// or by default the markets the schedule scrapes ([`scheduled_markets`]).
    pub fn parse(from: &str, to: &str, market: Option<&str>) -> Result<Self, String> {
        let now = chrono::Utc::now();
        let from = GameDate::resolve(from, now).map_err(|e| format!("from: {e}"))?;
        let to = GameDate::resolve(to, now).map_err(|e| format!("to: {e}"))?;
        let Some(market) = market else {
            let mut q = Self::new(from, to, MarketSelection::All)?;
            q.markets = scheduled_markets();
            return Ok(q);
        };
        let markets = market
            .parse::<MarketSelection>()
            .map_err(|e| e.to_string())?;
        Self::new(from, to, markets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_bounded_and_ordered() {
        assert_eq!(
            GapQuery::parse("2026-01-01", "2026-01-31", None)
                .unwrap()
                .markets,
            scheduled_markets(),
            "by default, the markets the schedule scrapes"
        );
        assert_eq!(
            GapQuery::parse("2026-01-01", "2026-01-31", Some("all"))
                .unwrap()
                .markets,
            MarketType::ALL
        );
        assert!(GapQuery::parse("2026-01-31", "2026-01-01", None)
            .unwrap_err()
            .contains("backwards"));
        assert!(GapQuery::parse("2025-01-01", "2026-03-01", None)
            .unwrap_err()
            .contains("at most 400"));
        assert!(
            GapQuery::parse("2026-01-01", "2026-01-02", Some("steals"))
                .unwrap()
                .markets
                == vec![MarketType::Steals]
        );
        assert!(GapQuery::parse("yesterday-ish", "2026-01-02", None)
            .unwrap_err()
            .contains("from"));
    }
}
