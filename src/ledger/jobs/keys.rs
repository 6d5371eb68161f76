//! Which request names which job — a caller's key for ever, a request's own key while its job
//! is unfinished or finished within the repeat window — and creating a job under its key. The
//! partial unique indexes on `jobs` (`jobs_by_given_key`, `jobs_by_open_content_key`) make the
//! database enforce the same, on both backends: [`JobKey::insert_guard`] is the `ON CONFLICT`
//! target that names them.

use chrono::{DateTime, Utc};

use super::{ActionKind, JobRecord, NewAction};
use crate::ledger::db::Value;
use crate::ledger::{Doing, Ledger, LedgerError, LedgerProblem};
use crate::run::new_run_id;

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

impl Ledger {
    /// Creates the job unless `key` names one already (see [`JobKey`]); returns the job and
    /// whether it was created now. Atomic on both backends: the insert does nothing when a
    /// partial unique index says the key's job exists (created meanwhile by another instance),
    /// and the lookup then finds it, so two callers with one key get one job. An existing job
    /// is returned as it was stored, whoever owns it; `request` and `actions` of the second
    /// call are ignored. A new job is owned by this instance.
    pub async fn create_job(
        &self,
        key: JobKey<'_>,
        request: &serde_json::Value,
        actions: &[NewAction],
        now: DateTime<Utc>,
    ) -> Result<(JobRecord, bool), LedgerError> {
        let doing = || format!("creating the job for key {:?}", key.key());
        validate_actions(key.key(), actions).doing(doing)?;
        let (lookup, lookup_params) = key.lookup(now);
        let id = new_run_id();
        let mut tx = self.db.begin().await.doing(doing)?;
        // The lookup misses a job another instance is creating at this moment; the insert's
        // guard then waits for that transaction and does nothing, and the next lookup finds it.
        let mut created = None;
        for _ in 0..3 {
            if let Some(row) = tx.query_opt(lookup, &lookup_params).await.doing(doing)? {
                created = Some((row.text("id").doing(doing)?, false));
                break;
            }
            let sql = format!(
                "INSERT INTO jobs (id, idempotency_key, key_given, created_at, state, request,
                     owner, lease_until)
                 VALUES ($1, $2, $3, $4, 'running', $5, $6, $7) {}",
                key.insert_guard()
            );
            let params = [
                id.as_str().into(),
                key.key().into(),
                key.is_given().into(),
                now.into(),
                request.into(),
                self.instance.id.as_str().into(),
                self.instance.lease_from(now).into(),
            ];
            if tx.execute(&sql, &params).await.doing(doing)? == 1 {
                created = Some((id.clone(), true));
                break;
            }
        }
        let Some((id, new)) = created else {
            let problem = LedgerProblem::Invalid(
                "the key's job was neither found nor created in three tries".into(),
            );
            return Err(LedgerError::new(doing(), problem));
        };
        if new {
            for (seq, a) in (1u32..).zip(actions) {
                tx.execute(
                    "INSERT INTO job_actions (job_id, seq, kind, game_date, market, object_name,
                         reason, state, attempts, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8)",
                    &[
                        id.as_str().into(),
                        seq.into(),
                        a.kind.as_str().into(),
                        a.game_date.to_string().into(),
                        a.market.as_str().into(),
                        a.object_name.as_deref().into(),
                        a.reason.as_str().into(),
                        now.into(),
                    ],
                )
                .await
                .doing(doing)?;
            }
        }
        tx.commit().await.doing(doing)?;
        let job = self.job(&id).await?;
        job.map(|job| (job, new))
            .ok_or_else(|| LedgerError::new(doing(), LedgerProblem::NoSuchJob))
    }

    /// The job `key` names now, if any (see [`JobKey`]).
    pub async fn job_for_key(
        &self,
        key: JobKey<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<JobRecord>, LedgerError> {
        let doing = || format!("looking up the job for key {:?}", key.key());
        let (sql, params) = key.lookup(now);
        let row = self.db.query_opt(sql, &params).await.doing(doing)?;
        match row {
            Some(row) => self.job(&row.text("id").doing(doing)?).await,
            None => Ok(None),
        }
    }
}

fn validate_actions(key: &str, actions: &[NewAction]) -> Result<(), LedgerProblem> {
    if key.trim().is_empty() {
        return Err(LedgerProblem::Invalid(
            "the idempotency key is empty".into(),
        ));
    }
    for (seq, a) in (1u32..).zip(actions) {
        let ok = match a.kind {
            ActionKind::SendFile => a.object_name.as_deref().is_some_and(|o| !o.is_empty()),
            ActionKind::Scrape => a.object_name.is_none(),
        };
        if !ok {
            return Err(LedgerProblem::Invalid(format!(
                "action {seq}: a send_file action names its object and a scrape action does not"
            )));
        }
    }
    Ok(())
}
