//! A stand-in Phase 2 that really loads: `POST /process` takes the push envelope (a file
//! `{bucket, name}` or a completion message with `metadata.gcs_path`), reads the file from
//! storage and appends one BigQuery row per prop × side × sportsbook line — on every
//! delivery, as Phase 2 does, so a file sent twice shows up as duplicated rows.
//!
//! It can be made to answer 500 without loading (Phase 2 down), to take its time (a slow
//! load, finished even when the caller hangs up), to load and then answer late (the caller
//! times out on a file that was loaded), or to take requests and never load or answer them (a
//! Phase 2 that died mid-load). It records every request by route: a file handed over by a
//! recovery (`{bucket, name}`) or a completion message pushed by Pub/Sub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use backstop::storage::ObjectStore;
use base64::Engine;
use serde_json::{json, Value};

use super::bq::BqEmulator;
use super::phase2::{serve, Served};

pub const DATASET: &str = "nba_raw";
pub const TABLE: &str = "bettingpros_player_points_props";

/// How a file reached the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `{bucket, name}`: handed over by a recovery.
    Send,
    /// A completion message pushed by Pub/Sub.
    Push,
}

/// One `POST /process` naming a file, and what the loader answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    pub route: Route,
    /// 500 when refused; 200 once loaded (0 while the load is under way).
    pub status: u16,
}

struct Loading {
    store: OnceLock<Arc<dyn ObjectStore>>,
    bq: Arc<BqEmulator>,
    deliveries: Mutex<HashMap<String, u32>>,
    requests: Mutex<Vec<Request>>,
    refusing: Mutex<bool>,
    stalling: Mutex<bool>,
    delay: Mutex<Duration>,
    answer_delay: Mutex<Duration>,
}

pub struct Loader {
    pub url: String,
    state: Arc<Loading>,
    _server: Served,
}

impl Loader {
    /// Starts without storage (its URL is needed to configure the service); `attach` it.
    pub async fn start(bq: Arc<BqEmulator>) -> Loader {
        bq.create_table(DATASET, TABLE, super::bq::PROPS_SCHEMA)
            .await;
        let state = Arc::new(Loading {
            store: OnceLock::new(),
            bq,
            deliveries: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            refusing: Mutex::new(false),
            stalling: Mutex::new(false),
            delay: Mutex::new(Duration::ZERO),
            answer_delay: Mutex::new(Duration::ZERO),
        });
        let router = Router::new()
            .route("/process", post(process))
            .with_state(state.clone());
        let (addr, server) = serve(router).await;
        Loader {
            url: format!("http://{addr}"),
            state,
            _server: server,
        }
    }

    pub fn attach(&self, store: Arc<dyn ObjectStore>) {
        let _ = self.state.store.set(store);
    }

    /// How many times each object was loaded (its rows appended).
    pub fn deliveries(&self) -> HashMap<String, u32> {
        self.state.deliveries.lock().unwrap().clone()
    }

