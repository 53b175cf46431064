//! Loki's "detected" endpoints, which Grafana's Logs Drilldown and label
//! pickers use: `detected_labels` (stream labels worth grouping by, with
//! their cardinality), `detected_fields` and `detected_field/<name>/values`
//! (fields found in a sample of the newest matching lines: structured
//! metadata, and what the json or logfmt parser extracts).

use std::collections::{BTreeMap, BTreeSet};

use super::LokiRequest;
use super::labels::selector_matchers;
use crate::params::Params;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};
use strata_logql::{Expr, LogExpr, Stage};
use strata_query::engine::{Direction, LogQuery, run_log_query};
use strata_query::{Pipeline, QueryControl};

const HOUR_NS: i64 = 3_600_000_000_000;
/// Loki's defaults: lines sampled, and fields or values returned.
const DEFAULT_LINE_LIMIT: usize = 100;
const DEFAULT_FIELD_LIMIT: usize = 1000;
/// Labels kept whatever their values look like (Loki's list).
const ALWAYS_KEPT: [&str; 4] = ["cluster", "namespace", "instance", "pod"];
/// Labels that are not the user's to group by.
const INTERNAL_FIELDS: [&str; 3] = ["__error__", "__error_details__", "__preserve_error__"];

fn range(params: &Params) -> Result<(i64, i64), ApiError> {
    super::labels::range_since(params, HOUR_NS)
}

fn count_param(params: &Params, names: &[&str], default: usize) -> Result<usize, ApiError> {
    for name in names {
        if let Some(text) = params.get(name).filter(|text| !text.is_empty()) {
            return text
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "invalid parameter \"{name}\": {text:?} is not a positive integer"
                    ))
                });
        }
    }
    Ok(default)
}

/// True for values that look like ids or measurements: numbers and UUIDs.
fn looks_like_an_id(value: &str) -> bool {
    value.parse::<f64>().is_ok() || is_uuid(value)
}

fn is_uuid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Whether a label is worth offering for grouping (Loki's rules): it has
/// values and they are not all numbers or UUIDs, unless they are a 0/1
/// flag or the label is one of the usual topology labels.
fn worth_detecting(name: &str, values: &BTreeSet<String>) -> bool {
    if values.is_empty() || name.starts_with("__") {
        return false;
    }
    if ALWAYS_KEPT.contains(&name) {
        return true;
    }
    let flag = values.len() <= 2 && values.iter().all(|v| v == "0" || v == "1");
    flag || !values.iter().all(|value| looks_like_an_id(value))
}

/// `GET|POST /loki/api/v1/detected_labels`: `{"detectedLabels":[{"label","cardinality"}]}`,
/// sorted by label; `{}` when there is none, as Loki answers.
pub async fn detected_labels(
    State(state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let (start, end) = range(&params)?;
    let matchers = match params.get("query").map(str::trim) {
        None | Some("" | "{}") => Vec::new(),
        Some(text) => selector_matchers(text)?,
    };
    let storage = state.storage.clone();
    let series =
        tokio::task::spawn_blocking(move || storage.series(&tenant, &matchers, start, end))
            .await??;
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for labels in &series {
        for (name, value) in labels.iter() {
            values
                .entry(name.to_string())
                .or_default()
                .insert(value.to_string());
        }
    }
    let detected: Vec<Value> = values
        .iter()
        .filter(|(name, values)| worth_detecting(name, values))
        .map(|(name, values)| json!({ "label": name, "cardinality": values.len() }))
        .collect();
    if detected.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(json!({ "detectedLabels": detected })))
}

/// What was seen of one field in the sample.
#[derive(Default)]
struct FieldSeen {
    values: BTreeSet<String>,
    parsers: BTreeSet<&'static str>,
    /// Seen as structured metadata (Loki then reports no parser).
    metadata: bool,
}

/// The fields of the newest `line_limit` lines of the query: structured
/// metadata, labels the query's own parsers extract, and what `| json`
/// (else `| logfmt`) finds in each line. Stream labels are not fields.
async fn sample_fields(
    state: &AppState,
    tenant: String,
    params: &Params,
) -> Result<BTreeMap<String, FieldSeen>, ApiError> {
    let text = params
        .get("query")
        .ok_or_else(|| ApiError::bad_request("missing parameter \"query\""))?;
    let expr: LogExpr = match strata_logql::parse_expr(text)
        .map_err(|err| ApiError::bad_request(err.to_string()))?
    {
        Expr::Log(expr) => expr,
        Expr::Metric(_) => {
            return Err(ApiError::bad_request(
                "detected fields need a log query, not a metric query",
            ));
        }
    };
    let (start, end) = range(params)?;
    let line_limit = count_param(params, &["line_limit"], DEFAULT_LINE_LIMIT)?;
    let max_entries = state.limits.query.max_entries;
    if line_limit > max_entries {
        return Err(ApiError::bad_request(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({line_limit} > {max_entries})"
        )));
    }
    let storage = state.storage.clone();
    let control = QueryControl::new(state.limits.query.timeout);
    let cancel = control.cancel_on_drop();
    let fields =
        tokio::task::spawn_blocking(move || -> Result<_, strata_query::engine::QueryError> {
            let result = run_log_query(
                &storage,
                &LogQuery {
                    tenant: &tenant,
                    expr: &expr,
                    start_ns: start,
                    end_ns: end,
                    limit: line_limit,
                    direction: Direction::Backward,
                    control: &control,
                },
            )?;
            let parsers: [(&'static str, Pipeline); 2] = [
                (
                    "json",
                    Pipeline::new(&[Stage::Json(Vec::new())]).expect("BUG: json compiles"),
                ),
                (
                    "logfmt",
                    Pipeline::new(&[Stage::Logfmt {
                        strict: false,
                        keep_empty: false,
                        params: Vec::new(),
                    }])
                    .expect("BUG: logfmt compiles"),
                ),
            ];
            let mut fields: BTreeMap<String, FieldSeen> = BTreeMap::new();
            for stream in &result.streams {
                for entry in &stream.entries {
                    for (key, value) in &entry.structured_metadata {
                        let seen = fields.entry(key.clone()).or_default();
                        seen.values.insert(value.clone());
                        seen.metadata = true;
                    }
                    for (key, value) in &entry.parsed {
                        fields
                            .entry(key.clone())
                            .or_default()
                            .values
                            .insert(value.clone());
                    }
                    // The line's own fields: json if it is JSON, else logfmt.
                    for (name, parser) in &parsers {
                        let Some(processed) =
                            parser.process(entry.ts_ns, &entry.line, &stream.stream_labels, &[])
                        else {
                            continue;
                        };
                        if processed.parsed.iter().any(|(key, _)| key == "__error__") {
                            continue;
                        }
                        for (key, value) in &processed.parsed {
                            let seen = fields.entry(key.clone()).or_default();
                            seen.values.insert(value.clone());
                            seen.parsers.insert(name);
                        }
                        if !processed.parsed.is_empty() {
                            break;
                        }
                    }
                }
            }
            for internal in INTERNAL_FIELDS {
                fields.remove(internal);
            }
            Ok(fields)
        })
        .await??;
    cancel.disarm();
    Ok(fields)
}

/// The type Loki reports for a field's values: int, float, boolean,
/// duration, bytes, else string (every value must fit).
fn field_type(values: &BTreeSet<String>) -> &'static str {
    let all = |check: fn(&str) -> bool| values.iter().all(|value| check(value));
    if all(|v| v.parse::<i64>().is_ok()) {
        "int"
    } else if all(|v| v.parse::<f64>().is_ok()) {
        "float"
    } else if all(|v| matches!(v, "true" | "false" | "TRUE" | "FALSE" | "True" | "False")) {
        "boolean"
    } else if all(|v| strata_logql::units::parse_duration(v).is_some()) {
        "duration"
    } else if all(|v| strata_logql::units::parse_bytes(v).is_some()) {
        "bytes"
    } else {
        "string"
    }
}

