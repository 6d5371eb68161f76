//! The test doubles, behind the `sim` feature (on by default, off in the shipped image): a local
//! BettingPros that speaks the real protocol (fixture catalogue, faults, raw-TCP server) for the
//! tests, the demo and the benchmarks, and the BigQuery emulator harness they share.
pub mod bigquery;
pub mod catalogue;
pub mod faults;
mod rate;
pub mod server;
mod wire;
