//! Shared helpers for the integration tests: emulators and canned HTTP answers.

pub mod api;
pub mod app;
pub mod browser;
pub mod canned_http;
pub mod emulators;
pub mod loader;
pub mod logs;
pub mod phase2;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod relay;
pub mod upstream;
pub mod world;

use std::time::Duration;

use backstop::storage::RetrySettings;

pub use backstop::sim::bigquery as bq;

/// Retries that take milliseconds, for tests that exhaust them.
pub fn quick_retry(max_attempts: u32) -> RetrySettings {
    RetrySettings {
        max_attempts,
        base: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        attempt_timeout: Duration::from_secs(5),
    }
}
