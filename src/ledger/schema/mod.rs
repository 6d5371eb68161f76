//! The ledger's tables and indexes, and the migrations that bring any older database up to
//! date, for both backends.
//!
//! Each backend has its own list, oldest first: `[i]` takes a database from version `i` to
//! `i + 1`. Migrations only ever append: a released one is never edited. SQLite keeps the
//! version in `PRAGMA user_version` and its list starts with the schema the embedded ledger was
//! first released with (`sqlite`: V1–V4 as released, then V5, leases and the shared rate limit),
//! so a file written by any earlier build migrates in place. PostgreSQL keeps it in the one-row
//! table `schema_version`; its list (`postgres`) starts from today's whole schema, and every
//! instance migrates under an advisory lock inside one transaction, so two instances starting
//! at once never race (the second waits, then finds nothing to do). A database written by a
//! newer build is refused, not guessed at.
//!
//! # Adding a table or a column (both backends)
//!
//! 1. Append a migration to both lists. Where the dialects agree (use `BIGINT` for integers,
//!    `TEXT` for times, words and JSON; no `AUTOINCREMENT`, no `SERIAL`), one text serves both.
//!    Otherwise give each its own text (in PostgreSQL a table whose rows are listed "in
//!    insertion order" gets `rowid BIGINT GENERATED ALWAYS AS IDENTITY`, which SQLite has built
//!    in). SQLite cannot alter a constraint: rebuild the table (as `sqlite::V4` does); foreign
//!    keys are off while migrations run and checked before the commit.
//! 2. Write its queries once in the module that owns the table, with `$1…` placeholders,
//!    `Value` parameters and `Row` getters (`ledger::db`); an atomic decision is one
//!    conditional statement or `ON CONFLICT`, never a read then a write.
//! 3. Add its behaviours to the suite in `tests/it/ledger/`, which runs them on both backends;
//!    the tests below check that SQLite files of every released version migrate in place.

mod postgres;
mod sqlite;

use deadpool_postgres::Object;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::db::DbError;
use super::LedgerProblem;

/// The SQLite migrations.
const SQLITE: &[&str] = &[sqlite::V1, sqlite::V2, sqlite::V3, sqlite::V4, sqlite::V5];

/// The PostgreSQL migrations.
const POSTGRES: &[&str] = &[postgres::V1];

/// The version this build writes to a SQLite file.
pub(crate) const SQLITE_VERSION: i64 = SQLITE.len() as i64;

/// The version this build writes to a PostgreSQL database.
pub(crate) const POSTGRES_VERSION: i64 = POSTGRES.len() as i64;

/// Serialises migrations across instances (`pg_advisory_xact_lock`): "backstop" in ASCII.
const MIGRATION_LOCK: i64 = 0x6261_636b_7374_6f70;

/// The migrations a database at version `found` still needs.
fn pending(
    migrations: &'static [&'static str],
    found: i64,
) -> Result<&'static [&'static str], LedgerProblem> {
    let known = migrations.len() as i64;
    if found > known {
        return Err(LedgerProblem::SchemaTooNew { found, known });
    }
    Ok(&migrations[found.max(0) as usize..])
}

/// Brings a SQLite database to [`SQLITE_VERSION`] in one transaction, or refuses a newer one.
/// Foreign keys are off meanwhile (a table is rebuilt as SQLite prescribes), checked before
/// the commit, and on again afterwards.
pub(crate) fn migrate_sqlite(conn: &mut Connection) -> Result<(), LedgerProblem> {
    conn.pragma_update(None, "foreign_keys", "OFF")
        .map_err(DbError::from)?;
    let migrated = migrate_sqlite_unchecked(conn);
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(DbError::from)?;
    migrated
}

fn migrate_sqlite_unchecked(conn: &mut Connection) -> Result<(), LedgerProblem> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(DbError::from)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(DbError::from)?;
    let todo = pending(SQLITE, found)?;
    if todo.is_empty() {
        return Ok(());
    }
    for sql in todo {
        tx.execute_batch(sql).map_err(DbError::from)?;
    }
    let broken: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()
        .map_err(DbError::from)?;
    if let Some(table) = broken {
        return Err(LedgerProblem::Invalid(format!(
            "migrating left a row of {table} without its parent"
        )));
    }
    tx.pragma_update(None, "user_version", SQLITE_VERSION)
        .map_err(DbError::from)?;
    tx.commit().map_err(DbError::from)?;
    Ok(())
}

/// Brings a PostgreSQL database to [`POSTGRES_VERSION`]: one transaction under an advisory
/// lock.
pub(crate) async fn migrate_postgres(conn: &mut Object) -> Result<(), LedgerProblem> {
    let tx = conn.transaction().await.map_err(DbError::from)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(DbError::from)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await
        .map_err(DbError::from)?;
    let found: Option<i64> = tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await
        .map_err(DbError::from)?
        .map(|r| r.get(0));
    let todo = pending(POSTGRES, found.unwrap_or(0))?;
    if todo.is_empty() {
        return Ok(());
    }
    for sql in todo {
        tx.batch_execute(sql).await.map_err(DbError::from)?;
    }
    let sql = match found {
        Some(_) => "UPDATE schema_version SET version = $1",
        None => "INSERT INTO schema_version (version) VALUES ($1)",
    };
    tx.execute(sql, &[&POSTGRES_VERSION])
        .await
        .map_err(DbError::from)?;
    tx.commit().await.map_err(DbError::from)?;
    Ok(())
}

/// The version a PostgreSQL ledger is at (0 before the first migration).
pub(crate) async fn postgres_version(conn: &Object) -> Result<i64, DbError> {
    let row = conn
        .query_opt("SELECT version FROM schema_version", &[])
        .await?;
    Ok(row.map_or(0, |r| r.get(0)))
}

#[cfg(test)]
mod tests;
