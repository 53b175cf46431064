//! Micro-benchmarks of the storage hot paths: block encode and decode, bloom
//! build and probe, WAL append (through `Storage::append`, no fsync).
//!
//! `cargo bench -p strata-storage` (CI compiles them with --all-targets).

use std::hint::black_box;

use strata_model::{Entry, Labels, PushStream};
use strata_storage::hot_paths;
use strata_storage::{FsyncPolicy, Storage, StorageConfig};

fn main() {
    divan::main();
}

/// Lines shaped like HDFS and JSON training logs, with varying values.
fn sample_lines(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            if i % 2 == 0 {
                format!(
                    "081109 {:06} {} INFO dfs.DataNode$PacketResponder: Received block blk_{}{} of size 67108864 from /10.250.{}.{}",
                    203_615 + i,
                    148 + i % 50,
                    -1_608_999_687_919_862_906i64 + i as i64 * 7919,
                    i % 10,
                    i % 250,
                    (i * 7) % 250
                )
            } else {
                format!(
                    r#"{{"timestamp": "2026-11-20T00:00:{:02}.{:06}Z", "level": "INFO", "message": "Batch completed", "job_id": "job-a609f0", "step": {}, "loss": {:.6}, "learning_rate": 0.00091519}}"#,
                    i % 60,
                    (i * 7919) % 1_000_000,
                    75_800 + i,
                    3.0 / (1.0 + i as f64 / 1000.0)
                )
            }
        })
        .collect()
}

#[divan::bench(args = [1, 3])]
fn block_encode(bencher: divan::Bencher, level: i32) {
    let block = hot_paths::block_of(&sample_lines(4096));
    bencher
        .counter(divan::counter::BytesCount::new(block.line_bytes()))
        .bench(|| hot_paths::encode(black_box(&block), level));
}

#[divan::bench(args = [false, true])]
fn block_decode(bencher: divan::Bencher, timestamps_only: bool) {
    let block = hot_paths::block_of(&sample_lines(4096));
    let bytes = hot_paths::encode(&block, 1);
    bencher
        .counter(divan::counter::BytesCount::new(block.line_bytes()))
        .bench(|| hot_paths::decode(black_box(&bytes), timestamps_only));
}

/// A whole block's lines from one zstd frame (version 1 parts).
#[divan::bench]
fn block_decode_unframed(bencher: divan::Bencher) {
    let block = hot_paths::block_of(&sample_lines(4096));
    let bytes = hot_paths::encode_unframed(&block, 1);
    bencher
        .counter(divan::counter::BytesCount::new(block.line_bytes()))
        .bench(|| hot_paths::decode(black_box(&bytes), false));
}

#[divan::bench]
fn bloom_build(bencher: divan::Bencher) {
    let hashes = hot_paths::token_hashes(&sample_lines(4096));
    bencher
        .counter(divan::counter::ItemsCount::new(hashes.len()))
        .bench(|| hot_paths::build_bloom(black_box(&hashes)));
}

#[divan::bench]
fn bloom_probe(bencher: divan::Bencher) {
    let lines = sample_lines(4096);
    let bloom = hot_paths::build_bloom(&hot_paths::token_hashes(&lines));
    let probes: Vec<u64> = (0..1000u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    bencher
        .counter(divan::counter::ItemsCount::new(probes.len()))
        .bench(|| hot_paths::probe_bloom(black_box(&bloom), &probes));
}

#[divan::bench(sample_count = 20)]
fn wal_append(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = Storage::open(StorageConfig {
        data_dir: dir.path().to_path_buf(),
        fsync: FsyncPolicy::Never,
        ..StorageConfig::default()
    })
    .expect("open storage");
    let labels = Labels::parse(r#"{app="bench"}"#).expect("labels");
    let lines = sample_lines(2000);
    let mut ts = 0i64;
    bencher
        .counter(divan::counter::ItemsCount::new(lines.len()))
        .bench_local(|| {
            let entries = lines
                .iter()
                .map(|line| {
                    ts += 1;
                    Entry::new(ts, line.clone())
                })
                .collect();
            storage
                .append(
                    "fake",
                    &[PushStream {
                        labels: labels.clone(),
                        entries,
                    }],
                )
                .expect("append");
        });
}

#[divan::bench]
fn tokenize_and_hash(bencher: divan::Bencher) {
    let lines = sample_lines(4096);
    let bytes: usize = lines.iter().map(String::len).sum();
    bencher
        .counter(divan::counter::BytesCount::new(bytes))
        .bench(|| hot_paths::token_hashes(black_box(&lines)));
}
