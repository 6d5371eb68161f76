//! Facts that do not change, remembered across restarts for gap detection: how many games a
//! past date had, and how many rows an object (written once, never changed) yields. "No games"
//! is a strong claim: empty events answers are kept apart ([`Ledger::record_empty_events_answer`])
//! until detection finds them corroborated and remembers the zero.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::columns::{RowExt, Time};
use super::{Doing, Ledger, LedgerError};
use crate::calendar::GameDate;

/// The empty events answers a past date got so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyAnswers {
    pub answers: u32,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

impl Ledger {
    pub fn known_games(&self, date: GameDate) -> Result<Option<u64>, LedgerError> {
        let doing = || format!("reading the games known for {date}");
        self.conn()
            .query_row(
                "SELECT games FROM known_games WHERE game_date = ?1",
                [date.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .doing(doing)
            .map(|n| n.map(|n| n as u64))
    }

    pub fn remember_games(
        &self,
        date: GameDate,
        games: u64,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("remembering {games} games on {date}");
        let mut conn = self.conn();
        let tx = conn.transaction().doing(doing)?;
        tx.execute(
            "INSERT OR REPLACE INTO known_games (game_date, games, checked_at) VALUES (?1, ?2, ?3)",
            params![date.to_string(), games as i64, Time(now)],
        )
        .doing(doing)?;
        tx.execute(
            "DELETE FROM empty_events_answers WHERE game_date = ?1",
            [date.to_string()],
        )
        .doing(doing)?;
        tx.commit().doing(doing)
    }

    /// Counts one empty events answer for a past date, not yet a fact; the answers so far.
    pub fn record_empty_events_answer(
        &self,
        date: GameDate,
        now: DateTime<Utc>,
    ) -> Result<EmptyAnswers, LedgerError> {
        let doing = || format!("recording an empty events answer for {date}");
        let conn = self.conn();
        conn.execute(
            "INSERT INTO empty_events_answers (game_date, first_at, last_at, answers)
             VALUES (?1, ?2, ?2, 1)
             ON CONFLICT (game_date) DO UPDATE SET last_at = excluded.last_at,
                 answers = empty_events_answers.answers + 1",
            params![date.to_string(), Time(now)],
        )
        .doing(doing)?;
        conn.query_row(
            "SELECT * FROM empty_events_answers WHERE game_date = ?1",
            [date.to_string()],
            |r| {
                Ok(EmptyAnswers {
                    answers: r.get("answers")?,
                    first_at: r.time("first_at")?,
                    last_at: r.time("last_at")?,
                })
            },
        )
        .doing(doing)
    }

    pub fn known_file_rows(&self, object_name: &str) -> Result<Option<u64>, LedgerError> {
        let doing = || format!("reading the rows known for {object_name}");
        self.conn()
            .query_row(
                "SELECT rows FROM known_file_rows WHERE object_name = ?1",
                [object_name],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .doing(doing)
            .map(|n| n.map(|n| n as u64))
    }

    pub fn remember_file_rows(&self, object_name: &str, rows: u64) -> Result<(), LedgerError> {
        let doing = || format!("remembering {rows} rows for {object_name}");
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO known_file_rows (object_name, rows) VALUES (?1, ?2)",
                params![object_name, rows as i64],
            )
            .doing(doing)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_facts_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let date: GameDate = "2026-01-14".parse().unwrap();
        {
            let l = Ledger::open(&path).unwrap();
            assert_eq!(l.known_games(date).unwrap(), None);
            l.remember_games(date, 0, Utc::now()).unwrap();
            l.remember_file_rows(
                "bettingpros/player-props/points/2026-01-14/20260114_180530.json",
                412,
            )
            .unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        assert_eq!(
            l.known_games(date).unwrap(),
            Some(0),
            "zero games is a fact, not a gap"
        );
        assert_eq!(
            l.known_file_rows("bettingpros/player-props/points/2026-01-14/20260114_180530.json")
                .unwrap(),
            Some(412)
        );
        assert_eq!(l.known_file_rows("nope").unwrap(), None);
    }

    #[test]
    fn empty_answers_are_counted_apart_until_the_date_is_remembered() {
        let l = Ledger::open_in_memory().unwrap();
        let date: GameDate = "2026-01-10".parse().unwrap();
        let t = |h: u32| format!("2026-01-11T{h:02}:00:00Z").parse().unwrap();
        let first = l.record_empty_events_answer(date, t(6)).unwrap();
        assert_eq!(
            (first.answers, first.first_at, first.last_at),
            (1, t(6), t(6))
        );
        assert_eq!(
            l.known_games(date).unwrap(),
            None,
            "one answer is not a fact"
        );
        let second = l.record_empty_events_answer(date, t(13)).unwrap();
        assert_eq!(
            (second.answers, second.first_at, second.last_at),
            (2, t(6), t(13))
        );
        l.remember_games(date, 0, t(13)).unwrap();
        assert_eq!(l.known_games(date).unwrap(), Some(0));
        let again = l.record_empty_events_answer(date, t(20)).unwrap();
        assert_eq!(again.answers, 1, "remembering cleared the answers");
    }
}
