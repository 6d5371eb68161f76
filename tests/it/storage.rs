//! One behaviour suite run against every `ObjectStore`: a local directory (in a tempdir) and
//! Cloud Storage (fake-gcs-server, with two objects per listing page so paging is exercised);
//! then what only the GCS client does: retries, and how it fails.

use std::any::Any;
use std::sync::Arc;

use chrono::{TimeZone, Utc};

use backstop::calendar::GameDate;
use backstop::gcp::GcpSettings;
use backstop::market::MarketType;
use backstop::storage::{
    GcsStore, LocalStore, ObjectStore, PutOutcome, StorageErrorKind, StorageKey,
};

use crate::support::canned_http::CannedHttp;
use crate::support::emulators::{free_port, FakeGcs};
use crate::support::quick_retry;

const BUCKET: &str = "nba-scraped-data";
const JSON: &str = "application/json";

struct Backend {
    store: Arc<dyn ObjectStore>,
    _keep_alive: Box<dyn Any + Send>,
}

async fn local_dir() -> Backend {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = LocalStore::open(dir.path())
        .await
        .expect("opening the store");
    Backend {
        store: Arc::new(store),
        _keep_alive: Box::new(dir),
    }
}

async fn gcs_emulator() -> Backend {
    let server = FakeGcs::start(BUCKET).await;
    let store = GcsStore::connect(
        &server.bucket,
        Some(&server.endpoint),
        &GcpSettings::default(),
    )
    .await
    .expect("a client for the emulator")
    .with_page_size(2);
    Backend {
        store: Arc::new(store),
        _keep_alive: Box::new(server),
    }
}

/// Each behaviour becomes one test per backend: `local_dir::name` and `gcs_emulator::name`.
macro_rules! behaviours {
    ($($name:ident),* $(,)?) => {
        mod local_dir {
            $(#[tokio::test]
            async fn $name() {
                let backend = super::local_dir().await;
                super::$name(&backend).await;
            })*
        }
        mod gcs_emulator {
            $(#[tokio::test]
            async fn $name() {
                let backend = super::gcs_emulator().await;
                super::$name(&backend).await;
            })*
        }
    };
}

behaviours!(
    put_then_get_round_trips_bytes_and_content_type,
    a_second_put_is_already_exists_and_leaves_the_object_unchanged,
    concurrent_puts_of_one_name_create_it_once,
    list_by_prefix_returns_exactly_the_objects_under_it_with_sizes,
    get_of_a_missing_object_is_not_found,
    names_with_the_real_layout_work,
    names_that_could_escape_are_refused,
    health_is_ok,
);

fn date(s: &str) -> GameDate {
    s.parse().expect("a valid date")
}

fn key(market: MarketType, day: &str, hour: u32, complete: bool) -> StorageKey {
    let started = Utc.with_ymd_and_hms(2026, 1, 14, hour, 5, 30).unwrap();
    StorageKey::props(market, date(day), started, complete)
}

async fn put(store: &dyn ObjectStore, name: &str, body: &[u8]) -> PutOutcome {
    store
        .put_new(name, body.to_vec(), JSON)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn put_then_get_round_trips_bytes_and_content_type(backend: &Backend) {
    let store = &*backend.store;
    let name = key(MarketType::Points, "2026-01-14", 18, true).object_name();
    let body = r#"{"player_name":"Nikola Jokić","line":26.5}"#.as_bytes();
    let PutOutcome::Created { generation } = put(store, &name, body).await else {
        panic!("the first put must create the object");
    };
    assert!(generation > 0);
    assert_eq!(store.get(&name).await.unwrap(), body);
    let listed = store.list(&name).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].content_type.as_deref(), Some(JSON));
    assert_eq!(listed[0].size, body.len() as u64);
    assert_eq!(listed[0].generation, generation);
    assert!(listed[0].updated.is_some());
}

async fn a_second_put_is_already_exists_and_leaves_the_object_unchanged(backend: &Backend) {
    let store = &*backend.store;
    let name = key(MarketType::Points, "2026-01-14", 18, true).object_name();
    put(store, &name, b"{\"first\":true}").await;
    let before = store.list(&name).await.unwrap();
    assert_eq!(
        put(store, &name, b"{\"second\":true}").await,
        PutOutcome::AlreadyExists
    );
    assert_eq!(store.get(&name).await.unwrap(), b"{\"first\":true}");
    assert_eq!(store.list(&name).await.unwrap(), before);
}

async fn concurrent_puts_of_one_name_create_it_once(backend: &Backend) {
    let store = &*backend.store;
    let name = key(MarketType::Rebounds, "2026-01-14", 18, true).object_name();
    let bodies: Vec<String> = (0..6).map(|i| format!("{{\"writer\":{i}}}")).collect();
    let outcomes = futures_util::future::join_all(
        bodies
            .iter()
            .map(|b| store.put_new(&name, b.as_bytes().to_vec(), JSON)),
    )
    .await;
    let created: Vec<usize> = (0..outcomes.len())
        .filter(|&i| matches!(outcomes[i], Ok(PutOutcome::Created { .. })))
        .collect();
    assert_eq!(created.len(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o.is_ok()), "{outcomes:?}");
    let stored = store.get(&name).await.unwrap();
    assert_eq!(stored, bodies[created[0]].as_bytes());
}

