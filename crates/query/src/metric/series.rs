//! The values metric expressions evaluate to, and label-set helpers.

use std::collections::HashMap;

use strata_logql::Grouping;
use strata_model::Labels;

use crate::engine::QueryError;

/// A series' value at one evaluation step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    /// Index into the query's [`super::time::Steps`].
    pub step: u32,
    pub value: f64,
}

/// A label set and its values at the steps where it has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub labels: Labels,
    /// Sorted by step, at most one per step.
    pub points: Vec<Point>,
}

/// What a metric expression evaluates to over every step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// One number per step (number literals and arithmetic on them).
    Scalar(Vec<f64>),
    /// An instant vector per step, stored series by series.
    Vector(Vec<Series>),
}

/// Applies `by (...)` (keep only those labels) or `without (...)` (drop them).
pub(crate) fn group_labels(labels: &Labels, grouping: &Grouping) -> Labels {
    let keep = |name: &str| grouping.labels.iter().any(|listed| listed == name) != grouping.without;
    Labels::from_pairs(
        labels
            .iter()
            .filter(|(name, _)| keep(name))
            .map(|(name, value)| (name.to_string(), value.to_string())),
    )
}

/// Stream labels plus non-empty structured metadata, metadata winning a name
/// clash, exactly as the pipeline builds an entry's labels.
pub(crate) fn labels_with_metadata(stream: &Labels, metadata: &[(&str, &str)]) -> Labels {
    let mut pairs: Vec<(String, String)> = stream
        .iter()
        .filter(|(name, _)| {
            !metadata
                .iter()
                .any(|(key, value)| key == name && !value.is_empty())
        })
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    for (key, value) in metadata {
        if !value.is_empty() && !pairs.iter().any(|(name, _)| name == key) {
            pairs.push((key.to_string(), value.to_string()));
        }
    }
    Labels::from_pairs(pairs)
}

/// Merges series that share a label set (after an operation rewrote labels).
/// Two points of one label set at the same step are an error, as in PromQL.
pub(crate) fn merge_same_labels(series: Vec<Series>) -> Result<Vec<Series>, QueryError> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    let mut merged: Vec<Series> = Vec::with_capacity(series.len());
    let mut needs_sort = Vec::new();
    for one in series {
        match index.get(&one.labels) {
            None => {
                index.insert(one.labels.clone(), merged.len());
                merged.push(one);
            }
            Some(&at) => {
                merged[at].points.extend(one.points);
                needs_sort.push(at);
            }
        }
    }
    needs_sort.sort_unstable();
    needs_sort.dedup();
    for at in needs_sort {
        let points = &mut merged[at].points;
        points.sort_by_key(|point| point.step);
        if points.windows(2).any(|pair| pair[0].step == pair[1].step) {
            return Err(QueryError::BadQuery(format!(
                "vector cannot contain metrics with the same labelset: {}",
                merged[at].labels
            )));
        }
    }
    Ok(merged)
}

/// The samples of a vector, step by step: for each step, (series index, value).
/// Built without a per-step allocation: one flat array in step order.
pub(crate) struct ByStep {
    /// `entries[offsets[step]..offsets[step + 1]]` are the samples of `step`.
    offsets: Vec<usize>,
    entries: Vec<(u32, f64)>,
}

impl ByStep {
    pub fn new(series: &[Series], step_count: usize) -> ByStep {
        let mut offsets = vec![0usize; step_count + 1];
        for one in series {
            for point in &one.points {
                offsets[point.step as usize + 1] += 1;
            }
        }
        for step in 0..step_count {
            offsets[step + 1] += offsets[step];
        }
        let mut fill = offsets.clone();
        let mut entries = vec![(0u32, 0.0f64); offsets[step_count]];
        for (index, one) in series.iter().enumerate() {
            for point in &one.points {
                let slot = &mut fill[point.step as usize];
                entries[*slot] = (index as u32, point.value);
                *slot += 1;
            }
        }
        ByStep { offsets, entries }
    }

    pub fn at(&self, step: usize) -> &[(u32, f64)] {
        &self.entries[self.offsets[step]..self.offsets[step + 1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Labels {
        Labels::parse(text).unwrap()
    }

    #[test]
    fn grouping_by_and_without() {
        let set = labels(r#"{a="1", b="2", c="3"}"#);
        let by = Grouping {
            without: false,
            labels: vec!["c".into(), "a".into(), "zz".into()],
        };
        assert_eq!(group_labels(&set, &by), labels(r#"{a="1", c="3"}"#));
        let without = Grouping {
            without: true,
            labels: vec!["c".into()],
        };
        assert_eq!(group_labels(&set, &without), labels(r#"{a="1", b="2"}"#));
        let nothing = Grouping {
            without: false,
            labels: vec![],
        };
        assert!(group_labels(&set, &nothing).is_empty());
    }

    #[test]
    fn metadata_joins_and_overrides() {
        let stream = labels(r#"{app="x", trace="s"}"#);
        let merged = labels_with_metadata(&stream, &[("trace", "m"), ("user", "u"), ("empty", "")]);
        assert_eq!(merged, labels(r#"{app="x", trace="m", user="u"}"#));
    }

    #[test]
    fn same_labels_merge_unless_they_collide() {
        let point = |step, value| Point { step, value };
        let a = Series {
            labels: labels(r#"{a="1"}"#),
            points: vec![point(2, 1.0)],
        };
        let b = Series {
            labels: labels(r#"{a="1"}"#),
            points: vec![point(0, 5.0)],
        };
        let merged = merge_same_labels(vec![a.clone(), b]).unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].points, [point(0, 5.0), point(2, 1.0)]);
        let err = merge_same_labels(vec![a.clone(), a]).unwrap_err();
        assert!(err.to_string().contains("same labelset"));
    }

    #[test]
    fn by_step_transposes() {
        let point = |step, value| Point { step, value };
        let series = vec![
            Series {
                labels: labels(r#"{a="1"}"#),
                points: vec![point(0, 1.0), point(2, 3.0)],
            },
            Series {
                labels: labels(r#"{a="2"}"#),
                points: vec![point(2, 4.0)],
            },
        ];
        let by_step = ByStep::new(&series, 3);
        assert_eq!(by_step.at(0), [(0, 1.0)]);
        assert!(by_step.at(1).is_empty());
        assert_eq!(by_step.at(2), [(0, 3.0), (1, 4.0)]);
    }
}
