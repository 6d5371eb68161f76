//! The one thin layer between the ledger's queries and its two databases: SQLite (embedded)
//! and PostgreSQL (shared). A query is written once, with `$1, $2, …` placeholders (translated
//! for SQLite), [`Value`] parameters and [`Row`]s read by column name; the two dialects agree
//! on everything the ledger asks except the schema's types, which `schema` keeps per backend.
//!
//! Rules that keep one query right on both: integers are 64-bit (`BIGINT` in PostgreSQL), times
//! are fixed-width text, an upsert is `INSERT … ON CONFLICT … DO …`, insertion order is the
//! `rowid` column (SQLite's own; an identity column in PostgreSQL), and an atomic decision is
//! one conditional statement (`UPDATE … WHERE state = 'running' AND owner = $n`), not a read
//! followed by a write.

mod postgres;
mod sqlite;
mod value;

use std::fmt;

pub use postgres::session_options;
pub(crate) use postgres::PgDb;
#[cfg(test)]
pub(crate) use sqlite::migrate as migrate_sqlite;
pub(crate) use sqlite::SqliteDb;
pub(crate) use value::{Row, Value};

/// A failure of the database itself (not of what the ledger asked).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres::describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no connection to PostgreSQL: {0}")]
    Pool(String),
    #[error("column {column}: {problem}")]
    Column { column: String, problem: String },
    #[error("parameter {index}: {problem}")]
    Parameter { index: usize, problem: String },
}

impl DbError {
    pub(crate) fn column(column: &str, problem: impl fmt::Display) -> Self {
        DbError::Column {
            column: column.to_string(),
            problem: problem.to_string(),
        }
    }
}

/// The ledger's database.
pub(crate) enum Db {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// One transaction: committed by [`Tx::commit`], rolled back when dropped without it.
pub(crate) enum Tx<'a> {
    Sqlite(sqlite::SqliteTx<'a>),
    Postgres(Box<postgres::PgTx>),
}

impl Db {
    /// Runs a statement; returns how many rows it changed.
    pub(crate) async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Db::Sqlite(db) => db.execute(sql, params).await,
            Db::Postgres(db) => db.execute(sql, params).await,
        }
    }

    /// Every row a query yields.
    pub(crate) async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Db::Sqlite(db) => db.query(sql, params).await,
            Db::Postgres(db) => db.query(sql, params).await,
        }
    }

    /// A query whose writes may be lost in a crash without breaking a promise (the shared rate
    /// limit): PostgreSQL does not wait for the disk; SQLite runs it as any other.
    pub(crate) async fn query_relaxed(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Row>, DbError> {
        match self {
            Db::Sqlite(db) => db.query(sql, params).await,
            Db::Postgres(db) => db.query_relaxed(sql, params).await,
        }
    }

    /// The first row a query yields, if any.
    pub(crate) async fn query_opt(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    pub(crate) async fn begin(&self) -> Result<Tx<'_>, DbError> {
        match self {
            Db::Sqlite(db) => db.begin().await.map(Tx::Sqlite),
            Db::Postgres(db) => db.begin().await.map(|tx| Tx::Postgres(Box::new(tx))),
        }
    }

    /// The schema version the database is at.
    pub(crate) async fn schema_version(&self) -> Result<i64, DbError> {
        match self {
            Db::Sqlite(db) => db.schema_version().await,
            Db::Postgres(db) => db.schema_version().await,
        }
    }
}

impl Tx<'_> {
    pub(crate) async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Tx::Sqlite(tx) => tx.execute(sql, params),
            Tx::Postgres(tx) => tx.execute(sql, params).await,
        }
    }

    pub(crate) async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Tx::Sqlite(tx) => tx.query(sql, params),
            Tx::Postgres(tx) => tx.query(sql, params).await,
        }
    }

    pub(crate) async fn query_opt(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    pub(crate) async fn commit(self) -> Result<(), DbError> {
        match self {
            Tx::Sqlite(tx) => tx.commit(),
            Tx::Postgres(tx) => (*tx).commit().await,
        }
    }
}

/// `$1` → `?1` outside quotes: SQLite reads `$1` as a *named* parameter, numbered by first
/// appearance, which would bind `$2 … $1` in the wrong order.
pub(crate) fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '$') if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('?');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_question_marks_outside_quotes() {
        assert_eq!(
            sqlite_placeholders(r#"SELECT '$1', "$2" FROM t WHERE a = $2 AND b = $10"#),
            r#"SELECT '$1', "$2" FROM t WHERE a = ?2 AND b = ?10"#
        );
    }
}
