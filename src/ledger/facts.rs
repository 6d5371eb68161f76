//! Facts that do not change, remembered across restarts for gap detection: how many games a
//! past date had, and how many rows an object (written once, never changed) yields.

use chrono::{DateTime, Utc};

use super::{Doing, Ledger, LedgerError};
use crate::calendar::GameDate;

impl Ledger {
    pub async fn known_games(&self, date: GameDate) -> Result<Option<u64>, LedgerError> {
        let doing = || format!("reading the games known for {date}");
        let row = self
            .db
            .query_opt(
                "SELECT games FROM known_games WHERE game_date = $1",
                &[date.to_string().into()],
            )
            .await
            .doing(doing)?;
        row.map(|r| r.unsigned("games")).transpose().doing(doing)
    }

    pub async fn remember_games(
        &self,
        date: GameDate,
        games: u64,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("remembering {games} games on {date}");
        self.db
            .execute(
                "INSERT INTO known_games (game_date, games, checked_at) VALUES ($1, $2, $3)
                 ON CONFLICT (game_date) DO UPDATE
                 SET games = excluded.games, checked_at = excluded.checked_at",
                &[date.to_string().into(), games.into(), now.into()],
            )
            .await
            .doing(doing)
            .map(|_| ())
    }

    pub async fn known_file_rows(&self, object_name: &str) -> Result<Option<u64>, LedgerError> {
        let doing = || format!("reading the rows known for {object_name}");
        let row = self
            .db
            .query_opt(
                "SELECT rows FROM known_file_rows WHERE object_name = $1",
                &[object_name.into()],
            )
            .await
            .doing(doing)?;
        row.map(|r| r.unsigned("rows")).transpose().doing(doing)
    }

    pub async fn remember_file_rows(
        &self,
        object_name: &str,
        rows: u64,
    ) -> Result<(), LedgerError> {
        let doing = || format!("remembering {rows} rows for {object_name}");
        self.db
            .execute(
                "INSERT INTO known_file_rows (object_name, rows) VALUES ($1, $2)
                 ON CONFLICT (object_name) DO UPDATE SET rows = excluded.rows",
                &[object_name.into(), rows.into()],
            )
            .await
            .doing(doing)
            .map(|_| ())
    }
}
