//! kill -9 in the middle of appends, flushes and merges: every acknowledged
//! entry is there after reopening.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use strata_storage::{FsyncPolicy, Storage};

use crate::common::*;

const CHILD_ENV: &str = "STRATA_STORAGE_CRASH_CHILD";
const TEST_NAME: &str = "crash::kill_minus_nine_loses_nothing_acknowledged";

fn crash_config(dir: &std::path::Path) -> strata_storage::StorageConfig {
    let mut cfg = config(dir);
    cfg.fsync = FsyncPolicy::Always;
    cfg.wal_segment_bytes = 4096;
    cfg
}

/// The child: appends forever, printing each acknowledged entry.
fn run_child(dir: &std::path::Path) {
    let storage = Storage::open(crash_config(dir)).unwrap();
    let mut stdout = std::io::stdout();
    for i in 0i64.. {
        let line = format!("entry {i}");
        storage
            .append(
                "t",
                &[push(r#"{app="crash"}"#, &[(BASE + i, line.as_str())])],
            )
            .unwrap();
        writeln!(stdout, "acked {i}").unwrap();
        stdout.flush().unwrap();
        if i % 37 == 0 {
            storage.flush().unwrap();
        }
        if i % 111 == 0 {
            storage.merge().unwrap();
        }
    }
}

#[test]
fn kill_minus_nine_loses_nothing_acknowledged() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        run_child(std::path::Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut acked = Vec::new();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = 0;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(number) = line.strip_prefix("acked ") {
                acked.push((round, number.parse::<i64>().unwrap()));
                seen += 1;
                if seen == 150 + round * 40 {
                    break;
                }
            }
        }
        assert_eq!(
            seen,
            150 + round * 40,
            "the child stopped acknowledging early"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        let storage = Storage::open(crash_config(dir.path())).unwrap();
        let lines: std::collections::BTreeSet<String> = scan_all(&storage, "t")
            .into_iter()
            .map(|row| row.2)
            .collect();
        for (_, number) in &acked {
            assert!(
                lines.contains(&format!("entry {number}")),
                "acknowledged entry {number} lost in round {round}"
            );
        }
    }
}
