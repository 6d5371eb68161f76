//! The ledger's tables and indexes, and the migrations that bring any older database up to
//! date, for both backends.
//!
//! Each backend has its own list, oldest first: `[i]` takes a database from version `i` to
//! `i + 1`; each backend applies its list in one transaction when it opens (`db::sqlite`,
//! `db::postgres`). Migrations only ever append: a released one is never edited. SQLite keeps
//! the version in `PRAGMA user_version` and its list starts with the schema the embedded ledger
//! was first released with (`sqlite`: V1–V4 as released, then V5, leases and the shared rate
//! limit), so a file written by any earlier build migrates in place. PostgreSQL keeps it in the
//! one-row table `schema_version`; its list (`postgres`) starts from today's whole schema, and
//! every instance migrates under an advisory lock, so two instances starting at once never race
//! (the second waits, then finds nothing to do). A database written by a newer build is
//! refused, not guessed at.
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

use super::LedgerProblem;

/// The SQLite migrations.
pub(crate) const SQLITE: &[&str] = &[
    sqlite::V1,
    sqlite::V2,
    sqlite::V3,
    sqlite::V4,
    sqlite::V5,
    EXECUTION_LOG,
    SLICES,
];

/// The PostgreSQL migrations.
pub(crate) const POSTGRES: &[&str] = &[postgres::V1, EXECUTION_LOG, SLICES];

/// Both backends: the execution-log outbox (`ledger::exports`), how each finished run's row
/// of BigQuery's `nba_orchestration.scraper_execution_log` went out. A finished run without
/// an exported row here is pending: its finish was the enqueue.
const EXECUTION_LOG: &str = r#"
CREATE TABLE execution_log (
    run_id      TEXT PRIMARY KEY REFERENCES runs (id),
    -- When a drain took it; a claim older than the lease belongs to a process that is gone.
    claimed_at  TEXT,
    -- Sends that may have reached BigQuery: before another, the table is searched for the run.
    sends       BIGINT NOT NULL DEFAULT 0 CHECK (sends >= 0),
    last_error  TEXT,
    -- BigQuery refused the row itself: it is not sent again.
    rejected    BIGINT NOT NULL DEFAULT 0 CHECK (rejected IN (0, 1)),
    exported_at TEXT,
    -- 'sent' (BigQuery took it), 'found' (an earlier send had reached it after all).
    how         TEXT CHECK (how IN ('sent', 'found')),
    CHECK ((exported_at IS NULL) = (how IS NULL))
);
CREATE INDEX runs_by_finished ON runs (finished_at);
"#;

/// Work that requests advance in slices (both backends; the dialects agree here).
const SLICES: &str = r#"
-- When a finished job's range may be checked again and its result recorded: after the settle
-- time that lets Phase 2 load re-scraped files, by whichever request comes then. NULL: at once.
ALTER TABLE jobs ADD COLUMN recheck_after TEXT;

-- A detection over a range too long for one request: the games it asked per date (so each
-- slice asks only new dates), the rows known so far, and the whole report once done. One
-- unfinished detection per range (the partial unique index), owned under a lease like a job.
CREATE TABLE detections (
    id          TEXT PRIMARY KEY,
    query_key   TEXT NOT NULL,
    query       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    state       TEXT NOT NULL CHECK (state IN ('running', 'done')),
    owner       TEXT,
    lease_until TEXT,
    answers     TEXT NOT NULL,
    report      TEXT,
    CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE UNIQUE INDEX detections_open_by_query ON detections (query_key) WHERE state = 'running';
CREATE INDEX detections_by_state ON detections (state, created_at);
"#;

/// The version this build writes to a SQLite file.
pub(crate) const SQLITE_VERSION: i64 = SQLITE.len() as i64;

/// The version this build writes to a PostgreSQL database.
pub(crate) const POSTGRES_VERSION: i64 = POSTGRES.len() as i64;

/// The migrations of `list` a database at version `found` still needs; a database newer than
/// the list is refused.
pub(crate) fn pending(
    list: &'static [&'static str],
    found: i64,
) -> Result<&'static [&'static str], LedgerProblem> {
    let known = list.len() as i64;
    if found > known {
        return Err(LedgerProblem::SchemaTooNew { found, known });
    }
    Ok(&list[found.max(0) as usize..])
}

#[cfg(test)]
mod tests;
