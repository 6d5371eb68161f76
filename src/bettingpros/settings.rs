//! Where the BettingPros API is and the key it takes: `BETTINGPROS_BASE_URL` and
//! `BETTINGPROS_API_KEY`.

use crate::settings::{ConfigError, Secret, Vars};

pub const DEFAULT_BASE_URL: &str = "https://api.bettingpros.com/v3";

#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub base_url: String,
    /// `None` when the secret is not mounted: every scrape then fails before sending anything.
    pub api_key: Option<Secret>,
}

impl UpstreamSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let base_url = vars.get("BETTINGPROS_BASE_URL").unwrap_or(DEFAULT_BASE_URL);
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ConfigError {
                var: "BETTINGPROS_BASE_URL",
                value: base_url.to_string(),
                reason: "must start with http:// or https://".into(),
            });
        }
        Ok(UpstreamSettings {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: vars.get("BETTINGPROS_API_KEY").map(Secret::new),
        })
    }
}
