//! Handing files to Phase 2 over real HTTP: envelope, ID token, retries, rejections, timeouts.

use std::time::Duration;

use backstop::phase2::{Phase2, Phase2Failure, Phase2Settings};
use serde_json::json;

use crate::support::canned_http::CannedHttp;
use crate::support::phase2::{closed_port, Answer, FakeMetadata, FakePhase2, IDENTITY_PATH};

const BUCKET: &str = "nba-scraped-data";
const OBJECT: &str = "bettingpros/player-props/points/2026-01-14/20260114_180530.json";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ0ZXN0In0.c2lnbmF0dXJl";

/// Short waits so retries take milliseconds; auth on when a metadata server is given.
fn settings(url: &str, metadata: Option<&FakeMetadata>) -> Phase2Settings {
    Phase2Settings {
        url: Some(url.to_string()),
        auth: metadata.is_some(),
        metadata_host: metadata.map_or("127.0.0.1:9".into(), |m| m.host().to_string()),
        project: "test-proj".into(),
        attempt_timeout: Duration::from_secs(2),
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
    }
}

#[tokio::test]
async fn delivers_a_pubsub_envelope_with_a_token_for_the_bare_service_url() {
    let (phase2, metadata) = (FakePhase2::start().await, FakeMetadata::start(TOKEN).await);
    let client = Phase2::new(settings(phase2.url(), Some(&metadata)));

    let delivery = client.send_file(BUCKET, OBJECT).await.expect("delivered");

    assert_eq!((delivery.status, delivery.attempts), (200, 1));
    let got = phase2.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, json!({"bucket": BUCKET, "name": OBJECT}));
    let message = &got[0].envelope["message"];
    assert_eq!(message["messageId"], delivery.message_id.as_str());
    assert_eq!(message["attributes"], json!({}));
    assert_eq!(
        got[0].envelope["subscription"],
        "projects/test-proj/subscriptions/backstop-recovery"
    );
    assert_eq!(
        got[0].authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}"))
    );
    let asked = metadata.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].flavor.as_deref(), Some("Google"));
    assert_eq!(asked[0].audience.as_deref(), Some(phase2.url()));
    assert_eq!(asked[0].format.as_deref(), Some("full"));
}

