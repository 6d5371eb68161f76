//! `GET /claims` and `POST /claims/{object}/confirm|release`: hand-overs to Phase 2 whose
//! outcome evidence could not settle, and settling one by hand.
//!
//! Object names hold slashes (`bettingpros/player-props/points/2026-01-14/….json`): the route
//! takes the name as it is, slashes and all, followed by `/confirm` or `/release`. A name
//! percent-encoded as one segment (`%2F` for each `/`) works too: the path is decoded first.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::error::ApiError;
use crate::app::App;
use crate::query::claims::{self, ByHand};

pub async fn list(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    Ok(Json(claims::list(&app).await?))
}

/// `rest` is `{object}/confirm` or `{object}/release`.
pub async fn settle(
    State(app): State<App>,
    Path(rest): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (object, by) = rest
        .rsplit_once('/')
        .and_then(|(object, word)| Some((object, ByHand::parse(word)?)))
        .filter(|(object, _)| !object.is_empty())
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "POST /claims/{rest}: use POST /claims/{{object}}/confirm or /claims/{{object}}/release"
            ))
        })?;
    Ok(Json(claims::settle_by_hand(&app, object, by).await?))
}
