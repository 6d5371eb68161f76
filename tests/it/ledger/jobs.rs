//! Recovery jobs and the never-twice file-delivery guard.

use std::time::Duration;

use serde_json::json;

use backstop::ledger::{
    ActionKind, ActionState, FileSendState, JobKey, JobRecord, Ledger, NewAction,
};
use backstop::market::MarketType;

use super::{at, date, Backend};

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

async fn job(l: &Ledger, key: &str) -> JobRecord {
    l.create_job(JobKey::Given(key), &json!({"from": "2026-01-11"}), &actions(), at(9, 0))
        .await
        .unwrap()
        .0
}

pub async fn same_idempotency_key_returns_the_existing_job(b: &Backend) {
    let l = &b.ledger;
    let (first, created) = l
        .create_job(JobKey::Given("k1"), &json!({"from": "2026-01-11"}), &actions(), at(9, 0))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(first.state, "running");
    assert_eq!(first.actions.len(), 2);
    assert_eq!(first.actions[1].seq, 2);
    assert_eq!(first.actions[1].state, ActionState::Pending);
    assert_eq!(first.actions[1].object_name.as_deref(), Some(FILE));

    let (again, created) = l
        .create_job(JobKey::Given("k1"), &json!({"other": true}), &[], at(9, 30))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, first, "the first job, as stored");
    assert_eq!(l.job(&first.id).await.unwrap(), Some(first.clone()));
    assert_ne!(job(l, "k2").await.id, first.id);
    assert_eq!(l.unfinished_jobs().await.unwrap().len(), 2);

    let mut bad = actions();
    bad[1].object_name = None;
    let err = l
        .create_job(JobKey::Given("k3"), &json!({}), &bad, at(9, 0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("action 2"), "{err}");
    assert_eq!(
        l.unfinished_jobs().await.unwrap().len(),
        2,
        "nothing half-created"
    );
}

pub async fn action_states_count_attempts_and_final_ones_stay_final(b: &Backend) {
    let l = &b.ledger;
    let j = job(l, "k").await;
    l.set_action_state(
        &j.id,
        1,
        ActionState::Running,
        None,
        Some("run-1"),
        at(9, 1),
    )
    .await
    .unwrap();
    l.set_action_state(
        &j.id,
        1,
        ActionState::Failed,
        Some("upstream 403"),
        None,
        at(9, 2),
    )
    .await
    .unwrap();
    l.set_action_state(
        &j.id,
        1,
        ActionState::Running,
        None,
        Some("run-2"),
        at(9, 3),
    )
    .await
    .unwrap();
    l.set_action_state(
        &j.id,
        1,
        ActionState::Done,
        Some("94 props"),
        None,
        at(9, 4),
    )
    .await
    .unwrap();
    let a = &l.job(&j.id).await.unwrap().unwrap().actions[0];
    assert_eq!((a.state, a.attempts), (ActionState::Done, 2));
    assert_eq!(a.run_id.as_deref(), Some("run-2"));
    assert_eq!(a.detail.as_deref(), Some("94 props"));
    assert_eq!(a.updated_at, at(9, 4));

    let err = l
        .set_action_state(&j.id, 1, ActionState::Running, None, None, at(9, 5))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("already done, which is final"),
        "{err}"
    );
    let err = l
        .set_action_state(&j.id, 9, ActionState::Running, None, None, at(9, 5))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no action 9"), "{err}");

    let err = l.finish_job(&j.id, "done", at(9, 6)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("1 action(s) are neither done nor skipped"),
        "{err}"
    );
    assert!(l.finish_job(&j.id, "finished", at(9, 6)).await.is_err());
    l.set_action_state(
        &j.id,
        2,
        ActionState::Skipped,
        Some("already sent"),
        None,
        at(9, 6),
    )
    .await
    .unwrap();
    l.finish_job(&j.id, "done", at(9, 7)).await.unwrap();
    let done = l.job(&j.id).await.unwrap().unwrap();
    assert_eq!(
        (done.state.as_str(), done.finished_at),
        ("done", Some(at(9, 7)))
    );
    assert!(l.unfinished_jobs().await.unwrap().is_empty());
    let err = l.finish_job(&j.id, "failed", at(9, 8)).await.unwrap_err();
    assert!(
        err.to_string().contains("already finished as done"),
        "{err}"
    );
    assert!(l
        .finish_job("nope", "failed", at(9, 8))
        .await
        .unwrap_err()
        .is_not_found());
}

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

/// Two instances asked for the same recovery at once: one job, created once.
pub async fn one_key_makes_one_job_across_instances(b: &Backend) {
    let other = b.instance("b", Duration::from_secs(60)).await;
    let (request, planned) = (json!({}), actions());
    let (x, y) = tokio::join!(
        b.ledger.create_job(JobKey::Given("same"), &request, &planned, at(9, 0)),
        other.create_job(JobKey::Given("same"), &request, &planned, at(9, 0)),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.0.id, y.0.id, "one job");
    assert_eq!(u8::from(x.1) + u8::from(y.1), 1, "created once");
    assert_eq!(b.raw_count("jobs").await, 1);
    assert_eq!(b.raw_count("job_actions").await, 2);
    let owner = if x.1 { &b.ledger } else { &other };
    let bystander = if x.1 { &other } else { &b.ledger };
    let err = bystander
        .set_action_state(&x.0.id, 1, ActionState::Running, None, None, at(9, 1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("owned by instance"), "{err}");
    owner
        .set_action_state(&x.0.id, 1, ActionState::Running, None, None, at(9, 1))
        .await
        .unwrap();
}
