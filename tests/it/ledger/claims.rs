//! The never-twice file-delivery guard, and the evidence that settles each claim: one claim
//! per file however many ask at once, and one settling of a claim however many instances
//! settle it at once.

use std::time::Duration;

use backstop::ledger::{ClaimEvidence, ClaimOutcome, EvidenceSource, FileSendState};

use super::jobs::{job, FILE};
use super::{at, Backend};

pub async fn a_file_is_claimed_once_even_across_reopen(b: &Backend) {
    let first_job = {
        let l = &b.ledger;
        let j = job(l, "k1").await;
        assert!(l.claim_file_send(FILE, &j.id, at(9, 1)).await.unwrap());
        assert!(!l.claim_file_send(FILE, &j.id, at(9, 2)).await.unwrap());
        j.id
        // The process "dies" here: claimed, never confirmed.
    };
    let l = b.reopen().await;
    let other = job(&l, "k2").await;
    assert!(!l.claim_file_send(FILE, &other.id, at(10, 0)).await.unwrap());
    let rec = l.file_send(FILE).await.unwrap().unwrap();
    assert_eq!(rec.state, FileSendState::Claimed);
    assert_eq!(
        (rec.job_id.as_str(), rec.claimed_at),
        (first_job.as_str(), at(9, 1))
    );
    assert_eq!(l.unconfirmed_file_sends().await.unwrap(), [rec]);

    // A person checked Phase 2: the rows are there.
    l.confirm_file_sent(FILE, at(11, 0)).await.unwrap();
    l.confirm_file_sent(FILE, at(11, 1)).await.unwrap();
    let sent = l.file_send(FILE).await.unwrap().unwrap();
    assert_eq!(
        (sent.state, sent.sent_at),
        (FileSendState::Sent, Some(at(11, 0)))
    );
    assert!(l.unconfirmed_file_sends().await.unwrap().is_empty());
    let err = l.release_file_send(FILE).await.unwrap_err();
    assert!(err.to_string().contains("never released"), "{err}");
    drop(l);
    let l = b.reopen().await;
    assert!(!l.claim_file_send(FILE, &other.id, at(12, 0)).await.unwrap());
}

pub async fn a_released_claim_may_be_sent_by_a_later_job(b: &Backend) {
    let l = &b.ledger;
    let (a, b) = (job(l, "a").await, job(l, "b").await);
    let (a, b) = (&a, &b);
    assert!(l.claim_file_send(FILE, &a.id, at(9, 1)).await.unwrap());
    l.release_file_send(FILE).await.unwrap();
    assert_eq!(l.file_send(FILE).await.unwrap(), None);
    assert!(l.claim_file_send(FILE, &b.id, at(9, 2)).await.unwrap());
    assert_eq!(l.file_send(FILE).await.unwrap().unwrap().job_id, b.id);

    assert!(l
        .release_file_send("other.json")
        .await
        .unwrap_err()
        .is_not_found());
    assert!(l
        .confirm_file_sent("other.json", at(9, 3))
        .await
        .unwrap_err()
        .is_not_found());
    assert!(l
        .claim_file_send("x.json", "no-such-job", at(9, 3))
        .await
        .unwrap_err()
        .is_not_found());
    l.finish_job(&a.id, "failed", at(9, 4)).await.unwrap();
    let err = l
        .claim_file_send("x.json", &a.id, at(9, 5))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("job already finished as failed"),
        "{err}"
    );
}

/// Eight claims at once: half through the instance's own connection, half through new
/// connections of the same instance. The database lets one through.
pub async fn concurrent_claims_only_one_wins(b: &Backend) {
    let job_id = job(&b.ledger, "k").await.id;
    let mut own = Vec::new();
    for _ in 0..4 {
        own.push(b.reopen().await);
    }
    let claims = (0..8).map(|i| {
        let l = if i % 2 == 0 { &b.ledger } else { &own[i / 2] };
        let job_id = job_id.clone();
        async move { l.claim_file_send(FILE, &job_id, at(9, 0)).await.unwrap() }
    });
    let wins = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .filter(|won| *won)
        .count();
    assert_eq!(wins, 1);
}

fn evidence(outcome: ClaimOutcome, rows: Option<u64>, minute: u32) -> ClaimEvidence {
    let source = match rows {
        Some(_) => EvidenceSource::Table,
        None => EvidenceSource::Answer,
    };
    ClaimEvidence {
        checked_at: at(10, minute),
        source,
        outcome,
        rows_found: rows,
        detail: format!("check at 10:{minute:02}"),
    }
}

