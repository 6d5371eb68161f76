//! `spawn_app`: the whole service wired to a local BettingPros, fake-gcs-server and the
//! Pub/Sub emulator, with short test settings.

use std::sync::Arc;

use backstop::api;
use backstop::app::App;
use backstop::calendar::GameDate;
use backstop::config::{Config, Vars};
use backstop::ledger::{ActionKind, JobKey, JobRecord, Ledger, NewAction, NewRun, RunOutcome};
use backstop::run::{RunStatus, Scraper, Trigger};
use backstop::sim::catalogue::Catalogue;
use backstop::sim::server::{SimConfig, SimServer};
use backstop::storage::StorageKey;
use serde_json::Value;
use tokio::net::TcpListener;

use super::emulators::{FakeGcs, PubSubEmulator, PROJECT};

pub const KEY: &str = "test-key";
pub const BUCKET: &str = "nba-scraped-data";

pub struct TestApp {
    pub app: App,
    pub sim: SimServer,
    pub gcs: FakeGcs,
    pub pubsub: Arc<PubSubEmulator>,
    pub subscription: String,
    pub dir: tempfile::TempDir,
    /// Base URL of the HTTP API once `serve` was called.
    pub url: Option<String>,
}

/// Settings an operator would set, with test timings, as (variable, value) pairs (also the
/// environment of a `backstop` process); `extra` overrides or adds.
pub fn var_pairs(
    sim: &SimServer,
    gcs: &FakeGcs,
    pubsub: &PubSubEmulator,
    topic: &str,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let ledger = dir.join("ledger.db").display().to_string();
    let base = sim.base_url();
    let mut pairs: Vec<(String, String)> = [
        ("BETTINGPROS_BASE_URL", base.as_str()),
        ("BETTINGPROS_API_KEY", KEY),
        ("BACKSTOP_RATE_PER_SEC", "200"),
        ("BACKSTOP_BACKOFF_BASE_MS", "10"),
        ("BACKSTOP_BACKOFF_MAX_MS", "50"),
        ("BACKSTOP_TIMEOUT_SECS", "2"),
        ("BACKSTOP_MAX_ATTEMPTS", "3"),
        ("BACKSTOP_STORAGE", "gs://nba-scraped-data"),
        ("STORAGE_EMULATOR_HOST", gcs.endpoint.as_str()),
        ("BACKSTOP_LEDGER", ledger.as_str()),
        ("GCP_PROJECT_ID", PROJECT),
        ("PUBSUB_EMULATOR_HOST", pubsub.host.as_str()),
        ("BACKSTOP_TOPIC", topic),
        ("BACKSTOP_NOTIFY", "on"),
        // Phase 2 stand-ins load at once; the pending-load window has its own test.
        ("BACKSTOP_PENDING_LOAD_MINS", "0"),
        // No nightly check at the real clock: it has its own tests (slices.rs), at a fixed one.
        ("BACKSTOP_SWEEP_DAYS", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k.to_string(), v.to_string()));
    }
    pairs
}

pub async fn spawn_app(catalogue: Catalogue) -> TestApp {
    spawn_app_with(
        SimConfig {
            api_key: Some(KEY.into()),
            ..SimConfig::new(catalogue)
        },
        &[],
    )
    .await
}

/// The service with no games upstream and BigQuery unreachable (nothing listens on its
/// address): detection judges `unknown`, and hand-overs stay unconfirmed.
pub async fn spawn_offline(extra: &[(&str, &str)]) -> TestApp {
    let sim = SimConfig {
        api_key: Some(KEY.into()),
        ..SimConfig::new(Catalogue::synthetic(&[], 1))
    };
    let offline = [
        ("BIGQUERY_EMULATOR_HOST", "http://127.0.0.1:9"),
        ("BACKSTOP_BQ_MAX_ATTEMPTS", "1"),
    ];
    spawn_app_with(sim, &[offline.as_slice(), extra].concat()).await
}

/// A job (the caller's key `k`) that claimed each of `objects` (raw props files) and got no
/// answer: hand-overs whose outcome is unknown.
pub async fn unconfirmed_hand_overs(ledger: &Ledger, objects: &[&str]) -> JobRecord {
    let actions: Vec<NewAction> = objects
        .iter()
        .map(|object| {
            let key = StorageKey::parse(object).expect("a raw file's name");
            NewAction {
                kind: ActionKind::SendFile,
                game_date: key.date(),
                market: key.market().expect("a props file"),
                object_name: Some(object.to_string()),
                reason: "processor_failed".into(),
            }
        })
        .collect();
    let now = chrono::Utc::now();
    let (job, _) = ledger
        .create_job(JobKey::Given("k"), &serde_json::json!({}), &actions, now)
        .await
        .unwrap();
    for object in objects {
        assert!(ledger.claim_file_send(object, &job.id, now).await.unwrap());
    }
    job
}

