//! Lost dates end to end: a 30-day calendar holding every category, detection against
//! fake-gcs-server and the BigQuery emulator, the plan, and recovery through a Phase 2 that
//! really loads — each file exactly once.

use std::time::Duration;

use backstop::gaps::{Category, GapQuery};
use backstop::ledger::{ActionState, FileSendState, JobState};
use backstop::market::{MarketSelection, MarketType};
use backstop::reprocess::{ReprocessRequest, REPEAT_WINDOW};

use crate::support::world::{
    d, history, world, HALF_LOADED, LOADED_AS_UNKNOWN, NEVER_LOADED, OFF_DAYS,
};

fn steals(from: u32, to: u32) -> GapQuery {
    GapQuery::new(d(from), d(to), MarketSelection::One(MarketType::Steals)).unwrap()
}

#[tokio::test]
async fn a_30_day_calendar_is_judged_then_recovered_with_every_file_sent_once() {
    let w = world(30, None, &[]).await;
    let files = history(&w, 30).await;
    w.t.app.ledger.health().await.unwrap();

    let report = w.t.app.detector.detect(&steals(1, 30)).await;
    assert_eq!(
        (report.work.storage_listings, report.work.bigquery_queries),
        (2, 1),
        "one listing for the market, one for the events files of the dates nothing remembers, one query"
    );
    // Dates a finished run saw after they were over need no events request: the 2 off days
    // and the 2 never-scraped dates do.
    assert_eq!(report.work.events_requests, 4, "{:?}", report.work);
    let category = |day: u32| {
        report
            .row(d(day), MarketType::Steals)
            .unwrap()
            .verdict
            .category
    };
    assert_eq!(category(5), Category::OffDay);
    assert_eq!(category(20), Category::LegitimateZero);
    assert_eq!(category(3), Category::ScraperFailed);
    assert_eq!(category(15), Category::ScraperFailed);
    assert_eq!(category(NEVER_LOADED), Category::ProcessorFailed);
    // Any rows under a file's path mean it was loaded: a short load is complete, never re-sent.
    assert_eq!(category(HALF_LOADED), Category::Complete);
    assert_eq!(category(1), Category::Complete);
    let unknown_path = report
        .row(d(LOADED_AS_UNKNOWN), MarketType::Steals)
        .unwrap();
    assert_eq!(unknown_path.verdict.category, Category::Complete);
    assert!(
        unknown_path.verdict.reason.contains("'unknown'"),
        "{}",
        unknown_path.verdict.reason
    );
    let lost = report.problems().count();
    assert_eq!(lost, 3, "{}", report.table(false));
    let row = report.row(d(HALF_LOADED), MarketType::Steals).unwrap();
    let short = row.verdict.short_load.clone().expect("a short load");
    assert_eq!(short.object_name, files[&HALF_LOADED]);
    assert_eq!(short.rows_held, 10);
    assert!(short.rows_expected > 10, "{short:?}");
    assert!(
        row.verdict
            .reason
            .contains(&format!("holds 10 of its {}", short.rows_expected)),
        "{}",
        row.verdict.reason
    );
    assert_eq!(report.short_loads, 1);
    assert!(report.table(false).contains("short load"));
    assert!(
        row.evidence.legacy.is_some(),
        "the old 150-per-game figure is reported alongside"
    );

    let req = ReprocessRequest {
        from: Some("2026-01-01".into()),
        to: Some("2026-01-30".into()),
        market: Some("steals".into()),
        ..Default::default()
    };
    let plan = w.t.app.recovery.plan(&req).await.unwrap();
    let mut kinds: Vec<(String, &str)> = plan
        .actions
        .iter()
        .map(|a| (a.date.to_string(), a.kind))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("2026-01-03".into(), "scrape"),
            ("2026-01-07".into(), "send_file"),
            ("2026-01-15".into(), "scrape")
        ]
    );
    assert!(
        plan.skipped
            .iter()
            .any(|s| s.object_name == files[&HALF_LOADED]
                && s.reason.contains("short load (10 of its")),
        "{:?}",
        plan.skipped
    );
    assert!(plan.upstream_requests >= 4 && plan.eta_seconds > 0.0);
    let send = plan
        .actions
        .iter()
        .find(|a| a.date == d(NEVER_LOADED))
        .unwrap();
    assert_eq!(
        send.object_name.as_deref(),
        Some(files[&NEVER_LOADED].as_str())
    );

    // Phase 2 gets completion messages by push, as in production.
    w.t.push_to(&format!("{}/process", w.loader.url)).await;
    let submitted =
        w.t.app
            .recovery
            .submit(&req, None, REPEAT_WINDOW)
            .await
            .unwrap();
    assert!(submitted.created);
    w.t.app.recovery.execute(&submitted.job.id).await;
    let job = w.job(&submitted.job.id).await;
    assert_eq!(job.state, JobState::Done, "{job:#?}");
    let result = job.result.clone().unwrap();
    assert_eq!(
        (
            result["now_complete"].as_u64(),
            result["still_lost"].as_u64()
        ),
        (Some(3), Some(0)),
        "{result:#}"
    );

    let deliveries = w.loader.deliveries();
    assert_eq!(deliveries[&files[&NEVER_LOADED]], 1);
    assert_eq!(
        deliveries[&files[&HALF_LOADED]], 1,
        "the partial load before; never sent again"
    );
    let rescraped: Vec<_> = deliveries
        .keys()
        .filter(|k| k.contains("2026-01-03") || k.contains("2026-01-15"))
        .collect();
    assert_eq!(
        rescraped.len(),
        2,
        "the re-scraped files reached Phase 2 through their completion messages"
    );

    // The same request again moments later (a retried HTTP request) returns the same job.
    let again =
        w.t.app
            .recovery
            .submit(&req, None, REPEAT_WINDOW)
            .await
            .unwrap();
    assert!(!again.created);
    assert_eq!(again.job.id, submitted.job.id);
    // Past the repeat window it plans anew: nothing is left to do, nothing is sent again.
    let fresh =
        w.t.app
            .recovery
            .submit(&req, None, Duration::ZERO)
            .await
            .unwrap();
    assert!(fresh.created);
    assert_ne!(fresh.job.id, submitted.job.id);
    assert!(
        fresh.plan.actions.is_empty(),
        "nothing left to do: {:?}",
        fresh.plan.actions
    );
    w.t.app.recovery.execute(&fresh.job.id).await;
    assert_eq!(w.loader.deliveries(), deliveries, "no file sent twice");

    let after = w.t.app.detector.detect(&steals(1, 30)).await;
    assert_eq!(after.problems().count(), 0, "{}", after.table(false));

    // A restarted service remembers past schedules and file sizes: it asks nothing again,
    // except the two days without games — one empty answer is not remembered as proof until
    // an answer hours later agrees (BACKSTOP_NO_GAMES_RECHECK_MINS).
    let restarted = backstop::app::App::build((*w.t.app.config).clone())
        .await
        .unwrap();
    let again = restarted.detector.detect(&steals(1, 30)).await;
    assert_eq!(
        (again.work.events_requests, again.work.files_read),
        (OFF_DAYS.len() as u64, 0),
        "{:?}",
        again.work
    );
    assert_eq!(again.counts, after.counts);
}

