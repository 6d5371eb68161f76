//! Settling hand-overs to Phase 2 whose outcome is unknown, from evidence: the rows Phase 2's
//! table holds under the file's `source_file_path`, in either form (contract sections 4–5).
//!
//! | rows under the file's path | since the send | the claim becomes |
//! |---|---|---|
//! | some (a short load too) | any | confirmed: loaded, never sent again |
//! | none | less than the window | unconfirmed: Phase 2 may still be loading it |
//! | none | the window or more | released: the next recovery may send it, once |
//! | BigQuery could not be read | any | unconfirmed, with the reason, for `backstop claims` |
//!
//! The window is `BACKSTOP_PENDING_LOAD_MINS`, never shorter than the longest a hand-over can
//! take (`BACKSTOP_PHASE2_MAX_ATTEMPTS` × (`BACKSTOP_PHASE2_TIMEOUT_SECS` + the longest backoff)),
//! so no claim is released while its request may still be in flight. Every check is recorded with the claim (what was checked,
//! when, rows found) and shown in the job. Settling runs at the start of every plan (dry runs
//! and submissions), at the start and the end of every job, before `gaps` reports, and before
//! `backstop claims` lists what evidence could not settle.

use chrono::{DateTime, Utc};

use super::Recovery;
use crate::ledger::{ClaimEvidence, ClaimOutcome, EvidenceSource, FileSendRecord};
use crate::storage::StorageKey;

/// A check of one claim, recorded with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settled {
    pub object_name: String,
    pub job_id: String,
    pub evidence: ClaimEvidence,
}

/// The table above: what `rows` (found under the file's path, or why they could not be read)
/// says about a claim made at `claimed_at`.
pub fn judge(
    object_name: &str,
    rows: Result<u64, String>,
    claimed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    window: std::time::Duration,
) -> ClaimEvidence {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let waited = now - claimed_at;
    let minutes = |d: chrono::Duration| format!("{:.1} min", d.num_milliseconds() as f64 / 60e3);
    let (outcome, rows_found, detail) = match rows {
        Err(why) => (
            ClaimOutcome::Unconfirmed,
            None,
            format!("the table could not be read ({why}); {object_name} stays unconfirmed: check its rows by hand, then `backstop claims confirm|release`"),
        ),
        Ok(n) if n > 0 => (
            ClaimOutcome::Confirmed,
            Some(n),
            format!("{n} rows under source_file_path {object_name} (or gs://…/{object_name}): loaded; never sent again"),
        ),
        Ok(_) if waited >= window => (
            ClaimOutcome::Released,
            Some(0),
            format!("no rows under source_file_path {object_name} {} after the send (window {}): not loaded; the next recovery may send it once", minutes(waited), minutes(window)),
        ),
        Ok(_) => (
            ClaimOutcome::Unconfirmed,
            Some(0),
            format!("no rows under source_file_path {object_name} yet, {} after the send: Phase 2 may still be loading it; released if still none {} after the send", minutes(waited), minutes(window)),
        ),
    };
    ClaimEvidence {
        checked_at: now,
        source: EvidenceSource::Table,
        outcome,
        rows_found,
        detail,
    }
}

impl Recovery {
    /// Checks every unconfirmed claim against the table and records what was found; returns
    /// the checks. A ledger that cannot be read settles nothing (logged).
    pub async fn settle_claims(&self) -> Vec<Settled> {
        let claims = match self.ledger.unconfirmed_file_sends().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot read unconfirmed hand-overs to settle them");
                return Vec::new();
            }
        };
        let mut settled = Vec::new();
        for claim in claims {
            if let Some(s) = self.settle(&claim).await {
                settled.push(s);
            }
        }
        settled
    }

    async fn settle(&self, claim: &FileSendRecord) -> Option<Settled> {
        let name = &claim.object_name;
        let rows = match StorageKey::parse(name) {
            Some(key) => self
                .detector
                .warehouse()
                .rows_of_file(key.date(), name)
                .await
                .map_err(|e| e.reason()),
            None => Err(format!(
                "{name} is not a raw file's name: its game date is unknown"
            )),
        };
        let window = self
            .pending_load
            .max(self.phase2.settings().longest_hand_over());
        let evidence = judge(name, rows, claim.claimed_at, chrono::Utc::now(), window);
        match self
            .ledger
            .settle_claim(name, &claim.job_id, &evidence)
            .await
        {
            Ok(true) => {
                tracing::info!(object = %name, job_id = %claim.job_id, outcome = %evidence.outcome,
                               rows_found = evidence.rows_found, "hand-over checked: {}", evidence.detail);
                Some(Settled {
                    object_name: name.clone(),
                    job_id: claim.job_id.clone(),
                    evidence,
                })
            }
            Ok(false) => None,
            Err(e) => {
                tracing::error!(object = %name, error = %e, "hand-over checked but not recorded");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NAME: &str = "bettingpros/player-props/points/2026-01-14/20260114_180530.json";

    fn check(rows: Result<u64, String>, minutes_since: i64) -> ClaimEvidence {
        let claimed: DateTime<Utc> = "2026-01-15T10:00:00Z".parse().unwrap();
        let now = claimed + chrono::Duration::minutes(minutes_since);
        judge(NAME, rows, claimed, now, Duration::from_secs(360 * 60))
    }

    #[test]
    fn rows_under_the_path_confirm_the_claim_even_a_short_load() {
        let e = check(Ok(12), 1);
        assert_eq!(
            (e.outcome, e.rows_found),
            (ClaimOutcome::Confirmed, Some(12))
        );
        assert!(e.detail.contains("never sent again"), "{}", e.detail);
    }

    #[test]
    fn no_rows_within_the_window_leaves_it_unconfirmed() {
        let e = check(Ok(0), 359);
        assert_eq!(
            (e.outcome, e.rows_found),
            (ClaimOutcome::Unconfirmed, Some(0))
        );
        assert!(e.detail.contains("still be loading"), "{}", e.detail);
    }

    #[test]
    fn no_rows_once_the_window_passed_releases_it() {
        let e = check(Ok(0), 360);
        assert_eq!((e.outcome, e.rows_found), (ClaimOutcome::Released, Some(0)));
        assert!(e.detail.contains("send it once"), "{}", e.detail);
    }

    #[test]
    fn an_unreadable_table_leaves_it_unconfirmed_with_the_reason() {
        let e = check(Err("BigQuery: connection refused".into()), 9000);
        assert_eq!((e.outcome, e.rows_found), (ClaimOutcome::Unconfirmed, None));
        assert!(e.detail.contains("connection refused"), "{}", e.detail);
    }
}
