//! Many instances, one truth: work is never taken from a live owner, and work whose owner
//! stopped heartbeating is taken over exactly once. Times are given, not waited for.

use std::time::Duration;

use chrono::Duration as Span;
use serde_json::json;

use backstop::fetch::PaceStore;
use backstop::ledger::{ActionKind, ActionState, JobKey, JobState, NewAction};
use backstop::market::MarketType;
use backstop::run::RunStatus;

use super::runs::{new_run, outcome};
use super::{at, date, Backend};

const MINUTE: Duration = Duration::from_secs(60);

pub async fn a_live_instances_run_is_never_abandoned(b: &Backend) {
    // Instance A is mid-run; instance B starts (a deploy) and takes over what is stopped.
    let a = &b.ledger;
    a.start_run(&new_run(
        "live",
        "2026-01-14",
        Some(MarketType::Points),
        at(10, 0),
    ))
    .await
    .unwrap();
    let other = b.instance("b", MINUTE).await;
    assert_eq!(
        other
            .abandon_running(at(10, 0) + Span::seconds(30))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        a.run("live").await.unwrap().unwrap().status,
        RunStatus::Running
    );
    a.finish_run("live", &outcome(RunStatus::Success, at(10, 1), 5))
        .await
        .unwrap();
    assert_eq!(
        other.run("live").await.unwrap().unwrap().status,
        RunStatus::Success
    );
}

pub async fn an_expired_run_is_abandoned_exactly_once(b: &Backend) {
    let gone = b.instance("gone", MINUTE).await;
    gone.start_run(&new_run(
        "gone",
        "2026-01-13",
        Some(MarketType::Points),
        at(9, 0),
    ))
    .await
    .unwrap();
    gone.start_run(&new_run("done", "2026-01-13", None, at(9, 5)))
        .await
        .unwrap();
    gone.finish_run("done", &outcome(RunStatus::Success, at(9, 6), 5))
        .await
        .unwrap();
    drop(gone); // SIGKILL: no heartbeat from now on.
    let (x, y) = (b.instance("x", MINUTE).await, b.instance("y", MINUTE).await);
    let (nx, ny) = tokio::join!(x.abandon_running(at(12, 0)), y.abandon_running(at(12, 0)));
    assert_eq!(
        nx.unwrap() + ny.unwrap(),
        1,
        "two instances at once abandon it once"
    );
    assert_eq!(x.abandon_running(at(12, 1)).await.unwrap(), 0, "only once");

    let run = x.run("gone").await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Abandoned);
    assert_eq!(
        run.game_date,
        date("2026-01-13"),
        "the requested date, not today's"
    );
    assert_eq!(run.finished_at, Some(at(12, 0)));
    assert_eq!(run.error_kind.as_deref(), Some("abandoned"));
    let message = run.error_message.unwrap();
    assert!(
        message.contains("gone-") && message.contains("stopped heartbeating"),
        "names the instance that stopped: {message}"
    );
    assert_eq!(run.props_written, None, "unknown, not 0");
    assert_eq!(run.attempts, None);
    assert_eq!(
        x.run("done").await.unwrap().unwrap().status,
        RunStatus::Success
    );
}

pub async fn a_heartbeat_keeps_long_work_alive(b: &Backend) {
    let a = b.instance("a", MINUTE).await;
    let t0 = at(10, 0);
    a.start_run(&new_run("long", "2026-01-14", None, t0))
        .await
        .unwrap();
    let (job, _) = a
        .create_job(JobKey::Given("k"), &json!({}), &[scrape()], t0)
        .await
        .unwrap();
    let (idle, _) = a
        .create_job(JobKey::Given("idle"), &json!({}), &[scrape()], t0)
        .await
        .unwrap();
    let in_progress = [job.id.clone()];
    let renewed = a
        .heartbeat(t0 + Span::seconds(50), &in_progress)
        .await
        .unwrap();
    assert_eq!(
        (renewed.runs, renewed.jobs),
        (1, 1),
        "only the job being executed"
    );
    let other = b.instance("b", MINUTE).await;
    let late = t0 + Span::seconds(100);
    assert_eq!(
        other.abandon_running(late).await.unwrap(),
        0,
        "renewed until 10:01:50"
    );
    assert_eq!(
        other.orphaned_jobs(late).await.unwrap(),
        vec![idle.id.clone()],
        "a job nobody executes is not kept alive"
    );
    assert!(!other.adopt_job(&job.id, late).await.unwrap());
    let later = t0 + Span::seconds(111);
    assert_eq!(other.abandon_running(later).await.unwrap(), 1);
    assert_eq!(
        other.orphaned_jobs(later).await.unwrap(),
        vec![job.id, idle.id]
    );
}

