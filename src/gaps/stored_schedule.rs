//! The schedule kept in the bucket: a past date's stored events files
//! (`bettingpros/events/{date}/{ts}.json`, written by `bp_events` runs — among them the one
//! every props request stores). Each is the events API's answer at the time in its name.
//!
//! One storage listing per detection covers the whole range (the narrowest prefix of its
//! dates), made only once a date needs it; then only the files needed are read:
//!
//! | the date's newest file | what it gives |
//! |---|---|
//! | lists n > 0 events | n games, remembered like an events API answer: no request |
//! | lists none | one stored empty answer; the oldest file of the date is read too: a second one when it lists none, a disagreeing signal when it lists games. The events API is still asked |
//! | cannot be read, or no file | nothing: the events API is asked, as before |
//!
//! **A stored empty answer is one answer, never proof on its own** (contract section 6): it
//! counts once, at its timestamp, however often detection reads it, and it only adds to an
//! empty answer the events API gives for the date once it is over ([`empty_answers`]). Stored
//! files are all given while the scrapes ran, and an upstream that lost the date's schedule
//! then would have left the props scraper as blind as the files: only asking again can tell.
//! With that answer, "no games" is corroborated as before (`schedule`): two empty answers the
//! recheck apart, nothing disagreeing — which the day's own empty files usually give at once.
//! A count above zero errs towards looking again (a rescrape finds no games at worst), so the
//! newest file's count is taken and remembered as it is.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use tokio::sync::OnceCell;

use super::evidence::NoGames;
use super::gather::Detector;
use crate::bettingpros::events_in_file;
use crate::calendar::GameDate;
use crate::ledger::EmptyAnswers;
use crate::storage::StorageKey;

/// What a past date's stored events files say.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Stored {
    /// The newest lists games.
    Games(u64),
    /// The newest lists none: the stored empty answers, and what disagrees among the files.
    Empty(NoGames),
}

/// The events files of a range's dates, newest first; listed once, when a date first needs
/// them.
pub(super) struct StoredEvents {
    from: GameDate,
    to: GameDate,
    /// `None` when the listing failed: every date then asks the events API.
    listing: OnceCell<Option<HashMap<GameDate, Vec<StorageKey>>>>,
}

impl StoredEvents {
    pub fn new(from: GameDate, to: GameDate) -> Self {
        Self {
            from,
            to,
            listing: OnceCell::new(),
        }
    }

    /// What `date`'s stored events files say, reading the newest (and, when it lists no
    /// games, the oldest); `None` when there is none, or it cannot be read.
    pub async fn of(&self, detector: &Detector, date: GameDate) -> Option<Stored> {
        let listing = self
            .listing
            .get_or_init(|| detector.list_events_files(self.from, self.to))
            .await;
        let files = listing.as_ref()?.get(&date)?;
        let newest = files.first()?;
        match detector.events_in(newest).await {
            Ok(0) => {}
            Ok(n) => return Some(Stored::Games(n)),
            Err(why) => {
                tracing::warn!(game_date = %date, object = %newest, "stored events file not used; the events API is asked: {why}");
                return None;
            }
        }
        let oldest = match files.last().filter(|oldest| *oldest != newest) {
            Some(key) => Some((key, detector.events_in(key).await)),
            None => None,
        };
        Some(Stored::Empty(stored_empty(newest, oldest)))
    }
}

/// The stored empty answers of a date whose newest file (`newest`) lists no games, with the
/// oldest file's reading when there is another.
fn stored_empty(
    newest: &StorageKey,
    oldest: Option<(&StorageKey, Result<u64, String>)>,
) -> NoGames {
    let at = newest.started();
    let mut no_games = NoGames {
        answers: 1,
        first_at: at,
        last_at: at,
        ..NoGames::default()
    };
    match oldest {
        Some((key, Ok(0))) => {
            no_games.answers = 2;
            no_games.first_at = key.started();
        }
        Some((key, Ok(n))) => no_games
            .disagreeing
            .push(format!("the stored events file {key} lists {n} events")),
        Some((key, Err(why))) => {
            tracing::warn!(object = %key, "stored events file not used: {why}");
        }
        None => {}
    }
    no_games
}

/// A past date's empty answers: those the ledger counted for the events API (always there:
/// stored answers never stand alone), and the stored ones, with what disagrees among them.
pub(super) fn empty_answers(asked: &EmptyAnswers, stored: Option<&NoGames>) -> NoGames {
    let mut no_games = NoGames {
        answers: asked.answers,
        first_at: Some(asked.first_at),
        last_at: Some(asked.last_at),
        ..NoGames::default()
    };
    if let Some(stored) = stored {
        no_games.answers += stored.answers;
        no_games.first_at = no_games.first_at.min(stored.first_at.or(no_games.first_at));
        no_games.last_at = no_games.last_at.max(stored.last_at);
        no_games.disagreeing = stored.disagreeing.clone();
    }
    no_games
}

