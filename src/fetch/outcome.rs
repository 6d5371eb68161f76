//! The one classification table: what an attempt ended with, and whether it is worth retrying.

use std::fmt;
use std::time::Duration;

use crate::run::ErrorKind;

/// How one attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The attempt (headers, body, decoding, parse) took longer than the per-attempt timeout.
    Timeout,
    /// No TCP/TLS connection could be made.
    Connect,
    /// The connection broke before a response arrived.
    Reset,
    /// A proxy would not open a tunnel to an HTTPS upstream (its answer to `CONNECT` was
    /// not 200 and not 407; reqwest does not say which status it was).
    ProxyTunnel,
    /// The body broke off part-way.
    Truncated,
    /// A compressed body could not be decoded.
    CorruptEncoding,
    /// The decoded body is not JSON.
    InvalidJson,
    /// An anti-bot challenge page ("Just a moment…") in place of data.
    Challenge,
    /// The body is empty.
    EmptyBody,
    /// The decoded body is larger than the cap (a decompression bomb or a broken upstream).
    TooLarge,
    /// The upstream answered with this redirect status; redirects are never followed, so the
    /// request's credentials (the API key) go to no other address.
    Redirect(u16),
    /// The upstream answered with this non-success status.
    Status(u16),
    /// The whole run's deadline passed.
    Deadline,
    /// No API key is configured, so nothing was sent.
    MissingKey,
}

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Worth another attempt after a backoff.
    Transient,
    /// Another attempt would get the same answer.
    Permanent,
    /// Refused for who we are (missing key, blocked IP range): retried at most once, loudly.
    Blocked,
}

/// The table. Every row has a unit test below.
pub fn classify(failure: Failure) -> Class {
    use Failure::*;
    match failure {
        Timeout | Connect | Reset | ProxyTunnel | Truncated | CorruptEncoding | InvalidJson
        | Challenge | EmptyBody => Class::Transient,
        Status(408 | 425 | 429 | 500 | 502 | 503 | 504) => Class::Transient,
        Status(403) => Class::Blocked,
        Status(s) if (500..600).contains(&s) && s != 501 && s != 505 => Class::Transient,
        Status(_) => Class::Permanent,
        Redirect(_) | TooLarge | Deadline | MissingKey => Class::Permanent,
    }
}

impl Failure {
    /// Its kind (`timeout`, `http_503`): the word logs, metrics and the ledger use.
    pub fn kind(self) -> ErrorKind {
        use Failure::*;
        match self {
            Timeout => ErrorKind::Timeout,
            Connect => ErrorKind::Connect,
            Reset => ErrorKind::Reset,
            ProxyTunnel => ErrorKind::ProxyTunnel,
            Truncated => ErrorKind::Truncated,
            CorruptEncoding => ErrorKind::CorruptEncoding,
            InvalidJson => ErrorKind::InvalidJson,
            Challenge => ErrorKind::ChallengePage,
            EmptyBody => ErrorKind::EmptyBody,
            TooLarge => ErrorKind::BodyTooLarge,
            Redirect(_) => ErrorKind::Redirect,
            Status(s) => ErrorKind::Http(s),
            Deadline => ErrorKind::Deadline,
            MissingKey => ErrorKind::MissingApiKey,
        }
    }
}

/// The `outcome` label of the upstream metrics: `ok`, or the failure's kind.
pub fn outcome_label(failure: Option<Failure>) -> String {
    failure.map_or_else(|| "ok".to_string(), |f| f.kind().to_string())
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Failure::*;
        match self {
            Timeout => f.write_str("timed out"),
            Connect => f.write_str("could not connect"),
            Reset => f.write_str("connection reset before a response"),
            ProxyTunnel => f.write_str("the proxy would not open a tunnel"),
            Truncated => f.write_str("body cut off mid-way"),
            CorruptEncoding => f.write_str("compressed body could not be decoded"),
            InvalidJson => f.write_str("body is not valid JSON"),
            Challenge => f.write_str("anti-bot challenge page instead of data"),
            EmptyBody => f.write_str("empty body"),
            TooLarge => f.write_str("decoded body larger than the cap"),
            Redirect(s) => write!(f, "HTTP {s} redirect, not followed"),
            Status(s) => write!(f, "HTTP {s}"),
            Deadline => f.write_str("run deadline reached"),
            MissingKey => f.write_str("BETTINGPROS_API_KEY is not set"),
        }
    }
}

