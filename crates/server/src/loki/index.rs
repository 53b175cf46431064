//! Loki's index endpoints: `index/stats` and `index/volume` answered from the
//! block index (no block is decoded), `index/volume_range` by a scan.

use std::collections::BTreeMap;

use super::LokiRequest;
use super::labels::{range_since, selector_matchers};
use super::response::{pairs_object, sample_time};
use crate::params::Params;
use crate::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use strata_model::{LabelMatcher, Labels};
use strata_storage::StreamSummary;

/// Loki's default range of index requests (`since`).
const HOUR_NS: i64 = 3_600_000_000_000;

/// Loki's default `limit` of volume requests.
const DEFAULT_VOLUME_LIMIT: usize = 100;

/// The selector of an index request: `query`, required.
fn selector(params: &Params) -> Result<Vec<LabelMatcher>, ApiError> {
    let text = params
        .get("query")
        .ok_or_else(|| ApiError::bad_request("missing parameter \"query\""))?;
    selector_matchers(text)
}

/// The selector of a volume request, where `{}` selects every stream.
fn volume_selector(params: &Params) -> Result<Vec<LabelMatcher>, ApiError> {
    match params.get("query").map(str::trim) {
        Some("{}") => Ok(Vec::new()),
        _ => selector(params),
    }
}

async fn summaries(
    state: &AppState,
    tenant: String,
    matchers: Vec<LabelMatcher>,
    start: i64,
    end: i64,
) -> Result<Vec<StreamSummary>, ApiError> {
    let storage = state.storage.clone();
    Ok(tokio::task::spawn_blocking(move || {
        storage.stream_summaries(&tenant, &matchers, start, end)
    })
    .await??)
}

/// `GET|POST /loki/api/v1/index/stats`: streams, chunks (blocks), bytes and
/// entries of the streams `query` selects in the range. As in Loki, a block
/// overlapping the range counts whole.
pub async fn stats(
    State(state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let (start, end) = range_since(&params, HOUR_NS)?;
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
    /// `targetLabels`: the label names series keep; a stream lacking one of
    /// them is left out (Loki adds `name=~".+"` to the selector for each).
    target: Option<Vec<String>>,
    /// The label names the selector matches on: what series keep without
    /// `targetLabels` (all labels when empty).
    selector_names: Vec<String>,
    /// `aggregateBy=labels`: one series per label name, not per value set.
    by_label_name: bool,
    limit: usize,
}

fn volume_grouping(params: &Params, matchers: &[LabelMatcher]) -> Result<VolumeGrouping, ApiError> {
    let limit = match params.get("limit") {
        // Loki resets 0 to the default.
        Some("0") | None => DEFAULT_VOLUME_LIMIT,
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid parameter \"limit\": {text:?} is not a positive integer"
            ))
        })?,
    };
    let by_label_name = match params.get("aggregateBy") {
        None | Some("" | "series") => false,
        Some("labels") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid aggregation option: aggregateBy={other:?} is not series or labels"
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
    let mut selector_names: Vec<String> = matchers.iter().map(|m| m.name.clone()).collect();
    selector_names.sort();
    selector_names.dedup();
    Ok(VolumeGrouping {
        target: (!target.is_empty()).then_some(target),
        selector_names,
        by_label_name,
        limit,
    })
}

/// The series keys a stream's volume goes to.
fn volume_keys(grouping: &VolumeGrouping, labels: &Labels) -> Vec<Vec<(String, String)>> {
    if let Some(target) = &grouping.target
        && target.iter().any(|name| labels.get(name).is_none())
    {
        return Vec::new();
    }
    let names: Option<&Vec<String>> = match (&grouping.target, grouping.by_label_name) {
        (Some(target), _) => Some(target),
        // aggregateBy=labels without targets counts every label name.
        (None, true) => None,
        (None, false) => (!grouping.selector_names.is_empty()).then_some(&grouping.selector_names),
    };
    let kept: Vec<(String, String)> = labels
        .iter()
        .filter(|(name, _)| names.is_none_or(|names| names.iter().any(|kept| kept == name)))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    if grouping.by_label_name {
        // One series per label name, its value left empty, as Loki answers.
        kept.into_iter()
            .map(|(name, _)| vec![(name, String::new())])
            .collect()
    } else if kept.is_empty() {
        Vec::new()
    } else {
        vec![kept]
    }
}

