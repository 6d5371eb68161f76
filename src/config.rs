//! Typed settings, read once from the environment and validated at start-up.
//!
//! Every variable name here is a contract with operators and scripts. A bad value fails at
//! boot with a message naming the variable, not at 3 a.m. on the first scrape.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A secret value: kept out of `Debug` and `Display` so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself: call only where it is sent, never where it is logged.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {var}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

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

pub const DEFAULT_BASE_URL: &str = "https://api.bettingpros.com/v3";

#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub base_url: String,
    /// `None` when the secret is not mounted: every scrape then fails before sending anything.
    pub api_key: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub upstream: UpstreamSettings,
    pub fetch: FetchSettings,
    /// How requests leave: directly, through a proxy pool, or both.
    pub proxies: crate::fetch::ProxySettings,
    /// Bound on a whole run (all its requests and retries), outside the retry loop.
    pub run_deadline: Duration,
    pub storage: crate::storage::StorageLocation,
    /// The run ledger: a SQLite file, or a PostgreSQL database shared by every instance.
    pub ledger: crate::ledger::LedgerLocation,
    /// How long this instance's hold on a run or job lasts without a heartbeat.
    pub lease: Duration,
    /// The Cloud Run revision (`K_REVISION`), the first part of this instance's owner id.
    pub revision: Option<String>,
    pub pubsub: crate::notify::pubsub::PubSubSettings,
    pub warehouse: crate::warehouse::WarehouseSettings,
    pub phase2: crate::phase2::Phase2Settings,
    /// How long a recovery waits for Phase 2 to load re-scraped files before checking again.
    pub recovery_settle: Duration,
    /// A file announced on Pub/Sub less than this long ago may still be on its way to Phase 2:
    /// recovery does not send it.
    pub pending_load: Duration,
    pub port: u16,
    /// How long in-flight runs may finish after SIGTERM (Cloud Run allows 10 s).
    pub shutdown_grace: Duration,
}

/// Reads variables from a map (tests) or the process environment.
pub struct Vars(HashMap<String, String>);

