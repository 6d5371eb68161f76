//! Recovery jobs: which key names which job, their actions, and many instances asking at once.

use std::time::Duration;

use serde_json::json;

use backstop::ledger::{ActionKind, ActionState, JobKey, JobRecord, Ledger, NewAction};
use backstop::market::MarketType;

use super::{at, date, Backend};

pub const FILE: &str = "bettingpros/player-props/points/2026-01-12/20260112_180530.json";

pub fn actions() -> Vec<NewAction> {
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

pub async fn job(l: &Ledger, key: &str) -> JobRecord {
    l.create_job(
        JobKey::Given(key),
        &json!({"from": "2026-01-11"}),
        &actions(),
        at(9, 0),
    )
    .await
    .unwrap()
    .0
}

pub async fn same_idempotency_key_returns_the_existing_job(b: &Backend) {
    let l = &b.ledger;
    let (first, created) = l
        .create_job(
            JobKey::Given("k1"),
            &json!({"from": "2026-01-11"}),
            &actions(),
            at(9, 0),
        )
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

/// Two instances asked for the same recovery at once: one job, created once.
pub async fn one_key_makes_one_job_across_instances(b: &Backend) {
    let other = b.instance("b", Duration::from_secs(60)).await;
    let (request, planned) = (json!({}), actions());
    let (x, y) = tokio::join!(
        b.ledger
            .create_job(JobKey::Given("same"), &request, &planned, at(9, 0)),
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

pub async fn recent_jobs_come_newest_first_with_their_actions_and_the_limit_holds(b: &Backend) {
    let l = &b.ledger;
    assert!(l.recent_jobs(10).await.unwrap().is_empty());
    let mut ids = Vec::new();
    for (minute, key) in [(0, "a"), (10, "b"), (20, "c")] {
        let (j, _) = l
            .create_job(
                JobKey::Given(key),
                &json!({"key": key}),
                &actions(),
                at(9, minute),
            )
            .await
            .unwrap();
        ids.push(j.id);
    }
    l.finish_job(&ids[0], "failed", at(9, 5)).await.unwrap();
    let recent = l.recent_jobs(2).await.unwrap();
    let got: Vec<&str> = recent.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(recent[0].actions.len(), 2, "each with its actions");
    let all = l.recent_jobs(10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        (all[2].id.as_str(), all[2].state.as_str()),
        (ids[0].as_str(), "failed")
    );
}

const REPEAT_WINDOW: Duration = Duration::from_secs(300);

fn content(key: &str) -> JobKey<'_> {
    JobKey::Content {
        key,
        repeat_window: REPEAT_WINDOW,
    }
}

pub async fn a_requests_own_key_names_its_job_only_until_it_finished_and_the_window_passed(
    b: &Backend,
) {
    let l = &b.ledger;
    let key = content("content-abc");
    let (request, planned) = (json!({}), actions());
    let create = |minute: u32| l.create_job(key, &request, &planned, at(9, minute));
    let (first, created) = create(0).await.unwrap();
    assert!(created && !first.key_given);
    let (again, created) = create(1).await.unwrap();
    assert!(!created, "unfinished: the same job");
    assert_eq!(again.id, first.id);
    l.set_action_state(&first.id, 1, ActionState::Skipped, None, None, at(9, 2))
        .await
        .unwrap();
    l.finish_job(&first.id, "failed", at(9, 2)).await.unwrap();
    let (again, created) = create(6).await.unwrap();
    assert!(
        !created,
        "finished 4 minutes ago: a retried request gets the same job"
    );
    assert_eq!(again.id, first.id);
    let (second, created) = create(8).await.unwrap();
    assert!(
        created,
        "finished 6 minutes ago: the same request plans anew"
    );
    assert_ne!(second.id, first.id);
    assert_eq!(
        l.job_for_key(key, at(9, 9)).await.unwrap().unwrap().id,
        second.id
    );
    // A key given by a caller is another name space, and names its job for ever.
    let (given, created) = l
        .create_job(JobKey::Given("content-abc"), &json!({}), &[], at(9, 9))
        .await
        .unwrap();
    assert!(created && given.key_given);
    l.finish_job(&given.id, "done", at(9, 9)).await.unwrap();
    let later = l
        .job_for_key(JobKey::Given("content-abc"), at(23, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.id, given.id);
    // The database itself refuses a second unfinished job for one request's key.
    let err = b
        .raw_execute(&format!(
            "INSERT INTO jobs (id, idempotency_key, key_given, created_at, state, request)
             VALUES ('twin', 'content-abc', 0, '{}', 'running', '{{}}')",
            second.created_at.to_rfc3339()
        ))
        .await
        .unwrap_err();
    assert!(err.to_lowercase().contains("unique"), "{err}");
}

/// Six instances are asked for the same recovery at once, by a caller's key and by the
/// request's own key: each key makes one job, created once, and every caller gets it.
pub async fn many_instances_asked_at_once_make_one_job_per_key(b: &Backend) {
    let mut others = Vec::new();
    for i in 0..5 {
        others.push(b.instance(&format!("i{i}"), Duration::from_secs(60)).await);
    }
    let ledgers: Vec<&Ledger> = std::iter::once(&b.ledger).chain(&others).collect();
    let (request, planned) = (json!({}), actions());
    for key in [JobKey::Given("mine"), content("content-9")] {
        let asks = ledgers
            .iter()
            .map(|l| l.create_job(key, &request, &planned, at(9, 0)));
        let answers: Vec<_> = futures_util::future::join_all(asks)
            .await
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{key:?}: {e}")))
            .collect();
        let created = answers.iter().filter(|(_, created)| *created).count();
        assert_eq!(created, 1, "{key:?}: created once");
        assert!(
            answers.iter().all(|(j, _)| j.id == answers[0].0.id),
            "{key:?}: one job"
        );
    }
    assert_eq!(b.raw_count("jobs").await, 2);
    assert_eq!(b.raw_count("job_actions").await, 4);
}
