//! The one HTTP client for upstreams. It knows HTTP, not BettingPros.
//!
//! One request = up to `max_attempts` attempts, in a plain loop ([`Fetcher::get_json`]). Each
//! attempt waits for the shared per-host rate limiter, then sends, reads, decodes and parses
//! the body under the per-attempt timeout; whatever breaks on the way is classified by
//! [`outcome::classify`], and the retry policy ([`retry::Policy`]) decides what follows: retry
//! after a full-jitter backoff that never undercuts `Retry-After`, switch to an untried route
//! at once, or stop — each decision with its reason, logged once with its metric. The whole
//! request is bounded by the caller's run deadline, outside the retry loop.
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

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Url;
use tokio::time::Instant;

use crate::metrics::{self, Metrics};
use crate::settings::ConfigError;
use exchange::Exchange;
use retry::{Decision, Policy};

pub use breaker::BreakerState;
pub use limiter::{PaceStore, RateLimits, Slot};
pub use outcome::{classify, outcome_label, AttemptError, Class, Failure, FetchError};
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
        let host = req.host();
        let mut tries = Tries {
            trail: self.routes.trail(),
            made: 0,
            last: None,
        };
        let retrying = self.retry_loop(req, &host, &mut tries);
        let outcome = match req.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, retrying).await,
            None => Ok(retrying.await),
        };
        let err = match outcome {
            Ok(Ok(fetched)) => {
                let fetched = Fetched {
                    attempts: tries.made,
                    routes: tries.trail.names(),
                    ..fetched
                };
                self.log_ok(req, &host, &tries.trail.last_route(), &fetched);
                return Ok(fetched);
            }
            Ok(Err(e)) => gave_up(req, &tries, e, self.settings.max_attempts),
            Err(_elapsed) => out_of_time(req, &tries),
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

    /// The retry loop: an attempt, then the policy's decision about its failure, until one
    /// succeeds or the policy stops. Each attempt runs under the attempt timeout
    /// ([`Fetcher::attempt`]); the run deadline bounds the loop from outside ([`Fetcher::get_json`]).
    async fn retry_loop(
        &self,
        req: &FetchRequest,
        host: &str,
        tries: &mut Tries,
    ) -> Result<Fetched, AttemptError> {
        let policy = Policy::new(&self.settings);
        loop {
            tries.made += 1;
            let pick = self.routes.pick(host, &tries.trail);
            let route = self.routes.get(pick.index);
            let result = self.attempt(req, host, tries.made, route).await;
            let failure = result.as_ref().err().map(|e| e.failure);
            let verdict = tries.trail.record(pick.index, failure);
            let answered = result.as_ref().map(|_| ());
            self.routes.record(pick.index, host, answered, verdict);
            let err = match result {
                Ok(fetched) => return Ok(fetched),
                Err(e) => e,
            };
            let decision = policy.decide(&tries.trail, &err);
            self.on_decision(req, host, &route.name, &err, decision);
            if let Decision::Stop(_) = decision {
                return Err(err);
            }
            tries.last = Some(err);
            if let Decision::RetryAfter(wait, _) = decision {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// The one place a failed attempt and the decision about it are told: one log line with
    /// the decision's reason; for a retry, its metric and, when the upstream asked for a
    /// pause (`Retry-After`), the pause of the shared rate limiter with its metric.
    fn on_decision(
        &self,
        req: &FetchRequest,
        host: &str,
        route: &str,
        e: &AttemptError,
        decision: Decision,
    ) {
        tracing::warn!(
            context = %req.context, path = %req.path(), host, route, attempt = e.attempt,
            status = e.status, error_kind = %e.failure.kind(), bytes = e.bytes,
            elapsed_ms = e.elapsed.as_millis() as u64,
            wait_ms = decision.wait().map(|w| w.as_millis() as u64),
            retry_after_s = e.retry_after.map(|d| d.as_secs_f64()),
            reason = decision.reason().as_str(), detail = %e.detail,
            "upstream attempt via {route} failed: {}; {decision}", e.failure
        );
        if let Decision::Stop(_) = decision {
            return;
        }
        let outcome = outcome_label(Some(e.failure));
        self.metrics
            .inc(&metrics::UPSTREAM_RETRIES, [host, &outcome]);
        if let Some(pause) = e.retry_after {
            // Everyone waits, not only this task (and every instance, on a shared ledger).
            let (limits, paused) = (self.limits.clone(), host.to_string());
            tokio::spawn(async move { limits.host(&paused).push_back(pause).await });
            self.metrics.inc(&metrics::RATE_LIMITER_PUSHBACKS, [host]);
        }
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
                &metrics::RATE_LIMITER_WAIT_SECONDS,
                [host],
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
        let outcome = outcome_label(result.as_ref().err().map(|e| e.failure));
        self.metrics
            .inc(&metrics::UPSTREAM_ATTEMPTS, [host, &outcome]);
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

    fn log_ok(&self, req: &FetchRequest, host: &str, route: &str, f: &Fetched) {
        tracing::info!(
            context = %req.context, path = %req.path(), host, route, attempt = f.attempts,
            status = 200u16, bytes = f.bytes, "upstream answered"
        );
    }
}

/// One request's attempts so far: what is known when the retry loop stops or is cut off.
struct Tries {
    trail: Trail,
    /// Attempts started (one the deadline cut off included).
    made: u32,
    /// The latest failed attempt that was retried.
    last: Option<AttemptError>,
}

/// The request's error when the policy stopped after `e`: when every route refused, the
/// summary of how, and `Blocked` if any said 403.
fn gave_up(req: &FetchRequest, tries: &Tries, e: AttemptError, max_attempts: u32) -> FetchError {
    let refused = tries.trail.refused_everywhere();
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
        attempts: tries.made,
        exhausted: refused.is_none() && class != Class::Permanent && tries.made >= max_attempts,
        status: e.status,
        context: req.context.clone(),
        path: req.path(),
        detail,
        routes: tries.trail.names(),
    }
}

/// The request's error when the run deadline cut the retry loop off: it names the last
/// attempt's cause.
fn out_of_time(req: &FetchRequest, tries: &Tries) -> FetchError {
    FetchError {
        failure: Failure::Deadline,
        class: Class::Permanent,
        attempts: tries.made,
        exhausted: false,
        status: tries.last.as_ref().and_then(|p| p.status),
        context: req.context.clone(),
        path: req.path(),
        detail: match &tries.last {
            Some(p) => format!("last attempt: {} {}", p.failure, p.detail),
            None => "no attempt finished".into(),
        },
        routes: tries.trail.names(),
    }
}
