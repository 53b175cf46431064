//! Keeps the `limit` best entries of a log query, deduplicated.

use std::collections::BTreeMap;
use std::sync::Arc;
use strata_model::Labels;

/// What identifies an entry in a result: equal keys are one entry, as Loki
/// returns an entry pushed twice once.
pub(crate) type EntryKey = (i64, Arc<Labels>, String);

/// What an entry carries besides its key.
#[derive(Debug, Clone)]
pub(crate) struct EntryExtra {
    /// The stream's own labels (without metadata and parsed labels).
    pub stream: Arc<Labels>,
    pub structured_metadata: Vec<(String, String)>,
    pub parsed: Vec<(String, String)>,
}

/// The best `limit` entries seen so far: the newest when `backward`, else the oldest.
pub(crate) struct Collector {
    limit: usize,
    backward: bool,
    entries: BTreeMap<EntryKey, EntryExtra>,
}

impl Collector {
    pub fn new(limit: usize, backward: bool) -> Collector {
        Collector {
            limit,
            backward,
            entries: BTreeMap::new(),
        }
    }

    /// True when an entry at `ts` cannot make it into a full collector.
    pub fn rejects(&self, ts: i64) -> bool {
        if self.entries.len() < self.limit {
            return false;
        }
        if self.backward {
            self.entries
                .first_key_value()
                .is_some_and(|((worst, _, _), _)| ts < *worst)
        } else {
            self.entries
                .last_key_value()
                .is_some_and(|((worst, _, _), _)| ts > *worst)
        }
    }

    pub fn insert(&mut self, key: EntryKey, extra: EntryExtra) {
        if self.limit == 0 || self.rejects(key.0) {
            return;
        }
        self.entries.insert(key, extra);
        if self.entries.len() > self.limit {
            if self.backward {
                self.entries.pop_first();
            } else {
                self.entries.pop_last();
            }
        }
    }

    pub fn into_entries(self) -> BTreeMap<EntryKey, EntryExtra> {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extra() -> EntryExtra {
        EntryExtra {
            stream: Arc::new(Labels::default()),
            structured_metadata: vec![],
            parsed: vec![],
        }
    }

    #[test]
    fn keeps_the_newest_or_oldest_and_dedups() {
        let labels = Arc::new(Labels::parse(r#"{a="1"}"#).unwrap());
        let run = |backward: bool| {
            let mut collector = Collector::new(3, backward);
            for ts in [5, 1, 9, 3, 9, 7, 2] {
                collector.insert((ts, labels.clone(), "l".to_string()), extra());
            }
            collector
                .into_entries()
                .keys()
                .map(|k| k.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(true), [5, 7, 9]);
        assert_eq!(run(false), [1, 2, 3]);
    }
}