#[tokio::test]
async fn bigquery_down_gives_unknown_with_the_reason_not_a_guess() {
    let w = world(10, Some("http://127.0.0.1:9"), &[]).await;
    history(&w, 10).await;
    let report = w.t.app.detector.detect(&steals(1, 10)).await;
    let row = |day: u32| report.row(d(day), MarketType::Steals).unwrap();
    assert_eq!(row(1).verdict.category, Category::Unknown);
    assert!(
        row(1).verdict.reason.to_lowercase().contains("bigquery"),
        "{}",
        row(1).verdict.reason
    );
    // Verdicts that need no BigQuery still stand.
    assert_eq!(row(3).verdict.category, Category::ScraperFailed);
    assert_eq!(row(5).verdict.category, Category::OffDay);
    let req = ReprocessRequest {
        from: Some("2026-01-01".into()),
        to: Some("2026-01-10".into()),
        market: Some("steals".into()),
        ..Default::default()
    };
    let plan = w.t.app.recovery.plan(&req).await.unwrap();
    assert!(
        plan.actions.iter().all(|a| a.kind == "scrape"),
        "nothing is sent on a guess: {:?}",
        plan.actions
    );
}

#[tokio::test]
async fn a_job_stopped_half_way_resumes_without_repeating_finished_actions() {
    let w = world(12, None, &[]).await;
    let files = history(&w, 12).await;
    let req = ReprocessRequest {
        dates: Some(vec!["2026-01-03".into(), "2026-01-07".into()]),
        market: Some("steals".into()),
        ..Default::default()
    };
    let submitted =
        w.t.app
            .recovery
            .submit(&req, None, REPEAT_WINDOW)
            .await
            .unwrap();
    let job = submitted.job;
    let kinds: Vec<_> = job.actions.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["scrape", "send_file"]);
    // The first process sent the file, got the 2xx, and died before marking the action.
    let send = &job.actions[1];
    let name = send.object_name.clone().unwrap();
    assert_eq!(name, files[&NEVER_LOADED]);
    let ledger = &w.t.app.ledger;
    ledger
        .set_action_state(
            &job.id,
            send.seq,
            ActionState::Running,
            None,
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert!(ledger
        .claim_file_send(&name, &job.id, chrono::Utc::now())
        .await
        .unwrap());
    w.loader.load(&name).await;
    ledger
        .confirm_file_sent(&name, chrono::Utc::now())
        .await
        .unwrap();

    // The first instance stops: its heartbeat ends and its job is free for another.
    w.t.app.stand_down().await;
    let mut config = (*w.t.app.config).clone();
    config.recovery_settle = Duration::ZERO;
    let restarted = backstop::app::App::build(config).await.unwrap();
    // Its next slice comes from a sweep (or a status poll) on the restarted instance.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let advanced = restarted.recovery.advance_due(deadline).await;
    assert_eq!(advanced.len(), 1, "{advanced:?}");
    assert_eq!(advanced[0].0, job.id);
    restarted.recovery.execute(&job.id).await;
    let done = wait_finished(&restarted, &job.id).await;
    assert_eq!(done.state, JobState::Done, "{done:#?}");
    assert_eq!(done.actions[0].state, ActionState::Done, "the scrape ran");
    assert_eq!(done.actions[1].state, ActionState::Done);
    assert!(done.actions[1]
        .detail
        .as_deref()
        .unwrap()
        .contains("before the restart"));
    assert_eq!(
        w.loader.deliveries()[&name],
        1,
        "the finished send was not repeated"
    );
    assert_eq!(
        ledger.file_send(&name).await.unwrap().unwrap().state,
        FileSendState::Sent
    );
}