pub async fn a_late_owner_still_records_the_real_outcome(b: &Backend) {
    // A's heartbeat starved (no CPU): B marked its run abandoned; then A finishes after all.
    let a = &b.ledger;
    a.start_run(&new_run("slow", "2026-01-14", None, at(10, 0)))
        .await
        .unwrap();
    let other = b.instance("b", MINUTE).await;
    assert_eq!(other.abandon_running(at(10, 5)).await.unwrap(), 1);
    a.finish_run("slow", &outcome(RunStatus::Success, at(10, 6), 7))
        .await
        .unwrap();
    let run = other.run("slow").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.props_written),
        (RunStatus::Success, Some(7))
    );
    let err = other
        .finish_run("slow", &outcome(RunStatus::Failed, at(10, 7), 0))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("already finished as success"),
        "{err}"
    );
}

pub async fn a_job_is_adopted_by_one_instance_once_its_owner_stops(b: &Backend) {
    let first = b.instance("first", MINUTE).await;
    let (job, _) = first
        .create_job(JobKey::Given("k"), &json!({}), &[scrape()], at(9, 0))
        .await
        .unwrap();
    let (x, y) = (b.instance("x", MINUTE).await, b.instance("y", MINUTE).await);
    assert!(
        !x.adopt_job(&job.id, at(9, 0) + Span::seconds(59))
            .await
            .unwrap(),
        "still held"
    );
    let now = at(9, 2);
    let (ax, ay) = tokio::join!(x.adopt_job(&job.id, now), y.adopt_job(&job.id, now));
    let (ax, ay) = (ax.unwrap(), ay.unwrap());
    assert!(ax ^ ay, "exactly one adopts it: {ax} {ay}");
    let (owner, loser) = if ax { (&x, &y) } else { (&y, &x) };
    for stale in [&first, loser] {
        let err = stale
            .set_action_state(&job.id, 1, ActionState::Running, None, None, now)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("owned by instance"), "{err}");
        assert!(stale
            .finish_job(&job.id, JobState::Failed, now, now)
            .await
            .is_err());
        assert!(stale.claim_file_send("f.json", &job.id, now).await.is_err());
    }
    owner
        .set_action_state(&job.id, 1, ActionState::Done, Some("ok"), None, now)
        .await
        .unwrap();
    owner
        .finish_job(&job.id, JobState::Done, now, now)
        .await
        .unwrap();
    assert!(owner.orphaned_jobs(at(12, 0)).await.unwrap().is_empty());
}

