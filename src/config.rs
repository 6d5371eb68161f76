//! The whole configuration, read once from the environment and validated at start-up: each
//! subsystem's settings parse themselves from [`Vars`]; this module composes them and reads
//! the few variables that belong to the service as a whole.
//!
//! Every variable name is a contract with operators and scripts. A bad value fails at boot
//! with a message naming the variable, not at 3 a.m. on the first scrape. The primitives and
//! the subsystems' settings types are re-exported here, so callers outside the crate (the
//! binary, tests, benches) name the whole configuration from one place.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::bettingpros::{UpstreamSettings, DEFAULT_BASE_URL};
pub use crate::fetch::FetchSettings;
use crate::settings::MAX_SECS;
pub use crate::settings::{ConfigError, Secret, Vars};

#[derive(Debug, Clone)]
pub struct Config {
    pub upstream: UpstreamSettings,
    pub fetch: FetchSettings,
    /// How requests leave: directly, through a proxy pool, or both.
    pub proxies: crate::fetch::ProxySettings,
    /// Bound on a whole run (all its requests and retries), outside the retry loop.
    pub run_deadline: Duration,
    pub storage: crate::storage::StorageLocation,
    /// The run ledger (a SQLite file, or a PostgreSQL database shared by every instance) and
    /// this instance's leases.
    pub ledger: crate::ledger::LedgerSettings,
    /// The project and the metadata server, for every Google Cloud client.
    pub gcp: crate::gcp::GcpSettings,
    pub pubsub: crate::notify::pubsub::PubSubSettings,
    pub warehouse: crate::warehouse::WarehouseSettings,
    /// Each finished run's row of `nba_orchestration.scraper_execution_log`, in the warehouse's
    /// project: on Cloud Run by default.
    pub execution_log: crate::notify::execution_log::ExecutionLogSettings,
    pub phase2: crate::phase2::Phase2Settings,
    /// How long a recovery waits for Phase 2 to load re-scraped files before checking again.
    pub recovery_settle: Duration,
    /// A file announced on Pub/Sub less than this long ago may still be on its way to Phase 2:
    /// recovery does not send it. Also how long a hand-over whose outcome is unknown waits for
    /// its rows before it is released (minutes, fractions allowed).
    pub pending_load: Duration,
    /// How far apart two empty events answers for a past date must be before "no games" is
    /// remembered (minutes, fractions allowed).
    pub no_games_recheck: Duration,
    pub port: u16,
    /// `BACKSTOP_ADMIN_TOKEN`: what the operator routes want as `Authorization: Bearer …`;
    /// `None` leaves them open (and `serve` warns).
    pub admin_token: Option<Secret>,
    /// Whether `BACKSTOP_LEDGER` was set, rather than defaulted.
    pub ledger_given: bool,
    /// How long in-flight requests and the tasks the service owns may finish after SIGTERM
    /// (Cloud Run allows 10 s).
    pub shutdown_grace: Duration,
    /// How long one slice of work inside a request (a recovery job's, a detection's, a sweep)
    /// goes on starting new actions; the one under way then finishes.
    pub slice: Duration,
    /// How many days before today the sweep's nightly check looks at; 0 turns it off.
    pub sweep_days: u32,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        // Logging starts before the configuration is read (main.rs); its variables are checked
        // here, so that a bad value still stops start-up.
        crate::telemetry::check(vars)?;
        let storage = crate::storage::StorageLocation::from_vars(vars)?;
        let gcp = crate::gcp::GcpSettings::from_vars(vars)?;
        let config = Config {
            upstream: UpstreamSettings::from_vars(vars)?,
            fetch: FetchSettings::from_vars(vars)?,
            proxies: crate::fetch::ProxySettings::from_vars(vars)?,
            run_deadline: vars.secs("BACKSTOP_RUN_DEADLINE_SECS", Duration::from_secs(280))?,
            ledger: crate::ledger::LedgerSettings::from_vars(vars, default_ledger(&storage))?,
            storage,
            pubsub: crate::notify::pubsub::PubSubSettings::from_vars(vars, &gcp)?,
            warehouse: crate::warehouse::WarehouseSettings::from_vars(vars, &gcp)?,
            execution_log: crate::notify::execution_log::ExecutionLogSettings::from_vars(vars)?,
            phase2: crate::phase2::Phase2Settings::from_vars(vars, &gcp)?,
            gcp,
            recovery_settle: Duration::from_secs(vars.whole(
                "BACKSTOP_RECOVERY_SETTLE_SECS",
                60,
                0..=MAX_SECS as u64,
            )?),
            pending_load: minutes(vars, "BACKSTOP_PENDING_LOAD_MINS", 360.0)?,
            no_games_recheck: minutes(vars, "BACKSTOP_NO_GAMES_RECHECK_MINS", 360.0)?,
            port: vars.whole("PORT", 8080, 1..=u16::MAX.into())? as u16,
            admin_token: admin_token(vars)?,
            ledger_given: vars.get("BACKSTOP_LEDGER").is_some(),
            shutdown_grace: vars.secs("BACKSTOP_SHUTDOWN_GRACE_SECS", Duration::from_secs(8))?,
            slice: vars.secs("BACKSTOP_SLICE_SECS", DEFAULT_SLICE)?,
            sweep_days: vars.whole("BACKSTOP_SWEEP_DAYS", 3, 0..=31)? as u32,
        };
        if vars.get("K_SERVICE").is_some() {
            outlives_the_instance(&config)?;
        }
        Ok(config)
    }
}

