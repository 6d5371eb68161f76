//! The ledger's tables and indexes, and the migrations that bring any older database up to
//! date, for both backends.
//!
//! `MIGRATIONS[i]` takes a database from version `i` to `i + 1`. Migrations only ever append: a
//! released one is never edited. SQLite keeps the version in `PRAGMA user_version`; PostgreSQL
//! in the one-row table `schema_version`, and every instance migrates under an advisory lock
//! inside one transaction, so two instances starting at once never race (the second waits, then
//! finds nothing to do). A database written by a newer build is refused, not guessed at.
//!
//! # Adding a table or a column (both backends)
//!
//! 1. Append a `Migration` to `MIGRATIONS`. Where the dialects agree (use `BIGINT` for integers,
//!    `TEXT` for times, words and JSON; no `AUTOINCREMENT`, no `SERIAL`), one text serves both:
//!    `Migration::both(SQL)`. Otherwise give each its own text: `Migration { sqlite, postgres }`
//!    (in PostgreSQL a table whose rows are listed "in insertion order" gets
//!    `rowid BIGINT GENERATED ALWAYS AS IDENTITY`, which SQLite has built in).
//! 2. Write its queries once in the module that owns the table, with `$1…` placeholders,
//!    `Value` parameters and `Row` getters (`ledger::db`); an atomic decision is one
//!    conditional statement or `ON CONFLICT`, never a read then a write.
//! 3. Add its behaviours to the suite in `tests/it/ledger/`, which runs them on both backends;
//!    the test below checks that an old SQLite file migrates in place.

use deadpool_postgres::Object;
use rusqlite::{Connection, TransactionBehavior};

use super::db::DbError;
use super::LedgerProblem;

const V1: &str = r#"
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    scraper         TEXT NOT NULL,
    game_date       TEXT NOT NULL,
    market          TEXT,
    "trigger"       TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL CHECK (status IN
                        ('running', 'success', 'partial', 'no_data', 'failed', 'abandoned')),
    error_kind      TEXT,
    error_message   TEXT,
    events          INTEGER,
    offers_declared INTEGER,
    offers_received INTEGER,
    props_written   INTEGER,
    players         INTEGER,
    failed_offers   INTEGER,
    dropped_lines   INTEGER,
    pages_fetched   INTEGER,
    pages_total     INTEGER,
    attempts        INTEGER,
    retries         INTEGER,
    bytes           INTEGER,
    object_name     TEXT,
    generation      INTEGER,
    published       INTEGER CHECK (published IN (0, 1)),
    publish_error   TEXT,
    routes          TEXT,
    opts            TEXT NOT NULL,
    -- Only a running run has no end.
    CHECK ((status = 'running') = (finished_at IS NULL)),
    -- A finished run's known counts are numbers: 0 is 0, never NULL. Only an abandoned run,
    -- whose counts nobody knows, keeps NULL.
    CHECK (status IN ('running', 'abandoned') OR (
        offers_received IS NOT NULL AND props_written IS NOT NULL AND players IS NOT NULL
        AND failed_offers IS NOT NULL AND dropped_lines IS NOT NULL
        AND pages_fetched IS NOT NULL AND attempts IS NOT NULL AND retries IS NOT NULL
        AND bytes IS NOT NULL))
);
CREATE INDEX runs_by_started ON runs (started_at);
CREATE INDEX runs_by_date ON runs (game_date, scraper, market, started_at);
CREATE INDEX runs_by_scraper ON runs (scraper, started_at);
CREATE INDEX runs_by_status ON runs (status, started_at);

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    finished_at     TEXT,
    state           TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    request         TEXT NOT NULL,
    CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE INDEX jobs_by_state ON jobs (state, created_at);

CREATE TABLE job_actions (
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('scrape', 'send_file')),
    game_date   TEXT NOT NULL,
    market      TEXT NOT NULL,
    object_name TEXT,
    reason      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT,
    run_id      TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (job_id, seq),
    CHECK ((kind = 'send_file') = (object_name IS NOT NULL))
);

