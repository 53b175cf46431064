//! Operational endpoints: readiness, flush, metrics, build info.

use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

/// `GET /ready`: the storage is open once the server listens.
pub async fn ready() -> &'static str {
    "ready\n"
}

/// `POST /flush`: writes the head out to parts now, as Loki's does.
pub async fn flush(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    let storage = state.storage.clone();
    tokio::task::spawn_blocking(move || storage.flush()).await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.metrics.render(&state.storage.stats());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
}

/// `GET /loki/api/v1/status/buildinfo`, in Loki's shape.
pub async fn buildinfo() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("STRATA_GIT_REVISION").unwrap_or(""),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}