impl Vars {
    pub fn from_env() -> Self {
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The value, or `None` when unset or blank.
    pub fn get(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn parse<T: FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError {
                var,
                value: raw.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    pub fn path(&self, var: &'static str) -> Option<PathBuf> {
        self.get(var).map(PathBuf::from)
    }

    pub(crate) fn positive_f64(&self, var: &'static str, default: f64) -> Result<f64, ConfigError> {
        let v = self.parse(var, default)?;
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(ConfigError {
                var,
                value: v.to_string(),
                reason: "must be a number above 0".into(),
            })
        }
    }

    pub(crate) fn at_least(
        &self,
        var: &'static str,
        default: u64,
        min: u64,
    ) -> Result<u64, ConfigError> {
        let v = self.parse(var, default)?;
        if v >= min {
            Ok(v)
        } else {
            Err(ConfigError {
                var,
                value: v.to_string(),
                reason: format!("must be at least {min}"),
            })
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let d = FetchSettings::default();
        let fetch = FetchSettings {
            rate_per_sec: vars.positive_f64("BACKSTOP_RATE_PER_SEC", d.rate_per_sec)?,
            burst: vars.at_least("BACKSTOP_RATE_BURST", d.burst.into(), 1)? as u32,
            connect_timeout: d.connect_timeout,
            attempt_timeout: secs_f64(
                vars.positive_f64("BACKSTOP_TIMEOUT_SECS", d.attempt_timeout.as_secs_f64())?,
            ),
            max_attempts: vars.at_least("BACKSTOP_MAX_ATTEMPTS", d.max_attempts.into(), 1)? as u32,
            backoff_base: Duration::from_millis(vars.at_least(
                "BACKSTOP_BACKOFF_BASE_MS",
                d.backoff_base.as_millis() as u64,
                1,
            )?),
            backoff_max: Duration::from_millis(vars.at_least(
                "BACKSTOP_BACKOFF_MAX_MS",
                d.backoff_max.as_millis() as u64,
                1,
            )?),
            retry_after_max: Duration::from_secs(
                vars.parse("BACKSTOP_RETRY_AFTER_MAX_SECS", d.retry_after_max.as_secs())?,
            ),
            max_body_bytes: vars.at_least("BACKSTOP_MAX_BODY_BYTES", d.max_body_bytes, 1024)?,
        };
        if fetch.backoff_max < fetch.backoff_base {
            return Err(ConfigError {
                var: "BACKSTOP_BACKOFF_MAX_MS",
                value: fetch.backoff_max.as_millis().to_string(),
                reason: "must not be below BACKSTOP_BACKOFF_BASE_MS".into(),
            });
        }
        let base_url = vars.get("BETTINGPROS_BASE_URL").unwrap_or(DEFAULT_BASE_URL);
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ConfigError {
                var: "BETTINGPROS_BASE_URL",
                value: base_url.to_string(),
                reason: "must start with http:// or https://".into(),
            });
        }
        let storage = crate::storage::StorageLocation::from_vars(vars)?;
        Ok(Config {
            upstream: UpstreamSettings {
                base_url: base_url.trim_end_matches('/').to_string(),
                api_key: vars.get("BETTINGPROS_API_KEY").map(Secret::new),
            },
            fetch,
            proxies: crate::fetch::ProxySettings::from_vars(vars)?,
            run_deadline: secs_f64(vars.positive_f64("BACKSTOP_RUN_DEADLINE_SECS", 280.0)?),
            ledger: crate::ledger::LedgerLocation::from_vars(vars, default_ledger(&storage))?,
            lease: Duration::from_secs(vars.at_least("BACKSTOP_LEASE_SECS", 60, 1)?),
            revision: vars.get("K_REVISION").map(str::to_string),
            storage,
            pubsub: crate::notify::pubsub::PubSubSettings::from_vars(vars)?,
            warehouse: crate::warehouse::WarehouseSettings::from_vars(vars)?,
            phase2: crate::phase2::Phase2Settings::from_vars(vars)?,
            recovery_settle: Duration::from_secs(vars.parse("BACKSTOP_RECOVERY_SETTLE_SECS", 60)?),
            pending_load: Duration::from_secs(
                60 * vars.parse::<u64>("BACKSTOP_PENDING_LOAD_MINS", 360)?,
            ),
            port: vars.parse("PORT", 8080)?,
            shutdown_grace: secs_f64(vars.positive_f64("BACKSTOP_SHUTDOWN_GRACE_SECS", 8.0)?),
        })
    }
}

/// Beside the local store; in the working directory when the store is a bucket.
fn default_ledger(storage: &crate::storage::StorageLocation) -> PathBuf {
    match storage {
        crate::storage::StorageLocation::Local(dir) => dir.join("ledger.db"),
        _ => PathBuf::from("backstop-ledger.db"),
    }
}

fn secs_f64(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_brief() {
        let c = Config::from_vars(&Vars::from_pairs([])).unwrap();
        assert_eq!(c.upstream.base_url, DEFAULT_BASE_URL);
        assert!(c.upstream.api_key.is_none());
        assert_eq!(c.fetch, FetchSettings::default());
        assert_eq!(c.fetch.attempt_timeout, Duration::from_secs(60));
        assert_eq!(c.fetch.max_body_bytes, 32 * 1024 * 1024);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (var, value) in [
            ("BACKSTOP_RATE_PER_SEC", "fast"),
            ("BACKSTOP_RATE_PER_SEC", "0"),
            ("BACKSTOP_TIMEOUT_SECS", "-1"),
            ("BACKSTOP_MAX_ATTEMPTS", "0"),
            ("BACKSTOP_BACKOFF_BASE_MS", "1.5"),
            ("BACKSTOP_RETRY_AFTER_MAX_SECS", "soon"),
            ("BACKSTOP_MAX_BODY_BYTES", "12"),
            ("BETTINGPROS_BASE_URL", "api.bettingpros.com"),
        ] {
            let err = Config::from_vars(&Vars::from_pairs([(var, value)])).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn a_postgres_ledger_is_selected_by_its_url_and_unusable_values_name_the_variable() {
        for url in [
            "postgresql://x",
            "postgres://backstop@127.0.0.1:5432/backstop",
            "postgresql://backstop@/backstop?host=/cloudsql/nba-props-platform:us-west2:ledger",
            "host=/cloudsql/nba-props-platform:us-west2:ledger dbname=backstop user=backstop",
        ] {
            let c = Config::from_vars(&Vars::from_pairs([("BACKSTOP_LEDGER", url)])).unwrap();
            let shown = format!("{c:?}");
            assert!(
                shown.contains("Postgres"),
                "{url} must select PostgreSQL: {shown}"
            );
        }
        for bad in [
            "postgresql://",
            "mysql://h/db",
            "postgresql://u@h/db?sslmode=sometimes",
        ] {
            let err = Config::from_vars(&Vars::from_pairs([("BACKSTOP_LEDGER", bad)]));
            let err = err.expect_err(bad);
            assert_eq!(err.var, "BACKSTOP_LEDGER", "{err}");
        }
    }

    #[test]
    fn the_api_key_never_shows_in_debug_output() {
        let c =
            Config::from_vars(&Vars::from_pairs([("BETTINGPROS_API_KEY", "sk-live-123")])).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("sk-live-123"), "{shown}");
        assert_eq!(c.upstream.api_key.unwrap().expose(), "sk-live-123");
    }
}
