//! What a run is: which scraper, how it was triggered, how it ended, and why it failed
//! ([`ErrorKind`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod error_kind;
pub use error_kind::{ErrorKind, UnknownErrorKind};

/// The scrapers backstop owns, by their HTTP/registry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scraper {
    #[serde(rename = "bp_events")]
    Events,
    #[serde(rename = "bp_player_props")]
    PlayerProps,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scraper {given:?}: expected one of bp_events, bp_player_props")]
pub struct UnknownScraper {
    pub given: String,
}

impl Scraper {
    pub const ALL: [Scraper; 2] = [Scraper::Events, Scraper::PlayerProps];

    /// HTTP/registry name (`bp_events`).
    pub fn name(self) -> &'static str {
        match self {
            Scraper::Events => "bp_events",
            Scraper::PlayerProps => "bp_player_props",
        }
    }

    /// Name in completion messages and run history (`betting_pros_events`).
    pub fn processor_name(self) -> &'static str {
        match self {
            Scraper::Events => "betting_pros_events",
            Scraper::PlayerProps => "betting_pros_player_props",
        }
    }

    /// The old service's class name, kept in message metadata.
    pub fn class_name(self) -> &'static str {
        match self {
            Scraper::Events => "BettingProsEvents",
            Scraper::PlayerProps => "BettingProsPlayerProps",
        }
    }
}

impl FromStr for Scraper {
    type Err = UnknownScraper;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scraper::ALL
            .into_iter()
            .find(|sc| sc.name() == s.trim() || sc.processor_name() == s.trim())
            .ok_or_else(|| UnknownScraper {
                given: s.to_string(),
            })
    }
}

impl fmt::Display for Scraper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a run ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Every page fetched, a complete file written.
    Success,
    /// Some pages could not be fetched: never reported as success, never sent to Phase 2.
    Partial,
    /// No games that day (or no offers yet): nothing to write.
    NoData,
    Failed,
    /// Left `running` by a process that died; found at the next start.
    Abandoned,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Running,
        RunStatus::Success,
        RunStatus::Partial,
        RunStatus::NoData,
        RunStatus::Failed,
        RunStatus::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Partial => "partial",
            RunStatus::NoData => "no_data",
            RunStatus::Failed => "failed",
            RunStatus::Abandoned => "abandoned",
        }
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown run status {s:?}"))
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asked for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Scheduler,
    Cli,
    Recovery,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduler => "scheduler",
            Trigger::Cli => "cli",
            Trigger::Recovery => "recovery",
        }
    }
}

impl FromStr for Trigger {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "scheduler" => Ok(Trigger::Scheduler),
            "cli" => Ok(Trigger::Cli),
            "recovery" => Ok(Trigger::Recovery),
            _ => Err(format!("unknown trigger {s:?}")),
        }
    }
}

/// A new run id: 16 hex characters.
pub fn new_run_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scraper::ALL {
            assert_eq!(s.name().parse::<Scraper>().unwrap(), s);
            assert_eq!(s.processor_name().parse::<Scraper>().unwrap(), s);
        }
        assert!("bp_odds"
            .parse::<Scraper>()
            .unwrap_err()
            .to_string()
            .contains("bp_events"));
        assert_eq!("no_data".parse::<RunStatus>().unwrap(), RunStatus::NoData);
        assert_eq!(
            serde_json::to_string(&RunStatus::NoData).unwrap(),
            "\"no_data\""
        );
    }
}
