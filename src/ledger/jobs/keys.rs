//! Which request names which job: a caller's key for ever, a request's own key while its job
//! is unfinished or finished within the repeat window. The partial unique indexes on `jobs`
//! (schema v3) make the database enforce the same.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{load_job, JobRecord};
use crate::ledger::columns::Time;

/// What names a job, and so which request returns an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKey<'a> {
    /// A key the caller gave (`Idempotency-Key`, `--key`): it names one job for ever.
    Given(&'a str),
    /// A request's own key (a hash of its content): it names the unfinished job, or one that
    /// finished less than `repeat_window` ago (a retried HTTP request); otherwise nothing.
    Content {
        key: &'a str,
        repeat_window: std::time::Duration,
    },
}

impl JobKey<'_> {
    pub fn key(&self) -> &str {
        match self {
            JobKey::Given(k) | JobKey::Content { key: k, .. } => k,
        }
    }

    pub fn is_given(&self) -> bool {
        matches!(self, JobKey::Given(_))
    }
}

pub(super) fn job_for_key(
    conn: &Connection,
    key: JobKey<'_>,
    now: DateTime<Utc>,
) -> rusqlite::Result<Option<JobRecord>> {
    let id: Option<String> = match key {
        JobKey::Given(k) => conn
            .query_row(
                "SELECT id FROM jobs WHERE idempotency_key = ?1 AND key_given = 1",
                [k],
                |r| r.get(0),
            )
            .optional()?,
        JobKey::Content { key, repeat_window } => {
            let window = chrono::Duration::from_std(repeat_window).unwrap_or(chrono::Duration::MAX);
            let since = now
                .checked_sub_signed(window)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            conn.query_row(
                "SELECT id FROM jobs WHERE idempotency_key = ?1 AND key_given = 0
                     AND (state = 'running' OR finished_at >= ?2)
                 ORDER BY created_at DESC, id DESC LIMIT 1",
                params![key, Time(since)],
                |r| r.get(0),
            )
            .optional()?
        }
    };
    match id {
        Some(id) => load_job(conn, &id),
        None => Ok(None),
    }
}
