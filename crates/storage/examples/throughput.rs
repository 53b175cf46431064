//! Rough single-process throughput check of the storage engine:
//! `cargo run --release -p strata-storage --example throughput -- [lines]`.
//! Appends synthetic lines over 100 streams, flushes, merges, then scans.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use strata_model::{Entry, Labels, PushStream};
use strata_storage::{FsyncPolicy, ScanRequest, Storage, StorageConfig, TokenClause};

fn main() {
    let lines: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StorageConfig {
        data_dir: dir.path().into(),
        fsync: if std::env::var_os("STRATA_FSYNC_NEVER").is_some() {
            FsyncPolicy::Never
        } else {
            FsyncPolicy::Always
        },
        flush_max_head_bytes: u64::MAX,
        merge_min_parts: 4,
        ..StorageConfig::default()
    };
    let storage = Storage::open(config).expect("open");
    let streams: Vec<Labels> = (0..100)
        .map(|i| {
            Labels::parse(&format!(r#"{{app="app{}", pod="pod-{i}"}}"#, i % 7)).expect("labels")
        })
        .collect();
    let base = 1_700_000_000_000_000_000i64;
    let mut raw_bytes = 0u64;
    let (mut append_secs, mut flush_secs) = (0.0, 0.0);
    let batch = 1000;
    for chunk in 0..lines / batch {
        let mut pushes = Vec::with_capacity(10);
        for s in 0..10 {
            let stream = (chunk * 10 + s) % streams.len();
            let entries: Vec<Entry> = (0..batch / 10)
                .map(|i| {
                    let n = chunk * batch + s * (batch / 10) + i;
                    let line = format!(
                        "level=info ts={n} caller=handler.go:{} msg=\"request done\" path=/api/v1/items/{} status={} duration={}ms user=u{}",
                        n % 300,
                        n % 9973,
                        if n % 97 == 0 { 500 } else { 200 },
                        n % 1000,
                        n % 5000
                    );
                    raw_bytes += line.len() as u64;
                    Entry { ts_ns: base + n as i64 * 1_000_000, line, metadata: vec![("trace_id".into(), format!("{:016x}", n.wrapping_mul(0x9e37_79b9)))] }
                })
                .collect();
            pushes.push(PushStream {
                labels: streams[stream].clone(),
                entries,
            });
        }
        let append_started = Instant::now();
        storage.append("fake", &pushes).expect("append");
        append_secs += append_started.elapsed().as_secs_f64();
        if (chunk + 1) % (lines / batch / 4).max(1) == 0 {
            let flush_started = Instant::now();
            storage.flush().expect("flush");
            flush_secs += flush_started.elapsed().as_secs_f64();
        }
    }
    let flush_started = Instant::now();
    storage.flush().expect("flush");
    flush_secs += flush_started.elapsed().as_secs_f64();
    let parts_before_merge = storage.stats().parts;
    let merge_started = Instant::now();
    storage.merge().expect("merge");
    let merge_secs = merge_started.elapsed().as_secs_f64();
    let stats = storage.stats();
    println!(
        "merge: {parts_before_merge} parts -> {} in {merge_secs:.2}s",
        stats.parts
    );
    println!(
        "append: {lines} lines, {:.0} lines/s, {:.1} MB/s raw (1 thread, {} fsyncs)",
        lines as f64 / append_secs,
        raw_bytes as f64 / append_secs / 1e6,
        stats.wal_fsyncs
    );
    println!(
        "flush: {:.2}s, {} parts, {:.1} MB on disk for {:.1} MB raw ({:.1}x)",
        flush_secs,
        stats.parts,
        stats.disk_bytes as f64 / 1e6,
        raw_bytes as f64 / 1e6,
        raw_bytes as f64 / stats.disk_bytes as f64
    );
    for (name, tokens) in [
        ("full scan", vec![]),
        (
            "rare token",
            vec![TokenClause {
                alternatives: vec![vec!["u4242".to_string()]],
            }],
        ),
    ] {
        for _ in 0..2 {
            let rows = AtomicU64::new(0);
            let bytes = AtomicU64::new(0);
            let request = ScanRequest {
                tenant: "fake",
                matchers: &[],
                start_ns: i64::MIN,
                end_ns: i64::MAX,
                line_tokens: &tokens,
                field_values: &[],
                timestamps_only: false,
            };
            let started = Instant::now();
            let scan = storage
                .scan(&request, &|block| {
                    rows.fetch_add(block.len() as u64, Ordering::Relaxed);
                    let mut total = 0;
                    for row in 0..block.len() {
                        total += block.line(row).len();
                    }
                    bytes.fetch_add(total as u64, Ordering::Relaxed);
                    ControlFlow::Continue(())
                })
                .expect("scan");
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{name}: {} rows, {:.2}s, {:.0} MB/s of lines, blocks scanned {} pruned by bloom {}",
                rows.into_inner(),
                secs,
                bytes.into_inner() as f64 / secs / 1e6,
                scan.blocks_scanned,
                scan.blocks_pruned_bloom
            );
        }
    }
}
