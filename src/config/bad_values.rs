//! Every variable refuses what it cannot use, naming itself: one test per kind of bad value.
//! (`BACKSTOP_LEDGER` is the ledger's own business.)

use super::*;

/// Seconds, minutes and other fractional numbers.
const FRACTIONAL: &[&str] = &[
    "BACKSTOP_RATE_PER_SEC",
    "BACKSTOP_TIMEOUT_SECS",
    "BACKSTOP_RUN_DEADLINE_SECS",
    "BACKSTOP_SHUTDOWN_GRACE_SECS",
    "BACKSTOP_SLICE_SECS",
    "BACKSTOP_PROXY_COOLDOWN_SECS",
    "BACKSTOP_BQ_TIMEOUT_SECS",
    "BACKSTOP_PHASE2_TIMEOUT_SECS",
    "BACKSTOP_PENDING_LOAD_MINS",
    "BACKSTOP_NO_GAMES_RECHECK_MINS",
];

/// Whole numbers.
const WHOLE: &[&str] = &[
    "BACKSTOP_RATE_BURST",
    "BACKSTOP_MAX_ATTEMPTS",
    "BACKSTOP_BACKOFF_BASE_MS",
    "BACKSTOP_BACKOFF_MAX_MS",
    "BACKSTOP_RETRY_AFTER_MAX_SECS",
    "BACKSTOP_MAX_BODY_BYTES",
    "BACKSTOP_RECOVERY_SETTLE_SECS",
    "BACKSTOP_BQ_MAX_ATTEMPTS",
    "BACKSTOP_PHASE2_MAX_ATTEMPTS",
    "BACKSTOP_LEASE_SECS",
    "BACKSTOP_SWEEP_DAYS",
    "PORT",
];

/// The error for `var=value` (beside `with`), which must name the variable.
fn refused(var: &str, value: &str, with: &[(&str, &str)]) -> ConfigError {
    let mut pairs = vec![(var, value)];
    pairs.extend_from_slice(with);
    let err = match Config::from_vars(&Vars::from_pairs(pairs)) {
        Err(e) => e,
        Ok(_) => panic!("{var}={value:?} was accepted"),
    };
    assert_eq!(err.var, var, "{var}={value:?}: {err}");
    assert!(err.to_string().contains(var), "{err}");
    err
}

#[test]
fn a_number_that_is_not_one_is_refused() {
    for var in FRACTIONAL.iter().chain(WHOLE) {
        for value in ["fast", "12s", "NaN", "inf"] {
            let err = refused(var, value, &[]);
            assert!(err.reason.contains("number"), "{err}");
        }
    }
    for var in WHOLE {
        refused(var, "1.5", &[]);
    }
}

#[test]
fn a_negative_number_is_refused() {
    for var in FRACTIONAL.iter().chain(WHOLE) {
        refused(var, "-1", &[]);
    }
}

#[test]
fn zero_is_refused_where_nothing_could_work_with_it() {
    let zero_is_fine = [
        "BACKSTOP_RETRY_AFTER_MAX_SECS",
        "BACKSTOP_RECOVERY_SETTLE_SECS",
        "BACKSTOP_PENDING_LOAD_MINS",
        "BACKSTOP_NO_GAMES_RECHECK_MINS",
        "BACKSTOP_SWEEP_DAYS",
    ];
    for var in FRACTIONAL.iter().chain(WHOLE) {
        if zero_is_fine.contains(var) {
            Config::from_vars(&Vars::from_pairs([(*var, "0")])).unwrap();
        } else {
            refused(var, "0", &[]);
        }
    }
}

#[test]
fn a_number_too_large_to_use_is_refused() {
    for var in FRACTIONAL {
        // Past a day, or past what a duration can hold.
        refused(var, "86401", &[]);
        refused(var, "1e300", &[]);
    }
    for (var, value) in [
        ("BACKSTOP_RATE_BURST", "4294967297"),
        ("BACKSTOP_MAX_ATTEMPTS", "4294967297"),
        ("BACKSTOP_BQ_MAX_ATTEMPTS", "101"),
        ("BACKSTOP_PHASE2_MAX_ATTEMPTS", "101"),
        ("BACKSTOP_BACKOFF_BASE_MS", "86400001"),
        ("BACKSTOP_BACKOFF_MAX_MS", "18446744073709551616"),
        ("BACKSTOP_RETRY_AFTER_MAX_SECS", "86401"),
        ("BACKSTOP_MAX_BODY_BYTES", "1099511627776"),
        ("BACKSTOP_RECOVERY_SETTLE_SECS", "86401"),
        ("BACKSTOP_LEASE_SECS", "86401"),
        ("BACKSTOP_SWEEP_DAYS", "32"),
        ("BACKSTOP_PENDING_LOAD_MINS", "307445734561825861"),
        ("PORT", "65536"),
    ] {
        refused(var, value, &[]);
    }
}

