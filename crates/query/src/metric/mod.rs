//! Metric queries: LogQL expressions that return samples.
//!
//! [`run_metric_query`] evaluates a [`MetricExpr`] at every evaluation time
//! of [`Steps`] (one for an instant query). The leaves are range
//! aggregations (`range.rs`), each answered by one storage scan that keeps
//! per-series bucket states (`state.rs`, `store.rs`) on the window grid of
//! `time.rs`; vector aggregations (`vector.rs`), binary operators
//! (`binary.rs`) and `label_replace` then work on whole series, step by
//! step. Values are a scalar per step, or series with points at steps.
//!
//! ```
//! use strata_query::metric::{MetricData, MetricQuery, Steps, run_metric_query};
//! use strata_model::{Entry, Labels, PushStream};
//! use strata_storage::{Storage, StorageConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let storage = Storage::open(StorageConfig { data_dir: dir.path().into(), ..StorageConfig::default() }).unwrap();
//! let labels = Labels::parse(r#"{job="api"}"#).unwrap();
//! let entries = (1..=3).map(|s| Entry::new(s * 1_000_000_000, "GET /")).collect();
//! storage.append("fake", &[PushStream { labels, entries }]).unwrap();
//! let strata_logql::Expr::Metric(expr) = strata_logql::parse_expr(r#"count_over_time({job="api"}[10s])"#).unwrap() else { panic!() };
//! let query = MetricQuery { tenant: "fake", expr: &expr, steps: Steps::instant(5_000_000_000), max_series: 500, control: &strata_query::QueryControl::unlimited() };
//! let MetricData::Vector { samples, .. } = run_metric_query(&storage, &query).unwrap().data else { panic!() };
//! assert_eq!(samples[0].1, 3.0);
//! ```

mod binary;
mod label_replace;
mod range;
mod scan;
mod series;
mod state;
mod store;
mod time;
mod vector;

use std::time::Instant;

use strata_logql::{BinaryExpr, Grouping, MetricExpr, VectorOp};
use strata_model::Labels;
use strata_storage::Storage;

use crate::engine::{QueryError, QueryStats};
pub use range::labels_read_by;
use series::{Point, Series, Value};
pub use time::{MAX_POINTS_PER_SERIES, Steps, default_step_ns};

/// A metric query over a tenant's logs.
pub struct MetricQuery<'a> {
    pub tenant: &'a str,
    pub expr: &'a MetricExpr,
    pub steps: Steps,
    /// Most series the answer may hold (Loki's `max_query_series`).
    pub max_series: usize,
    /// Stops the query on timeout or cancellation.
    pub control: &'a crate::QueryControl,
}

/// One series of a range query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSeries {
    pub labels: Labels,
    /// (evaluation time in ns, value), in time order.
    pub points: Vec<(i64, f64)>,
}

/// A metric query's answer, shaped as Loki returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricData {
    /// A range query: series sorted by labels.
    Matrix(Vec<MatrixSeries>),
    /// An instant query of a vector: sorted by labels, or by value under
    /// an outermost sort/sort_desc.
    Vector {
        ts_ns: i64,
        samples: Vec<(Labels, f64)>,
    },
    /// An instant query of a scalar expression.
    Scalar { ts_ns: i64, value: f64 },
}

pub struct MetricQueryResult {
    pub data: MetricData,
    pub stats: QueryStats,
}

/// What the evaluation of one query shares.
pub(crate) struct Context<'a> {
    pub storage: &'a Storage,
    pub tenant: &'a str,
    pub steps: Steps,
    pub stats: QueryStats,
    pub control: &'a crate::QueryControl,
}

