//! Loki endpoints about queries rather than data: `format_query`, and
//! `patterns` (empty until strata detects patterns).

use super::LokiRequest;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// `GET|POST /loki/api/v1/format_query`: the query in canonical form.
pub async fn format_query(
    State(_state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let text = request
        .params
        .get("query")
        .ok_or_else(|| ApiError::bad_request("missing parameter \"query\""))?;
    let expr = strata_logql::parse_expr(text).map_err(|err| ApiError::bad_request(err.to_string()))?;
    Ok(Json(json!({ "status": "success", "data": expr.to_string() })))
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
    strata_logql::parse_expr(text).map_err(|err| ApiError::bad_request(err.to_string()))?;
    Ok(Json(json!({ "status": "success", "data": [] })))
}
