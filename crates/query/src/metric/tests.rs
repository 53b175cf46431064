//! Metric queries over a real storage, with hand-computed answers.

use super::*;
use crate::pipeline::Pipeline;
use strata_logql::Expr;
use strata_model::{Entry, PushStream};
use strata_storage::StorageConfig;

pub(super) const S: i64 = 1_000_000_000;

pub(super) fn open(dir: &std::path::Path, block_max_rows: usize) -> Storage {
    let config = StorageConfig {
        data_dir: dir.to_path_buf(),
        block_max_rows,
        fsync: strata_storage::FsyncPolicy::Never,
        ..StorageConfig::default()
    };
    Storage::open(config).unwrap()
}

/// (stream labels, ts, line, metadata)
pub(super) type Row = (Labels, i64, String, Vec<(String, String)>);

fn row(labels: &str, ts: i64, line: &str) -> Row {
    (
        Labels::parse(labels).unwrap(),
        ts,
        line.to_string(),
        Vec::new(),
    )
}

pub(super) fn append(storage: &Storage, rows: &[Row]) {
    let streams: Vec<PushStream> = rows
        .iter()
        .map(|(labels, ts, line, metadata)| {
            let mut entry = Entry::new(*ts, line.as_str());
            entry.metadata = metadata.clone();
            PushStream {
                labels: labels.clone(),
                entries: vec![entry],
            }
        })
        .collect();
    storage.append("fake", &streams).unwrap();
}

pub(super) fn metric_expr(query: &str) -> MetricExpr {
    match strata_logql::parse_expr(query).unwrap() {
        Expr::Metric(expr) => expr,
        Expr::Log(_) => panic!("not a metric query: {query}"),
    }
}

pub(super) fn run(storage: &Storage, query: &str, steps: Steps) -> Result<MetricData, QueryError> {
    let expr = metric_expr(query);
    let query = MetricQuery {
        tenant: "fake",
        expr: &expr,
        steps,
        max_series: 1000,
        control: &crate::QueryControl::unlimited(),
    };
    run_metric_query(storage, &query).map(|result| result.data)
}

/// An instant query's samples as (labels text, value).
fn instant(storage: &Storage, query: &str, at: i64) -> Vec<(String, f64)> {
    match run(storage, query, Steps::instant(at)).unwrap() {
        MetricData::Vector { samples, .. } => samples
            .into_iter()
            .map(|(labels, value)| (labels.to_string(), value))
            .collect(),
        other => panic!("not a vector: {other:?}"),
    }
}