/// On Cloud Run (`K_SERVICE` set) the instance's disk is memory, gone at scale-to-zero and seen
/// by no other instance: a SQLite ledger there would forget which files were sent (and send
/// them twice), and raw files there would be lost. Refused before anything starts.
fn outlives_the_instance(config: &Config) -> Result<(), ConfigError> {
    let why = "on Cloud Run (K_SERVICE is set) the instance's disk is lost at scale-to-zero and \
               not shared with other instances";
    if let crate::ledger::LedgerLocation::Sqlite(path) = &config.ledger.location {
        return Err(ConfigError {
            var: "BACKSTOP_LEDGER",
            value: path.display().to_string(),
            reason: format!(
                "{why}: use the Cloud SQL ledger, postgresql://USER@/DB?host=/cloudsql/PROJECT:REGION:INSTANCE (deploy/service.yaml)"
            ),
        });
    }
    if let crate::storage::StorageLocation::Local(dir) = &config.storage {
        return Err(ConfigError {
            var: "BACKSTOP_STORAGE",
            value: dir.display().to_string(),
            reason: format!("{why}: use the bucket, gs://BUCKET"),
        });
    }
    Ok(())
}

/// The budget of one slice when `BACKSTOP_SLICE_SECS` is not set: a status poll answers within
/// it (plus the one action under way), well inside Cloud Run's request timeout.
pub const DEFAULT_SLICE: Duration = Duration::from_secs(20);

/// `BACKSTOP_ADMIN_TOKEN`, read by the service (which wants it) and the command line (which
/// sends it): at least 16 characters a bearer token may hold (RFC 6750: letters, digits and
/// `-._~+/`, then `=` padding), e.g. from `openssl rand -hex 32`. Never quoted in an error.
pub fn admin_token(vars: &Vars) -> Result<Option<Secret>, ConfigError> {
    let Some(token) = vars.get("BACKSTOP_ADMIN_TOKEN") else {
        return Ok(None);
    };
    let body = token.trim_end_matches('=');
    let plain = body
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~+/".contains(c));
    let reason = if !plain || body.is_empty() {
        "may hold only letters, digits, - . _ ~ + / and trailing =: make one with `openssl rand -hex 32`".to_string()
    } else if token.len() < 16 {
        format!(
            "is {} characters long; at least 16 are needed (`openssl rand -hex 32` makes 64)",
            token.len()
        )
    } else {
        return Ok(Some(Secret::new(token)));
    };
    Err(ConfigError {
        var: "BACKSTOP_ADMIN_TOKEN",
        value: "[redacted]".into(),
        reason,
    })
}

/// A span in minutes (fractions allowed), 0 up to a day.
fn minutes(vars: &Vars, var: &'static str, default: f64) -> Result<Duration, ConfigError> {
    let mins = vars.number(var, default, 0.0..=MAX_SECS / 60.0)?;
    Ok(Duration::from_secs_f64(mins * 60.0))
}

/// Beside the local store; in the working directory when the store is a bucket.
fn default_ledger(storage: &crate::storage::StorageLocation) -> PathBuf {
    match storage {
        crate::storage::StorageLocation::Local(dir) => dir.join("ledger.db"),
        _ => PathBuf::from("backstop-ledger.db"),
    }
}

#[cfg(test)]
mod bad_values;

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
    fn the_api_key_and_the_admin_token_never_show_in_debug_output() {
        let c = Config::from_vars(&Vars::from_pairs([
            ("BETTINGPROS_API_KEY", "sk-live-123"),
            ("BACKSTOP_ADMIN_TOKEN", "admin-0123456789abcdef"),
        ]))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("sk-live-123"), "{shown}");
        assert!(!shown.contains("admin-0123456789abcdef"), "{shown}");
        assert_eq!(c.upstream.api_key.unwrap().expose(), "sk-live-123");
    }

    #[test]
    fn on_cloud_run_the_ledger_and_the_files_must_outlive_the_instance() {
        let on_cloud_run = |pairs: &[(&str, &str)]| {
            let mut all = vec![("K_SERVICE", "backstop")];
            all.extend_from_slice(pairs);
            Config::from_vars(&Vars::from_pairs(all))
        };
        let pg = "postgresql://backstop@/backstop?host=/cloudsql/p:r:i";
        let bucket = "gs://nba-scraped-data";
        // The instance's disk goes at scale-to-zero and no other instance sees it.
        for (pairs, var) in [
            (vec![("BACKSTOP_STORAGE", bucket)], "BACKSTOP_LEDGER"),
            (
                vec![
                    ("BACKSTOP_STORAGE", bucket),
                    ("BACKSTOP_LEDGER", "/var/lib/l.db"),
                ],
                "BACKSTOP_LEDGER",
            ),
            (
                vec![("BACKSTOP_STORAGE", "/tmp/raw"), ("BACKSTOP_LEDGER", pg)],
                "BACKSTOP_STORAGE",
            ),
        ] {
            let e = on_cloud_run(&pairs).expect_err(&format!("{pairs:?} is refused"));
            assert_eq!(e.var, var, "{e}");
            assert!(e.to_string().contains("Cloud Run"), "{e}");
        }
        on_cloud_run(&[("BACKSTOP_STORAGE", bucket), ("BACKSTOP_LEDGER", pg)]).unwrap();
        // Off Cloud Run a SQLite file beside a local store is the default (demo, CLI).
        Config::from_vars(&Vars::from_pairs([("BACKSTOP_STORAGE", "/tmp/raw")])).unwrap();
    }
}
