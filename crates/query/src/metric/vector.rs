//! Vector aggregations: sum, avg, min, max, count, stddev, stdvar, topk,
//! bottomk, sort and sort_desc, with `by`/`without`, as PromQL defines them.

use std::collections::HashMap;

use strata_logql::{Grouping, VectorAggregation, VectorOp};
use strata_model::Labels;

use super::series::{ByStep, Point, Series, group_labels};

/// Aggregates `input` at every step. sort and sort_desc return the input:
/// they only order an instant query's answer, which the caller does.
pub(crate) fn aggregate(
    aggregation: &VectorAggregation,
    input: Vec<Series>,
    step_count: usize,
) -> Vec<Series> {
    match aggregation.op {
        VectorOp::Sort | VectorOp::SortDesc => input,
        VectorOp::Topk | VectorOp::Bottomk => {
            // The parser accepts only positive integers.
            let k = aggregation.param.unwrap_or(1.0).max(1.0) as usize;
            top(
                aggregation.op == VectorOp::Topk,
                k,
                aggregation.grouping.as_ref(),
                input,
                step_count,
            )
        }
        op => fold(op, aggregation.grouping.as_ref(), input, step_count),
    }
}

/// Each input series' group (index into the returned label sets).
fn groups(input: &[Series], grouping: Option<&Grouping>) -> (Vec<u32>, Vec<Labels>) {
    let mut index: HashMap<Labels, u32> = HashMap::new();
    let mut labels: Vec<Labels> = Vec::new();
    let mut of_series = Vec::with_capacity(input.len());
    for series in input {
        let key = match grouping {
            Some(grouping) => group_labels(&series.labels, grouping),
            None => Labels::default(),
        };
        let id = *index.entry(key).or_insert_with_key(|key| {
            labels.push(key.clone());
            labels.len() as u32 - 1
        });
        of_series.push(id);
    }
    (of_series, labels)
}

/// The running aggregate of one group at one step.
#[derive(Debug, Clone, Copy)]
struct Accumulator {
    count: f64,
    sum: f64,
    min: f64,
    max: f64,
    /// Welford's running mean and squared deviations, for stddev/stdvar.
    mean: f64,
    m2: f64,
}

impl Accumulator {
    const EMPTY: Accumulator = Accumulator {
        count: 0.0,
        sum: 0.0,
        min: f64::NAN,
        max: f64::NAN,
        mean: 0.0,
        m2: 0.0,
    };

    fn add(&mut self, value: f64) {
        self.count += 1.0;
        self.sum += value;
        // NaN loses to any number, as in Prometheus.
        if value < self.min || self.min.is_nan() {
            self.min = value;
        }
        if value > self.max || self.max.is_nan() {
            self.max = value;
        }
        let delta = value - self.mean;
        self.mean += delta / self.count;
        self.m2 += delta * (value - self.mean);
    }

    fn finish(&self, op: VectorOp) -> f64 {
        match op {
            VectorOp::Sum => self.sum,
            VectorOp::Avg => self.sum / self.count,
            VectorOp::Count => self.count,
            VectorOp::Min => self.min,
            VectorOp::Max => self.max,
            VectorOp::Stdvar => self.m2 / self.count,
            VectorOp::Stddev => (self.m2 / self.count).sqrt(),
            VectorOp::Topk | VectorOp::Bottomk | VectorOp::Sort | VectorOp::SortDesc => {
                debug_assert!(false, "BUG: {op:?} is not a folding aggregation");
                f64::NAN
            }
        }
    }
}

fn fold(
    op: VectorOp,
    grouping: Option<&Grouping>,
    input: Vec<Series>,
    step_count: usize,
) -> Vec<Series> {
    let (of_series, group_labels) = groups(&input, grouping);
    let by_step = ByStep::new(&input, step_count);
    drop(input);
    let mut accumulators = vec![Accumulator::EMPTY; group_labels.len()];
    let mut points: Vec<Vec<Point>> = vec![Vec::new(); group_labels.len()];
    let mut touched: Vec<u32> = Vec::new();
    for step in 0..step_count {
        for &(series, value) in by_step.at(step) {
            let group = of_series[series as usize];
            let accumulator = &mut accumulators[group as usize];
            if accumulator.count == 0.0 {
                touched.push(group);
            }
            accumulator.add(value);
        }
        for group in touched.drain(..) {
            let accumulator = &mut accumulators[group as usize];
            points[group as usize].push(Point {
                step: step as u32,
                value: accumulator.finish(op),
            });
            *accumulator = Accumulator::EMPTY;
        }
    }
    group_labels
        .into_iter()
        .zip(points)
        .filter(|(_, points)| !points.is_empty())
        .map(|(labels, points)| Series { labels, points })
        .collect()
}

