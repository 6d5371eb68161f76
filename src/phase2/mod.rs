//! Hands one stored file to the Phase 2 loader: `POST {PHASE2_URL}/process` with a Pub/Sub
//! push envelope, authenticated by an OIDC ID token from the metadata server.
//!
//! Loading a file twice duplicates its rows, so callers send a file once per recovery. Within
//! one [`Phase2::send_file`], only failures that certainly loaded nothing are retried (with the
//! same `messageId`): no connection, no ID token, or an answer of 408/429/5xx but 504. An attempt that
//! timed out, lost its connection after the request went out, or got a 504 (Cloud Run's front
//! end stopped waiting) has an *unknown outcome*
//! (contract section 4): Phase 2 may be loading the file right now, so it is never retried
//! here; the caller keeps its claim and settles it from the table's rows (`reprocess::settle`).

pub mod error;
pub mod identity;
pub mod settings;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use base64::Engine;
use rand::Rng;
use reqwest::header::AUTHORIZATION;
use serde_json::json;

use crate::fetch::body::{error_chain, excerpt};
use crate::gcp::retry;

pub use error::{verdict, Phase2Error, Phase2Failure, Verdict};
use identity::{bearer_header, IDENTITY_PATH};
pub use settings::Phase2Settings;

pub const PROCESS_PATH: &str = "/process";

/// Phase 2 took the file (loaded or skipped it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub status: u16,
    /// The envelope's `messageId`, the same on every attempt of this hand-over.
    pub message_id: String,
    pub attempts: u32,
}

/// The Pub/Sub push envelope Phase 2 expects, carrying `{"bucket", "name"}`.
pub fn envelope(
    bucket: &str,
    object_name: &str,
    message_id: &str,
    project: &str,
) -> serde_json::Value {
    let data = json!({"bucket": bucket, "name": object_name}).to_string();
    json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "messageId": message_id,
            "attributes": {},
        },
        "subscription": format!("projects/{project}/subscriptions/backstop-recovery"),
    })
}

fn new_message_id() -> String {
    format!("backstop-{:032x}", rand::rng().random::<u128>())
}

/// One failed attempt.
struct Attempt {
    failure: Phase2Failure,
    transient: bool,
    method: &'static str,
    path: &'static str,
    status: Option<u16>,
    excerpt: String,
}

impl crate::gcp::Attempt for Attempt {
    fn transient(&self) -> bool {
        self.transient
    }
    fn describe(&self) -> String {
        let status = self.status.map(|s| format!(" {s}")).unwrap_or_default();
        format!(
            "{} {}{status}: {} {}",
            self.method, self.path, self.failure, self.excerpt
        )
    }
}

/// The Phase 2 client.
#[derive(Debug, Clone)]
pub struct Phase2 {
    http: reqwest::Client,
    settings: Phase2Settings,
}

impl Phase2 {
    pub fn new(settings: Phase2Settings) -> Self {
        let http = crate::gcp::http_client(Duration::from_secs(10));
        Self { http, settings }
    }

    pub fn settings(&self) -> &Phase2Settings {
        &self.settings
    }

