//! Recovery: plan (pure) which lost dates to re-scrape and which files to send to Phase 2,
//! then execute the plan as a durable job in the ledger, slice by slice inside requests.

pub mod execute;
pub mod plan;
pub mod settle;
pub mod slice;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::gaps::{Detector, GapReport, Remedy};
use crate::ledger::{Announcement, JobKey, JobRecord, Ledger};
use crate::phase2::Phase2;
use crate::scrape::Scrapes;

pub use plan::{Plan, ReprocessRequest};

pub struct Recovery {
    pub scrapes: Scrapes,
    pub detector: Arc<Detector>,
    pub phase2: Arc<Phase2>,
    pub ledger: Arc<Ledger>,
    /// The bucket Phase 2 reads; `None` when storage is a local directory.
    pub bucket: Option<String>,
    pub rate_per_sec: f64,
    /// Wait before re-checking re-scraped dates: Phase 2 loads them on its own time.
    pub settle: std::time::Duration,
    /// How long an announced file may still be on its way to Phase 2.
    pub pending_load: std::time::Duration,
    /// How long one slice of a job may go on starting actions (`BACKSTOP_SLICE_SECS`).
    pub slice: std::time::Duration,
    running: slice::Running,
}

/// How a recovery behaves (see `Config`).
pub struct RecoverySettings {
    /// The bucket Phase 2 reads; `None` when storage is a local directory.
    pub bucket: Option<String>,
    /// For the plan's ETA.
    pub rate_per_sec: f64,
    pub settle: std::time::Duration,
    pub pending_load: std::time::Duration,
    /// The budget of one slice of a job.
    pub slice: std::time::Duration,
}

/// How long after a job finished the same request without a key of the caller's still gets
/// that job over HTTP: a client retrying a `POST /reprocess` whose answer it lost must not start
/// a second recovery. The command line waits for its job, so it never repeats one that finished.
pub const REPEAT_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// The key prefix of the nightly check's jobs (`nightly-YYYY-MM-DD`, made by the sweep): what
/// such a job could not recover is logged for a person when its range is checked again.
pub const NIGHTLY_KEY_PREFIX: &str = "nightly-";

/// The message of the line logged for each (date, market) a nightly job's final check finds
/// still lost: what automatic recovery could not fix, so a person is needed. A log-based alert
/// matches it (`jsonPayload.message`, severity `ERROR`). Never reworded.
pub const STILL_LOST_MESSAGE: &str = "lost data the nightly recovery could not recover";

/// Why a recovery could not be planned, submitted or carried on. The ways in map each kind
/// once: a bad request, a conflict with what the ledger holds, or a failure of ours.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The request is not valid: what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The caller's key already names a job made for another request.
    #[error(
        "the key {key:?} already names job {job_id}, made for a different request: use a new key"
    )]
    KeyReused { key: String, job_id: String },
    /// No job has this id.
    #[error("no recovery job {0}")]
    NoSuchJob(String),
    /// The ledger failed; the message says what was being done.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
}

/// A submitted job: the one created now, or the one this request created before.
pub struct Submitted {
    pub job: JobRecord,
    pub created: bool,
    pub plan: Plan,
    /// What detection found, for a job planned now (`None` for an existing one).
    pub report: Option<GapReport>,
}

impl Recovery {
    pub fn new(
        scrapes: Scrapes,
        detector: Arc<Detector>,
        phase2: Arc<Phase2>,
        s: RecoverySettings,
    ) -> Self {
        let ledger = scrapes.ledger.clone();
        Self {
            scrapes,
            detector,
            phase2,
            ledger,
            bucket: s.bucket,
            rate_per_sec: s.rate_per_sec,
            settle: s.settle,
            pending_load: s.pending_load,
            slice: s.slice,
            running: Default::default(),
        }
    }

    /// Settles unconfirmed hand-overs from evidence, detects, then plans. Nothing else is
    /// changed.
    pub async fn plan(&self, req: &ReprocessRequest) -> Result<Plan, RecoveryError> {
        Ok(self.detect_and_plan(req).await?.0)
    }