/// topk/bottomk: per step and group, the k best samples keep their series.
/// NaN is the worst value either way (as in Prometheus); equal values are
/// ranked by label set, so the answer never depends on evaluation order.
fn top(
    largest: bool,
    k: usize,
    grouping: Option<&Grouping>,
    input: Vec<Series>,
    step_count: usize,
) -> Vec<Series> {
    let (of_series, _) = groups(&input, grouping);
    let mut by_labels: Vec<u32> = (0..input.len() as u32).collect();
    by_labels.sort_by(|a, b| input[*a as usize].labels.cmp(&input[*b as usize].labels));
    let mut label_rank = vec![0u32; input.len()];
    for (rank, series) in by_labels.into_iter().enumerate() {
        label_rank[series as usize] = rank as u32;
    }
    let by_step = ByStep::new(&input, step_count);
    let mut points: Vec<Vec<Point>> = vec![Vec::new(); input.len()];
    let mut candidates: Vec<(u32, f64, u32)> = Vec::new();
    for step in 0..step_count {
        candidates.clear();
        candidates.extend(
            by_step
                .at(step)
                .iter()
                .map(|&(series, value)| (of_series[series as usize], value, series)),
        );
        candidates.sort_by(|a, b| {
            let by_value = match (a.1.is_nan(), b.1.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                (false, false) if largest => b.1.total_cmp(&a.1),
                (false, false) => a.1.total_cmp(&b.1),
            };
            a.0.cmp(&b.0)
                .then(by_value)
                .then(label_rank[a.2 as usize].cmp(&label_rank[b.2 as usize]))
        });
        let mut taken = 0usize;
        let mut group = u32::MAX;
        for &(candidate_group, value, series) in &candidates {
            if candidate_group != group {
                group = candidate_group;
                taken = 0;
            }
            if taken < k {
                taken += 1;
                points[series as usize].push(Point {
                    step: step as u32,
                    value,
                });
            }
        }
    }
    input
        .into_iter()
        .zip(points)
        .filter(|(_, points)| !points.is_empty())
        .map(|(series, points)| Series {
            labels: series.labels,
            points,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(text: &str, values: &[Option<f64>]) -> Series {
        Series {
            labels: Labels::parse(text).unwrap(),
            points: values
                .iter()
                .enumerate()
                .filter_map(|(step, value)| {
                    value.map(|value| Point {
                        step: step as u32,
                        value,
                    })
                })
                .collect(),
        }
    }

    fn run(query: &str, input: Vec<Series>, steps: usize) -> Vec<(String, Vec<(u32, f64)>)> {
        let strata_logql::Expr::Metric(strata_logql::MetricExpr::Vector(aggregation)) =
            strata_logql::parse_expr(query).unwrap()
        else {
            panic!("not a vector aggregation: {query}");
        };
        let mut out: Vec<(String, Vec<(u32, f64)>)> = aggregate(&aggregation, input, steps)
            .into_iter()
            .map(|s| {
                (
                    s.labels.to_string(),
                    s.points.iter().map(|p| (p.step, p.value)).collect(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn input() -> Vec<Series> {
        vec![
            series(r#"{app="a", pod="1"}"#, &[Some(1.0), Some(4.0)]),
            series(r#"{app="a", pod="2"}"#, &[Some(3.0), None]),
            series(r#"{app="b", pod="1"}"#, &[Some(10.0), Some(2.0)]),
        ]
    }

    // The inner query only has to parse; the input is given.
    const INNER: &str = r#"count_over_time({x="y"}[1m])"#;

    #[test]
    fn folding_aggregations() {
        let case = |query: &str, expected: &[(&str, &[(u32, f64)])]| {
            let got = run(&query.replace("INNER", INNER), input(), 2);
            let expected: Vec<(String, Vec<(u32, f64)>)> = expected
                .iter()
                .map(|(l, p)| (l.to_string(), p.to_vec()))
                .collect();
            assert_eq!(got, expected, "{query}");
        };
        case("sum(INNER)", &[("{}", &[(0, 14.0), (1, 6.0)])]);
        case(
            "sum by (app) (INNER)",
            &[
                (r#"{app="a"}"#, &[(0, 4.0), (1, 4.0)]),
                (r#"{app="b"}"#, &[(0, 10.0), (1, 2.0)]),
            ],
        );
        case(
            "sum(INNER) without (app)",
            &[
                (r#"{pod="1"}"#, &[(0, 11.0), (1, 6.0)]),
                (r#"{pod="2"}"#, &[(0, 3.0)]),
            ],
        );
        case(
            "avg by (app) (INNER)",
            &[
                (r#"{app="a"}"#, &[(0, 2.0), (1, 4.0)]),
                (r#"{app="b"}"#, &[(0, 10.0), (1, 2.0)]),
            ],
        );
        case("count(INNER)", &[("{}", &[(0, 3.0), (1, 2.0)])]);
        case("min(INNER)", &[("{}", &[(0, 1.0), (1, 2.0)])]);
        case("max(INNER)", &[("{}", &[(0, 10.0), (1, 4.0)])]);
        case(
            "stdvar by (app) (INNER)",
            &[
                (r#"{app="a"}"#, &[(0, 1.0), (1, 0.0)]),
                (r#"{app="b"}"#, &[(0, 0.0), (1, 0.0)]),
            ],
        );
        case(
            "stddev by (app) (INNER)",
            &[
                (r#"{app="a"}"#, &[(0, 1.0), (1, 0.0)]),
                (r#"{app="b"}"#, &[(0, 0.0), (1, 0.0)]),
            ],
        );
    }

    #[test]
    fn topk_and_bottomk_keep_labels_and_rank_ties_by_labels() {
        let input = vec![
            series(r#"{s="c"}"#, &[Some(5.0), Some(f64::NAN)]),
            series(r#"{s="a"}"#, &[Some(5.0), Some(1.0)]),
            series(r#"{s="b"}"#, &[Some(7.0), Some(2.0)]),
        ];
        let got = run(&format!("topk(2, {INNER})"), input.clone(), 2);
        assert_eq!(
            got,
            [
                (r#"{s="a"}"#.to_string(), vec![(0, 5.0), (1, 1.0)]),
                (r#"{s="b"}"#.to_string(), vec![(0, 7.0), (1, 2.0)]),
            ]
        );
        // NaN is the worst for bottomk too.
        let got = run(&format!("bottomk(1, {INNER})"), input.clone(), 2);
        assert_eq!(got, [(r#"{s="a"}"#.to_string(), vec![(0, 5.0), (1, 1.0)])]);
        let got = run(&format!("topk(5, {INNER})"), input, 2);
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn topk_by_group() {
        let got = run(&format!("topk by (app) (1, {INNER})"), input(), 2);
        assert_eq!(
            got,
            [
                (r#"{app="a", pod="1"}"#.to_string(), vec![(1, 4.0)]),
                (r#"{app="a", pod="2"}"#.to_string(), vec![(0, 3.0)]),
                (
                    r#"{app="b", pod="1"}"#.to_string(),
                    vec![(0, 10.0), (1, 2.0)]
                ),
            ]
        );
    }

    #[test]
    fn min_max_ignore_nan_unless_alone() {
        let input = vec![
            series(r#"{s="a"}"#, &[Some(f64::NAN), Some(f64::NAN)]),
            series(r#"{s="b"}"#, &[Some(3.0), None]),
        ];
        let got = run(&format!("max({INNER})"), input, 2);
        assert_eq!(got[0].1[0], (0, 3.0));
        assert!(got[0].1[1].1.is_nan());
    }
}
