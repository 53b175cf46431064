//! `label_replace(v, "dst", "replacement", "src", "regex")`.

use regex::Regex;
use strata_logql::LabelReplace;
use strata_model::{Labels, is_valid_label_name};

use super::series::{Series, merge_same_labels};
use crate::engine::QueryError;

/// For each series whose `src` value (empty when absent) fully matches the
/// regex, sets `dst` to the replacement with `$1`/`${name}` expanded (an
/// empty result removes `dst`); other series are returned unchanged.
pub(crate) fn label_replace(
    replace: &LabelReplace,
    input: Vec<Series>,
) -> Result<Vec<Series>, QueryError> {
    if !is_valid_label_name(&replace.dst) {
        return Err(QueryError::BadQuery(format!(
            "invalid destination label name in label_replace(): {:?}",
            replace.dst
        )));
    }
    let regex = Regex::new(&format!("^(?s:{})$", replace.regex)).map_err(|err| {
        QueryError::BadQuery(format!(
            "invalid regular expression in label_replace(): {:?}: {}",
            replace.regex,
            strata_model::regex_error_reason(&err)
        ))
    })?;
    let mut output = Vec::with_capacity(input.len());
    for series in input {
        let source = series.labels.get(&replace.src).unwrap_or("");
        let Some(captures) = regex.captures(source) else {
            output.push(series);
            continue;
        };
        let mut value = String::new();
        captures.expand(&replace.replacement, &mut value);
        let mut pairs: Vec<(String, String)> = series
            .labels
            .into_pairs()
            .into_iter()
            .filter(|(name, _)| *name != replace.dst)
            .collect();
        if !value.is_empty() {
            pairs.push((replace.dst.clone(), value));
        }
        output.push(Series {
            labels: Labels::from_pairs(pairs),
            points: series.points,
        });
    }
    merge_same_labels(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::series::Point;

    fn run(args: &str, labels: &[&str]) -> Result<Vec<String>, QueryError> {
        let query = format!(r#"label_replace(count_over_time({{x="y"}}[1m]), {args})"#);
        let strata_logql::Expr::Metric(strata_logql::MetricExpr::LabelReplace(replace)) =
            strata_logql::parse_expr(&query).unwrap()
        else {
            panic!("not label_replace");
        };
        let input = labels
            .iter()
            .enumerate()
            .map(|(step, text)| Series {
                labels: Labels::parse(text).unwrap(),
                points: vec![Point {
                    step: step as u32,
                    value: 1.0,
                }],
            })
            .collect();
        let mut out: Vec<String> = label_replace(&replace, input)?
            .into_iter()
            .map(|s| s.labels.to_string())
            .collect();
        out.sort();
        Ok(out)
    }

    #[test]
    fn replaces_matching_series_only() {
        let out = run(
            r#""host", "$1", "instance", "(.*):.*""#,
            &[r#"{instance="web:80"}"#, r#"{job="x"}"#],
        )
        .unwrap();
        assert_eq!(out, [r#"{host="web", instance="web:80"}"#, r#"{job="x"}"#]);
        // The regex is anchored: a partial match does not count.
        let out = run(
            r#""host", "$1", "instance", "web""#,
            &[r#"{instance="web:80"}"#],
        )
        .unwrap();
        assert_eq!(out, [r#"{instance="web:80"}"#]);
        // Named groups; an empty result removes the label.
        let out = run(
            r#""a", "${p}-x", "b", "(?P<p>.)..""#,
            &[r#"{a="old", b="xyz"}"#],
        )
        .unwrap();
        assert_eq!(out, [r#"{a="x-x", b="xyz"}"#]);
        let out = run(r#""a", "", "b", ".*""#, &[r#"{a="old", b="xyz"}"#]).unwrap();
        assert_eq!(out, [r#"{b="xyz"}"#]);
        // A missing source matches as "".
        let out = run(r#""a", "none", "zz", """#, &[r#"{b="1"}"#]).unwrap();
        assert_eq!(out, [r#"{a="none", b="1"}"#]);
    }

    #[test]
    fn refuses_bad_destinations() {
        let err = run(r#""1bad", "x", "a", ".*""#, &[r#"{a="1"}"#]).unwrap_err();
        assert!(
            err.to_string().contains("invalid destination label name"),
            "{err}"
        );
    }

    #[test]
    fn series_made_equal_merge() {
        let out = run(
            r#""b", "", "b", ".*""#,
            &[r#"{a="1", b="x"}"#, r#"{a="1", b="y"}"#],
        )
        .unwrap();
        assert_eq!(out, [r#"{a="1"}"#]);
    }
}
