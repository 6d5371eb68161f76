//! Completion messages go through the ledger's outbox: a file whose message could not be
//! published is announced later — by the next run, or when a server starts — exactly once.

use std::sync::Arc;

use backstop::calendar::GameDate;
use backstop::ledger::{Announcement, Ledger, RunFilter};
use backstop::market::{MarketSelection, MarketType};
use backstop::notify::completion::Notifier;
use backstop::notify::pubsub::{PubSubSettings, Publisher};
use backstop::run::{RunStatus, Scraper, Trigger};
use backstop::scrape::{RunReport, ScrapeRequest};
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::SimConfig;
use serde_json::json;

use crate::support::app::{finished_run, spawn_app_with, TestApp, BUCKET, KEY};
use crate::support::canned_http::CannedHttp;
use crate::support::emulators::PROJECT;
use crate::support::quick_retry;

fn d(day: u32) -> GameDate {
    format!("2026-01-{day:02}").parse().unwrap()
}

fn props(day: u32) -> ScrapeRequest {
    ScrapeRequest {
        scraper: Scraper::PlayerProps,
        date: d(day),
        markets: MarketSelection::One(MarketType::Points),
        trigger: Trigger::Scheduler,
    }
}

/// A service whose completion topic does not exist yet: every publish fails (404, final).
async fn app_without_its_topic() -> (TestApp, String) {
    let topic = format!("late-{:08x}", rand::random::<u32>());
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::new(Catalogue::synthetic(&[(d(14), 3), (d(15), 3)], 7))
    };
    let t = spawn_app_with(sim, &[("BACKSTOP_TOPIC", &topic)]).await;
    (t, topic)
}

/// Runs `req` while the topic is missing: the file is written, its message stays in the outbox.
async fn unannounced_run(t: &TestApp, req: &ScrapeRequest) -> RunReport {
    let r = t.app.scrapes.run(req).await.remove(0);
    assert_eq!(r.status, RunStatus::Success, "{}", r.message);
    let object = r.object_name.clone().expect("the run wrote its file");
    let entry = t.app.ledger.outbox_entry(&r.run_id).await.unwrap();
    let entry = entry.expect("the message was recorded before it was published");
    assert_eq!(entry.published_at, None);
    assert_eq!(entry.attempts, 1);
    let error = entry.last_error.unwrap_or_default();
    assert!(error.contains("topic not found"), "{error}");
    let url = format!("gs://{BUCKET}/{object}");
    assert_eq!(entry.message["metadata"]["gcs_path"], url.as_str());
    let row = t.app.ledger.run(&r.run_id).await.unwrap().unwrap();
    assert_eq!(row.published, Some(false));
    assert_eq!(
        t.app.ledger.announcement(&object).await.unwrap(),
        Some(Announcement::Pending)
    );
    r
}

/// Pub/Sub is back: the topic exists and Phase 2's subscription with it.
async fn topic_is_back(t: &TestApp, topic: &str) -> String {
    t.pubsub.create_topic(topic).await;
    let subscription = format!("phase2-{topic}");
    t.pubsub.create_subscription(&subscription, topic).await;
    subscription
}

#[tokio::test]
async fn a_file_whose_message_failed_is_announced_by_the_next_run_exactly_once() {
    let (t, topic) = app_without_its_topic().await;
    let first = unannounced_run(&t, &props(14)).await;
    let object = first.object_name.clone().unwrap();
    let subscription = topic_is_back(&t, &topic).await;

    let second = t.app.scrapes.run(&props(15)).await.remove(0);
    assert_eq!(second.status, RunStatus::Success, "{}", second.message);
    // Each request also stored its events answer through a bp_events run, with its message.
    let messages = t.messages_on(&subscription, 4).await;
    let url = format!("gs://{BUCKET}/{object}");
    let late: Vec<_> = messages
        .iter()
        .filter(|m| m["metadata"]["gcs_path"] == url.as_str())
        .collect();
    assert_eq!(late.len(), 1, "{messages:#?}");
    assert_eq!(late[0]["execution_id"], first.run_id.as_str());
    assert_eq!(late[0]["game_date"], "2026-01-14");

    let entry = t
        .app
        .ledger
        .outbox_entry(&first.run_id)
        .await
        .unwrap()
        .unwrap();
    let published_at = entry.published_at.expect("announced by the drain");
    let next = RunFilter {
        game_date: Some(d(15)),
        ..RunFilter::default()
    };
    let next = t.app.ledger.runs(&next).await.unwrap();
    assert_eq!(next.len(), 2, "the props run and its events run: {next:#?}");
    let first_done = next.iter().filter_map(|r| r.finished_at).min().unwrap();
    assert!(
        published_at > first_done,
        "after a run of the next request published its own message"
    );
    assert_eq!((entry.attempts, entry.message_id.is_some()), (2, true));
    assert!(entry.last_error.is_some(), "the first failure is kept");
    let row = t.app.ledger.run(&first.run_id).await.unwrap().unwrap();
    assert_eq!(row.published, Some(true));
    // The pending-load window counts from here, not from the run's end.
    assert_eq!(
        t.app.ledger.announcement(&object).await.unwrap(),
        Some(Announcement::Published(published_at))
    );
    let again = t.app.scrapes.announce_outbox().await;
    assert_eq!(
        (again.published, again.failed),
        (0, 0),
        "nothing is sent twice"
    );
}

