//! Range aggregations: `rate`, `count_over_time`, ..., over a log query.
//!
//! One storage scan per aggregation accumulates per-series bucket states
//! ([`super::state`]); each window is then computed from its buckets. A
//! `sum` (or `min`/`max`) wrapped around a count, rate, bytes or sum (min,
//! max) aggregation is pushed down into the scan: samples are grouped by the
//! outer `by`/`without` while scanning, which gives the same numbers with far
//! fewer series.

use std::collections::HashSet;

use strata_logql::{Grouping, LabelFilterExpr, RangeAggregation, RangeOp, Stage, VectorOp};
use strata_model::{LabelMatcher, Labels, MatchOp};

use super::Context;
use super::scan::{SampleValue, ScanPlan, SeriesTable, scan_series};
use super::series::{Point, Series};
use super::state::{BucketState, FirstLast, Kept, MinMax, Moments, Samples, SumCount, Values};
use super::store::{gather, slide};
use super::time::Grid;
use crate::engine::QueryError;
use crate::pipeline::Pipeline;

/// Whether `outer (inner(...))` equals the inner aggregation computed over
/// samples grouped by the outer grouping.
pub(crate) fn can_push_down(outer: VectorOp, inner: &RangeAggregation) -> bool {
    match outer {
        VectorOp::Sum => matches!(
            inner.op,
            RangeOp::CountOverTime
                | RangeOp::Rate
                | RangeOp::BytesOverTime
                | RangeOp::BytesRate
                | RangeOp::SumOverTime
        ),
        VectorOp::Max => inner.op == RangeOp::MaxOverTime,
        VectorOp::Min => inner.op == RangeOp::MinOverTime,
        _ => false,
    }
}

/// Evaluates `aggregation` at every step; `outer` is the grouping of a
/// pushed-down vector aggregation (see [`can_push_down`]).
pub(crate) fn evaluate(
    ctx: &mut Context<'_>,
    aggregation: &RangeAggregation,
    outer: Option<&Grouping>,
) -> Result<Vec<Series>, QueryError> {
    let grid = Grid::new(&ctx.steps, aggregation.range_ns, aggregation.offset_ns);
    let op = aggregation.op;
    let absent_grouping = Grouping {
        without: false,
        labels: Vec::new(),
    };
    let mut groupings: Vec<&Grouping> = Vec::new();
    groupings.extend(aggregation.grouping.as_ref());
    groupings.extend(outer);
    if op == RangeOp::AbsentOverTime {
        groupings.push(&absent_grouping);
    }
    let pipeline = Pipeline::with_wanted_labels(
        &aggregation.log.stages,
        observable_labels(&aggregation.log.stages, &groupings),
    )
    .map_err(|err| QueryError::BadQuery(err.to_string()))?;
    let value = if aggregation.log.unwrap_stage().is_some() {
        SampleValue::Unwrapped
    } else if matches!(op, RangeOp::BytesOverTime | RangeOp::BytesRate) {
        SampleValue::LineBytes
    } else {
        SampleValue::One
    };
    // Counting without stages needs no line: timestamps and structured
    // metadata (part of a sample's series) are all a sample depends on.
    let timestamps_only = value == SampleValue::One && aggregation.log.stages.is_empty();
    let plan = ScanPlan {
        tenant: ctx.tenant,
        log: &aggregation.log,
        pipeline: &pipeline,
        grid: &grid,
        value,
        groupings,
        timestamps_only,
        control: ctx.control,
    };
    let range_seconds = aggregation.range_ns as f64 / 1e9;
    let unwrapped = value == SampleValue::Unwrapped;
    let series = match op {
        RangeOp::CountOverTime
        | RangeOp::Rate
        | RangeOp::BytesOverTime
        | RangeOp::BytesRate
        | RangeOp::SumOverTime
        | RangeOp::AvgOverTime => {
            let table = scan_series::<SumCount>(ctx.storage, &plan, &mut ctx.stats)?;
            windows(table, &grid, |_, state: &SumCount| {
                Some(match op {
                    RangeOp::CountOverTime => state.count as f64,
                    RangeOp::Rate if !unwrapped => state.count as f64 / range_seconds,
                    RangeOp::Rate | RangeOp::BytesRate => state.sum / range_seconds,
                    RangeOp::AvgOverTime => state.sum / state.count as f64,
                    _ => state.sum,
                })
            })
        }
        RangeOp::AbsentOverTime => {
            let table = scan_series::<SumCount>(ctx.storage, &plan, &mut ctx.stats)?;
            let present = windows(table, &grid, |_, _: &SumCount| Some(1.0));
            absent(&present, ctx.steps.count, &aggregation.log.matchers)
        }
        RangeOp::MinOverTime | RangeOp::MaxOverTime => {
            let table = scan_series::<MinMax>(ctx.storage, &plan, &mut ctx.stats)?;
            windows(table, &grid, |_, state: &MinMax| {
                Some(if op == RangeOp::MinOverTime {
                    state.min
                } else {
                    state.max
                })
            })
        }
        RangeOp::StdvarOverTime | RangeOp::StddevOverTime => {
            let table = scan_series::<Moments>(ctx.storage, &plan, &mut ctx.stats)?;
            windows(table, &grid, |_, state: &Moments| {
                let variance = state.variance();
                Some(if op == RangeOp::StdvarOverTime {
                    variance
                } else {
                    variance.sqrt()
                })
            })
        }
        RangeOp::FirstOverTime | RangeOp::LastOverTime => {
            let table = scan_series::<FirstLast>(ctx.storage, &plan, &mut ctx.stats)?;
            windows(table, &grid, |_, state: &FirstLast| {
                Some(if op == RangeOp::FirstOverTime {
                    state.first.1
                } else {
                    state.last.1
                })
            })
        }
        RangeOp::RateCounter => {
            let table = scan_series::<Samples>(ctx.storage, &plan, &mut ctx.stats)?;
            gathered(table, &grid, |_, samples| {
                Some(rate_counter(samples, range_seconds))
            })
        }
        RangeOp::QuantileOverTime => {
            let phi = aggregation.param.unwrap_or(f64::NAN);
            let table = scan_series::<Values>(ctx.storage, &plan, &mut ctx.stats)?;
            let mut scratch = Vec::new();
            gathered(table, &grid, |_, values| {
                scratch.clear();
                scratch.extend_from_slice(values);
                Some(quantile(phi, &mut scratch))
            })
        }
    };
    Ok(series)
}

