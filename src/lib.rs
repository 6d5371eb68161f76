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
//! - [`warehouse`]: "was the data loaded?" — row counts per date, market and file read from
//!   Phase 2's BigQuery table in one query per date range.
//! - [`phase2`]: hands one stored file to the Phase 2 loader (Pub/Sub push envelope, OIDC).
//! - [`metrics`]: process-wide counters rendered as Prometheus text.
//! - [`telemetry`]: log set-up (Cloud Logging JSON or readable text).

pub mod calendar;
pub mod config;
pub mod fetch;
pub mod market;
pub mod metrics;
pub mod phase2;
pub mod run;
pub mod sim;
pub mod telemetry;
pub mod warehouse;
