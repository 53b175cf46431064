use super::LokiRequest;
use super::response::{labels_object, now_ns};
use crate::params::Params;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use strata_logql::Expr;
use strata_model::LabelMatcher;

/// Loki's default range for label and series requests.
const SIX_HOURS_NS: i64 = 6 * 3_600_000_000_000;

fn range(params: &Params) -> Result<(i64, i64), ApiError> {
    range_since(params, SIX_HOURS_NS)
}

/// `start`/`end`/`since` with `since` defaulting to `default_since_ns`.
pub(crate) fn range_since(params: &Params, default_since_ns: i64) -> Result<(i64, i64), ApiError> {
    let end = params.time("end", now_ns())?;
    let since = params.duration("since", default_since_ns)?;
    let start = params.time("start", end.saturating_sub(since))?;
    if end < start {
        return Err(ApiError::bad_request(
            "end timestamp must not be before or equal to start time",
        ));
    }
    Ok((start, end))
}

/// The matchers of a stream selector such as `{job="x"}`.
pub(crate) fn selector_matchers(text: &str) -> Result<Vec<LabelMatcher>, ApiError> {
    match strata_logql::parse_expr(text).map_err(|err| ApiError::bad_request(err.to_string()))? {
        Expr::Log(expr) if expr.stages.is_empty() => Ok(expr.matchers),
        _ => Err(ApiError::bad_request(format!(
            "{text:?} is not a stream selector such as {{job=\"x\"}}"
        ))),
    }
}

/// `GET|POST /loki/api/v1/labels`.
pub async fn labels(
    State(state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let (start, end) = range(&params)?;
    let storage = state.storage.clone();
    let names =
        tokio::task::spawn_blocking(move || storage.label_names(&tenant, start, end)).await??;
    Ok(Json(json!({ "status": "success", "data": names })))
}

/// `GET|POST /loki/api/v1/label/<name>/values` (optional `query` selector).
pub async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let (start, end) = range(&params)?;
    let matchers = match params.get("query") {
        Some(text) => selector_matchers(text)?,
        None => Vec::new(),
    };
    let storage = state.storage.clone();
    let values = tokio::task::spawn_blocking(move || {
        storage.label_values(&tenant, &name, &matchers, start, end)
    })
    .await??;
    Ok(Json(json!({ "status": "success", "data": values })))
}

/// `GET|POST /loki/api/v1/series` with one or more `match[]` selectors.
pub async fn series(
    State(state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let (start, end) = range(&params)?;
    let mut selectors = params.get_all("match[]");
    selectors.extend(params.get_all("match"));
    if selectors.is_empty() {
        return Err(ApiError::bad_request(
            "missing parameter \"match[]\": give at least one stream selector",
        ));
    }
    let mut groups = Vec::new();
    for text in selectors {
        groups.push(selector_matchers(text)?);
    }
    let storage = state.storage.clone();
    let found = tokio::task::spawn_blocking(
        move || -> Result<Vec<strata_model::Labels>, strata_storage::StorageError> {
            let mut all = Vec::new();
            for matchers in &groups {
                all.extend(storage.series(&tenant, matchers, start, end)?);
            }
            all.sort();
            all.dedup();
            Ok(all)
        },
    )
    .await??;
    let data: Vec<Value> = found.iter().map(labels_object).collect();
    Ok(Json(json!({ "status": "success", "data": data })))
}