pub async fn a_released_job_is_adopted_at_once(b: &Backend) {
    let first = b.instance("first", MINUTE).await;
    let (job, _) = first
        .create_job(JobKey::Given("k"), &json!({}), &[scrape()], at(9, 0))
        .await
        .unwrap();
    let other = b.instance("other", MINUTE).await;
    assert!(!other
        .adopt_job(&job.id, at(9, 0) + Span::seconds(1))
        .await
        .unwrap());
    assert_eq!(
        first
            .release_own_jobs(at(9, 0) + Span::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert!(other
        .adopt_job(&job.id, at(9, 0) + Span::seconds(2))
        .await
        .unwrap());
    other
        .release_job(&job.id, at(9, 0) + Span::seconds(3))
        .await
        .unwrap();
    assert!(first
        .adopt_job(&job.id, at(9, 0) + Span::seconds(4))
        .await
        .unwrap());
}

pub async fn a_finished_jobs_check_waits_for_its_time_and_is_taken_by_one_instance(b: &Backend) {
    let first = b.instance("first", MINUTE).await;
    let (job, _) = first
        .create_job(JobKey::Given("k"), &json!({}), &[scrape()], at(9, 0))
        .await
        .unwrap();
    let (x, y) = (b.instance("x", MINUTE).await, b.instance("y", MINUTE).await);
    assert!(
        x.jobs_to_advance(at(9, 0)).await.unwrap().is_empty(),
        "held"
    );
    first.release_job(&job.id, at(9, 1)).await.unwrap();
    assert_eq!(
        x.jobs_to_advance(at(9, 2)).await.unwrap(),
        vec![job.id.clone()]
    );
    assert!(x.adopt_job(&job.id, at(9, 2)).await.unwrap());
    x.set_action_state(&job.id, 1, ActionState::Done, Some("ok"), None, at(9, 2))
        .await
        .unwrap();
    let err = x.set_job_result(&job.id, &json!({})).await.unwrap_err();
    assert!(err.to_string().contains("has not finished"), "{err}");
    // Phase 2 is given until 9:05 to load what the job re-scraped.
    x.finish_job(&job.id, JobState::Done, at(9, 5), at(9, 2))
        .await
        .unwrap();
    let stored = x.job(&job.id).await.unwrap().unwrap();
    assert_eq!(stored.recheck_after, Some(at(9, 5)));
    assert!(y.jobs_to_advance(at(9, 4)).await.unwrap().is_empty());
    assert!(!y.adopt_check(&job.id, at(9, 4)).await.unwrap(), "not yet");
    assert_eq!(
        y.jobs_to_advance(at(9, 5)).await.unwrap(),
        vec![job.id.clone()]
    );
    let (cx, cy) = tokio::join!(
        x.adopt_check(&job.id, at(9, 5)),
        y.adopt_check(&job.id, at(9, 5))
    );
    let (cx, cy) = (cx.unwrap(), cy.unwrap());
    assert!(cx ^ cy, "exactly one takes the check: {cx} {cy}");
    let (checker, other) = if cx { (&x, &y) } else { (&y, &x) };
    assert!(
        other.jobs_to_advance(at(9, 6)).await.unwrap().is_empty(),
        "held"
    );
    let err = other.set_job_result(&job.id, &json!({})).await.unwrap_err();
    assert!(err.to_string().contains("took the job's check"), "{err}");
    checker
        .set_job_result(&job.id, &json!({"still_lost": 0}))
        .await
        .unwrap();
    assert!(
        other.jobs_to_advance(at(10, 0)).await.unwrap().is_empty(),
        "ended"
    );
    assert!(!other.adopt_check(&job.id, at(10, 0)).await.unwrap());
}

pub async fn rate_slots_are_one_schedule_for_every_instance(b: &Backend) {
    let (x, y) = (b.instance("x", MINUTE).await, b.instance("y", MINUTE).await);
    let now = 1_800_000_000_000_000;
    let s1 = x.advance("api.example", now, 100).await.unwrap();
    let s2 = y.advance("api.example", now, 100).await.unwrap();
    let s3 = x.advance("api.example", now + 10, 100).await.unwrap();
    assert_eq!(
        (s1.next_us, s2.next_us, s3.next_us),
        (now + 100, now + 200, now + 300)
    );
    assert_eq!(
        x.advance("other.example", now, 100).await.unwrap().next_us,
        now + 100
    );
    y.pause("api.example", now + 5_000).await.unwrap();
    x.pause("api.example", now + 1_000).await.unwrap();
    assert_eq!(
        x.paused_until("api.example").await.unwrap(),
        now + 5_000,
        "never shortened"
    );
    let s4 = x.advance("api.example", now + 20, 100).await.unwrap();
    assert_eq!((s4.next_us, s4.paused_until_us), (now + 5_100, now + 5_000));
    assert_eq!(y.paused_until("nobody.example").await.unwrap(), 0);
    let reservations = (0..20).map(|i| {
        let l = if i % 2 == 0 { &x } else { &y };
        async move { l.advance("race.example", now, 100).await.unwrap().next_us }
    });
    let mut slots = futures_util::future::join_all(reservations).await;
    slots.sort();
    let want: Vec<i64> = (1..=20).map(|i| now + 100 * i).collect();
    assert_eq!(
        slots, want,
        "twenty racing reservations, twenty distinct slots"
    );
}

fn scrape() -> NewAction {
    NewAction {
        kind: ActionKind::Scrape,
        game_date: date("2026-01-11"),
        market: MarketType::Points,
        object_name: None,
        reason: "no raw file".into(),
    }
}
