//! strata's HTTP API.
//!
//! [`router`] builds the axum routes over an [`AppState`] (the storage engine,
//! limits and metrics); [`serve`] runs them on a bound listener until a
//! shutdown signal, then flushes the head to parts. Routes are grouped by
//! protocol: `loki` mirrors Loki's HTTP API (push, query, labels, series),
//! `admin` holds /ready, /flush, /metrics and build info.

mod admin;
mod error;
mod loki;
mod metrics;
mod params;
mod state;

pub use error::ApiError;
pub use metrics::Metrics;
pub use params::{parse_duration, parse_loki_time};
pub use state::{AppState, ConfigPages, QueryLimits, ServerLimits};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

/// All of strata's routes.
pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.ingest.max_request_bytes;
    Router::new()
        // Push bodies are read by the handler, which names the limit when refusing.
        .route(
            "/loki/api/v1/push",
            post(loki::push::push).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/prom/push",
            post(loki::push::push).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/loki/api/v1/query_range",
            get(loki::query::query_range).post(loki::query::query_range),
        )
        .route(
            "/loki/api/v1/query",
            get(loki::query::query_instant).post(loki::query::query_instant),
        )
        .route(
            "/loki/api/v1/labels",
            get(loki::labels::labels).post(loki::labels::labels),
        )
        .route("/loki/api/v1/label", get(loki::labels::labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(loki::labels::label_values).post(loki::labels::label_values),
        )
        .route(
            "/loki/api/v1/series",
            get(loki::labels::series).post(loki::labels::series),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(loki::index::stats).post(loki::index::stats),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(loki::index::volume).post(loki::index::volume),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(loki::index::volume_range).post(loki::index::volume_range),
        )
        .route(
            "/loki/api/v1/detected_labels",
            get(loki::detected::detected_labels).post(loki::detected::detected_labels),
        )
        .route(
            "/loki/api/v1/detected_fields",
            get(loki::detected::detected_fields).post(loki::detected::detected_fields),
        )
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(loki::detected::detected_field_values).post(loki::detected::detected_field_values),
        )
        .route(
            "/loki/api/v1/format_query",
            get(loki::meta::format_query).post(loki::meta::format_query),
        )
        .route(
            "/loki/api/v1/patterns",
            get(loki::meta::patterns).post(loki::meta::patterns),
        )
        .route("/loki/api/v1/tail", get(loki::tail::tail))
        .route("/api/prom/tail", get(loki::tail::tail))
        .route("/loki/api/v1/status/buildinfo", get(admin::buildinfo))
        .route("/config", get(admin::config))
        .route("/ready", get(admin::ready))
        .route("/flush", post(admin::flush))
        .route("/metrics", get(admin::metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until SIGINT or SIGTERM, then flushes
/// the storage head so the next start has nothing to replay.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let storage = state.storage.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("shutting down: flushing the head");
    let flushed = tokio::task::spawn_blocking(move || storage.flush()).await;
    match flushed {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::error!(error = %err, "cannot flush on shutdown; the WAL keeps the data")
        }
        Err(err) => {
            tracing::error!(error = %err, "flush task failed on shutdown; the WAL keeps the data")
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
