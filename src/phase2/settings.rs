//! Phase 2's settings: the bare service URL (also the token audience), auth switch, retries.

use std::time::Duration;

use reqwest::Url;

use crate::gcp::GcpSettings;
use crate::settings::{ConfigError, Vars, ATTEMPTS};

/// Where Phase 2 is and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase2Settings {
    /// `PHASE2_URL`: the bare service URL (`https://…run.app`), also the token's audience.
    /// `None` when unset: every hand-over then fails without sending anything.
    pub url: Option<String>,
    /// False when `BACKSTOP_PHASE2_AUTH=off`: no token is fetched or sent.
    pub auth: bool,
    /// The metadata server that gives the ID token (`GCE_METADATA_HOST`, from [`GcpSettings`]).
    pub metadata_host: String,
    /// `GCP_PROJECT_ID` (from [`GcpSettings`]), for the envelope's `subscription`.
    pub project: String,
    /// `BACKSTOP_PHASE2_TIMEOUT_SECS`: one attempt. Long by default (Cloud Run's own request
    /// limit) because a timed-out request may still load the file.
    pub attempt_timeout: Duration,
    /// `BACKSTOP_PHASE2_MAX_ATTEMPTS`, the first one included.
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for Phase2Settings {
    fn default() -> Self {
        Self {
            url: None,
            auth: true,
            metadata_host: GcpSettings::default().metadata,
            project: GcpSettings::default().project,
            attempt_timeout: Duration::from_secs(300),
            max_attempts: 4,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
        }
    }
}

impl Phase2Settings {
    /// An upper bound on one hand-over, every attempt and backoff included: a claim younger
    /// than this may still have a request in flight.
    pub fn longest_hand_over(&self) -> Duration {
        let attempts = self.max_attempts.max(1);
        self.attempt_timeout * attempts + self.backoff_max * (attempts - 1)
    }

    pub fn from_vars(vars: &Vars, gcp: &GcpSettings) -> Result<Self, ConfigError> {
        let d = Self::default();
        let url = vars.get("PHASE2_URL").map(bare_service_url).transpose()?;
        let auth = vars.switch("BACKSTOP_PHASE2_AUTH")?.unwrap_or(true);
        Ok(Self {
            url,
            auth,
            metadata_host: gcp.metadata.clone(),
            project: gcp.project.clone(),
            attempt_timeout: vars.secs("BACKSTOP_PHASE2_TIMEOUT_SECS", d.attempt_timeout)?,
            max_attempts: vars.whole(
                "BACKSTOP_PHASE2_MAX_ATTEMPTS",
                d.max_attempts.into(),
                ATTEMPTS,
            )? as u32,
            ..d
        })
    }
}

/// `https://host[:port]` with no path: the audience Cloud Run checks. A path is a mistake.
fn bare_service_url(raw: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError {
        var: "PHASE2_URL",
        value: raw.into(),
        reason: reason.into(),
    };
    let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("must be an http(s) URL"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "must be the bare service URL (no path such as /process, no query)",
        ));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Phase2Settings, ConfigError> {
        let vars = Vars::from_pairs(pairs.iter().copied());
        Phase2Settings::from_vars(&vars, &GcpSettings::from_vars(&vars)?)
    }

    #[test]
    fn settings_default_to_auth_on_and_the_real_metadata_server() {
        let s = settings(&[("PHASE2_URL", "https://phase2-abc-wl.a.run.app/")]).unwrap();
        assert_eq!(s.url.as_deref(), Some("https://phase2-abc-wl.a.run.app"));
        assert!(s.auth);
        assert_eq!(s.metadata_host, "http://metadata.google.internal");
        assert_eq!(s.project, "nba-props-platform");
        let off = settings(&[("BACKSTOP_PHASE2_AUTH", "OFF")]);
        assert!(!off.unwrap().auth);
    }

    #[test]
    fn a_url_with_a_path_or_a_bad_switch_fails_at_start_up() {
        for (var, value) in [
            ("PHASE2_URL", "https://phase2.a.run.app/process"),
            ("PHASE2_URL", "phase2.a.run.app"),
            ("PHASE2_URL", "ftp://phase2"),
            ("BACKSTOP_PHASE2_AUTH", "maybe"),
            ("BACKSTOP_PHASE2_MAX_ATTEMPTS", "0"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }
}
