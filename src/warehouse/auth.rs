//! Where BigQuery's bearer token comes from: nowhere (emulator), a fixed value (tests), or
//! Application Default Credentials through `gcloud-auth` (production).

use std::fmt;

use gcloud_auth::project::{create_token_source_from_project, project, Config};
use gcloud_auth::token_source::TokenSource;
use tokio::sync::OnceCell;

use crate::settings::Secret;

use super::error::{WarehouseError, WarehouseFailure};

/// Read-only access to BigQuery is all that is needed.
pub const BIGQUERY_SCOPES: [&str; 1] = ["https://www.googleapis.com/auth/bigquery"];

/// How requests are authenticated. `Debug` never shows a token.
pub enum Auth {
    /// No `Authorization` header (the emulator).
    None,
    /// The same bearer token on every request (tests against a fake).
    Fixed(Secret),
    /// An OAuth access token from Application Default Credentials: a key file named by
    /// `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's user credentials, or the metadata server.
    /// The source is made on first use and refreshes itself before expiry.
    Adc(AdcTokens),
}

impl Auth {
    pub fn adc() -> Self {
        Auth::Adc(AdcTokens {
            source: OnceCell::new(),
        })
    }

    /// The token to send, if any.
    pub async fn bearer(&self) -> Result<Option<Secret>, WarehouseError> {
        match self {
            Auth::None => Ok(None),
            Auth::Fixed(token) => Ok(Some(token.clone())),
            Auth::Adc(adc) => adc.token().await.map(Some),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Fixed(_) => f.write_str("Auth::Fixed([redacted])"),
            Auth::Adc(adc) => write!(f, "Auth::Adc {{ ready: {} }}", adc.source.initialized()),
        }
    }
}

/// The ADC token source, made lazily: finding credentials may call the metadata server.
pub struct AdcTokens {
    // gcloud-auth's sources derive `Debug` with the token inside: never print this field.
    source: OnceCell<Box<dyn TokenSource>>,
}

impl AdcTokens {
    async fn token(&self) -> Result<Secret, WarehouseError> {
        let failed = |e: gcloud_auth::error::Error| {
            WarehouseError::new(
                WarehouseFailure::Auth,
                "",
                format!("getting an access token from Application Default Credentials: {e}"),
            )
        };
        let source = self
            .source
            .get_or_try_init(|| async {
                let found = project().await.map_err(failed)?;
                let config = Config::default().with_scopes(&BIGQUERY_SCOPES);
                create_token_source_from_project(&found, config)
                    .await
                    .map_err(failed)
            })
            .await?;
        let token = source.token().await.map_err(failed)?;
        Ok(Secret::new(token.access_token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_token() {
        let shown = format!("{:?}", Auth::Fixed(Secret::new("ya29.secret-token")));
        assert!(!shown.contains("ya29"), "{shown}");
        assert_eq!(format!("{:?}", Auth::adc()), "Auth::Adc { ready: false }");
    }

    #[tokio::test]
    async fn the_emulator_needs_no_token_and_a_fixed_one_is_sent_as_is() {
        assert!(Auth::None.bearer().await.unwrap().is_none());
        let fixed = Auth::Fixed(Secret::new("t-1")).bearer().await.unwrap();
        assert_eq!(fixed.unwrap().expose(), "t-1");
    }
}
