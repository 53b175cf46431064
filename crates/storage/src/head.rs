//! The head: rows not yet in parts, in memory, per tenant and stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use strata_model::{Entry, Labels};

use crate::row_block::RowBlock;

/// One stream's rows in the head, in append order.
#[derive(Debug)]
pub struct HeadStream {
    /// The rows; sorted by ts only if appended in order.
    pub rows: RowBlock,
    /// Smallest timestamp held.
    pub min_ts: i64,
    /// Largest timestamp held.
    pub max_ts: i64,
}

/// In-memory rows of every tenant. The active head takes appends; a flush
/// freezes it (moves it behind an `Arc`) and writes it out.
#[derive(Debug, Default)]
pub struct Head {
    /// tenant -> stream id -> rows.
    pub tenants: HashMap<String, HashMap<u64, HeadStream>>,
    /// Line and metadata bytes held.
    pub bytes: u64,
    /// Heap bytes the rows take, spare capacity included: what flushes and
    /// backpressure go by, so that the limit bounds real memory.
    pub memory: u64,
    /// Entries held.
    pub entries: u64,
    /// When the first row since the last flush arrived; drives age-based flushes.
    pub oldest: Option<Instant>,
}

impl Head {
    pub fn insert(
        &mut self,
        tenant: &str,
        stream_id: u64,
        labels: &Arc<Labels>,
        entries: &[Entry],
    ) {
        if entries.is_empty() {
            return;
        }
        if self.oldest.is_none() {
            self.oldest = Some(Instant::now());
        }
        let streams = match self.tenants.get_mut(tenant) {
            Some(streams) => streams,
            None => self.tenants.entry(tenant.to_string()).or_default(),
        };
        let stream = streams.entry(stream_id).or_insert_with(|| HeadStream {
            rows: RowBlock::new(stream_id, labels.clone()),
            min_ts: i64::MAX,
            max_ts: i64::MIN,
        });
        let before = stream.rows.heap_bytes();
        for entry in entries {
            stream.rows.push(
                entry.ts_ns,
                &entry.line,
                entry.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            stream.min_ts = stream.min_ts.min(entry.ts_ns);
            stream.max_ts = stream.max_ts.max(entry.ts_ns);
            self.bytes += entry.size_bytes() as u64;
        }
        self.memory += stream.rows.heap_bytes().saturating_sub(before);
        self.entries += entries.len() as u64;
    }

    /// Copies the rows of `stream_id` with `start <= ts < end` into blocks of
    /// at most `max_rows` rows, sorted by ts.
    pub fn copy_rows(
        &self,
        tenant: &str,
        stream_id: u64,
        start: i64,
        end: i64,
        max_rows: usize,
        out: &mut Vec<RowBlock>,
    ) {
        let Some(stream) = self
            .tenants
            .get(tenant)
            .and_then(|streams| streams.get(&stream_id))
        else {
            return;
        };
        if stream.max_ts < start || stream.min_ts >= end {
            return;
        }
        let rows = &stream.rows;
        let mut selected: Vec<usize> = (0..rows.len())
            .filter(|&row| (start..end).contains(&rows.ts(row)))
            .collect();
        if !selected.is_sorted_by_key(|&row| rows.ts(row)) {
            selected.sort_by_key(|&row| rows.ts(row));
        }
        for chunk in selected.chunks(max_rows.max(1)) {
            out.push(rows.take(chunk));
        }
    }
}

impl Head {
    /// Entries and line bytes of `stream_id` with `start <= ts < end`.
    pub fn count_rows(&self, tenant: &str, stream_id: u64, start: i64, end: i64) -> (u64, u64) {
        let Some(stream) = self
            .tenants
            .get(tenant)
            .and_then(|streams| streams.get(&stream_id))
        else {
            return (0, 0);
        };
        if stream.max_ts < start || stream.min_ts >= end {
            return (0, 0);
        }
        let rows = &stream.rows;
        (0..rows.len())
            .filter(|&row| (start..end).contains(&rows.ts(row)))
            .fold((0, 0), |(entries, bytes), row| {
                (entries + 1, bytes + rows.line(row).len() as u64)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_sorted_rows_in_range() {
        let labels = Arc::new(Labels::parse(r#"{a="1"}"#).unwrap());
        let mut head = Head::default();
        let entries: Vec<Entry> = [5, 1, 9, 3, 7]
            .iter()
            .map(|&ts| Entry::new(ts, format!("l{ts}")))
            .collect();
        head.insert("t", 42, &labels, &entries);
        let mut out = Vec::new();
        head.copy_rows("t", 42, 3, 9, 2, &mut out);
        let ts: Vec<i64> = out
            .iter()
            .flat_map(|block| (0..block.len()).map(|row| block.ts(row)))
            .collect();
        assert_eq!(ts, [3, 5, 7]);
        assert_eq!(out.len(), 2);
        assert_eq!(head.entries, 5);
        out.clear();
        head.copy_rows("other", 42, 0, 10, 2, &mut out);
        assert!(out.is_empty());
    }
}
