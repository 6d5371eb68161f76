//! The run ledger: the record of every run, recovery job, file delivery and completion
//! message, in SQLite (one machine) or PostgreSQL (every instance of the service shares one
//! truth).
//!
//! Operators read this record to decide what happened to a date, so it keeps two promises:
//! **zero is stored as 0, never left empty; unknown is NULL, never 0.** A finished run's known
//! counts are numbers (a `CHECK` constraint refuses anything else); a run found `abandoned` after
//! a crash keeps NULL counts, because nobody knows them.
//!
//! `BACKSTOP_LEDGER` picks the backend ([`LedgerLocation`]); both run the same queries through
//! one thin layer (`db`), each with its versioned migrations (`schema`). SQLite runs in WAL mode
//! with `synchronous=FULL` (a committed claim survives a power cut) and needs a local disk.
//!
//! Many instances may share a PostgreSQL ledger (Cloud Run overlaps revisions during a deploy).
//! Work is never taken from a live instance: each running run and unfinished job carries its
//! owner ([`Instance`]) and a lease the owner renews by heartbeat ([`Ledger::heartbeat`]); only
//! work whose lease ran out is taken over, by one conditional update, so exactly once
//! ([`Ledger::abandon_running`], [`Ledger::adopt_job`]). The never-twice claim, idempotency keys
//! and job ownership are constraints and conditional statements in the database, not checks in
//! a process.
//!
//! # Layout
//!
//! - `settings`, `location`: `BACKSTOP_LEDGER` parsed (path, URL or `key=value`; passwords
//!   redacted), the lease, the instance's name.
//! - `db`: the layer both backends share: `Value` parameters, `Row`s by column name.
//! - `schema`: tables and migrations for both backends, and how to add one.
//! - [`runs`]: one row per scrape run: start, finish, publish, queries.
//! - [`lease`]: owners, heartbeats and taking over work whose owner stopped.
//! - [`export`]: a run as a row of the pipeline's `scraper_execution_log`.
//! - [`exports`]: the outbox those rows go out through (finished runs not yet exported).
//! - [`jobs`]: recovery jobs and their actions, and what resuming after a crash does; which
//!   request names which job (`jobs::keys`).
//! - [`jobs::sends`]: the never-twice guard on handing a stored file to Phase 2, and the
//!   evidence that settles each claim.
//! - [`detections`]: detection jobs, a long range's gaps gathered slice by slice.
//! - `facts`: what gap detection remembers (games on a past date, rows a file yields), and
//!   empty events answers kept apart until corroborated.
//! - [`outbox`]: completion messages, recorded before they are published, until they are.
//! - `pace`: the rate limit shared by every instance (`fetch::SharedPace` on the ledger).

mod db;
pub mod detections;
pub mod export;
pub mod exports;
mod facts;
pub mod jobs;
pub mod lease;
pub mod location;
pub mod outbox;
mod pace;
pub mod runs;
mod schema;
mod settings;

use std::fmt;
use std::path::Path;

use crate::run::RunStatus;
use db::{Db, PgDb, SqliteDb};

pub use db::{session_options, DbError};
pub use detections::DetectionRecord;
pub use export::execution_log_row;
pub use exports::{ExportRecord, Exported, PendingExport};
pub use facts::EmptyAnswers;
pub use jobs::{
    ActionKind, ActionRecord, ActionState, ClaimEvidence, ClaimOutcome, EvidenceSource,
    FileSendRecord, FileSendState, JobClaim, JobKey, JobRecord, JobState, NewAction,
};
pub use lease::Instance;
pub use location::LedgerLocation;
pub use outbox::{Announcement, OutboxEntry};
pub use runs::{NewRun, RunCounts, RunFilter, RunOutcome, RunRecord};
pub use settings::LedgerSettings;

