//! Admin authentication at the HTTP edge: with `BACKSTOP_ADMIN_TOKEN` set, every operator
//! route (the evidence, recovery, claims, runs, routes: see [`super::router`]) wants
//! `Authorization: Bearer <token>` and answers 401 before any work otherwise.
//!
//! Cloud Run checks IAM on `X-Serverless-Authorization` when a request carries it and passes
//! `Authorization` through untouched, so an operator sends both: Google's identity token there,
//! the admin token here. The token is compared in constant time (SHA-256 of both, then every
//! byte), and it never reaches a log, an error or an answer: a refusal says only whether a
//! token came.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::app::App;
use crate::settings::Secret;

/// Lets the request through when no admin token is configured, or when it carries it.
pub async fn require_admin(State(app): State<App>, req: Request, next: Next) -> Response {
    if let Some(token) = &app.config.admin_token {
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        let refusal = match given {
            None => Some(
                "this route needs the admin token: send Authorization: Bearer <BACKSTOP_ADMIN_TOKEN>",
            ),
            Some(given) if !same(token, given) => Some("the admin token was refused"),
            Some(_) => None,
        };
        if let Some(why) = refusal {
            tracing::warn!(method = %req.method(), path = req.uri().path(), "refused: {why}");
            return ApiError::Unauthorized(why.into()).into_response();
        }
    }
    next.run(req).await
}

/// The token of `Bearer <token>` (the scheme in any case).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether `given` is the token, in time that does not depend on where they differ.
fn same(token: &Secret, given: &str) -> bool {
    let (a, b) = (
        Sha256::digest(token.expose().as_bytes()),
        Sha256::digest(given.as_bytes()),
    );
    let differ = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(differ) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_value_carries_a_token() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        for no in ["Basic abc", "Bearer", "Bearer  ", "abc", ""] {
            assert_eq!(bearer(no), None, "{no:?}");
        }
    }

    #[test]
    fn the_token_matches_itself_only() {
        let token = Secret::new("0123456789abcdef-token");
        assert!(same(&token, "0123456789abcdef-token"));
        for other in ["0123456789abcdef-toke", "0123456789abcdef-tokem", "", "x"] {
            assert!(!same(&token, other), "{other:?}");
        }
    }
}