    /// [`Recovery::plan`], with the report it planned from.
    async fn detect_and_plan(
        &self,
        req: &ReprocessRequest,
    ) -> Result<(Plan, GapReport), RecoveryError> {
        let scope = req.scope().map_err(RecoveryError::Invalid)?;
        self.settle_claims().await;
        let report = self.detector.detect(&scope.query).await;
        let now = chrono::Utc::now();
        let mut histories = HashMap::new();
        for row in &report.rows {
            if let Remedy::SendFile { object_name } = &row.verdict.remedy {
                let history = plan::FileHistory {
                    sent: self.ledger.file_send(object_name).await.ok().flatten(),
                    announced_recently: self.announced_recently(object_name, now).await,
                };
                histories.insert(object_name.clone(), history);
            }
        }
        let plan = plan::plan(&report, &scope, self.rate_per_sec, |name| {
            let h = histories.get(name);
            plan::FileHistory {
                sent: h.and_then(|h| h.sent.clone()),
                announced_recently: h.and_then(|h| h.announced_recently),
            }
        });
        Ok((plan, report))
    }

    /// The file's completion message if it may still bring the file to Phase 2: waiting in
    /// the outbox (a drain will publish it), or published within the pending-load window.
    async fn announced_recently(
        &self,
        name: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Announcement> {
        let window = chrono::Duration::from_std(self.pending_load).ok()?;
        match self.ledger.announcement(name).await.ok().flatten()? {
            Announcement::Published(at) if now - at >= window => None,
            pending_or_recent => Some(pending_or_recent),
        }
    }

    /// Plans and records a job, unless the key names one already (then that job is returned
    /// as it is; see [`JobKey`]). Without a key of the caller's, the request's own key names
    /// its unfinished job, or one that finished less than `repeat_window` ago; after that the
    /// same request plans anew from the evidence then. The caller advances the job
    /// ([`Recovery::advance`], slice by slice, or [`Recovery::execute`] to its end).
    pub async fn submit(
        &self,
        req: &ReprocessRequest,
        key: Option<&str>,
        repeat_window: std::time::Duration,
    ) -> Result<Submitted, RecoveryError> {
        let scope = req.scope().map_err(RecoveryError::Invalid)?;
        let content = content_key(&req.canonical());
        let key = match key {
            Some(k) => JobKey::Given(k),
            None => JobKey::Content {
                key: &content,
                repeat_window,
            },
        };
        let now = chrono::Utc::now();
        // create_job is the atomic check; this only spares a detection for a repeat.
        let existing = self.ledger.job_for_key(key, now).await;
        if let Some(job) = existing? {
            return self.existing(req, key, job);
        }
        let (plan, report) = self.detect_and_plan(req).await?;
        let actions: Vec<_> = plan.actions.iter().map(|a| a.to_new()).collect();
        let stored = json!({
            "request": req.canonical(),
            "scope": plan::scope_json(&scope),
            "skipped": plan.skipped,
        });
        let (job, created) = self
            .ledger
            .create_job(key, &stored, &actions, chrono::Utc::now())
            .await?;
        if !created {
            return self.existing(req, key, job);
        }
        Ok(Submitted {
            job,
            created,
            plan,
            report: Some(report),
        })
    }

    /// The job a repeated request gets; a caller's key reused for another request is refused.
    fn existing(
        &self,
        req: &ReprocessRequest,
        key: JobKey<'_>,
        job: JobRecord,
    ) -> Result<Submitted, RecoveryError> {
        if key.is_given() && job.request["request"] != req.canonical() {
            return Err(RecoveryError::KeyReused {
                key: key.key().to_string(),
                job_id: job.id,
            });
        }
        let plan = Plan {
            actions: Vec::new(),
            skipped: Vec::new(),
            upstream_requests: 0,
            eta_seconds: 0.0,
        };
        Ok(Submitted {
            job,
            created: false,
            plan,
            report: None,
        })
    }
}

/// The idempotency key of a request without one: a hash of its content.
pub fn content_key(canonical: &Value) -> String {
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    format!(
        "content-{}",
        digest
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}