/// Runs a metric query. Blocking and CPU-heavy: call it off the async runtime.
pub fn run_metric_query(
    storage: &Storage,
    query: &MetricQuery<'_>,
) -> Result<MetricQueryResult, QueryError> {
    let started = Instant::now();
    check(query.expr)?;
    let mut ctx = Context {
        storage,
        tenant: query.tenant,
        steps: query.steps,
        stats: QueryStats::default(),
        control: query.control,
    };
    let value = evaluate(&mut ctx, query.expr)?;
    let series_count = match &value {
        Value::Scalar(_) => 1,
        Value::Vector(series) => series.len(),
    };
    if series_count > query.max_series {
        return Err(QueryError::BadQuery(format!(
            "maximum of series ({}) reached for a single query",
            query.max_series
        )));
    }
    let data = shape(value, &query.steps, outer_sort(query.expr));
    ctx.stats.exec_time_secs = started.elapsed().as_secs_f64();
    Ok(MetricQueryResult {
        data,
        stats: ctx.stats,
    })
}

/// True for the expressions that evaluate to a scalar.
fn is_scalar(expr: &MetricExpr) -> bool {
    match expr {
        MetricExpr::Number(_) => true,
        MetricExpr::Neg(inner) => is_scalar(inner),
        MetricExpr::Binary(binary) => is_scalar(&binary.lhs) && is_scalar(&binary.rhs),
        _ => false,
    }
}

fn bad(message: impl Into<String>) -> QueryError {
    QueryError::BadQuery(message.into())
}

/// Type checks PromQL makes before running anything.
fn check(expr: &MetricExpr) -> Result<(), QueryError> {
    match expr {
        MetricExpr::Number(_) | MetricExpr::VectorLiteral(_) | MetricExpr::Range(_) => Ok(()),
        MetricExpr::Neg(inner) => check(inner),
        MetricExpr::Vector(aggregation) => {
            if is_scalar(&aggregation.expr) {
                return Err(bad(format!(
                    "expected type instant vector in aggregation expression {}, got scalar",
                    aggregation.op.as_str()
                )));
            }
            check(&aggregation.expr)
        }
        MetricExpr::LabelReplace(replace) => {
            if is_scalar(&replace.expr) {
                return Err(bad(
                    "expected type instant vector in call to function label_replace, got scalar",
                ));
            }
            check(&replace.expr)
        }
        MetricExpr::Binary(binary) => {
            check(&binary.lhs)?;
            check(&binary.rhs)?;
            check_binary(binary)
        }
    }
}

fn check_binary(binary: &BinaryExpr) -> Result<(), QueryError> {
    let any_scalar = is_scalar(&binary.lhs) || is_scalar(&binary.rhs);
    let both_scalar = is_scalar(&binary.lhs) && is_scalar(&binary.rhs);
    if both_scalar && binary.op.is_comparison() && !binary.return_bool {
        return Err(bad("comparisons between scalars must use BOOL modifier"));
    }
    if any_scalar && binary.op.is_set_op() {
        return Err(bad(format!(
            "set operator \"{}\" not allowed in binary scalar expression",
            binary.op.as_str()
        )));
    }
    let Some(matching) = &binary.matching else {
        return Ok(());
    };
    if any_scalar {
        return Err(bad("vector matching only allowed between instant vectors"));
    }
    if let Some(group) = &matching.group
        && matching.on
        && let Some(name) = group
            .labels
            .iter()
            .find(|name| matching.labels.contains(name))
    {
        return Err(bad(format!(
            "label \"{name}\" must not occur in ON and GROUP clause at once"
        )));
    }
    Ok(())
}

