//! The one HTTP client for upstreams. It knows HTTP, not BettingPros.
//!
//! One request = up to `max_attempts` attempts. Each attempt waits for the shared per-host
//! rate limiter, then sends, reads, decodes and parses the body under the per-attempt
//! timeout; whatever breaks on the way is classified by [`outcome::classify`] and, if
//! transient, retried after a full-jitter backoff that never undercuts `Retry-After`. The
//! whole request is bounded by the caller's run deadline, outside the retry loop.
//!
//! Each attempt goes by one route ([`routes`]): direct, or through one proxy of a pool. A
//! route's own failures (403, a proxy's 407, 502/504 or refusal) move the next attempt to
//! another route ([`trail`]); a breaker per (route, upstream host) keeps a failing route out
//! for a cool-down ([`breaker`]). The rate limit stays per upstream host, whatever the route.
//!
//! Redirects are never followed, on any route and to any host (the same one included): the API
//! key goes only to the configured base URL. A 3xx answer fails the request at once
//! ([`Failure::Redirect`], kind `redirect`), naming where it pointed.

pub mod body;
pub mod breaker;
mod exchange;
pub mod limiter;
pub mod outcome;
pub mod proxy_settings;
pub mod proxy_url;
pub mod retry;
pub mod routes;
mod settings;
pub mod trail;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::Retryable;
use reqwest::header::HeaderMap;
use reqwest::Url;
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::settings::ConfigError;
use exchange::Exchange;

pub use breaker::BreakerState;
pub use limiter::{PaceStore, RateLimits, Slot};
pub use outcome::{classify, AttemptError, Class, Failure, FetchError};
pub use proxy_settings::{ProxyMode, ProxySettings};
pub use proxy_url::ProxyEndpoint;
pub use routes::RouteStatus;
use routes::{Route, Routes};
pub use settings::FetchSettings;
pub use trail::RouteKind;
use trail::Trail;

/// One GET to make.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub url: Url,
    /// Headers for this upstream (auth marked sensitive so it never prints).
    pub headers: HeaderMap,
    /// What is being done, for errors and logs: scraper, date, market.
    pub context: String,
    /// The run's deadline; `None` for no bound beyond the attempts.
    pub deadline: Option<Instant>,
}

impl FetchRequest {
    /// Path and query, the part of a URL that is safe and useful in logs.
    pub fn path(&self) -> String {
        match self.url.query() {
            Some(q) => format!("{}?{q}", self.url.path()),
            None => self.url.path().to_string(),
        }
    }

    fn host(&self) -> String {
        match (self.url.host_str(), self.url.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        }
    }
}

/// A successful request.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub json: serde_json::Value,
    /// Decoded body size.
    pub bytes: u64,
    pub attempts: u32,
    /// The route of each attempt, in order (`direct`, a proxy's label or `host:port`).
    pub routes: Vec<String>,
}

#[derive(Clone)]
pub struct Fetcher {
    routes: Arc<Routes>,
    settings: FetchSettings,
    limits: Arc<RateLimits>,
    metrics: Arc<Metrics>,
}

impl Fetcher {
    /// Direct only: every request goes straight to the upstream.
    pub fn new(settings: FetchSettings, limits: Arc<RateLimits>, metrics: Arc<Metrics>) -> Self {
        Self::with_routes(settings, &ProxySettings::default(), limits, metrics)
            .expect("the direct route needs no configuration")
    }

