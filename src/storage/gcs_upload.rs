//! The create-only upload of one object to Cloud Storage, so that the stored object keeps its
//! content type.
//!
//! gcloud-storage sends a multipart upload as `multipart/form-data` whose data part has no
//! `Content-Type`, and the object is then stored without one: the metadata's `contentType`
//! alone is not what is kept (fake-gcs-server 1.54 takes the data part's header, as raw
//! requests show; the raw files written through gcloud-storage read back from Cloud Storage
//! without a type too). This sends the form Cloud Storage documents for `uploadType=multipart`:
//! `multipart/related`, the metadata part (name and `contentType`) first, then the data part
//! carrying the same `Content-Type`. No content encoding is set. `ifGenerationMatch=0` makes it
//! create-only (412 when the name exists), and the emulator checks that on multipart uploads.

use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use gcloud_storage::http::error::ErrorResponse;
use gcloud_storage::http::objects::Object;
use gcloud_storage::http::Error as GcsError;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use token_source::TokenSource;

/// Uploads objects with the same endpoint and credentials as the rest of the GCS client.
#[derive(Clone)]
pub(super) struct Uploader {
    http: reqwest::Client,
    /// `https://storage.googleapis.com`, or the emulator's base URL.
    endpoint: String,
    /// `None` against the emulator (anonymous).
    tokens: Option<Arc<dyn TokenSource>>,
}

impl Uploader {
    /// `http` is the store's own client (`gcp::http_client`: never through a proxy).
    pub(super) fn new(
        http: reqwest::Client,
        endpoint: &str,
        tokens: Option<Arc<dyn TokenSource>>,
    ) -> Self {
        Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            tokens,
        }
    }

    /// One attempt at creating `bucket/name`; errors as gcloud-storage reports them, so the
    /// store classifies them in one place.
    pub(super) async fn create(
        &self,
        bucket: &str,
        name: &str,
        body: &Bytes,
        content_type: &str,
    ) -> Result<Object, GcsError> {
        let (boundary, payload) = multipart_related(name, body, content_type);
        let mut request = self
            .http
            .post(format!("{}/upload/storage/v1/b/{bucket}/o", self.endpoint))
            .query(&[("uploadType", "multipart"), ("ifGenerationMatch", "0")])
            .header(
                CONTENT_TYPE,
                format!("multipart/related; boundary={boundary}"),
            )
            .body(payload);
        if let Some(tokens) = &self.tokens {
            let token = tokens.token().await.map_err(GcsError::TokenSource)?;
            request = request.header(AUTHORIZATION, token);
        }
        let response = request.send().await?;
        if let Err(status) = response.error_for_status_ref() {
            #[derive(serde::Deserialize)]
            struct Wrapper {
                error: ErrorResponse,
            }
            return Err(match response.json::<Wrapper>().await {
                Ok(w) => GcsError::Response(w.error),
                Err(_) => GcsError::HttpClient(status),
            });
        }
        Ok(response.json::<Object>().await?)
    }
}

/// The body of a multipart upload and its boundary (one that does not occur in the data).
fn multipart_related(name: &str, body: &[u8], content_type: &str) -> (String, Vec<u8>) {
    let boundary = loop {
        let candidate = format!("backstop-{:032x}", rand::random::<u128>());
        if !body
            .windows(candidate.len())
            .any(|w| w == candidate.as_bytes())
        {
            break candidate;
        }
    };
    let metadata = serde_json::json!({ "name": name, "contentType": content_type });
    let mut payload = Vec::with_capacity(body.len() + 512);
    let _ = write!(
        payload,
        "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n\
         --{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
    );
    payload.extend_from_slice(body);
    let _ = write!(payload, "\r\n--{boundary}--\r\n");
    (boundary, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parts_carry_the_content_type_and_the_data_goes_as_it_is() {
        let (b, payload) = multipart_related("a/b.json", b"{\"x\": 1}", "application/json");
        let want = format!(
            "--{b}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n\
             {{\"contentType\":\"application/json\",\"name\":\"a/b.json\"}}\r\n\
             --{b}\r\nContent-Type: application/json\r\n\r\n{{\"x\": 1}}\r\n--{b}--\r\n"
        );
        assert_eq!(String::from_utf8(payload).unwrap(), want);
    }
}