fn evaluate(ctx: &mut Context<'_>, expr: &MetricExpr) -> Result<Value, QueryError> {
    let step_count = ctx.steps.count;
    match expr {
        MetricExpr::Number(value) => Ok(Value::Scalar(vec![*value; step_count])),
        MetricExpr::VectorLiteral(value) => Ok(Value::Vector(vec![Series {
            labels: Labels::default(),
            points: (0..step_count)
                .map(|step| Point {
                    step: step as u32,
                    value: *value,
                })
                .collect(),
        }])),
        MetricExpr::Neg(inner) => Ok(match evaluate(ctx, inner)? {
            Value::Scalar(values) => Value::Scalar(values.into_iter().map(|v| -v).collect()),
            Value::Vector(mut series) => {
                for one in &mut series {
                    for point in &mut one.points {
                        point.value = -point.value;
                    }
                }
                Value::Vector(series)
            }
        }),
        MetricExpr::Range(aggregation) => {
            Ok(Value::Vector(range::evaluate(ctx, aggregation, None)?))
        }
        MetricExpr::Vector(aggregation) => {
            if let MetricExpr::Range(inner) = &*aggregation.expr
                && aggregation.param.is_none()
                && range::can_push_down(aggregation.op, inner)
            {
                let everything = Grouping {
                    without: false,
                    labels: Vec::new(),
                };
                let grouping = aggregation.grouping.as_ref().unwrap_or(&everything);
                return Ok(Value::Vector(range::evaluate(ctx, inner, Some(grouping))?));
            }
            let Value::Vector(input) = evaluate(ctx, &aggregation.expr)? else {
                return Err(bad("BUG: aggregation over a scalar passed the type check"));
            };
            Ok(Value::Vector(vector::aggregate(
                aggregation,
                input,
                step_count,
            )))
        }
        MetricExpr::Binary(binary) => {
            let lhs = evaluate(ctx, &binary.lhs)?;
            let rhs = evaluate(ctx, &binary.rhs)?;
            binary::evaluate(binary, lhs, rhs, step_count)
        }
        MetricExpr::LabelReplace(replace) => {
            let Value::Vector(input) = evaluate(ctx, &replace.expr)? else {
                return Err(bad(
                    "BUG: label_replace over a scalar passed the type check",
                ));
            };
            Ok(Value::Vector(label_replace::label_replace(replace, input)?))
        }
    }
}

/// How an instant vector is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Labels,
    Ascending,
    Descending,
}

/// An outermost sort or sort_desc orders an instant query's samples by
/// value; otherwise they come sorted by labels.
fn outer_sort(expr: &MetricExpr) -> Order {
    match expr {
        MetricExpr::Vector(aggregation) if aggregation.op == VectorOp::Sort => Order::Ascending,
        MetricExpr::Vector(aggregation) if aggregation.op == VectorOp::SortDesc => {
            Order::Descending
        }
        _ => Order::Labels,
    }
}

fn shape(value: Value, steps: &Steps, order: Order) -> MetricData {
    let instant = steps.is_instant();
    match value {
        Value::Scalar(values) if instant => MetricData::Scalar {
            ts_ns: steps.at(0),
            value: values[0],
        },
        Value::Scalar(values) => MetricData::Matrix(vec![MatrixSeries {
            labels: Labels::default(),
            points: values
                .into_iter()
                .enumerate()
                .map(|(step, value)| (steps.at(step), value))
                .collect(),
        }]),
        Value::Vector(series) if instant => {
            let mut samples: Vec<(Labels, f64)> = series
                .into_iter()
                .filter_map(|one| {
                    let value = one.points.first()?.value;
                    Some((one.labels, value))
                })
                .collect();
            samples.sort_by(|a, b| match order {
                Order::Labels => a.0.cmp(&b.0),
                Order::Ascending | Order::Descending => {
                    let by_value = match (a.1.is_nan(), b.1.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        (false, false) if order == Order::Ascending => a.1.total_cmp(&b.1),
                        (false, false) => b.1.total_cmp(&a.1),
                    };
                    by_value.then_with(|| a.0.cmp(&b.0))
                }
            });
            MetricData::Vector {
                ts_ns: steps.at(0),
                samples,
            }
        }
        Value::Vector(mut series) => {
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            MetricData::Matrix(
                series
                    .into_iter()
                    .map(|one| MatrixSeries {
                        labels: one.labels,
                        points: one
                            .points
                            .iter()
                            .map(|point| (steps.at(point.step as usize), point.value))
                            .collect(),
                    })
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