    /// Every request that named a file, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits (up to a minute) until `name` has been sent to Phase 2 (a recovery's hand-over,
    /// not a push); `context` says what to show when it never is (a process's log).
    pub async fn wait_for_send(&self, name: &str, context: impl Fn() -> String) {
        let began = std::time::Instant::now();
        while !self
            .requests()
            .iter()
            .any(|r| r.name == name && r.route == Route::Send)
        {
            assert!(
                began.elapsed() < Duration::from_secs(60),
                "{name} was never sent to Phase 2:\n{}",
                context()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// While on, every request is answered 500 without loading (Phase 2 is down).
    pub fn refuse(&self, on: bool) {
        *self.state.refusing.lock().unwrap() = on;
    }

    /// Each load waits this long first (a slow Phase 2).
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// Each answer comes this long after its load finished (the file is in the table while
    /// the caller still waits).
    pub fn answer_late(&self, delay: Duration) {
        *self.state.answer_delay.lock().unwrap() = delay;
    }

    /// While on, requests are taken and never loaded or answered (Phase 2 died mid-load).
    pub fn stall(&self, on: bool) {
        *self.state.stalling.lock().unwrap() = on;
    }

    /// Loads a file directly, as if Phase 2 had been told about it.
    pub async fn load(&self, name: &str) {
        load(&self.state, name, None, name).await.unwrap();
    }

    /// Loads a file with `source_file_path` written as `label` (Phase 2 wrote `unknown` for
    /// months).
    pub async fn load_labelled(&self, name: &str, label: &str) {
        load(&self.state, name, None, label).await.unwrap();
    }

    /// Loads only the first `rows` rows of a file (a load that broke off).
    pub async fn load_partly(&self, name: &str, rows: usize) {
        load(&self.state, name, Some(rows), name).await.unwrap();
    }
}

async fn process(
    State(state): State<Arc<Loading>>,
    Json(envelope): Json<Value>,
) -> (StatusCode, String) {
    let data = envelope["message"]["data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|d| serde_json::from_slice::<Value>(&d).ok())
        .unwrap_or(Value::Null);
    let (name, route) = if let Some(name) = data["name"].as_str() {
        (name.to_string(), Route::Send)
    } else {
        let skip = ["failed", "no_data"].contains(&data["status"].as_str().unwrap_or(""));
        match data["metadata"]["gcs_path"].as_str() {
            Some(path) if !skip && path.contains("bettingpros/player-props") => {
                let name = path.splitn(4, '/').nth(3).unwrap_or_default();
                (name.to_string(), Route::Push)
            }
            _ => return (StatusCode::NO_CONTENT, "skipped".into()),
        }
    };
    let refused = *state.refusing.lock().unwrap();
    let index = {
        let mut requests = state.requests.lock().unwrap();
        let status = if refused { 500 } else { 0 };
        requests.push(Request {
            name: name.clone(),
            route,
            status,
        });
        requests.len() - 1
    };
    if refused {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Phase 2 is down".into());
    }
    if *state.stalling.lock().unwrap() {
        return std::future::pending().await;
    }
    let delay = *state.delay.lock().unwrap();
    let answer_delay = *state.answer_delay.lock().unwrap();
    // Its own task: a load under way finishes even if the caller hangs up.
    let loading = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let loaded = load(&state, &name, None, &name).await;
        state.requests.lock().unwrap()[index].status = if loaded.is_ok() { 200 } else { 500 };
        loaded
    });
    let loaded = loading.await;
    tokio::time::sleep(answer_delay).await;
    match loaded {
        Ok(Ok(rows)) => (StatusCode::OK, format!("loaded {rows} rows")),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn load(
    state: &Loading,
    name: &str,
    limit: Option<usize>,
    label: &str,
) -> Result<usize, String> {
    *state
        .deliveries
        .lock()
        .unwrap()
        .entry(name.to_string())
        .or_default() += 1;
    let store = state
        .store
        .get()
        .ok_or("the loader has no storage attached")?;
    let bytes = store.get(name).await.map_err(|e| e.to_string())?;
    let file: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for p in file["props"].as_array().into_iter().flatten() {
        for side in ["over", "under"] {
            for b in p[side]["sportsbooks"].as_array().into_iter().flatten() {
                rows.push(json!({
                    "game_date": file["date"], "market_type": file["market_type"], "source_file_path": label,
                    "event_id": p["event_id"], "offer_id": p["offer_id"], "player_id": p["player_id"],
                    "player_name": p["player_name"], "player_team": p["player_team"], "book_id": b["book_id"],
                    "line": b["line"], "odds": b["odds"], "active": b["active"], "best": b["best"], "updated": b["updated"],
                }));
            }
        }
    }
    rows.truncate(limit.unwrap_or(usize::MAX));
    for chunk in rows.chunks(500) {
        state.bq.insert_rows(DATASET, TABLE, chunk).await;
    }
    Ok(rows.len())
}

/// Scrapes `market` on each of `dates` in-process and has each file loaded, except the files
/// of the `unloaded` dates: those are returned by date (what a recovery must send).
pub async fn scraped_history(
    t: &super::app::TestApp,
    loader: &Loader,
    market: backstop::market::MarketType,
    dates: impl IntoIterator<Item = backstop::calendar::GameDate>,
    unloaded: &[backstop::calendar::GameDate],
) -> HashMap<backstop::calendar::GameDate, String> {
    let mut left = HashMap::new();
    for date in dates {
        let req = backstop::scrape::ScrapeRequest {
            scraper: backstop::run::Scraper::PlayerProps,
            date,
            markets: backstop::market::MarketSelection::One(market),
            trigger: backstop::run::Trigger::Cli,
        };
        let report = t.app.scrapes.run(&req).await.remove(0);
        let name = report.object_name.expect("a file");
        if unloaded.contains(&date) {
            left.insert(date, name);
        } else {
            loader.load(&name).await;
        }
    }
    left
}

impl Loader {
    /// Each of `names` was handed to Phase 2 by a recovery exactly once, and no file was
    /// loaded twice by any route.
    pub fn assert_sent_once_and_none_loaded_twice<'a>(
        &self,
        names: impl IntoIterator<Item = &'a String>,
    ) {
        let requests = self.requests();
        for name in names {
            let sends = requests
                .iter()
                .filter(|r| &r.name == name && r.route == Route::Send)
                .count();
            assert_eq!(sends, 1, "{name} handed to Phase 2 once: {requests:#?}");
        }
        for (name, n) in self.deliveries() {
            assert_eq!(n, 1, "{name} loaded {n} times");
        }
    }
}
