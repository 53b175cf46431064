use super::LokiRequest;
use super::response::{log_query_response, metric_response, now_ns};
use crate::params::Params;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use std::time::Instant;
use strata_logql::{Expr, LogExpr, MetricExpr};
use strata_model::LabelMatcher;
use strata_query::QueryControl;
use strata_query::engine::{Direction, LogQuery, run_log_query};
use strata_query::metric::{MetricQuery, Steps, default_step_ns, run_metric_query};

const HOUR_NS: i64 = 3_600_000_000_000;

/// The stream selectors of every log query inside a metric query.
fn selectors<'a>(expr: &'a MetricExpr, out: &mut Vec<&'a LogExpr>) {
    match expr {
        MetricExpr::Range(range) => out.push(&range.log),
        MetricExpr::Vector(vector) => selectors(&vector.expr, out),
        MetricExpr::Binary(binary) => {
            selectors(&binary.lhs, out);
            selectors(&binary.rhs, out);
        }
        MetricExpr::Neg(inner) => selectors(inner, out),
        MetricExpr::LabelReplace(replace) => selectors(&replace.expr, out),
        MetricExpr::Number(_) | MetricExpr::VectorLiteral(_) => {}
    }
}

/// Refuses a query whose selectors pick more line bytes in `[start, end)`
/// than `limits.max_bytes_read`, counted from the block index before any
/// block is read (Loki's `max_query_bytes_read`).
async fn check_bytes_read(
    state: &AppState,
    tenant: &str,
    selectors: Vec<Vec<LabelMatcher>>,
    start: i64,
    end: i64,
) -> Result<(), ApiError> {
    let limit = state.limits.query.max_bytes_read;
    if limit == 0 || selectors.is_empty() {
        return Ok(());
    }
    let storage = state.storage.clone();
    let tenant = tenant.to_string();
    let bytes =
        tokio::task::spawn_blocking(move || -> Result<u64, strata_storage::StorageError> {
            let mut bytes = 0;
            for matchers in &selectors {
                bytes += storage
                    .stream_summaries(&tenant, matchers, start, end)?
                    .iter()
                    .map(|summary| summary.bytes)
                    .sum::<u64>();
            }
            Ok(bytes)
        })
        .await??;
    if bytes > limit {
        return Err(ApiError::bad_request(format!(
            "the query would read too many bytes (query: {bytes} bytes, limit: {limit} bytes, limits.max_query_bytes_read); narrow its time range or selector"
        )));
    }
    Ok(())
}

/// The parameters every query endpoint reads: `limit` and `direction`.
pub(crate) struct Common {
    pub limit: usize,
    pub direction: Direction,
}

pub(crate) fn common_params(params: &Params, state: &AppState) -> Result<Common, ApiError> {
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
    check_bytes_read(state, &tenant, vec![expr.matchers.clone()], start, end).await?;
    let storage = state.storage.clone();
    let control = QueryControl::new(state.limits.query.timeout);
    // Dropped with this future when the client goes away: stops the scan.
    let cancel = control.cancel_on_drop();
    let metrics = state.metrics.clone();
    let result = tokio::task::spawn_blocking(move || {
        let query = LogQuery {
            tenant: &tenant,
            expr: &expr,
            start_ns: start,
            end_ns: end,
            limit,
            direction,
            control: &control,
        };
        count_cancelled(&metrics, run_log_query(&storage, &query))
    })
    .await??;
    cancel.disarm();
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
    let mut logs = Vec::new();
    selectors(&expr, &mut logs);
    let last = steps.start_ns + steps.step_ns * (steps.count as i64 - 1);
    // The widest window any range aggregation reads: bounded by the longest
    // range plus offset before the first step.
    let reach = logs_reach(&expr);
    let matchers = logs.iter().map(|log| log.matchers.clone()).collect();
    check_bytes_read(
        state,
        &tenant,
        matchers,
        steps.start_ns.saturating_sub(reach),
        last.saturating_add(1),
    )
    .await?;
    let storage = state.storage.clone();
    let limits = state.limits.query;
    let control = QueryControl::new(limits.timeout);
    let cancel = control.cancel_on_drop();
    let metrics = state.metrics.clone();
    let result = tokio::task::spawn_blocking(move || {
        let query = MetricQuery {
            tenant: &tenant,
            expr: &expr,
            steps,
            max_series: limits.max_series,
            control: &control,
        };
        count_cancelled(&metrics, run_metric_query(&storage, &query))
    })
    .await??;
    cancel.disarm();
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

/// Counts a query its client abandoned.
fn count_cancelled<T>(
    metrics: &crate::Metrics,
    result: Result<T, strata_query::engine::QueryError>,
) -> Result<T, strata_query::engine::QueryError> {
    if matches!(result, Err(strata_query::engine::QueryError::Cancelled)) {
        metrics
            .queries_cancelled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("query stopped: its client went away");
    }
    result
}

/// The longest range plus offset of the range aggregations in `expr`.
fn logs_reach(expr: &MetricExpr) -> i64 {
    match expr {
        MetricExpr::Range(range) => range.range_ns.saturating_add(range.offset_ns.max(0)),
        MetricExpr::Vector(vector) => logs_reach(&vector.expr),
        MetricExpr::Binary(binary) => logs_reach(&binary.lhs).max(logs_reach(&binary.rhs)),
        MetricExpr::Neg(inner) => logs_reach(inner),
        MetricExpr::LabelReplace(replace) => logs_reach(&replace.expr),
        MetricExpr::Number(_) | MetricExpr::VectorLiteral(_) => 0,
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
