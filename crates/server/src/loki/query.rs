use super::LokiRequest;
use super::response::{log_query_response, metric_response, now_ns};
use crate::params::Params;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use std::time::Instant;
use strata_logql::{Expr, MetricExpr};
use strata_query::engine::{Direction, LogQuery, run_log_query};
use strata_query::metric::{MetricQuery, Steps, default_step_ns, run_metric_query};

const HOUR_NS: i64 = 3_600_000_000_000;

/// Most series a metric query may answer with (Loki's default `max_query_series`).
const MAX_QUERY_SERIES: usize = 500;

/// The parameters every query endpoint reads: `limit` and `direction`.
struct Common {
    limit: usize,
    direction: Direction,
}

fn common_params(params: &Params, state: &AppState) -> Result<Common, ApiError> {
    let limit = match params.get("limit") {
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid parameter \"limit\": {text:?} is not a non-negative integer"
            ))
        })?,
        None => 100,
    };
    let direction = match params
        .get("direction")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("backward") => Direction::Backward,
        Some("forward") => Direction::Forward,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid parameter \"direction\": {other:?} is not forward or backward"
            )));
        }
    };
    let max_entries = state.limits.query.max_entries;
    if limit > max_entries {
        return Err(ApiError::bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max_entries})"
        )));
    }
    Ok(Common { limit, direction })
}

fn query_text(params: &Params) -> Result<String, ApiError> {
    params
        .get("query")
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("missing parameter \"query\""))
}

fn parse(text: &str) -> Result<Expr, ApiError> {
    strata_logql::parse_expr(text).map_err(|err| ApiError::bad_request(err.to_string()))
}

/// `GET|POST /loki/api/v1/query_range`.
pub async fn query_range(
    State(state): State<AppState>,
    request: Result<LokiRequest, ApiError>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let started = Instant::now();
    let result = match request {
        Ok(request) => query_range_inner(&state, request).await,
        Err(err) => Err(err),
    };
    state
        .metrics
        .observe_query(started.elapsed().as_secs_f64(), result.is_ok());
    result
}

async fn query_range_inner(
    state: &AppState,
    request: LokiRequest,
) -> Result<Json<serde_json::Value>, ApiError> {
    let LokiRequest {
        tenant,
        params,
        headers,
    } = request;
    let text = query_text(&params)?;
    let end = params.time("end", now_ns())?;
    let since = params.duration("since", HOUR_NS)?;
    let start = params.time("start", end.saturating_sub(since))?;
    let Common { limit, direction } = common_params(&params, state)?;
    if end < start {
        return Err(ApiError::bad_request(
            "end timestamp must not be before or equal to start time",
        ));
    }
    let limits = state.limits.query;
    if limits.max_query_length_ns > 0 && end.saturating_sub(start) > limits.max_query_length_ns {
        return Err(ApiError::bad_request(format!(
            "the query time range exceeds the limit (query length: {}h, limit: {}h, max_query_length)",
            end.saturating_sub(start) / HOUR_NS,
            limits.max_query_length_ns / HOUR_NS
        )));
    }
    let expr = match parse(&text)? {
        Expr::Log(expr) => expr,
        Expr::Metric(expr) => {
            // Loki's `interval` applies to log queries only; it is ignored here too.
            let step = params.duration("step", default_step_ns(start, end))?;
            let steps = Steps::range(start, end, step).map_err(ApiError::bad_request)?;
            return run_metric(state, tenant, expr, steps).await;
        }
    };
    let categorize = categorize_labels(&headers);
    let storage = state.storage.clone();
    let result = tokio::task::spawn_blocking(move || {
        let query = LogQuery {
            tenant: &tenant,
            expr: &expr,
            start_ns: start,
            end_ns: end,
            limit,
            direction,
        };
        run_log_query(&storage, &query)
    })
    .await??;
    Ok(Json(log_query_response(
        &result,
        categorize,
        direction == Direction::Backward,
    )))
}

/// Runs a metric query off the async runtime and encodes its answer.
async fn run_metric(
    state: &AppState,
    tenant: String,
    expr: MetricExpr,
    steps: Steps,
) -> Result<Json<serde_json::Value>, ApiError> {
    let storage = state.storage.clone();
    let result = tokio::task::spawn_blocking(move || {
        let query = MetricQuery {
            tenant: &tenant,
            expr: &expr,
            steps,
            max_series: MAX_QUERY_SERIES,
        };
        run_metric_query(&storage, &query)
    })
    .await??;
    Ok(Json(metric_response(&result)))
}

/// `GET|POST /loki/api/v1/query`: instant metric queries; a log query gets
/// the 400 that Loki gives.
pub async fn query_instant(
    State(state): State<AppState>,
    request: Result<LokiRequest, ApiError>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let started = Instant::now();
    let result = match request {
        Ok(request) => query_instant_inner(&state, request).await,
        Err(err) => Err(err),
    };
    state
        .metrics
        .observe_query(started.elapsed().as_secs_f64(), result.is_ok());
    result
}

async fn query_instant_inner(
    state: &AppState,
    request: LokiRequest,
) -> Result<Json<serde_json::Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let text = query_text(&params)?;
    let time = params.time("time", now_ns())?;
    common_params(&params, state)?;
    match parse(&text)? {
        Expr::Log(_) => Err(ApiError::bad_request(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        )),
        Expr::Metric(expr) => run_metric(state, tenant, expr, Steps::instant(time)).await,
    }
}

/// Whether the client asked for Loki's `categorize-labels` encoding.
fn categorize_labels(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-loki-response-encoding-flags")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|flag| flag.trim() == "categorize-labels"))
}
