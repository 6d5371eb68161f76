//! The ways to reach an upstream: direct and each forward proxy, one `reqwest::Client` per
//! route built once. Picks a route per attempt (breaker-admitted first, spread round-robin over
//! the pool, never the route that just failed through its own fault when another is left),
//! keeps a breaker per (route, upstream host), and the figures behind `GET /proxies`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;

use super::breaker::{Admission, Breaker, BreakerState, Verdict};
use super::outcome::{outcome_label, AttemptError, Failure};
use super::proxy_settings::{ProxyMode, ProxySettings, PROXIES_VAR};
use super::trail::{RouteKind, Trail};
use super::FetchSettings;
use crate::metrics::{self, Metrics};
use crate::run::ErrorKind;
use crate::settings::ConfigError;

/// How many of a route's latest attempts `/proxies` counts.
pub const RECENT: usize = 100;

/// One way to reach upstreams.
pub struct Route {
    /// `direct`, or the proxy's label or `host:port`.
    pub name: String,
    pub kind: RouteKind,
    /// For messages: `res-1 (10.0.0.5:8080)`.
    pub described: String,
    /// The proxy's `host:port`; `None` for direct.
    pub address: Option<String>,
    pub(crate) client: reqwest::Client,
}

/// A route as `GET /proxies` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RouteStatus {
    pub name: String,
    pub kind: RouteKind,
    pub address: Option<String>,
    /// The worst breaker over the upstream hosts this route has been used for.
    pub breaker: BreakerState,
    pub breakers: BTreeMap<String, BreakerState>,
    /// Over the route's last [`RECENT`] attempts.
    pub recent_successes: u64,
    /// Over the route's last [`RECENT`] attempts, by kind (`http_403`, `connect`, …).
    pub recent_failures: BTreeMap<String, u64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
}

/// The route chosen for one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub index: usize,
    /// Every candidate's breaker was open: this one's cool-down ends first.
    pub forced: bool,
}

#[derive(Default)]
struct Figures {
    /// The latest attempts' failures (`None` for a success), oldest first.
    recent: VecDeque<Option<ErrorKind>>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
}

struct Book {
    breakers: HashMap<(usize, String), Breaker>,
    figures: Vec<Figures>,
}

pub struct Routes {
    routes: Vec<Route>,
    cursor: AtomicUsize,
    book: Mutex<Book>,
    settings: ProxySettings,
    metrics: Arc<Metrics>,
}

impl Routes {
    /// The routes `proxies.mode` asks for, each with its own client.
    pub fn build(
        fetch: &FetchSettings,
        proxies: &ProxySettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConfigError> {
        // Redirects are never followed: the API key goes only to the configured upstream address.
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(fetch.connect_timeout)
                .redirect(reqwest::redirect::Policy::none())
        };
        let mut routes = Vec::new();
        if proxies.mode != ProxyMode::Proxies {
            routes.push(Route {
                name: "direct".into(),
                kind: RouteKind::Direct,
                described: "direct".into(),
                address: None,
                client: builder()
                    .no_proxy()
                    .build()
                    .expect("the HTTP client builds with static settings"),
            });
        }
        if proxies.mode != ProxyMode::Direct {
            for endpoint in &proxies.proxies {
                let fail = |reason: String| ConfigError {
                    var: PROXIES_VAR,
                    value: endpoint.name(),
                    reason,
                };
                let proxy = endpoint.to_reqwest().map_err(fail)?;
                let client = builder().proxy(proxy).build().map_err(|e| {
                    fail(format!(
                        "could not build an HTTP client for this proxy: {e}"
                    ))
                })?;
                routes.push(Route {
                    name: endpoint.name(),
                    kind: RouteKind::Proxy,
                    described: endpoint.described(),
                    address: Some(endpoint.address()),
                    client,
                });
            }
        }
        for route in &routes {
            metrics.set(
                &metrics::ROUTE_BREAKER_STATE,
                [&route.name],
                BreakerState::Closed.gauge(),
            );
        }
        let book = Book {
            breakers: HashMap::new(),
            figures: routes.iter().map(|_| Figures::default()).collect(),
        };
        Ok(Self {
            routes,
            cursor: AtomicUsize::new(0),
            book: Mutex::new(book),
            settings: proxies.clone(),
            metrics,
        })
    }

