//! The server's own Prometheus metrics, written in the text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use strata_storage::StorageStats;

/// Upper bounds (seconds) of the query-duration histogram buckets.
const QUERY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

/// Counters bumped by the handlers.
#[derive(Default)]
pub struct Metrics {
    pub push_requests: AtomicU64,
    pub push_failures: AtomicU64,
    pub ingested_lines: AtomicU64,
    pub ingested_bytes: AtomicU64,
    pub rejected_entries: AtomicU64,
    /// Open tail WebSockets.
    pub tails: AtomicU64,
    /// Pushes that tails fell too far behind to receive.
    pub tail_dropped_pushes: AtomicU64,
    /// Queries stopped because their client went away.
    pub queries_cancelled: AtomicU64,
    queries: AtomicU64,
    query_failures: AtomicU64,
    query_seconds_micros: AtomicU64,
    query_buckets: [AtomicU64; QUERY_BUCKETS.len()],
}

impl Metrics {
    /// Records one query's duration and outcome.
    pub fn observe_query(&self, seconds: f64, ok: bool) {
        self.queries.fetch_add(1, Relaxed);
        if !ok {
            self.query_failures.fetch_add(1, Relaxed);
        }
        self.query_seconds_micros
            .fetch_add((seconds * 1e6) as u64, Relaxed);
        for (bound, bucket) in QUERY_BUCKETS.iter().zip(&self.query_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
    }

    /// The exposition text: these counters plus the storage's.
    pub fn render(&self, storage: &StorageStats) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "strata_push_requests_total",
            "Push requests received.",
            self.push_requests.load(Relaxed),
        );
        counter(
            "strata_push_failures_total",
            "Push requests answered with an error.",
            self.push_failures.load(Relaxed),
        );
        counter(
            "strata_ingested_lines_total",
            "Log lines ingested and acknowledged.",
            self.ingested_lines.load(Relaxed),
        );
        counter(
            "strata_ingested_bytes_total",
            "Bytes of lines and metadata ingested.",
            self.ingested_bytes.load(Relaxed),
        );
        counter(
            "strata_rejected_entries_total",
            "Streams or entries refused by validation.",
            self.rejected_entries.load(Relaxed),
        );
        counter(
            "strata_queries_cancelled_total",
            "Queries stopped because their client went away.",
            self.queries_cancelled.load(Relaxed),
        );
        counter(
            "strata_tail_dropped_pushes_total",
            "Pushes that live tails fell too far behind to receive.",
            self.tail_dropped_pushes.load(Relaxed),
        );
        counter(
            "strata_wal_bytes_written_total",
            "Bytes written to the WAL.",
            storage.wal_bytes_written,
        );
        counter(
            "strata_wal_fsyncs_total",
            "fsync calls on the WAL.",
            storage.wal_fsyncs,
        );
        counter(
            "strata_wal_records_total",
            "Records written to the WAL.",
            storage.wal_records,
        );
        counter(
            "strata_flushes_total",
            "Head flushes to parts.",
            storage.flushes,
        );
        counter(
            "strata_parts_written_total",
            "Parts written by flushes and merges.",
            storage.parts_written,
        );
        counter("strata_merges_total", "Merges of parts.", storage.merges);
        counter(
            "strata_parts_merged_total",
            "Parts consumed by merges.",
            storage.parts_merged,
        );
        counter(
            "strata_blocks_copied_total",
            "Blocks merges copied without recompressing them.",
            storage.blocks_copied,
        );
        counter(
            "strata_corrupt_files_total",
            "Corrupt files or blocks found and set aside.",
            storage.corrupt_files,
        );
        counter(
            "strata_blocks_scanned_total",
            "Blocks decompressed by queries.",
            storage.blocks_scanned,
        );
        counter(
            "strata_blocks_pruned_bloom_total",
            "Blocks skipped thanks to bloom filters.",
            storage.blocks_pruned_bloom,
        );
        counter(
            "strata_blocks_pruned_time_total",
            "Blocks skipped by time range.",
            storage.blocks_pruned_time,
        );
        let mut gauge = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            "strata_head_bytes",
            "Bytes held in the in-memory head.",
            storage.head_bytes,
        );
        gauge(
            "strata_head_entries",
            "Entries held in the in-memory head.",
            storage.head_entries,
        );
        gauge("strata_parts", "Parts on disk.", storage.parts);
        gauge(
            "strata_tails",
            "Open live tails (WebSockets).",
            self.tails.load(Relaxed),
        );
        gauge(
            "strata_filter_cache_bytes",
            "Bytes of block filters held in memory for probing.",
            storage.filter_cache_bytes,
        );
        gauge(
            "strata_disk_bytes",
            "Bytes of parts on disk.",
            storage.disk_bytes,
        );
        let name = "strata_query_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to answer queries.\n# TYPE {name} histogram"
        );
        for (bound, bucket) in QUERY_BUCKETS.iter().zip(&self.query_buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Relaxed)
            );
        }
        let count = self.queries.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.query_seconds_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
        let name = "strata_query_failures_total";
        let _ = writeln!(
            out,
            "# HELP {name} Queries answered with an error.\n# TYPE {name} counter\n{name} {}",
            self.query_failures.load(Relaxed)
        );
        out
    }
}
