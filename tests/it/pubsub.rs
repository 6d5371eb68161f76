//! The completion-message publisher against Google's Pub/Sub emulator, and against canned
//! answers for retries and auth headers.

use serde_json::json;

use backstop::config::Secret;
use backstop::gcp::Credentials;
use backstop::notify::pubsub::{PubSubSettings, PublishErrorKind, Publisher};

use crate::support::canned_http::CannedHttp;
use crate::support::emulators::{free_port, PubSubEmulator, PROJECT};
use crate::support::quick_retry;

fn settings(host: &str, topic: &str) -> PubSubSettings {
    PubSubSettings {
        project: PROJECT.to_string(),
        topic: topic.to_string(),
        emulator: Some(host.to_string()),
        enabled: true,
    }
}

fn completion_message() -> serde_json::Value {
    json!({
        "processor_name": "betting_pros_player_props", "phase": "phase_1_scrapers",
        "execution_id": "a1b2c3d4", "correlation_id": "a1b2c3d4", "game_date": "2026-01-14",
        "output_table": "bettingprosplayerprops", "output_dataset": "nba_raw",
        "status": "success", "record_count": 94, "records_failed": 0,
        "timestamp": "2026-01-14T18:06:11.123456+00:00", "duration_seconds": 41.7,
        "trigger_source": "scheduler",
        "metadata": {"scraper_class": "BettingProsPlayerProps", "workflow": "betting_lines",
                     "scraper_type": "api", "opts": {"date": "2026-01-14", "market_type": "points"},
                     "gcs_path": "gs://nba-scraped-data/bettingpros/player-props/points/2026-01-14/20260114_180530.json"}
    })
}

#[tokio::test]
async fn a_published_message_is_pulled_back_as_the_same_json_without_attributes() {
    let emulator = PubSubEmulator::shared().await;
    emulator.create_topic("complete-roundtrip").await;
    emulator
        .create_subscription("phase2-roundtrip", "complete-roundtrip")
        .await;
    let publisher = Publisher::new(
        settings(&emulator.host, "complete-roundtrip"),
        Credentials::None,
    );
    let id = publisher.publish(&completion_message()).await.unwrap();
    assert!(!id.is_empty());

    let raw = emulator.pull_raw("phase2-roundtrip").await;
    assert_eq!(raw.len(), 1, "{raw:?}");
    let attributes = raw[0]["attributes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(attributes.is_empty(), "{raw:?}");
    assert_eq!(raw[0]["messageId"], id.as_str());

    publisher.publish(&json!({"second": true})).await.unwrap();
    assert_eq!(
        emulator.pull("phase2-roundtrip").await,
        [json!({"second": true})]
    );
}

#[tokio::test]
async fn publishing_to_a_missing_topic_names_the_topic_and_project() {
    let emulator = PubSubEmulator::shared().await;
    let publisher = Publisher::new(settings(&emulator.host, "no-such-topic"), Credentials::None)
        .with_retry(quick_retry(4));
    let err = publisher.publish(&json!({"x": 1})).await.unwrap_err();
    assert_eq!(err.kind, PublishErrorKind::TopicNotFound, "{err}");
    assert_eq!((err.status, err.attempts), (Some(404), 1));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "publish to topic no-such-topic in project {PROJECT}: topic not found: HTTP 404"
        )),
        "{shown}"
    );
}

#[tokio::test]
async fn an_unreachable_emulator_is_unavailable_after_its_retries() {
    let host = format!("127.0.0.1:{}", free_port());
    let publisher =
        Publisher::new(settings(&host, "t"), Credentials::None).with_retry(quick_retry(3));
    let err = publisher.publish(&json!({})).await.unwrap_err();
    assert_eq!((err.kind, err.attempts), (PublishErrorKind::Unavailable, 3));
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
}

fn fixed_token() -> Credentials {
    Credentials::Fixed(Secret::new("ya29.test-token-123"))
}

#[tokio::test]
async fn a_token_is_sent_as_a_bearer_header_and_shown_nowhere() {
    let ok = CannedHttp::start(200, r#"{"messageIds":["42"]}"#).await;
    let publisher = Publisher::new(settings(&ok.host(), "t"), fixed_token());
    assert_eq!(publisher.publish(&json!({})).await.unwrap(), "42");
    let head = ok.requests()[0].to_ascii_lowercase();
    assert!(
        head.starts_with(&format!(
            "post /v1/projects/{PROJECT}/topics/t:publish http/1.1"
        )),
        "{head}"
    );
    assert!(
        head.contains("authorization: bearer ya29.test-token-123"),
        "{head}"
    );
    assert!(!format!("{publisher:?}").contains("ya29"));

    let failing = CannedHttp::start(503, r#"{"error":{"message":"busy"}}"#).await;
    let publisher =
        Publisher::new(settings(&failing.host(), "t"), fixed_token()).with_retry(quick_retry(3));
    let err = publisher.publish(&json!({})).await.unwrap_err();
    assert_eq!(
        (err.kind, failing.hits()),
        (PublishErrorKind::Unavailable, 3)
    );
    assert!(!format!("{err} {err:?}").contains("ya29"), "{err:?}");
}

#[tokio::test]
async fn an_answer_without_a_message_id_is_not_retried() {
    let odd = CannedHttp::start(200, r#"{"messageIds":[]}"#).await;
    let publisher =
        Publisher::new(settings(&odd.host(), "t"), Credentials::None).with_retry(quick_retry(3));
    let err = publisher.publish(&json!({})).await.unwrap_err();
    assert_eq!((err.kind, odd.hits()), (PublishErrorKind::Rejected, 1));
}
