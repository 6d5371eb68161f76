//! Why a run failed or stopped short: one enum, one word per kind, both ways.
//!
//! The word is what the ledger stores in `error_kind`, what `GET /runs` and the CLI show, what
//! the BigQuery execution log gets as `error_type`, and the `outcome` label of the upstream
//! metrics. Ledgers on disk hold these words: never rename one. README's "Run error kinds"
//! table is this list, and every "kind `…`" a document names must parse (tests below).

use std::fmt;
use std::str::FromStr;

/// A run's error kind. Most come from one upstream request's failure (the classification
/// table, `fetch::outcome`); the others from the run around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    Timeout,
    Connect,
    Reset,
    ProxyTunnel,
    Truncated,
    CorruptEncoding,
    InvalidJson,
    ChallengePage,
    EmptyBody,
    BodyTooLarge,
    Redirect,
    /// The upstream answered this status: `http_503`.
    Http(u16),
    Deadline,
    MissingApiKey,
    Blocked,
    InvalidPayload,
    PageCap,
    EmptyPage,
    InvalidFile,
    Storage,
    Abandoned,
}

/// What `http_NNN` stands for in the table of kinds.
const HTTP_PATTERN: &str = "http_NNN";

impl ErrorKind {
    /// Every kind, in the order README's table lists them; `Http(0)` stands for every status.
    pub const ALL: [ErrorKind; 21] = [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Reset,
        ErrorKind::ProxyTunnel,
        ErrorKind::Truncated,
        ErrorKind::CorruptEncoding,
        ErrorKind::InvalidJson,
        ErrorKind::ChallengePage,
        ErrorKind::EmptyBody,
        ErrorKind::BodyTooLarge,
        ErrorKind::Redirect,
        ErrorKind::Http(0),
        ErrorKind::Deadline,
        ErrorKind::MissingApiKey,
        ErrorKind::Blocked,
        ErrorKind::InvalidPayload,
        ErrorKind::PageCap,
        ErrorKind::EmptyPage,
        ErrorKind::InvalidFile,
        ErrorKind::Storage,
        ErrorKind::Abandoned,
    ];

    /// The word, and what it means for people (README's table).
    fn entry(self) -> (&'static str, &'static str) {
        use ErrorKind::*;
        match self {
            Timeout => (
                "timeout",
                "an attempt took longer than `BACKSTOP_TIMEOUT_SECS`",
            ),
            Connect => (
                "connect",
                "no connection to the upstream (or the proxy) could be made",
            ),
            Reset => ("reset", "the connection broke before an answer"),
            ProxyTunnel => (
                "proxy_tunnel",
                "a proxy would not open a tunnel to the upstream",
            ),
            Truncated => ("truncated", "the body broke off part-way"),
            CorruptEncoding => ("corrupt_encoding", "a compressed body could not be decoded"),
            InvalidJson => ("invalid_json", "the body is not JSON"),
            ChallengePage => (
                "challenge_page",
                "an anti-bot challenge page came in place of data",
            ),
            EmptyBody => ("empty_body", "the body was empty"),
            BodyTooLarge => (
                "body_too_large",
                "the decoded body is larger than `BACKSTOP_MAX_BODY_BYTES`",
            ),
            Redirect => (
                "redirect",
                "the upstream answered a redirect, which is never followed",
            ),
            Http(_) => (
                HTTP_PATTERN,
                "the upstream answered this status (`http_404`, `http_503`, …)",
            ),
            Deadline => (
                "deadline",
                "the run took longer than `BACKSTOP_RUN_DEADLINE_SECS`",
            ),
            MissingApiKey => (
                "missing_api_key",
                "`BETTINGPROS_API_KEY` is not set: nothing was sent",
            ),
            Blocked => (
                "blocked",
                "the upstream refused us with 403 (on every route): a block, not an outage",
            ),
            InvalidPayload => (
                "invalid_payload",
                "an answer's JSON is not the shape the protocol promises",
            ),
            PageCap => (
                "page_cap",
                "the upstream declares more pages than backstop fetches: the file is partial",
            ),
            EmptyPage => (
                "empty_page",
                "a page before the last came back with no offers: the file is partial",
            ),
            InvalidFile => (
                "invalid_file",
                "the file failed validation and was not written",
            ),
            Storage => ("storage", "the file could not be written to storage"),
            Abandoned => (
                "abandoned",
                "the process stopped during the run (found at the next start)",
            ),
        }
    }

    /// What the kind means, for people.
    pub fn meaning(self) -> &'static str {
        self.entry().1
    }

    /// README's table of kinds, as Markdown: header, separator, a row per kind.
    pub fn table() -> String {
        let mut out = String::from("| kind | meaning |\n|---|---|\n");
        for kind in Self::ALL {
            let (word, meaning) = kind.entry();
            out.push_str(&format!("| `{word}` | {meaning} |\n"));
        }
        out
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Http(status) => write!(f, "http_{status}"),
            other => f.write_str(other.entry().0),
        }
    }
}

/// A word that is no error kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown run error kind {0:?}")]
pub struct UnknownErrorKind(pub String);

impl FromStr for ErrorKind {
    type Err = UnknownErrorKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(status) = s.strip_prefix("http_") {
            return match status.parse::<u16>() {
                Ok(code) if status.len() == 3 && (100..600).contains(&code) => Ok(Self::Http(code)),
                _ => Err(UnknownErrorKind(s.to_string())),
            };
        }
        Self::ALL
            .into_iter()
            .find(|k| k.entry().0 == s)
            .filter(|k| !matches!(k, Self::Http(_)))
            .ok_or_else(|| UnknownErrorKind(s.to_string()))
    }
}

#[cfg(test)]
#[path = "error_kind_docs.rs"]
mod docs;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_are_the_ones_ledgers_already_hold() {
        let words: Vec<String> = ErrorKind::ALL.iter().map(|k| k.entry().0.into()).collect();
        assert_eq!(
            words,
            [
                "timeout",
                "connect",
                "reset",
                "proxy_tunnel",
                "truncated",
                "corrupt_encoding",
                "invalid_json",
                "challenge_page",
                "empty_body",
                "body_too_large",
                "redirect",
                "http_NNN",
                "deadline",
                "missing_api_key",
                "blocked",
                "invalid_payload",
                "page_cap",
                "empty_page",
                "invalid_file",
                "storage",
                "abandoned",
            ]
        );
    }

    #[test]
    fn every_kind_reads_back_from_its_word() {
        for kind in ErrorKind::ALL {
            let kind = match kind {
                ErrorKind::Http(_) => ErrorKind::Http(503),
                other => other,
            };
            assert_eq!(kind.to_string().parse::<ErrorKind>(), Ok(kind), "{kind:?}");
        }
        assert_eq!(ErrorKind::Http(502).to_string(), "http_502");
        assert_eq!("http_404".parse(), Ok(ErrorKind::Http(404)));
    }

    #[test]
    fn words_that_are_no_kind_are_refused_and_named() {
        for word in [
            "upstream_blocked",
            "http_NNN",
            "http_",
            "http_50",
            "http_5030",
            "http_700",
            "Blocked",
            "",
        ] {
            let err = word.parse::<ErrorKind>().unwrap_err();
            assert!(err.to_string().contains(&format!("{word:?}")), "{err}");
        }
    }
}
