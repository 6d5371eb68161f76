//! The run ledger: the embedded SQLite record of every run, recovery job and file delivery.
//!
//! Operators read this record to decide what happened to a date, so it keeps two promises:
//! **zero is stored as 0, never left empty; unknown is NULL, never 0.** A finished run's known
//! counts are numbers (a `CHECK` constraint refuses anything else); a run found `abandoned` after
//! a crash keeps NULL counts, because nobody knows them.
//!
//! One [`Ledger`] holds one connection behind a mutex: it is `Send + Sync`, and every call is a
//! few short statements, so async code calls it directly. The database runs in WAL mode with
//! `synchronous=FULL` (a committed claim survives a power cut, not only a crash), a busy timeout
//! for the rare second connection, and foreign keys on. The schema is created or migrated on open
//! and its version kept in `PRAGMA user_version`; a database written by a newer build is refused
//! rather than guessed at. One process owns a ledger file: [`Ledger::abandon_running`] at start-up
//! assumes every `running` row belongs to a process that is gone. WAL needs a local disk (not a
//! network or FUSE mount).
//!
//! # Layout
//!
//! - `schema`: tables, indexes and migrations.
//! - `columns`: how typed values are written to and read from columns.
//! - [`runs`]: one row per scrape run: start, finish, publish, queries.
//! - [`export`]: a run as a row of the pipeline's `scraper_execution_log`.
//! - [`exports`]: the outbox those rows go out through (finished runs not yet exported).
//! - [`jobs`]: recovery jobs and their actions, and what resuming after a crash does; which
//!   request names which job (`jobs::keys`).
//! - [`jobs::sends`]: the never-twice guard on handing a stored file to Phase 2, and the
//!   evidence that settles each claim.
//! - `facts`: what gap detection remembers (games on a past date, rows a file yields), and
//!   empty events answers kept apart until corroborated.
//! - [`outbox`]: completion messages, recorded before they are published, until they are.

mod columns;
pub mod export;
pub mod exports;
mod facts;
pub mod jobs;
pub mod outbox;
pub mod runs;
mod schema;

#[cfg(test)]
mod jobs_tests;
#[cfg(test)]
mod runs_tests;

use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use crate::run::RunStatus;

pub use export::execution_log_row;
pub use exports::{ExportRecord, Exported, PendingExport};
pub use facts::EmptyAnswers;
pub use jobs::{
    ActionKind, ActionRecord, ActionState, ClaimEvidence, ClaimOutcome, EvidenceSource,
    FileSendRecord, FileSendState, JobClaim, JobKey, JobRecord, NewAction,
};
pub use outbox::{Announcement, OutboxEntry};
pub use runs::{NewRun, RunCounts, RunFilter, RunOutcome, RunRecord};

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The ledger: runs, recovery jobs and file deliveries in one SQLite database.
pub struct Ledger {
    conn: Mutex<Connection>,
    location: String,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (creating it and its parent directories if needed) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let doing = || format!("opening {}", path.display());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| LedgerError::new(doing(), LedgerProblem::Io(e)))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| without_path_suffix(e, path))
            .doing(doing)?;
        Self::init(conn, path.display().to_string())
    }

    /// A ledger that lives and dies with this value (tests, dry runs).
    pub fn open_in_memory() -> Result<Ledger, LedgerError> {
        let conn = Connection::open_in_memory().doing(|| "opening an in-memory ledger".into())?;
        Self::init(conn, ":memory:".into())
    }

    fn init(mut conn: Connection, location: String) -> Result<Ledger, LedgerError> {
        let doing = || format!("opening {location}");
        conn.busy_timeout(BUSY_TIMEOUT).doing(doing)?;
        // Answers "memory" for an in-memory database, which is fine.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .doing(doing)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .doing(doing)?;
        schema::migrate(&mut conn).map_err(|p| LedgerError::new(doing(), p))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .doing(doing)?;
        Ok(Ledger {
            conn: Mutex::new(conn),
            location,
        })
    }

    /// Where the database lives (a path or `:memory:`), for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// A cheap read that fails when the database cannot be used (schema gone, file unreadable).
    pub fn health(&self) -> Result<(), LedgerError> {
        let doing = || "checking health".to_string();
        let conn = self.conn();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .doing(doing)?;
        if version != schema::SCHEMA_VERSION {
            return Err(LedgerError::new(
                doing(),
                LedgerProblem::Invalid(format!(
                    "schema version is {version}, expected {}",
                    schema::SCHEMA_VERSION
                )),
            ));
        }
        conn.query_row("SELECT count(*) FROM runs WHERE rowid = 0", [], |r| {
            r.get::<_, i64>(0)
        })
        .doing(doing)?;
        Ok(())
    }

    /// The connection; a panic elsewhere while holding it does not make it unusable (an open
    /// transaction was rolled back when its guard dropped).
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A ledger call that failed, saying what was being done:
/// `ledger: finishing run 3fa2…: no such run`.
#[derive(Debug, thiserror::Error)]
#[error("ledger: {doing}: {problem}")]
pub struct LedgerError {
    /// What was being done (`finishing run 3fa2…`).
    pub doing: String,
    pub problem: LedgerProblem,
}

