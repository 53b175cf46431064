//! Loki's index endpoints: `index/stats` and `index/volume` answered from the
//! block index (no block is decoded), `index/volume_range` by a scan.

use std::collections::BTreeMap;

use super::LokiRequest;
use super::labels::{range, selector_matchers};
use crate::params::Params;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use strata_model::{LabelMatcher, Labels};
use strata_storage::StreamSummary;

/// Loki's default `limit` of volume requests.
const DEFAULT_VOLUME_LIMIT: usize = 100;

/// The selector of an index request: `query`, required.
fn selector(params: &Params) -> Result<Vec<LabelMatcher>, ApiError> {
    let text = params
        .get("query")
        .ok_or_else(|| ApiError::bad_request("missing parameter \"query\""))?;
    selector_matchers(text)
}

async fn summaries(
    state: &AppState,
    tenant: String,
    matchers: Vec<LabelMatcher>,
    start: i64,
    end: i64,
) -> Result<Vec<StreamSummary>, ApiError> {
    let storage = state.storage.clone();
    Ok(
        tokio::task::spawn_blocking(move || {
            storage.stream_summaries(&tenant, &matchers, start, end)
        })
        .await??,
    )
}

/// `GET|POST /loki/api/v1/index/stats`: streams, chunks (blocks), bytes and
/// entries of the streams `query` selects in the range. As in Loki, a block
/// overlapping the range counts whole.
pub async fn stats(
    State(state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let (start, end) = range(&params)?;
    let matchers = selector(&params)?;
    let found = summaries(&state, tenant, matchers, start, end).await?;
    let sum = |field: fn(&StreamSummary) -> u64| found.iter().map(field).sum::<u64>();
    Ok(Json(json!({
        "streams": found.len(),
        "chunks": sum(|s| s.chunks),
        "bytes": sum(|s| s.bytes),
        "entries": sum(|s| s.entries),
    })))
}

/// How volume requests group streams.
struct VolumeGrouping {
    /// Label names a result series keeps; None: the whole stream.
    names: Option<Vec<String>>,
    /// `aggregateBy=labels`: one series per label name, not per value set.
    by_label_name: bool,
    limit: usize,
}

fn volume_grouping(params: &Params, matchers: &[LabelMatcher]) -> Result<VolumeGrouping, ApiError> {
    let limit = match params.get("limit") {
        Some(text) => text.parse::<usize>().ok().filter(|&limit| limit > 0).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid parameter \"limit\": {text:?} is not a positive integer"
            ))
        })?,
        None => DEFAULT_VOLUME_LIMIT,
    };
    let by_label_name = match params.get("aggregateBy") {
        None | Some("series") => false,
        Some("labels") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid parameter \"aggregateBy\": {other:?} is not series or labels"
            )));
        }
    };
    let target: Vec<String> = params
        .get("targetLabels")
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    // Without targetLabels, Loki groups by the label names the selector
    // matches on (all labels when it matches on none).
    let names = if !target.is_empty() {
        Some(target)
    } else {
        let mut names: Vec<String> = matchers.iter().map(|m| m.name.clone()).collect();
        names.sort();
        names.dedup();
        (!names.is_empty()).then_some(names)
    };
    Ok(VolumeGrouping {
        names,
        by_label_name,
        limit,
    })
}

/// The series keys a stream's volume goes to.
fn volume_keys(grouping: &VolumeGrouping, labels: &Labels) -> Vec<Vec<(String, String)>> {
    let kept: Vec<(String, String)> = labels
        .iter()
        .filter(|(name, _)| {
            grouping
                .names
                .as_ref()
                .is_none_or(|names| names.iter().any(|kept| kept == name))
        })
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    if grouping.by_label_name {
        // One series per label name, its value left empty, as Loki answers.
        kept.into_iter().map(|(name, _)| vec![(name, String::new())]).collect()
    } else if kept.is_empty() {
        Vec::new()
    } else {
        vec![kept]
    }
}

/// The top `limit` series by volume, largest first, ties by labels.
fn top(volumes: BTreeMap<Vec<(String, String)>, u64>, limit: usize) -> Vec<(Vec<(String, String)>, u64)> {
    let mut volumes: Vec<(Vec<(String, String)>, u64)> = volumes.into_iter().collect();
    volumes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    volumes.truncate(limit);
    volumes
}

fn metric_object(key: &[(String, String)]) -> Value {
    Value::Object(
        key.iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect(),
    )
}

