//! Google Cloud access, one layer for every client of it (storage, notify, warehouse, phase2):
//! the project and metadata server ([`settings`]), where each service is and how an emulator's
//! host is read ([`endpoint`]), where tokens come from ([`credentials`]; the metadata server
//! only through [`metadata`]), the HTTP client ([`http_client`]), which statuses are transient
//! ([`transient`]) and the one retry loop ([`mod@retry`]).

pub mod credentials;
pub mod endpoint;
pub mod metadata;
pub mod retry;
pub mod settings;
pub mod transient;

use std::time::Duration;

pub use credentials::{Credentials, StorageTokens};
pub use metadata::{MetadataServer, TokenError};
pub use retry::{call_with_retries, retry, with_attempts, Attempt, RetrySettings};
pub use settings::{GcpSettings, DEFAULT_PROJECT};
pub use transient::{classify_status, is_transient, CallFailure, Class};

/// The HTTP client for Google Cloud and Phase 2. Never through a proxy: `HTTPS_PROXY` and the
/// upstream's proxy pool are for BettingPros, and Google's traffic stays on Google's network.
pub fn http_client(connect_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .no_proxy()
        .build()
        .expect("the HTTP client builds with static settings")
}
