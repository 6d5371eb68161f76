//! No work depends on CPU outside a request: a recovery job advances only inside requests, in
//! slices bounded by `BACKSTOP_SLICE_SECS`; its settle time is a state a later request
//! honours, never a sleep; the scheduler's sweep carries on what nobody polls, and once a
//! night checks the last days and recovers them, once.

use std::time::{Duration, Instant};

use backstop::ledger::{JobState, NewRun};
use backstop::reprocess::{ReprocessRequest, STILL_LOST_MESSAGE};
use backstop::run::{Scraper, Trigger};
use backstop::sim::faults::Fault;
use backstop::sweep::{Sweeper, LOST_MESSAGE};
use serde_json::{json, Value};

use crate::support::api::Api;
use crate::support::logs::Captured;
use crate::support::world::{d, history, world, NEVER_LOADED, NEVER_SCRAPED};

/// The progress counts of a job as the ledger has it (read without advancing it).
async fn progress(w: &crate::support::world::World, id: &str) -> Value {
    let job = w.job(id).await;
    backstop::reprocess::execute::progress(&job)
}

#[tokio::test]
async fn a_job_advances_only_inside_requests_a_slice_at_a_time_and_its_settle_time_is_a_state() {
    let mut w = world(16, None, &[("BACKSTOP_SLICE_SECS", "1")]).await;
    history(&w, 16).await;
    w.t.push_to(&format!("{}/process", w.loader.url)).await;
    // Each hand-over takes longer than a slice's budget.
    w.loader.set_delay(Duration::from_millis(1500));
    let api = Api::new(w.t.serve().await);

    let body = json!({"from": d(1).to_string(), "to": d(16).to_string(), "market": "steals"});
    let (status, answer) = api.reprocess_answer(&body, None).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["job_id"].as_str().unwrap().to_string();
    assert_eq!(answer["progress"], progress(&w, &id).await, "{answer}");
    let done = answer["progress"]["done"].as_u64().unwrap_or(0);
    let pending = answer["progress"]["pending"].as_u64().unwrap_or(0);
    assert!(
        done >= 1 && pending >= 1,
        "the first slice ran in the request and stopped at its budget: {answer}"
    );

    // Nobody asks: nothing moves.
    let before = w.job(&id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(w.job(&id).await, before, "no work outside a request");

    // Polls carry it on, a slice each, to the end of its actions.
    let mut polls = 0;
    let job = loop {
        let job = api.job(&id).await;
        polls += 1;
        if job["state"] != "running" {
            break job;
        }
        assert!(polls < 20, "{job:#}");
    };
    assert_eq!(job["state"], "done", "{job:#}");
    assert!(
        job["result"].is_null(),
        "checked only after the settle time"
    );
    let recheck: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(job["recheck_after"].clone()).unwrap();
    assert!(recheck > chrono::Utc::now(), "{job:#}");
    // Waiting for it is not a request sleeping: a poll now answers at once, unchanged.
    let asked = Instant::now();
    let waiting = api.job(&id).await;
    assert!(
        asked.elapsed() < Duration::from_millis(900),
        "{:?}",
        asked.elapsed()
    );
    assert!(waiting["result"].is_null(), "{waiting:#}");

    let left = (recheck - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(100)).await;
    let checked = api.job(&id).await;
    assert_eq!(
        (
            &checked["result"]["now_complete"],
            &checked["result"]["still_lost"]
        ),
        (&json!(3), &json!(0)),
        "{checked:#}"
    );
    for file in w.loader.deliveries().values() {
        assert_eq!(
            *file,
            1,
            "every file loaded once: {:?}",
            w.loader.deliveries()
        );
    }
}

#[tokio::test]
async fn a_sweep_abandons_stopped_runs_and_carries_on_a_job_its_owner_left_once() {
    let mut w = world(8, None, &[]).await;
    history(&w, 8).await;
    // A run whose process died ten minutes ago, with no lease left.
    let ledger = &w.t.app.ledger;
    let started_at = chrono::Utc::now() - chrono::Duration::minutes(10);
    ledger
        .start_run(&NewRun {
            run_id: "killed-run".into(),
            scraper: Scraper::Events,
            game_date: d(2),
            market: None,
            trigger: Trigger::Scheduler,
            started_at,
            opts: json!({}),
        })
        .await
        .unwrap();
    // A job its instance submitted and then stopped without running (a deploy).
    let req = ReprocessRequest {
        dates: Some(vec![d(3).to_string(), d(NEVER_LOADED).to_string()]),
        market: Some("steals".into()),
        ..Default::default()
    };
    let submitted =
        w.t.app
            .recovery
            .submit(&req, None, Duration::ZERO)
            .await
            .unwrap();
    w.t.app.stand_down().await;
    let restarted = backstop::app::App::build((*w.t.app.config).clone())
        .await
        .unwrap();
    w.t.app = restarted;
    let api = Api::new(w.t.serve().await);

    let (a, b) = tokio::join!(api.sweep(), api.sweep());
    let (first, second) = match (
        a.1["abandoned_runs"].as_u64(),
        b.1["abandoned_runs"].as_u64(),
    ) {
        (Some(1), Some(0)) => (a, b),
        (Some(0), Some(1)) => (b, a),
        other => panic!("the run is abandoned once by two sweeps at once: {other:?}"),
    };
    assert_eq!((first.0, second.0), (200, 200), "{} {}", first.1, second.1);
    let run = w.t.app.ledger.run("killed-run").await.unwrap().unwrap();
    assert_eq!(run.status.as_str(), "abandoned");
    let slices: Vec<&Value> = [&first.1, &second.1]
        .iter()
        .flat_map(|s| s["jobs"].as_array().unwrap().iter())
        .filter(|j| j["job_id"] == submitted.job.id.as_str())
        .collect();
    assert!(
        !slices.is_empty(),
        "a sweep gave the job a slice: {} {}",
        first.1,
        second.1
    );

    let began = Instant::now();
    loop {
        let job = w.job(&submitted.job.id).await;
        if job.result.is_some() {
            assert_eq!(job.state, JobState::Done, "{job:#?}");
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(30), "{job:#?}");
        let (status, swept) = api.sweep().await;
        assert_eq!(status, 200, "{swept}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let name = submitted.job.actions[1].object_name.clone().unwrap();
    assert_eq!(w.loader.deliveries()[&name], 1, "sent once");
    let (_, quiet) = api.sweep().await;
    assert_eq!(
        quiet["jobs"],
        json!([]),
        "nothing left to carry on: {quiet}"
    );
}

/// The labelled calendar over 16 days with its history, Phase 2 loading what is announced, and
/// a sweeper whose nightly check covers the two days before the night.
async fn sixteen_days_swept_over_two() -> (crate::support::world::World, Sweeper) {
    let w = world(16, None, &[]).await;
    history(&w, 16).await;
    w.t.push_to(&format!("{}/process", w.loader.url)).await;
    let sweeper = Sweeper {
        recovery: w.t.app.recovery.clone(),
        days: 2,
    };
    (w, sweeper)
}

#[tokio::test]
async fn the_nightly_check_recovers_the_last_days_once_and_logs_each_lost_date() {
    let (logs, _guard) = Captured::start();
    let (w, sweeper) = sixteen_days_swept_over_two().await;
    // 2026-01-16, 05:59 and 07:00 US Eastern: the check is declared from 06:00.
    let early: chrono::DateTime<chrono::Utc> = "2026-01-16T10:59:00Z".parse().unwrap();
    let night = early + chrono::Duration::minutes(61);
    let budget = Duration::from_secs(60);
    assert!(sweeper.sweep_at(budget, early).await.nightly.is_none());

    let (x, y) = tokio::join!(
        sweeper.sweep_at(budget, night),
        sweeper.sweep_at(budget, night)
    );
    let made: Vec<_> = [&x, &y]
        .iter()
        .filter_map(|s| s.nightly.as_ref())
        .filter(|n| n.created)
        .collect();
    assert_eq!(made.len(), 1, "one job for the night: {x:?} {y:?}");
    let job_id = made[0].job_id.clone();
    // 01-14 and 01-15: steals lost on the 15th (never scraped); the other five markets were
    // never scraped at all (history scraped steals only).
    assert_eq!(made[0].lost, 11, "{x:?}");
    let lost_lines: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| l.contains(LOST_MESSAGE))
        .map(str::to_string)
        .collect();
    assert_eq!(lost_lines.len(), 11, "{lost_lines:#?}");
    let steals = lost_lines
        .iter()
        .find(|l| {
            l.contains(&format!("date={}", d(NEVER_SCRAPED[1]))) && l.contains("market=steals")
        })
        .unwrap_or_else(|| panic!("{lost_lines:#?}"));
    for field in [
        "ERROR",
        "category=scraper_failed",
        "reason=",
        "recovery=re-scrape",
        &job_id,
    ] {
        assert!(steals.contains(field), "{field:?} not in {steals}");
    }

    let began = Instant::now();
    loop {
        let job = w.job(&job_id).await;
        if let Some(result) = &job.result {
            assert_eq!(job.state, JobState::Done, "{job:#?}");
            assert_eq!(result["still_lost"], 0, "{result:#}");
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(60), "{job:#?}");
        sweeper.sweep_at(budget, night).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = sweeper.sweep_at(budget, night).await;
    let nightly = again.nightly.expect("the night's job");
    assert_eq!((nightly.created, nightly.job_id), (false, job_id));
    let lines = logs
        .text()
        .lines()
        .filter(|l| l.contains(LOST_MESSAGE))
        .count();
    assert_eq!(lines, 11, "logged once a night");
    assert_eq!(w.t.app.ledger.recent_jobs(10).await.unwrap().len(), 1);
}

/// What the night's job could not recover is said once more, after its final check, under its
/// own message: the line to page a person on.
#[tokio::test]
async fn what_the_nightly_recovery_could_not_recover_is_logged_once_after_its_check() {
    let (logs, _guard) = Captured::start();
    let (w, sweeper) = sixteen_days_swept_over_two().await;
    let refused = d(NEVER_SCRAPED[1]);
    w.t.sim
        .fail_when(&format!("date={refused}"), Fault::Status(503));
    let night: chrono::DateTime<chrono::Utc> = "2026-01-16T12:00:00Z".parse().unwrap();
    let budget = Duration::from_secs(60);
    let job_id = sweeper
        .sweep_at(budget, night)
        .await
        .nightly
        .expect("due")
        .job_id;
    let still_lost = |logs: &Captured| -> Vec<String> {
        logs.text()
            .lines()
            .filter(|l| l.contains(STILL_LOST_MESSAGE))
            .map(str::to_string)
            .collect()
    };
    let began = Instant::now();
    let result = loop {
        let job = w.job(&job_id).await;
        if let Some(result) = job.result {
            break result;
        }
        assert!(still_lost(&logs).is_empty(), "said only after the check");
        assert!(began.elapsed() < Duration::from_secs(90), "{job:#?}");
        sweeper.sweep_at(budget, night).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The refused date stays lost in every market; the day before was recovered.
    let lost = result["still_lost"].as_u64().unwrap() as usize;
    assert!(lost >= 1, "{result:#}");
    for _ in 0..3 {
        sweeper.sweep_at(budget, night).await;
    }
    let lines = still_lost(&logs);
    assert_eq!(lines.len(), lost, "one line per pair, once: {lines:#?}");
    for line in &lines {
        for field in [
            "ERROR",
            &format!("date={refused}"),
            "category=",
            "reason=",
            &job_id,
        ] {
            assert!(line.contains(field), "{field:?} not in {line}");
        }
    }
}

#[tokio::test]
async fn the_nightly_check_sends_a_file_phase2_never_loaded_once_past_the_pending_load_window() {
    let w = world(8, None, &[]).await;
    let files = history(&w, 8).await;
    let sweeper = Sweeper {
        recovery: w.t.app.recovery.clone(),
        days: 2,
    };
    let budget = Duration::from_secs(60);
    // The night after the never-loaded date, then the next: both check it.
    let night = |day: u32| -> chrono::DateTime<chrono::Utc> {
        format!("2026-01-{:02}T12:00:00Z", day + 1).parse().unwrap()
    };
    for day in [NEVER_LOADED, NEVER_LOADED + 1] {
        let swept = sweeper.sweep_at(budget, night(day)).await;
        let job_id = swept.nightly.expect("due").job_id;
        w.t.app.recovery.execute(&job_id).await;
    }
    let name = &files[&NEVER_LOADED];
    assert_eq!(
        w.loader.deliveries()[name],
        1,
        "{:?}",
        w.loader.deliveries()
    );
    let report = w
        .t
        .app
        .detector
        .detect(
            &backstop::gaps::GapQuery::parse(&d(7).to_string(), &d(7).to_string(), Some("steals"))
                .unwrap(),
        )
        .await;
    assert_eq!(report.problems().count(), 0, "{}", report.table(false));
}

/// Cloud Scheduler calls the declared sweep with its OIDC token (IAM in front), never with the
/// operators' token: the route answers without it, and the operator routes still want it.
#[tokio::test]
async fn the_declared_sweep_is_served_without_the_admin_token() {
    let admin = [("BACKSTOP_ADMIN_TOKEN", crate::auth::TOKEN)];
    let mut t = crate::support::app::spawn_offline(&admin).await;
    let url = t.serve().await;
    let declared = backstop::scrapers::sweep();
    assert_eq!(declared.method, "POST");
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{url}{}", declared.route))
        .json(&declared.body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let swept: Value = answer.json().await.unwrap();
    for field in [
        "abandoned_runs",
        "messages_published",
        "jobs",
        "detections",
        "problems",
    ] {
        assert!(swept.get(field).is_some(), "{field} in {swept}");
    }
    let jobs = http.get(format!("{url}/reprocess")).send().await.unwrap();
    assert_eq!(jobs.status().as_u16(), 401);
}
