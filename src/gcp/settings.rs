//! The project and the metadata server, read once for every Google Cloud client:
//! `GCP_PROJECT_ID` and `GCE_METADATA_HOST`.

use super::endpoint;
use crate::settings::{ConfigError, Vars};

pub const DEFAULT_PROJECT: &str = "nba-props-platform";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpSettings {
    /// `GCP_PROJECT_ID`: owns the topic and the table, runs (pays for) the queries.
    pub project: String,
    /// Whether `GCP_PROJECT_ID` was given: it turns completion messages on by default.
    pub project_set: bool,
    /// `GCE_METADATA_HOST` as a base URL (`http://metadata.google.internal` by default): where
    /// access and identity tokens come from on Cloud Run.
    pub metadata: String,
}

impl Default for GcpSettings {
    fn default() -> Self {
        Self {
            project: DEFAULT_PROJECT.into(),
            project_set: false,
            metadata: endpoint::base_url(endpoint::METADATA_HOST),
        }
    }
}

impl GcpSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let given = vars.get("GCP_PROJECT_ID");
        let project = given.unwrap_or(DEFAULT_PROJECT);
        // It goes into URLs and between backticks in SQL: only a project id's characters.
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.:".contains(c);
        if project.len() > 100 || !project.chars().all(ok) {
            return Err(ConfigError {
                var: "GCP_PROJECT_ID",
                value: project.into(),
                reason: "may hold only lowercase letters, digits, - . :".into(),
            });
        }
        let metadata = match vars.get("GCE_METADATA_HOST") {
            Some(host) => endpoint::parse("GCE_METADATA_HOST", host)?,
            None => Self::default().metadata,
        };
        Ok(Self {
            project: project.into(),
            project_set: given.is_some(),
            metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gcp(pairs: &[(&str, &str)]) -> Result<GcpSettings, ConfigError> {
        GcpSettings::from_vars(&Vars::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_are_the_production_project_and_metadata_server() {
        assert_eq!(gcp(&[]).unwrap(), GcpSettings::default());
        let set = gcp(&[
            ("GCP_PROJECT_ID", "p-1"),
            ("GCE_METADATA_HOST", "127.0.0.1:9"),
        ]);
        let set = set.unwrap();
        assert_eq!((set.project.as_str(), set.project_set), ("p-1", true));
        assert_eq!(set.metadata, "http://127.0.0.1:9");
    }

    #[test]
    fn a_project_with_spaces_slashes_or_capitals_is_refused() {
        for bad in ["my project", "projects/p", "Prod", "p`; DROP"] {
            assert_eq!(
                gcp(&[("GCP_PROJECT_ID", bad)]).unwrap_err().var,
                "GCP_PROJECT_ID"
            );
        }
        let err = gcp(&[("GCE_METADATA_HOST", "ftp://x")]).unwrap_err();
        assert_eq!(err.var, "GCE_METADATA_HOST");
    }
}
