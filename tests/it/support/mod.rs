//! Shared helpers for the integration tests.
pub mod bq;
pub mod phase2;
pub mod upstream;
