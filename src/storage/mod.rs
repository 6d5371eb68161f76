//! Object storage for raw files: the [`ObjectStore`] trait, its Cloud Storage and
//! local-directory implementations, and [`StorageKey`], which owns every object path.
//!
//! Writes are create-only: an object is never overwritten, and finding the name taken is an
//! answer ([`PutOutcome::AlreadyExists`]), not a failure. Both implementations pass one
//! behaviour suite (`tests/it/storage.rs`).

pub mod gcs;
mod gcs_upload;
pub mod key;
pub mod local;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::settings::{ConfigError, Vars};

pub use crate::gcp::RetrySettings;
pub use gcs::GcsStore;
pub use key::StorageKey;
pub use local::LocalStore;

/// Where raw files go when nothing is configured: the offline default.
pub const DEFAULT_LOCAL_DIR: &str = "./backstop-data";

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// `gs://bucket` or an absolute directory path.
    fn location(&self) -> String;

    /// Creates `name` unless it exists. An existing object is left as it is and reported as
    /// [`PutOutcome::AlreadyExists`].
    async fn put_new(
        &self,
        name: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<PutOutcome, StorageError>;

    async fn get(&self, name: &str) -> Result<Vec<u8>, StorageError>;

    /// Every object whose name starts with `prefix` (all pages), sorted by name.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError>;

    /// Can the store be reached and read?
    async fn health(&self) -> Result<(), StorageError>;

    /// The full address of an object: `gs://bucket/name` or `/abs/path/name`.
    fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.location())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created {
        generation: i64,
    },
    /// The name was taken by another write; nothing was written.
    AlreadyExists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub name: String,
    pub size: u64,
    /// Changes whenever the object is created anew (GCS generation; local: creation time in ns).
    pub generation: i64,
    pub updated: Option<DateTime<Utc>>,
    pub content_type: Option<String>,
}

/// What kind of failure, for callers that decide what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    NotFound,
    /// Could not be reached or answered 5xx/429/timeout, after the retries.
    Unavailable,
    /// Credentials missing or refused (401/403).
    Denied,
    /// A request that can never succeed as made (bad name, 400, unexpected answer).
    Invalid,
}

impl fmt::Display for StorageErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StorageErrorKind::NotFound => "not found",
            StorageErrorKind::Unavailable => "unavailable",
            StorageErrorKind::Denied => "denied",
            StorageErrorKind::Invalid => "invalid",
        })
    }
}

/// A failed storage operation, naming the operation and the object.
/// Shows as `storage put gs://nba-scraped-data/bettingpros/…: unavailable: connection refused`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage {op} {}: {kind}: {detail}", self.address())]
pub struct StorageError {
    /// `put`, `get`, `list`, `health` or `open`.
    pub op: &'static str,
    /// The object name, or the prefix for `list`; empty for the whole store.
    pub object: String,
    pub location: String,
    pub kind: StorageErrorKind,
    pub detail: String,
}

impl StorageError {
    pub fn new(
        op: &'static str,
        location: &str,
        object: &str,
        kind: StorageErrorKind,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            op,
            object: object.to_string(),
            location: location.to_string(),
            kind,
            detail: detail.into(),
        }
    }

    /// `gs://bucket/object`, or the location alone when there is no object.
    pub fn address(&self) -> String {
        if self.object.is_empty() {
            self.location.clone()
        } else {
            format!("{}/{}", self.location, self.object)
        }
    }
}

/// Where raw files live, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// A Cloud Storage bucket; `emulator` is a base URL such as `http://127.0.0.1:4443`.
    Gcs {
        bucket: String,
        emulator: Option<String>,
    },
    Local(PathBuf),
}

impl StorageLocation {
    /// `BACKSTOP_STORAGE` (`gs://BUCKET` or a directory), else `GCS_BUCKET_RAW` (the old
    /// service's variable), else [`DEFAULT_LOCAL_DIR`]. `STORAGE_EMULATOR_HOST` sends GCS
    /// traffic to an emulator with anonymous credentials.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let emulator = match vars.get("STORAGE_EMULATOR_HOST") {
            None => None,
            Some(host) => Some(crate::gcp::endpoint::parse("STORAGE_EMULATOR_HOST", host)?),
        };
        let gcs = |var: &'static str, bucket: &str| {
            check_bucket(var, bucket).map(|bucket| StorageLocation::Gcs {
                bucket,
                emulator: emulator.clone(),
            })
        };
        if let Some(given) = vars.get("BACKSTOP_STORAGE") {
            if let Some(bucket) = given.strip_prefix("gs://") {
                return gcs("BACKSTOP_STORAGE", bucket.trim_end_matches('/'));
            }
            if looks_like_url(given) {
                return Err(ConfigError {
                    var: "BACKSTOP_STORAGE",
                    value: given.to_string(),
                    reason: "must be gs://BUCKET or a directory path".into(),
                });
            }
            return Ok(StorageLocation::Local(PathBuf::from(given)));
        }
        if let Some(bucket) = vars.get("GCS_BUCKET_RAW") {
            return gcs("GCS_BUCKET_RAW", bucket);
        }
        Ok(StorageLocation::Local(PathBuf::from(DEFAULT_LOCAL_DIR)))
    }
}

impl fmt::Display for StorageLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageLocation::Gcs {
                bucket,
                emulator: None,
            } => write!(f, "gs://{bucket}"),
            StorageLocation::Gcs {
                bucket,
                emulator: Some(url),
            } => write!(f, "gs://{bucket} (emulator at {url})"),
            StorageLocation::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

