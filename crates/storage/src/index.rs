//! The stream index of one tenant: stream id -> labels and the days holding
//! its data, and postings name -> value -> stream ids. Built at open from the
//! parts' stream tables and the WAL, then kept up to date by appends.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use strata_model::{LabelMatcher, Labels, MatchOp};

#[derive(Debug)]
pub struct IndexedStream {
    pub labels: Arc<Labels>,
    /// UTC days (see partition.rs) holding data of the stream.
    pub days: BTreeSet<i64>,
}

#[derive(Debug, Default)]
pub struct TenantIndex {
    /// Every stream of the tenant.
    pub streams: HashMap<u64, IndexedStream>,
    /// name -> value -> ids of streams with that label.
    postings: HashMap<String, HashMap<String, Vec<u64>>>,
}

impl TenantIndex {
    /// The canonical labels of a stream already indexed for `day`.
    pub fn lookup(&self, stream_id: u64, day: i64) -> Option<&Arc<Labels>> {
        let stream = self.streams.get(&stream_id)?;
        stream.days.contains(&day).then_some(&stream.labels)
    }

    /// Records that `stream_id` has data on `day`; returns its canonical labels.
    pub fn add(&mut self, stream_id: u64, labels: &Arc<Labels>, day: i64) -> Arc<Labels> {
        if let Some(stream) = self.streams.get_mut(&stream_id) {
            stream.days.insert(day);
            return stream.labels.clone();
        }
        for (name, value) in labels.iter() {
            self.postings
                .entry(name.to_string())
                .or_default()
                .entry(value.to_string())
                .or_default()
                .push(stream_id);
        }
        self.streams.insert(
            stream_id,
            IndexedStream {
                labels: labels.clone(),
                days: BTreeSet::from([day]),
            },
        );
        labels.clone()
    }

    /// Streams matching every matcher with data on a day in `first_day..=last_day`,
    /// sorted by labels.
    pub fn select(
        &self,
        matchers: &[LabelMatcher],
        first_day: i64,
        last_day: i64,
    ) -> Vec<(u64, Arc<Labels>)> {
        let in_range =
            |stream: &IndexedStream| stream.days.range(first_day..=last_day).next().is_some();
        let matches = |stream: &IndexedStream| {
            matchers
                .iter()
                .all(|matcher| matcher.matches(stream.labels.get(&matcher.name)))
        };
        let mut selected = Vec::new();
        // An `=` matcher with a non-empty value is answered by its postings list.
        let posting = matchers
            .iter()
            .filter(|matcher| matcher.op == MatchOp::Eq && !matcher.value.is_empty())
            .min_by_key(|matcher| {
                self.postings
                    .get(&matcher.name)
                    .and_then(|values| values.get(&matcher.value))
                    .map_or(0, Vec::len)
            });
        if let Some(matcher) = posting {
            let ids = self
                .postings
                .get(&matcher.name)
                .and_then(|values| values.get(&matcher.value));
            for id in ids.into_iter().flatten() {
                if let Some(stream) = self.streams.get(id)
                    && in_range(stream)
                    && matches(stream)
                {
                    selected.push((*id, stream.labels.clone()));
                }
            }
        } else {
            for (id, stream) in &self.streams {
                if in_range(stream) && matches(stream) {
                    selected.push((*id, stream.labels.clone()));
                }
            }
        }
        selected.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        selected
    }

    /// Label names of streams with data in the day range, sorted.
    pub fn label_names(&self, first_day: i64, last_day: i64) -> Vec<String> {
        let mut names = BTreeSet::new();
        for stream in self.streams.values() {
            if stream.days.range(first_day..=last_day).next().is_some() {
                for (name, _) in stream.labels.iter() {
                    if !names.contains(name) {
                        names.insert(name.to_string());
                    }
                }
            }
        }
        names.into_iter().collect()
    }

    /// Values of label `name` among streams matching `matchers` in the day range, sorted.
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        first_day: i64,
        last_day: i64,
    ) -> Vec<String> {
        let mut values = BTreeSet::new();
        if matchers.is_empty() {
            let Some(by_value) = self.postings.get(name) else {
                return Vec::new();
            };
            for (value, ids) in by_value {
                let any_in_range = ids.iter().any(|id| {
                    self.streams.get(id).is_some_and(|stream| {
                        stream.days.range(first_day..=last_day).next().is_some()
                    })
                });
                if any_in_range {
                    values.insert(value.clone());
                }
            }
        } else {
            for (_, labels) in self.select(matchers, first_day, last_day) {
                if let Some(value) = labels.get(name) {
                    values.insert(value.to_string());
                }
            }
        }
        values.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_by_postings_and_scan() {
        let mut index = TenantIndex::default();
        for (text, day) in [
            (r#"{app="a", env="prod"}"#, 1),
            (r#"{app="b", env="prod"}"#, 2),
            (r#"{app="c"}"#, 3),
        ] {
            let labels = Arc::new(Labels::parse(text).unwrap());
            index.add(strata_model::stream_id(&labels), &labels, day);
        }
        let select = |matchers: &[LabelMatcher], first: i64, last: i64| -> Vec<String> {
            index
                .select(matchers, first, last)
                .iter()
                .map(|(_, labels)| labels.get("app").unwrap().to_string())
                .collect()
        };
        let eq = LabelMatcher::new("env", MatchOp::Eq, "prod").unwrap();
        let re = LabelMatcher::new("app", MatchOp::Re, "a|c").unwrap();
        let empty = LabelMatcher::new("env", MatchOp::Eq, "").unwrap();
        assert_eq!(select(std::slice::from_ref(&eq), 0, 9), ["a", "b"]);
        assert_eq!(select(std::slice::from_ref(&eq), 2, 9), ["b"]);
        assert_eq!(select(std::slice::from_ref(&re), 0, 9), ["a", "c"]);
        assert_eq!(select(&[empty], 0, 9), ["c"]);
        assert_eq!(index.label_names(3, 3), ["app"]);
        assert_eq!(index.label_names(0, 9), ["app", "env"]);
        assert_eq!(index.label_values("app", &[], 0, 2), ["a", "b"]);
        assert_eq!(index.label_values("app", &[re], 0, 9), ["a", "c"]);
    }
}