async fn list_by_prefix_returns_exactly_the_objects_under_it_with_sizes(backend: &Backend) {
    let store = &*backend.store;
    let points_14a = key(MarketType::Points, "2026-01-14", 16, true).object_name();
    let points_14b = key(MarketType::Points, "2026-01-14", 18, true).object_name();
    let points_15 = key(MarketType::Points, "2026-01-15", 18, true).object_name();
    let others = [
        key(MarketType::Rebounds, "2026-01-14", 18, true).object_name(),
        key(MarketType::Points, "2026-01-14", 17, false).object_name(),
        StorageKey::events(date("2026-01-14"), Utc::now()).object_name(),
    ];
    for (i, name) in [&points_14a, &points_14b, &points_15]
        .into_iter()
        .chain(&others)
        .enumerate()
    {
        put(store, name, "x".repeat(10 + i).as_bytes()).await;
    }
    let names = |listed: Vec<backstop::storage::ObjectInfo>| -> Vec<(String, u64)> {
        listed.into_iter().map(|o| (o.name, o.size)).collect()
    };
    let points = store
        .list(&StorageKey::props_prefix(MarketType::Points))
        .await
        .unwrap();
    assert_eq!(
        names(points),
        [
            (points_14a.clone(), 10),
            (points_14b.clone(), 11),
            (points_15.clone(), 12)
        ]
    );
    let day = StorageKey::props_date_prefix(MarketType::Points, date("2026-01-14"));
    assert_eq!(store.list(&day).await.unwrap().len(), 2);
    // A prefix that ends inside a path part matches like GCS does.
    let month = "bettingpros/player-props/points/2026-01";
    assert_eq!(store.list(month).await.unwrap().len(), 3);
    assert_eq!(
        store
            .list(&StorageKey::events_prefix())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.list("").await.unwrap().len(), 6);
    assert!(store.list("nothing/here/").await.unwrap().is_empty());
}

async fn get_of_a_missing_object_is_not_found(backend: &Backend) {
    let store = &*backend.store;
    let name = key(MarketType::Blocks, "2026-01-14", 18, true).object_name();
    let err = store.get(&name).await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::NotFound, "{err}");
    assert_eq!((err.op, err.object.as_str()), ("get", name.as_str()));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("storage get {}: not found", store.url(&name))),
        "{shown}"
    );
    // A "directory" is not an object either.
    let dir_like = "bettingpros/player-props/blocks";
    put(store, &name, b"{}").await;
    assert_eq!(
        store.get(dir_like).await.unwrap_err().kind,
        StorageErrorKind::NotFound
    );
}

async fn names_with_the_real_layout_work(backend: &Backend) {
    let store = &*backend.store;
    let mut keys = vec![StorageKey::events(date("2026-01-14"), Utc::now())];
    for market in MarketType::ALL {
        keys.push(key(market, "2026-01-14", 18, true));
        keys.push(key(market, "2026-01-14", 18, false));
    }
    for k in &keys {
        assert!(matches!(
            put(store, &k.object_name(), b"{}").await,
            PutOutcome::Created { .. }
        ));
    }
    let mut listed: Vec<StorageKey> = store
        .list("bettingpros/")
        .await
        .unwrap()
        .iter()
        .map(|o| StorageKey::parse(&o.name).expect("a listed name parses"))
        .collect();
    listed.sort();
    keys.sort();
    assert_eq!(listed, keys);
}

async fn names_that_could_escape_are_refused(backend: &Backend) {
    let store = &*backend.store;
    for bad in ["../escape.json", "a//b.json", "/abs.json", ".hidden/x.json"] {
        let err = store.put_new(bad, b"{}".to_vec(), JSON).await.unwrap_err();
        assert_eq!(
            (err.kind, err.op),
            (StorageErrorKind::Invalid, "put"),
            "{bad}"
        );
    }
    assert!(store.list("").await.unwrap().is_empty());
}

async fn health_is_ok(backend: &Backend) {
    let store = &*backend.store;
    store.health().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_gcs_endpoint_is_unavailable_after_its_retries() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let store = GcsStore::connect(BUCKET, Some(&endpoint), &GcpSettings::default())
        .await
        .unwrap()
        .with_retry(quick_retry(3));
    let name = key(MarketType::Points, "2026-01-14", 18, true).object_name();
    let err = store
        .put_new(&name, b"{}".to_vec(), JSON)
        .await
        .unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::Unavailable);
    assert_eq!((err.op, err.object.as_str()), ("put", name.as_str()));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("storage put gs://{BUCKET}/{name}: unavailable: ")),
        "{shown}"
    );
    assert!(shown.contains("after 3 attempts"), "{shown}");
}

