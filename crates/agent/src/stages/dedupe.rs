//! `dedupe`: drops a record whose stream and line (or `source` field) were
//! seen within `window` before it (by record timestamp), as Fluent Bit's and
//! Vector's dedupe do for crash loops that print the same line thousands
//! of times:
//!
//! ```yaml
//! - dedupe: {window: 10s, max_entries: 10000}
//! ```
//!
//! It remembers at most `max_entries` hashes (the oldest are forgotten
//! first), so memory is bounded. Dropped records count under reason
//! `duplicate`. The memory is the agent's: a restart forgets it.

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;
use strata_model::Labels;

use super::{Reads, Record, Stage, Verdict};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// How long a line is remembered (default 10s).
    #[serde(default)]
    pub window: Option<String>,
    /// Most lines remembered (default 10,000).
    #[serde(default)]
    pub max_entries: Option<usize>,
    /// Compare this field instead of the line.
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug)]
pub struct DedupeStage {
    window_ns: i64,
    max_entries: usize,
    source: Option<String>,
    /// hash -> timestamp it was last seen at.
    seen: HashMap<u64, i64>,
    /// (hash, timestamp) in arrival order, to forget the oldest.
    order: VecDeque<(u64, i64)>,
}

impl DedupeStage {
    pub fn new(config: &DedupeConfig) -> anyhow::Result<DedupeStage> {
        let window = match &config.window {
            None => std::time::Duration::from_secs(10),
            Some(text) => {
                super::parse_duration(text).map_err(|err| anyhow::anyhow!("window: {err}"))?
            }
        };
        let max_entries = config.max_entries.unwrap_or(10_000);
        if max_entries == 0 || max_entries > 10_000_000 {
            anyhow::bail!("max_entries: {max_entries} is not between 1 and 10000000");
        }
        Ok(DedupeStage {
            window_ns: window.as_nanos().min(i64::MAX as u128) as i64,
            max_entries,
            source: config.source.clone(),
            seen: HashMap::new(),
            order: VecDeque::new(),
        })
    }
}

impl Stage for DedupeStage {
    fn process(&mut self, record: &mut Record, base: &Labels) -> Verdict {
        let Some(value) = record.source(base, self.source.as_deref()) else {
            return Verdict::Keep;
        };
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for (name, label) in record.stream(base).iter() {
            hasher.update(name.as_bytes());
            hasher.update(&[0xff]);
            hasher.update(label.as_bytes());
            hasher.update(&[0xff]);
        }
        hasher.update(value.as_bytes());
        let hash = hasher.digest();
        let ts = record.ts_ns;
        let duplicate = self
            .seen
            .get(&hash)
            .is_some_and(|&last| ts.abs_diff(last) <= self.window_ns as u64);
        if duplicate {
            return Verdict::Drop("duplicate".into());
        }
        self.seen.insert(hash, ts);
        self.order.push_back((hash, ts));
        while self.order.len() > self.max_entries
            || self
                .order
                .front()
                .is_some_and(|(_, first)| ts.saturating_sub(*first) > self.window_ns)
        {
            let Some((old, old_ts)) = self.order.pop_front() else {
                break;
            };
            if self.seen.get(&old) == Some(&old_ts) {
                self.seen.remove(&old);
            }
        }
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        Reads::of(self.source.clone())
    }
}
