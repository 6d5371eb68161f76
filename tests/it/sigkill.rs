//! SIGKILL in the middle of a recovery: the real `backstop serve` binary, configured by its
//! environment against the same emulators, ledger and Phase 2 as the in-process harness, is
//! killed twice while a recovery job runs — once while a re-scrape is under way, once while a
//! file is with Phase 2 — and restarted on the same ledger each time. The job advances only in
//! requests (one-second slices here): a caller polls its status, as the status page does, and
//! the scheduler's sweep records the killed run. The restarted service finishes the job
//! without repeating anything that finished and without sending any file twice; the file
//! whose hand-over the kill interrupted is never re-sent: its claim is settled from the rows
//! Phase 2 wrote for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backstop::calendar::GameDate;
use backstop::ledger::{FileSendState, RunFilter};
use backstop::market::MarketType;
use backstop::run::{RunStatus, Scraper};
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::SimConfig;
use serde_json::{json, Value};

use crate::support::api::{action_kinds, Api, JobDriver};
use crate::support::app::{spawn_app_with, var_pairs, TestApp, KEY};
use crate::support::bq::BqEmulator;
use crate::support::emulators::PROJECT;
use crate::support::loader::{scraped_history, Loader, Route};
use crate::support::process::Backstop;

fn d(day: u32) -> GameDate {
    format!("2026-02-{day:02}").parse().unwrap()
}

const DAYS: u32 = 10;
const OFF_DAY: u32 = 7;
/// The job's actions in order: re-scrape, send, re-scrape (first kill), send (second kill),
/// re-scrape, send.
const NEVER_SCRAPED: [u32; 3] = [2, 4, 8];
const NEVER_LOADED: [u32; 3] = [3, 5, 9];

/// Scrapes and loads February 1–10 in-process, leaving three dates never scraped and three
/// never loaded; returns the files left unloaded, by date.
async fn history(t: &TestApp, loader: &Loader) -> HashMap<GameDate, String> {
    let dates = (1..=DAYS).filter(|d| *d != OFF_DAY && !NEVER_SCRAPED.contains(d));
    let unloaded = NEVER_LOADED.map(d);
    scraped_history(t, loader, MarketType::Steals, dates.map(d), &unloaded).await
}