/// One failed attempt, with what was learnt from it.
#[derive(Debug, Clone)]
pub struct AttemptError {
    pub failure: Failure,
    /// 1-based.
    pub attempt: u32,
    pub status: Option<u16>,
    /// A `Retry-After` the upstream asked for (already capped).
    pub retry_after: Option<Duration>,
    pub bytes: u64,
    pub elapsed: Duration,
    /// A short, secret-free excerpt of what came back, or the transport's words.
    pub detail: String,
}

/// The final failure of a request, after retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{context}: {}", self.cause())]
pub struct FetchError {
    pub failure: Failure,
    pub class: Class,
    pub attempts: u32,
    /// True when the failure was worth retrying but the attempts ran out.
    pub exhausted: bool,
    pub status: Option<u16>,
    /// What was being done: scraper, date, market.
    pub context: String,
    /// URL path and query (never a secret).
    pub path: String,
    pub detail: String,
    /// The route of each attempt, in order (`direct`, a proxy's label or `host:port`).
    pub routes: Vec<String>,
}

impl FetchError {
    /// What went wrong, without the context (for messages that already name it).
    pub fn cause(&self) -> String {
        let exhausted = if self.exhausted {
            " (retries exhausted)"
        } else {
            ""
        };
        let detail = if self.detail.is_empty() {
            String::new()
        } else {
            format!(" — {}", self.detail)
        };
        format!(
            "GET {} failed after {} attempt(s){exhausted}: {}{detail}",
            self.path, self.attempts, self.failure
        )
    }

    /// The kind recorded for a run: `blocked` for 403s, else the failure's own kind.
    pub fn kind(&self) -> ErrorKind {
        match self.class {
            Class::Blocked => ErrorKind::Blocked,
            _ => self.failure.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Class::*;
    use super::Failure::*;
    use super::*;

    #[test]
    fn transport_and_body_failures_are_transient() {
        for f in [
            Timeout,
            Connect,
            Reset,
            ProxyTunnel,
            Truncated,
            CorruptEncoding,
            InvalidJson,
        ] {
            assert_eq!(classify(f), Transient, "{f:?}");
        }
    }

    #[test]
    fn challenge_page_is_transient() {
        assert_eq!(classify(Challenge), Transient);
    }

    #[test]
    fn empty_body_is_transient() {
        assert_eq!(classify(EmptyBody), Transient);
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(Status(s)), Transient, "{s}");
        }
    }

    #[test]
    fn client_errors_are_permanent() {
        for s in [400, 401, 404, 422] {
            assert_eq!(classify(Status(s)), Permanent, "{s}");
        }
    }

    #[test]
    fn redirects_are_permanent() {
        for s in [301, 302, 307, 308] {
            assert_eq!(classify(Redirect(s)), Permanent, "{s}");
        }
        assert_eq!(Redirect(302).kind(), ErrorKind::Redirect);
    }

    #[test]
    fn forbidden_is_blocked() {
        assert_eq!(classify(Status(403)), Blocked);
    }

    #[test]
    fn bombs_deadlines_and_missing_keys_are_permanent() {
        for f in [TooLarge, Deadline, MissingKey] {
            assert_eq!(classify(f), Permanent, "{f:?}");
        }
    }

    #[test]
    fn error_message_names_context_path_attempts_and_cause() {
        let e = FetchError {
            failure: Status(502),
            class: Transient,
            attempts: 5,
            exhausted: true,
            status: Some(502),
            context: "bp_player_props 2026-01-14 points".into(),
            path: "/offers?page=3".into(),
            detail: "Bad Gateway".into(),
            routes: vec!["direct".into(); 5],
        };
        let s = e.to_string();
        for part in [
            "bp_player_props",
            "2026-01-14",
            "points",
            "/offers?page=3",
            "5 attempt",
            "exhausted",
            "HTTP 502",
        ] {
            assert!(s.contains(part), "{s} lacks {part}");
        }
        assert_eq!(e.kind(), ErrorKind::Http(502));
        assert_eq!(e.kind().to_string(), "http_502");
    }
}
