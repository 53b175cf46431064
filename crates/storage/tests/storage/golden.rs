//! Golden files: a data directory written by format version 1 (one part,
//! one WAL segment) must keep reading back to the same rows. Regenerate with
//! `STRATA_WRITE_GOLDEN=1 cargo test -p strata-storage golden` only when the
//! format version changes (and keep the old directory).

use std::fs;
use std::path::{Path, PathBuf};

use strata_model::{Entry, PushStream};
use strata_storage::Storage;

use crate::common::*;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn streams(lines: &[(i64, &str)], trace: &str) -> Vec<PushStream> {
    let entries = lines
        .iter()
        .map(|&(ts, line)| Entry {
            ts_ns: ts,
            line: line.to_string(),
            metadata: vec![("trace_id".to_string(), trace.to_string())],
        })
        .collect();
    vec![PushStream {
        labels: labels(r#"{app="golden", env="test"}"#),
        entries,
    }]
}

fn expected() -> Vec<Row> {
    let labels = labels(r#"{app="golden", env="test"}"#).to_string();
    let trace = |t: &str| vec![("trace_id".to_string(), t.to_string())];
    vec![
        (
            labels.clone(),
            BASE + 1,
            "flushed line one".to_string(),
            trace("p1"),
        ),
        (
            labels.clone(),
            BASE + 2,
            "flushed line two".to_string(),
            trace("p1"),
        ),
        (labels, BASE + 3, "wal line three".to_string(), trace("w1")),
    ]
}

#[test]
fn golden_v1_reads_back() {
    if std::env::var_os("STRATA_WRITE_GOLDEN").is_some() {
        let dir = golden_dir();
        let _ = fs::remove_dir_all(&dir);
        let mut cfg = config(&dir);
        cfg.block_max_rows = 8192;
        let storage = Storage::open(cfg).unwrap();
        storage
            .append(
                "fake",
                &streams(
                    &[
                        (BASE + 2, "flushed line two"),
                        (BASE + 1, "flushed line one"),
                    ],
                    "p1",
                ),
            )
            .unwrap();
        storage.flush().unwrap();
        storage
            .append("fake", &streams(&[(BASE + 3, "wal line three")], "w1"))
            .unwrap();
        drop(storage);
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&golden_dir(), dir.path());
    let storage = Storage::open(config(dir.path())).unwrap();
    assert_eq!(storage.stats().corrupt_files, 0);
    assert_eq!(storage.stats().parts, 1);
    assert_eq!(
        scan_all(&storage, "fake").into_iter().collect::<Vec<_>>(),
        expected()
    );
}

/// Version 2's rows: one block of 3,000 lines (~300 KiB of text), so its line
/// column is cut into frames, with a trace id on every row.
fn framed_streams() -> Vec<PushStream> {
    let entries = (0..3_000i64)
        .map(|row| Entry {
            ts_ns: BASE + row,
            line: format!(
                "{row:05} GET /v1/models/resnet-{}:predict status={} latency_ms={} worker={}",
                row % 7,
                200 + row % 3,
                row * 37 % 1000,
                "w".repeat((row % 40) as usize)
            ),
            metadata: vec![("trace_id".to_string(), format!("{:08x}", row * 7919))],
        })
        .collect();
    vec![PushStream {
        labels: labels(r#"{app="golden", env="frames"}"#),
        entries,
    }]
}

#[test]
fn golden_v2_reads_back() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v2");
    if std::env::var_os("STRATA_WRITE_GOLDEN").is_some() {
        let _ = fs::remove_dir_all(&dir);
        let mut cfg = config(&dir);
        cfg.block_max_rows = 8192;
        let storage = Storage::open(cfg).unwrap();
        storage.append("fake", &framed_streams()).unwrap();
        storage.flush().unwrap();
        drop(storage);
    }
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&dir, copy.path());
    let storage = Storage::open(config(copy.path())).unwrap();
    assert_eq!(storage.stats().corrupt_files, 0);
    assert_eq!(storage.stats().parts, 1);
    let stream = labels(r#"{app="golden", env="frames"}"#).to_string();
    let expected: std::collections::BTreeSet<Row> = framed_streams()[0]
        .entries
        .iter()
        .map(|entry| {
            (
                stream.clone(),
                entry.ts_ns,
                entry.line.clone(),
                entry.metadata.clone(),
            )
        })
        .collect();
    assert_eq!(scan_all(&storage, "fake"), expected);
}
