use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use strata_model::{Entry, LabelMatcher, MatchOp, PushStream};
use strata_storage::{FieldClause, ScanRequest, Storage, TokenClause};

use crate::common::*;

fn setup(dir: &std::path::Path) -> Storage {
    let storage = Storage::open(config(dir)).unwrap();
    storage
        .append(
            "t",
            &[
                push(
                    r#"{app="api", env="prod"}"#,
                    &[(BASE, "GET /users 200"), (BASE + DAY, "GET /orders 500")],
                ),
                push(
                    r#"{app="web", env="dev"}"#,
                    &[(BASE + 2 * DAY, "render ok")],
                ),
            ],
        )
        .unwrap();
    storage
}

#[test]
fn label_apis_respect_day_ranges_and_matchers() {
    let dir = tempfile::tempdir().unwrap();
    let storage = setup(dir.path());
    for flushed in [false, true] {
        if flushed {
            storage.flush().unwrap();
        }
        assert_eq!(
            storage.label_names("t", BASE, BASE + 3 * DAY).unwrap(),
            ["app", "env"]
        );
        assert_eq!(
            storage
                .label_values("t", "app", &[], BASE, BASE + 3 * DAY)
                .unwrap(),
            ["api", "web"]
        );
        assert_eq!(
            storage
                .label_values("t", "app", &[], BASE + 2 * DAY, BASE + 3 * DAY)
                .unwrap(),
            ["web"]
        );
        let prod = LabelMatcher::new("env", MatchOp::Eq, "prod").unwrap();
        assert_eq!(
            storage
                .label_values(
                    "t",
                    "app",
                    std::slice::from_ref(&prod),
                    BASE,
                    BASE + 3 * DAY
                )
                .unwrap(),
            ["api"]
        );
        let series = storage
            .series(
                "t",
                &[LabelMatcher::new("app", MatchOp::Re, ".+").unwrap()],
                BASE,
                BASE + 3 * DAY,
            )
            .unwrap();
        assert_eq!(
            series,
            [
                labels(r#"{app="api", env="prod"}"#),
                labels(r#"{app="web", env="dev"}"#)
            ]
        );
        assert!(
            storage
                .series("t", &[], BASE + 5 * DAY, BASE + 6 * DAY)
                .unwrap()
                .is_empty()
        );
        assert!(
            storage
                .label_names("other", BASE, BASE + 3 * DAY)
                .unwrap()
                .is_empty()
        );
        assert!(storage.label_names("t", BASE, BASE).unwrap().is_empty());
    }
}

#[test]
fn bloom_pruning_and_break() {
    let dir = tempfile::tempdir().unwrap();
    let storage = setup(dir.path());
    storage
        .append(
            "t",
            &[PushStream {
                labels: labels(r#"{app="api", env="prod"}"#),
                entries: vec![Entry {
                    ts_ns: BASE + 5,
                    line: "traced".into(),
                    metadata: vec![("trace_id".into(), "abc".into())],
                }],
            }],
        )
        .unwrap();
    storage.flush().unwrap();
    let tokens = |words: &[&str]| {
        vec![TokenClause {
            alternatives: vec![words.iter().map(|w| w.to_string()).collect()],
        }]
    };
    let (rows, stats) = scan_full(
        &storage,
        "t",
        &[],
        BASE,
        BASE + 3 * DAY,
        &tokens(&["orders"]),
        &[],
    );
    assert_eq!(
        rows.into_iter().map(|row| row.2).collect::<Vec<_>>(),
        ["GET /orders 500"]
    );
    assert!(stats.blocks_pruned_bloom >= 2, "{stats:?}");
    // Short numbers are not in the filters: they cannot prune (but match nothing wrongly).
    let (rows, stats) = scan_full(
        &storage,
        "t",
        &[],
        BASE,
        BASE + 3 * DAY,
        &tokens(&["500"]),
        &[],
    );
    assert_eq!(rows.len(), 4);
    assert_eq!(stats.blocks_pruned_bloom, 0, "{stats:?}");
    let (rows, stats) = scan_full(
        &storage,
        "t",
        &[],
        BASE,
        BASE + DAY,
        &tokens(&["nothing"]),
        &[],
    );
    assert!(rows.is_empty());
    assert_eq!(stats.blocks_scanned, 0);
    let fields = [FieldClause {
        key: "trace_id".into(),
        values: vec!["abc".into()],
    }];
    let (rows, _) = scan_full(&storage, "t", &[], BASE, BASE + 3 * DAY, &[], &fields);
    let traced: Vec<_> = rows.into_iter().filter(|row| !row.3.is_empty()).collect();
    assert_eq!(
        traced,
        [(
            labels(r#"{app="api", env="prod"}"#).to_string(),
            BASE + 5,
            "traced".to_string(),
            vec![("trace_id".to_string(), "abc".to_string())]
        )]
    );
    let (_, stats) = scan_full(&storage, "t", &[], BASE, BASE + DAY / 2, &[], &[]);
    assert!(
        stats.blocks_pruned_time >= 1 || stats.blocks_total == stats.blocks_scanned,
        "{stats:?}"
    );

    let calls = AtomicUsize::new(0);
    let request = ScanRequest {
        tenant: "t",
        matchers: &[],
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        line_tokens: &[],
        field_values: &[],
        timestamps_only: false,
    };
    storage
        .scan(&request, &|_| {
            calls.fetch_add(1, Ordering::Relaxed);
            ControlFlow::Break(())
        })
        .unwrap();
    assert!(
        calls.into_inner() <= 2,
        "break stops the scan (a parallel worker may finish one more block)"
    );
}

#[test]
fn background_flushes_by_age_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.flush_max_age = Duration::from_millis(10);
    let storage = Arc::new(Storage::open(cfg).unwrap());
    let tasks = storage.start_background();
    for i in 0..3 {
        storage
            .append("t", &[push(r#"{app="a"}"#, &[(BASE + i, "x")])])
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while storage.stats().head_entries > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(storage.stats().head_entries, 0, "background flush ran");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while storage.stats().merges == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    tasks.stop();
    let stats = storage.stats();
    assert!(stats.merges >= 1, "{stats:?}");
    assert_eq!(scan_all(&storage, "t").len(), 3);
}

#[test]
fn storage_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Storage>();
    assert_send_sync::<strata_storage::RowBlock>();
    assert_send_sync::<strata_storage::BackgroundTasks>();
}

#[test]
fn merge_drops_exact_duplicates_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).unwrap();
    for _ in 0..3 {
        storage
            .append(
                "t",
                &[push(
                    r#"{app="a"}"#,
                    &[(BASE + 5, "same"), (BASE + 5, "other"), (BASE + 1, "early")],
                )],
            )
            .unwrap();
        storage.flush().unwrap();
    }
    storage
        .append("t", &[push(r#"{app="a"}"#, &[(BASE + 3, "late arrival")])])
        .unwrap();
    storage.flush().unwrap();
    storage.merge().unwrap();
    assert_eq!(storage.stats().parts, 1);
    let delivered = std::sync::Mutex::new(Vec::new());
    let request = ScanRequest {
        tenant: "t",
        matchers: &[],
        start_ns: BASE,
        end_ns: BASE + 10,
        line_tokens: &[],
        field_values: &[],
        timestamps_only: false,
    };
    storage
        .scan(&request, &|block| {
            let mut delivered = delivered.lock().unwrap();
            for row in 0..block.len() {
                delivered.push((block.ts(row), block.line(row).to_string()));
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    let delivered = delivered.into_inner().unwrap();
    let expected = [
        (BASE + 1, "early"),
        (BASE + 3, "late arrival"),
        (BASE + 5, "other"),
        (BASE + 5, "same"),
    ];
    assert_eq!(delivered, expected.map(|(ts, line)| (ts, line.to_string())));
}

/// Appends, flushes, merges and scans at once: every scan sees every entry
/// acknowledged before it started.
#[test]
fn concurrent_scans_see_every_acknowledged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).unwrap();
    let acked = AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    const TOTAL: usize = 1500;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..TOTAL {
                let labels = format!(r#"{{app="s{}"}}"#, i % 5);
                let line = format!("e{i}");
                storage
                    .append(
                        "t",
                        &[push(
                            &labels,
                            &[(BASE + (i as i64 % 97) * 1000, line.as_str())],
                        )],
                    )
                    .unwrap();
                acked.store(i + 1, Ordering::SeqCst);
            }
            done.store(true, Ordering::SeqCst);
        });
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                storage.flush().unwrap();
                storage.merge().unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        scope.spawn(|| {
            let mut scans = 0;
            while !done.load(Ordering::SeqCst) || scans == 0 {
                let before = acked.load(Ordering::SeqCst);
                let lines: std::collections::HashSet<String> = scan_all(&storage, "t")
                    .into_iter()
                    .map(|row| row.2)
                    .collect();
                for i in 0..before {
                    assert!(
                        lines.contains(&format!("e{i}")),
                        "entry {i} acknowledged before the scan is missing"
                    );
                }
                scans += 1;
            }
        });
    });
    assert_eq!(scan_all(&storage, "t").len(), TOTAL);
}

#[test]
fn merges_copy_full_blocks_and_rewrite_overlaps() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).unwrap();
    let stream = r#"{app="copy"}"#;
    let lines: Vec<String> = (0..24).map(|i| format!("line {i}")).collect();
    // Three parts of full blocks (4 rows each): 0-7, 8-15, and 12-19, which
    // repeats rows 12-15 of the second.
    let batch = |range: std::ops::Range<usize>| -> Vec<(i64, &str)> {
        range
            .map(|i| (BASE + i as i64, lines[i].as_str()))
            .collect()
    };
    for range in [0..8, 8..16, 12..20] {
        storage.append("t", &[push(stream, &batch(range))]).unwrap();
        storage.flush().unwrap();
    }
    storage.merge().unwrap();
    let stats = storage.stats();
    assert_eq!(stats.merges, 1);
    // Copied: 0-3, 4-7, 8-11 and 16-19; the two 12-15 blocks are merged.
    assert_eq!(stats.blocks_copied, 4, "{stats:?}");
    let rows = scan_all(&storage, "t");
    assert_eq!(rows.len(), 20);
    assert_eq!(storage.stats().parts, 1);
}

#[test]
fn stream_summaries_count_head_rows_and_whole_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let storage = setup(dir.path());
    let summary = |matchers: &[LabelMatcher], start, end| {
        storage
            .stream_summaries("t", matchers, start, end)
            .unwrap()
            .into_iter()
            .map(|sum| (sum.labels.to_string(), sum.entries, sum.bytes, sum.chunks))
            .collect::<Vec<_>>()
    };
    let api = r#"{app="api", env="prod"}"#;
    let web = r#"{app="web", env="dev"}"#;
    // In the head: exact rows in the range.
    assert_eq!(
        summary(&[], BASE, BASE + 3 * DAY),
        [(api.to_string(), 2, 29, 1), (web.to_string(), 1, 9, 1)]
    );
    assert_eq!(summary(&[], BASE, BASE + 1), [(api.to_string(), 1, 14, 1)]);
    storage.flush().unwrap();
    // In parts: one block per stream and day, counted whole when it overlaps.
    assert_eq!(
        summary(&[], BASE, BASE + 3 * DAY),
        [(api.to_string(), 2, 29, 2), (web.to_string(), 1, 9, 1)]
    );
    let dev = LabelMatcher::new("env", MatchOp::Eq, "dev").unwrap();
    assert_eq!(
        summary(&[dev], BASE, BASE + 3 * DAY),
        [(web.to_string(), 1, 9, 1)]
    );
    assert!(summary(&[], BASE + 3 * DAY, BASE + 4 * DAY).is_empty());
}
