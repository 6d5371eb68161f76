//! Hand-overs to Phase 2 whose outcome is unknown: `GET /claims` settles what the table's rows
//! can settle and lists the rest; `POST /claims/{object}/confirm|release` settles one by hand
//! after a person checked the rows. `backstop claims` asks the same.

use serde_json::{json, Value};

use super::{to_json, QueryError};
use crate::app::App;
use crate::ledger::{ClaimEvidence, ClaimOutcome, EvidenceSource, FileSendState, LedgerProblem};

/// What a person found when they checked the rows by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByHand {
    /// The rows are there: the file was loaded; it is never sent again.
    Confirm,
    /// They are not: a later recovery may send the file, once.
    Release,
}

impl ByHand {
    /// `confirm` or `release`, as in the route and the command.
    pub fn parse(word: &str) -> Option<ByHand> {
        match word {
            "confirm" => Some(ByHand::Confirm),
            "release" => Some(ByHand::Release),
            _ => None,
        }
    }
}

/// `{"settled", "unconfirmed", "count"}`: the checks that settled a claim just now, then each
/// claim evidence could not settle, with its last check.
pub async fn list(app: &App) -> Result<Value, QueryError> {
    let settled: Vec<_> = app
        .recovery
        .settle_claims()
        .await
        .into_iter()
        .filter(|s| s.evidence.outcome != ClaimOutcome::Unconfirmed)
        .collect();
    let ledger = &app.ledger;
    let mut unconfirmed = Vec::new();
    for send in ledger.unconfirmed_file_sends().await? {
        let last = ledger
            .claim_evidence(&send.object_name, &send.job_id)
            .await?
            .pop();
        unconfirmed.push(json!({
            "object_name": send.object_name,
            "job_id": send.job_id,
            "claimed_at": send.claimed_at,
            "last_check": to_json(last)?,
        }));
    }
    Ok(json!({
        "settled": to_json(settled)?,
        "count": unconfirmed.len(),
        "unconfirmed": unconfirmed,
    }))
}

/// Settles the claim on `object` by a person's word, recorded with the claim as evidence.
/// A file with no delivery record is a 404; releasing a confirmed delivery is a conflict (a
/// delivery is never released); confirming one twice is fine.
pub async fn settle_by_hand(app: &App, object: &str, by: ByHand) -> Result<Value, QueryError> {
    let ledger = &app.ledger;
    let (outcome, said) = match by {
        ByHand::Confirm => (ClaimOutcome::Confirmed, "confirmed"),
        ByHand::Release => (ClaimOutcome::Released, "released"),
    };
    let claim = ledger.file_send(object).await?;
    let moved = match claim.filter(|c| c.state == FileSendState::Claimed) {
        Some(claim) => {
            let evidence = ClaimEvidence {
                checked_at: chrono::Utc::now(),
                source: EvidenceSource::Person,
                outcome,
                rows_found: None,
                detail: format!("{said} by hand (backstop claims)"),
            };
            ledger
                .settle_claim(object, &claim.job_id, &evidence)
                .await
                .map(|_| ())
        }
        // Not an open claim: the bare moves say what is wrong (no claim, already sent).
        None => match by {
            ByHand::Release => ledger.release_file_send(object).await,
            ByHand::Confirm => ledger.confirm_file_sent(object, chrono::Utc::now()).await,
        },
    };
    moved.map_err(|e| match e.problem {
        LedgerProblem::AlreadySent => QueryError::Conflict(format!(
            "{object} is confirmed as delivered to Phase 2: a delivery is never released"
        )),
        _ => e.into(),
    })?;
    let message = match by {
        ByHand::Confirm => format!("{object}: confirmed as loaded; never sent again"),
        ByHand::Release => format!("{object}: released; a later recovery may send it"),
    };
    Ok(json!({ "object_name": object, "outcome": said, "message": message }))
}