/// The top `limit` series by volume, largest first, ties by labels.
fn top(
    volumes: BTreeMap<Vec<(String, String)>, u64>,
    limit: usize,
) -> Vec<(Vec<(String, String)>, u64)> {
    let mut volumes: Vec<(Vec<(String, String)>, u64)> = volumes.into_iter().collect();
    volumes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    volumes.truncate(limit);
    volumes
}

/// `GET|POST /loki/api/v1/index/volume`: uncompressed line bytes per series
/// over the range, as a vector at `end`, from the block index.
pub async fn volume(
    State(state): State<AppState>,
    request: LokiRequest,
) -> Result<Json<Value>, ApiError> {
    let LokiRequest { tenant, params, .. } = request;
    let (start, end) = range_since(&params, HOUR_NS)?;
    let matchers = volume_selector(&params)?;
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
            json!({ "metric": pairs_object(&key), "value": [sample_time(end), bytes.to_string()] })
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
    let (start, end) = range_since(&params, HOUR_NS)?;
    let matchers = volume_selector(&params)?;
    let grouping = volume_grouping(&params, &matchers)?;
    let step = params.duration("step", strata_query::metric::default_step_ns(start, end))?;
    let steps =
        strata_query::metric::Steps::range(start, end, step).map_err(ApiError::bad_request)?;
    let storage = state.storage.clone();
    let scan_matchers = matchers.clone();
    let control = strata_query::QueryControl::new(state.limits.query.timeout);
    let cancel = control.cancel_on_drop();
    let series = tokio::task::spawn_blocking(move || {
        strata_query::volume::bytes_per_step(&storage, &tenant, &scan_matchers, &steps, &control)
    })
    .await??;
    cancel.disarm();
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
    let top = top(totals, grouping.limit);
    // As Loki: a matrix when some series has more than one point, else a vector.
    let matrix = top.iter().any(|(key, _)| grouped[key].len() > 1);
    let result: Vec<Value> = top
        .into_iter()
        .map(|(key, _)| {
            let mut values = grouped[&key]
                .iter()
                .map(|(&ts, bytes)| json!([sample_time(ts), bytes.to_string()]));
            if matrix {
                json!({ "metric": pairs_object(&key), "values": values.collect::<Vec<Value>>() })
            } else {
                json!({ "metric": pairs_object(&key), "value": values.next() })
            }
        })
        .collect();
    let result_type = if matrix { "matrix" } else { "vector" };
    Ok(Json(json!({
        "status": "success",
        "data": { "resultType": result_type, "result": result },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grouping(target: Option<&[&str]>, selector: &[&str], by_label_name: bool) -> VolumeGrouping {
        VolumeGrouping {
            target: target.map(|names| names.iter().map(|n| n.to_string()).collect()),
            selector_names: selector.iter().map(|n| n.to_string()).collect(),
            by_label_name,
            limit: 10,
        }
    }

    #[test]
    fn volume_keys_follow_target_labels_and_aggregate_by() {
        let labels = Labels::parse(r#"{app="api", env="prod", pod="p1"}"#).unwrap();
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            volume_keys(&grouping(Some(&["app", "env"]), &["pod"], false), &labels),
            [vec![pair("app", "api"), pair("env", "prod")]]
        );
        assert_eq!(
            volume_keys(&grouping(None, &["env"], false), &labels),
            [vec![pair("env", "prod")]]
        );
        // `{}`: the whole stream.
        assert_eq!(
            volume_keys(&grouping(None, &[], false), &labels),
            [vec![
                pair("app", "api"),
                pair("env", "prod"),
                pair("pod", "p1")
            ]]
        );
        assert_eq!(
            volume_keys(&grouping(Some(&["app", "pod"]), &["app"], true), &labels),
            [vec![pair("app", "")], vec![pair("pod", "")]]
        );
        // aggregateBy=labels without targets: every label name.
        assert_eq!(
            volume_keys(&grouping(None, &["app"], true), &labels).len(),
            3
        );
        // A stream without one of the target labels is left out.
        assert!(volume_keys(&grouping(Some(&["app", "missing"]), &[], false), &labels).is_empty());
    }

    #[test]
    fn top_orders_by_volume_then_labels() {
        let key = |v: &str| vec![("app".to_string(), v.to_string())];
        let volumes = BTreeMap::from([(key("a"), 5), (key("b"), 9), (key("c"), 5)]);
        let got: Vec<u64> = top(volumes, 2).into_iter().map(|(_, v)| v).collect();
        assert_eq!(got, [9, 5]);
    }
}