impl Detector {
    /// One listing for the range: its events files by date, newest first. `None` (logged)
    /// when storage cannot be listed.
    async fn list_events_files(
        &self,
        from: GameDate,
        to: GameDate,
    ) -> Option<HashMap<GameDate, Vec<StorageKey>>> {
        self.listings.fetch_add(1, Ordering::Relaxed);
        let prefix = StorageKey::events_range_prefix(from, to);
        let objects = match self.scrapes.store.list(&prefix).await {
            Ok(objects) => objects,
            Err(e) => {
                tracing::warn!(error = %e, "stored events files not listed; every date asks the events API");
                return None;
            }
        };
        let mut by_date: HashMap<GameDate, Vec<StorageKey>> = HashMap::new();
        for o in objects {
            if let Some(key @ StorageKey::Events { .. }) = StorageKey::parse(&o.name) {
                if (from..=to).contains(&key.date()) {
                    by_date.entry(key.date()).or_default().push(key);
                }
            }
        }
        for keys in by_date.values_mut() {
            keys.sort_by(|a, b| b.timestamp().cmp(a.timestamp()));
        }
        Some(by_date)
    }

    /// The events a stored events file lists, once it passes the checks of a write and is
    /// the file of its own date.
    async fn events_in(&self, key: &StorageKey) -> Result<u64, String> {
        self.events_files_read.fetch_add(1, Ordering::Relaxed);
        let bytes = self
            .scrapes
            .store
            .get(&key.object_name())
            .await
            .map_err(|e| e.to_string())?;
        let file: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("{key} is not JSON: {e}"))?;
        let n = events_in_file(&file).map_err(|e| format!("{key}: {e}"))?;
        let date = key.date().to_string();
        if file["date"] != date.as_str() {
            return Err(format!("{key} holds the events of {}", file["date"]));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ts: &str) -> StorageKey {
        StorageKey::Events {
            date: "2026-01-05".parse().unwrap(),
            timestamp: ts.into(),
        }
    }

    #[test]
    fn the_newest_and_the_oldest_empty_file_are_two_stored_answers() {
        let (newest, oldest) = (key("20260106_040000"), key("20260105_100000"));
        let n = stored_empty(&newest, Some((&oldest, Ok(0))));
        assert_eq!(n.answers, 2);
        assert_eq!(
            (n.first_at, n.last_at),
            (oldest.started(), newest.started())
        );
        assert!(n.disagreeing.is_empty() && !n.corroborated);
        let alone = stored_empty(&newest, None);
        assert_eq!((alone.answers, alone.first_at), (1, newest.started()));
    }

    #[test]
    fn an_older_file_with_games_disagrees() {
        let n = stored_empty(
            &key("20260106_040000"),
            Some((&key("20260105_100000"), Ok(9))),
        );
        assert_eq!(n.answers, 1);
        assert_eq!(
            n.disagreeing,
            ["the stored events file bettingpros/events/2026-01-05/20260105_100000.json lists 9 events"]
        );
        let unreadable = stored_empty(
            &key("20260106_040000"),
            Some((&key("20260105_100000"), Err("gone".into()))),
        );
        assert_eq!((unreadable.answers, unreadable.disagreeing.len()), (1, 0));
    }

    #[test]
    fn stored_answers_add_to_the_events_apis_and_never_replace_it() {
        let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let asked = EmptyAnswers {
            answers: 1,
            first_at: t("2026-01-06T12:00:00Z"),
            last_at: t("2026-01-06T12:00:00Z"),
        };
        let alone = empty_answers(&asked, None);
        assert_eq!((alone.answers, alone.first_at), (1, Some(asked.first_at)));
        let stored = stored_empty(
            &key("20260106_040000"),
            Some((&key("20260105_100000"), Ok(0))),
        );
        let both = empty_answers(&asked, Some(&stored));
        assert_eq!(both.answers, 3);
        assert_eq!(both.first_at, Some(t("2026-01-05T10:00:00Z")));
        assert_eq!(both.last_at, Some(asked.last_at));
        let recheck = std::time::Duration::from_secs(6 * 3600);
        let answers = EmptyAnswers {
            answers: both.answers,
            first_at: both.first_at.unwrap(),
            last_at: both.last_at.unwrap(),
        };
        assert!(super::super::schedule::corroborated(
            &answers,
            recheck,
            &both.disagreeing
        ));
    }
}
