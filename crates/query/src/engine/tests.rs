//! Model test: random log queries through the indexed path (stream index,
//! time and bloom pruning, parallel scan, top-k collector) must give the same
//! answer as a naive scan over every entry ever appended.

use super::*;
use crate::pipeline::Pipeline;
use proptest::prelude::*;
use std::collections::BTreeSet;
use strata_model::{Entry, Labels, PushStream};
use strata_storage::{Storage, StorageConfig};

/// Every appended row: stream labels, ts, line, structured metadata.
type Rows = BTreeSet<(Labels, i64, String, Vec<(String, String)>)>;

const WORDS: [&str; 8] = [
    "alpha", "beta", "gamma", "delta", "error", "warn", "tok_1", "tok_22",
];

fn labels_for(stream: usize) -> Labels {
    let app = ["api", "worker"][stream % 2];
    Labels::parse(&format!(r#"{{app="{app}", pod="p{stream}"}}"#)).unwrap()
}

fn entry_strategy() -> impl Strategy<Value = (usize, i64, Vec<usize>, Option<u8>)> {
    (
        0usize..5,
        0i64..10_000,
        proptest::collection::vec(0usize..WORDS.len(), 1..5),
        proptest::option::of(0u8..3),
    )
}

fn make_entry(ts: i64, words: &[usize], trace: Option<u8>) -> Entry {
    let level = if words.contains(&4) { "error" } else { "info" };
    let text: Vec<&str> = words.iter().map(|w| WORDS[*w]).collect();
    let mut entry = Entry::new(
        ts,
        format!("level={level} msg=\"{}\" n={}", text.join(" "), ts % 97),
    );
    if let Some(trace) = trace {
        entry
            .metadata
            .push(("trace_id".to_string(), format!("t{trace}")));
    }
    entry
}

const QUERIES: [&str; 12] = [
    r#"{app="api"}"#,
    r#"{pod=~"p[13]"}"#,
    r#"{app=~".+"} |= " gamma ""#,
    r#"{app=~".+"} |= "tok_2""#,
    r#"{app="worker"} |= "error" != "beta""#,
    r#"{app=~".+"} |= " alpha " or " delta ""#,
    r#"{app=~".+"} |~ "tok_(1|22)""#,
    r#"{app=~".+", pod!="p0"} | logfmt | level="error""#,
    r#"{app=~".+"} | logfmt | n > 50"#,
    r#"{app=~".+"} | trace_id="t1""#,
    r#"{app="api"} |= " beta " | line_format "{{.pod}} {{__line__}}""#,
    r#"{app="nope"}"#,
];

fn naive(all: &Rows, query: &LogQuery<'_>) -> Vec<(Labels, i64, String)> {
    let pipeline = Pipeline::new(&query.expr.stages).unwrap();
    let mut found = Vec::new();
    for (labels, ts, line, metadata) in all {
        if *ts < query.start_ns || *ts >= query.end_ns {
            continue;
        }
        if !query
            .expr
            .matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name)))
        {
            continue;
        }
        let metadata: Vec<(&str, &str)> = metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(processed) = pipeline.process(*ts, line, labels, &metadata) {
            found.push((processed.labels, *ts, processed.line));
        }
    }
    found.sort_by(|a, b| (a.1, &a.0, &a.2).cmp(&(b.1, &b.0, &b.2)));
    found.dedup();
    if query.direction == Direction::Backward {
        found.reverse();
    }
    found.truncate(query.limit);
    found.sort_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
    found
}

