//! `| name op value [and|or ...]`.
//!
//! String operators apply the matcher to the label value (absent = empty).
//! Numeric, duration and byte comparisons parse the label value; a value
//! that does not parse sets `__error__="LabelFilterErr"` and keeps the line.
//! An entry that already has an `__error__` passes every comparison, so only
//! string matchers (such as `__error__=""`) can drop it, as in Loki.
//! `name = ip("range")` matches values that are addresses in the range.

use strata_logql::units::{parse_bytes, parse_duration};
use strata_logql::{CmpOp, LabelFilterExpr};

use super::PipelineError;
use super::entry::{EntryState, LabelSet, StageProcessor};
use super::ip::IpRange;

/// A label filter with its IP ranges parsed.
#[derive(Debug)]
enum Compiled {
    And(Box<Compiled>, Box<Compiled>),
    Or(Box<Compiled>, Box<Compiled>),
    Ip {
        name: String,
        negated: bool,
        range: IpRange,
    },
    /// A string, number, duration or bytes predicate.
    Leaf(LabelFilterExpr),
}

impl Compiled {
    fn new(filter: &LabelFilterExpr) -> Result<Compiled, PipelineError> {
        Ok(match filter {
            LabelFilterExpr::And(left, right) => Compiled::And(
                Box::new(Compiled::new(left)?),
                Box::new(Compiled::new(right)?),
            ),
            LabelFilterExpr::Or(left, right) => Compiled::Or(
                Box::new(Compiled::new(left)?),
                Box::new(Compiled::new(right)?),
            ),
            LabelFilterExpr::Ip {
                name,
                negated,
                range,
            } => Compiled::Ip {
                name: name.clone(),
                negated: *negated,
                range: IpRange::parse(range)?,
            },
            leaf => Compiled::Leaf(leaf.clone()),
        })
    }

    fn evaluate(&self, labels: &mut LabelSet) -> bool {
        match self {
            Compiled::And(left, right) => left.evaluate(labels) && right.evaluate(labels),
            Compiled::Or(left, right) => left.evaluate(labels) || right.evaluate(labels),
            Compiled::Ip {
                name,
                negated,
                range,
            } => range.contains_text(labels.get(name).unwrap_or("")) != *negated,
            Compiled::Leaf(leaf) => evaluate(leaf, labels),
        }
    }
}

#[derive(Debug)]
pub(crate) struct LabelFilterStage {
    filter: Compiled,
}

impl LabelFilterStage {
    pub fn new(filter: &LabelFilterExpr) -> Result<LabelFilterStage, PipelineError> {
        Ok(LabelFilterStage {
            filter: Compiled::new(filter)?,
        })
    }
}

/// The kinds of numeric comparison.
enum Kind {
    Number(f64),
    Duration(i64),
    Bytes(u64),
}

fn evaluate(filter: &LabelFilterExpr, labels: &mut LabelSet) -> bool {
    let (name, op, kind) = match filter {
        LabelFilterExpr::And(left, right) => {
            return evaluate(left, labels) && evaluate(right, labels);
        }
        LabelFilterExpr::Or(left, right) => {
            return evaluate(left, labels) || evaluate(right, labels);
        }
        LabelFilterExpr::String(matcher) => return matcher.matches(labels.get(&matcher.name)),
        LabelFilterExpr::Number { name, op, value } => (name, *op, Kind::Number(*value)),
        LabelFilterExpr::Duration { name, op, value } => (name, *op, Kind::Duration(*value)),
        LabelFilterExpr::Bytes { name, op, value } => (name, *op, Kind::Bytes(*value)),
        LabelFilterExpr::Ip { .. } => {
            debug_assert!(false, "BUG: ip filters are compiled");
            return false;
        }
    };
    if labels.has_error() {
        return true;
    }
    let Some(text) = labels.get(name) else {
        return op == CmpOp::Neq;
    };
    let text = text.trim();
    let outcome = match kind {
        Kind::Number(expected) => text
            .parse::<f64>()
            .ok()
            .map(|actual| op.compare(actual, expected)),
        Kind::Duration(expected) => parse_duration(text).map(|actual| op.compare(actual, expected)),
        Kind::Bytes(expected) => parse_bytes(text).map(|actual| op.compare(actual, expected)),
    };
    match outcome {
        Some(passed) => passed,
        None => {
            let details = format!("cannot parse value {text:?} of label {name:?} for comparison");
            labels.set_error("LabelFilterErr", &details);
            true
        }
    }
}

impl StageProcessor for LabelFilterStage {
    fn process(&self, entry: &mut EntryState<'_>) -> bool {
        self.filter.evaluate(&mut entry.labels)
    }
}