/// Records in `ledger` an events run `run_id` for `date` that started and ended (no data) at
/// `at`, as a scheduled run does: no scrape, so nothing else happens after it.
pub async fn finished_run(
    ledger: &Ledger,
    run_id: &str,
    date: GameDate,
    at: chrono::DateTime<chrono::Utc>,
) {
    let new = NewRun {
        run_id: run_id.into(),
        scraper: Scraper::Events,
        game_date: date,
        market: None,
        trigger: Trigger::Scheduler,
        started_at: at,
        opts: serde_json::json!({}),
    };
    ledger.start_run(&new).await.unwrap();
    let outcome = RunOutcome {
        status: RunStatus::NoData,
        finished_at: at,
        error_kind: None,
        error_message: None,
        counts: Default::default(),
        attempts: 1,
        retries: 0,
        bytes: 2,
        object_name: None,
        generation: None,
        routes: None,
    };
    ledger.finish_run(run_id, &outcome).await.unwrap();
}

pub async fn spawn_app_with(sim: SimConfig, extra: &[(&str, &str)]) -> TestApp {
    let sim = SimServer::start(sim)
        .await
        .expect("start the local BettingPros");
    spawn_app_on(sim, FakeGcs::start(BUCKET).await, extra).await
}

/// As [`spawn_app_with`], over a BettingPros and a fake-gcs-server the test started (e.g. on
/// its own runtime, or a persistent one).
pub async fn spawn_app_on(sim: SimServer, gcs: FakeGcs, extra: &[(&str, &str)]) -> TestApp {
    let pubsub = PubSubEmulator::shared().await;
    let id = format!("{:08x}", rand::random::<u32>());
    let (topic, subscription) = (format!("complete-{id}"), format!("phase2-{id}"));
    pubsub.create_topic(&topic).await;
    pubsub.create_subscription(&subscription, &topic).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let pairs = var_pairs(&sim, &gcs, &pubsub, &topic, dir.path(), extra);
    let vars = Vars::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let config = Config::from_vars(&vars).expect("test configuration is valid");
    let app = App::build(config).await.expect("the service builds");
    TestApp {
        app,
        sim,
        gcs,
        pubsub,
        subscription,
        dir,
        url: None,
    }
}

impl TestApp {
    /// Serves the HTTP API on a free port until the test ends.
    pub async fn serve(&mut self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = self.app.clone();
        tokio::spawn(api::serve(
            app,
            listener,
            std::future::pending(),
            std::time::Duration::from_secs(1),
        ));
        self.url = Some(url.clone());
        url
    }

    /// Exactly `n` completion messages (pulls until they are all there; fails after 15 s).
    pub async fn messages(&self, n: usize) -> Vec<Value> {
        self.messages_on(&self.subscription, n).await
    }

    /// Exactly `n` messages from `subscription`, as [`TestApp::messages`].
    pub async fn messages_on(&self, subscription: &str, n: usize) -> Vec<Value> {
        let start = std::time::Instant::now();
        let mut got = Vec::new();
        while got.len() < n {
            assert!(
                start.elapsed().as_secs() < 15,
                "expected {n} completion messages, got {}: {got:#?}",
                got.len()
            );
            got.extend(self.pubsub.pull(subscription).await);
        }
        assert_eq!(got.len(), n, "more completion messages than runs: {got:#?}");
        got
    }

    /// Subscribes `endpoint` (e.g. a Phase 2's `/process`) by push to the completion topic, as
    /// Phase 2 is in production. Only messages published from now on are pushed.
    pub async fn push_to(&self, endpoint: &str) {
        let id = format!("push-{:08x}", rand::random::<u32>());
        let topic = &self.app.config.pubsub.topic;
        let url = format!(
            "http://{}/v1/projects/{PROJECT}/subscriptions/{id}",
            self.pubsub.host
        );
        let body = serde_json::json!({
            "topic": format!("projects/{PROJECT}/topics/{topic}"),
            "pushConfig": {"pushEndpoint": endpoint},
        });
        let r = reqwest::Client::new().put(url).json(&body).send().await;
        let r = r.expect("creating a push subscription");
        assert!(
            r.status().is_success(),
            "push subscription: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Every object in the bucket under `prefix`, with its JSON.
    pub async fn objects(&self, prefix: &str) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for info in self.app.store.list(prefix).await.expect("list the bucket") {
            let bytes = self
                .app
                .store
                .get(&info.name)
                .await
                .expect("read an object");
            out.push((
                info.name,
                serde_json::from_slice(&bytes).expect("objects are JSON"),
            ));
        }
        out
    }
}
