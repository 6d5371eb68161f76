//! `StorageKey`: the one place that knows every object path backstop reads or writes.
//!
//! - events: `bettingpros/events/{date}/{ts}.json`
//! - props: `bettingpros/player-props/{market}/{date}/{ts}.json`
//! - props of a run that could not fetch every page:
//!   `bettingpros/partial/player-props/{market}/{date}/{ts}.json` — outside the
//!   `bettingpros/player-props` prefix on purpose, so Phase 2 never routes it to its loader.
//!
//! `{date}` is the game date `YYYY-MM-DD`; `{ts}` the UTC start of the run, `YYYYMMDD_HHMMSS`.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::calendar::{run_timestamp, GameDate};
use crate::market::MarketType;

const EVENTS: &str = "bettingpros/events/";
const PROPS: &str = "bettingpros/player-props/";
const PARTIAL_PROPS: &str = "bettingpros/partial/player-props/";

/// The name of one raw file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StorageKey {
    Events {
        date: GameDate,
        timestamp: String,
    },
    Props {
        market: MarketType,
        date: GameDate,
        timestamp: String,
    },
    /// Props of a `partial` run: kept for the record, never loaded.
    PartialProps {
        market: MarketType,
        date: GameDate,
        timestamp: String,
    },
}

impl StorageKey {
    pub fn events(date: GameDate, started: DateTime<Utc>) -> Self {
        StorageKey::Events {
            date,
            timestamp: run_timestamp(started),
        }
    }

    /// The props file of a run: complete, or partial when some pages could not be fetched.
    pub fn props(
        market: MarketType,
        date: GameDate,
        started: DateTime<Utc>,
        complete: bool,
    ) -> Self {
        let timestamp = run_timestamp(started);
        if complete {
            StorageKey::Props {
                market,
                date,
                timestamp,
            }
        } else {
            StorageKey::PartialProps {
                market,
                date,
                timestamp,
            }
        }
    }

    /// The object name, e.g. `bettingpros/player-props/points/2026-01-14/20260114_180530.json`.
    pub fn object_name(&self) -> String {
        match self {
            StorageKey::Events { date, timestamp } => format!("{EVENTS}{date}/{timestamp}.json"),
            StorageKey::Props {
                market,
                date,
                timestamp,
            } => format!("{PROPS}{market}/{date}/{timestamp}.json"),
            StorageKey::PartialProps {
                market,
                date,
                timestamp,
            } => format!("{PARTIAL_PROPS}{market}/{date}/{timestamp}.json"),
        }
    }

    /// Reads an object name back; `None` for anything that is not exactly one of the layouts
    /// (other prefixes, bad dates or markets, timestamps not `YYYYMMDD_HHMMSS`, extra parts).
    pub fn parse(name: &str) -> Option<StorageKey> {
        if let Some(rest) = name.strip_prefix(EVENTS) {
            let (date, timestamp) = date_and_timestamp(rest)?;
            return Some(StorageKey::Events { date, timestamp });
        }
        let (rest, partial) = match name.strip_prefix(PROPS) {
            Some(rest) => (rest, false),
            None => (name.strip_prefix(PARTIAL_PROPS)?, true),
        };
        let (market, rest) = rest.split_once('/')?;
        // Exact lower-case match: `Points/` is not a name backstop writes.
        let market = MarketType::ALL.into_iter().find(|m| m.as_str() == market)?;
        let (date, timestamp) = date_and_timestamp(rest)?;
        Some(if partial {
            StorageKey::PartialProps {
                market,
                date,
                timestamp,
            }
        } else {
            StorageKey::Props {
                market,
                date,
                timestamp,
            }
        })
    }

    /// Every complete props file of a market: `bettingpros/player-props/points/`.
    pub fn props_prefix(market: MarketType) -> String {
        format!("{PROPS}{market}/")
    }

    /// The complete props files of one market and date.
    pub fn props_date_prefix(market: MarketType, date: GameDate) -> String {
        format!("{PROPS}{market}/{date}/")
    }

    /// Every events file: `bettingpros/events/`.
    pub fn events_prefix() -> String {
        EVENTS.to_string()
    }

    /// The events files of one date.
    pub fn events_date_prefix(date: GameDate) -> String {
        format!("{EVENTS}{date}/")
    }

    /// The narrowest prefix holding the events files of every date from `from` to `to`: one
    /// listing for a range (`bettingpros/events/2026-01-` for a January). It may hold dates
    /// outside the range too; callers filter by [`StorageKey::date`].
    pub fn events_range_prefix(from: GameDate, to: GameDate) -> String {
        let (a, b) = (Self::events_date_prefix(from), Self::events_date_prefix(to));
        let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        a[..common].to_string()
    }

    pub fn date(&self) -> GameDate {
        match self {
            StorageKey::Events { date, .. }
            | StorageKey::Props { date, .. }
            | StorageKey::PartialProps { date, .. } => *date,
        }
    }

    /// `YYYYMMDD_HHMMSS`, the UTC start of the run that wrote the file.
    pub fn timestamp(&self) -> &str {
        match self {
            StorageKey::Events { timestamp, .. }
            | StorageKey::Props { timestamp, .. }
            | StorageKey::PartialProps { timestamp, .. } => timestamp,
        }
    }

