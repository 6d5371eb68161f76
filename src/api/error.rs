//! The one mapping from errors to HTTP answers: every answer says what was wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::query::QueryError;
use crate::run::Scraper;

#[derive(Debug)]
pub enum ApiError {
    /// Bad input: a 400 that says what is wrong.
    BadRequest(String),
    /// Unknown or missing scraper: the scheduler contract's 400 with `available_scrapers`.
    UnknownScraper(String),
    NotFound(String),
    MethodNotAllowed(String),
    /// Something of ours is broken (ledger, storage).
    Internal(String),
    /// A fully formed answer (e.g. a failed run's 500).
    Answer(StatusCode, Value),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::BadRequest(msg) => (StatusCode::BAD_REQUEST, json!({ "error": msg })),
            ApiError::UnknownScraper(msg) => (
                StatusCode::BAD_REQUEST,
                json!({ "error": msg, "available_scrapers": Scraper::ALL.map(|s| s.name()) }),
            ),
            ApiError::NotFound(msg) => (StatusCode::NOT_FOUND, json!({ "error": msg })),
            ApiError::MethodNotAllowed(msg) => {
                (StatusCode::METHOD_NOT_ALLOWED, json!({ "error": msg }))
            }
            ApiError::Internal(msg) => {
                tracing::error!(error = %msg, "request failed inside backstop");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "status": "error", "error": msg }),
                )
            }
            ApiError::Answer(status, body) => (status, body),
        };
        (status, Json(body)).into_response()
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid(msg) => ApiError::BadRequest(msg),
            QueryError::UnknownScraper(msg) => ApiError::UnknownScraper(msg),
        }
    }
}

/// Turns axum's JSON and query rejections into our 400s with their messages.
pub fn rejection(what: &str, detail: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{what}: {detail}"))
}
