//! The one mapping from errors to HTTP answers: every answer says what was wrong, except a
//! failure of ours, which gets an opaque 500 with a request id (the detail goes to the log
//! under that id, never to the caller).
//!
//! | error | status |
//! |---|---|
//! | bad input (`QueryError::Invalid`, a body or query that does not parse) | 400 |
//! | unknown or missing scraper | 400, with `available_scrapers` |
//! | admin token missing or wrong | 401 (`WWW-Authenticate: Bearer`, never `Basic`) |
//! | no such job, claim or route | 404 |
//! | method not allowed | 405 |
//! | conflict with the ledger: a confirmed claim released, a key reused | 409 |
//! | the ledger or storage failed | 500 `{"status": "error", "error", "request_id"}` |

use axum::http::{header, HeaderValue, StatusCode};
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
    /// No admin token, or a wrong one: a 401 that says which.
    Unauthorized(String),
    NotFound(String),
    MethodNotAllowed(String),
    /// The request contradicts what the ledger holds.
    Conflict(String),
    /// Something of ours is broken (ledger, storage): logged in full, answered opaquely.
    Internal(String),
    /// A fully formed answer (e.g. a failed run's 500).
    Answer(StatusCode, Value),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let said = |status, msg: String| (status, json!({ "error": msg }));
        let (status, body) = match self {
            ApiError::BadRequest(msg) => said(StatusCode::BAD_REQUEST, msg),
            ApiError::UnknownScraper(msg) => (
                StatusCode::BAD_REQUEST,
                json!({ "error": msg, "available_scrapers": Scraper::ALL.map(|s| s.name()) }),
            ),
            ApiError::Unauthorized(msg) => {
                let body = Json(json!({ "error": msg }));
                let mut response = (StatusCode::UNAUTHORIZED, body).into_response();
                // Bearer, never Basic: Basic would make a browser pop its own dialog over the
                // status page's login form.
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"backstop\""),
                );
                return response;
            }
            ApiError::NotFound(msg) => said(StatusCode::NOT_FOUND, msg),
            ApiError::MethodNotAllowed(msg) => said(StatusCode::METHOD_NOT_ALLOWED, msg),
            ApiError::Conflict(msg) => said(StatusCode::CONFLICT, msg),
            ApiError::Internal(detail) => return internal(&detail),
            ApiError::Answer(status, body) => (status, body),
        };
        (status, Json(body)).into_response()
    }
}

/// The opaque 500: a fresh request id in the answer (body and `X-Request-Id`) and in the log
/// line that carries the detail.
fn internal(detail: &str) -> Response {
    let request_id = format!("{:016x}", rand::random::<u64>());
    tracing::error!(request_id = %request_id, error = %detail, "request failed inside backstop");
    let body = json!({
        "status": "error",
        "error": format!("backstop failed inside; the service's log has the detail under request_id {request_id}"),
        "request_id": request_id,
    });
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid(msg) => ApiError::BadRequest(msg),
            QueryError::UnknownScraper(msg) => ApiError::UnknownScraper(msg),
            QueryError::Unauthorized(msg) => ApiError::Unauthorized(msg),
            QueryError::NotFound(msg) => ApiError::NotFound(msg),
            QueryError::Conflict(msg) => ApiError::Conflict(msg),
            QueryError::Internal(msg) => ApiError::Internal(msg),
        }
    }
}

/// Turns axum's JSON and query rejections into our 400s with their messages.
pub fn rejection(what: &str, detail: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{what}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failure_of_ours_is_an_opaque_500_whose_request_id_is_in_the_answer() {
        let response =
            ApiError::Internal("ledger: reading job 7: disk I/O error".into()).into_response();
        assert_eq!(response.status(), 500);
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["request_id"], json!(id));
        let text = body.to_string();
        assert!(
            !text.contains("disk I/O") && !text.contains("ledger"),
            "{text}"
        );
        assert!(text.contains(&id), "{text}");
    }

    #[test]
    fn a_401_asks_for_a_bearer_token_never_basic() {
        let response = ApiError::Unauthorized("no token".into()).into_response();
        assert_eq!(response.status(), 401);
        let asked = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(
            asked.starts_with("Bearer ") && !asked.contains("Basic"),
            "{asked}"
        );
    }
}