/// Seconds as Loki writes sample times: a number, with a fraction when needed.
fn sample_time(ns: i64) -> Value {
    if ns % 1_000_000_000 == 0 {
        json!(ns / 1_000_000_000)
    } else {
        json!(ns as f64 / 1e9)
    }
}

/// `GET|POST /loki/api/v1/index/volume`: uncompressed line bytes per series
/// over the range, as a vector at `end`, from the block index.
pub async fn volume(
    State(state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let (start, end) = range(&params)?;
    let matchers = selector(&params)?;
    let grouping = volume_grouping(&params, &matchers)?;
    let found = summaries(&state, tenant, matchers, start, end).await?;
    let mut volumes: BTreeMap<Vec<(String, String)>, u64> = BTreeMap::new();
    for summary in &found {
        for key in volume_keys(&grouping, &summary.labels) {
            *volumes.entry(key).or_default() += summary.bytes;
        }
    }
    let result: Vec<Value> = top(volumes, grouping.limit)
        .into_iter()
        .map(|(key, bytes)| {
            json!({ "metric": metric_object(&key), "value": [sample_time(end), bytes.to_string()] })
        })
        .collect();
    Ok(Json(json!({
        "status": "success",
        "data": { "resultType": "vector", "result": result },
    })))
}

/// `GET|POST /loki/api/v1/index/volume_range`: the same per `step`, as a
/// matrix; computed by scanning the lines' lengths (exact per step).
pub async fn volume_range(
    State(state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let (start, end) = range(&params)?;
    let matchers = selector(&params)?;
    let grouping = volume_grouping(&params, &matchers)?;
    let step = params.duration(
        "step",
        strata_query::metric::default_step_ns(start, end),
    )?;
    let steps = strata_query::metric::Steps::range(start, end, step).map_err(ApiError::bad_request)?;
    let storage = state.storage.clone();
    let scan_matchers = matchers.clone();
    let series = tokio::task::spawn_blocking(move || {
        strata_query::volume::bytes_per_step(&storage, &tenant, &scan_matchers, &steps)
    })
    .await??;
    // Group the streams' series, keep the largest by total volume.
    let mut grouped: BTreeMap<Vec<(String, String)>, BTreeMap<i64, u64>> = BTreeMap::new();
    for (labels, points) in &series {
        for key in volume_keys(&grouping, labels) {
            let sums = grouped.entry(key).or_default();
            for &(ts, bytes) in points {
                *sums.entry(ts).or_default() += bytes;
            }
        }
    }
    let totals: BTreeMap<Vec<(String, String)>, u64> = grouped
        .iter()
        .map(|(key, points)| (key.clone(), points.values().sum()))
        .collect();
    let result: Vec<Value> = top(totals, grouping.limit)
        .into_iter()
        .map(|(key, _)| {
            let values: Vec<Value> = grouped[&key]
                .iter()
                .map(|(&ts, bytes)| json!([sample_time(ts), bytes.to_string()]))
                .collect();
            json!({ "metric": metric_object(&key), "values": values })
        })
        .collect();
    Ok(Json(json!({
        "status": "success",
        "data": { "resultType": "matrix", "result": result },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grouping(names: Option<&[&str]>, by_label_name: bool) -> VolumeGrouping {
        VolumeGrouping {
            names: names.map(|names| names.iter().map(|n| n.to_string()).collect()),
            by_label_name,
            limit: 10,
        }
    }

    #[test]
    fn volume_keys_follow_target_labels_and_aggregate_by() {
        let labels = Labels::parse(r#"{app="api", env="prod", pod="p1"}"#).unwrap();
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            volume_keys(&grouping(Some(&["app", "env"]), false), &labels),
            [vec![pair("app", "api"), pair("env", "prod")]]
        );
        assert_eq!(
            volume_keys(&grouping(None, false), &labels),
            [vec![pair("app", "api"), pair("env", "prod"), pair("pod", "p1")]]
        );
        assert_eq!(
            volume_keys(&grouping(Some(&["app", "pod"]), true), &labels),
            [vec![pair("app", "")], vec![pair("pod", "")]]
        );
        assert!(volume_keys(&grouping(Some(&["missing"]), false), &labels).is_empty());
    }

    #[test]
    fn top_orders_by_volume_then_labels() {
        let key = |v: &str| vec![("app".to_string(), v.to_string())];
        let volumes = BTreeMap::from([(key("a"), 5), (key("b"), 9), (key("c"), 5)]);
        let got: Vec<u64> = top(volumes, 2).into_iter().map(|(_, v)| v).collect();
        assert_eq!(got, [9, 5]);
    }
}
