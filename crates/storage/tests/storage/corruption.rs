use std::fs;
use std::path::{Path, PathBuf};

use strata_storage::Storage;

use crate::common::*;

fn part_files(dir: &Path) -> Vec<PathBuf> {
    let mut parts = Vec::new();
    let mut stack = vec![dir.join("tenants")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "part") {
                parts.push(path);
            }
        }
    }
    parts.sort();
    parts
}

fn flip(path: &Path, offset_from_end: u64) {
    let mut bytes = fs::read(path).unwrap();
    let index = bytes.len() - offset_from_end as usize;
    bytes[index] ^= 0xff;
    fs::write(path, bytes).unwrap();
}

/// Two days, two parts.
fn two_parts(dir: &Path) {
    let storage = Storage::open(config(dir)).unwrap();
    storage
        .append(
            "t",
            &[push(
                r#"{app="a"}"#,
                &[(BASE, "day one"), (BASE + DAY, "day two")],
            )],
        )
        .unwrap();
    storage.flush().unwrap();
}

#[test]
fn part_with_flipped_index_bytes_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    two_parts(dir.path());
    let parts = part_files(dir.path());
    assert_eq!(parts.len(), 2);
    flip(&parts[0], 60);
    let storage = Storage::open(config(dir.path())).unwrap();
    let rows = scan_all(&storage, "t");
    assert_eq!(
        rows.into_iter().collect::<Vec<_>>(),
        [row(r#"{app="a"}"#, BASE + DAY, "day two")]
    );
    assert_eq!(storage.stats().corrupt_files, 1);
    assert_eq!(
        fs::read_dir(dir.path().join("quarantine")).unwrap().count(),
        1
    );
    assert!(!parts[0].exists());
}

#[test]
fn every_flipped_byte_of_a_part_is_caught_or_harmless() {
    let dir = tempfile::tempdir().unwrap();
    two_parts(dir.path());
    let part = part_files(dir.path())[0].clone();
    let original = fs::read(&part).unwrap();
    for index in 0..original.len() {
        let mut bytes = original.clone();
        bytes[index] ^= 0x10;
        fs::write(&part, &bytes).unwrap();
        // Open and scan a copy: must never panic; the block checksum or the
        // section checksums catch the flip.
        let storage = Storage::open(config(dir.path())).unwrap();
        let rows = scan_all(&storage, "t");
        assert!(
            rows.iter()
                .all(|row| row.2 == "day one" || row.2 == "day two")
        );
        assert!(rows.iter().any(|row| row.2 == "day two"));
        drop(storage);
        if !part.exists() {
            // quarantined: put it back for the next round
            fs::remove_dir_all(dir.path().join("quarantine")).unwrap();
        }
    }
    fs::write(&part, &original).unwrap();
}

#[test]
fn corrupt_block_is_skipped_during_scan() {
    let dir = tempfile::tempdir().unwrap();
    two_parts(dir.path());
    let parts = part_files(dir.path());
    // Byte 9 is inside the first block's data (after the 8-byte header).
    let mut bytes = fs::read(&parts[0]).unwrap();
    bytes[9] ^= 0xff;
    fs::write(&parts[0], bytes).unwrap();
    let storage = Storage::open(config(dir.path())).unwrap();
    assert_eq!(
        storage.stats().parts,
        2,
        "the index is intact, so the part opens"
    );
    let rows = scan_all(&storage, "t");
    assert_eq!(
        rows.into_iter().map(|row| row.2).collect::<Vec<_>>(),
        ["day two"]
    );
    assert_eq!(storage.stats().corrupt_files, 1);
}

#[test]
fn garbage_files_are_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    two_parts(dir.path());
    let day_dir = part_files(dir.path())[0].parent().unwrap().to_path_buf();
    fs::write(
        day_dir.join("0123.part"),
        b"not a part at all, just some bytes that are long enough to hold a footer",
    )
    .unwrap();
    fs::write(day_dir.join("short.part"), b"x").unwrap();
    fs::write(day_dir.join("leftover.part.tmp"), b"x").unwrap();
    fs::write(
        dir.path().join("wal").join("00000000000000ff.wal"),
        b"BADMAGIC................",
    )
    .unwrap();
    let storage = Storage::open(config(dir.path())).unwrap();
    assert_eq!(scan_all(&storage, "t").len(), 2);
    assert_eq!(storage.stats().corrupt_files, 3);
    assert!(!day_dir.join("leftover.part.tmp").exists());
    assert_eq!(
        fs::read_dir(dir.path().join("quarantine")).unwrap().count(),
        3
    );
}

#[test]
fn a_corrupt_block_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    two_parts(dir.path());
    let parts = part_files(dir.path());
    let mut bytes = fs::read(&parts[1]).unwrap();
    bytes[10] ^= 0xff;
    fs::write(&parts[1], bytes).unwrap();
    let storage = Storage::open(config(dir.path())).unwrap();
    for _ in 0..3 {
        assert_eq!(scan_all(&storage, "t").len(), 1);
    }
    assert_eq!(storage.stats().corrupt_files, 1);
}

/// A part with an unreadable block is never merged (that would drop the
/// block for good), and failed merges leave no temp files behind.
#[test]
fn merge_skips_a_part_with_a_bad_block_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = Storage::open(config(dir.path())).unwrap();
        for (index, line) in ["first", "second"].iter().enumerate() {
            storage
                .append("t", &[push(r#"{app="a"}"#, &[(BASE + index as i64, line)])])
                .unwrap();
            storage.flush().unwrap();
        }
    }
    let parts = part_files(dir.path());
    assert_eq!(parts.len(), 2);
    // Byte 9 is inside the first block's data, past the 8-byte header.
    let mut bytes = fs::read(&parts[0]).unwrap();
    bytes[9] ^= 0xff;
    fs::write(&parts[0], bytes).unwrap();
    let storage = Storage::open(strata_storage::StorageConfig {
        merge_min_parts: 2,
        ..config(dir.path())
    })
    .unwrap();
    for _ in 0..5 {
        let _ = storage.merge();
    }
    let mut leftovers = Vec::new();
    let mut stack = vec![dir.path().join("tenants")];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".tmp") {
                leftovers.push(path);
            }
        }
    }
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Both parts are still there: the damaged one was not merged away.
    assert_eq!(part_files(dir.path()).len(), 2);
}
