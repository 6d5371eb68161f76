//! Google Cloud access against a local server that speaks the metadata protocol
//! (`GCE_METADATA_HOST`, `Metadata-Flavor: Google`): access tokens for Google's APIs, kept
//! until they are about to expire; identity tokens for Phase 2; refusals classified by the one
//! transient table. Application Default Credentials from a key file need Google itself and are
//! not exercised here.

use std::time::Duration;

use backstop::gcp::metadata::{IDENTITY_PATH, TOKEN_PATH};
use backstop::gcp::{Credentials, GcpSettings, MetadataServer};
use backstop::notify::pubsub::{PubSubSettings, Publisher};
use serde_json::json;

use crate::support::canned_http::CannedHttp;
use crate::support::phase2::FakeMetadata;

const TOKEN: &str = "ya29.metadata-token-1";
const SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/pubsub",
    "https://www.googleapis.com/auth/bigquery",
];

fn gcp(metadata: &FakeMetadata) -> GcpSettings {
    GcpSettings {
        metadata: metadata.host().to_string(),
        ..GcpSettings::default()
    }
}

#[tokio::test]
async fn an_access_token_is_asked_for_with_the_flavor_and_scopes_and_kept_until_it_expires() {
    let metadata = FakeMetadata::start(TOKEN).await;
    let credentials = Credentials::metadata(SCOPES, &gcp(&metadata));

    for _ in 0..3 {
        let header = credentials
            .header()
            .await
            .expect("a token")
            .expect("a header");
        assert_eq!(header.to_str().unwrap(), format!("Bearer {TOKEN}"));
        assert!(header.is_sensitive());
    }

    let asked = metadata.requests();
    assert_eq!(asked.len(), 1, "one token for three calls: {asked:?}");
    assert_eq!(asked[0].path, TOKEN_PATH);
    assert_eq!(asked[0].flavor.as_deref(), Some("Google"));
    assert_eq!(asked[0].scopes.as_deref(), Some(SCOPES.join(",").as_str()));
    assert!(!format!("{credentials:?}").contains(TOKEN));
}

#[tokio::test]
async fn a_token_about_to_expire_is_renewed() {
    let metadata = FakeMetadata::start(TOKEN).await;
    metadata.expires_in(30);
    let credentials = Credentials::metadata(SCOPES, &gcp(&metadata));

    credentials.bearer().await.unwrap();
    credentials.bearer().await.unwrap();

    assert_eq!(metadata.requests().len(), 2);
}

#[tokio::test]
async fn a_refusal_says_what_failed_and_whether_to_try_again() {
    let metadata = FakeMetadata::start(TOKEN).await;
    let credentials = Credentials::metadata(SCOPES, &gcp(&metadata));
    for (status, transient) in [(503, true), (429, true), (404, false), (403, false)] {
        metadata.refuse_with(status);
        let err = credentials.bearer().await.unwrap_err();
        assert_eq!(
            (err.status, err.transient),
            (Some(status), transient),
            "{err}"
        );
        assert_eq!(err.path, TOKEN_PATH);
        assert!(err.to_string().contains(&format!("HTTP {status}")), "{err}");
    }
    let closed = GcpSettings {
        metadata: format!("127.0.0.1:{}", crate::support::phase2::closed_port()),
        ..GcpSettings::default()
    };
    let err = Credentials::metadata(SCOPES, &closed)
        .bearer()
        .await
        .unwrap_err();
    assert!(err.transient && err.status.is_none(), "{err}");
}

#[tokio::test]
async fn an_identity_token_is_asked_for_the_audience_in_full_format() {
    let metadata = FakeMetadata::start(TOKEN).await;
    let server = MetadataServer::new(metadata.host());

    let token = server
        .identity_token("https://phase2-abc.a.run.app", Duration::from_secs(2))
        .await
        .expect("a token");

    assert_eq!(token.expose(), TOKEN);
    let asked = metadata.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].path, IDENTITY_PATH);
    assert_eq!(asked[0].flavor.as_deref(), Some("Google"));
    assert_eq!(
        asked[0].audience.as_deref(),
        Some("https://phase2-abc.a.run.app")
    );
    assert_eq!(asked[0].format.as_deref(), Some("full"));
}

#[tokio::test]
async fn a_publisher_on_cloud_run_sends_the_metadata_servers_token() {
    let metadata = FakeMetadata::start(TOKEN).await;
    let pubsub = CannedHttp::start(200, r#"{"messageIds":["7"]}"#).await;
    let settings = PubSubSettings {
        project: "p".into(),
        topic: "t".into(),
        emulator: Some(pubsub.host()),
        enabled: true,
    };
    let credentials = Credentials::metadata(SCOPES, &gcp(&metadata));

    let id = Publisher::new(settings, credentials)
        .publish(&json!({"status": "success"}))
        .await
        .expect("published");

    assert_eq!(id, "7");
    let head = pubsub.requests()[0].to_ascii_lowercase();
    assert!(
        head.contains(&format!("authorization: bearer {TOKEN}").to_ascii_lowercase()),
        "{head}"
    );
    assert_eq!(metadata.requests()[0].path, TOKEN_PATH);
}