/// `s3://b`, `gs:/b`, `postgresql:x`: a scheme, not a directory an operator meant to create.
fn looks_like_url(value: &str) -> bool {
    value.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

fn check_bucket(var: &'static str, bucket: &str) -> Result<String, ConfigError> {
    let ok = (3..=222).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(bucket.to_string())
    } else {
        Err(ConfigError {
            var,
            value: bucket.to_string(),
            reason: "not a bucket name (3-222 of a-z 0-9 - _ .; no path inside the bucket)".into(),
        })
    }
}

/// Opens the configured store: a GCS client (ADC, or anonymous against an emulator) or a
/// local directory, created if missing.
pub async fn open(
    location: &StorageLocation,
    gcp: &crate::gcp::GcpSettings,
) -> Result<Arc<dyn ObjectStore>, StorageError> {
    Ok(match location {
        StorageLocation::Gcs { bucket, emulator } => {
            Arc::new(GcsStore::connect(bucket, emulator.as_deref(), gcp).await?)
        }
        StorageLocation::Local(path) => Arc::new(LocalStore::open(path).await?),
    })
}

/// The names both stores accept: what GCS allows, minus what would be a path trick or clash
/// with the local store's hidden files. Checked before anything is sent.
pub(crate) fn check_name(op: &'static str, location: &str, name: &str) -> Result<(), StorageError> {
    let problem = if name.is_empty() {
        Some("the name is empty")
    } else if name.len() > 1024 {
        Some("the name is longer than 1024 bytes")
    } else if name.chars().any(|c| c.is_control() || c == '\\') {
        Some("the name contains a control character or a backslash")
    } else if name
        .split('/')
        .any(|part| part.is_empty() || part.starts_with('.'))
    {
        Some("every /-separated part must be non-empty and not start with '.'")
    } else {
        None
    };
    match problem {
        Some(why) => Err(StorageError::new(
            op,
            location,
            name,
            StorageErrorKind::Invalid,
            why,
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(pairs: &[(&str, &str)]) -> Result<StorageLocation, ConfigError> {
        StorageLocation::from_vars(&Vars::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn backstop_storage_wins_then_the_old_bucket_variable_then_a_local_default() {
        let gcs = |bucket: &str| StorageLocation::Gcs {
            bucket: bucket.into(),
            emulator: None,
        };
        assert_eq!(
            location(&[
                ("BACKSTOP_STORAGE", "gs://mine/"),
                ("GCS_BUCKET_RAW", "theirs")
            ]),
            Ok(gcs("mine"))
        );
        assert_eq!(
            location(&[("BACKSTOP_STORAGE", "/srv/raw"), ("GCS_BUCKET_RAW", "x")]),
            Ok(StorageLocation::Local("/srv/raw".into()))
        );
        assert_eq!(
            location(&[("GCS_BUCKET_RAW", "nba-scraped-data")]),
            Ok(gcs("nba-scraped-data"))
        );
        assert_eq!(
            location(&[]),
            Ok(StorageLocation::Local(DEFAULT_LOCAL_DIR.into()))
        );
    }

    #[test]
    fn the_emulator_host_is_mapped_to_a_base_url() {
        for (given, url) in [
            ("http://127.0.0.1:4443/", "http://127.0.0.1:4443"),
            ("localhost:4443", "http://localhost:4443"),
        ] {
            let loc = location(&[("GCS_BUCKET_RAW", "b-1"), ("STORAGE_EMULATOR_HOST", given)]);
            assert_eq!(
                loc,
                Ok(StorageLocation::Gcs {
                    bucket: "b-1".into(),
                    emulator: Some(url.into())
                })
            );
        }
    }

    #[test]
    fn bad_locations_name_the_variable() {
        for (var, value) in [
            ("BACKSTOP_STORAGE", "s3://bucket"),
            ("BACKSTOP_STORAGE", "gs:/bucket"),
            ("BACKSTOP_STORAGE", "postgresql://u@h/db"),
            ("BACKSTOP_STORAGE", "gs://"),
            ("BACKSTOP_STORAGE", "gs://bucket/raw"),
            ("GCS_BUCKET_RAW", "Upper"),
            ("STORAGE_EMULATOR_HOST", "ftp://x:1"),
        ] {
            let mut pairs = vec![(var, value)];
            if var == "STORAGE_EMULATOR_HOST" {
                pairs.push(("GCS_BUCKET_RAW", "bucket"));
            }
            let err = location(&pairs).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }

    #[test]
    fn errors_read_as_operation_address_kind_detail() {
        let e = StorageError::new(
            "put",
            "gs://nba-scraped-data",
            "bettingpros/events/2026-01-14/20260114_180512.json",
            StorageErrorKind::Unavailable,
            "connection refused",
        );
        assert_eq!(
            e.to_string(),
            "storage put gs://nba-scraped-data/bettingpros/events/2026-01-14/20260114_180512.json: \
             unavailable: connection refused"
        );
        let whole = StorageError::new("health", "/srv/raw", "", StorageErrorKind::Denied, "no");
        assert_eq!(whole.to_string(), "storage health /srv/raw: denied: no");
    }

    #[test]
    fn names_that_could_escape_or_clash_are_invalid() {
        for bad in [
            "", "/abs", "a//b", "a/../b", "a/./b", ".hidden", "a/.tmp", "a\\b", "a/",
        ] {
            let err = check_name("put", "/x", bad).unwrap_err();
            assert_eq!(err.kind, StorageErrorKind::Invalid, "{bad}");
        }
        check_name(
            "put",
            "/x",
            "bettingpros/events/2026-01-14/20260114_180512.json",
        )
        .unwrap();
    }
}
