//! Which request names which job: a caller's key for ever, a request's own key while its job
//! is unfinished or finished within the repeat window. The partial unique indexes on `jobs`
//! (`jobs_by_given_key`, `jobs_by_open_content_key`) make the database enforce the same, on
//! both backends: [`JobKey::insert_guard`] is the `ON CONFLICT` target that names them.

use chrono::{DateTime, Utc};

use crate::ledger::db::Value;

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

    /// The query for the id of the job this key names at `now`, and its parameters.
    pub(super) fn lookup(&self, now: DateTime<Utc>) -> (&'static str, Vec<Value>) {
        match *self {
            JobKey::Given(k) => (
                "SELECT id FROM jobs WHERE idempotency_key = $1 AND key_given = 1",
                vec![k.into()],
            ),
            JobKey::Content { key, repeat_window } => {
                let window =
                    chrono::Duration::from_std(repeat_window).unwrap_or(chrono::Duration::MAX);
                let since = now
                    .checked_sub_signed(window)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC);
                (
                    "SELECT id FROM jobs WHERE idempotency_key = $1 AND key_given = 0
                         AND (state = 'running' OR finished_at >= $2)
                     ORDER BY created_at DESC, id DESC LIMIT 1",
                    vec![key.into(), since.into()],
                )
            }
        }
    }

    /// The `ON CONFLICT` clause of a new job's insert: the partial unique index its row falls
    /// under, so a job created meanwhile by another instance makes the insert do nothing.
    pub(super) fn insert_guard(&self) -> &'static str {
        match self {
            JobKey::Given(_) => "ON CONFLICT (idempotency_key) WHERE key_given = 1 DO NOTHING",
            JobKey::Content { .. } => {
                "ON CONFLICT (idempotency_key) WHERE key_given = 0 AND state = 'running' DO NOTHING"
            }
        }
    }
}
