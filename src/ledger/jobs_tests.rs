//! Tests of recovery jobs and the never-twice file-delivery guard.

use std::sync::{Arc, Barrier};

use serde_json::json;

use super::runs_tests::{at, date};
use super::*;
use crate::market::MarketType;

const FILE: &str = "bettingpros/player-props/points/2026-01-12/20260112_180530.json";

fn actions() -> Vec<NewAction> {
    vec![
        NewAction {
            kind: ActionKind::Scrape,
            game_date: date("2026-01-11"),
            market: MarketType::Points,
            object_name: None,
            reason: "no raw file although 9 games were played".into(),
        },
        NewAction {
            kind: ActionKind::SendFile,
            game_date: date("2026-01-12"),
            market: MarketType::Points,
            object_name: Some(FILE.into()),
            reason: "file present, 0 rows loaded".into(),
        },
    ]
}

fn job(l: &Ledger, key: &str) -> JobRecord {
    l.create_job(
        JobKey::Given(key),
        &json!({"from": "2026-01-11"}),
        &actions(),
        at(9, 0),
    )
    .unwrap()
    .0
}

#[test]
fn same_idempotency_key_returns_the_existing_job() {
    let l = Ledger::open_in_memory().unwrap();
    let (first, created) = l
        .create_job(
            JobKey::Given("k1"),
            &json!({"from": "2026-01-11"}),
            &actions(),
            at(9, 0),
        )
        .unwrap();
    assert!(created);
    assert_eq!(first.state, "running");
    assert_eq!(first.actions.len(), 2);
    assert_eq!(first.actions[1].seq, 2);
    assert_eq!(first.actions[1].state, ActionState::Pending);
    assert_eq!(first.actions[1].object_name.as_deref(), Some(FILE));

    let (again, created) = l
        .create_job(JobKey::Given("k1"), &json!({"other": true}), &[], at(9, 30))
        .unwrap();
    assert!(!created);
    assert_eq!(again, first, "the first job, as stored");
    assert_eq!(l.job(&first.id).unwrap(), Some(first.clone()));
    assert_ne!(job(&l, "k2").id, first.id);
    assert_eq!(l.unfinished_jobs().unwrap().len(), 2);

    let mut bad = actions();
    bad[1].object_name = None;
    let err = l
        .create_job(JobKey::Given("k3"), &json!({}), &bad, at(9, 0))
        .unwrap_err();
    assert!(err.to_string().contains("action 2"), "{err}");
    assert_eq!(
        l.unfinished_jobs().unwrap().len(),
        2,
        "nothing half-created"
    );
}

#[test]
fn recent_jobs_come_newest_first_with_their_actions_and_the_limit_holds() {
    let l = Ledger::open_in_memory().unwrap();
    assert!(l.recent_jobs(10).unwrap().is_empty());
    let mut ids = Vec::new();
    for (minute, key) in [(0, "a"), (10, "b"), (20, "c")] {
        let (j, _) = l
            .create_job(
                JobKey::Given(key),
                &json!({"key": key}),
                &actions(),
                at(9, minute),
            )
            .unwrap();
        ids.push(j.id);
    }
    l.finish_job(&ids[0], "failed", at(9, 5)).unwrap();
    let recent = l.recent_jobs(2).unwrap();
    let got: Vec<&str> = recent.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(recent[0].actions.len(), 2, "each with its actions");
    let all = l.recent_jobs(10).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        (all[2].id.as_str(), all[2].state.as_str()),
        (ids[0].as_str(), "failed")
    );
}

#[test]
fn a_requests_own_key_names_its_job_only_until_it_finished_and_the_repeat_window_passed() {
    let l = Ledger::open_in_memory().unwrap();
    let window = std::time::Duration::from_secs(300);
    let key = JobKey::Content {
        key: "content-abc",
        repeat_window: window,
    };
    let create = |minute: u32| {
        l.create_job(key, &json!({}), &actions(), at(9, minute))
            .unwrap()
    };
    let (first, created) = create(0);
    assert!(created && !first.key_given);
    let (again, created) = create(1);
    assert!(!created, "unfinished: the same job");
    assert_eq!(again.id, first.id);
    l.set_action_state(&first.id, 1, ActionState::Skipped, None, None, at(9, 2))
        .unwrap();
    l.finish_job(&first.id, "failed", at(9, 2)).unwrap();
    let (again, created) = create(6);
    assert!(
        !created,
        "finished 4 minutes ago: a retried request gets the same job"
    );
    assert_eq!(again.id, first.id);
    let (second, created) = create(8);
    assert!(
        created,
        "finished 6 minutes ago: the same request plans anew"
    );
    assert_ne!(second.id, first.id);
    assert_eq!(l.job_for_key(key, at(9, 9)).unwrap().unwrap().id, second.id);
    // A key given by a caller is another name space, and names its job for ever.
    let (given, created) = l
        .create_job(JobKey::Given("content-abc"), &json!({}), &[], at(9, 9))
        .unwrap();
    assert!(created && given.key_given);
    l.finish_job(&given.id, "done", at(9, 9)).unwrap();
    let later = l
        .job_for_key(JobKey::Given("content-abc"), at(23, 0))
        .unwrap()
        .unwrap();
    assert_eq!(later.id, given.id);
}

