//! Issue 11's "done when": two `backstop serve` processes on one PostgreSQL; the first is
//! SIGKILLed while a file is with Phase 2 (a stand-in slow to answer, which goes on loading
//! it); the second finishes the job through the sweep and the status polls once the first's
//! lease has run out; every file is loaded exactly once — the send whose outcome the kill left
//! unknown is settled from BigQuery's rows, never sent again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backstop::ledger::{FileSendState, JobState};
use backstop::market::MarketType;
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::SimConfig;
use serde_json::json;

use super::{d, env, start};
use crate::support::api::JobDriver;
use crate::support::app::{spawn_app_with, KEY};
use crate::support::bq::BqEmulator;
use crate::support::emulators::PROJECT;
use crate::support::loader::{scraped_history, Loader, Route};
use crate::support::postgres::Postgres;

const DAYS: u32 = 6;
const NEVER_SCRAPED: u32 = 3;
/// Sent in date order: 2 by the first instance, 4 when it is killed, 6 by the second.
const NEVER_LOADED: [u32; 3] = [2, 4, 6];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_instance_is_killed_mid_send_is_finished_by_another_loading_each_file_once() {
    let calendar: Vec<_> = (1..=DAYS).map(|day| (d(day), 3)).collect();
    let bq = Arc::new(BqEmulator::start(PROJECT).await);
    let loader = Loader::start(bq.clone()).await;
    let pg = Postgres::shared().await;
    let url = pg.database().await;
    let bq_url = bq.url().to_string();
    let extra = [
        ("BACKSTOP_LEDGER", url.as_str()),
        ("BIGQUERY_EMULATOR_HOST", bq_url.as_str()),
        ("PHASE2_URL", loader.url.as_str()),
        ("BACKSTOP_PHASE2_AUTH", "off"),
        ("BACKSTOP_PHASE2_TIMEOUT_SECS", "10"),
        ("BACKSTOP_RECOVERY_SETTLE_SECS", "1"),
        ("BACKSTOP_LEASE_SECS", "2"),
        ("BACKSTOP_SLICE_SECS", "1"),
    ];
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::new(Catalogue::synthetic(&calendar, 9))
    };
    let t = spawn_app_with(sim, &extra).await;
    loader.attach(t.app.store.clone());
    let dates = (1..=DAYS).filter(|d| *d != NEVER_SCRAPED).map(d);
    let unloaded =
        scraped_history(&t, &loader, MarketType::Blocks, dates, &NEVER_LOADED.map(d)).await;
    t.push_to(&format!("{}/process", loader.url)).await;
    // Phase 2 takes 4 s over each load, and loads a file even when its caller is gone.
    loader.set_delay(Duration::from_secs(4));
    let env = env(&t, &extra);
    let (a, b) = (start(&env, &t, "a").await, start(&env, &t, "b").await);

    let body = json!({"from": d(1).to_string(), "to": d(DAYS).to_string(), "market": "blocks"});
    let id = a.api.reprocess(&body, "killed-mid-send").await;
    let driver = JobDriver::start(&a.api.url, &id);
    let interrupted = unloaded[&d(4)].clone();
    let began = Instant::now();
    while !loader
        .requests()
        .iter()
        .any(|r| r.name == interrupted && r.route == Route::Send)
    {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "the send of {interrupted} never began:\n{}",
            a.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
