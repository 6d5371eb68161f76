//! A fetch core pointed at the local BettingPros, with short test settings.

use std::sync::Arc;
use std::time::Duration;

use backstop::config::FetchSettings;
use backstop::fetch::{FetchRequest, Fetcher, ProxySettings, RateLimits};
use backstop::metrics::Metrics;
use backstop::sim::server::SimServer;
use reqwest::header::HeaderMap;
use reqwest::Url;

/// Retries in milliseconds, a generous rate: tests run in seconds, not minutes.
pub fn fast_settings() -> FetchSettings {
    FetchSettings {
        rate_per_sec: 1000.0,
        burst: 1,
        connect_timeout: Duration::from_secs(2),
        attempt_timeout: Duration::from_millis(800),
        max_attempts: 5,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        retry_after_max: Duration::from_secs(10),
        max_body_bytes: 1024 * 1024,
    }
}

pub fn fetcher(settings: FetchSettings) -> (Fetcher, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let limits = Arc::new(RateLimits::new(settings.rate_per_sec, settings.burst));
    (Fetcher::new(settings, limits, metrics.clone()), metrics)
}

/// A fetch core whose routes `proxies` describes.
pub fn pool_fetcher(settings: FetchSettings, proxies: &ProxySettings) -> (Fetcher, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let limits = Arc::new(RateLimits::new(settings.rate_per_sec, settings.burst));
    let fetcher =
        Fetcher::with_routes(settings, proxies, limits, metrics.clone()).expect("the routes build");
    (fetcher, metrics)
}

/// `GET {sim}/v3{path_and_query}` with no deadline.
pub fn get(sim: &SimServer, path_and_query: &str) -> FetchRequest {
    FetchRequest {
        url: Url::parse(&format!("{}{}", sim.base_url(), path_and_query)).expect("test URL"),
        headers: HeaderMap::new(),
        context: "test".into(),
        deadline: None,
    }
}

pub const EVENTS: &str = "/events?sport=NBA&date=2026-01-14";