/// The ledger: runs, recovery jobs and file deliveries in one database.
pub struct Ledger {
    db: Db,
    location: String,
    instance: Instance,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("location", &self.location)
            .field("instance", &self.instance.id)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (creating it and its parent directories if needed) the SQLite ledger at `path`,
    /// as a new instance with the default lease.
    pub async fn open(path: &Path) -> Result<Ledger, LedgerError> {
        Self::connect(
            &LedgerLocation::Sqlite(path.to_path_buf()),
            Instance::new(None, lease::DEFAULT_LEASE),
        )
        .await
    }

    /// A SQLite ledger that lives and dies with this value (tests, dry runs).
    pub async fn open_in_memory() -> Result<Ledger, LedgerError> {
        let db = SqliteDb::open(None).doing(|| "opening an in-memory ledger".into())?;
        Ok(Ledger {
            db: Db::Sqlite(db),
            location: ":memory:".into(),
            instance: Instance::new(None, lease::DEFAULT_LEASE),
        })
    }

    /// Opens the ledger at `location` as `instance`: the schema is created or migrated first.
    pub async fn connect(
        location: &LedgerLocation,
        instance: Instance,
    ) -> Result<Ledger, LedgerError> {
        let shown = location.describe();
        let doing = || format!("opening {shown}");
        let db = match location {
            LedgerLocation::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| LedgerError::new(doing(), LedgerProblem::Io(e)))?;
                }
                Db::Sqlite(SqliteDb::open(Some(path)).doing(doing)?)
            }
            LedgerLocation::Postgres(config) => {
                Db::Postgres(PgDb::connect(config, instance.lease).await.doing(doing)?)
            }
        };
        Ok(Ledger {
            db,
            location: shown,
            instance,
        })
    }

    /// Where the database lives (a path, `:memory:` or a PostgreSQL address), for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// This process as the owner of the work it records.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// True when other instances may share this ledger (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// A cheap read that fails when the database cannot be used (schema gone, server down).
    pub async fn health(&self) -> Result<(), LedgerError> {
        let doing = || "checking health".to_string();
        let version = self.db.schema_version().await.doing(doing)?;
        let expected = match self.db {
            Db::Sqlite(_) => schema::SQLITE_VERSION,
            Db::Postgres(_) => schema::POSTGRES_VERSION,
        };
        if version != expected {
            return Err(LedgerError::new(
                doing(),
                LedgerProblem::Invalid(format!("schema version is {version}, expected {expected}")),
            ));
        }
        self.db
            .query("SELECT count(*) AS n FROM runs WHERE rowid = 0", &[])
            .await
            .doing(doing)?;
        Ok(())
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
    Database(#[from] DbError),
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
    JobFinished(JobState),
    #[error("the job is owned by instance {owner} (lease until {lease_until}), not by this one ({me}): its work was taken over")]
    NotOwner {
        owner: String,
        lease_until: String,
        me: String,
    },
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

impl From<rusqlite::Error> for LedgerProblem {
    fn from(e: rusqlite::Error) -> Self {
        LedgerProblem::Database(e.into())
    }
}

/// Attaches "what was being done" to a failure.
trait Doing<T> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, LedgerError>;
}

impl<T, E: Into<LedgerProblem>> Doing<T> for Result<T, E> {
    fn doing(self, what: impl FnOnce() -> String) -> Result<T, LedgerError> {
        self.map_err(|e| LedgerError::new(what(), e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_newer_schema_is_refused_and_errors_say_what_was_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        drop(Ledger::open(&path).await.unwrap());
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", 99).unwrap();
        drop(raw);
        let err = Ledger::open(&path).await.unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("ledger: opening {}: ", path.display())),
            "{err}"
        );
        assert!(err.contains("schema version 99"), "{err}");

        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, "not a directory").unwrap();
        let err = Ledger::open(&blocker.join("ledger.db"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ledger: opening "), "{err}");

        let err = Ledger::open(dir.path()).await.unwrap_err().to_string();
        let want = format!(
            "ledger: opening {}: unable to open database file",
            dir.path().display()
        );
        assert_eq!(err, want);
    }

    #[test]
    fn the_ledger_can_be_shared_between_tasks() {
        fn shared<T: Send + Sync>() {}
        shared::<Ledger>();
    }
}