pub async fn evidence_settles_a_claim_and_stays_with_the_job_after_a_release(b: &Backend) {
    let l = &b.ledger;
    let (a, b) = (job(l, "a").await, job(l, "b").await);
    assert!(l.claim_file_send(FILE, &a.id, at(9, 1)).await.unwrap());
    l.finish_job(&a.id, "failed", at(9, 2)).await.unwrap();
    // A finished job's claim is still settled: evidence comes after the job ends.
    let unknown = evidence(ClaimOutcome::Unconfirmed, None, 0);
    assert!(l.settle_claim(FILE, &a.id, &unknown).await.unwrap());
    assert_eq!(l.unconfirmed_file_sends().await.unwrap().len(), 1);
    assert!(
        !l.settle_claim(FILE, &b.id, &unknown).await.unwrap(),
        "only the claiming job's claim is settled"
    );
    // Checks of the table that find what the last one found are one row, with the latest time.
    let no_rows_yet = evidence(ClaimOutcome::Unconfirmed, Some(0), 2);
    assert!(l.settle_claim(FILE, &a.id, &no_rows_yet).await.unwrap());
    let still_none = evidence(ClaimOutcome::Unconfirmed, Some(0), 3);
    assert!(l.settle_claim(FILE, &a.id, &still_none).await.unwrap());
    let none = evidence(ClaimOutcome::Released, Some(0), 5);
    assert!(l.settle_claim(FILE, &a.id, &none).await.unwrap());
    assert_eq!(l.file_send(FILE).await.unwrap(), None, "released");
    assert!(
        !l.settle_claim(FILE, &a.id, &none).await.unwrap(),
        "settled once"
    );

    assert!(l.claim_file_send(FILE, &b.id, at(10, 6)).await.unwrap());
    let rows = evidence(ClaimOutcome::Confirmed, Some(1035), 9);
    assert!(l.settle_claim(FILE, &b.id, &rows).await.unwrap());
    let sent = l.file_send(FILE).await.unwrap().unwrap();
    assert_eq!(
        (sent.state, sent.sent_at, sent.job_id.as_str()),
        (FileSendState::Sent, Some(at(10, 9)), b.id.as_str())
    );

    let claims = l.job_claims(&a.id).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].object_name, FILE);
    assert_eq!(
        claims[0].evidence,
        [unknown, still_none, none],
        "a's own evidence, in order"
    );
    assert_eq!(
        claims[0].delivery.as_ref().map(|d| d.job_id.as_str()),
        Some(b.id.as_str()),
        "the file's record now: sent by the later job"
    );
    assert_eq!(l.claim_evidence(FILE, &b.id).await.unwrap(), [rows]);
}

/// Three instances settle the same claims at once — the way every plan, job and `gaps` call
/// settles unconfirmed hand-overs on whichever instance it runs. Each claim is settled once:
/// one call says so and records its evidence, the others find it settled and record nothing.
pub async fn instances_settling_one_claim_at_once_settle_it_once(b: &Backend) {
    let minute = Duration::from_secs(60);
    let others = [b.instance("b", minute).await, b.instance("c", minute).await];
    let ledgers = [&b.ledger, &others[0], &others[1]];
    let j = job(&b.ledger, "k").await;
    // Evidence does not depend on who owns the job: another instance settles its claim alone.
    assert!(b
        .ledger
        .claim_file_send(FILE, &j.id, at(9, 0))
        .await
        .unwrap());
    let rows = evidence(ClaimOutcome::Confirmed, Some(10), 0);
    assert!(others[0].settle_claim(FILE, &j.id, &rows).await.unwrap());
    let sent = b.ledger.file_send(FILE).await.unwrap().unwrap();
    assert_eq!(sent.state, FileSendState::Sent);
    for round in 1..9u32 {
        let file = format!("bettingpros/player-props/points/2026-01-12/round{round}.json");
        assert!(b
            .ledger
            .claim_file_send(&file, &j.id, at(9, round))
            .await
            .unwrap());
        // Rounds alternate a release against a release, and a confirmation against a release.
        let says = |i: usize| match (round % 2, i) {
            (1, 0) => evidence(ClaimOutcome::Confirmed, Some(10), round),
            _ => evidence(ClaimOutcome::Released, Some(0), round),
        };
        let settles = ledgers
            .iter()
            .enumerate()
            .map(|(i, l)| (says(i), l))
            .map(|(e, l)| {
                let (file, id) = (file.clone(), j.id.clone());
                async move { (l.settle_claim(&file, &id, &e).await.unwrap(), e) }
            });
        let done = futures_util::future::join_all(settles).await;
        let won: Vec<&ClaimEvidence> = done.iter().filter(|(w, _)| *w).map(|(_, e)| e).collect();
        assert_eq!(won.len(), 1, "round {round}: settled once");
        let recorded = b.ledger.claim_evidence(&file, &j.id).await.unwrap();
        assert_eq!(
            recorded,
            [won[0].clone()],
            "round {round}: the winner's evidence only"
        );
        let now = b.ledger.file_send(&file).await.unwrap().map(|f| f.state);
        let want = match won[0].outcome {
            ClaimOutcome::Confirmed => Some(FileSendState::Sent),
            _ => None,
        };
        assert_eq!(
            now, want,
            "round {round}: the claim moved as the winner said"
        );
    }
}