    /// The market of a props file; `None` for events.
    pub fn market(&self) -> Option<MarketType> {
        match self {
            StorageKey::Events { .. } => None,
            StorageKey::Props { market, .. } | StorageKey::PartialProps { market, .. } => {
                Some(*market)
            }
        }
    }

    /// When the run that wrote the file started, read from the timestamp.
    pub fn started(&self) -> Option<DateTime<Utc>> {
        parse_timestamp(self.timestamp())
    }
}

impl std::fmt::Display for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.object_name())
    }
}

/// `{date}/{ts}.json` with nothing after it.
fn date_and_timestamp(rest: &str) -> Option<(GameDate, String)> {
    let (date, file) = rest.split_once('/')?;
    let timestamp = file.strip_suffix(".json")?;
    parse_timestamp(timestamp)?;
    Some((date.parse().ok()?, timestamp.to_string()))
}

fn parse_timestamp(ts: &str) -> Option<DateTime<Utc>> {
    if ts.len() != 15 || ts.as_bytes()[8] != b'_' {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(ts, "%Y%m%d_%H%M%S").ok()?;
    Some(naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date() -> GameDate {
        "2026-01-14".parse().unwrap()
    }

    fn started() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 14, 18, 5, 30).unwrap()
    }

    #[test]
    fn names_follow_the_contract_layout() {
        assert_eq!(
            StorageKey::events(date(), started()).object_name(),
            "bettingpros/events/2026-01-14/20260114_180530.json"
        );
        assert_eq!(
            StorageKey::props(MarketType::Points, date(), started(), true).object_name(),
            "bettingpros/player-props/points/2026-01-14/20260114_180530.json"
        );
        assert_eq!(
            StorageKey::props(MarketType::Steals, date(), started(), false).object_name(),
            "bettingpros/partial/player-props/steals/2026-01-14/20260114_180530.json"
        );
    }

    #[test]
    fn partial_files_are_outside_what_phase2_routes() {
        let partial = StorageKey::props(MarketType::Points, date(), started(), false);
        // Phase 2 routes any name *containing* this, so a prefix check is not enough.
        assert!(!partial.object_name().contains("bettingpros/player-props"));
        assert!(!partial
            .object_name()
            .starts_with(&StorageKey::props_prefix(MarketType::Points)));
    }

    #[test]
    fn every_key_parses_back_to_itself() {
        let mut keys = vec![StorageKey::events(date(), started())];
        for market in MarketType::ALL {
            keys.push(StorageKey::props(market, date(), started(), true));
            keys.push(StorageKey::props(market, date(), started(), false));
        }
        for key in keys {
            assert_eq!(StorageKey::parse(&key.object_name()), Some(key.clone()));
            assert_eq!(key.date(), date());
            assert_eq!(key.timestamp(), "20260114_180530");
            assert_eq!(key.started(), Some(started()));
        }
    }

    #[test]
    fn names_outside_the_layout_do_not_parse() {
        for name in [
            "",
            "bettingpros/events/2026-01-14/20260114_180530",
            "bettingpros/events/2026-01-14/20260114_180530.json.tmp",
            "bettingpros/events/2026-01-14/extra/20260114_180530.json",
            "bettingpros/events/2026-1-14/20260114_180530.json",
            "bettingpros/events/2026-01-14/20260114-180530.json",
            "bettingpros/events/2026-01-14/20261314_180530.json",
            "bettingpros/player-props/corners/2026-01-14/20260114_180530.json",
            "bettingpros/player-props/Points/2026-01-14/20260114_180530.json",
            "bettingpros/player-props/points/20260114_180530.json",
            "odds-api/player-props/points/2026-01-14/20260114_180530.json",
            "/bettingpros/events/2026-01-14/20260114_180530.json",
        ] {
            assert_eq!(StorageKey::parse(name), None, "{name}");
        }
    }

    #[test]
    fn prefixes_cover_their_keys() {
        let props = StorageKey::props(MarketType::Assists, date(), started(), true);
        assert!(props
            .object_name()
            .starts_with(&StorageKey::props_prefix(MarketType::Assists)));
        assert!(props
            .object_name()
            .starts_with(&StorageKey::props_date_prefix(MarketType::Assists, date())));
        assert!(!props
            .object_name()
            .starts_with(&StorageKey::props_prefix(MarketType::Points)));
        let events = StorageKey::events(date(), started());
        assert!(events
            .object_name()
            .starts_with(&StorageKey::events_prefix()));
        assert!(events
            .object_name()
            .starts_with(&StorageKey::events_date_prefix(date())));
        assert_eq!(props.market(), Some(MarketType::Assists));
        assert_eq!(events.market(), None);
    }

    #[test]
    fn a_range_of_dates_has_one_events_prefix() {
        let d = |s: &str| s.parse::<GameDate>().unwrap();
        for (from, to, prefix) in [
            ("2026-01-14", "2026-01-14", "bettingpros/events/2026-01-14/"),
            ("2026-01-01", "2026-01-31", "bettingpros/events/2026-01-"),
            ("2026-01-10", "2026-01-19", "bettingpros/events/2026-01-1"),
            ("2025-10-21", "2026-04-18", "bettingpros/events/202"),
        ] {
            let got = StorageKey::events_range_prefix(d(from), d(to));
            assert_eq!(got, prefix, "{from}..{to}");
            for date in d(from).through(d(to)) {
                let name = StorageKey::events(date, started()).object_name();
                assert!(name.starts_with(&got), "{name}");
            }
        }
    }
}
