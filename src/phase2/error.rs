//! How a hand-over to Phase 2 can fail, and which failures are worth another attempt.

use std::fmt;

/// What one attempt ended with, short of delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase2Failure {
    /// `PHASE2_URL` is not set: nothing was sent.
    NotConfigured,
    /// The metadata server gave no ID token (with its status, if it answered).
    Identity(Option<u16>),
    /// No TCP connection to Phase 2: the request was not sent.
    Connect,
    /// No answer within the attempt's timeout: Phase 2 may still be loading the file.
    Timeout,
    /// The connection broke after the request went out: Phase 2 may have loaded the file.
    Broken,
    /// Phase 2 answered this status.
    Status(u16),
}

impl Phase2Failure {
    /// The request reached (or may have reached) Phase 2 and no verdict on the file came
    /// back: no answer, a broken connection, or a 504 from Cloud Run's front end (its request
    /// timeout passed while the container may still be loading).
    pub fn outcome_unknown(self) -> bool {
        match self {
            Phase2Failure::Timeout | Phase2Failure::Broken => true,
            Phase2Failure::Status(s) => verdict(s) == Verdict::Unknown,
            _ => false,
        }
    }

    /// A short stable name for logs and metrics (`http_500`, `timeout`).
    pub fn kind(self) -> String {
        match self {
            Phase2Failure::NotConfigured => "not_configured".into(),
            Phase2Failure::Identity(_) => "identity_token".into(),
            Phase2Failure::Connect => "connect".into(),
            Phase2Failure::Timeout => "timeout".into(),
            Phase2Failure::Broken => "broken_connection".into(),
            Phase2Failure::Status(s) => format!("http_{s}"),
        }
    }
}

impl fmt::Display for Phase2Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase2Failure::NotConfigured => f.write_str("PHASE2_URL is not set"),
            Phase2Failure::Identity(Some(s)) => {
                write!(f, "the metadata server gave no ID token (HTTP {s})")
            }
            Phase2Failure::Identity(None) => f.write_str("the metadata server is unreachable"),
            Phase2Failure::Connect => f.write_str("could not connect"),
            Phase2Failure::Timeout => f.write_str("no answer in time"),
            Phase2Failure::Broken => f.write_str("the connection broke before an answer"),
            Phase2Failure::Status(s) => write!(f, "HTTP {s}"),
        }
    }
}

/// What Phase 2's status means for the hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: loaded or skipped; either way Phase 2 has the file.
    Delivered,
    /// 408, 429, 5xx but 504: Phase 2 could not take it now; worth another attempt.
    Transient,
    /// 504: the front end gave up waiting; the load may go on. Never retried blindly.
    Unknown,
    /// Any other status (400 bad message, 401/403 auth, 404 wrong URL): the same request would
    /// get the same answer.
    Rejected,
}

/// What Phase 2's answer means: 2xx delivered, otherwise as [`crate::gcp::transient`] says.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        504 => Verdict::Unknown,
        s if crate::gcp::is_transient(s) => Verdict::Transient,
        _ => Verdict::Rejected,
    }
}

/// The file was not handed over. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "sending {object} to Phase 2: {method} {path} {failure} after {attempts} attempt(s) ({}){}",
    if .failure.outcome_unknown() {
        "outcome unknown: the request went out, Phase 2 may have loaded the file; not retried"
    } else if *.retryable { "retryable, retries exhausted" } else { "permanent" },
    if .excerpt.is_empty() { String::new() } else { format!(" — {}", .excerpt) }
)]
pub struct Phase2Error {
    pub failure: Phase2Failure,
    /// True for failures that certainly loaded nothing and whose retries ran out: a later
    /// recovery may try again. False when retrying cannot help (Phase 2 rejected the message,
    /// nothing is configured) or must not happen (the outcome is unknown).
    pub retryable: bool,
    pub attempts: u32,
    /// `POST` to Phase 2, `GET` to the metadata server.
    pub method: &'static str,
    /// The URL path that failed (`/process`, or the metadata identity path).
    pub path: String,
    /// The object name being handed over.
    pub object: String,
    pub status: Option<u16>,
    /// A short excerpt of the answer body, or the transport's words.
    pub excerpt: String,
}

impl Phase2Error {
    /// Phase 2 itself refused the message (a 4xx other than 408/429).
    pub fn is_rejected(&self) -> bool {
        matches!(self.failure, Phase2Failure::Status(s) if verdict(s) == Verdict::Rejected)
    }

    /// The last attempt went out and no answer came back: Phase 2 may have loaded the file.
    /// (Such an attempt is always the last: it is never retried.)
    pub fn maybe_loaded(&self) -> bool {
        self.failure.outcome_unknown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_statuses_mean_delivered() {
        for s in [200, 202, 204] {
            assert_eq!(verdict(s), Verdict::Delivered, "{s}");
        }
    }

    #[test]
    fn server_errors_timeouts_and_throttling_are_transient() {
        for s in [408, 429, 500, 502, 503] {
            assert_eq!(verdict(s), Verdict::Transient, "{s}");
        }
    }

    #[test]
    fn a_gateway_timeout_leaves_the_outcome_unknown() {
        assert_eq!(verdict(504), Verdict::Unknown);
        assert!(Phase2Failure::Status(504).outcome_unknown());
    }

    #[test]
    fn client_errors_and_redirects_are_rejections() {
        for s in [301, 400, 401, 403, 404, 413, 422] {
            assert_eq!(verdict(s), Verdict::Rejected, "{s}");
        }
    }

    #[test]
    fn only_unanswered_requests_leave_the_outcome_unknown() {
        assert!(Phase2Failure::Timeout.outcome_unknown());
        assert!(Phase2Failure::Broken.outcome_unknown());
        for f in [
            Phase2Failure::Connect,
            Phase2Failure::Status(500),
            Phase2Failure::Identity(None),
        ] {
            assert!(!f.outcome_unknown(), "{f:?}");
        }
    }

    #[test]
    fn the_message_names_path_object_status_and_excerpt() {
        let e = Phase2Error {
            failure: Phase2Failure::Status(400),
            retryable: false,
            attempts: 1,
            method: "POST",
            path: "/process".into(),
            object: "bettingpros/player-props/points/2026-01-14/20260114_180530.json".into(),
            status: Some(400),
            excerpt: "\"no name in message\"".into(),
        };
        let s = e.to_string();
        for part in [
            "POST /process",
            "points/2026-01-14",
            "HTTP 400",
            "permanent",
            "no name",
        ] {
            assert!(s.contains(part), "{s} lacks {part}");
        }
        assert!(e.is_rejected());
        assert!(!e.maybe_loaded());
    }
}
