//! The typed requests the ways in take: parsed and validated once, here, for both the HTTP API
//! and the command line, with one error type that says what is wrong. Recovery's requests
//! ([`crate::gaps::GapQuery`], [`crate::reprocess::ReprocessRequest`]) parse themselves in
//! their own modules, which sit below this one too.

pub mod runs;
pub mod scrape;

/// A request that cannot be used. The API answers 400; the command line exits 3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A value or parameter that makes no sense; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// A missing or unknown scraper: the scheduler contract answers it with the list.
    #[error("{0}")]
    UnknownScraper(String),
}

/// [`QueryError::Invalid`] from any error's message.
pub(crate) fn invalid(e: impl std::fmt::Display) -> QueryError {
    QueryError::Invalid(e.to_string())
}
