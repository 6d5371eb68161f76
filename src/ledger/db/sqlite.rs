//! The embedded backend: one SQLite connection behind an async mutex. Every statement is a few
//! microseconds of local work, so it runs on the caller's task while the lock is held.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params_from_iter, Connection, OptionalExtension, ToSql, TransactionBehavior};
use tokio::sync::{Mutex, MutexGuard};

use super::{sqlite_placeholders, DbError, Row, Value};
use crate::ledger::schema;
use crate::ledger::LedgerProblem;

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct SqliteDb {
    conn: Mutex<Connection>,
}

impl SqliteDb {
    /// Opens the file (`None`: in memory) in WAL mode with `synchronous=FULL` (a committed claim
    /// survives a power cut), migrates it, and leaves foreign keys on.
    pub(crate) fn open(path: Option<&Path>) -> Result<SqliteDb, LedgerProblem> {
        let mut conn = match path {
            Some(path) => Connection::open(path).map_err(|e| without_path_suffix(e, path))?,
            None => Connection::open_in_memory()?,
        };
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Answers "memory" for an in-memory database, which is fine.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Turns foreign keys on once the schema is up to date (a rebuild needs them off).
        migrate(&mut conn)?;
        Ok(SqliteDb {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        execute(&*self.conn.lock().await, sql, params)
    }

    pub(crate) async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        query(&*self.conn.lock().await, sql, params)
    }

    pub(crate) async fn begin(&self) -> Result<SqliteTx<'_>, DbError> {
        let conn = self.conn.lock().await;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(SqliteTx { conn, open: true })
    }

    pub(crate) async fn schema_version(&self) -> Result<i64, DbError> {
        let conn = self.conn.lock().await;
        Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }
}

pub(crate) struct SqliteTx<'a> {
    conn: MutexGuard<'a, Connection>,
    open: bool,
}

impl SqliteTx<'_> {
    pub(crate) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        execute(&self.conn, sql, params)
    }

    pub(crate) fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        query(&self.conn, sql, params)
    }

    pub(crate) fn commit(mut self) -> Result<(), DbError> {
        self.open = false;
        Ok(self.conn.execute_batch("COMMIT")?)
    }
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Brings the file to [`schema::SQLITE_VERSION`] in one transaction, or refuses a newer one.
/// Foreign keys are off meanwhile (a table is rebuilt as SQLite prescribes), checked before the
/// commit, and on afterwards.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), LedgerProblem> {
    conn.pragma_update(None, "foreign_keys", "OFF")
        .map_err(DbError::from)?;
    let migrated = migrate_with_foreign_keys_off(conn);
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(DbError::from)?;
    migrated
}

fn migrate_with_foreign_keys_off(conn: &mut Connection) -> Result<(), LedgerProblem> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(DbError::from)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(DbError::from)?;
    let todo = schema::pending(schema::SQLITE, found)?;
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
    tx.pragma_update(None, "user_version", schema::SQLITE_VERSION)
        .map_err(DbError::from)?;
    tx.commit().map_err(DbError::from)?;
    Ok(())
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as V;
        Ok(ToSqlOutput::Owned(match self {
            Value::Null => V::Null,
            Value::Real(x) => V::Real(*x),
            Value::Text(s) => V::Text(s.clone()),
            Value::Int(_) | Value::Count(_) => V::Integer(
                self.int()
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?
                    .unwrap_or_default(),
            ),
        }))
    }
}

fn execute(conn: &Connection, sql: &str, params: &[Value]) -> Result<u64, DbError> {
    let mut stmt = conn.prepare_cached(&sqlite_placeholders(sql))?;
    Ok(stmt.execute(params_from_iter(params))? as u64)
}

fn query(conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
    let mut stmt = conn.prepare_cached(&sqlite_placeholders(sql))?;
    let names: Vec<String> = stmt.column_names().map(|n| n.to_string()).collect();
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut columns = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let value = match r.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(n) => Value::Int(n),
                ValueRef::Real(x) => Value::Real(x),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Value::Text(String::from_utf8_lossy(t).into_owned())
                }
            };
            columns.push((name.clone(), value));
        }
        out.push(Row { columns });
    }
    Ok(out)
}

/// SQLite's open error ends with the path, which the error already names once.
fn without_path_suffix(e: rusqlite::Error, path: &Path) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(f, Some(msg)) => {
            let suffix = format!(": {}", path.display());
            let msg = msg.strip_suffix(&suffix).map(str::to_string).unwrap_or(msg);
            rusqlite::Error::SqliteFailure(f, Some(msg))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_ledger_runs_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(Some(&dir.path().join("l.db"))).unwrap();
        let rows = db.query("PRAGMA journal_mode", &[]).await.unwrap();
        assert_eq!(rows[0].text("journal_mode").unwrap(), "wal");
        let rows = db.query("PRAGMA synchronous", &[]).await.unwrap();
        assert_eq!(rows[0].int("synchronous").unwrap(), 2, "FULL");
    }
}
