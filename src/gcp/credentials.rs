//! Where a Google Cloud client's bearer token comes from, one way for every client: nowhere
//! (an emulator), a fixed value (tests), or Application Default Credentials — a key file
//! (`GOOGLE_APPLICATION_CREDENTIALS`, or gcloud's own) through `gcloud-auth`, else the
//! metadata server through [`super::metadata`] (Cloud Run). `Debug` never shows a token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use gcloud_auth::credentials::CredentialsFile;
use gcloud_auth::project::{create_token_source_from_credentials, Config};
use reqwest::header::HeaderValue;
use tokio::sync::{Mutex, OnceCell};
use tokio::time::Instant;

use super::metadata::{MetadataServer, TokenError, TOKEN_PATH};
use super::settings::GcpSettings;
use crate::settings::Secret;

/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// One request for a token to the metadata server.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub enum Credentials {
    /// No `Authorization` header: an emulator.
    None,
    /// The same bearer token on every request: tests against a stand-in.
    Fixed(Secret),
    /// Application Default Credentials for these scopes: a key file, else the metadata server
    /// (found on first use); or the metadata server alone ([`Credentials::metadata`]).
    Adc(Arc<Adc>),
}

pub struct Adc {
    scopes: &'static [&'static str],
    metadata: MetadataServer,
    // gcloud-auth's sources derive `Debug` with the token inside: never print this field.
    source: OnceCell<Source>,
}

enum Source {
    KeyFile(Box<dyn gcloud_auth::token_source::TokenSource>),
    /// The metadata server's token, kept until shortly before it expires.
    Metadata(Mutex<Option<(Secret, Instant)>>),
}

impl Credentials {
    /// Application Default Credentials for `scopes`, the metadata server being `gcp`'s.
    pub fn adc(scopes: &'static [&'static str], gcp: &GcpSettings) -> Self {
        Credentials::Adc(Arc::new(Adc {
            scopes,
            metadata: MetadataServer::new(&gcp.metadata),
            source: OnceCell::new(),
        }))
    }

    /// The metadata server alone, never a key file: Cloud Run, or a local stand-in.
    pub fn metadata(scopes: &'static [&'static str], gcp: &GcpSettings) -> Self {
        Credentials::Adc(Arc::new(Adc {
            scopes,
            metadata: MetadataServer::new(&gcp.metadata),
            source: OnceCell::new_with(Some(Source::Metadata(Mutex::new(None)))),
        }))
    }

    /// None against an emulator, Application Default Credentials otherwise.
    pub fn for_service(
        emulator: Option<&str>,
        scopes: &'static [&'static str],
        gcp: &GcpSettings,
    ) -> Self {
        match emulator {
            Some(_) => Credentials::None,
            None => Credentials::adc(scopes, gcp),
        }
    }

    /// The token to send, if any.
    pub async fn bearer(&self) -> Result<Option<Secret>, TokenError> {
        match self {
            Credentials::None => Ok(None),
            Credentials::Fixed(token) => Ok(Some(token.clone())),
            Credentials::Adc(adc) => adc.token().await.map(Some),
        }
    }

    /// `Authorization: Bearer …` (marked sensitive), if there is a token to send.
    pub async fn header(&self) -> Result<Option<HeaderValue>, TokenError> {
        let Some(token) = self.bearer().await? else {
            return Ok(None);
        };
        let value = bearer_header(&token).ok_or_else(|| TokenError {
            path: TOKEN_PATH,
            status: None,
            transient: false,
            detail: "the token cannot travel in an HTTP header".into(),
        })?;
        Ok(Some(value))
    }

    /// `none`, `fixed` or `adc`: what `Debug` and logs may say.
    pub fn kind(&self) -> &'static str {
        match self {
            Credentials::None => "none",
            Credentials::Fixed(_) => "fixed",
            Credentials::Adc(_) => "adc",
        }
    }
}

/// `Bearer TOKEN`, marked sensitive so that it never prints; `None` if it cannot be a header.
pub fn bearer_header(token: &Secret) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Adc(adc) => {
                let source = match adc.source.get() {
                    None => "not found yet",
                    Some(Source::KeyFile(_)) => "key file",
                    Some(Source::Metadata(_)) => "metadata server",
                };
                let base = adc.metadata.base();
                write!(
                    f,
                    "Credentials::Adc {{ metadata: {base}, source: {source} }}"
                )
            }
            other => write!(f, "Credentials::{}", other.kind()),
        }
    }
}

