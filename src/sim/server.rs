//! A local BettingPros on 127.0.0.1 that speaks the real protocol: real compression (with
//! and without `Content-Encoding`), real pagination from a [`Catalogue`], the real failure
//! bodies from `fixtures/failures/`, an API-key check, an optional rate limit enforced with
//! 429s, and scripted or seeded faults. Raw TCP, so it can also cut bodies off, stall and
//! reset connections. Used by the tests, the offline demo and the benchmarks.
//!
//! It can also refuse whole sources with the real 403, as BettingPros refuses IP ranges. Every
//! test proxy connects from 127.0.0.1, so a source is told by the `Forwarded: by=NAME` header
//! the test proxies add (see `tests/it/support/proxy_tag.py`), and is `direct` without one.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::catalogue::Catalogue;
use super::faults::{Fault, FaultPlan};
use super::rate::RateCheck;
use super::wire::{write_answer, write_fault, Plain, BAD_REQUEST, FORBIDDEN, NOT_FOUND, TOO_MANY};
use crate::calendar::GameDate;

pub use super::wire::{bomb, compress, Encoding};

#[derive(Clone)]
pub struct SimConfig {
    pub catalogue: Catalogue,
    /// When set, requests without this `X-Api-Key` get the real 403.
    pub api_key: Option<String>,
    pub encoding: Encoding,
    /// Whether compressed answers carry `Content-Encoding` (the CDN sometimes left it out).
    pub announce_encoding: bool,
    /// Requests per second the upstream tolerates, counted over time as a real limiter counts
    /// them: at most `2 × rate` in any 1.9 s, and never two within a quarter of an interval.
    /// Arrivals beyond that get 429 + `Retry-After: 1` and count as violations.
    pub rate_limit: Option<f64>,
    /// Added before every answer (production answers take seconds).
    pub latency: Duration,
    pub faults: FaultPlan,
    /// Sources answered with the real 403 (`direct`, or a proxy's `Forwarded: by=` name).
    pub blocked_sources: Vec<String>,
}

impl SimConfig {
    pub fn new(catalogue: Catalogue) -> Self {
        Self {
            catalogue,
            api_key: None,
            encoding: Encoding::Brotli,
            announce_encoding: true,
            rate_limit: None,
            latency: Duration::ZERO,
            faults: FaultPlan::none(),
            blocked_sources: Vec::new(),
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// What was answered: a status, or the fault's name.
    pub answer: String,
}

impl Arrival {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Who sent it, as the upstream tells: the `by=` of a `Forwarded` header a proxy added,
    /// else `direct`.
    pub fn source(&self) -> String {
        self.header("forwarded")
            .and_then(|f| {
                f.split([';', ','])
                    .find_map(|part| part.trim().strip_prefix("by="))
            })
            .map(|by| by.trim_matches('"').to_string())
            .unwrap_or_else(|| "direct".into())
    }
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.replace("%3A", ":").replace("%3a", ":"))
        })
    }
}

struct State {
    config: SimConfig,
    arrivals: Mutex<Vec<Arrival>>,
    scripted: Mutex<VecDeque<Fault>>,
    rate: RateCheck,
    /// Requests whose path and query contain the text always get the fault.
    rules: Mutex<Vec<(String, Fault)>>,
    blocked: Mutex<Vec<String>>,
}

