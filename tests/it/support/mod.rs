//! Shared helpers for the integration tests.
pub mod logs;
pub mod proxy;
pub mod upstream;
