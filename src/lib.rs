//! backstop: keeps the BettingPros part of the NBA player-props pipeline from losing data.
//!
//! # Layout
//!
//! The layers these modules sit in, and the rule for each, are in ARCHITECTURE.md;
//! `tests/layers/` fails on an import cycle or an import from a lower layer to a higher one.
//!
//! - [`settings`]: configuration primitives (`Vars`, `ConfigError`, `Secret`); a leaf.
//! - [`config`]: the whole configuration, composed of each subsystem's settings.
//! - [`calendar`], [`market`], [`run`]: the vocabulary — game dates (US Eastern), the six
//!   markets, scrapers, run statuses and triggers.
//! - [`scrapers`]: the scraper definitions of `scrapers/*.json`, embedded: the schedule, and
//!   so the markets expected on a date.
//! - [`fetch`]: the one HTTP client for upstreams: timeouts, decoding, classification,
//!   retries, shared rate limiting. Knows HTTP, not BettingPros.
//! - [`bettingpros`]: request builders, payload parsing, and the transform to the raw files
//!   Phase 2 reads, with their validation.
//! - [`storage`]: the object-store trait (Cloud Storage, local directory) and the object names.
//! - [`ledger`]: the embedded SQLite record of runs, recovery jobs and file deliveries, and
//!   its mapping onto the pipeline's execution log.
//! - [`notify`]: completion messages on Pub/Sub.
//! - [`gcp`]: Google Cloud access: credentials, endpoints, HTTP clients, which answers are
//!   transient, the one retry loop.
//! - [`report`]: what a finished run reports (`RunReport`), shared by scrape, notify and the
//!   ways in.
//! - [`scrape`]: a run — composes fetch, bettingpros, storage, ledger and notify.
//! - [`gaps`]: lost-date detection: evidence and the verdict table.
//! - [`reprocess`]: recovery — a pure planner and a durable executor of recovery jobs,
//!   advanced slice by slice inside requests.
//! - [`sweep`]: what the scheduler's `POST /sweep` carries on: stopped runs, the outbox,
//!   claims, waiting jobs, and the nightly check of the last days.
//! - [`query`]: the typed requests the API and the CLI both parse, with their error type.
//! - [`api`], [`serve`], [`cli`]: the ways in — HTTP, and the command line with its offline
//!   demo (`cli::demo`).
//! - [`app`]: configuration turned into the shared parts.
//! - `sim` (with the `sim` feature, on by default): the test doubles — a local BettingPros and
//!   the BigQuery emulator harness — for tests, the demo and benchmarks; not in the shipped image.
//! - [`metrics`], [`telemetry`]: Prometheus counters and logs.
//! - [`tasks`]: work the service owns beyond a request, drained at shutdown.
//! - [`warehouse`]: "was the data loaded?" — rows per file from BigQuery.
//! - [`phase2`]: sending one stored file to the Phase 2 loader (OIDC, push envelope).

pub mod api;
pub mod app;
pub mod bettingpros;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod fetch;
pub mod gaps;
pub mod gcp;
pub mod ledger;
pub mod market;
pub mod metrics;
pub mod notify;
pub mod phase2;
pub mod query;
pub mod report;
pub mod reprocess;
pub mod run;
pub mod scrape;
pub mod scrapers;
pub mod serve;
pub mod settings;
#[cfg(feature = "sim")]
pub mod sim;
pub mod storage;
pub mod sweep;
pub mod tasks;
pub mod telemetry;
pub mod warehouse;