/// Reads the job from the ledger (without advancing it) until `ready` says so.
async fn job_when(t: &TestApp, id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let job = t.app.ledger.job(id).await.unwrap().expect("the job");
        let job = serde_json::to_value(job).unwrap();
        if ready(&job) {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waiting for {what}: {job:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The props run of `date` under way (waits for it to be recorded).
async fn running_props_run(t: &TestApp, date: GameDate) -> String {
    let filter = RunFilter {
        scraper: Some(Scraper::PlayerProps),
        game_date: Some(date),
        status: Some(RunStatus::Running),
        ..RunFilter::default()
    };
    let start = Instant::now();
    loop {
        if let Some(run) = t.app.ledger.runs(&filter).await.unwrap().first() {
            return run.run_id.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no run for {date}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn state(job: &Value, seq: usize) -> &str {
    job["actions"][seq - 1]["state"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_killed_twice_with_sigkill_finishes_after_restarts_without_repeating_work() {
    let calendar: Vec<(GameDate, usize)> = (1..=DAYS)
        .map(|day| (d(day), if day == OFF_DAY { 0 } else { 4 }))
        .collect();
    let bq = Arc::new(BqEmulator::start(PROJECT).await);
    let loader = Loader::start(bq.clone()).await;
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::new(Catalogue::synthetic(&calendar, 9))
    };
    let bq_url = bq.url().to_string();
    let extra = [
        ("BIGQUERY_EMULATOR_HOST", bq_url.as_str()),
        ("PHASE2_URL", loader.url.as_str()),
        ("BACKSTOP_PHASE2_AUTH", "off"),
        ("BACKSTOP_PHASE2_TIMEOUT_SECS", "10"),
        ("BACKSTOP_RECOVERY_SETTLE_SECS", "1"),
        // A killed instance's job is adopted once its lease runs out.
        ("BACKSTOP_LEASE_SECS", "2"),
        // Each request carries the job on by about one action.
        ("BACKSTOP_SLICE_SECS", "1"),
    ];
    let t = spawn_app_with(sim, &extra).await;
    loader.attach(t.app.store.clone());
    let unloaded = history(&t, &loader).await;
    // Phase 2 hears of re-scraped files by push, and takes 4 s over each load (long enough to
    // kill the sender while a file is with it, even on a loaded machine).
    t.push_to(&format!("{}/process", loader.url)).await;
    loader.set_delay(Duration::from_secs(4));

    // The binary: the same settings, but scrapes paced at 4 requests a second.
    let topic = t.app.config.pubsub.topic.clone();
    let slow = [extra.as_slice(), &[("BACKSTOP_RATE_PER_SEC", "4")]].concat();
    let env = var_pairs(&t.sim, &t.gcs, &t.pubsub, &topic, t.dir.path(), &slow);
    let log = t.dir.path().join("backstop.log");
    let first = Backstop::start(&env, log.clone()).await;
    let body = json!({"from": d(1).to_string(), "to": d(DAYS).to_string(), "market": "steals"});
    let id = first.api.reprocess(&body, "sigkill-1").await;
    let job = job_when(&t, &id, "the job", |_| true).await;
    let kinds = action_kinds(&job);
    assert_eq!(
        kinds,
        [
            "scrape",
            "send_file",
            "scrape",
            "send_file",
            "scrape",
            "send_file"
        ]
    );

    // Kill 1: actions 1-2 done, the re-scrape of action 3 under way.
    let driver = JobDriver::start(&first.api.url, &id);
    job_when(&t, &id, "action 3 to start", |j| state(j, 3) == "running").await;
    let killed_run = running_props_run(&t, d(4)).await;
    first.kill();
    let second = Backstop::start(&env, log.clone()).await;
    driver.point_at(&second.api.url);
    // Cloud Scheduler sweeps the second instance, which records the killed run once its lease
    // has run out (a sweep may also give the job a slice, so it is not waited for here).
    let sweeper = Api::new(second.api.url.clone());
    let sweeping = tokio::spawn(async move {
        loop {
            sweeper.sweep().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // Kill 2: the file of action 4 is with Phase 2, its answer not back yet.
    let sixth = unloaded[&d(5)].clone();
    loader.wait_for_send(&sixth, || second.log_tail()).await;
    let job = job_when(&t, &id, "", |_| true).await;
    assert_eq!(state(&job, 4), "running", "{job:#}");
    sweeping.abort();
    second.kill();
    let third = Backstop::start(&env, log.clone()).await;
    driver.point_at(&third.api.url);
    let job = third.api.finished_job(&id, Duration::from_secs(60)).await;
    drop(driver);
    // The run the first kill cut short is recorded as such (by a sweep, once).
    let start = Instant::now();
    loop {
        let run = t
            .app
            .ledger
            .run(&killed_run)
            .await
            .unwrap()
            .expect("the run");
        if run.status.as_str() == "abandoned" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the killed run is recorded as such: {run:#?}"
        );
        third.api.sweep().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check_job(&job, &sixth);
    check_work(&third.api, &loader, &unloaded).await;
    // Phase 2 loaded the interrupted hand-over: the table's rows confirm the claim.
    t.app.recovery.settle_claims().await;
    let claim = t
        .app
        .ledger
        .file_send(&sixth)
        .await
        .unwrap()
        .expect("a claim");
    assert_eq!(claim.state, FileSendState::Sent, "confirmed from evidence");
    let evidence = t.app.ledger.claim_evidence(&sixth, &id).await.unwrap();
    let confirmed = evidence.last().expect("evidence");
    assert!(confirmed.rows_found.unwrap_or(0) > 0, "{evidence:#?}");
    assert_eq!(third.api.health().await, 200);
    let actions: Vec<String> = job["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            let (date, kind, state) = (text("game_date"), text("kind"), text("state"));
            format!("{date} {kind} {state} ×{}", a["attempts"])
        })
        .collect();
    let killed_scrape_files = t
        .objects(&format!("bettingpros/player-props/steals/{}/", d(4)))
        .await
        .len();
    eprintln!(
        "sigkill: 2 kills, 3 starts; actions {actions:?}; files for the date whose scrape was \
         killed: {killed_scrape_files} (2 = the killed run had written one)"
    );
}

/// Every action ran once, except the re-scrape the first kill interrupted (ran again) and the
/// send the second kill interrupted, which is not sent again: `unconfirmed` (the job ends
/// `failed`) when its rows were not in the table yet as the restarted job began, `done` when
/// they were.
fn check_job(job: &Value, interrupted_send: &str) {
    let actions = job["actions"].as_array().unwrap();
    let confirmed_at_restart = actions[3]["state"] == "done";
    let want_job = if confirmed_at_restart {
        "done"
    } else {
        "failed"
    };
    assert_eq!(job["state"], want_job, "{job:#}");
    for (i, a) in actions.iter().enumerate() {
        let seq = i + 1;
        let (want_state, want_attempts) = match seq {
            3 => ("done", 2),
            4 if !confirmed_at_restart => ("failed", 1),
            _ => ("done", 1),
        };
        assert_eq!(
            (a["state"].as_str(), a["attempts"].as_u64()),
            (Some(want_state), Some(want_attempts)),
            "action {seq}: {a:#}"
        );
    }
    let detail = actions[3]["detail"].as_str().unwrap_or_default();
    let said = if confirmed_at_restart {
        "delivered before the restart"
    } else {
        "unconfirmed"
    };
    assert!(
        detail.contains(said) && detail.contains(interrupted_send),
        "{detail}"
    );
}

/// Runs: one per re-scraped date, two for the date whose run was killed (one `abandoned`).
/// Files: each sent once, none loaded twice; the killed hand-over was loaded by Phase 2 anyway
/// (which is why it must not be re-sent). Every date is complete at the end.
async fn check_work(api: &Api, loader: &Loader, unloaded: &HashMap<GameDate, String>) {
    for day in NEVER_SCRAPED {
        let runs = api
            .runs(&format!("date={}&scraper=bp_player_props", d(day)))
            .await;
        let mut statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap()).collect();
        statuses.sort();
        let want: &[&str] = if day == 4 {
            &["abandoned", "success"]
        } else {
            &["success"]
        };
        assert_eq!(statuses, want, "{}: {runs:#?}", d(day));
    }
    let start = Instant::now();
    loop {
        let requests = loader.requests();
        if requests.iter().all(|r| r.status == 200)
            && requests.iter().filter(|r| r.route == Route::Push).count() >= 3
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "loads still under way: {requests:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    loader.assert_sent_once_and_none_loaded_twice(unloaded.values());
    let rows = api
        .gaps(&d(1).to_string(), &d(DAYS).to_string(), "steals")
        .await;
    for row in rows {
        let category = row["verdict"]["category"].as_str().unwrap_or_default();
        assert!(["complete", "off_day"].contains(&category), "{row:#}");
    }
}
