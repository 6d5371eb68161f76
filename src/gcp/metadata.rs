//! The one module that talks to the metadata server (Cloud Run, Compute Engine, or a local
//! stand-in named by `GCE_METADATA_HOST`): OAuth access tokens for Google's APIs, and
//! Google-signed identity tokens for calling a Cloud Run service such as Phase 2.
//!
//! Every request carries `Metadata-Flavor: Google`. A token is never quoted, not even in an
//! error: an answer that is not a token is described by its size.

use std::time::Duration;

use reqwest::Url;

use super::endpoint;
use super::transient::is_transient;
use crate::fetch::body::{error_chain, excerpt};
use crate::settings::Secret;

pub const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
pub const IDENTITY_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";

/// Why no token came: which path failed, the status if the server answered, whether asking
/// again may help, and what was wrong. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata server {path}: {detail}")]
pub struct TokenError {
    pub path: &'static str,
    pub status: Option<u16>,
    pub transient: bool,
    pub detail: String,
}

/// An OAuth access token and how long it stays valid.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: Secret,
    pub expires_in: Duration,
}

#[derive(Debug, Clone)]
pub struct MetadataServer {
    /// `http://metadata.google.internal`, or the stand-in's base URL.
    base: String,
    http: reqwest::Client,
}

impl MetadataServer {
    /// `host` as `GCE_METADATA_HOST` gives it (`metadata.google.internal`, `127.0.0.1:8080`)
    /// or as a base URL.
    pub fn new(host: &str) -> Self {
        Self::with_client(host, super::http_client(Duration::from_secs(3)))
    }

    pub fn with_client(host: &str, http: reqwest::Client) -> Self {
        Self {
            base: endpoint::base_url(host),
            http,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The identity URL for `audience`, in the full format (with the email claims).
    pub fn identity_url(&self, audience: &str) -> Result<Url, TokenError> {
        let mut url = self.url(IDENTITY_PATH)?;
        url.query_pairs_mut()
            .append_pair("audience", audience)
            .append_pair("format", "full");
        Ok(url)
    }

    /// An access token of the instance's service account for `scopes`.
    pub async fn access_token(
        &self,
        scopes: &[&str],
        timeout: Duration,
    ) -> Result<AccessToken, TokenError> {
        let mut url = self.url(TOKEN_PATH)?;
        if !scopes.is_empty() {
            url.query_pairs_mut()
                .append_pair("scopes", &scopes.join(","));
        }
        let body = self.get(TOKEN_PATH, url, timeout).await?;
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let not_a_token = || fail(TOKEN_PATH, Some(200), false, not_a_token(body.len()));
        let answer: Answer = serde_json::from_slice(&body).map_err(|_| not_a_token())?;
        let token = plain_token(&answer.access_token).ok_or_else(not_a_token)?;
        Ok(AccessToken {
            token,
            // Without a lifetime the token is used once, and a fresh one asked for next time.
            expires_in: Duration::from_secs(answer.expires_in.unwrap_or(0)),
        })
    }

    /// A Google-signed ID token whose audience is `audience` (the bare service URL).
    pub async fn identity_token(
        &self,
        audience: &str,
        timeout: Duration,
    ) -> Result<Secret, TokenError> {
        let url = self.identity_url(audience)?;
        let body = self.get(IDENTITY_PATH, url, timeout).await?;
        // The body is the token itself.
        std::str::from_utf8(&body)
            .ok()
            .and_then(plain_token)
            .ok_or_else(|| fail(IDENTITY_PATH, Some(200), false, not_a_token(body.len())))
    }

    fn url(&self, path: &'static str) -> Result<Url, TokenError> {
        Url::parse(&format!("{}{path}", self.base)).map_err(|e| {
            let detail = format!("{} does not make a URL: {e}", self.base);
            fail(path, None, false, detail)
        })
    }

    /// One GET; the body of a 200, or what went wrong (transient as `gcp::transient` says).
    async fn get(
        &self,
        path: &'static str,
        url: Url,
        timeout: Duration,
    ) -> Result<bytes::Bytes, TokenError> {
        let transport = |e: reqwest::Error| fail(path, None, true, error_chain(&e));
        let resp = self
            .http
            .get(url)
            .header("Metadata-Flavor", "Google")
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport)?;
        if status != 200 {
            let detail = format!("HTTP {status}: {}", excerpt(&body));
            return Err(fail(path, Some(status), is_transient(status), detail));
        }
        Ok(body)
    }
}

fn fail(path: &'static str, status: Option<u16>, transient: bool, detail: String) -> TokenError {
    TokenError {
        path,
        status,
        transient,
        detail,
    }
}

fn not_a_token(len: usize) -> String {
    format!("the answer ({len} bytes) is not a token")
}

/// A token that can travel in a header: not empty, no spaces or control characters.
fn plain_token(text: &str) -> Option<Secret> {
    let token = text.trim();
    let plain = !token.is_empty() && token.chars().all(|c| c.is_ascii_graphic());
    plain.then(|| Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_url_carries_the_audience_and_full_format() {
        let server = MetadataServer::new(endpoint::METADATA_HOST);
        let url = server.identity_url("https://p2-abc.a.run.app").unwrap();
        assert_eq!(
            url.as_str(),
            "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/identity?audience=https%3A%2F%2Fp2-abc.a.run.app&format=full"
        );
        let local = MetadataServer::new("http://127.0.0.1:8089/")
            .identity_url("http://x")
            .unwrap();
        assert_eq!(
            (local.host_str(), local.port()),
            (Some("127.0.0.1"), Some(8089))
        );
    }

    #[test]
    fn only_a_plain_token_is_taken() {
        assert_eq!(plain_token(" ya29.abc\n").unwrap().expose(), "ya29.abc");
        for bad in ["", "  ", "two words", "tab\there", "<html>x</html> y"] {
            assert!(plain_token(bad).is_none(), "{bad:?}");
        }
    }
}