/// Every series' windows; series without any point are left out.
fn windows<S: BucketState>(
    table: SeriesTable<S>,
    grid: &Grid,
    mut finish: impl FnMut(usize, &S) -> Option<f64>,
) -> Vec<Series> {
    let mut series = Vec::with_capacity(table.len());
    for (labels, store) in table {
        let buckets = store.into_sorted();
        let points = slide(&buckets, grid, &mut finish);
        if !points.is_empty() {
            series.push(Series { labels, points });
        }
    }
    series
}

/// Every series' windows from kept samples; series without any point are left out.
fn gathered<S: Kept>(
    table: SeriesTable<S>,
    grid: &Grid,
    mut finish: impl FnMut(usize, &[S::Item]) -> Option<f64>,
) -> Vec<Series> {
    let mut series = Vec::with_capacity(table.len());
    for (labels, store) in table {
        let mut buckets = store.into_sorted();
        let points = gather(&mut buckets, grid, &mut finish);
        if !points.is_empty() {
            series.push(Series { labels, points });
        }
    }
    series
}

/// The only labels a sample's series and the stages after a parser can
/// observe: those kept by `by` groupings (all of them `by`) and those the
/// label filters and unwrap read. None when anything else may read labels
/// (no grouping, a `without`, templates, drop, keep).
fn observable_labels(stages: &[Stage], groupings: &[&Grouping]) -> Option<HashSet<String>> {
    if groupings.is_empty() || groupings.iter().any(|grouping| grouping.without) {
        return None;
    }
    labels_read_by(
        stages,
        groupings
            .iter()
            .flat_map(|grouping| grouping.labels.iter().cloned()),
    )
}

/// The labels a pipeline's parsers need to extract when, after `stages`,
/// only the labels `kept` are read: those plus the ones label filters and
/// unwrap read. None when a stage may read any label (templates, drop, keep).
pub fn labels_read_by(
    stages: &[Stage],
    kept: impl IntoIterator<Item = String>,
) -> Option<HashSet<String>> {
    let mut names: HashSet<String> = kept.into_iter().collect();
    for stage in stages {
        match stage {
            Stage::LabelFilter(expr) => label_filter_names(expr, &mut names),
            Stage::Unwrap(unwrap) => {
                names.insert(unwrap.label.clone());
            }
            Stage::LineFilter(_)
            | Stage::Json(_)
            | Stage::Logfmt { .. }
            | Stage::Regexp(_)
            | Stage::Pattern(_)
            | Stage::Unpack
            | Stage::Decolorize => {}
            Stage::LineFormat(_) | Stage::LabelFormat(_) | Stage::Drop(_) | Stage::Keep(_) => {
                return None;
            }
        }
    }
    // A parsed name taken by a stream label or metadata becomes
    // `<name>_extracted`: the parser must still extract `<name>`.
    let renamed: Vec<String> = names
        .iter()
        .filter_map(|name| name.strip_suffix("_extracted").map(str::to_string))
        .collect();
    names.extend(renamed);
    Some(names)
}

