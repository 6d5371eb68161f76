//! Google-signed OIDC ID tokens from the metadata server, for calling Phase 2 on Cloud Run.

use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::Url;

use crate::fetch::body::{error_chain, excerpt};

use super::error::Phase2Failure;

pub const IDENTITY_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";

/// Why no token came: what failed, whether asking again may help, and the server's words.
#[derive(Debug, Clone)]
pub struct IdentityError {
    pub failure: Phase2Failure,
    pub transient: bool,
    pub detail: String,
}

/// The metadata server's identity URL for `audience`. `host` is `GCE_METADATA_HOST`
/// (`metadata.google.internal`, `127.0.0.1:8080`), with or without a scheme.
pub fn identity_url(host: &str, audience: &str) -> Result<Url, String> {
    let base = crate::gcp::endpoint::base_url(host);
    let mut url = Url::parse(&format!("{base}{IDENTITY_PATH}"))
        .map_err(|e| format!("metadata host {host:?} does not make a URL: {e}"))?;
    url.query_pairs_mut()
        .append_pair("audience", audience)
        .append_pair("format", "full");
    Ok(url)
}

/// Asks the metadata server at `host` for an ID token whose audience is `audience`, and
/// returns it as a sensitive `Authorization: Bearer …` value.
pub async fn bearer_header(
    http: &reqwest::Client,
    host: &str,
    audience: &str,
    timeout: Duration,
) -> Result<HeaderValue, IdentityError> {
    let error = |status: Option<u16>, transient: bool, detail: String| IdentityError {
        failure: Phase2Failure::Identity(status),
        transient,
        detail,
    };
    let url = identity_url(host, audience).map_err(|d| error(None, false, d))?;
    let resp = http
        .get(url)
        .header("Metadata-Flavor", "Google")
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| error(None, true, error_chain(&e)))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| {
        error(
            Some(status),
            true,
            format!("reading the token: {}", error_chain(&e)),
        )
    })?;
    if status != 200 {
        let transient = crate::gcp::is_transient(status);
        return Err(error(Some(status), transient, excerpt(&body)));
    }
    // The body is the token itself: never quote it, even in an error.
    let not_a_token = || {
        error(
            Some(status),
            false,
            format!("the answer ({} bytes) is not a token", body.len()),
        )
    };
    let token = std::str::from_utf8(&body)
        .map_err(|_| not_a_token())?
        .trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(not_a_token());
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| not_a_token())?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_url_carries_the_audience_and_full_format() {
        let url = identity_url("metadata.google.internal", "https://p2-abc.a.run.app").unwrap();
        assert_eq!(
            url.as_str(),
            "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/identity?audience=https%3A%2F%2Fp2-abc.a.run.app&format=full"
        );
        let local = identity_url("http://127.0.0.1:8089/", "http://x").unwrap();
        assert_eq!(local.host_str(), Some("127.0.0.1"));
        assert_eq!(local.port(), Some(8089));
    }
}