#[tokio::test]
async fn a_sweep_announces_what_an_earlier_process_left_unannounced() {
    let (t, topic) = app_without_its_topic().await;
    let first = unannounced_run(&t, &props(14)).await;
    let subscription = topic_is_back(&t, &topic).await;
    t.app.take_over().await.unwrap();
    assert!(
        t.pubsub.pull(&subscription).await.is_empty(),
        "starting publishes nothing: no work outside a request"
    );
    let swept = t.app.sweep().await;
    assert_eq!(swept.messages_published, 2, "{swept:?}");
    // The props run's message, and that of the bp_events run that stored its events answer.
    let messages = t.messages_on(&subscription, 2).await;
    let props: Vec<_> = messages
        .iter()
        .filter(|m| m["execution_id"] == first.run_id.as_str())
        .collect();
    assert_eq!(props.len(), 1, "{messages:#?}");
    assert!(props[0]["metadata"]["gcs_path"].is_string());
}

/// A ledger holding `n` finished runs whose messages nobody published, oldest first.
async fn ledger_with_unpublished(n: usize) -> Ledger {
    let ledger = Ledger::open_in_memory().await.unwrap();
    let long_ago = chrono::Utc::now() - chrono::Duration::hours(2);
    for i in 0..n {
        let run_id = format!("run-{i}");
        let at = long_ago + chrono::Duration::seconds(i as i64);
        finished_run(&ledger, &run_id, d(14), at).await;
        // Claimed two hours ago by a process that died before publishing it.
        let message = json!({ "execution_id": run_id });
        ledger
            .record_message(&run_id, None, &message, at)
            .await
            .unwrap();
    }
    ledger
}

fn notifier(url: &str) -> Notifier {
    let settings = PubSubSettings {
        project: PROJECT.into(),
        topic: "t".into(),
        emulator: Some(url.into()),
        enabled: true,
    };
    Notifier::new(Some(
        Publisher::new(settings, backstop::gcp::Credentials::None).with_retry(quick_retry(2)),
    ))
}

#[tokio::test]
async fn a_drain_publishes_oldest_first_up_to_its_bound_and_stops_while_pub_sub_is_down() {
    let ledger = Arc::new(ledger_with_unpublished(5).await);
    let up = CannedHttp::start(200, r#"{"messageIds":["m"]}"#).await;
    let drained = notifier(&up.url).drain(&ledger, 3).await;
    assert_eq!((drained.published, drained.failed), (3, 0));
    let sent: Vec<String> = up.requests();
    assert_eq!(sent.len(), 3);
    let data = |i: usize| {
        let body = &sent[i][sent[i].find("\r\n\r\n").unwrap() + 4..];
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let data = v["messages"][0]["data"].as_str().unwrap().to_string();
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["execution_id"].clone()
    };
    assert_eq!(
        (data(0), data(1), data(2)),
        (json!("run-0"), json!("run-1"), json!("run-2"))
    );
    assert_eq!(ledger.unpublished_count().await.unwrap(), 2);

    // Down: the first failure (after the publisher's own retries) ends the drain.
    let down = CannedHttp::start(503, r#"{"error":{"message":"busy"}}"#).await;
    let drained = notifier(&down.url).drain(&ledger, 3).await;
    assert_eq!((drained.published, drained.failed), (0, 1));
    assert_eq!(
        down.hits(),
        2,
        "one message, two attempts, then the drain stops"
    );
    let entry = ledger.outbox_entry("run-3").await.unwrap().unwrap();
    assert_eq!(entry.attempts, 1);
    assert!(entry.last_error.unwrap().contains("busy"));
    assert_eq!(entry.published_at, None);

    // Back: what was left goes, the one that failed first.
    let back = CannedHttp::start(200, r#"{"messageIds":["m"]}"#).await;
    let drained = notifier(&back.url).drain(&ledger, 10).await;
    assert_eq!((drained.published, drained.failed), (2, 0));
    assert_eq!(ledger.unpublished_count().await.unwrap(), 0);
}
