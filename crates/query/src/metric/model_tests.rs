//! Model test: the bucketed evaluation (window grid, per-bucket states,
//! pushdown, timestamps-only scans) against a naive one that collects every
//! sample of every window, over random data, ranges, steps and offsets.

use super::tests::{Row, S, append, metric_expr, open, run};
use super::*;
use crate::pipeline::Pipeline;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use strata_logql::{RangeAggregation, RangeOp};

/// (query template, with R for the range and O for the offset)
const QUERIES: [&str; 19] = [
    r#"count_over_time({app=~".+"}[R] offset O)"#,
    r#"rate({app="api"} |= "error" [R])"#,
    r#"bytes_over_time({app=~".+"}[R])"#,
    r#"bytes_rate({app=~".+"} | line_format "{{.app}}!" [R])"#,
    r#"sum by (app) (count_over_time({app=~".+"}[R] offset O))"#,
    r#"sum(rate({app=~".+"}[R]))"#,
    r#"sum by (level) (rate({app=~".+"} | logfmt [R]))"#,
    r#"sum_over_time({app=~".+"} | logfmt | unwrap n [R])"#,
    r#"avg_over_time({app=~".+"} | logfmt | unwrap n [R]) by (app)"#,
    r#"max_over_time({app=~".+"} | logfmt | unwrap n [R] offset O)"#,
    r#"max by (app) (max_over_time({app=~".+"} | logfmt | unwrap n [R]))"#,
    r#"min_over_time({app=~".+"} | logfmt | unwrap n [R]) without (level)"#,
    r#"stddev_over_time({app=~".+"} | logfmt | unwrap n [R])"#,
    r#"stdvar_over_time({app=~".+"} | logfmt | unwrap n [R])"#,
    r#"first_over_time({app=~".+"} | logfmt | unwrap n [R])"#,
    r#"last_over_time({app=~".+"} | logfmt | unwrap n [R])"#,
    r#"quantile_over_time(0.3, {app=~".+"} | logfmt | unwrap n [R]) by (level)"#,
    r#"rate_counter({app="api"} | logfmt | unwrap n [R])"#,
    r#"absent_over_time({app="api"} |= "tok_9" [R])"#,
];

/// Every sample a range aggregation sees at one step, by series.
fn naive_window(
    rows: &BTreeSet<Row>,
    aggregation: &RangeAggregation,
    outer: Option<&Grouping>,
    t: i64,
) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let pipeline = Pipeline::new(&aggregation.log.stages).unwrap();
    let end = t - aggregation.offset_ns;
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for (labels, ts, line, metadata) in rows {
        if *ts <= end - aggregation.range_ns || *ts > end {
            continue;
        }
        if !aggregation
            .log
            .matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name)))
        {
            continue;
        }
        let metadata: Vec<(&str, &str)> = metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let Some(processed) = pipeline.process(*ts, line, labels, &metadata) else {
            continue;
        };
        assert!(
            processed.labels.get("__error__").is_none(),
            "test data must not fail"
        );
        let value = match aggregation.op {
            RangeOp::BytesOverTime | RangeOp::BytesRate => processed.line.len() as f64,
            _ => processed.value.unwrap_or(1.0),
        };
        let mut key = processed.labels;
        for grouping in aggregation.grouping.iter().chain(outer) {
            key = series::group_labels(&key, grouping);
        }
        out.entry(key).or_default().push((*ts, value));
    }
    out
}

fn naive_value(aggregation: &RangeAggregation, samples: &mut [(i64, f64)]) -> f64 {
    samples.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let values: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let n = values.len() as f64;
    let sum: f64 = values.iter().sum();
    let range_s = aggregation.range_ns as f64 / 1e9;
    let mean = sum / n;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    match aggregation.op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate if aggregation.log.unwrap_stage().is_none() => n / range_s,
        RangeOp::Rate | RangeOp::BytesRate => sum / range_s,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum,
        RangeOp::AvgOverTime => mean,
        RangeOp::MaxOverTime => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        RangeOp::MinOverTime => values.iter().copied().fold(f64::INFINITY, f64::min),
        RangeOp::StdvarOverTime => variance,
        RangeOp::StddevOverTime => variance.sqrt(),
        RangeOp::FirstOverTime => values[0],
        RangeOp::LastOverTime => values[values.len() - 1],
        RangeOp::QuantileOverTime => {
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let rank = aggregation.param.unwrap() * (n - 1.0);
            let (low, high) = (
                rank.floor() as usize,
                (rank.floor() as usize + 1).min(sorted.len() - 1),
            );
            sorted[low] + (sorted[high] - sorted[low]) * (rank - rank.floor())
        }
        RangeOp::RateCounter => {
            if values.len() < 2 {
                return 0.0;
            }
            let mut increase = values[values.len() - 1] - values[0];
            for pair in values.windows(2) {
                if pair[1] < pair[0] {
                    increase += pair[0];
                }
            }
            increase / range_s
        }
        RangeOp::AbsentOverTime => unreachable!(),
    }
}