#[tokio::test]
async fn retries_500_twice_then_delivers_with_one_message_id() {
    let (phase2, metadata) = (FakePhase2::start().await, FakeMetadata::start(TOKEN).await);
    phase2.script([
        Answer::Status(500, "processing error"),
        Answer::Status(500, "processing error"),
    ]);
    let client = Phase2::new(settings(phase2.url(), Some(&metadata)));

    let delivery = client
        .send_file(BUCKET, OBJECT)
        .await
        .expect("third attempt");

    assert_eq!((delivery.status, delivery.attempts), (200, 3));
    let ids: Vec<_> = phase2
        .received()
        .iter()
        .map(|r| r.envelope["message"]["messageId"].clone())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

#[tokio::test]
async fn a_400_is_rejected_at_once_and_never_retried() {
    let (phase2, metadata) = (FakePhase2::start().await, FakeMetadata::start(TOKEN).await);
    phase2.script([Answer::Status(400, "bad message: no name in data")]);
    let client = Phase2::new(settings(phase2.url(), Some(&metadata)));

    let err = client.send_file(BUCKET, OBJECT).await.unwrap_err();

    assert_eq!(err.failure, Phase2Failure::Status(400));
    assert!(err.is_rejected() && !err.retryable, "{err:?}");
    assert_eq!((err.attempts, phase2.received().len()), (1, 1));
    let said = err.to_string();
    for part in [
        "POST /process",
        OBJECT,
        "HTTP 400",
        "no name in data",
        "permanent",
    ] {
        assert!(said.contains(part), "{said} lacks {part}");
    }
}

#[tokio::test]
async fn server_errors_that_outlast_the_retries_stay_retryable() {
    let phase2 = FakePhase2::start().await;
    phase2.script([503, 502, 503].map(|s| Answer::Status(s, "try later")));
    let client = Phase2::new(settings(phase2.url(), None));

    let err = client.send_file(BUCKET, OBJECT).await.unwrap_err();

    assert_eq!(err.failure, Phase2Failure::Status(503));
    assert!(err.retryable && !err.is_rejected(), "{err:?}");
    assert_eq!((err.attempts, phase2.received().len()), (3, 3));
    assert!(err.to_string().contains("retries exhausted"), "{err}");
    assert!(!err.maybe_loaded());
}

#[tokio::test]
async fn a_timeout_after_the_request_went_out_is_outcome_unknown_and_never_retried() {
    // Phase 2 loads the file, then answers after our timeout: a second attempt would load it
    // again (contract section 4).
    let phase2 = FakePhase2::start().await;
    phase2.script([Answer::Slow(Duration::from_secs(2), 200)]);
    let client = Phase2::new(Phase2Settings {
        attempt_timeout: Duration::from_millis(300),
        ..settings(phase2.url(), None)
    });

    let err = client.send_file(BUCKET, OBJECT).await.unwrap_err();

    assert_eq!(err.failure, Phase2Failure::Timeout);
    assert!(err.maybe_loaded() && !err.retryable, "{err:?}");
    assert_eq!(err.attempts, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(phase2.received().len(), 1, "sent once, never again");
    let said = err.to_string();
    assert!(
        said.contains("outcome unknown") && said.contains(OBJECT),
        "{said}"
    );
}

#[tokio::test]
async fn a_gateway_timeout_from_the_front_end_is_outcome_unknown_and_never_retried() {
    // Cloud Run answers 504 when its request timeout passes; the container may still load.
    let phase2 = FakePhase2::start().await;
    phase2.script([Answer::Status(504, "upstream request timeout")]);
    let client = Phase2::new(settings(phase2.url(), None));

    let err = client.send_file(BUCKET, OBJECT).await.unwrap_err();

    assert_eq!(err.failure, Phase2Failure::Status(504));
    assert!(err.maybe_loaded() && !err.retryable, "{err:?}");
    assert_eq!((err.attempts, phase2.received().len()), (1, 1));
}

#[tokio::test]
async fn a_connection_that_breaks_after_the_request_went_out_is_never_retried() {
    // Status 0: the canned server reads the whole request, then closes without an answer.
    let phase2 = CannedHttp::start(0, "").await;
    let client = Phase2::new(settings(&phase2.url, None));

    let err = client.send_file(BUCKET, OBJECT).await.unwrap_err();

    assert_eq!(err.failure, Phase2Failure::Broken);
    assert!(err.maybe_loaded() && !err.retryable, "{err:?}");
    assert_eq!((err.attempts, phase2.hits()), (1, 1));
}

#[tokio::test]
async fn with_auth_off_no_token_is_asked_for_or_sent_and_204_is_delivered() {
    let (phase2, metadata) = (FakePhase2::start().await, FakeMetadata::start(TOKEN).await);
    phase2.script([Answer::Status(204, "")]);
    let client = Phase2::new(Phase2Settings {
        auth: false,
        metadata_host: metadata.host().to_string(),
        ..settings(phase2.url(), None)
    });

    let delivery = client.send_file(BUCKET, OBJECT).await.expect("delivered");

    assert_eq!(delivery.status, 204);
    assert_eq!(phase2.received()[0].authorization, None);
    assert!(metadata.requests().is_empty());
}

#[tokio::test]
async fn without_a_token_nothing_is_sent() {
    let (phase2, metadata) = (FakePhase2::start().await, FakeMetadata::start(TOKEN).await);
    metadata.refuse_with(404);
    let client = Phase2::new(settings(phase2.url(), Some(&metadata)));

    let err = client.send_file(BUCKET, OBJECT).await.unwrap_err();

    assert_eq!(err.failure, Phase2Failure::Identity(Some(404)));
    assert!(!err.retryable);
    assert_eq!((err.method, err.path.as_str()), ("GET", IDENTITY_PATH));
    assert!(phase2.received().is_empty());
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn an_unreachable_phase2_is_retryable_and_certainly_not_loaded() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let client = Phase2::new(settings(&url, None));

    let err = client.send_file(BUCKET, OBJECT).await.unwrap_err();

    assert_eq!(err.failure, Phase2Failure::Connect);
    assert!(err.retryable && !err.maybe_loaded(), "{err:?}");
    assert_eq!(err.attempts, 3);
}
