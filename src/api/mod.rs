//! The HTTP API (`backstop serve`): routes, admin authentication, limits, request metrics and
//! graceful shutdown.

pub mod auth;
pub mod claims;
pub mod error;
pub mod page;
pub mod recovery;
pub mod runs;
pub mod scrape;
pub mod sweep;

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
/// status page reads) want the admin token when one is configured ([`auth`]); `/scrape` and
/// `/sweep` (Cloud Scheduler, behind IAM: they take no operator's input and do only what the
/// service does on its own schedule), `/health`, `/metrics` (counters only, for a collector
/// that holds no operator token) and the status page's static files (no data; its login form
/// must load) stay open.
pub fn router(app: App) -> Router {
    let operator = Router::new()
        .route("/runs", get(runs::runs))
        .route("/proxies", get(runs::proxies))
        .route("/gaps", get(recovery::gaps))
        .route("/gaps/{id}", get(recovery::detection))
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
        .route("/sweep", post(sweep::sweep))
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

/// Serves until `shutdown` resolves, then lets in-flight requests and the tasks the service
/// owns (runs whose caller hung up, slices of jobs) finish for up to `grace` in all. Tasks
/// still going after that are aborted and named in the log, and their runs recorded as
/// `abandoned` (this process knows they stop); the jobs they advanced are released by
/// `App::stand_down` for another instance.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (ledger, tasks) = (app.ledger.clone(), app.tasks.clone());
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!(
            "shutting down: no new requests; letting requests and tasks in flight finish"
        );
        let _ = stopping_tx.send(());
    };
    let server = axum::serve(listener, router(app)).with_graceful_shutdown(signal);
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        ended = &mut server => return ended.map_err(std::io::Error::other)?,
        _ = stopping_rx => {}
    }
    let deadline = tokio::time::Instant::now() + grace;
    let served = match tokio::time::timeout_at(deadline, server).await {
        Ok(joined) => joined.map_err(std::io::Error::other)?,
        Err(_) => Ok(()),
    };
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if let Err(stopped) = tasks.drain(left).await {
        let n = ledger
            .abandon_own_runs(chrono::Utc::now())
            .await
            .unwrap_or(0);
        tracing::warn!(
            abandoned = n,
            tasks = %stopped.join("; "),
            "grace period over: tasks still going were stopped, and their runs recorded as abandoned"
        );
    }
    served
}