pub struct SimServer {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl SimServer {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start(config: SimConfig) -> std::io::Result<SimServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let scripted = config.faults.script.clone();
        let blocked = Mutex::new(config.blocked_sources.clone());
        let rate = RateCheck::new(config.rate_limit);
        let state = Arc::new(State {
            blocked,
            rate,
            config,
            arrivals: Mutex::new(Vec::new()),
            scripted: Mutex::new(scripted),
            rules: Mutex::new(Vec::new()),
        });
        let serving = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, state).await;
                });
            }
        });
        Ok(SimServer { addr, state, task })
    }

    /// `http://127.0.0.1:PORT/v3`, the value for `BETTINGPROS_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v3", self.addr)
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.state.arrivals.lock().expect("arrivals lock").clone()
    }

    /// Queues faults for the next requests, in order, ahead of the seeded ones.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state
            .scripted
            .lock()
            .expect("script lock")
            .extend(faults);
    }

    /// From now on, every request whose path and query contain `text` gets `fault`.
    pub fn fail_when(&self, text: &str, fault: Fault) {
        self.state
            .rules
            .lock()
            .expect("rules lock")
            .push((text.to_string(), fault));
    }

    /// From now on, answers these sources (and only these) with the real 403.
    pub fn block(&self, sources: &[&str]) {
        *self.state.blocked.lock().expect("blocked lock") =
            sources.iter().map(|s| s.to_string()).collect();
    }

    /// Ends every [`SimServer::fail_when`] rule: the outage is over.
    pub fn clear_rules(&self) {
        self.state.rules.lock().expect("rules lock").clear();
    }

    /// Requests answered 429 because they came faster than the configured rate.
    pub fn rate_violations(&self) -> u64 {
        self.state.rate.violations()
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Request {
    path: String,
    query: String,
    headers: Vec<(String, String)>,
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let (_method, target) = (first.next(), first.next().unwrap_or("/"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Ok(Some(Request {
        path: path.to_string(),
        query: query.to_string(),
        headers,
    }))
}

async fn serve(mut stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let Some(req) = read_request(&mut stream).await? else {
        return Ok(());
    };
    let arrived = Instant::now();
    let fault = next_fault(&state, &format!("{}?{}", req.path, req.query));
    let mut arrival = Arrival {
        at: arrived,
        path: req.path.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        answer: String::new(),
    };
    let config = &state.config;
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
    let answer = if let Some(fault) = fault {
        arrival.answer = fault.name();
        Answer::Fault(fault)
    } else if blocked(&state, &arrival) {
        arrival.answer = "403 blocked source".into();
        Answer::status(403, FORBIDDEN, "application/json")
    } else if !state.rate.admit(arrived) {
        arrival.answer = "429 rate".into();
        Answer::status(429, TOO_MANY, "application/json").retry_after("1")
    } else {
        let a = route(&state.config, &arrival);
        arrival.answer = a.status.to_string();
        Answer::Plain(a)
    };
    state.arrivals.lock().expect("arrivals lock").push(arrival);
    let (encoding, announce) = (config.encoding, config.announce_encoding);
    match answer {
        Answer::Plain(a) => write_answer(&mut stream, &a, encoding, announce).await,
        Answer::Fault(f) => write_fault(&mut stream, f, encoding, announce).await,
    }
}

fn next_fault(state: &State, target: &str) -> Option<Fault> {
    let rules = state.rules.lock().expect("rules lock");
    if let Some((_, fault)) = rules
        .iter()
        .find(|(text, _)| target.contains(text.as_str()))
    {
        return Some(fault.clone());
    }
    drop(rules);
    if let Some(f) = state.scripted.lock().expect("script lock").pop_front() {
        return Some(f);
    }
    state.config.faults.draw()
}

fn blocked(state: &State, arrival: &Arrival) -> bool {
    let blocked = state.blocked.lock().expect("blocked lock");
    !blocked.is_empty() && blocked.contains(&arrival.source())
}

enum Answer {
    Plain(Plain),
    Fault(Fault),
}

impl Answer {
    fn status(status: u16, body: &str, content_type: &'static str) -> Answer {
        Answer::Plain(Plain {
            status,
            body: body.as_bytes().to_vec(),
            content_type,
            retry_after: None,
            compress: false,
        })
    }
    fn retry_after(self, v: &str) -> Answer {
        match self {
            Answer::Plain(p) => Answer::Plain(Plain {
                retry_after: Some(v.to_string()),
                ..p
            }),
            other => other,
        }
    }
}

impl Plain {
    fn json(value: serde_json::Value) -> Plain {
        Plain {
            status: 200,
            body: value.to_string().into_bytes(),
            content_type: "application/json",
            retry_after: None,
            compress: true,
        }
    }
    fn error(status: u16, body: &str) -> Plain {
        Plain {
            status,
            body: body.as_bytes().to_vec(),
            content_type: "application/json",
            retry_after: None,
            compress: false,
        }
    }
}

fn route(config: &SimConfig, req: &Arrival) -> Plain {
    if let Some(key) = &config.api_key {
        if req.header("x-api-key") != Some(key.as_str()) {
            return Plain::error(403, FORBIDDEN);
        }
    }
    match req.path.as_str() {
        "/v3/events" => {
            let date = req.param("date").and_then(|d| d.parse::<GameDate>().ok());
            match (req.param("sport").as_deref(), date) {
                (Some("NBA"), Some(date)) => Plain::json(config.catalogue.events_answer(date)),
                _ => Plain::error(400, BAD_REQUEST),
            }
        }
        "/v3/offers" => offers(config, req).unwrap_or_else(|| Plain::error(400, BAD_REQUEST)),
        _ => Plain::error(404, NOT_FOUND),
    }
}

fn offers(config: &SimConfig, req: &Arrival) -> Option<Plain> {
    let market_id: u32 = req.param("market_id")?.parse().ok()?;
    let event_ids: Vec<u64> = req
        .param("event_id")?
        .split(':')
        .map(|id| id.parse().ok())
        .collect::<Option<_>>()?;
    let limit: u32 = req
        .param("limit")?
        .parse()
        .ok()
        .filter(|l| (1..=10).contains(l))?;
    let page: u32 = req.param("page")?.parse().ok().filter(|p| *p >= 1)?;
    if req.param("sport").as_deref() != Some("NBA")
        || req.param("book_id").as_deref() != Some("null")
    {
        return None;
    }
    config
        .catalogue
        .offers_page(market_id, &event_ids, page, limit)
        .map(Plain::json)
}