impl Adc {
    async fn token(&self) -> Result<Secret, TokenError> {
        let source = self.source.get_or_try_init(|| self.find()).await?;
        match source {
            Source::KeyFile(file) => {
                let token = file.token().await.map_err(|e| key_file_error(&e))?;
                Ok(Secret::new(token.access_token))
            }
            Source::Metadata(kept) => {
                let mut kept = kept.lock().await;
                if let Some((token, renew_at)) = kept.as_ref() {
                    if Instant::now() < *renew_at {
                        return Ok(token.clone());
                    }
                }
                let fresh = self
                    .metadata
                    .access_token(self.scopes, TOKEN_TIMEOUT)
                    .await?;
                let renew_at = Instant::now() + fresh.expires_in.saturating_sub(RENEW_BEFORE);
                *kept = Some((fresh.token.clone(), renew_at));
                Ok(fresh.token)
            }
        }
    }

    /// A key file when there is one, the metadata server otherwise. A key file named by
    /// `GOOGLE_APPLICATION_CREDENTIALS` that cannot be read is an error, not a fallback.
    async fn find(&self) -> Result<Source, TokenError> {
        match CredentialsFile::new().await {
            Ok(file) => {
                let config = Config::default().with_scopes(self.scopes);
                let source = create_token_source_from_credentials(&file, &config)
                    .await
                    .map_err(|e| key_file_error(&e))?;
                Ok(Source::KeyFile(source))
            }
            Err(e) if std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").is_some() => {
                Err(key_file_error(&e))
            }
            Err(_) => Ok(Source::Metadata(Mutex::new(None))),
        }
    }
}

fn key_file_error(e: &gcloud_auth::error::Error) -> TokenError {
    TokenError {
        path: "",
        status: None,
        transient: matches!(e, gcloud_auth::error::Error::HttpError(_)),
        detail: format!("Application Default Credentials (key file): {e}"),
    }
}

/// The same credentials as `gcloud-storage` asks for them: a source of `Bearer …` values.
#[derive(Clone)]
pub struct StorageTokens(pub Credentials);

impl fmt::Debug for StorageTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageTokens({:?})", self.0)
    }
}

impl token_source::TokenSourceProvider for StorageTokens {
    fn token_source(&self) -> Arc<dyn token_source::TokenSource> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl token_source::TokenSource for StorageTokens {
    async fn token(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        match self.0.bearer().await? {
            Some(token) => Ok(format!("Bearer {}", token.expose())),
            None => Err("no credentials for a client that needs them".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_token() {
        let shown = format!("{:?}", Credentials::Fixed(Secret::new("ya29.secret-token")));
        assert_eq!(shown, "Credentials::fixed");
        let adc = Credentials::adc(&[], &GcpSettings::default());
        assert_eq!(
            format!("{adc:?}"),
            "Credentials::Adc { metadata: http://metadata.google.internal, source: not found yet }"
        );
        let metadata = Credentials::metadata(&[], &GcpSettings::default());
        assert!(format!("{metadata:?}").contains("source: metadata server"));
        let storage = format!(
            "{:?}",
            StorageTokens(Credentials::Fixed(Secret::new("ya29.x")))
        );
        assert!(!storage.contains("ya29"), "{storage}");
    }

    #[tokio::test]
    async fn cloud_storage_gets_the_same_bearer_value() {
        use token_source::{TokenSource, TokenSourceProvider};
        let tokens = StorageTokens(Credentials::Fixed(Secret::new("ya29.s"))).token_source();
        assert_eq!(tokens.token().await.unwrap(), "Bearer ya29.s");
        assert!(StorageTokens(Credentials::None).token().await.is_err());
    }

    #[tokio::test]
    async fn an_emulator_needs_no_token_and_a_fixed_one_is_sent_as_is() {
        let gcp = GcpSettings::default();
        let none = Credentials::for_service(Some("http://127.0.0.1:1"), &[], &gcp);
        assert!(none.header().await.unwrap().is_none());
        let fixed = Credentials::Fixed(Secret::new("t-1"))
            .header()
            .await
            .unwrap();
        let fixed = fixed.unwrap();
        assert!(fixed.is_sensitive());
        assert_eq!(fixed.to_str().unwrap(), "Bearer t-1");
        assert!(matches!(
            Credentials::for_service(None, &[], &gcp),
            Credentials::Adc(_)
        ));
    }
}
