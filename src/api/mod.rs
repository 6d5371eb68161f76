//! The HTTP API (`backstop serve`): routes, admin authentication, limits, request metrics and
//! graceful shutdown.

pub mod auth;
pub mod claims;
pub mod error;
pub mod page;
pub mod recovery;
pub mod runs;
pub mod scrape;

use std::future::Future;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

use crate::app::App;
use crate::metrics;
use error::ApiError;

/// Longest time a request body may take to arrive.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route. The operator routes (evidence, recovery, claims, runs, routes: everything the
/// status page reads) want the admin token when one is configured ([`auth`]); `/scrape`
/// (Cloud Scheduler, behind IAM), `/health`, `/metrics` (counters only, for a collector that
/// holds no operator token) and the status page's static files (no data; its login form
/// must load) stay open.
pub fn router(app: App) -> Router {
    let operator = Router::new()
        .route("/runs", get(runs::runs))
        .route("/proxies", get(runs::proxies))
        .route("/gaps", get(recovery::gaps))
        .route("/reprocess", post(recovery::submit).get(recovery::jobs))
        .route("/reprocess/{id}", get(recovery::status))
        .route("/claims", get(claims::list))
        .route("/claims/{*rest}", post(claims::settle))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/health", get(runs::health))
        .route("/scrape", post(scrape::scrape))
        .route("/metrics", get(runs::metrics))
        .merge(operator)
        .merge(page::routes())
        .fallback(|| async {
            ApiError::NotFound("no such route: see README.md for the API".into())
        })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            ApiError::MethodNotAllowed(format!(
                "{method} is not allowed here: see README.md for the API"
            ))
        })
        .layer(middleware::from_fn_with_state(app.clone(), count_requests))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A client that stops half-way through its body does not hold a task forever.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            BODY_TIMEOUT,
        ))
        .with_state(app)
}

async fn count_requests(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await.into_response();
    let status = response.status().as_u16().to_string();
    app.metrics.inc(&metrics::HTTP_REQUESTS, [&route, &status]);
    response
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish for up to `grace`;
/// runs still going after that are recorded as `abandoned`.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let ledger = app.ledger.clone();
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new requests; letting runs in flight finish");
        let _ = stopping_tx.send(());
    };
    let server = axum::serve(listener, router(app)).with_graceful_shutdown(signal);
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        ended = &mut server => return ended.map_err(std::io::Error::other)?,
        _ = stopping_rx => {}
    }
    match tokio::time::timeout(grace, server).await {
        Ok(joined) => joined.map_err(std::io::Error::other)?,
        Err(_) => {
            let n = ledger
                .abandon_own_runs(chrono::Utc::now())
                .await
                .unwrap_or(0);
            tracing::warn!(
                abandoned = n,
                "grace period over: runs still going are recorded as abandoned"
            );
            Ok(())
        }
    }
}