/// `GET|POST /loki/api/v1/detected_fields`: `{"fields":[{"label","type",
/// "cardinality","parsers"}],"limit":N}` (`parsers` null for structured
/// metadata); `{}` when there is none.
pub async fn detected_fields(
    State(state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let limit = count_param(&params, &["limit", "field_limit"], DEFAULT_FIELD_LIMIT)?;
    let fields = sample_fields(&state, tenant, &params).await?;
    let detected: Vec<Value> = fields
        .iter()
        .take(limit)
        .map(|(name, seen)| {
            let mut field = Map::new();
            field.insert("label".into(), json!(name));
            field.insert("type".into(), json!(field_type(&seen.values)));
            field.insert("cardinality".into(), json!(seen.values.len()));
            let parsers = if seen.metadata && seen.parsers.is_empty() {
                Value::Null
            } else {
                json!(seen.parsers.iter().collect::<Vec<_>>())
            };
            field.insert("parsers".into(), parsers);
            Value::Object(field)
        })
        .collect();
    if detected.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(json!({ "fields": detected, "limit": limit })))
}

/// `GET|POST /loki/api/v1/detected_field/<name>/values`: `{"values":[...],"limit":N}`,
/// sorted; `{}` when there is none.
pub async fn detected_field_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let limit = count_param(&params, &["limit"], DEFAULT_FIELD_LIMIT)?;
    let fields = sample_fields(&state, tenant, &params).await?;
    let values: Vec<&String> = fields
        .get(&name)
        .map(|seen| seen.values.iter().take(limit).collect())
        .unwrap_or_default();
    if values.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(json!({ "values": values, "limit": limit })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[&str]) -> BTreeSet<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn ids_are_not_worth_detecting_but_flags_and_topology_are() {
        assert!(worth_detecting("app", &set(&["api", "web"])));
        assert!(!worth_detecting("pid", &set(&["12", "13.5"])));
        assert!(!worth_detecting(
            "req",
            &set(&["0f8fad5b-d9cb-469f-a165-70867728950e"])
        ));
        assert!(worth_detecting("canary", &set(&["0", "1"])));
        assert!(worth_detecting("pod", &set(&["17"])));
        assert!(!worth_detecting("__stream_shard__", &set(&["a"])));
        assert!(!worth_detecting("empty", &set(&[])));
    }

    #[test]
    fn field_types() {
        assert_eq!(field_type(&set(&["1", "-2"])), "int");
        assert_eq!(field_type(&set(&["1", "2.5"])), "float");
        assert_eq!(field_type(&set(&["true", "false"])), "boolean");
        assert_eq!(field_type(&set(&["10ms", "1h2m"])), "duration");
        assert_eq!(field_type(&set(&["10KB", "5MiB"])), "bytes");
        assert_eq!(field_type(&set(&["GET", "1"])), "string");
    }
}