#[test]
fn action_states_count_attempts_and_final_ones_stay_final() {
    let l = Ledger::open_in_memory().unwrap();
    let j = job(&l, "k");
    l.set_action_state(
        &j.id,
        1,
        ActionState::Running,
        None,
        Some("run-1"),
        at(9, 1),
    )
    .unwrap();
    l.set_action_state(
        &j.id,
        1,
        ActionState::Failed,
        Some("upstream 403"),
        None,
        at(9, 2),
    )
    .unwrap();
    l.set_action_state(
        &j.id,
        1,
        ActionState::Running,
        None,
        Some("run-2"),
        at(9, 3),
    )
    .unwrap();
    l.set_action_state(
        &j.id,
        1,
        ActionState::Done,
        Some("94 props"),
        None,
        at(9, 4),
    )
    .unwrap();
    let a = &l.job(&j.id).unwrap().unwrap().actions[0];
    assert_eq!((a.state, a.attempts), (ActionState::Done, 2));
    assert_eq!(a.run_id.as_deref(), Some("run-2"));
    assert_eq!(a.detail.as_deref(), Some("94 props"));
    assert_eq!(a.updated_at, at(9, 4));

    let err = l
        .set_action_state(&j.id, 1, ActionState::Running, None, None, at(9, 5))
        .unwrap_err();
    assert!(
        err.to_string().contains("already done, which is final"),
        "{err}"
    );
    let err = l
        .set_action_state(&j.id, 9, ActionState::Running, None, None, at(9, 5))
        .unwrap_err();
    assert!(err.to_string().contains("no action 9"), "{err}");

    let err = l.finish_job(&j.id, "done", at(9, 6)).unwrap_err();
    assert!(
        err.to_string()
            .contains("1 action(s) are neither done nor skipped"),
        "{err}"
    );
    assert!(l.finish_job(&j.id, "finished", at(9, 6)).is_err());
    l.set_action_state(
        &j.id,
        2,
        ActionState::Skipped,
        Some("already sent"),
        None,
        at(9, 6),
    )
    .unwrap();
    l.finish_job(&j.id, "done", at(9, 7)).unwrap();
    let done = l.job(&j.id).unwrap().unwrap();
    assert_eq!(
        (done.state.as_str(), done.finished_at),
        ("done", Some(at(9, 7)))
    );
    assert!(l.unfinished_jobs().unwrap().is_empty());
    let err = l.finish_job(&j.id, "failed", at(9, 8)).unwrap_err();
    assert!(
        err.to_string().contains("already finished as done"),
        "{err}"
    );
    assert!(l
        .finish_job("nope", "failed", at(9, 8))
        .unwrap_err()
        .is_not_found());
}

#[test]
fn a_file_is_claimed_once_even_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let first_job = {
        let l = Ledger::open(&path).unwrap();
        let j = job(&l, "k1");
        assert!(l.claim_file_send(FILE, &j.id, at(9, 1)).unwrap());
        assert!(!l.claim_file_send(FILE, &j.id, at(9, 2)).unwrap());
        j.id
        // The process "dies" here: claimed, never confirmed.
    };
    let l = Ledger::open(&path).unwrap();
    let other = job(&l, "k2");
    assert!(!l.claim_file_send(FILE, &other.id, at(10, 0)).unwrap());
    let rec = l.file_send(FILE).unwrap().unwrap();
    assert_eq!(rec.state, FileSendState::Claimed);
    assert_eq!(
        (rec.job_id.as_str(), rec.claimed_at),
        (first_job.as_str(), at(9, 1))
    );
    assert_eq!(l.unconfirmed_file_sends().unwrap(), [rec]);

    // A person checked Phase 2: the rows are there.
    l.confirm_file_sent(FILE, at(11, 0)).unwrap();
    l.confirm_file_sent(FILE, at(11, 1)).unwrap();
    let sent = l.file_send(FILE).unwrap().unwrap();
    assert_eq!(
        (sent.state, sent.sent_at),
        (FileSendState::Sent, Some(at(11, 0)))
    );
    assert!(l.unconfirmed_file_sends().unwrap().is_empty());
    let err = l.release_file_send(FILE).unwrap_err();
    assert!(err.to_string().contains("never released"), "{err}");
    drop(l);
    let l = Ledger::open(&path).unwrap();
    assert!(!l.claim_file_send(FILE, &other.id, at(12, 0)).unwrap());
}