    /// Hands `gs://{bucket}/{object_name}` to Phase 2, retrying transient failures.
    pub async fn send_file(
        &self,
        bucket: &str,
        object_name: &str,
    ) -> Result<Delivery, Phase2Error> {
        let attempts = AtomicU32::new(0);
        let give_up = |a: Attempt| Phase2Error {
            failure: a.failure,
            retryable: a.transient,
            attempts: attempts.load(Ordering::SeqCst),
            method: a.method,
            path: a.path.into(),
            object: object_name.into(),
            status: a.status,
            excerpt: a.excerpt,
        };
        let Some(service) = self.settings.url.as_deref() else {
            return Err(give_up(Attempt {
                failure: Phase2Failure::NotConfigured,
                transient: false,
                method: "POST",
                path: PROCESS_PATH,
                status: None,
                excerpt: String::new(),
            }));
        };
        let message_id = new_message_id();
        let body = envelope(bucket, object_name, &message_id, &self.settings.project);
        let url = format!("{service}{PROCESS_PATH}");
        let s = &self.settings;
        let what = format!("Phase 2 hand-over of {object_name}");
        let result = retry(
            s.max_attempts.max(1),
            s.backoff_base,
            s.backoff_max,
            &what,
            || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                self.attempt(service, &url, &body).await
            },
        )
        .await
        .map_err(|(a, _)| a);
        match result {
            Ok(status) => {
                let delivery = Delivery {
                    status,
                    message_id,
                    attempts: attempts.load(Ordering::SeqCst),
                };
                tracing::info!(
                    object = object_name, http.status = status, attempt = delivery.attempts,
                    message_id = %delivery.message_id, "Phase 2 took the file"
                );
                Ok(delivery)
            }
            Err(a) => Err(give_up(a)),
        }
    }

    /// One POST (after getting a token, when auth is on): the status on delivery.
    async fn attempt(
        &self,
        service: &str,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<u16, Attempt> {
        let mut request = self
            .http
            .post(url)
            .json(body)
            .timeout(self.settings.attempt_timeout);
        if self.settings.auth {
            let timeout = self.settings.attempt_timeout.min(Duration::from_secs(10));
            let bearer = bearer_header(&self.http, &self.settings.metadata_host, service, timeout)
                .await
                .map_err(|e| Attempt {
                    failure: e.failure,
                    transient: e.transient,
                    method: "GET",
                    path: IDENTITY_PATH,
                    status: match e.failure {
                        Phase2Failure::Identity(s) => s,
                        _ => None,
                    },
                    excerpt: e.detail,
                })?;
            request = request.header(AUTHORIZATION, bearer);
        }
        let failed = |failure, transient, status, excerpt| Attempt {
            failure,
            transient,
            method: "POST",
            path: PROCESS_PATH,
            status,
            excerpt,
        };
        // Only a connection that never opened certainly sent nothing; a timeout or a break
        // after that leaves the outcome unknown, and is never retried.
        let transport = |e: reqwest::Error| {
            let failure = if e.is_connect() {
                Phase2Failure::Connect
            } else if e.is_timeout() {
                Phase2Failure::Timeout
            } else {
                Phase2Failure::Broken
            };
            failed(failure, !failure.outcome_unknown(), None, error_chain(&e))
        };
        let resp = request.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        // The status decides; a body that breaks off only loses the excerpt.
        let answer = match resp.bytes().await {
            Ok(body) => excerpt(&body),
            Err(e) => format!("(the answer's body broke off: {})", error_chain(&e)),
        };
        match verdict(status) {
            Verdict::Delivered => Ok(status),
            v => Err(failed(
                Phase2Failure::Status(status),
                v == Verdict::Transient,
                Some(status),
                answer,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_a_pubsub_push_with_the_file_in_base64() {
        let e = envelope(
            "nba-scraped-data",
            "bettingpros/player-props/points/x.json",
            "m-1",
            "p",
        );
        assert_eq!(e["message"]["messageId"], "m-1");
        assert_eq!(e["message"]["attributes"], json!({}));
        assert_eq!(
            e["subscription"],
            "projects/p/subscriptions/backstop-recovery"
        );
        let data = base64::engine::general_purpose::STANDARD
            .decode(e["message"]["data"].as_str().unwrap())
            .unwrap();
        let inner: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(
            inner,
            json!({"bucket": "nba-scraped-data", "name": "bettingpros/player-props/points/x.json"})
        );
    }

    #[test]
    fn message_ids_are_unique() {
        assert_ne!(new_message_id(), new_message_id());
    }

    #[tokio::test]
    async fn without_a_url_nothing_is_sent_and_the_error_is_permanent() {
        let err = Phase2::new(Phase2Settings::default())
            .send_file("b", "o.json")
            .await
            .unwrap_err();
        assert_eq!(err.failure, Phase2Failure::NotConfigured);
        assert!(!err.retryable);
        assert_eq!(err.attempts, 0);
        assert!(err.to_string().contains("PHASE2_URL"), "{err}");
    }
}