impl LedgerError {
    pub(crate) fn new(doing: String, problem: LedgerProblem) -> Self {
        Self { doing, problem }
    }

    /// True when the thing asked for does not exist (an HTTP 404, not a 500).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.problem,
            LedgerProblem::NoSuchRun | LedgerProblem::NoSuchJob | LedgerProblem::NoSuchFileSend
        )
    }
}

/// What went wrong, apart from what was being done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerProblem {
    #[error("{0}")]
    Sqlite(rusqlite::Error),
    #[error("{0}")]
    Io(std::io::Error),
    #[error("the database is at schema version {found}, newer than this build knows ({known}); refusing to use it")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("no such run")]
    NoSuchRun,
    #[error("a run with this id already exists")]
    DuplicateRun,
    #[error("the run already finished as {0}")]
    AlreadyFinished(RunStatus),
    #[error("no such job")]
    NoSuchJob,
    #[error("the job already finished as {0}")]
    JobFinished(String),
    #[error("the job has no action {0}")]
    NoSuchAction(u32),
    #[error("action {seq} is already {state}, which is final")]
    ActionFinal { seq: u32, state: ActionState },
    #[error("no delivery is recorded for this file")]
    NoSuchFileSend,
    #[error("the file is already confirmed as delivered; a delivery is never released")]
    AlreadySent,
    #[error("{0}")]
    Invalid(String),
}

/// Attaches "what was being done" to a SQLite error.
trait Doing<T> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, LedgerError>;
}

impl<T> Doing<T> for Result<T, rusqlite::Error> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, LedgerError> {
        self.map_err(|e| LedgerError::new(what(), LedgerProblem::Sqlite(e)))
    }
}

impl<T> Doing<T> for Result<T, LedgerProblem> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, LedgerError> {
        self.map_err(|p| LedgerError::new(what(), p))
    }
}

impl From<rusqlite::Error> for LedgerProblem {
    fn from(e: rusqlite::Error) -> Self {
        LedgerProblem::Sqlite(e)
    }
}

/// Every row `sql` yields, read by `read`.
fn all_rows<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, read)?.collect();
    rows
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

/// The extended result code of a failed constraint (`SQLITE_CONSTRAINT_PRIMARYKEY`, …).
fn constraint_code(e: &rusqlite::Error) -> Option<i32> {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Some(f.extended_code)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_schema_is_refused_and_errors_say_what_was_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        drop(Ledger::open(&path).unwrap());
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", 99).unwrap();
        drop(raw);
        let err = Ledger::open(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("ledger: opening {}: ", path.display())),
            "{err}"
        );
        assert!(err.contains("schema version 99"), "{err}");

        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, "not a directory").unwrap();
        let err = Ledger::open(&blocker.join("ledger.db"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ledger: opening "), "{err}");

        let err = Ledger::open(dir.path()).unwrap_err().to_string();
        let want = format!(
            "ledger: opening {}: unable to open database file",
            dir.path().display()
        );
        assert_eq!(err, want);
    }

    #[test]
    fn the_ledger_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Ledger>();
    }
}
