//! backstop: keeps the BettingPros part of the NBA player-props pipeline from losing data.
//!
//! # Layout
//!
//! - [`config`]: typed settings read once from the environment, validated at start-up.
//! - [`calendar`]: game dates (US Eastern) and run timestamps.
//! - [`market`]: the six prop markets and their BettingPros ids.
//! - [`fetch`]: the one HTTP client for upstreams: timeouts, decoding, classification,
//!   retries, shared rate limiting. Knows HTTP, not BettingPros.
//! - [`run`]: scrapers, run statuses and triggers.
//! - [`ledger`]: the embedded SQLite record of runs, recovery jobs and file deliveries, and
//!   its mapping onto the pipeline's execution log.
//! - [`metrics`]: process-wide counters rendered as Prometheus text.
//! - [`telemetry`]: log set-up (Cloud Logging JSON or readable text).

pub mod api;
pub mod app;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod demo;
pub mod fetch;
pub mod ledger;
pub mod market;
pub mod metrics;
pub mod run;
pub mod scrape;
pub mod serve;
pub mod sim;
pub mod telemetry;
