//! The ground truth, counted over every entry exactly as it is written, and
//! the manifest.json it becomes.

use crate::level::Level;
use crate::needles::{RARE_TOKEN, SUBSTRING};
use crate::stream::Stream;
use memchr::memmem::Finder;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The text every line is also checked for: a common token.
pub const COMMON_TOKEN: &str = "ERROR";
/// A case-insensitive regex no token bloom filter can help with.
pub const REGEX: &str = "(?i)connection (reset|refused)";
/// The JSON-field filter: model-serving entries with `latency_ms` above this.
pub const JSON_FILTER_APP: &str = "model-serving";
pub const JSON_FILTER_FIELD: &str = "latency_ms";
pub const JSON_FILTER_THRESHOLD: u64 = 500;

/// manifest.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub seed: u64,
    pub size_target: u64,
    pub entries: u64,
    /// Sum over entries of line bytes + 1: the raw text size.
    pub bytes: u64,
    pub start_ns: i64,
    /// One past the last entry's timestamp.
    pub end_ns: i64,
    pub streams: Vec<StreamTruth>,
    pub needles: NeedleTruth,
    pub level_counts: BTreeMap<String, u64>,
    pub json_filter: JsonFilterTruth,
    /// The ten stream ids with the most entries, most first (ties by id).
    pub top_streams: Vec<usize>,
    pub regex: TextCount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamTruth {
    pub id: usize,
    /// Non-empty labels only.
    pub labels: BTreeMap<String, String>,
    pub entries: u64,
    pub bytes: u64,
}

/// A text and how many entries contain it as a substring (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextCount {
    pub text: String,
    pub entries: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedleTruth {
    pub rare_token: TextCount,
    pub substring: TextCount,
    pub trace_ids: Vec<TextCount>,
    pub common_token: TextCount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonFilterTruth {
    pub app: String,
    pub field: String,
    pub threshold: u64,
    pub entries: u64,
}

/// Running counts.
pub struct Truth {
    /// (finder, entries containing it), in the order rare token, substring,
    /// trace ids..., common token.
    texts: Vec<(Finder<'static>, u64)>,
    regex: regex::bytes::Regex,
    regex_entries: u64,
    json_key: Finder<'static>,
    json_filter_entries: u64,
    /// Per stream: whether its JSON lines are checked for the filter.
    json_filter_streams: Vec<bool>,
    /// Per stream: (entries, bytes).
    per_stream: Vec<(u64, u64)>,
    per_level: [u64; Level::ALL.len()],
    stream_levels: Vec<Level>,
    entries: u64,
    bytes: u64,
    last_ts: i64,
}

impl Truth {
    pub fn new(streams: &[Stream], trace_ids: &[String]) -> Truth {
        let mut texts = vec![
            (Finder::new(RARE_TOKEN.as_bytes()).into_owned(), 0),
            (Finder::new(SUBSTRING.as_bytes()).into_owned(), 0),
        ];
        for trace in trace_ids {
            texts.push((Finder::new(trace.as_bytes()).into_owned(), 0));
        }
        texts.push((Finder::new(COMMON_TOKEN.as_bytes()).into_owned(), 0));
        Truth {
            texts,
            regex: regex::bytes::Regex::new(REGEX).unwrap_or_else(|err| panic!("BUG: {err}")),
            regex_entries: 0,
            json_key: Finder::new(b"\"latency_ms\":").into_owned(),
            json_filter_entries: 0,
            json_filter_streams: streams
                .iter()
                .map(|stream| stream.labels.app == JSON_FILTER_APP)
                .collect(),
            per_stream: vec![(0, 0); streams.len()],
            per_level: [0; Level::ALL.len()],
            stream_levels: streams.iter().map(|stream| stream.labels.level).collect(),
            entries: 0,
            bytes: 0,
            last_ts: 0,
        }
    }

    /// Counts one written entry.
    pub fn observe(&mut self, stream: usize, ts_ns: i64, line: &[u8]) {
        for (finder, count) in &mut self.texts {
            if finder.find(line).is_some() {
                *count += 1;
            }
        }
        if self.regex.is_match(line) {
            self.regex_entries += 1;
        }
        if self.json_filter_streams[stream]
            && line.first() == Some(&b'{')
            && json_number_after(&self.json_key, line)
                .is_some_and(|v| v > JSON_FILTER_THRESHOLD as f64)
        {
            self.json_filter_entries += 1;
        }
        let size = line.len() as u64 + 1;
        self.per_stream[stream].0 += 1;
        self.per_stream[stream].1 += size;
        self.per_level[self.stream_levels[stream].index()] += 1;
        self.entries += 1;
        self.bytes += size;
        self.last_ts = ts_ns;
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    pub fn into_manifest(
        self,
        streams: &[Stream],
        trace_ids: &[String],
        seed: u64,
        size_target: u64,
        start_ns: i64,
    ) -> Manifest {
        let count = |index: usize, text: &str| TextCount {
            text: text.to_string(),
            entries: self.texts[index].1,
        };
        let traces = trace_ids
            .iter()
            .enumerate()
            .map(|(index, trace)| count(2 + index, trace))
            .collect();
        let mut order: Vec<usize> = (0..streams.len()).collect();
        order.sort_by_key(|&id| (std::cmp::Reverse(self.per_stream[id].0), id));
        order.truncate(10);
        Manifest {
            seed,
            size_target,
            entries: self.entries,
            bytes: self.bytes,
            start_ns,
            end_ns: if self.entries == 0 {
                start_ns
            } else {
                self.last_ts + 1
            },
            streams: streams
                .iter()
                .enumerate()
                .map(|(id, stream)| StreamTruth {
                    id,
                    labels: stream
                        .labels
                        .non_empty_pairs()
                        .into_iter()
                        .map(|(name, value)| (name.to_string(), value.to_string()))
                        .collect(),
                    entries: self.per_stream[id].0,
                    bytes: self.per_stream[id].1,
                })
                .collect(),
            needles: NeedleTruth {
                rare_token: count(0, RARE_TOKEN),
                substring: count(1, SUBSTRING),
                trace_ids: traces,
                common_token: count(2 + trace_ids.len(), COMMON_TOKEN),
            },
            level_counts: Level::ALL
                .iter()
                .filter(|level| self.per_level[level.index()] > 0)
                .map(|level| (level.as_str().to_string(), self.per_level[level.index()]))
                .collect(),
            json_filter: JsonFilterTruth {
                app: JSON_FILTER_APP.to_string(),
                field: JSON_FILTER_FIELD.to_string(),
                threshold: JSON_FILTER_THRESHOLD,
                entries: self.json_filter_entries,
            },
            top_streams: order,
            regex: TextCount {
                text: REGEX.to_string(),
                entries: self.regex_entries,
            },
        }
    }
}

/// The number right after `key` in a flat JSON line.
fn json_number_after(key: &Finder, line: &[u8]) -> Option<f64> {
    let start = key.find(line)? + key.needle().len();
    let rest = &line[start..];
    let rest = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
    let len = rest
        .iter()
        .take_while(|b| b.is_ascii_digit() || matches!(**b, b'.' | b'-' | b'e' | b'E' | b'+'))
        .count();
    std::str::from_utf8(&rest[..len]).ok()?.parse().ok()
}