/// The naive answer: (labels, step) -> value.
fn naive(rows: &BTreeSet<Row>, expr: &MetricExpr, steps: &Steps) -> BTreeMap<(Labels, usize), f64> {
    let (aggregation, outer) = match expr {
        MetricExpr::Range(aggregation) => (aggregation, None),
        MetricExpr::Vector(vector) => match &*vector.expr {
            MetricExpr::Range(aggregation) => (
                aggregation,
                Some(vector.grouping.clone().unwrap_or(Grouping {
                    without: false,
                    labels: vec![],
                })),
            ),
            _ => unreachable!(),
        },
        _ => unreachable!(),
    };
    let mut out = BTreeMap::new();
    for step in 0..steps.count {
        let t = steps.at(step);
        let window = naive_window(rows, aggregation, None, t);
        if aggregation.op == RangeOp::AbsentOverTime {
            if window.is_empty() {
                out.insert((Labels::parse(r#"{app="api"}"#).unwrap(), step), 1.0);
            }
            continue;
        }
        for (labels, mut samples) in window {
            let value = naive_value(aggregation, &mut samples);
            match &outer {
                None => {
                    out.insert((labels, step), value);
                }
                Some(grouping) => {
                    let key = (series::group_labels(&labels, grouping), step);
                    let is_max = matches!(expr, MetricExpr::Vector(v) if v.op == strata_logql::VectorOp::Max);
                    let slot =
                        out.entry(key)
                            .or_insert(if is_max { f64::NEG_INFINITY } else { 0.0 });
                    *slot = if is_max {
                        slot.max(value)
                    } else {
                        *slot + value
                    };
                }
            }
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

const WORDS: [&str; 5] = ["alpha", "error", "tok_9", "beta", "gamma"];

fn model_row((stream, ts, n, word, trace): (usize, i64, u8, usize, Option<u8>)) -> Row {
    let app = ["api", "worker", "db"][stream % 3];
    let level = ["info", "error"][stream % 2];
    let labels = Labels::parse(&format!(r#"{{app="{app}", pod="p{stream}"}}"#)).unwrap();
    let line = format!("level={level} n={n} msg={}", WORDS[word]);
    let metadata = trace
        .map(|t| vec![("trace".to_string(), format!("t{t}"))])
        .unwrap_or_default();
    (labels, ts * S / 10, line, metadata)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn bucketed_evaluation_equals_naive(
        batches in proptest::collection::vec(
            proptest::collection::vec((0usize..5, 0i64..3000, 0u8..50, 0usize..WORDS.len(), proptest::option::weighted(0.1, 0u8..2)), 1..40),
            1..4),
        flush_after in proptest::collection::vec(any::<bool>(), 4),
        queries in proptest::collection::vec((0usize..QUERIES.len(), 0i64..300, 1i64..200, 1i64..60, 1i64..90, -20i64..40, proptest::bool::weighted(0.25)), 6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path(), 5);
        let mut rows = BTreeSet::new();
        for (index, batch) in batches.iter().enumerate() {
            let batch_rows: Vec<Row> = batch.iter().copied().map(model_row).collect();
            rows.extend(batch_rows.iter().cloned());
            append(&storage, &batch_rows);
            if flush_after[index] {
                storage.flush().unwrap();
            }
        }
        for (query_index, start, length, step, range_s, offset_s, instant) in queries {
            let text = QUERIES[query_index].replace('R', &format!("{range_s}s")).replace('O', &format!("{offset_s}s"));
            let expr = metric_expr(&text);
            let steps = if instant {
                Steps::instant((start + length) * S)
            } else {
                Steps::range(start * S, (start + length) * S, step * S).unwrap()
            };
            let expected = naive(&rows, &expr, &steps);
            let mut flat: BTreeMap<(Labels, usize), f64> = BTreeMap::new();
            match run(&storage, &text, steps).unwrap() {
                MetricData::Matrix(series) => {
                    for series in series {
                        for (ts, value) in series.points {
                            let step = ((ts - steps.start_ns) / steps.step_ns) as usize;
                            prop_assert!(flat.insert((series.labels.clone(), step), value).is_none());
                        }
                    }
                }
                MetricData::Vector { samples, .. } => {
                    for (labels, value) in samples {
                        prop_assert!(flat.insert((labels, 0), value).is_none());
                    }
                }
                MetricData::Scalar { .. } => panic!("a range aggregation gave a scalar"),
            }
            let keys: Vec<_> = flat.keys().collect();
            let expected_keys: Vec<_> = expected.keys().collect();
            prop_assert_eq!(keys, expected_keys, "{} over {:?}", text, steps);
            for (key, value) in &flat {
                let want = expected[key];
                prop_assert!(close(*value, want), "{} at {:?}: {} != {}", text, key, value, want);
            }
        }
    }
}
