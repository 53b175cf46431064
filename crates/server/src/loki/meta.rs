//! Loki endpoints about queries rather than data: `format_query`, and
//! `patterns` (empty until strata detects patterns).

use super::LokiRequest;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `GET|POST /loki/api/v1/format_query`: the query in canonical form.
pub async fn format_query(
    State(_state): State<AppState>,
    request: LokiRequest,
) -> Result<Response, ApiError> {
    let text = request
        .params
        .get("query")
        .ok_or_else(|| ApiError::bad_request("missing parameter \"query\""))?;
    match strata_logql::parse_expr(text) {
        Ok(expr) => {
            Ok(Json(json!({ "status": "success", "data": expr.to_string() })).into_response())
        }
        // Loki answers a query that does not parse in JSON, not plain text.
        Err(err) => Ok((
            StatusCode::BAD_REQUEST,
            Json(json!({ "status": "invalid-query", "error": err.to_string() })),
        )
            .into_response()),
    }
}

/// `GET|POST /loki/api/v1/patterns`: strata does not detect log patterns
/// yet, so the answer is Loki's shape with no pattern in it.
pub async fn patterns(
    State(_state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let text = request
        .params
        .get("query")
        .ok_or_else(|| ApiError::bad_request("missing parameter \"query\""))?;
    // Like Loki's: a stream selector, no pipeline.
    super::labels::selector_matchers(text)?;
    Ok(Json(json!({ "status": "success", "data": [] })))
}