    /// With the routes `proxies` describes: direct, a proxy pool, or direct then the pool.
    /// Builds one HTTP client per route, once.
    pub fn with_routes(
        settings: FetchSettings,
        proxies: &ProxySettings,
        limits: Arc<RateLimits>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConfigError> {
        let routes = Arc::new(Routes::build(&settings, proxies, metrics.clone())?);
        Ok(Self {
            routes,
            settings,
            limits,
            metrics,
        })
    }

    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// Every route's breaker and recent figures, for `GET /proxies`.
    pub fn routes_status(&self) -> Vec<RouteStatus> {
        self.routes.status()
    }

    /// GETs JSON with retries, inside the request's deadline.
    pub async fn get_json(&self, req: &FetchRequest) -> Result<Fetched, FetchError> {
        let last: Mutex<Option<AttemptError>> = Mutex::new(None);
        let trail: Mutex<Trail> = Mutex::new(self.routes.trail());
        let attempts = AtomicU32::new(0);
        let max = self.settings.max_attempts;
        // Refusals may take one attempt per route even past `max_attempts`; the trail decides.
        let limit = max.max(self.routes.len() as u32);
        let path = req.path();
        let host = req.host();
        let run = (|| async {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            let pick = self.routes.pick(&host, &trail.lock().expect("trail lock"));
            let result = self
                .attempt(req, &host, n, self.routes.get(pick.index))
                .await;
            let failure = result.as_ref().err().map(|e| e.failure);
            let verdict = trail
                .lock()
                .expect("trail lock")
                .record(pick.index, failure);
            self.routes
                .record(pick.index, &host, result.as_ref().map(|_| ()), verdict);
            if let Err(e) = &result {
                *last.lock().expect("last error lock") = Some(e.clone());
            }
            result
        })
        .retry(retry::backoff(&self.settings).with_max_times(limit.saturating_sub(1) as usize))
        .sleep(tokio::time::sleep)
        .when(|e: &AttemptError| trail.lock().expect("trail lock").decide(e.failure, max))
        .adjust(|e: &AttemptError, ceiling| {
            if trail.lock().expect("trail lock").switch_now() {
                ceiling.map(|_| Duration::ZERO)
            } else {
                retry::wait(e, ceiling)
            }
        })
        .notify(|e: &AttemptError, wait: Duration| {
            let route = trail.lock().expect("trail lock").last_route();
            self.log_attempt(req, &path, &host, &route, e, Some(wait));
            self.metrics.inc(
                "backstop_upstream_retries_total",
                &[("host", &host), ("outcome", &e.failure.kind())],
            );
            if e.retry_after.is_some() {
                // Everyone waits, not only this task.
                let (limits, paused) = (self.limits.clone(), host.clone());
                let wait = e.retry_after.unwrap_or_default();
                tokio::spawn(async move { limits.host(&paused).push_back(wait).await });
                self.metrics
                    .inc("backstop_rate_limiter_pushbacks_total", &[("host", &host)]);
            }
        });

        let outcome = match req.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, run).await,
            None => Ok(run.await),
        };
        let made = attempts.load(Ordering::SeqCst);
        let trail = trail.into_inner().expect("trail lock");
        let routes = trail.names();
        let err = match outcome {
            Ok(Ok(fetched)) => {
                let fetched = Fetched {
                    attempts: made,
                    routes,
                    ..fetched
                };
                self.log_ok(req, &path, &host, &trail.last_route(), &fetched);
                return Ok(fetched);
            }
            Ok(Err(e)) => {
                self.log_attempt(req, &path, &host, &trail.last_route(), &e, None);
                let refused = trail.refused_everywhere();
                let class = match &refused {
                    Some(r) if r.blocked => Class::Blocked,
                    _ => classify(e.failure),
                };
                let detail = match (&refused, e.detail.is_empty()) {
                    (Some(r), false) => format!("{}; last answer: {}", r.summary, e.detail),
                    (Some(r), true) => r.summary.clone(),
                    (None, _) => e.detail,
                };
                FetchError {
                    failure: e.failure,
                    class,
                    attempts: made,
                    exhausted: refused.is_none() && class != Class::Permanent && made >= max,
                    status: e.status,
                    context: req.context.clone(),
                    path,
                    detail,
                    routes,
                }
            }
            Err(_elapsed) => {
                let previous = last.lock().expect("last error lock").clone();
                FetchError {
                    failure: Failure::Deadline,
                    class: Class::Permanent,
                    attempts: made,
                    exhausted: false,
                    status: previous.as_ref().and_then(|p| p.status),
                    context: req.context.clone(),
                    path,
                    detail: match previous {
                        Some(p) => format!("last attempt: {} {}", p.failure, p.detail),
                        None => "no attempt finished".into(),
                    },
                    routes,
                }
            }
        };
        if err.class == Class::Blocked {
            tracing::error!(
                path = %err.path, attempts = err.attempts, context = %err.context,
                routes = %err.routes.join(","), detail = %err.detail,
                "upstream refused us (403): the API key is missing or wrong, or this IP range is blocked"
            );
        }
        Err(err)
    }

    /// One whole exchange on one route: permit, send, body, decoding, parse — under the
    /// attempt timeout. The permit is the upstream host's, whatever the route.
    async fn attempt(
        &self,
        req: &FetchRequest,
        host: &str,
        n: u32,
        route: &Route,
    ) -> Result<Fetched, AttemptError> {
        let waited = self.limits.host(host).acquire().await;
        if waited > Duration::from_millis(1) {
            self.metrics.add(
                "backstop_rate_limiter_wait_seconds_total",
                &[("host", host)],
                waited.as_secs_f64(),
            );
        }
        let start = Instant::now();
        let result = tokio::time::timeout(
            self.settings.attempt_timeout,
            exchange::exchange(&route.client, &self.settings, req),
        )
        .await
        .unwrap_or_else(|_| Err(Exchange::timeout(self.settings.attempt_timeout)));
        let elapsed = start.elapsed();
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err(e) => e.failure.kind(),
        };
        self.metrics.inc(
            "backstop_upstream_attempts_total",
            &[("host", host), ("outcome", &outcome)],
        );
        result
            .map(|(json, bytes)| Fetched {
                json,
                bytes,
                attempts: n,
                routes: Vec::new(),
            })
            .map_err(|e| AttemptError {
                failure: e.failure,
                attempt: n,
                status: e.status,
                retry_after: e.retry_after,
                bytes: e.bytes,
                elapsed,
                detail: e.detail,
            })
    }

    fn log_ok(&self, req: &FetchRequest, path: &str, host: &str, route: &str, f: &Fetched) {
        tracing::info!(
            context = %req.context, path, host, route, attempt = f.attempts, status = 200u16,
            bytes = f.bytes, "upstream answered"
        );
    }

    fn log_attempt(
        &self,
        req: &FetchRequest,
        path: &str,
        host: &str,
        route: &str,
        e: &AttemptError,
        wait: Option<Duration>,
    ) {
        let wait_ms = wait.map(|w| w.as_millis() as u64);
        tracing::warn!(
            context = %req.context, path, host, route, attempt = e.attempt,
            status = e.status, error_kind = %e.failure.kind(), bytes = e.bytes,
            elapsed_ms = e.elapsed.as_millis() as u64, wait_ms,
            retry_after_s = e.retry_after.map(|d| d.as_secs_f64()),
            detail = %e.detail,
            "upstream attempt via {route} failed: {}{}", e.failure,
            if wait.is_some() { ", retrying" } else { ", giving up" }
        );
    }
}