#[tokio::test]
async fn transient_gcs_answers_are_retried_and_permanent_ones_are_not() {
    for (status, kind, attempts) in [
        (503, StorageErrorKind::Unavailable, 4),
        (429, StorageErrorKind::Unavailable, 4),
        (404, StorageErrorKind::NotFound, 1),
        (403, StorageErrorKind::Denied, 1),
        (400, StorageErrorKind::Invalid, 1),
    ] {
        let error = format!(r#"{{"error":{{"code":{status},"message":"canned","errors":[]}}}}"#);
        let server = CannedHttp::start(status, error).await;
        let store = GcsStore::connect(BUCKET, Some(&server.url), &GcpSettings::default())
            .await
            .unwrap()
            .with_retry(quick_retry(4));
        let err = store.get("bettingpros/x.json").await.unwrap_err();
        assert_eq!(err.kind, kind, "{status}: {err}");
        assert_eq!(server.hits(), attempts, "{status}: {err}");
    }
}

#[tokio::test]
async fn health_of_a_missing_bucket_is_not_found() {
    let server = FakeGcs::start(BUCKET).await;
    let store = GcsStore::connect(
        "no-such-bucket",
        Some(&server.endpoint),
        &GcpSettings::default(),
    )
    .await
    .unwrap();
    let err = store.health().await.unwrap_err();
    assert_eq!(err.kind, StorageErrorKind::NotFound, "{err}");
    assert!(
        err.to_string()
            .starts_with("storage health gs://no-such-bucket: not found"),
        "{err}"
    );
}

#[tokio::test]
async fn a_stored_object_reads_back_as_json_without_an_encoding() {
    let server = FakeGcs::start(BUCKET).await;
    let store = GcsStore::connect(
        &server.bucket,
        Some(&server.endpoint),
        &GcpSettings::default(),
    )
    .await
    .unwrap();
    let name = key(MarketType::Points, "2026-01-14", 18, true).object_name();
    put(&store, &name, b"{\"props\": []}").await;
    // The object's own metadata, as `gcloud storage objects describe` reads it.
    let encoded = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
    let url = format!("{}/storage/v1/b/{BUCKET}/o/{encoded}", server.endpoint);
    let meta: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(meta["name"], name.as_str(), "{meta}");
    assert_eq!(meta["contentType"], JSON, "{meta}");
    assert!(meta.get("contentEncoding").is_none(), "{meta}");
}

#[tokio::test]
async fn put_is_a_create_only_multipart_related_upload_typed_in_both_parts() {
    let server = CannedHttp::start(200, object_json(7)).await;
    let store = GcsStore::connect(BUCKET, Some(&server.url), &GcpSettings::default())
        .await
        .unwrap();
    let outcome = store.put_new("a/b.json", b"{}".to_vec(), JSON).await;
    assert_eq!(outcome.unwrap(), PutOutcome::Created { generation: 7 });
    let request = &server.requests()[0];
    assert!(
        request.starts_with(&format!(
            "POST /upload/storage/v1/b/{BUCKET}/o?uploadType=multipart&ifGenerationMatch=0 "
        )),
        "{request}"
    );
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: multipart/related; boundary="),
        "{request}"
    );
    assert!(
        request.contains(r#""contentType":"application/json""#),
        "{request}"
    );
    assert!(request.contains(r#""name":"a/b.json""#), "{request}");
    assert!(
        lower.contains("\r\ncontent-type: application/json\r\n\r\n{}\r\n"),
        "{request}"
    );
    assert!(!lower.contains("contentencoding"), "{request}");
}

/// The metadata GCS answers for object `a/b.json`.
fn object_json(generation: i64) -> String {
    format!(
        r#"{{"kind":"storage#object","name":"a/b.json","id":"b/a/b.json","bucket":"b",
        "size":"2","generation":"{generation}","metageneration":"1","selfLink":"x","mediaLink":"y"}}"#
    )
}

#[tokio::test]
async fn a_retried_put_that_finds_its_own_bytes_counts_as_created() {
    for (stored, want) in [
        ("{}", PutOutcome::Created { generation: 9 }),
        ("[]", PutOutcome::AlreadyExists),
    ] {
        // The first answer is lost (503 after the write landed), the retry meets 412, then
        // the store reads the object's metadata and bytes.
        let server = CannedHttp::script(vec![
            (503, r#"{"error":{"code":503,"message":"lost"}}"#.into()),
            (
                412,
                r#"{"error":{"code":412,"message":"Precondition Failed"}}"#.into(),
            ),
            (200, object_json(9)),
            (200, stored.into()),
        ])
        .await;
        let store = GcsStore::connect(BUCKET, Some(&server.url), &GcpSettings::default())
            .await
            .unwrap()
            .with_retry(quick_retry(3));
        let outcome = store.put_new("a/b.json", b"{}".to_vec(), JSON).await;
        assert_eq!(outcome.unwrap(), want, "stored {stored}");
        let requests = server.requests();
        assert_eq!(requests.len(), 4, "{requests:?}");
        assert!(requests[3].contains("generation=9"), "{}", requests[3]);
    }
}
