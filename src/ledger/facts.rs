//! Facts that do not change, remembered across restarts for gap detection: how many games a
//! past date had, and how many rows an object (written once, never changed) yields.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::columns::Time;
use super::{Doing, Ledger, LedgerError};
use crate::calendar::GameDate;

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
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO known_games (game_date, games, checked_at) VALUES (?1, ?2, ?3)",
                params![date.to_string(), games as i64, Time(now)],
            )
            .doing(doing)
            .map(|_| ())
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
}