#[test]
fn a_released_claim_may_be_sent_by_a_later_job() {
    let l = Ledger::open_in_memory().unwrap();
    let (a, b) = (job(&l, "a"), job(&l, "b"));
    assert!(l.claim_file_send(FILE, &a.id, at(9, 1)).unwrap());
    l.release_file_send(FILE).unwrap();
    assert_eq!(l.file_send(FILE).unwrap(), None);
    assert!(l.claim_file_send(FILE, &b.id, at(9, 2)).unwrap());
    assert_eq!(l.file_send(FILE).unwrap().unwrap().job_id, b.id);

    assert!(l
        .release_file_send("other.json")
        .unwrap_err()
        .is_not_found());
    assert!(l
        .confirm_file_sent("other.json", at(9, 3))
        .unwrap_err()
        .is_not_found());
    assert!(l
        .claim_file_send("x.json", "no-such-job", at(9, 3))
        .unwrap_err()
        .is_not_found());
    l.finish_job(&a.id, "failed", at(9, 4)).unwrap();
    let err = l.claim_file_send("x.json", &a.id, at(9, 5)).unwrap_err();
    assert!(
        err.to_string().contains("job already finished as failed"),
        "{err}"
    );
}

#[test]
fn concurrent_claims_only_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let setup = Ledger::open(&path).unwrap();
    let job_id = job(&setup, "k").id;
    let shared = Arc::new(setup);
    const THREADS: usize = 8;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (path, job_id, barrier) = (path.clone(), job_id.clone(), barrier.clone());
            let shared = shared.clone();
            std::thread::spawn(move || {
                // Half share one connection, half open their own: the guard must hold for both.
                let own;
                let l: &Ledger = if i % 2 == 0 {
                    &shared
                } else {
                    own = Ledger::open(&path).unwrap();
                    &own
                };
                barrier.wait();
                l.claim_file_send(FILE, &job_id, at(9, 0)).unwrap()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
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

#[test]
fn evidence_settles_a_claim_and_stays_with_the_job_after_a_release() {
    let l = Ledger::open_in_memory().unwrap();
    let (a, b) = (job(&l, "a"), job(&l, "b"));
    assert!(l.claim_file_send(FILE, &a.id, at(9, 1)).unwrap());
    l.finish_job(&a.id, "failed", at(9, 2)).unwrap();
    // A finished job's claim is still settled: evidence comes after the job ends.
    let unknown = evidence(ClaimOutcome::Unconfirmed, None, 0);
    assert!(l.settle_claim(FILE, &a.id, &unknown).unwrap());
    assert_eq!(l.unconfirmed_file_sends().unwrap().len(), 1);
    assert!(
        !l.settle_claim(FILE, &b.id, &unknown).unwrap(),
        "only the claiming job's claim is settled"
    );
    // Checks of the table that find what the last one found are one row, with the latest time.
    let no_rows_yet = evidence(ClaimOutcome::Unconfirmed, Some(0), 2);
    assert!(l.settle_claim(FILE, &a.id, &no_rows_yet).unwrap());
    let still_none = evidence(ClaimOutcome::Unconfirmed, Some(0), 3);
    assert!(l.settle_claim(FILE, &a.id, &still_none).unwrap());
    let none = evidence(ClaimOutcome::Released, Some(0), 5);
    assert!(l.settle_claim(FILE, &a.id, &none).unwrap());
    assert_eq!(l.file_send(FILE).unwrap(), None, "released");
    assert!(!l.settle_claim(FILE, &a.id, &none).unwrap(), "settled once");

    assert!(l.claim_file_send(FILE, &b.id, at(10, 6)).unwrap());
    let rows = evidence(ClaimOutcome::Confirmed, Some(1035), 9);
    assert!(l.settle_claim(FILE, &b.id, &rows).unwrap());
    let sent = l.file_send(FILE).unwrap().unwrap();
    assert_eq!(
        (sent.state, sent.sent_at, sent.job_id.as_str()),
        (FileSendState::Sent, Some(at(10, 9)), b.id.as_str())
    );

    let claims = l.job_claims(&a.id).unwrap();
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
    assert_eq!(l.claim_evidence(FILE, &b.id).unwrap(), [rows]);
}
