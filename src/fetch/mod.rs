//! The one HTTP client for upstreams. It knows HTTP, not BettingPros.
//!
//! One request = up to `max_attempts` attempts. Each attempt waits for the shared per-host
//! rate limiter, then sends, reads, decodes and parses the body under the per-attempt
//! timeout; whatever breaks on the way is classified by [`outcome::classify`] and, if
//! transient, retried after a full-jitter backoff that never undercuts `Retry-After`. The
//! whole request is bounded by the caller's run deadline, outside the retry loop.

pub mod body;
pub mod limiter;
pub mod outcome;
pub mod proxy_settings;
pub mod proxy_url;
pub mod retry;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use backon::Retryable;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::Url;
use tokio::time::Instant;

use crate::config::FetchSettings;
use crate::metrics::Metrics;

pub use limiter::RateLimits;
pub use outcome::{classify, AttemptError, Class, Failure, FetchError};
pub use proxy_settings::{ProxyMode, ProxySettings};
pub use proxy_url::ProxyEndpoint;
use retry::RetryPolicy;

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
}

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    settings: FetchSettings,
    limits: Arc<RateLimits>,
    metrics: Arc<Metrics>,
}

impl Fetcher {
    pub fn new(settings: FetchSettings, limits: Arc<RateLimits>, metrics: Arc<Metrics>) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .no_proxy()
            .build()
            .expect("the HTTP client builds with static settings");
        Self {
            client,
            settings,
            limits,
            metrics,
        }
    }

    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// GETs JSON with retries, inside the request's deadline.
    pub async fn get_json(&self, req: &FetchRequest) -> Result<Fetched, FetchError> {
        let last: Mutex<Option<AttemptError>> = Mutex::new(None);
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let mut policy = RetryPolicy::new();
        let path = req.path();
        let host = req.host();
        let run = (|| async {
            let n = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let result = self.attempt(req, &host, n).await;
            if let Err(e) = &result {
                *last.lock().expect("last error lock") = Some(e.clone());
            }
            result
        })
        .retry(retry::backoff(&self.settings))
        .sleep(tokio::time::sleep)
        .when(|e: &AttemptError| policy.should_retry(e))
        .adjust(|e: &AttemptError, ceiling| RetryPolicy::wait(e, ceiling))
        .notify(|e: &AttemptError, wait: Duration| {
            self.log_attempt(req, &path, &host, Err(e), Some(wait));
            self.metrics.inc(
                "backstop_upstream_retries_total",
                &[("host", &host), ("outcome", &e.failure.kind())],
            );
            if e.retry_after.is_some() {
                // Everyone waits, not only this task.
                self.limits
                    .host(&host)
                    .push_back(e.retry_after.unwrap_or_default());
                self.metrics
                    .inc("backstop_rate_limiter_pushbacks_total", &[("host", &host)]);
            }
        });

        let outcome = match req.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, run).await,
            None => Ok(run.await),
        };
        let made = attempts.load(std::sync::atomic::Ordering::SeqCst);
        let err = match outcome {
            Ok(Ok(fetched)) => {
                let fetched = Fetched {
                    attempts: made,
                    ..fetched
                };
                self.log_ok(req, &path, &host, &fetched);
                return Ok(fetched);
            }
            Ok(Err(e)) => {
                self.log_attempt(req, &path, &host, Err(&e), None);
                let class = classify(e.failure);
                FetchError {
                    failure: e.failure,
                    class,
                    attempts: made,
                    exhausted: class != Class::Permanent && made >= self.settings.max_attempts,
                    status: e.status,
                    context: req.context.clone(),
                    path,
                    detail: e.detail,
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
                }
            }
        };
        if err.class == Class::Blocked {
            tracing::error!(
                path = %err.path, attempts = err.attempts, context = %err.context,
                "upstream refused us (403): the API key is missing or wrong, or this IP range is blocked"
            );
        }
        Err(err)
    }

    /// One whole exchange: permit, send, body, decoding, parse — under the attempt timeout.
    async fn attempt(
        &self,
        req: &FetchRequest,
        host: &str,
        n: u32,
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
        let result = tokio::time::timeout(self.settings.attempt_timeout, self.exchange(req))
            .await
            .unwrap_or_else(|_| {
                Err(Exchange {
                    failure: Failure::Timeout,
                    status: None,
                    retry_after: None,
                    bytes: 0,
                    detail: format!(
                        "no complete answer within {:?}",
                        self.settings.attempt_timeout
                    ),
                })
            });
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

    async fn exchange(&self, req: &FetchRequest) -> Result<(serde_json::Value, u64), Exchange> {
        let resp = self
            .client
            .get(req.url.clone())
            .headers(req.headers.clone())
            .send()
            .await
            .map_err(|e| Exchange::transport(&e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                retry::parse_retry_after(v, SystemTime::now(), self.settings.retry_after_max)
            });
        let cap = self.settings.max_body_bytes;
        let fail = |failure: Failure, bytes: u64, detail: String| Exchange {
            failure,
            status: Some(status),
            retry_after,
            bytes,
            detail,
        };
        if !(200..300).contains(&status) {
            let body = body::read_capped(resp, 64 * 1024).await.unwrap_or_default();
            let failure = Failure::Status(status);
            return Err(fail(failure, body.len() as u64, body::excerpt(&body)));
        }
        let raw = body::read_capped(resp, cap)
            .await
            .map_err(|(f, d)| fail(f, 0, d))?;
        let decoded = body::decode_unannounced(raw, cap).map_err(|(f, d)| fail(f, 0, d))?;
        let bytes = decoded.len() as u64;
        let json = body::parse_json(&decoded).map_err(|(f, d)| fail(f, bytes, d))?;
        Ok((json, bytes))
    }

    fn log_ok(&self, req: &FetchRequest, path: &str, host: &str, f: &Fetched) {
        tracing::info!(
            context = %req.context, path, host, attempt = f.attempts, status = 200u16,
            bytes = f.bytes, "upstream answered"
        );
    }

    fn log_attempt(
        &self,
        req: &FetchRequest,
        path: &str,
        host: &str,
        result: Result<(), &AttemptError>,
        wait: Option<Duration>,
    ) {
        let Err(e) = result else { return };
        let wait_ms = wait.map(|w| w.as_millis() as u64);
        tracing::warn!(
            context = %req.context, path, host, attempt = e.attempt,
            status = e.status, error_kind = %e.failure.kind(), bytes = e.bytes,
            elapsed_ms = e.elapsed.as_millis() as u64, wait_ms,
            retry_after_s = e.retry_after.map(|d| d.as_secs_f64()),
            detail = %e.detail,
            "upstream attempt failed: {}{}", e.failure,
            if wait.is_some() { ", retrying" } else { ", giving up" }
        );
    }
}

/// How one exchange failed, before the attempt number and timing are attached.
struct Exchange {
    failure: Failure,
    status: Option<u16>,
    retry_after: Option<Duration>,
    bytes: u64,
    detail: String,
}

impl Exchange {
    fn transport(e: &reqwest::Error) -> Self {
        let failure = if e.is_timeout() {
            Failure::Timeout
        } else if e.is_connect() {
            Failure::Connect
        } else {
            Failure::Reset
        };
        Self {
            failure,
            status: None,
            retry_after: None,
            bytes: 0,
            detail: body::error_chain(e),
        }
    }
}
