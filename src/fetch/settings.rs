//! How the fetch core behaves towards an upstream: timeouts, attempts, backoff, rate and
//! body cap, read from `BACKSTOP_*` variables.

use std::time::Duration;

use crate::settings::{ConfigError, Vars, ATTEMPTS, MAX_SECS};

/// How the fetch core behaves towards an upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchSettings {
    /// Requests per second to one upstream host, shared by every task in the process.
    pub rate_per_sec: f64,
    /// Requests that may go at once after an idle spell.
    pub burst: u32,
    pub connect_timeout: Duration,
    /// One attempt: headers, body, decoding and JSON parse together.
    pub attempt_timeout: Duration,
    /// Attempts per request, the first one included.
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub retry_after_max: Duration,
    /// Largest decoded body accepted; more is a decompression bomb or a broken upstream.
    pub max_body_bytes: u64,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            rate_per_sec: 0.5,
            burst: 1,
            connect_timeout: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(60),
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            retry_after_max: Duration::from_secs(120),
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

impl FetchSettings {
    /// `BACKSTOP_RATE_PER_SEC` (0.001 to 1000), `BACKSTOP_RATE_BURST` (1 to 1000),
    /// `BACKSTOP_TIMEOUT_SECS`,
    /// `BACKSTOP_MAX_ATTEMPTS`, `BACKSTOP_BACKOFF_BASE_MS`, `BACKSTOP_BACKOFF_MAX_MS`,
    /// `BACKSTOP_RETRY_AFTER_MAX_SECS`, `BACKSTOP_MAX_BODY_BYTES`.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let d = FetchSettings::default();
        let millis = |var, default: Duration| -> Result<Duration, ConfigError> {
            let ms = vars.whole(var, default.as_millis() as u64, 1..=MAX_SECS as u64 * 1000)?;
            Ok(Duration::from_millis(ms))
        };
        let fetch = FetchSettings {
            rate_per_sec: vars.number("BACKSTOP_RATE_PER_SEC", d.rate_per_sec, 0.001..=1000.0)?,
            burst: vars.whole("BACKSTOP_RATE_BURST", d.burst.into(), 1..=1000)? as u32,
            connect_timeout: d.connect_timeout,
            attempt_timeout: vars.secs("BACKSTOP_TIMEOUT_SECS", d.attempt_timeout)?,
            max_attempts: vars.whole("BACKSTOP_MAX_ATTEMPTS", d.max_attempts.into(), ATTEMPTS)?
                as u32,
            backoff_base: millis("BACKSTOP_BACKOFF_BASE_MS", d.backoff_base)?,
            backoff_max: millis("BACKSTOP_BACKOFF_MAX_MS", d.backoff_max)?,
            retry_after_max: Duration::from_secs(vars.whole(
                "BACKSTOP_RETRY_AFTER_MAX_SECS",
                d.retry_after_max.as_secs(),
                0..=MAX_SECS as u64,
            )?),
            // A body must fit in memory, a Cloud Run instance's included.
            max_body_bytes: vars.whole(
                "BACKSTOP_MAX_BODY_BYTES",
                d.max_body_bytes,
                1024..=1 << 30,
            )?,
        };
        if fetch.backoff_max < fetch.backoff_base {
            return Err(ConfigError {
                var: "BACKSTOP_BACKOFF_MAX_MS",
                value: fetch.backoff_max.as_millis().to_string(),
                reason: "must not be below BACKSTOP_BACKOFF_BASE_MS".into(),
            });
        }
        Ok(fetch)
    }
}
