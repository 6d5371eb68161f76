//! backstop: keeps the BettingPros part of the NBA player-props pipeline from losing data.
//!
//! # Layout
//!
//! - [`config`]: typed settings read once from the environment, validated at start-up.
//! - [`calendar`]: game dates (US Eastern) and run timestamps.
//! - [`market`]: the six prop markets and their BettingPros ids.
//! - [`fetch`]: the one HTTP client for upstreams: timeouts, decoding, classification,
//!   retries, shared rate limiting. Knows HTTP, not BettingPros.
//! - [`google`]: calls to Google Cloud APIs: which answers are transient, one retry loop.
//! - [`run`]: scrapers, run statuses and triggers.
//! - [`storage`]: where raw files go: the create-only object-store trait, Cloud Storage and
//!   local-directory implementations, and `StorageKey`, which owns every object path.
//! - [`notify`]: completion messages to Pub/Sub for Phase 2.
//! - [`metrics`]: process-wide counters rendered as Prometheus text.
//! - [`telemetry`]: log set-up (Cloud Logging JSON or readable text).

pub mod calendar;
pub mod config;
pub mod fetch;
pub mod google;
pub mod market;
pub mod metrics;
pub mod notify;
pub mod run;
pub mod storage;
pub mod telemetry;
