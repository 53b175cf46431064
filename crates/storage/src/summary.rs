//! Per-stream sizes from the block index, without decoding any block: what
//! Loki's `index/stats` and `index/volume` answer from its index.

use std::collections::HashMap;
use std::sync::Arc;

use strata_model::{LabelMatcher, Labels};

use crate::error::StorageError;
use crate::storage::{Storage, day_range, read_lock};

/// How much one stream holds in a time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub labels: Arc<Labels>,
    /// Entries: every row of each part block overlapping the range (a block
    /// is counted whole, as Loki counts whole chunks), plus the head's rows
    /// inside the range.
    pub entries: u64,
    /// Uncompressed line bytes of the same rows.
    pub bytes: u64,
    /// Part blocks counted, plus one per head holding rows of the stream.
    pub chunks: u64,
}

impl Storage {
    /// The summaries of the streams matching `matchers` that have rows in
    /// `[start_ns, end_ns)` (by block time ranges), sorted by labels. Rows
    /// that a concurrent flush moves from a head to a part may be counted
    /// twice.
    pub fn stream_summaries(
        &self,
        tenant: &str,
        matchers: &[LabelMatcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<StreamSummary>, StorageError> {
        let Some((first_day, last_day)) = day_range(start_ns, end_ns) else {
            return Ok(Vec::new());
        };
        let selected = {
            let index = read_lock(&self.index)?;
            match index.get(tenant) {
                Some(tenant_index) => tenant_index.select(matchers, first_day, last_day),
                None => return Ok(Vec::new()),
            }
        };
        let mut sums: HashMap<u64, StreamSummary> = HashMap::new();
        let mut add = |id: u64, labels: &Arc<Labels>, entries: u64, bytes: u64| {
            let sum = sums.entry(id).or_insert_with(|| StreamSummary {
                labels: labels.clone(),
                entries: 0,
                bytes: 0,
                chunks: 0,
            });
            sum.entries += entries;
            sum.bytes += bytes;
            sum.chunks += 1;
        };
        {
            let heads = read_lock(&self.heads)?;
            for head in
                std::iter::once(&heads.active).chain(heads.frozen.iter().map(|head| &**head))
            {
                for (id, labels) in &selected {
                    let (entries, bytes) = head.count_rows(tenant, *id, start_ns, end_ns);
                    if entries > 0 {
                        add(*id, labels, entries, bytes);
                    }
                }
            }
        }
        let wanted: HashMap<u64, &Arc<Labels>> =
            selected.iter().map(|(id, labels)| (*id, labels)).collect();
        let parts = read_lock(&self.parts)?;
        for part in parts.get(tenant).map(Vec::as_slice).unwrap_or_default() {
            if part.day < first_day || part.day > last_day {
                continue;
            }
            for block in &part.blocks {
                if block.max_ts < start_ns || block.min_ts >= end_ns {
                    continue;
                }
                if let Some(labels) = wanted.get(&block.stream_id) {
                    add(block.stream_id, labels, block.rows, block.line_bytes);
                }
            }
        }
        let mut summaries: Vec<StreamSummary> = sums.into_values().collect();
        summaries.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(summaries)
    }
}