/// A range query's series as (labels text, [(seconds, value)]).
fn range(
    storage: &Storage,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Vec<(String, Vec<(i64, f64)>)> {
    match run(storage, query, Steps::range(start, end, step).unwrap()).unwrap() {
        MetricData::Matrix(series) => series
            .into_iter()
            .map(|s| {
                (
                    s.labels.to_string(),
                    s.points.into_iter().map(|(ts, v)| (ts / S, v)).collect(),
                )
            })
            .collect(),
        other => panic!("not a matrix: {other:?}"),
    }
}

fn pairs(expected: &[(&str, f64)]) -> Vec<(String, f64)> {
    expected.iter().map(|(l, v)| (l.to_string(), *v)).collect()
}

/// Three lines of `{app="a"}` at 10s, 20s, 30s and one of `{app="b"}` at 20s.
fn small_storage(dir: &std::path::Path) -> Storage {
    let storage = open(dir, 8192);
    append(
        &storage,
        &[
            row(r#"{app="a"}"#, 10 * S, "level=info n=1"),
            row(r#"{app="a"}"#, 20 * S, "level=error n=5"),
            row(r#"{app="a"}"#, 30 * S, "level=info n=bad"),
            row(r#"{app="b"}"#, 20 * S, "level=info n=2.5"),
        ],
    );
    storage
}

#[test]
fn instant_windows_include_t_and_exclude_t_minus_range() {
    let dir = tempfile::tempdir().unwrap();
    let storage = small_storage(dir.path());
    let query = r#"count_over_time({app="a"}[20s])"#;
    assert_eq!(
        instant(&storage, query, 30 * S),
        pairs(&[(r#"{app="a"}"#, 2.0)])
    );
    assert_eq!(
        instant(&storage, query, 30 * S - 1),
        pairs(&[(r#"{app="a"}"#, 2.0)])
    );
    assert_eq!(
        instant(&storage, query, 30 * S + 1),
        pairs(&[(r#"{app="a"}"#, 2.0)])
    );
    assert_eq!(
        instant(&storage, query, 10 * S),
        pairs(&[(r#"{app="a"}"#, 1.0)])
    );
    assert!(instant(&storage, query, 9 * S).is_empty());
    assert!(instant(&storage, query, 50 * S).is_empty());
    assert_eq!(
        instant(&storage, query, 50 * S - 1),
        pairs(&[(r#"{app="a"}"#, 1.0)])
    );
    // offset moves the window back.
    let shifted = r#"count_over_time({app="a"}[20s] offset 10s)"#;
    assert_eq!(
        instant(&storage, shifted, 40 * S),
        pairs(&[(r#"{app="a"}"#, 2.0)])
    );
    assert_eq!(
        instant(&storage, shifted, 30 * S),
        pairs(&[(r#"{app="a"}"#, 2.0)])
    );
    assert_eq!(
        instant(&storage, shifted, 20 * S),
        pairs(&[(r#"{app="a"}"#, 1.0)])
    );
}

#[test]
fn range_queries_step_and_skip_empty_windows() {
    let dir = tempfile::tempdir().unwrap();
    let storage = small_storage(dir.path());
    // Steps 0, 10, ..., 60; windows (t-10, t]: one line each at 10, 20, 30.
    let got = range(&storage, r#"rate({app="a"}[10s])"#, 0, 60 * S, 10 * S);
    assert_eq!(
        got,
        [(
            r#"{app="a"}"#.to_string(),
            vec![(10, 0.1), (20, 0.1), (30, 0.1)]
        )]
    );
    // A range longer than the step counts a line in several windows.
    let got = range(
        &storage,
        r#"count_over_time({app=~".+"}[25s])"#,
        10 * S,
        50 * S,
        10 * S,
    );
    assert_eq!(
        got,
        [
            (
                r#"{app="a"}"#.to_string(),
                vec![(10, 1.0), (20, 2.0), (30, 3.0), (40, 2.0), (50, 1.0)]
            ),
            (
                r#"{app="b"}"#.to_string(),
                vec![(20, 1.0), (30, 1.0), (40, 1.0)]
            ),
        ]
    );
    // A range shorter than the step leaves lines between windows out.
    let got = range(
        &storage,
        r#"count_over_time({app="a"}[5s])"#,
        5 * S,
        35 * S,
        15 * S,
    );
    assert_eq!(got, [(r#"{app="a"}"#.to_string(), vec![(20, 1.0)])]);
    // The last step is the last one not after end.
    let got = range(
        &storage,
        r#"count_over_time({app="a"}[10s])"#,
        0,
        29 * S,
        10 * S,
    );
    assert_eq!(
        got,
        [(r#"{app="a"}"#.to_string(), vec![(10, 1.0), (20, 1.0)])]
    );
}

#[test]
fn sum_by_pushdown_matches_plain_aggregation() {
    let dir = tempfile::tempdir().unwrap();
    let storage = small_storage(dir.path());
    let pushed = range(
        &storage,
        r#"sum by (level) (count_over_time({app=~".+"} | logfmt [20s]))"#,
        0,
        40 * S,
        10 * S,
    );
    // `* 1` stops the pushdown: same numbers through the vector aggregation.
    let plain = range(
        &storage,
        r#"sum by (level) (count_over_time({app=~".+"} | logfmt [20s]) * 1)"#,
        0,
        40 * S,
        10 * S,
    );
    assert_eq!(pushed, plain);
    assert_eq!(
        pushed,
        [
            (r#"{level="error"}"#.to_string(), vec![(20, 1.0), (30, 1.0)]),
            (
                r#"{level="info"}"#.to_string(),
                vec![(10, 1.0), (20, 2.0), (30, 2.0), (40, 1.0)]
            ),
        ]
    );
    assert_eq!(
        instant(&storage, r#"sum(count_over_time({app=~".+"}[1m]))"#, 30 * S),
        pairs(&[("{}", 4.0)])
    );
}

#[test]
fn bytes_and_absent() {
    let dir = tempfile::tempdir().unwrap();
    let storage = small_storage(dir.path());
    assert_eq!(
        instant(&storage, r#"bytes_over_time({app="a"}[1m])"#, 30 * S),
        pairs(&[(r#"{app="a"}"#, 45.0)])
    );
    assert_eq!(
        instant(&storage, r#"bytes_rate({app="b"}[10s])"#, 20 * S),
        pairs(&[(r#"{app="b"}"#, 1.6)])
    );
    let got = range(
        &storage,
        r#"absent_over_time({app="a", job=~".*"} |= "error" [10s])"#,
        10 * S,
        40 * S,
        10 * S,
    );
    assert_eq!(
        got,
        [(
            r#"{app="a"}"#.to_string(),
            vec![(10, 1.0), (30, 1.0), (40, 1.0)]
        )]
    );
}

#[test]
fn unwrap_errors_fail_unless_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let storage = small_storage(dir.path());
    let err = run(
        &storage,
        r#"sum_over_time({app="a"} | logfmt | unwrap n [1m])"#,
        Steps::instant(30 * S),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("pipeline error: 'SampleExtractionErr' for series: '{"),
        "{message}"
    );
    assert!(
        message.contains(r#"__error__!="SampleExtractionErr""#),
        "{message}"
    );
    assert!(!message.contains('\n'));
    // A window that does not reach the bad line does not fail.
    assert_eq!(
        instant(
            &storage,
            r#"sum_over_time({app="a"} | logfmt | unwrap n [15s])"#,
            20 * S
        ),
        pairs(&[
            (r#"{app="a", level="error"}"#, 5.0),
            (r#"{app="a", level="info"}"#, 1.0)
        ])
    );
    // Filtering __error__ after the unwrap skips the bad sample.
    assert_eq!(
        instant(
            &storage,
            r#"sum by (app) (sum_over_time({app=~".+"} | logfmt | unwrap n | __error__="" [1m]))"#,
            30 * S
        ),
        pairs(&[(r#"{app="a"}"#, 6.0), (r#"{app="b"}"#, 2.5)])
    );
    assert_eq!(
        instant(
            &storage,
            r#"avg_over_time({app="a"} | logfmt | unwrap n | __error__="" [1m]) by (app)"#,
            30 * S
        ),
        pairs(&[(r#"{app="a"}"#, 3.0)])
    );
    // A parser error fails a count too, as in Loki.
    append(&storage, &[row(r#"{app="j"}"#, 5 * S, "{not json")]);
    let err = run(
        &storage,
        r#"count_over_time({app="j"} | json [1m])"#,
        Steps::instant(30 * S),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("pipeline error: 'JSONParserErr'"),
        "{err}"
    );
    assert!(
        run(
            &storage,
            r#"count_over_time({app="j"} | json | __error__="" [1m])"#,
            Steps::instant(30 * S)
        )
        .is_ok()
    );
}

#[test]
fn literals_scalars_and_type_errors() {
    let dir = tempfile::tempdir().unwrap();
    let storage = small_storage(dir.path());
    assert_eq!(
        run(&storage, "1 + 2 * 3", Steps::instant(5 * S)).unwrap(),
        MetricData::Scalar {
            ts_ns: 5 * S,
            value: 7.0
        }
    );
    assert_eq!(
        instant(&storage, "vector(1) + 2", 5 * S),
        pairs(&[("{}", 3.0)])
    );
    assert_eq!(
        instant(
            &storage,
            r#"sum(count_over_time({app=~".+"}[1m])) / 8"#,
            30 * S
        ),
        pairs(&[("{}", 0.5)])
    );
    assert_eq!(
        instant(&storage, r#"count_over_time({app="a"}[1m]) / 0"#, 30 * S),
        pairs(&[(r#"{app="a"}"#, f64::INFINITY)])
    );
    assert_eq!(
        instant(&storage, "-vector(2) ^ 2", 5 * S),
        pairs(&[("{}", -4.0)])
    );
    let matrix = range(&storage, "2 > bool 1", 0, 20 * S, 10 * S);
    assert_eq!(
        matrix,
        [("{}".to_string(), vec![(0, 1.0), (10, 1.0), (20, 1.0)])]
    );
    let fails = |query: &str, text: &str| {
        let err = run(&storage, query, Steps::instant(30 * S)).unwrap_err();
        assert!(err.to_string().contains(text), "{query}: {err}");
    };
    fails(
        "1 > 2",
        "comparisons between scalars must use BOOL modifier",
    );
    fails(
        "vector(1) and 1",
        "set operator \"and\" not allowed in binary scalar expression",
    );
    fails("sum(1)", "expected type instant vector");
    fails(
        "vector(1) + on(a) 1",
        "vector matching only allowed between instant vectors",
    );
    fails(
        "vector(1) + on(a) group_left(a) vector(1)",
        "must not occur in ON and GROUP clause",
    );
    fails(
        r#"count_over_time({app=~".+"}[1m]) + on() count_over_time({app="a"}[1m])"#,
        "many-to-one matching must be explicit",
    );
}

#[test]
fn topk_sort_and_instant_order() {
    let dir = tempfile::tempdir().unwrap();
    let storage = small_storage(dir.path());
    append(
        &storage,
        &[
            row(r#"{app="c"}"#, 25 * S, "x"),
            row(r#"{app="c"}"#, 26 * S, "y"),
        ],
    );
    let at = 30 * S;
    assert_eq!(
        instant(&storage, r#"topk(2, count_over_time({app=~".+"}[1m]))"#, at),
        pairs(&[(r#"{app="a"}"#, 3.0), (r#"{app="c"}"#, 2.0)])
    );
    assert_eq!(
        instant(
            &storage,
            r#"bottomk(1, count_over_time({app=~".+"}[1m]))"#,
            at
        ),
        pairs(&[(r#"{app="b"}"#, 1.0)])
    );
    assert_eq!(
        instant(
            &storage,
            r#"sort_desc(count_over_time({app=~".+"}[1m]))"#,
            at
        ),
        pairs(&[
            (r#"{app="a"}"#, 3.0),
            (r#"{app="c"}"#, 2.0),
            (r#"{app="b"}"#, 1.0)
        ])
    );
    assert_eq!(
        instant(&storage, r#"sort(count_over_time({app=~".+"}[1m]))"#, at),
        pairs(&[
            (r#"{app="b"}"#, 1.0),
            (r#"{app="c"}"#, 2.0),
            (r#"{app="a"}"#, 3.0)
        ])
    );
    assert_eq!(
        instant(
            &storage,
            r#"label_replace(count_over_time({app="b"}[1m]), "svc", "s-$1", "app", "(.*)")"#,
            at
        ),
        pairs(&[(r#"{app="b", svc="s-b"}"#, 1.0)])
    );
}

#[test]
fn result_series_limit() {
    let dir = tempfile::tempdir().unwrap();
    let storage = small_storage(dir.path());
    let expr = metric_expr(r#"count_over_time({app=~".+"}[1m])"#);
    let query = MetricQuery {
        tenant: "fake",
        expr: &expr,
        steps: Steps::instant(30 * S),
        max_series: 1,
        control: &crate::QueryControl::unlimited(),
    };
    let err = run_metric_query(&storage, &query).err().unwrap();
    assert_eq!(
        err.to_string(),
        "maximum of series (1) reached for a single query"
    );
}

/// Structured metadata is part of a sample's series, as in Loki, also on the
/// timestamps-only path (`by` labels every stream has) and in parts.
#[test]
fn structured_metadata_splits_series() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), 8192);
    let mut rows = vec![
        row(r#"{app="a", level="info"}"#, 10 * S, "one"),
        row(r#"{app="a", level="info"}"#, 11 * S, "two"),
        row(r#"{app="a", level="info"}"#, 12 * S, "three"),
    ];
    rows[1].3 = vec![("trace".to_string(), "t1".to_string())];
    rows[2].3 = vec![("level".to_string(), "warn".to_string())];
    append(&storage, &rows);
    for flushed in [false, true] {
        if flushed {
            storage.flush().unwrap();
        }
        assert_eq!(
            instant(&storage, r#"count_over_time({app="a"}[1m])"#, 20 * S),
            pairs(&[
                (r#"{app="a", level="info"}"#, 1.0),
                (r#"{app="a", level="info", trace="t1"}"#, 1.0),
                (r#"{app="a", level="warn"}"#, 1.0),
            ]),
            "flushed {flushed}"
        );
        assert_eq!(
            instant(
                &storage,
                r#"sum by (trace) (count_over_time({app="a"}[1m]))"#,
                20 * S
            ),
            pairs(&[("{}", 2.0), (r#"{trace="t1"}"#, 1.0)]),
            "flushed {flushed}"
        );
        assert_eq!(
            instant(&storage, r#"sum by (app) (rate({app="a"}[20s]))"#, 20 * S),
            pairs(&[(r#"{app="a"}"#, 0.15)]),
            "flushed {flushed}"
        );
        // Groupings that drop a metadata key, or keep one that overrides a
        // stream label, with and without a line filter.
        for query in [
            r#"sum without (trace) (count_over_time({app="a"}[1m]))"#,
            r#"sum without (trace) (count_over_time({app="a"} |= "t" [1m]))"#,
        ] {
            let all = query.contains("|=");
            // `|= "t"` keeps "two" (trace t1) and "three" (level warn).
            let expected: &[(&str, f64)] = if all {
                &[
                    (r#"{app="a", level="info"}"#, 1.0),
                    (r#"{app="a", level="warn"}"#, 1.0),
                ]
            } else {
                &[
                    (r#"{app="a", level="info"}"#, 2.0),
                    (r#"{app="a", level="warn"}"#, 1.0),
                ]
            };
            assert_eq!(
                instant(&storage, query, 20 * S),
                pairs(expected),
                "{query}, flushed {flushed}"
            );
        }
        assert_eq!(
            instant(
                &storage,
                r#"sum by (level) (count_over_time({app="a"}[1m]))"#,
                20 * S
            ),
            pairs(&[(r#"{level="info"}"#, 2.0), (r#"{level="warn"}"#, 1.0)]),
            "flushed {flushed}"
        );
    }
}

/// A timestamps-only scan that meets a stream without a `by` label (a stream
/// created after the check) starts over with full rows, metadata included.
#[test]
fn timestamps_only_scans_keep_metadata_in_series() {
    use super::scan::{SampleValue, ScanPlan, scan_series};
    use super::state::SumCount;
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), 8192);
    let mut rows = vec![
        row(r#"{app="a"}"#, 10 * S, "x"),
        row(r#"{app="a"}"#, 11 * S, "y"),
    ];
    rows[1].3 = vec![("zone".to_string(), "z1".to_string())];
    append(&storage, &rows);
    storage.flush().unwrap();
    let log = strata_logql::parse_log_expr(r#"{app="a"}"#).unwrap();
    let pipeline = Pipeline::new(&log.stages).unwrap();
    let grid = time::Grid::new(&Steps::instant(20 * S), 60 * S, 0);
    let by_zone = Grouping {
        without: false,
        labels: vec!["zone".to_string()],
    };
    let plan = ScanPlan {
        tenant: "fake",
        log: &log,
        pipeline: &pipeline,
        grid: &grid,
        value: SampleValue::One,
        groupings: vec![&by_zone],
        timestamps_only: true,
        control: &crate::QueryControl::unlimited(),
    };
    let mut stats = QueryStats::default();
    let table = scan_series::<SumCount>(&storage, &plan, &mut stats).unwrap();
    let mut counts: Vec<(String, u64)> = table
        .into_iter()
        .map(|(labels, store)| (labels.to_string(), store.into_sorted()[0].1.count))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [(r#"{zone="z1"}"#.to_string(), 1), ("{}".to_string(), 1)]
    );
}

#[test]
fn parsers_extract_only_observable_labels_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), 8192);
    let rows = vec![
        row(
            r#"{app="a"}"#,
            10 * S,
            r#"{"model":"m1","latency":7,"nested":{"x":1},"noise":"n1"}"#,
        ),
        row(
            r#"{app="a"}"#,
            11 * S,
            r#"{"model":"m1","latency":3,"noise":"n2"}"#,
        ),
        row(
            r#"{app="a"}"#,
            12 * S,
            r#"{"model":"m2","latency":9,"app":"shadow"}"#,
        ),
        row(r#"{app="a"}"#, 13 * S, "model=m2 latency=20 noise=n3"),
        row(r#"{app="a"}"#, 14 * S, "not json"),
    ];
    append(&storage, &rows);
    let cases: [(&str, &[(&str, f64)]); 5] = [
        (
            r#"sum by (model) (count_over_time({app="a"} | json | __error__="" | latency > 5 [1m]))"#,
            &[(r#"{model="m1"}"#, 1.0), (r#"{model="m2"}"#, 1.0)],
        ),
        (
            r#"sum(sum_over_time({app="a"} | json | __error__="" | unwrap latency [1m]))"#,
            &[("{}", 19.0)],
        ),
        (
            r#"sum by (nested_x) (count_over_time({app="a"} | json | __error__="" [1m]))"#,
            &[("{}", 2.0), (r#"{nested_x="1"}"#, 1.0)],
        ),
        (
            r#"sum by (app_extracted) (count_over_time({app="a"} | json | __error__="" [1m]))"#,
            &[("{}", 2.0), (r#"{app_extracted="shadow"}"#, 1.0)],
        ),
        (
            r#"sum by (model) (count_over_time({app="a"} | logfmt | latency > 5 [1m]))"#,
            &[(r#"{model="m2"}"#, 1.0)],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(instant(&storage, query, 20 * S), pairs(expected), "{query}");
        // A no-op `drop` turns the label pruning off: same answer.
        let unpruned = if query.contains("| unwrap") {
            query.replace("| unwrap", "| drop zz_absent | unwrap")
        } else {
            query.replace(" [1m]", " | drop zz_absent [1m]")
        };
        assert_eq!(
            instant(&storage, &unpruned, 20 * S),
            pairs(expected),
            "{unpruned}"
        );
    }
}
