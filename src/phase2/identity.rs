//! The ID token Phase 2 (a Cloud Run service) takes, from the metadata server through
//! [`crate::gcp::metadata`], as a sensitive `Authorization: Bearer …` value.

use std::time::Duration;

use reqwest::header::HeaderValue;

use super::error::Phase2Failure;
use crate::gcp::credentials;
use crate::gcp::MetadataServer;

pub use crate::gcp::metadata::IDENTITY_PATH;

/// Why no token came: what failed, whether asking again may help, and the server's words.
#[derive(Debug, Clone)]
pub struct IdentityError {
    pub failure: Phase2Failure,
    pub transient: bool,
    pub detail: String,
}

/// Asks the metadata server at `host` (`GCE_METADATA_HOST`) for an ID token whose audience
/// is `audience`.
pub async fn bearer_header(
    http: &reqwest::Client,
    host: &str,
    audience: &str,
    timeout: Duration,
) -> Result<HeaderValue, IdentityError> {
    let server = MetadataServer::with_client(host, http.clone());
    let token = server
        .identity_token(audience, timeout)
        .await
        .map_err(|e| IdentityError {
            failure: Phase2Failure::Identity(e.status),
            transient: e.transient,
            detail: e.detail,
        })?;
    credentials::bearer_header(&token).ok_or_else(|| IdentityError {
        failure: Phase2Failure::Identity(Some(200)),
        transient: false,
        detail: "the token cannot travel in an HTTP header".into(),
    })
}
