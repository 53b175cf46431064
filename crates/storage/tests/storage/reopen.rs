use std::fs;

use strata_storage::{FsyncPolicy, Storage};

use crate::common::*;

#[test]
fn wal_replay_restores_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).unwrap();
    storage
        .append(
            "t",
            &[push(
                r#"{app="a"}"#,
                &[(BASE + 2, "two"), (BASE + 1, "one")],
            )],
        )
        .unwrap();
    storage
        .append("u", &[push(r#"{app="b"}"#, &[(BASE, "other tenant")])])
        .unwrap();
    drop(storage);
    let storage = Storage::open(config(dir.path())).unwrap();
    let expected = [
        row(r#"{app="a"}"#, BASE + 1, "one"),
        row(r#"{app="a"}"#, BASE + 2, "two"),
    ];
    assert_eq!(
        scan_all(&storage, "t").into_iter().collect::<Vec<_>>(),
        expected
    );
    assert_eq!(scan_all(&storage, "u").len(), 1);
    assert_eq!(storage.stats().head_entries, 3);
}

#[test]
fn flushed_parts_survive_reopen_and_wal_is_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.fsync = FsyncPolicy::Always;
    let storage = Storage::open(cfg.clone()).unwrap();
    let entries: Vec<(i64, String)> = (0..20)
        .map(|i| (BASE + i * DAY / 4, format!("line {i}")))
        .collect();
    let borrowed: Vec<(i64, &str)> = entries
        .iter()
        .map(|(ts, line)| (*ts, line.as_str()))
        .collect();
    storage
        .append("t", &[push(r#"{app="a"}"#, &borrowed)])
        .unwrap();
    storage.flush().unwrap();
    let stats = storage.stats();
    assert_eq!(stats.head_entries, 0);
    assert_eq!(stats.parts, 5, "20 entries over 5 days");
    assert!(stats.wal_fsyncs > 0);
    drop(storage);
    let wal_files: Vec<_> = fs::read_dir(dir.path().join("wal")).unwrap().collect();
    assert_eq!(wal_files.len(), 1, "only the open segment is left");
    let storage = Storage::open(cfg).unwrap();
    assert_eq!(scan_all(&storage, "t").len(), 20);
    assert_eq!(storage.stats().head_entries, 0);
    assert_eq!(storage.stats().parts, 5);
}

#[test]
fn torn_wal_tail_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).unwrap();
    for i in 0..3 {
        storage
            .append("t", &[push(r#"{app="a"}"#, &[(BASE + i, "entry")])])
            .unwrap();
    }
    drop(storage);
    let mut segments: Vec<_> = fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    let last = segments.last().unwrap();
    let len = fs::metadata(last).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let storage = Storage::open(config(dir.path())).unwrap();
    let rows = scan_all(&storage, "t");
    assert_eq!(
        rows.iter().map(|row| row.1).collect::<Vec<_>>(),
        [BASE, BASE + 1]
    );
    assert_eq!(
        storage.stats().corrupt_files,
        0,
        "a torn tail is not corruption"
    );
    // New appends after the torn tail survive another reopen.
    storage
        .append("t", &[push(r#"{app="a"}"#, &[(BASE + 9, "after")])])
        .unwrap();
    drop(storage);
    let storage = Storage::open(config(dir.path())).unwrap();
    assert_eq!(scan_all(&storage, "t").len(), 3);
}

#[test]
fn concurrent_appends_share_fsyncs_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.fsync = FsyncPolicy::Always;
    cfg.wal_segment_bytes = 4096;
    let storage = Storage::open(cfg.clone()).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..6i64 {
            let storage = &storage;
            scope.spawn(move || {
                for i in 0..40i64 {
                    let labels = format!(r#"{{thread="{thread}"}}"#);
                    storage
                        .append("t", &[push(&labels, &[(BASE + i, "x")])])
                        .unwrap();
                }
            });
        }
    });
    let stats = storage.stats();
    assert_eq!(stats.entries_appended, 240);
    assert_eq!(stats.wal_records, 240);
    assert!(stats.wal_fsyncs <= stats.wal_records + 100, "{stats:?}");
    drop(storage);
    let storage = Storage::open(cfg).unwrap();
    assert_eq!(scan_all(&storage, "t").len(), 240);
}

#[test]
fn flush_and_merge_during_reopen_cycles_keep_everything() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..4i64 {
        let storage = Storage::open(config(dir.path())).unwrap();
        storage
            .append(
                "t",
                &[push(
                    r#"{app="a"}"#,
                    &[(BASE + round, "round"), (BASE + 100 + round, "again")],
                )],
            )
            .unwrap();
        if round % 2 == 0 {
            storage.flush().unwrap();
        }
        storage.merge().unwrap();
    }
    let storage = Storage::open(config(dir.path())).unwrap();
    assert_eq!(scan_all(&storage, "t").len(), 8);
    storage.flush().unwrap();
    storage.merge().unwrap();
    let stats = storage.stats();
    assert_eq!(stats.parts, 1, "{stats:?}");
    assert_eq!(scan_all(&storage, "t").len(), 8);
}

#[test]
fn a_data_dir_is_opened_once_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).unwrap();
    let err = Storage::open(config(dir.path()))
        .err()
        .expect("second open must fail");
    assert!(err.to_string().contains("in use"), "{err}");
    drop(storage);
    Storage::open(config(dir.path())).unwrap();
}
