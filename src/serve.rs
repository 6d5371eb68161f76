//! `backstop serve`: build the service from the environment, listen on $PORT, stop on SIGTERM.

use std::process::ExitCode;

use tokio::net::TcpListener;

use crate::app::App;
use crate::config::Config;

pub async fn run() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "refusing to start");
            eprintln!("backstop: {e}");
            return ExitCode::from(3);
        }
    };
    let (port, grace) = (config.port, config.shutdown_grace);
    if config.admin_token.is_none() {
        tracing::warn!("BACKSTOP_ADMIN_TOKEN is not set: the operator routes (/gaps, /reprocess, /claims, /runs, /proxies) answer anyone who reaches the service; mount the secret backstop-admin-token");
    }
    if config.upstream.api_key.is_none() {
        tracing::error!("BETTINGPROS_API_KEY is not set: every scrape will fail until the secret bettingpros-api-key is mounted");
    }
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "refusing to start");
            eprintln!("backstop: {e}");
            return ExitCode::from(3);
        }
    };
    let listener = match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("backstop: cannot listen on port {port}: {e}");
            return ExitCode::from(3);
        }
    };
    let abandoned = match app.take_over().await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("backstop: {e}");
            return ExitCode::from(3);
        }
    };
    tracing::info!(port, storage = %app.store.location(), abandoned_runs = abandoned, "backstop listening");
    let served = crate::api::serve(app.clone(), listener, shutdown_signal(), grace).await;
    app.stand_down().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped with an error");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (Cloud Run) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
