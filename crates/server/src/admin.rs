//! Operational endpoints: readiness, flush, metrics, build info.

use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

/// `GET /config`: the running configuration as YAML, in the config file's
/// format; `?mode=defaults` the defaults, `?mode=diff` what differs from
/// them (Loki's modes).
pub async fn config(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let pages = &state.config;
    let body = match query.get("mode").map(String::as_str) {
        None | Some("") => pages.effective.clone(),
        Some("defaults") => pages.defaults.clone(),
        Some("diff") => pages.diff.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid parameter \"mode\": {other:?} is not diff or defaults"
            )));
        }
    };
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        body,
    ))
}

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
