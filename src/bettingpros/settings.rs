//! Where the BettingPros API is and the key it takes: `BETTINGPROS_BASE_URL` and
//! `BETTINGPROS_API_KEY`.

use super::Upstream;
use crate::settings::{ConfigError, Secret, Vars};

pub const DEFAULT_BASE_URL: &str = "https://api.bettingpros.com/v3";

#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub base_url: String,
    /// `None` when the secret is not mounted: every scrape then fails before sending anything.
    pub api_key: Option<Secret>,
}

impl UpstreamSettings {
    /// Refuses at start-up what [`Upstream::new`] cannot use: a base URL that is not an
    /// absolute http(s) URL without query, a key that cannot travel in a header.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let base_url = vars.get("BETTINGPROS_BASE_URL").unwrap_or(DEFAULT_BASE_URL);
        let settings = UpstreamSettings {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: vars.get("BETTINGPROS_API_KEY").map(Secret::new),
        };
        Upstream::new(&settings)?;
        Ok(settings)
    }
}