    pub fn get(&self, index: usize) -> &Route {
        &self.routes[index]
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// A trail for one request over these routes; successive requests start at successive
    /// proxies of the pool.
    pub fn trail(&self) -> Trail {
        Trail::new(
            self.routes
                .iter()
                .map(|r| (r.name.clone(), r.kind))
                .collect(),
            self.cursor.fetch_add(1, Ordering::Relaxed),
        )
    }

    /// The route for the next attempt of a request to `host`.
    pub fn pick(&self, host: &str, trail: &Trail) -> Pick {
        let mut order: Vec<usize> = self
            .routes
            .iter()
            .position(|r| r.kind == RouteKind::Direct)
            .into_iter()
            .collect();
        let mut pool: Vec<usize> = (0..self.routes.len())
            .filter(|&r| self.routes[r].kind == RouteKind::Proxy)
            .collect();
        if !pool.is_empty() {
            let start = trail.rotation() % pool.len();
            pool.rotate_left(start);
        }
        order.extend(pool);
        order.retain(|&r| !trail.refused(r));
        if let (Some(avoid), true) = (trail.avoid(), order.len() > 1) {
            order.sort_by_key(|&r| r == avoid);
        }
        if order.is_empty() {
            // The retry decision stops before this; keep going on the first route regardless.
            order.push(0);
        }
        let now = Instant::now();
        let mut book = self.book.lock().expect("routes lock");
        let mut soonest: Option<(usize, Instant)> = None;
        for &r in &order {
            match self.breaker(&mut book, r, host).admit(now) {
                Admission::Go | Admission::Trial => {
                    return Pick {
                        index: r,
                        forced: false,
                    }
                }
                Admission::Refused { until } => {
                    if soonest.is_none_or(|(_, s)| until < s) {
                        soonest = Some((r, until));
                    }
                }
            }
        }
        let (index, until) = soonest.expect("at least one candidate route");
        if self.routes.len() > 1 {
            tracing::warn!(
                route = %self.routes[index].name, host,
                reopens_in_s = until.saturating_duration_since(now).as_secs_f64(),
                "every route to {host} left to this request has an open breaker; trying {}, whose cool-down ends first",
                self.routes[index].name
            );
        }
        Pick {
            index,
            forced: true,
        }
    }

    /// Takes an attempt's outcome: breaker, figures, metrics, and the loud 407 message.
    pub fn record(
        &self,
        index: usize,
        host: &str,
        result: Result<(), &AttemptError>,
        verdict: Verdict,
    ) {
        let route = &self.routes[index];
        let failure = result.err().map(|e| e.failure);
        let outcome = outcome_label(failure);
        self.metrics
            .inc(&metrics::ROUTE_ATTEMPTS, [&route.name, &outcome]);
        if let Err(e) = result {
            if route.kind == RouteKind::Proxy && e.failure == Failure::Status(407) {
                tracing::error!(
                    route = %route.name, host, status = 407u16,
                    "proxy {} rejected our credentials (407): check {PROXIES_VAR}; a password with + @ / must be given as is or percent-encoded",
                    route.described
                );
            }
        }
        let now = Instant::now();
        let mut book = self.book.lock().expect("routes lock");
        let figures = &mut book.figures[index];
        if figures.recent.len() == RECENT {
            figures.recent.pop_front();
        }
        figures.recent.push_back(failure.map(Failure::kind));
        match result {
            Ok(()) => figures.last_success_at = Some(Utc::now()),
            Err(e) => {
                let mut said = format!("{}: {}", e.failure, e.detail);
                if said.len() > 300 {
                    let cut = (0..=300).rev().find(|&i| said.is_char_boundary(i));
                    said.truncate(cut.unwrap_or(0));
                }
                figures.last_error = Some(said);
                figures.last_error_at = Some(Utc::now());
            }
        }
        let changed = self.breaker(&mut book, index, host).record(verdict, now);
        if let Some(state) = changed {
            let cooldown_s = self.settings.cooldown.as_secs_f64();
            match state {
                BreakerState::Open => tracing::warn!(
                    route = %route.name, host, breaker = state.as_str(), cooldown_s,
                    "route {} to {host} is out for {cooldown_s} s: its breaker opened after {outcome}",
                    route.described
                ),
                _ => tracing::info!(
                    route = %route.name, host, breaker = state.as_str(),
                    "route {} to {host}: breaker {}", route.described, state.as_str()
                ),
            }
            let worst = Self::worst(&book, index, now);
            self.metrics
                .set(&metrics::ROUTE_BREAKER_STATE, [&route.name], worst.gauge());
        }
    }

    /// Every route's state and recent figures; refreshes the breaker gauges.
    pub fn status(&self) -> Vec<RouteStatus> {
        let now = Instant::now();
        let book = self.book.lock().expect("routes lock");
        self.routes
            .iter()
            .enumerate()
            .map(|(i, route)| {
                let breakers: BTreeMap<String, BreakerState> = book
                    .breakers
                    .iter()
                    .filter(|((r, _), _)| *r == i)
                    .map(|((_, host), b)| (host.clone(), b.state(now)))
                    .collect();
                let breaker = Self::worst(&book, i, now);
                self.metrics.set(
                    &metrics::ROUTE_BREAKER_STATE,
                    [&route.name],
                    breaker.gauge(),
                );
                let figures = &book.figures[i];
                let mut recent_failures = BTreeMap::new();
                for kind in figures.recent.iter().flatten() {
                    *recent_failures.entry(kind.to_string()).or_insert(0) += 1;
                }
                RouteStatus {
                    name: route.name.clone(),
                    kind: route.kind,
                    address: route.address.clone(),
                    breaker,
                    breakers,
                    recent_successes: figures.recent.iter().filter(|k| k.is_none()).count() as u64,
                    recent_failures,
                    last_error: figures.last_error.clone(),
                    last_error_at: figures.last_error_at,
                    last_success_at: figures.last_success_at,
                }
            })
            .collect()
    }

    fn breaker<'b>(&self, book: &'b mut Book, route: usize, host: &str) -> &'b mut Breaker {
        book.breakers
            .entry((route, host.to_string()))
            .or_insert_with(|| Breaker::new(self.settings.failures_to_open, self.settings.cooldown))
    }

    fn worst(book: &Book, route: usize, now: Instant) -> BreakerState {
        book.breakers
            .iter()
            .filter(|((r, _), _)| *r == route)
            .map(|(_, b)| b.state(now))
            .max()
            .unwrap_or(BreakerState::Closed)
    }
}