async fn wait_finished(app: &backstop::app::App, id: &str) -> backstop::ledger::JobRecord {
    for _ in 0..200 {
        let job = app.ledger.job(id).await.unwrap().unwrap();
        if job.state.is_final() && job.result.is_some() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not finish in 20 s");
}

#[tokio::test]
async fn a_file_announced_a_moment_ago_is_not_sent_again_by_a_recovery() {
    // Its completion message may still be on its way to Phase 2: a send would load it twice.
    let w = world(8, None, &[("BACKSTOP_PENDING_LOAD_MINS", "60")]).await;
    let files = history(&w, 8).await;
    let req = ReprocessRequest {
        dates: Some(vec!["2026-01-07".into()]),
        market: Some("steals".into()),
        ..Default::default()
    };
    let plan = w.t.app.recovery.plan(&req).await.unwrap();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.skipped.len(), 1);
    assert_eq!(plan.skipped[0].object_name, files[&NEVER_LOADED]);
    assert!(
        plan.skipped[0].reason.contains("announced on Pub/Sub"),
        "{}",
        plan.skipped[0].reason
    );
}

#[tokio::test]
async fn a_file_is_not_sent_while_its_message_waits_in_the_outbox_nor_soon_after_it_went_out() {
    // Its completion message failed: a later drain announces it, so a send would load it twice.
    let missing = format!("missing-{:08x}", rand::random::<u32>());
    let more = [
        ("BACKSTOP_TOPIC", missing.as_str()),
        ("BACKSTOP_PENDING_LOAD_MINS", "60"),
    ];
    let w = world(8, None, &more).await;
    let files = history(&w, 8).await;
    let name = &files[&NEVER_LOADED];
    let req = ReprocessRequest {
        dates: Some(vec!["2026-01-07".into()]),
        market: Some("steals".into()),
        ..Default::default()
    };
    // The ledger says the run ended two hours ago: outside the window by the run's end.
    let two_hours_ago = chrono::Utc::now() - chrono::Duration::hours(2);
    let raw = rusqlite::Connection::open(w.t.dir.path().join("ledger.db")).unwrap();
    let when = two_hours_ago.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let moved = raw
        .execute(
            "UPDATE runs SET started_at = ?1, finished_at = ?1 WHERE object_name = ?2",
            rusqlite::params![when, name],
        )
        .unwrap();
    assert_eq!(moved, 1);

    let plan = w.t.app.recovery.plan(&req).await.unwrap();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.skipped.len(), 1, "{:?}", plan.skipped);
    assert_eq!(&plan.skipped[0].object_name, name);
    assert!(
        plan.skipped[0].reason.contains("still waits in the outbox"),
        "the reason says why, not a made-up time: {}",
        plan.skipped[0].reason
    );

    // Pub/Sub is back and the message goes out now: the window counts from now.
    w.t.pubsub.create_topic(&missing).await;
    let drained = w.t.app.scrapes.announce_outbox().await;
    assert!(drained.published >= 1, "{drained:?}");
    let plan = w.t.app.recovery.plan(&req).await.unwrap();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(&plan.skipped[0].object_name, name);
    assert!(
        plan.skipped[0].reason.contains("announced on Pub/Sub"),
        "{}",
        plan.skipped[0].reason
    );
}
