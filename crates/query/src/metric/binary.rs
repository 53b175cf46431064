//! Binary operators between scalars and vectors, with PromQL's vector
//! matching: one-to-one by default, `on`/`ignoring` to choose the matching
//! labels, `group_left`/`group_right` for many-to-one, and the set
//! operators `and`, `or`, `unless` (many-to-many).

use std::collections::{HashMap, HashSet};

use strata_logql::{BinOp, BinaryExpr, VectorMatching};
use strata_model::Labels;

use super::series::{ByStep, Point, Series, Value, merge_same_labels};
use crate::engine::QueryError;

/// `lhs op rhs` per IEEE 754 and Go: comparisons give (lhs, whether true);
/// the others (value, true).
pub(crate) fn apply(op: BinOp, lhs: f64, rhs: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (lhs + rhs, true),
        BinOp::Sub => (lhs - rhs, true),
        BinOp::Mul => (lhs * rhs, true),
        BinOp::Div => (lhs / rhs, true),
        // Rust's % on floats is C's fmod, like Go's math.Mod.
        BinOp::Mod => (lhs % rhs, true),
        BinOp::Pow => (lhs.powf(rhs), true),
        BinOp::Eq => (lhs, lhs == rhs),
        BinOp::Neq => (lhs, lhs != rhs),
        BinOp::Gt => (lhs, lhs > rhs),
        BinOp::Gte => (lhs, lhs >= rhs),
        BinOp::Lt => (lhs, lhs < rhs),
        BinOp::Lte => (lhs, lhs <= rhs),
        BinOp::And | BinOp::Or | BinOp::Unless => {
            debug_assert!(false, "BUG: set operator {op:?} on values");
            (f64::NAN, false)
        }
    }
}

/// Evaluates the operator over two evaluated operands.
pub(crate) fn evaluate(
    expr: &BinaryExpr,
    lhs: Value,
    rhs: Value,
    step_count: usize,
) -> Result<Value, QueryError> {
    match (lhs, rhs) {
        (Value::Scalar(left), Value::Scalar(right)) => {
            let values = left
                .iter()
                .zip(&right)
                .map(|(l, r)| {
                    let (value, truth) = apply(expr.op, *l, *r);
                    if expr.op.is_comparison() {
                        f64::from(u8::from(truth))
                    } else {
                        value
                    }
                })
                .collect();
            Ok(Value::Scalar(values))
        }
        (Value::Vector(vector), Value::Scalar(scalar)) => {
            Ok(Value::Vector(with_scalar(expr, vector, &scalar, false)))
        }
        (Value::Scalar(scalar), Value::Vector(vector)) => {
            Ok(Value::Vector(with_scalar(expr, vector, &scalar, true)))
        }
        (Value::Vector(left), Value::Vector(right)) => {
            let result = if expr.op.is_set_op() {
                set_operation(expr.op, expr.matching.as_ref(), left, right, step_count)?
            } else {
                match_vectors(expr, left, right, step_count)?
            };
            Ok(Value::Vector(result))
        }
    }
}

/// `vector op scalar` (or `scalar op vector` when `scalar_first`). A
/// filtering comparison keeps the vector's value whichever side it is on.
fn with_scalar(
    expr: &BinaryExpr,
    vector: Vec<Series>,
    scalar: &[f64],
    scalar_first: bool,
) -> Vec<Series> {
    let mut out = Vec::with_capacity(vector.len());
    for series in vector {
        let mut points = Vec::with_capacity(series.points.len());
        for point in &series.points {
            let other = scalar[point.step as usize];
            let (l, r) = if scalar_first {
                (other, point.value)
            } else {
                (point.value, other)
            };
            let (mut value, mut keep) = apply(expr.op, l, r);
            if expr.op.is_comparison() {
                value = point.value;
                if expr.return_bool {
                    value = f64::from(u8::from(keep));
                    keep = true;
                }
            }
            if keep {
                points.push(Point {
                    step: point.step,
                    value,
                });
            }
        }
        if !points.is_empty() {
            out.push(Series {
                labels: series.labels,
                points,
            });
        }
    }
    out
}

/// The labels two samples are matched on.
fn signature(labels: &Labels, matching: Option<&VectorMatching>) -> Labels {
    match matching {
        None => labels.clone(),
        Some(matching) => Labels::from_pairs(
            labels
                .iter()
                .filter(|(name, _)| matching.labels.iter().any(|l| l == name) == matching.on)
                .map(|(name, value)| (name.to_string(), value.to_string())),
        ),
    }
}

