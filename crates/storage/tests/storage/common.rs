use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Mutex;

use strata_model::{Entry, LabelMatcher, Labels, PushStream};
use strata_storage::{
    FieldClause, FsyncPolicy, ScanRequest, ScanStats, Storage, StorageConfig, TokenClause,
};

/// One delivered row: labels, ts, line, sorted metadata.
pub type Row = (String, i64, String, Vec<(String, String)>);

pub const DAY: i64 = 86_400 * 1_000_000_000;
/// 2024-01-01T00:00:00Z in ns.
pub const BASE: i64 = 19_723 * DAY;

pub fn config(dir: &Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_path_buf(),
        fsync: FsyncPolicy::Never,
        block_max_rows: 4,
        merge_min_parts: 2,
        zstd_level: 1,
        ..StorageConfig::default()
    }
}

pub fn labels(text: &str) -> Labels {
    Labels::parse(text).unwrap()
}

pub fn push(labels_text: &str, entries: &[(i64, &str)]) -> PushStream {
    PushStream {
        labels: labels(labels_text),
        entries: entries
            .iter()
            .map(|&(ts, line)| Entry::new(ts, line))
            .collect(),
    }
}

pub fn scan_full(
    storage: &Storage,
    tenant: &str,
    matchers: &[LabelMatcher],
    start_ns: i64,
    end_ns: i64,
    line_tokens: &[TokenClause],
    field_values: &[FieldClause],
) -> (BTreeSet<Row>, ScanStats) {
    let rows = Mutex::new(BTreeSet::new());
    let request = ScanRequest {
        tenant,
        matchers,
        start_ns,
        end_ns,
        line_tokens,
        field_values,
        timestamps_only: false,
    };
    let stats = storage
        .scan(&request, &|block| {
            assert!(!block.is_empty());
            let mut found = Vec::with_capacity(block.len());
            for row in 0..block.len() {
                let ts = block.ts(row);
                assert!(ts >= start_ns && ts < end_ns, "row outside the range");
                if row > 0 {
                    assert!(block.ts(row - 1) <= ts, "rows of a block must be sorted");
                }
                let mut metadata: Vec<(String, String)> = block
                    .metadata(row)
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                metadata.sort();
                found.push((
                    block.labels().to_string(),
                    ts,
                    block.line(row).to_string(),
                    metadata,
                ));
            }
            let mut rows = rows.lock().unwrap();
            for row in found {
                assert!(!rows.contains(&row), "row delivered twice: {row:?}");
                rows.insert(row);
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    (rows.into_inner().unwrap(), stats)
}

pub fn scan_all(storage: &Storage, tenant: &str) -> BTreeSet<Row> {
    scan_full(storage, tenant, &[], i64::MIN, i64::MAX, &[], &[]).0
}

pub fn row(labels_text: &str, ts: i64, line: &str) -> Row {
    (
        labels(labels_text).to_string(),
        ts,
        line.to_string(),
        Vec::new(),
    )
}

/// (labels, ts) of every row a timestamps-only scan delivers, sorted.
pub fn scan_timestamps(storage: &Storage, request: &ScanRequest<'_>) -> Vec<(String, i64)> {
    let stamps = Mutex::new(Vec::new());
    storage
        .scan(
            &ScanRequest {
                timestamps_only: true,
                ..*request
            },
            &|block| {
                let labels = block.labels().to_string();
                let mut stamps = stamps.lock().unwrap();
                stamps.extend((0..block.len()).map(|row| (labels.clone(), block.ts(row))));
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    let mut stamps = stamps.into_inner().unwrap();
    stamps.sort();
    stamps
}
