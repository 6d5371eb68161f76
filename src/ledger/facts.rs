//! Facts that do not change, remembered across restarts for gap detection: how many games a
//! past date had, and how many rows an object (written once, never changed) yields. "No games"
//! is a strong claim: empty events answers are kept apart ([`Ledger::record_empty_events_answer`])
//! until detection finds them corroborated and remembers the zero.

use chrono::{DateTime, Utc};

use super::db::{DbError, Row};
use super::{Doing, Ledger, LedgerError, LedgerProblem};
use crate::calendar::GameDate;

/// The empty events answers a past date got so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyAnswers {
    pub answers: u32,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

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

    /// Remembers the games on a past date; the empty answers counted for it go.
    pub async fn remember_games(
        &self,
        date: GameDate,
        games: u64,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let doing = || format!("remembering {games} games on {date}");
        let mut tx = self.db.begin().await.doing(doing)?;
        tx.execute(
            "INSERT INTO known_games (game_date, games, checked_at) VALUES ($1, $2, $3)
             ON CONFLICT (game_date) DO UPDATE
             SET games = excluded.games, checked_at = excluded.checked_at",
            &[date.to_string().into(), games.into(), now.into()],
        )
        .await
        .doing(doing)?;
        tx.execute(
            "DELETE FROM empty_events_answers WHERE game_date = $1",
            &[date.to_string().into()],
        )
        .await
        .doing(doing)?;
        tx.commit().await.doing(doing)
    }

    /// Counts one empty events answer for a past date, not yet a fact; the answers so far.
    /// One upsert, so answers counted at once by two instances are both counted.
    pub async fn record_empty_events_answer(
        &self,
        date: GameDate,
        now: DateTime<Utc>,
    ) -> Result<EmptyAnswers, LedgerError> {
        let doing = || format!("recording an empty events answer for {date}");
        let row = self
            .db
            .query_opt(
                "INSERT INTO empty_events_answers (game_date, first_at, last_at, answers)
                 VALUES ($1, $2, $2, 1)
                 ON CONFLICT (game_date) DO UPDATE SET last_at = excluded.last_at,
                     answers = empty_events_answers.answers + 1
                 RETURNING answers, first_at, last_at",
                &[date.to_string().into(), now.into()],
            )
            .await
            .doing(doing)?;
        let row = row.ok_or_else(|| {
            let problem = LedgerProblem::Invalid("the upsert returned no row".into());
            LedgerError::new(doing(), problem)
        })?;
        empty_answers(&row).doing(doing)
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

fn empty_answers(r: &Row) -> Result<EmptyAnswers, DbError> {
    Ok(EmptyAnswers {
        answers: r.unsigned("answers")?,
        first_at: r.time("first_at")?,
        last_at: r.time("last_at")?,
    })
}
