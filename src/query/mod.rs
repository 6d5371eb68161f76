//! What the ways in ask of the service, once for both the HTTP API and the command line: the
//! typed requests, parsed and validated here, and the answers, as the JSON the API sends. The
//! command line renders that same JSON, whether it got it in-process or from a service over
//! HTTP (`backstop --url`), so both show the same thing. Recovery's requests
//! ([`crate::gaps::GapQuery`], [`crate::reprocess::ReprocessRequest`]) parse themselves in
//! their own modules, which sit below this one.
//!
//! One error type, [`QueryError`], says what kind of failure each is; the API maps it to a
//! status once (`api::error`), the command line to an exit code ([`QueryError::exit_code`]).

pub mod claims;
pub mod gaps;
pub mod recovery;
pub mod runs;
pub mod scrape;

use std::collections::HashMap;

/// A request's parameters by name: an HTTP query string, or the options of a command.
pub type Params = HashMap<String, String>;

/// Why a request got no answer. Every message says what was wrong and what was being done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A value or parameter that makes no sense; the message says which and why. HTTP 400.
    #[error("{0}")]
    Invalid(String),
    /// A missing or unknown scraper: the scheduler contract answers it with the list. HTTP 400.
    #[error("{0}")]
    UnknownScraper(String),
    /// The admin token is missing or wrong. HTTP 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The thing asked for does not exist (a job, a claim). HTTP 404.
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts what the ledger holds (releasing a confirmed claim, a key
    /// reused for another request). HTTP 409.
    #[error("{0}")]
    Conflict(String),
    /// Something of ours failed (the ledger, storage). Over HTTP the answer is an opaque 500
    /// with a request id; the detail goes to the service's log under that id.
    #[error("{0}")]
    Internal(String),
}

impl QueryError {
    /// The command line's exit code: 3 for a request that cannot be served as asked (bad input
    /// or configuration, the token included), 1 for a failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            QueryError::Internal(_) => 1,
            _ => 3,
        }
    }
}

impl From<crate::reprocess::RecoveryError> for QueryError {
    fn from(e: crate::reprocess::RecoveryError) -> Self {
        use crate::reprocess::RecoveryError as E;
        match e {
            E::Invalid(msg) => QueryError::Invalid(msg),
            e @ E::KeyReused { .. } => QueryError::Conflict(e.to_string()),
            e @ E::NoSuchJob(_) => QueryError::NotFound(e.to_string()),
            E::Ledger(e) if e.is_not_found() => QueryError::NotFound(e.to_string()),
            E::Ledger(e) => QueryError::Internal(e.to_string()),
        }
    }
}

impl From<crate::ledger::LedgerError> for QueryError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        crate::reprocess::RecoveryError::Ledger(e).into()
    }
}

/// [`QueryError::Invalid`] from any error's message.
pub(crate) fn invalid(e: impl std::fmt::Display) -> QueryError {
    QueryError::Invalid(e.to_string())
}

/// Refuses a parameter not in `known`, naming the ones that are.
pub(crate) fn only(params: &Params, known: &[&str]) -> Result<(), QueryError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(other) => Err(QueryError::Invalid(format!(
            "unknown query parameter {other:?}: use {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Any serialisable answer as JSON.
pub(crate) fn to_json(value: impl serde::Serialize) -> Result<serde_json::Value, QueryError> {
    serde_json::to_value(value)
        .map_err(|e| QueryError::Internal(format!("writing the answer as JSON: {e}")))
}
