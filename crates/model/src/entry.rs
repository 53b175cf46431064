use crate::Labels;

/// One log entry of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entry {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// The log line, without a trailing newline.
    pub line: String,
    /// Structured metadata: per-entry key/value pairs that are not labels
    /// (trace_id, user_id, ...). Keys follow the label-name rules.
    pub metadata: Vec<(String, String)>,
}

impl Entry {
    pub fn new(ts_ns: i64, line: impl Into<String>) -> Entry {
        Entry {
            ts_ns,
            line: line.into(),
            metadata: Vec::new(),
        }
    }

    /// Bytes this entry accounts for in limits and metrics: line plus metadata.
    pub fn size_bytes(&self) -> usize {
        let metadata: usize = self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.line.len() + metadata
    }
}

/// A batch of entries for one stream, as a push request carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushStream {
    pub labels: Labels,
    pub entries: Vec<Entry>,
}
