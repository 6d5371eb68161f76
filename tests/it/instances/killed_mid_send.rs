//! Issue 11's "done when": two `backstop serve` processes on one PostgreSQL; the first is
//! SIGKILLed while a file is with Phase 2 (a stand-in slow to answer, which goes on loading
//! it); the second finishes the job through the sweep and the status polls once the first's
//! lease has run out; every file is loaded exactly once — the send whose outcome the kill left
//! unknown is settled from BigQuery's rows, never sent again.

use std::time::{Duration, Instant};

use backstop::ledger::{FileSendState, JobState};
use serde_json::json;

use super::{d, two_instances_over_a_lossy_week, TwoInstances, DAYS};
use crate::support::api::JobDriver;
use crate::support::loader::Route;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_instance_is_killed_mid_send_is_finished_by_another_loading_each_file_once() {
    // Phase 2 takes 4 s over each load, and loads a file even when its caller is gone.
    let TwoInstances {
        t,
        loader,
        unloaded,
        a,
        b,
        _bq,
        _pg,
    } = two_instances_over_a_lossy_week(
        &[
            ("BACKSTOP_PHASE2_TIMEOUT_SECS", "10"),
            ("BACKSTOP_LEASE_SECS", "2"),
            ("BACKSTOP_SLICE_SECS", "1"),
        ],
        Duration::from_secs(4),
    )
    .await;

    let body = json!({"from": d(1).to_string(), "to": d(DAYS).to_string(), "market": "blocks"});
    let id = a.api.reprocess(&body, "killed-mid-send").await;
    let driver = JobDriver::start(&a.api.url, &id);
    let interrupted = unloaded[&d(4)].clone();
    loader.wait_for_send(&interrupted, || a.log_tail()).await;
    a.kill();
    driver.point_at(&b.api.url);

    // Cloud Scheduler sweeps; an operator's page polls. B carries the job on once A's lease
    // has run out.
    let began = Instant::now();
    let job = loop {
        let job = t.app.ledger.job(&id).await.unwrap().expect("the job");
        if job.state.is_final() && job.result.is_some() {
            break job;
        }
        assert!(
            began.elapsed() < Duration::from_secs(90),
            "B never finished the job: {job:#?}\n{}",
            b.log_tail()
        );
        let (status, swept) = b.api.sweep().await;
        assert_eq!(status, 200, "{swept}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    drop(driver);
    let sends: Vec<_> = job
        .actions
        .iter()
        .filter(|a| a.object_name.as_deref() == Some(interrupted.as_str()))
        .collect();
    assert_eq!(sends.len(), 1);
    let send = sends[0];
    assert_eq!(send.attempts, 1, "never sent again: {send:#?}");
    let confirmed_at_adoption = send.state == backstop::ledger::ActionState::Done;
    let want = if confirmed_at_adoption {
        JobState::Done
    } else {
        JobState::Failed
    };
    assert_eq!(job.state, want, "{job:#?}");
    // Loads pushed by the re-scrape's completion message arrive on their own time.
    let began = Instant::now();
    while loader.requests().iter().any(|r| r.status == 0) {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "{:#?}",
            loader.requests()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    loader.assert_sent_once_and_none_loaded_twice(unloaded.values());
    let sent_to_phase2 = |name: &str| {
        let requests = loader.requests();
        requests
            .iter()
            .filter(|r| r.name == name && r.route == Route::Send)
            .count()
    };
    for name in unloaded.values() {
        assert_eq!(sent_to_phase2(name), 1, "{name}");
    }
    // The kill left the send's outcome unknown: the table's rows settled it.
    let began = Instant::now();
    loop {
        let claim = t
            .app
            .ledger
            .file_send(&interrupted)
            .await
            .unwrap()
            .expect("a claim");
        if claim.state == FileSendState::Sent {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(30), "{claim:#?}");
        b.api.sweep().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let evidence = t
        .app
        .ledger
        .claim_evidence(&interrupted, &id)
        .await
        .unwrap();
    let settled = evidence.last().expect("evidence");
    assert!(settled.rows_found.unwrap_or(0) > 0, "{evidence:#?}");
    let ran_here = |log: String| log.lines().any(|l| l.contains(&id) && l.contains(" seq="));
    assert!(ran_here(b.log_text()), "B ran the rest of the job");
    eprintln!(
        "killed mid-send: the interrupted send ended {} ({}); {} evidence record(s)",
        send.state,
        send.detail.as_deref().unwrap_or(""),
        evidence.len()
    );
}
