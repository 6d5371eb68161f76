//! Why the warehouse could not be read: every [`WarehouseError`] means "the signal is unreadable".
//!
//! Gap detection turns any of these into an `unknown` answer carrying [`WarehouseError::reason`];
//! it never guesses "not loaded" from an error.

use std::fmt;

/// What stopped the read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarehouseFailure {
    /// No connection could be made (DNS, refused, reset before an answer).
    Unreachable,
    /// No complete answer before the query's deadline.
    TimedOut,
    /// No access token could be had, or BigQuery refused it (401/403).
    Auth,
    /// BigQuery answered with this non-success status.
    Status(u16),
    /// The query ran and failed (bad SQL, missing table), reported inside the answer.
    QueryFailed,
    /// The answer could not be understood (not JSON, missing schema, odd values, short pages).
    BadAnswer,
}

impl WarehouseFailure {
    /// Worth another attempt after a backoff.
    pub fn is_transient(self) -> bool {
        match self {
            WarehouseFailure::Unreachable | WarehouseFailure::TimedOut => true,
            WarehouseFailure::Status(s) => crate::gcp::is_transient(s),
            WarehouseFailure::Auth
            | WarehouseFailure::QueryFailed
            | WarehouseFailure::BadAnswer => false,
        }
    }

    /// A short stable name for logs, metrics and `unknown` reasons (`bigquery_unreachable`).
    pub fn kind(self) -> String {
        match self {
            WarehouseFailure::Unreachable => "bigquery_unreachable".into(),
            WarehouseFailure::TimedOut => "bigquery_timeout".into(),
            WarehouseFailure::Auth => "bigquery_auth".into(),
            WarehouseFailure::Status(s) => format!("bigquery_http_{s}"),
            WarehouseFailure::QueryFailed => "bigquery_query_failed".into(),
            WarehouseFailure::BadAnswer => "bigquery_bad_answer".into(),
        }
    }
}

impl fmt::Display for WarehouseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarehouseFailure::Unreachable => f.write_str("BigQuery is unreachable"),
            WarehouseFailure::TimedOut => f.write_str("BigQuery did not answer in time"),
            WarehouseFailure::Auth => f.write_str("BigQuery authentication failed"),
            WarehouseFailure::Status(s) => write!(f, "BigQuery answered HTTP {s}"),
            WarehouseFailure::QueryFailed => f.write_str("the BigQuery query failed"),
            WarehouseFailure::BadAnswer => f.write_str("BigQuery's answer could not be read"),
        }
    }
}

/// The warehouse could not say what was loaded. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{doing}: {failure}{}", if .detail.is_empty() { String::new() } else { format!(" — {}", .detail) })]
pub struct WarehouseError {
    pub failure: WarehouseFailure,
    /// What was being done: which rows of which table, which request.
    pub doing: String,
    /// The transport's words or a short excerpt of the answer.
    pub detail: String,
}

impl crate::gcp::Attempt for WarehouseError {
    fn transient(&self) -> bool {
        self.failure.is_transient()
    }
    fn describe(&self) -> String {
        format!("{}: {}", self.failure.kind(), self.detail)
    }
}

impl WarehouseError {
    pub fn new(
        failure: WarehouseFailure,
        doing: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            failure,
            doing: doing.into(),
            detail: detail.into(),
        }
    }

    /// One line for an `unknown` verdict: the kind, then the whole message.
    pub fn reason(&self) -> String {
        format!("{}: {self}", self.failure.kind())
    }

    pub(crate) fn with_doing(mut self, doing: &str) -> Self {
        self.doing = doing.to_string();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::WarehouseFailure::*;
    use super::*;

    #[test]
    fn transport_throttling_and_server_errors_are_transient() {
        for f in [
            Unreachable,
            TimedOut,
            Status(429),
            Status(500),
            Status(503),
            Status(408),
        ] {
            assert!(f.is_transient(), "{f:?}");
        }
    }

    #[test]
    fn auth_bad_queries_and_odd_answers_are_not_retried() {
        for f in [Auth, QueryFailed, BadAnswer, Status(400), Status(404)] {
            assert!(!f.is_transient(), "{f:?}");
        }
    }

    #[test]
    fn the_reason_names_the_kind_what_was_done_and_why() {
        let e = WarehouseError::new(
            Unreachable,
            "reading loaded rows 2026-01-01..2026-01-31 from p.d.t",
            "connection refused",
        );
        let r = e.reason();
        for part in [
            "bigquery_unreachable",
            "2026-01-01..2026-01-31",
            "p.d.t",
            "connection refused",
        ] {
            assert!(r.contains(part), "{r} lacks {part}");
        }
    }
}