-- The never-twice guard: one row per object ever handed to Phase 2 by a recovery.
CREATE TABLE file_sends (
    object_name TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    state       TEXT NOT NULL CHECK (state IN ('claimed', 'sent')),
    claimed_at  TEXT NOT NULL,
    sent_at     TEXT,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX file_sends_by_state ON file_sends (state, claimed_at);
"#;

/// Recovery results, remembered facts for gap detection, runs found by the object they wrote.
const V2: &str = r#"
-- What detection said about the job's dates afterwards (JSON), once it ran.
ALTER TABLE jobs ADD COLUMN result TEXT;

-- Facts that do not change, kept so gap detection does not ask again after a restart:
-- games on a past date, and the rows an object (written once) yields.
CREATE TABLE known_games (
    game_date  TEXT PRIMARY KEY,
    games      INTEGER NOT NULL CHECK (games >= 0),
    checked_at TEXT NOT NULL
);
CREATE TABLE known_file_rows (
    object_name TEXT PRIMARY KEY,
    rows        INTEGER NOT NULL CHECK (rows >= 0)
);

CREATE INDEX runs_by_object ON runs (object_name);
"#;

/// The same schema in PostgreSQL's types: 64-bit integers, and `rowid` for insertion order.
const PG_V1: &str = r#"
CREATE TABLE runs (
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id              TEXT PRIMARY KEY,
    scraper         TEXT NOT NULL,
    game_date       TEXT NOT NULL,
    market          TEXT,
    "trigger"       TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL CHECK (status IN
                        ('running', 'success', 'partial', 'no_data', 'failed', 'abandoned')),
    error_kind      TEXT,
    error_message   TEXT,
    events          BIGINT,
    offers_declared BIGINT,
    offers_received BIGINT,
    props_written   BIGINT,
    players         BIGINT,
    failed_offers   BIGINT,
    dropped_lines   BIGINT,
    pages_fetched   BIGINT,
    pages_total     BIGINT,
    attempts        BIGINT,
    retries         BIGINT,
    bytes           BIGINT,
    object_name     TEXT,
    generation      BIGINT,
    published       BIGINT CHECK (published IN (0, 1)),
    publish_error   TEXT,
    routes          TEXT,
    opts            TEXT NOT NULL,
    CHECK ((status = 'running') = (finished_at IS NULL)),
    CHECK (status IN ('running', 'abandoned') OR (
        offers_received IS NOT NULL AND props_written IS NOT NULL AND players IS NOT NULL
        AND failed_offers IS NOT NULL AND dropped_lines IS NOT NULL
        AND pages_fetched IS NOT NULL AND attempts IS NOT NULL AND retries IS NOT NULL
        AND bytes IS NOT NULL))
);
CREATE INDEX runs_by_started ON runs (started_at);
CREATE INDEX runs_by_date ON runs (game_date, scraper, market, started_at);
CREATE INDEX runs_by_scraper ON runs (scraper, started_at);
CREATE INDEX runs_by_status ON runs (status, started_at);

CREATE TABLE jobs (
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    finished_at     TEXT,
    state           TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    request         TEXT NOT NULL,
    CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE INDEX jobs_by_state ON jobs (state, created_at);

CREATE TABLE job_actions (
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('scrape', 'send_file')),
    game_date   TEXT NOT NULL,
    market      TEXT NOT NULL,
    object_name TEXT,
    reason      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    detail      TEXT,
    run_id      TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (job_id, seq),
    CHECK ((kind = 'send_file') = (object_name IS NOT NULL))
);

CREATE TABLE file_sends (
    rowid       BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    object_name TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    state       TEXT NOT NULL CHECK (state IN ('claimed', 'sent')),
    claimed_at  TEXT NOT NULL,
    sent_at     TEXT,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX file_sends_by_state ON file_sends (state, claimed_at);
"#;

/// Leases (who owns a running run or an unfinished job, and until when) and the shared rate
/// limit. The same text for both backends.
const V3: &str = r#"
-- The instance that owns the work, and until when its heartbeat holds it. NULL on work
-- recorded before leases existed: its owner is unknown, so it may be taken over at once.
ALTER TABLE runs ADD COLUMN owner TEXT;
ALTER TABLE runs ADD COLUMN lease_until TEXT;
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until TEXT;
CREATE INDEX runs_by_owner ON runs (owner, status);
CREATE INDEX jobs_by_owner ON jobs (owner, state);

-- One rate limit per upstream host across every instance (GCRA): the next free slot and a
-- pause asked for by a 429 / Retry-After, in microseconds since the Unix epoch.
CREATE TABLE rate_slots (
    host            TEXT PRIMARY KEY,
    next_slot_us    BIGINT NOT NULL,
    paused_until_us BIGINT NOT NULL
);
"#;

/// One schema version, in each backend's dialect.
pub(crate) struct Migration {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl Migration {
    /// A migration whose text both dialects read alike.
    const fn both(sql: &'static str) -> Migration {
        Migration {
            sqlite: sql,
            postgres: sql,
        }
    }
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        sqlite: V1,
        postgres: PG_V1,
    },
    Migration::both(V2),
    Migration::both(V3),
];

/// The version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Serialises migrations across instances (`pg_advisory_xact_lock`): "backstop" in ASCII.
const MIGRATION_LOCK: i64 = 0x6261_636b_7374_6f70;

fn pending(found: i64) -> Result<&'static [Migration], LedgerProblem> {
    if found > SCHEMA_VERSION {
        return Err(LedgerProblem::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(&MIGRATIONS[found.max(0) as usize..])
}

/// Brings a SQLite database to [`SCHEMA_VERSION`] in one transaction, or refuses a newer one.
pub(crate) fn migrate_sqlite(conn: &mut Connection) -> Result<(), LedgerProblem> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(DbError::from)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(DbError::from)?;
    let todo = pending(found)?;
    if todo.is_empty() {
        return Ok(());
    }
    for m in todo {
        tx.execute_batch(m.sqlite).map_err(DbError::from)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(DbError::from)?;
    tx.commit().map_err(DbError::from)?;
    Ok(())
}

/// Brings a PostgreSQL database to [`SCHEMA_VERSION`]: one transaction under an advisory lock.
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
    let todo = pending(found.unwrap_or(0))?;
    if todo.is_empty() {
        return Ok(());
    }
    for m in todo {
        tx.batch_execute(m.postgres).await.map_err(DbError::from)?;
    }
    let sql = match found {
        Some(_) => "UPDATE schema_version SET version = $1",
        None => "INSERT INTO schema_version (version) VALUES ($1)",
    };
    tx.execute(sql, &[&SCHEMA_VERSION])
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
mod tests {
    use super::*;

    #[test]
    fn a_version_1_ledger_is_brought_up_to_date_and_keeps_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(V1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO jobs (id, idempotency_key, created_at, state, request) VALUES ('j', 'k', 't', 'running', '{}')",
            [],
        )
        .unwrap();
        migrate_sqlite(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let kept: Option<String> = conn
            .query_row("SELECT result FROM jobs WHERE id = 'j'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, None, "the old job is there, with no result yet");
        conn.execute("INSERT INTO known_games VALUES ('2026-01-14', 8, 't')", [])
            .unwrap();
        conn.execute("INSERT INTO known_file_rows VALUES ('o', 12)", [])
            .unwrap();
        let owner: Option<String> = conn
            .query_row("SELECT owner FROM jobs WHERE id = 'j'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            owner, None,
            "an old job has no owner: it may be adopted at once"
        );
        conn.execute("INSERT INTO rate_slots VALUES ('h', 1, 0)", [])
            .unwrap();
    }
}