/// Signature ids of both sides, from one shared table.
fn signatures(
    left: &[Series],
    right: &[Series],
    matching: Option<&VectorMatching>,
) -> (Vec<u32>, Vec<u32>, Vec<Labels>) {
    let mut ids: HashMap<Labels, u32> = HashMap::new();
    let mut names: Vec<Labels> = Vec::new();
    let mut id_of = |series: &Series| {
        let key = signature(&series.labels, matching);
        *ids.entry(key).or_insert_with_key(|key| {
            names.push(key.clone());
            names.len() as u32 - 1
        })
    };
    let left_ids = left.iter().map(&mut id_of).collect();
    let right_ids = right.iter().map(&mut id_of).collect();
    (left_ids, right_ids, names)
}

/// `and`, `or`, `unless`: many-to-many, labels of the side a sample came from.
fn set_operation(
    op: BinOp,
    matching: Option<&VectorMatching>,
    left: Vec<Series>,
    right: Vec<Series>,
    step_count: usize,
) -> Result<Vec<Series>, QueryError> {
    let (left_ids, right_ids, _) = signatures(&left, &right, matching);
    let left_steps = ByStep::new(&left, step_count);
    let right_steps = ByStep::new(&right, step_count);
    let mut left_points: Vec<Vec<Point>> = vec![Vec::new(); left.len()];
    let mut right_points: Vec<Vec<Point>> = vec![Vec::new(); right.len()];
    let mut seen: HashSet<u32> = HashSet::new();
    for step in 0..step_count {
        seen.clear();
        let point = |value| Point {
            step: step as u32,
            value,
        };
        if op == BinOp::Or {
            for &(series, value) in left_steps.at(step) {
                seen.insert(left_ids[series as usize]);
                left_points[series as usize].push(point(value));
            }
            for &(series, value) in right_steps.at(step) {
                if !seen.contains(&right_ids[series as usize]) {
                    right_points[series as usize].push(point(value));
                }
            }
        } else {
            seen.extend(
                right_steps
                    .at(step)
                    .iter()
                    .map(|(series, _)| right_ids[*series as usize]),
            );
            for &(series, value) in left_steps.at(step) {
                if seen.contains(&left_ids[series as usize]) == (op == BinOp::And) {
                    left_points[series as usize].push(point(value));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (series, points) in left.into_iter().zip(left_points) {
        if !points.is_empty() {
            out.push(Series {
                labels: series.labels,
                points,
            });
        }
    }
    for (series, points) in right.into_iter().zip(right_points) {
        if !points.is_empty() {
            out.push(Series {
                labels: series.labels,
                points,
            });
        }
    }
    merge_same_labels(out)
}

/// The labels of a result sample (Prometheus' rules): one-to-one keeps the
/// left labels, only the `on` labels or without the `ignoring` ones;
/// group_left/right keeps the "many" side's labels plus the listed labels
/// of the "one" side.
fn result_labels(many: &Labels, one: &Labels, matching: Option<&VectorMatching>) -> Labels {
    let Some(matching) = matching else {
        return many.clone();
    };
    match &matching.group {
        None => signature(many, Some(matching)),
        Some(group) => {
            let mut pairs: Vec<(String, String)> = many
                .iter()
                .filter(|(name, _)| !group.labels.iter().any(|l| l == name))
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect();
            for name in &group.labels {
                if let Some(value) = one.get(name) {
                    pairs.push((name.clone(), value.to_string()));
                }
            }
            Labels::from_pairs(pairs)
        }
    }
}

/// Arithmetic and comparisons between two vectors.
fn match_vectors(
    expr: &BinaryExpr,
    left: Vec<Series>,
    right: Vec<Series>,
    step_count: usize,
) -> Result<Vec<Series>, QueryError> {
    let matching = expr.matching.as_ref();
    let group = matching.and_then(|m| m.group.as_ref());
    let grouped = group.is_some();
    // The "many" side is the left one unless group_right.
    let right_is_many = group.is_some_and(|g| !g.left);
    let (many, one) = if right_is_many {
        (right, left)
    } else {
        (left, right)
    };
    let (many_ids, one_ids, signature_names) = signatures(&many, &one, matching);
    let many_steps = ByStep::new(&many, step_count);
    let one_steps = ByStep::new(&one, step_count);
    let one_side = if right_is_many { "left" } else { "right" };

    let mut outputs: Vec<Series> = Vec::new();
    let mut output_of_labels: HashMap<Labels, u32> = HashMap::new();
    let mut output_of_pair: HashMap<(u32, u32), u32> = HashMap::new();
    let mut one_by_signature: HashMap<u32, (u32, f64)> = HashMap::new();
    let mut matched: HashSet<u32> = HashSet::new();
    for step in 0..step_count {
        one_by_signature.clear();
        matched.clear();
        for &(series, value) in one_steps.at(step) {
            let id = one_ids[series as usize];
            if let Some((other, _)) = one_by_signature.insert(id, (series, value)) {
                return Err(QueryError::BadQuery(format!(
                    "found duplicate series for the match group {} on the {one_side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    signature_names[id as usize],
                    one[other as usize].labels,
                    one[series as usize].labels
                )));
            }
        }
        for &(series, many_value) in many_steps.at(step) {
            let id = many_ids[series as usize];
            let Some(&(one_series, one_value)) = one_by_signature.get(&id) else {
                continue;
            };
            if !grouped && !matched.insert(id) {
                return Err(QueryError::BadQuery(format!(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right): {}",
                    signature_names[id as usize]
                )));
            }
            let (l, r) = if right_is_many {
                (one_value, many_value)
            } else {
                (many_value, one_value)
            };
            let (mut value, mut keep) = apply(expr.op, l, r);
            if expr.return_bool {
                value = f64::from(u8::from(keep));
                keep = true;
            }
            if !keep {
                continue;
            }
            let output = *output_of_pair
                .entry((series, one_series))
                .or_insert_with(|| {
                    let labels = result_labels(
                        &many[series as usize].labels,
                        &one[one_series as usize].labels,
                        matching,
                    );
                    *output_of_labels.entry(labels).or_insert_with_key(|labels| {
                        outputs.push(Series {
                            labels: labels.clone(),
                            points: Vec::new(),
                        });
                        outputs.len() as u32 - 1
                    })
                });
            let points = &mut outputs[output as usize].points;
            if points.last().is_some_and(|p| p.step == step as u32) {
                return Err(QueryError::BadQuery(format!(
                    "multiple matches for labels: grouping labels must ensure unique matches: {}",
                    outputs[output as usize].labels
                )));
            }
            points.push(Point {
                step: step as u32,
                value,
            });
        }
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_logql::{Expr, MetricExpr};

    fn series(text: &str, values: &[f64]) -> Series {
        Series {
            labels: Labels::parse(text).unwrap(),
            points: values
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_nan())
                .map(|(step, value)| Point {
                    step: step as u32,
                    value: *value,
                })
                .collect(),
        }
    }

    /// Parses `a OP b` where both sides are placeholders; only the operator,
    /// bool and matching matter.
    fn binary(op_text: &str) -> BinaryExpr {
        let query =
            format!(r#"count_over_time({{x="y"}}[1m]) {op_text} count_over_time({{x="y"}}[1m])"#);
        match strata_logql::parse_expr(&query).unwrap() {
            Expr::Metric(MetricExpr::Binary(binary)) => *binary,
            other => panic!("not binary: {other:?}"),
        }
    }

    fn run(
        op_text: &str,
        left: Vec<Series>,
        right: Vec<Series>,
    ) -> Result<Vec<(String, Vec<f64>)>, QueryError> {
        let Value::Vector(out) = evaluate(
            &binary(op_text),
            Value::Vector(left),
            Value::Vector(right),
            1,
        )?
        else {
            panic!("not a vector");
        };
        let mut out: Vec<(String, Vec<f64>)> = out
            .into_iter()
            .map(|s| {
                (
                    s.labels.to_string(),
                    s.points.iter().map(|p| p.value).collect(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn expect(op_text: &str, left: Vec<Series>, right: Vec<Series>, expected: &[(&str, f64)]) {
        let got = run(op_text, left, right).unwrap();
        let expected: Vec<(String, Vec<f64>)> = expected
            .iter()
            .map(|(l, v)| (l.to_string(), vec![*v]))
            .collect();
        assert_eq!(got, expected, "{op_text}");
    }

    #[test]
    fn one_to_one_matching() {
        let left = || {
            vec![
                series(r#"{job="a", code="500"}"#, &[10.0]),
                series(r#"{job="b", code="500"}"#, &[6.0]),
            ]
        };
        let right = || {
            vec![
                series(r#"{job="a", code="500"}"#, &[2.0]),
                series(r#"{job="c", code="500"}"#, &[1.0]),
            ]
        };
        expect("/", left(), right(), &[(r#"{code="500", job="a"}"#, 5.0)]);
        let totals = || {
            vec![
                series(r#"{job="a"}"#, &[20.0]),
                series(r#"{job="b"}"#, &[3.0]),
            ]
        };
        expect(
            "/ on(job)",
            left(),
            totals(),
            &[(r#"{job="a"}"#, 0.5), (r#"{job="b"}"#, 2.0)],
        );
        expect(
            "/ ignoring(code)",
            left(),
            totals(),
            &[(r#"{job="a"}"#, 0.5), (r#"{job="b"}"#, 2.0)],
        );
    }

    #[test]
    fn group_left_and_right() {
        let errors = || {
            vec![
                series(r#"{job="a", code="500"}"#, &[10.0]),
                series(r#"{job="a", code="503"}"#, &[30.0]),
            ]
        };
        let totals = || vec![series(r#"{job="a", team="x"}"#, &[40.0])];
        expect(
            "/ on(job) group_left(team)",
            errors(),
            totals(),
            &[
                (r#"{code="500", job="a", team="x"}"#, 0.25),
                (r#"{code="503", job="a", team="x"}"#, 0.75),
            ],
        );
        // group_right: the right side is the "many" side; the left value stays on the left.
        expect(
            "- on(job) group_right",
            totals(),
            errors(),
            &[
                (r#"{code="500", job="a"}"#, 30.0),
                (r#"{code="503", job="a"}"#, 10.0),
            ],
        );
        // Without group_left, many-to-one is an error.
        let err = run("/ on(job)", errors(), totals()).unwrap_err();
        assert!(
            err.to_string()
                .contains("many-to-one matching must be explicit"),
            "{err}"
        );
        // Duplicates on the "one" side are an error.
        let err = run("/ on(job) group_left", totals(), errors()).unwrap_err();
        assert!(err.to_string().contains("found duplicate series"), "{err}");
    }

    #[test]
    fn comparisons_filter_or_return_bool() {
        let left = || vec![series(r#"{s="a"}"#, &[1.0]), series(r#"{s="b"}"#, &[5.0])];
        let right = || vec![series(r#"{s="a"}"#, &[3.0]), series(r#"{s="b"}"#, &[3.0])];
        expect(">", left(), right(), &[(r#"{s="b"}"#, 5.0)]);
        expect(
            "> bool",
            left(),
            right(),
            &[(r#"{s="a"}"#, 0.0), (r#"{s="b"}"#, 1.0)],
        );
        expect(
            "!= bool",
            left(),
            right(),
            &[(r#"{s="a"}"#, 1.0), (r#"{s="b"}"#, 1.0)],
        );
    }

    #[test]
    fn set_operators() {
        let left = || vec![series(r#"{s="a"}"#, &[1.0]), series(r#"{s="b"}"#, &[2.0])];
        let right = || vec![series(r#"{s="b"}"#, &[20.0]), series(r#"{s="c"}"#, &[30.0])];
        expect("and", left(), right(), &[(r#"{s="b"}"#, 2.0)]);
        expect("unless", left(), right(), &[(r#"{s="a"}"#, 1.0)]);
        expect(
            "or",
            left(),
            right(),
            &[
                (r#"{s="a"}"#, 1.0),
                (r#"{s="b"}"#, 2.0),
                (r#"{s="c"}"#, 30.0),
            ],
        );
        let other = || vec![series(r#"{s="z", t="1"}"#, &[9.0])];
        expect(
            "and on()",
            left(),
            other(),
            &[(r#"{s="a"}"#, 1.0), (r#"{s="b"}"#, 2.0)],
        );
        expect(
            "unless ignoring(s)",
            left(),
            other(),
            &[(r#"{s="a"}"#, 1.0), (r#"{s="b"}"#, 2.0)],
        );
    }

    #[test]
    fn scalars_and_ieee_edge_cases() {
        assert_eq!(apply(BinOp::Div, 1.0, 0.0).0, f64::INFINITY);
        assert_eq!(apply(BinOp::Div, -1.0, 0.0).0, f64::NEG_INFINITY);
        assert!(apply(BinOp::Div, 0.0, 0.0).0.is_nan());
        assert!(apply(BinOp::Mod, 5.0, 0.0).0.is_nan());
        assert_eq!(apply(BinOp::Mod, -7.0, 3.0).0, -1.0);
        assert_eq!(apply(BinOp::Pow, 2.0, 10.0).0, 1024.0);
        assert_eq!(apply(BinOp::Pow, f64::NAN, 0.0).0, 1.0);
        assert!(!apply(BinOp::Eq, f64::NAN, f64::NAN).1);
        assert!(apply(BinOp::Neq, f64::NAN, f64::NAN).1);

        let vector = vec![series(r#"{s="a"}"#, &[4.0]), series(r#"{s="b"}"#, &[1.0])];
        let scalar = Value::Scalar(vec![2.0]);
        let Value::Vector(out) = evaluate(
            &binary("<"),
            Value::Scalar(vec![2.0]),
            Value::Vector(vector.clone()),
            1,
        )
        .unwrap() else {
            panic!()
        };
        // 2 < v keeps the vector's value.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].points[0].value, 4.0);
        let Value::Vector(out) = evaluate(&binary("-"), Value::Vector(vector), scalar, 1).unwrap()
        else {
            panic!()
        };
        assert_eq!(out[0].points[0].value, 2.0);
        let Value::Scalar(out) = evaluate(
            &binary("> bool"),
            Value::Scalar(vec![3.0]),
            Value::Scalar(vec![2.0]),
            1,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(out, [1.0]);
    }
}