fn label_filter_names(expr: &LabelFilterExpr, names: &mut HashSet<String>) {
    match expr {
        LabelFilterExpr::And(left, right) | LabelFilterExpr::Or(left, right) => {
            label_filter_names(left, names);
            label_filter_names(right, names);
        }
        LabelFilterExpr::String(matcher) => {
            names.insert(matcher.name.clone());
        }
        LabelFilterExpr::Number { name, .. }
        | LabelFilterExpr::Duration { name, .. }
        | LabelFilterExpr::Ip { name, .. }
        | LabelFilterExpr::Bytes { name, .. } => {
            names.insert(name.clone());
        }
    }
}

/// absent_over_time: 1 at every step whose window held no sample, labelled
/// by the selector's equality matchers (a name matched more than once, or
/// not by equality, is left out), as Prometheus' absent() does.
fn absent(present: &[Series], step_count: usize, matchers: &[LabelMatcher]) -> Vec<Series> {
    let mut has_sample = vec![false; step_count];
    for series in present {
        for point in &series.points {
            has_sample[point.step as usize] = true;
        }
    }
    let points: Vec<Point> = (0..step_count)
        .filter(|&step| !has_sample[step])
        .map(|step| Point {
            step: step as u32,
            value: 1.0,
        })
        .collect();
    if points.is_empty() {
        return Vec::new();
    }
    vec![Series {
        labels: absent_labels(matchers),
        points,
    }]
}

fn absent_labels(matchers: &[LabelMatcher]) -> Labels {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut dropped: Vec<&str> = Vec::new();
    for matcher in matchers {
        if matcher.op == MatchOp::Eq && !pairs.iter().any(|(name, _)| *name == matcher.name) {
            pairs.push((matcher.name.clone(), matcher.value.clone()));
        } else {
            dropped.push(&matcher.name);
        }
    }
    pairs.retain(|(name, value)| !dropped.contains(&name.as_str()) && !value.is_empty());
    Labels::from_pairs(pairs)
}

/// The φ-quantile of `values` as Prometheus computes it: linear
/// interpolation between the closest ranks; NaN sorts first; φ < 0 gives
/// -Inf and φ > 1 +Inf.
pub(crate) fn quantile(phi: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.total_cmp(b),
    });
    let rank = phi * (values.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(values.len() - 1);
    let weight = rank - rank.floor();
    values[lower] * (1.0 - weight) + values[upper] * weight
}

/// rate_counter: the increase of a counter over the window (last - first,
/// plus the value before each reset), per second of the range; 0 with fewer
/// than two samples. Loki's own computation adds an extrapolation whose
/// units make it vanish (a few millionths); strata leaves it out.
pub(crate) fn rate_counter(samples: &[(i64, f64)], range_seconds: f64) -> f64 {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return 0.0;
    };
    if samples.len() < 2 {
        return 0.0;
    }
    let mut increase = last.1 - first.1;
    let mut previous = 0.0;
    for (_, value) in samples {
        if *value < previous {
            increase += previous;
        }
        previous = *value;
    }
    increase / range_seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_like_prometheus() {
        let mut values = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut values), 2.5);
        assert_eq!(quantile(0.0, &mut values), 1.0);
        assert_eq!(quantile(1.0, &mut values), 4.0);
        assert_eq!(quantile(0.99, &mut [7.0]), 7.0);
        assert_eq!(quantile(-1.0, &mut values), f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &mut values), f64::INFINITY);
        assert!(quantile(f64::NAN, &mut values).is_nan());
        // NaN sorts first.
        assert_eq!(quantile(1.0, &mut [f64::NAN, 1.0]), 1.0);
        assert!(quantile(0.0, &mut [1.0, f64::NAN]).is_nan());
    }

    #[test]
    fn rate_counter_adds_resets() {
        // 10 -> 30, reset to 5, -> 15: last - first = 5, plus 30 before the reset.
        let samples = [(1, 10.0), (2, 30.0), (3, 5.0), (4, 15.0)];
        assert_eq!(rate_counter(&samples, 5.0), 7.0);
        assert_eq!(rate_counter(&[(1, 10.0)], 5.0), 0.0);
        assert_eq!(rate_counter(&[], 5.0), 0.0);
    }

    #[test]
    fn absent_labels_come_from_equality_matchers() {
        let matcher = |name: &str, op, value: &str| LabelMatcher::new(name, op, value).unwrap();
        let labels = absent_labels(&[
            matcher("job", MatchOp::Eq, "a"),
            matcher("env", MatchOp::Re, "p.*"),
            matcher("env", MatchOp::Eq, "prod"),
            matcher("pod", MatchOp::Eq, "x"),
            matcher("pod", MatchOp::Eq, "y"),
            matcher("zone", MatchOp::Neq, "z"),
        ]);
        assert_eq!(labels, Labels::parse(r#"{job="a"}"#).unwrap());
    }
}
