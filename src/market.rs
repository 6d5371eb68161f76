//! The six player-prop markets: their names in files and messages and their BettingPros ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarketType {
    Points,
    Rebounds,
    Assists,
    Threes,
    Steals,
    Blocks,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown market {given:?}: expected one of points, rebounds, assists, threes, steals, blocks"
)]
pub struct UnknownMarket {
    pub given: String,
}

impl MarketType {
    pub const ALL: [MarketType; 6] = [
        MarketType::Points,
        MarketType::Rebounds,
        MarketType::Assists,
        MarketType::Threes,
        MarketType::Steals,
        MarketType::Blocks,
    ];

    /// The name used in object paths, files and messages (`points`).
    pub fn as_str(self) -> &'static str {
        match self {
            MarketType::Points => "points",
            MarketType::Rebounds => "rebounds",
            MarketType::Assists => "assists",
            MarketType::Threes => "threes",
            MarketType::Steals => "steals",
            MarketType::Blocks => "blocks",
        }
    }

    /// BettingPros' `market_id`.
    pub fn id(self) -> u32 {
        match self {
            MarketType::Points => 156,
            MarketType::Rebounds => 157,
            MarketType::Assists => 151,
            MarketType::Threes => 162,
            MarketType::Steals => 160,
            MarketType::Blocks => 152,
        }
    }

    /// Pages of offers the market usually has on a full day (10 offers a page): for a
    /// recovery's estimate and the schedule's rate budget.
    pub fn typical_pages(self) -> u64 {
        match self {
            MarketType::Points => 12,
            MarketType::Rebounds | MarketType::Assists => 10,
            MarketType::Threes => 8,
            MarketType::Steals | MarketType::Blocks => 5,
        }
    }

    /// BettingPros' market name (`points-by-player`).
    pub fn market_name(self) -> String {
        format!("{}-by-player", self.as_str())
    }
}

impl FromStr for MarketType {
    type Err = UnknownMarket;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MarketType::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownMarket {
                given: s.to_string(),
            })
    }
}

impl fmt::Display for MarketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A market argument: one market or `all` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarketSelection {
    One(MarketType),
    All,
}

impl MarketSelection {
    pub fn markets(self) -> Vec<MarketType> {
        match self {
            MarketSelection::One(m) => vec![m],
            MarketSelection::All => MarketType::ALL.to_vec(),
        }
    }
}

impl FromStr for MarketSelection {
    type Err = UnknownMarket;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("all") {
            return Ok(MarketSelection::All);
        }
        s.parse()
            .map(MarketSelection::One)
            .map_err(|_| UnknownMarket {
                given: s.to_string(),
            })
    }
}

impl fmt::Display for MarketSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MarketSelection::One(m) => m.fmt(f),
            MarketSelection::All => f.write_str("all"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_match_the_contract() {
        let table: Vec<(&str, u32, String)> = MarketType::ALL
            .iter()
            .map(|m| (m.as_str(), m.id(), m.market_name()))
            .collect();
        assert_eq!(table[0], ("points", 156, "points-by-player".into()));
        assert_eq!(table[1], ("rebounds", 157, "rebounds-by-player".into()));
        assert_eq!(table[2], ("assists", 151, "assists-by-player".into()));
        assert_eq!(table[3], ("threes", 162, "threes-by-player".into()));
        assert_eq!(table[4], ("steals", 160, "steals-by-player".into()));
        assert_eq!(table[5], ("blocks", 152, "blocks-by-player".into()));
    }

    #[test]
    fn selection_parses_all_and_rejects_unknown() {
        assert_eq!("ALL".parse::<MarketSelection>().unwrap().markets().len(), 6);
        assert_eq!(
            "Points".parse::<MarketSelection>().unwrap(),
            MarketSelection::One(MarketType::Points)
        );
        let err = "turnovers".parse::<MarketSelection>().unwrap_err();
        assert!(err.to_string().contains("turnovers"));
    }
}
