//! The Cloud Storage object store, on `gcloud-storage` (JSON API).
//!
//! Uploads are multipart with `ifGenerationMatch=0`, so GCS itself refuses to overwrite (412 →
//! [`PutOutcome::AlreadyExists`]); fake-gcs-server enforces that precondition on multipart
//! uploads only. They are sent by [`super::gcs_upload`], so the object keeps its content type. Each call is one or more attempts, each under its own timeout; transient
//! failures (5xx, 408, 429, transport errors, timeouts) are retried with jittered exponential
//! backoff, permanent ones (400, 401, 403, 404) are not. A retried upload that meets 412
//! compares the stored bytes with its own, so a write whose answer was lost still counts as
//! `Created`.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::DateTime;
use gcloud_storage::client::{Client, ClientConfig};
use gcloud_storage::http::buckets::get::GetBucketRequest;
use gcloud_storage::http::objects::download::Range;
use gcloud_storage::http::objects::get::GetObjectRequest;
use gcloud_storage::http::objects::list::ListObjectsRequest;
use gcloud_storage::http::objects::Object;
use gcloud_storage::http::Error as GcsError;

use super::gcs_upload::Uploader;
use super::{check_name, ObjectInfo, ObjectStore, PutOutcome, StorageError, StorageErrorKind};
use crate::fetch::body::error_chain;
use crate::gcp::{self, call_with_retries, with_attempts, CallFailure, Class, RetrySettings};
use crate::gcp::{endpoint, Credentials, GcpSettings, StorageTokens};

const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// What `gcloud-storage` itself asks for.
pub const STORAGE_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/devstorage.full_control",
];

#[derive(Clone)]
pub struct GcsStore {
    client: Client,
    uploader: Uploader,
    bucket: String,
    location: String,
    retry: RetrySettings,
    page_size: Option<i32>,
}

impl std::fmt::Debug for GcsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsStore")
            .field("location", &self.location)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl GcsStore {
    /// A client for `bucket`: anonymous against `emulator` (`http://127.0.0.1:4443`), else
    /// Application Default Credentials ([`Credentials`]), checked now so that a deploy without
    /// them fails at start-up. Sends nothing to the bucket; see [`ObjectStore::health`].
    pub async fn connect(
        bucket: &str,
        emulator: Option<&str>,
        gcp: &GcpSettings,
    ) -> Result<Self, StorageError> {
        let location = format!("gs://{bucket}");
        let credentials = Credentials::for_service(emulator, &STORAGE_SCOPES, gcp);
        if let Err(e) = credentials.bearer().await {
            let detail = format!("no usable Google credentials (ADC): {e}");
            return Err(StorageError::new(
                "open",
                &location,
                "",
                StorageErrorKind::Denied,
                detail,
            ));
        }
        let plain = gcp::http_client(CONNECT_TIMEOUT);
        let http = reqwest_middleware::ClientBuilder::new(plain.clone());
        let config = ClientConfig {
            storage_endpoint: emulator.map_or(endpoint::STORAGE.into(), endpoint::base_url),
            http: Some(http.build()),
            token_source_provider: match credentials {
                Credentials::None => None,
                other => Some(Box::new(StorageTokens(other))),
            },
            ..Default::default()
        };
        let tokens = config
            .token_source_provider
            .as_ref()
            .map(|p| p.token_source());
        Ok(Self {
            uploader: Uploader::new(plain, &config.storage_endpoint, tokens),
            client: Client::new(config),
            bucket: bucket.to_string(),
            location,
            retry: RetrySettings::storage(),
            page_size: None,
        })
    }

    pub fn with_retry(mut self, retry: RetrySettings) -> Self {
        self.retry = retry;
        self
    }

    /// Objects per listing page (the server's default when unset); small values test paging.
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    /// A retried upload that met 412 may have met its own earlier attempt, which landed
    /// although its answer was lost. The same bytes there mean the write is ours.
    async fn settle_retried_put(&self, name: &str, body: &[u8]) -> PutOutcome {
        let request = GetObjectRequest {
            bucket: self.bucket.clone(),
            object: name.to_string(),
            ..Default::default()
        };
        let whole = Range::default();
        let stored = async {
            let meta = self
                .call("put", name, || self.client.get_object(&request))
                .await?;
            let pinned = GetObjectRequest {
                generation: Some(meta.generation),
                ..request.clone()
            };
            let bytes = self
                .call("put", name, || self.client.download_object(&pinned, &whole))
                .await?;
            Ok::<_, StorageError>((meta.generation, bytes))
        };
        match stored.await {
            Ok((generation, bytes)) if bytes == body => PutOutcome::Created { generation },
            Ok(_) => PutOutcome::AlreadyExists,
            Err(e) => {
                tracing::warn!(error = %e, "could not tell whether the existing object is our own retried write");
                PutOutcome::AlreadyExists
            }
        }
    }

    /// Runs `call` with per-attempt timeouts and retries of transient failures.
    async fn call<T, F, Fut>(
        &self,
        op: &'static str,
        object: &str,
        mut call: F,
    ) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, GcsError>>,
    {
        let what = format!("storage {op} {}/{object}", self.location);
        let attempt = || {
            let pending = call();
            async move { pending.await.map_err(|e| failure(&e)) }
        };
        call_with_retries(&self.retry, &what, attempt)
            .await
            .map_err(|(f, attempts)| {
                let detail = with_attempts(f.detail, attempts);
                StorageError::new(op, &self.location, object, kind(f.class), detail)
            })
    }
}

