//! Publishes one completion message to Pub/Sub over the REST API.
//!
//! `POST {base}/v1/projects/{project}/topics/{topic}:publish` with
//! `{"messages": [{"data": base64(json)}]}` and no attributes. In production `base` is
//! `https://pubsub.googleapis.com` and each request carries an OAuth access token from
//! Application Default Credentials ([`crate::gcp::Credentials`]); against the emulator it is `http://{PUBSUB_EMULATOR_HOST}`
//! and nothing is sent for auth. 5xx, 408, 429, transport errors and timeouts are retried with
//! jittered exponential backoff; anything else is final.

use std::time::Duration;

use base64::Engine as _;
use reqwest::header::AUTHORIZATION;

use crate::fetch::body::error_chain;
use crate::gcp::{call_with_retries, with_attempts, CallFailure, Class, RetrySettings};
use crate::gcp::{endpoint, Credentials, GcpSettings};
use crate::settings::{ConfigError, Vars};

pub const DEFAULT_TOPIC: &str = "nba-phase1-scrapers-complete";
const PUBSUB_SCOPES: [&str; 1] = ["https://www.googleapis.com/auth/pubsub"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubSubSettings {
    /// `GCP_PROJECT_ID` (from [`GcpSettings`]).
    pub project: String,
    /// `BACKSTOP_TOPIC`.
    pub topic: String,
    /// `PUBSUB_EMULATOR_HOST` (`127.0.0.1:8085` or `http://127.0.0.1:8085`).
    pub emulator: Option<String>,
    /// Whether runs announce themselves at all. Callers check it; a [`Publisher`] always sends.
    pub enabled: bool,
}

impl PubSubSettings {
    /// `BACKSTOP_NOTIFY=on|off`; unset means on when `GCP_PROJECT_ID` or
    /// `PUBSUB_EMULATOR_HOST` is set, and off otherwise (the offline default).
    pub fn from_vars(vars: &Vars, gcp: &GcpSettings) -> Result<Self, ConfigError> {
        let topic = vars.get("BACKSTOP_TOPIC").unwrap_or(DEFAULT_TOPIC);
        // Pub/Sub's own rule for topic names: it goes into the URL as it is.
        let ok = |c: char| c.is_ascii_alphanumeric() || "-_.~+%".contains(c);
        let named = (3..=255).contains(&topic.len())
            && topic.starts_with(|c: char| c.is_ascii_alphabetic())
            && topic.chars().all(ok);
        if !named {
            return Err(ConfigError {
                var: "BACKSTOP_TOPIC",
                value: topic.to_string(),
                reason: "must be a topic name: 3-255 letters, digits, - _ . ~ + %, starting \
                         with a letter (no projects/…/topics/ prefix)"
                    .into(),
            });
        }
        let emulator = vars
            .get("PUBSUB_EMULATOR_HOST")
            .map(|host| endpoint::parse("PUBSUB_EMULATOR_HOST", host))
            .transpose()?;
        let enabled = vars
            .switch("BACKSTOP_NOTIFY")?
            .unwrap_or(gcp.project_set || emulator.is_some());
        Ok(Self {
            project: gcp.project.clone(),
            topic: topic.to_string(),
            emulator,
            enabled,
        })
    }

    /// `https://pubsub.googleapis.com`, or `http://HOST:PORT` for the emulator.
    pub fn base_url(&self) -> String {
        match &self.emulator {
            None => endpoint::PUBSUB.to_string(),
            Some(host) => endpoint::base_url(host),
        }
    }

    /// `projects/P/topics/T`.
    pub fn topic_path(&self) -> String {
        format!("projects/{}/topics/{}", self.project, self.topic)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishErrorKind {
    /// 404: the topic (or project) does not exist.
    TopicNotFound,
    /// 5xx, 408, 429, transport failures or timeouts, after the retries.
    Unavailable,
    /// 401/403: the credentials are not allowed to publish.
    Denied,
    /// Any other refusal, or an answer without a message id.
    Rejected,
    /// No access token could be obtained.
    Credentials,
}

impl From<Class> for PublishErrorKind {
    fn from(class: Class) -> Self {
        match class {
            Class::NotFound => PublishErrorKind::TopicNotFound,
            Class::Denied => PublishErrorKind::Denied,
            Class::Unavailable => PublishErrorKind::Unavailable,
            Class::Invalid => PublishErrorKind::Rejected,
            Class::Credentials => PublishErrorKind::Credentials,
        }
    }
}

impl std::fmt::Display for PublishErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublishErrorKind::TopicNotFound => "topic not found",
            PublishErrorKind::Unavailable => "unavailable",
            PublishErrorKind::Denied => "denied",
            PublishErrorKind::Rejected => "rejected",
            PublishErrorKind::Credentials => "no access token",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publish to topic {topic} in project {project}: {kind}: {detail}")]
pub struct PublishError {
    pub project: String,
    pub topic: String,
    pub kind: PublishErrorKind,
    pub status: Option<u16>,
    pub attempts: u32,
    pub detail: String,
}

pub struct Publisher {
    http: reqwest::Client,
    settings: PubSubSettings,
    url: String,
    credentials: Credentials,
    retry: RetrySettings,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("url", &self.url)
            .field("credentials", &self.credentials)
            .field("retry", &self.retry)
            .finish()
    }
}

impl Publisher {
    /// No auth against the emulator; Application Default Credentials otherwise, checked now
    /// so that a deploy without usable credentials fails at start-up.
    pub async fn connect(
        settings: PubSubSettings,
        gcp: &GcpSettings,
    ) -> Result<Self, PublishError> {
        let credentials =
            Credentials::for_service(settings.emulator.as_deref(), &PUBSUB_SCOPES, gcp);
        if let Err(e) = credentials.bearer().await {
            return Err(PublishError {
                project: settings.project.clone(),
                topic: settings.topic.clone(),
                kind: PublishErrorKind::Credentials,
                status: None,
                attempts: 0,
                detail: format!("no usable Google credentials (ADC): {e}"),
            });
        }
        Ok(Self::new(settings, credentials))
    }

    pub fn new(settings: PubSubSettings, credentials: Credentials) -> Self {
        let http = crate::gcp::http_client(Duration::from_secs(5));
        let url = format!(
            "{}/v1/{}:publish",
            settings.base_url(),
            settings.topic_path()
        );
        Self {
            http,
            settings,
            url,
            credentials,
            retry: RetrySettings::publish(),
        }
    }

    pub fn with_retry(mut self, retry: RetrySettings) -> Self {
        self.retry = retry;
        self
    }

    pub fn settings(&self) -> &PubSubSettings {
        &self.settings
    }

    /// Publishes `message` as the data of one Pub/Sub message; answers its message id.
    pub async fn publish(&self, message: &serde_json::Value) -> Result<String, PublishError> {
        let data = base64::engine::general_purpose::STANDARD.encode(message.to_string());
        let body = serde_json::json!({ "messages": [{ "data": data }] });
        let what = format!("publish to {}", self.settings.topic_path());
        // The attempt timeout is applied by `call_with_retries`.
        let attempt = || self.exchange(&body);
        call_with_retries(&self.retry, &what, attempt)
            .await
            .map_err(|(f, attempts)| PublishError {
                project: self.settings.project.clone(),
                topic: self.settings.topic.clone(),
                kind: f.class.into(),
                status: f.status,
                attempts,
                detail: with_attempts(f.detail, attempts),
            })
    }

    async fn exchange(&self, body: &serde_json::Value) -> Result<String, CallFailure> {
        let mut request = self.http.post(&self.url).json(body);
        let bearer = self.credentials.header().await.map_err(|e| CallFailure {
            class: Class::Credentials,
            transient: e.transient,
            status: e.status,
            detail: format!("could not get an access token: {e}"),
        })?;
        if let Some(value) = bearer {
            request = request.header(AUTHORIZATION, value);
        }
        let transport = |e: reqwest::Error| CallFailure::transport(error_chain(&e));
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            return Err(CallFailure::status(status, &error_message(&text)));
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            #[serde(default)]
            message_ids: Vec<String>,
        }
        // Published, but no id to show for it: not retried, or the message would go twice.
        let no_id = || CallFailure {
            class: Class::Invalid,
            transient: false,
            status: Some(status),
            detail: format!("answer without a message id: {}", error_message(&text)),
        };
        let answer: Answer = serde_json::from_str(&text).map_err(|_| no_id())?;
        answer.message_ids.into_iter().next().ok_or_else(no_id)
    }
}

/// `error.message` of a Google error body, else the start of the body.
fn error_message(text: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(text).ok();
    match parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(|m| m.as_str())
    {
        Some(message) => message.to_string(),
        None => text.chars().take(300).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<PubSubSettings, ConfigError> {
        let vars = Vars::from_pairs(pairs.iter().copied());
        PubSubSettings::from_vars(&vars, &GcpSettings::from_vars(&vars)?)
    }

    #[test]
    fn off_by_default_and_on_when_a_project_or_emulator_is_named() {
        let offline = settings(&[]).unwrap();
        assert!(!offline.enabled);
        assert_eq!(offline.project, crate::gcp::DEFAULT_PROJECT);
        assert_eq!(offline.topic, DEFAULT_TOPIC);
        assert!(settings(&[("GCP_PROJECT_ID", "p")]).unwrap().enabled);
        assert!(
            settings(&[("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085")])
                .unwrap()
                .enabled
        );
        assert!(
            !settings(&[("GCP_PROJECT_ID", "p"), ("BACKSTOP_NOTIFY", "off")])
                .unwrap()
                .enabled
        );
        assert!(settings(&[("BACKSTOP_NOTIFY", "ON")]).unwrap().enabled);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("BACKSTOP_NOTIFY", "yes"),
            ("BACKSTOP_TOPIC", "projects/p/topics/t"),
            ("PUBSUB_EMULATOR_HOST", "ftp://127.0.0.1:8085"),
        ] {
            assert_eq!(settings(&[(var, value)]).unwrap_err().var, var);
        }
    }

    #[test]
    fn the_emulator_host_becomes_a_plain_http_base() {
        let s = settings(&[
            ("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085"),
            ("BACKSTOP_TOPIC", "t-1"),
        ])
        .unwrap();
        assert_eq!(s.base_url(), "http://127.0.0.1:8085");
        let p = Publisher::new(s, Credentials::None);
        assert_eq!(
            p.url,
            "http://127.0.0.1:8085/v1/projects/nba-props-platform/topics/t-1:publish"
        );
        assert_eq!(settings(&[]).unwrap().base_url(), endpoint::PUBSUB);
    }

    #[test]
    fn google_error_bodies_give_their_message() {
        let body = r#"{"error":{"code":404,"message":"Topic not found","status":"NOT_FOUND"}}"#;
        assert_eq!(error_message(body), "Topic not found");
        assert_eq!(
            error_message("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
    }

    #[test]
    fn debug_output_never_shows_a_token() {
        let token = Credentials::Fixed(crate::settings::Secret::new("ya29.secret-token"));
        let p = Publisher::new(settings(&[]).unwrap(), token);
        let shown = format!("{p:?}");
        assert!(!shown.contains("ya29"), "{shown}");
        assert!(shown.contains("fixed"), "{shown}");
    }
}
