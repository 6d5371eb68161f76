//! Google Cloud access, one layer for every client of it (storage, notify, warehouse, phase2):
//! which statuses are transient ([`transient`]) and the one retry loop ([`retry`]).

pub mod retry;
pub mod transient;

pub use retry::{call_with_retries, retry, with_attempts, Attempt, RetrySettings};
pub use transient::{classify_status, is_transient, CallFailure, Class};