#[async_trait]
impl ObjectStore for GcsStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn put_new(
        &self,
        name: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<PutOutcome, StorageError> {
        check_name("put", &self.location, name)?;
        let body = Bytes::from(body);
        let tries = AtomicU32::new(0);
        let outcome = self
            .call("put", name, || {
                tries.fetch_add(1, Ordering::SeqCst);
                async {
                    match self
                        .uploader
                        .create(&self.bucket, name, &body, content_type)
                        .await
                    {
                        Ok(object) => Ok(PutOutcome::Created {
                            generation: object.generation,
                        }),
                        Err(e) if status_of(&e) == Some(412) => Ok(PutOutcome::AlreadyExists),
                        Err(e) => Err(e),
                    }
                }
            })
            .await?;
        if outcome == PutOutcome::AlreadyExists && tries.load(Ordering::SeqCst) > 1 {
            return Ok(self.settle_retried_put(name, &body).await);
        }
        Ok(outcome)
    }

    async fn get(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        check_name("get", &self.location, name)?;
        let request = GetObjectRequest {
            bucket: self.bucket.clone(),
            object: name.to_string(),
            ..Default::default()
        };
        let whole = Range::default();
        self.call("get", name, || {
            self.client.download_object(&request, &whole)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let mut found = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let request = ListObjectsRequest {
                bucket: self.bucket.clone(),
                prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
                page_token: page_token.clone(),
                max_results: self.page_size,
                ..Default::default()
            };
            let page = self
                .call("list", prefix, || self.client.list_objects(&request))
                .await?;
            found.extend(page.items.unwrap_or_default().into_iter().map(info));
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) == page_token.as_ref() => {
                    return Err(StorageError::new(
                        "list",
                        &self.location,
                        prefix,
                        StorageErrorKind::Invalid,
                        format!("the listing did not advance past page token {next:?}"),
                    ));
                }
                Some(next) => page_token = Some(next),
                None => break,
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    async fn health(&self) -> Result<(), StorageError> {
        let request = GetBucketRequest {
            bucket: self.bucket.clone(),
            ..Default::default()
        };
        self.call("health", "", || self.client.get_bucket(&request))
            .await
            .map(|_| ())
    }
}

fn info(o: Object) -> ObjectInfo {
    ObjectInfo {
        size: o.size.max(0) as u64,
        generation: o.generation,
        updated: o
            .updated
            .and_then(|t| DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond())),
        content_type: o.content_type,
        name: o.name,
    }
}

/// The HTTP status of a failed call, whether GCS sent a JSON error body or not.
fn status_of(e: &GcsError) -> Option<u16> {
    match e {
        GcsError::Response(r) => Some(r.code),
        GcsError::HttpClient(e) | GcsError::RawResponse(e, _) => e.status().map(|s| s.as_u16()),
        _ => None,
    }
}

fn failure(e: &GcsError) -> CallFailure {
    match (status_of(e), e) {
        (Some(status), GcsError::Response(r)) => CallFailure::status(status, &r.message),
        (Some(status), _) => CallFailure::status(status, &error_chain(e)),
        (None, GcsError::TokenSource(t)) => CallFailure {
            class: Class::Credentials,
            transient: true,
            status: None,
            detail: format!("could not get an access token: {t}"),
        },
        (None, GcsError::HttpClient(r)) if r.is_builder() => {
            CallFailure::permanent(Class::Invalid, error_chain(e))
        }
        (None, GcsError::InvalidRangeHeader(_)) => {
            CallFailure::permanent(Class::Invalid, error_chain(e))
        }
        // Connect, reset, a body cut off, middleware trouble: all worth another attempt.
        (None, _) => CallFailure::transport(error_chain(e)),
    }
}

fn kind(class: Class) -> StorageErrorKind {
    match class {
        Class::NotFound => StorageErrorKind::NotFound,
        Class::Denied => StorageErrorKind::Denied,
        Class::Unavailable | Class::Credentials => StorageErrorKind::Unavailable,
        Class::Invalid => StorageErrorKind::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gcloud_storage::http::error::ErrorResponse;

    #[test]
    fn a_json_error_body_is_classified_by_its_code() {
        let e = GcsError::Response(ErrorResponse {
            code: 503,
            errors: vec![],
            message: "Backend Error".into(),
        });
        let f = failure(&e);
        assert_eq!(
            (kind(f.class), f.transient),
            (StorageErrorKind::Unavailable, true)
        );
        assert_eq!(f.detail, "HTTP 503: Backend Error");
        assert_eq!(status_of(&e), Some(503));
    }

    #[test]
    fn token_trouble_is_worth_a_retry() {
        let e = GcsError::TokenSource("metadata server timed out".into());
        let f = failure(&e);
        assert_eq!(
            (kind(f.class), f.transient),
            (StorageErrorKind::Unavailable, true)
        );
        assert!(
            f.detail.contains("metadata server timed out"),
            "{}",
            f.detail
        );
    }

    #[tokio::test]
    async fn debug_output_shows_where_not_how() {
        let gcp = GcpSettings::default();
        let store = GcsStore::connect("nba-scraped-data", Some("http://127.0.0.1:9"), &gcp)
            .await
            .unwrap();
        let shown = format!("{store:?}");
        assert!(shown.contains("gs://nba-scraped-data"), "{shown}");
        assert_eq!(store.url("a/b.json"), "gs://nba-scraped-data/a/b.json");
    }
}