#[test]
fn an_unknown_word_is_refused() {
    for (var, value) in [
        ("BACKSTOP_NOTIFY", "yes"),
        ("BACKSTOP_PHASE2_AUTH", "maybe"),
        ("BACKSTOP_EXECUTION_LOG", "sometimes"),
        ("BACKSTOP_PROXY_MODE", "sometimes"),
        ("BACKSTOP_LOG_FORMAT", "xml"),
        ("RUST_LOG", "backstop=loud"),
    ] {
        refused(var, value, &[]);
    }
}

#[test]
fn an_address_with_an_unknown_scheme_is_refused() {
    for (var, value) in [
        ("BACKSTOP_STORAGE", "s3://nba-scraped-data"),
        ("BACKSTOP_STORAGE", "gs:/nba-scraped-data"),
        ("BACKSTOP_STORAGE", "postgresql://backstop@db/backstop"),
        ("BETTINGPROS_BASE_URL", "ftp://api.bettingpros.com/v3"),
        ("PHASE2_URL", "ftp://phase2.a.run.app"),
        ("STORAGE_EMULATOR_HOST", "ftp://127.0.0.1:4443"),
        ("PUBSUB_EMULATOR_HOST", "grpc://127.0.0.1:8085"),
        ("BIGQUERY_EMULATOR_HOST", "ftp://127.0.0.1:9050"),
        ("GCE_METADATA_HOST", "ftp://metadata"),
        ("BACKSTOP_PROXIES", "socks5://user:pass@10.0.0.1:1080"),
    ] {
        refused(var, value, &[("GCS_BUCKET_RAW", "nba-scraped-data")]);
    }
}

#[test]
fn a_malformed_address_is_refused() {
    for (var, value) in [
        ("BETTINGPROS_BASE_URL", "api.bettingpros.com/v3"),
        ("BETTINGPROS_BASE_URL", "http://"),
        (
            "BETTINGPROS_BASE_URL",
            "https://api.bettingpros.com/v3?key=1",
        ),
        ("PHASE2_URL", "https://phase2.a.run.app/process"),
        ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443/storage/v1"),
        ("PUBSUB_EMULATOR_HOST", "http://127.0.0.1:port"),
        ("GCE_METADATA_HOST", "metadata host"),
        ("BACKSTOP_PROXIES", "http://user:pass@10.0.0.1"),
        ("BACKSTOP_PROXIES", "/no/such/proxy-list"),
    ] {
        refused(var, value, &[("GCS_BUCKET_RAW", "nba-scraped-data")]);
    }
}

#[test]
fn an_empty_required_part_is_refused() {
    for (var, value, with) in [
        ("BACKSTOP_STORAGE", "gs://", None),
        ("BACKSTOP_STORAGE", "gs:///raw", None),
        ("BACKSTOP_PROXIES", ",", None),
        ("BACKSTOP_PROXY_MODE", "proxies", None),
        ("BACKSTOP_PROXY_MODE", "direct-then-proxies", None),
        ("PHASE2_URL", "https://", None),
        (
            "STORAGE_EMULATOR_HOST",
            "http://",
            Some(("GCS_BUCKET_RAW", "b-1")),
        ),
    ] {
        refused(var, value, with.as_slice());
    }
}

#[test]
fn a_name_that_cannot_be_used_is_refused() {
    for (var, value) in [
        ("GCP_PROJECT_ID", "My Project"),
        ("BACKSTOP_TOPIC", "projects/p/topics/t"),
        ("BACKSTOP_TOPIC", "1st"),
        ("BACKSTOP_BQ_DATASET", "nba raw"),
        ("BACKSTOP_BQ_TABLE", "t` WHERE 1=1 --"),
        ("BACKSTOP_ENVIRONMENT", "Prod West"),
        ("GCS_BUCKET_RAW", "Nba_Scraped"),
        ("BACKSTOP_STORAGE", "gs://bucket/raw"),
    ] {
        refused(var, value, &[]);
    }
    // The key itself is never repeated, even in the error.
    let err = refused("BETTINGPROS_API_KEY", "sk-live\n123", &[]);
    assert!(!err.to_string().contains("sk-live"), "{err}");
}

#[test]
fn an_admin_token_too_short_or_not_a_bearer_token_is_refused_without_repeating_it() {
    for value in [
        "short-token",
        "a token with spaces in it",
        "tok\u{e9}n-0123456789abcdef",
        "==================",
    ] {
        let err = refused("BACKSTOP_ADMIN_TOKEN", value, &[]);
        assert!(!err.to_string().contains(value), "{err}");
        assert!(err.reason.contains("openssl rand -hex 32"), "{err}");
    }
    let ok = Config::from_vars(&Vars::from_pairs([(
        "BACKSTOP_ADMIN_TOKEN",
        "3q2+7w/9-._~abcdXYZ0==",
    )]))
    .unwrap();
    assert_eq!(ok.admin_token.unwrap().expose(), "3q2+7w/9-._~abcdXYZ0==");
}