fn flatten(result: &LogQueryResult) -> Vec<(Labels, i64, String)> {
    let mut rows: Vec<(Labels, i64, String)> = result
        .streams
        .iter()
        .flat_map(|s| {
            s.entries
                .iter()
                .map(|e| (s.labels.clone(), e.ts_ns, e.line.clone()))
        })
        .collect();
    rows.sort_by(|a, b| (&a.0, a.1, &a.2).cmp(&(&b.0, b.1, &b.2)));
    rows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn indexed_path_equals_naive_scan(
        batches in proptest::collection::vec(proptest::collection::vec(entry_strategy(), 1..60), 1..6),
        flush_after in proptest::collection::vec(any::<bool>(), 6),
        queries in proptest::collection::vec((0usize..QUERIES.len(), 0i64..10_000, 1i64..10_000, 1usize..50, any::<bool>()), 8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig { data_dir: dir.path().to_path_buf(), block_max_rows: 7, merge_min_parts: 2, fsync: strata_storage::FsyncPolicy::Never, ..StorageConfig::default() };
        let storage = Storage::open(config).unwrap();
        let mut all = Rows::new();
        for (index, batch) in batches.iter().enumerate() {
            let mut streams: Vec<PushStream> = Vec::new();
            for (stream, ts, words, trace) in batch {
                let entry = make_entry(*ts, words, *trace);
                all.insert((labels_for(*stream), entry.ts_ns, entry.line.clone(), entry.metadata.clone()));
                streams.push(PushStream { labels: labels_for(*stream), entries: vec![entry] });
            }
            storage.append("fake", &streams).unwrap();
            if flush_after[index] {
                storage.flush().unwrap();
            }
        }
        storage.merge().unwrap();
        for (query_index, start, length, limit, backward) in queries {
            let expr = strata_logql::parse_log_expr(QUERIES[query_index]).unwrap();
            let query = LogQuery { tenant: "fake", expr: &expr, start_ns: start, end_ns: start + length, limit, direction: if backward { Direction::Backward } else { Direction::Forward }, control: &crate::QueryControl::unlimited() };
            let expected = naive(&all, &query);
            let got = run_log_query(&storage, &query).unwrap();
            prop_assert_eq!(flatten(&got), expected, "query {} [{}, {}) limit {} backward {}", QUERIES[query_index], start, start + length, limit, backward);
            for stream in &got.streams {
                let ordered = stream.entries.windows(2).all(|w| if backward { w[0].ts_ns >= w[1].ts_ns } else { w[0].ts_ns <= w[1].ts_ns });
                prop_assert!(ordered, "entries out of order in {}", stream.labels);
            }
        }
    }
}

fn storage_in(dir: &std::path::Path) -> Storage {
    let config = StorageConfig {
        data_dir: dir.to_path_buf(),
        fsync: strata_storage::FsyncPolicy::Never,
        ..StorageConfig::default()
    };
    Storage::open(config).unwrap()
}

fn count(storage: &Storage, query: &str, limit: usize) -> usize {
    let expr = strata_logql::parse_log_expr(query).unwrap();
    let query = LogQuery {
        tenant: "fake",
        expr: &expr,
        start_ns: 0,
        end_ns: 100,
        limit,
        direction: Direction::Backward,
        control: &crate::QueryControl::unlimited(),
    };
    run_log_query(storage, &query)
        .unwrap()
        .streams
        .iter()
        .map(|s| s.entries.len())
        .sum()
}

/// An entry stored twice in one block (a retried push) counts once toward
/// the limit, in the head and in a part.
#[test]
fn duplicates_in_a_block_do_not_eat_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage_in(dir.path());
    let labels = Labels::parse(r#"{app="a"}"#).unwrap();
    let entries = vec![
        Entry::new(9, "older"),
        Entry::new(10, "dup"),
        Entry::new(10, "dup"),
    ];
    storage
        .append("fake", &[PushStream { labels, entries }])
        .unwrap();
    assert_eq!(count(&storage, r#"{app="a"}"#, 2), 2);
    storage.flush().unwrap();
    assert_eq!(count(&storage, r#"{app="a"}"#, 2), 2);
}

/// Entries that differ only in structured metadata are different entries,
/// before and after a merge.
#[test]
fn merge_keeps_entries_that_differ_in_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage_in(dir.path());
    for trace in ["t1", "t2"] {
        let mut entry = Entry::new(10, "same");
        entry
            .metadata
            .push(("trace_id".to_string(), trace.to_string()));
        storage
            .append(
                "fake",
                &[PushStream {
                    labels: Labels::parse(r#"{app="a"}"#).unwrap(),
                    entries: vec![entry],
                }],
            )
            .unwrap();
        storage.flush().unwrap();
    }
    assert_eq!(count(&storage, r#"{app="a"} | trace_id="t2""#, 10), 1);
    storage.merge().unwrap();
    assert_eq!(count(&storage, r#"{app="a"} | trace_id="t2""#, 10), 1);
    assert_eq!(count(&storage, r#"{app="a"}"#, 10), 2);
}

/// A metadata filter whose key is a stream label of some streams must not
/// prune those streams' blocks by the metadata bloom.
#[test]
fn metadata_hint_ignores_streams_with_that_label() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage_in(dir.path());
    let labels = Labels::parse(r#"{app="a", trace_id="t9"}"#).unwrap();
    storage
        .append(
            "fake",
            &[PushStream {
                labels,
                entries: vec![Entry::new(5, "label carries it")],
            }],
        )
        .unwrap();
    storage.flush().unwrap();
    assert_eq!(count(&storage, r#"{app="a"} | trace_id="t9""#, 10), 1);
}
