//! Log volume per stream and step: what Loki's `index/volume_range` answers,
//! computed exactly as `bytes_over_time({selector}[step])` per stream.

use strata_logql::{LogExpr, MetricExpr, RangeAggregation, RangeOp};
use strata_model::{LabelMatcher, Labels};
use strata_storage::Storage;

use crate::engine::QueryError;
use crate::metric::{MetricData, MetricQuery, Steps, run_metric_query};

/// A stream's (step time in ns, line bytes) points.
pub type StreamVolume = (Labels, Vec<(i64, u64)>);

/// Most streams a volume request may cover.
pub const MAX_VOLUME_STREAMS: usize = 100_000;

/// Each selected stream's line bytes in `(t - step, t]` for every step time
/// `t` (steps with no bytes left out).
pub fn bytes_per_step(
    storage: &Storage,
    tenant: &str,
    matchers: &[LabelMatcher],
    steps: &Steps,
    control: &crate::QueryControl,
) -> Result<Vec<StreamVolume>, QueryError> {
    let expr = MetricExpr::Range(RangeAggregation {
        op: RangeOp::BytesOverTime,
        param: None,
        log: LogExpr {
            matchers: matchers.to_vec(),
            stages: Vec::new(),
        },
        range_ns: steps.step_ns.max(1),
        offset_ns: 0,
        grouping: None,
    });
    let query = MetricQuery {
        tenant,
        expr: &expr,
        steps: *steps,
        max_series: MAX_VOLUME_STREAMS,
        control,
    };
    let result = run_metric_query(storage, &query)?;
    let series = match result.data {
        MetricData::Matrix(series) => series
            .into_iter()
            .map(|series| {
                let points = series
                    .points
                    .into_iter()
                    .map(|(ts, bytes)| (ts, bytes as u64))
                    .collect();
                (series.labels, points)
            })
            .collect(),
        MetricData::Vector { samples, ts_ns } => samples
            .into_iter()
            .map(|(labels, bytes)| (labels, vec![(ts_ns, bytes as u64)]))
            .collect(),
        _ => Vec::new(),
    };
    Ok(series)
}
