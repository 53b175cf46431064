//! Structured-metadata pruning hints: which `key = "value"` label filters can
//! be checked against the blocks' metadata bloom filters.

use strata_logql::{LabelFilterExpr, Stage};
use strata_model::MatchOp;
use strata_storage::{FieldClause, TokenClause};

use crate::pipeline::line_token_hints;

/// The bloom clauses a scan for `stages` can prune with: tokens the line
/// filters guarantee, and `key="value"` filters on structured metadata (the
/// storage applies these only to blocks of streams without such a label, so
/// no series lookup is needed, and none can race with a flush).
pub(crate) fn scan_clauses(stages: &[Stage]) -> (Vec<TokenClause>, Vec<FieldClause>) {
    let tokens = line_token_hints(stages)
        .into_iter()
        .map(|alternatives| TokenClause { alternatives })
        .collect();
    let fields = metadata_hints(stages)
        .into_iter()
        .map(|(key, values)| FieldClause { key, values })
        .collect();
    (tokens, fields)
}

/// The `key = "value"` equality filters that every matching entry must
/// satisfy through its stream labels or structured metadata: those in label
/// filter stages before any stage that can add, rename or drop labels (a
/// parser, label_format, drop, keep...). Alternatives joined by `or` on the
/// same key merge into one clause; anything else is left to the pipeline.
pub(crate) fn metadata_hints(stages: &[Stage]) -> Vec<(String, Vec<String>)> {
    let mut hints = Vec::new();
    for stage in stages {
        match stage {
            Stage::LineFilter(_) => {}
            Stage::LabelFilter(expr) => collect_conjuncts(expr, &mut hints),
            _ => break,
        }
    }
    hints
}

fn collect_conjuncts(expr: &LabelFilterExpr, hints: &mut Vec<(String, Vec<String>)>) {
    match expr {
        LabelFilterExpr::And(left, right) => {
            collect_conjuncts(left, hints);
            collect_conjuncts(right, hints);
        }
        other => {
            if let Some(hint) = equality_alternatives(other) {
                hints.push(hint);
            }
        }
    }
}

/// `k="a"` or `k="a" or k="b"`: the key and its values.
fn equality_alternatives(expr: &LabelFilterExpr) -> Option<(String, Vec<String>)> {
    match expr {
        LabelFilterExpr::String(matcher)
            if matcher.op == MatchOp::Eq
                && !matcher.value.is_empty()
                && !matcher.name.starts_with("__") =>
        {
            Some((matcher.name.clone(), vec![matcher.value.clone()]))
        }
        LabelFilterExpr::Or(left, right) => {
            let (left_key, mut values) = equality_alternatives(left)?;
            let (right_key, right_values) = equality_alternatives(right)?;
            if left_key != right_key {
                return None;
            }
            values.extend(right_values);
            Some((left_key, values))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(query: &str) -> Vec<(String, Vec<String>)> {
        metadata_hints(&strata_logql::parse_log_expr(query).unwrap().stages)
    }

    #[test]
    fn only_equalities_before_label_changing_stages() {
        let pair = |k: &str, v: &[&str]| {
            (
                k.to_string(),
                v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            hints(r#"{a="b"} | trace_id="t1""#),
            [pair("trace_id", &["t1"])]
        );
        assert_eq!(
            hints(r#"{a="b"} |= "x" | trace_id="t1" and user="u""#),
            [pair("trace_id", &["t1"]), pair("user", &["u"])]
        );
        assert_eq!(
            hints(r#"{a="b"} | trace_id="t1" or trace_id="t2""#),
            [pair("trace_id", &["t1", "t2"])]
        );
        assert!(hints(r#"{a="b"} | trace_id="t1" or user="u""#).is_empty());
        assert!(hints(r#"{a="b"} | json | trace_id="t1""#).is_empty());
        assert!(hints(r#"{a="b"} | trace_id!="t1""#).is_empty());
        assert!(hints(r#"{a="b"} | __error__="""#).is_empty());
    }
}
