use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the storage counters (monotonic) and gauges (current values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageStats {
    pub wal_bytes_written: u64,
    pub wal_fsyncs: u64,
    pub wal_records: u64,
    pub entries_appended: u64,
    pub flushes: u64,
    pub parts_written: u64,
    pub merges: u64,
    pub parts_merged: u64,
    /// Blocks a merge copied as they were, without recompressing them.
    pub blocks_copied: u64,
    /// Gauge: line and metadata bytes held in memory (active and flushing heads).
    pub head_bytes: u64,
    /// Gauge: entries held in memory.
    pub head_entries: u64,
    /// Gauge: parts currently readable.
    pub parts: u64,
    /// Gauge: bytes of all readable parts.
    pub disk_bytes: u64,
    /// Gauge: bytes of block indexes (filters) held in memory for probing,
    /// by every storage of the process (at most `part::FILTER_CACHE_BYTES`).
    pub filter_cache_bytes: u64,
    pub corrupt_files: u64,
    pub blocks_scanned: u64,
    pub blocks_pruned_bloom: u64,
    pub blocks_pruned_time: u64,
}

/// The live counters behind [`StorageStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub wal_bytes_written: AtomicU64,
    pub wal_fsyncs: AtomicU64,
    pub wal_records: AtomicU64,
    pub entries_appended: AtomicU64,
    pub flushes: AtomicU64,
    pub parts_written: AtomicU64,
    pub merges: AtomicU64,
    pub parts_merged: AtomicU64,
    pub blocks_copied: AtomicU64,
    pub corrupt_files: AtomicU64,
    pub blocks_scanned: AtomicU64,
    pub blocks_pruned_bloom: AtomicU64,
    pub blocks_pruned_time: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

pub(crate) fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
