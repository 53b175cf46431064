use super::collector::{Collector, EntryExtra};
use super::hints::scan_clauses;
use crate::pipeline::Pipeline;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use strata_logql::LogExpr;
use strata_model::Labels;
use strata_storage::{FieldClause, RowBlock, ScanRequest, Storage};

/// Which end of the range a log query starts from (Loki's `direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    Backward,
}

/// A LogQL log query over `[start_ns, end_ns)`.
pub struct LogQuery<'a> {
    pub tenant: &'a str,
    pub expr: &'a LogExpr,
    pub start_ns: i64,
    pub end_ns: i64,
    /// Most entries returned, over all streams.
    pub limit: usize,
    pub direction: Direction,
    /// Stops the query on timeout or cancellation.
    pub control: &'a crate::QueryControl,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query cannot run as written (the client's mistake).
    #[error("{0}")]
    BadQuery(String),
    #[error("cannot read storage: {0}")]
    Storage(#[from] strata_storage::StorageError),
    /// A server limit stopped the query (the message names the limit).
    #[error("{0}")]
    Limit(String),
    /// The client went away.
    #[error("the query was cancelled")]
    Cancelled,
}

/// One entry of a result stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultEntry {
    pub ts_ns: i64,
    pub line: String,
    /// The structured metadata among the result labels.
    pub structured_metadata: Vec<(String, String)>,
    /// The labels that parsers extracted.
    pub parsed: Vec<(String, String)>,
}

/// Entries that share one full label set (stream labels, structured metadata
/// and parsed labels, as Loki groups log query results).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultStream {
    pub labels: Labels,
    /// The labels of the stored stream the entries came from.
    pub stream_labels: Labels,
    /// In the query's direction.
    pub entries: Vec<ResultEntry>,
}

/// Counters for Loki's `stats` object.
#[derive(Debug, Clone, Default)]
pub struct QueryStats {
    pub exec_time_secs: f64,
    pub lines_scanned: u64,
    pub bytes_scanned: u64,
    pub lines_matched: u64,
    pub blocks_total: u64,
    pub blocks_scanned: u64,
    pub blocks_pruned: u64,
    pub bytes_decompressed: u64,
}

pub struct LogQueryResult {
    pub streams: Vec<ResultStream>,
    pub stats: QueryStats,
}

/// Runs a log query. Blocking and CPU-heavy: call it off the async runtime.
pub fn run_log_query(
    storage: &Storage,
    query: &LogQuery<'_>,
) -> Result<LogQueryResult, QueryError> {
    let started = Instant::now();
    let pipeline =
        Pipeline::new(&query.expr.stages).map_err(|err| QueryError::BadQuery(err.to_string()))?;
    let (line_tokens, field_values) = scan_clauses(&query.expr.stages);
    let request = ScanRequest {
        tenant: query.tenant,
        matchers: &query.expr.matchers,
        start_ns: query.start_ns,
        end_ns: query.end_ns,
        line_tokens: &line_tokens,
        field_values: &field_values,
        timestamps_only: false,
    };
    let backward = query.direction == Direction::Backward;
    let collector = Mutex::new(Collector::new(query.limit, backward));
    let counters = Counters::default();
    let visit = |block: &RowBlock| -> ControlFlow<()> {
        if query.control.stopped() {
            return ControlFlow::Break(());
        }
        scan_block(
            block,
            &pipeline,
            &field_values,
            query.limit,
            backward,
            &collector,
            &counters,
        );
        ControlFlow::Continue(())
    };
    if query.limit > 0 && query.start_ns < query.end_ns {
        let scan = storage.scan(&request, &visit)?;
        counters.blocks_total.fetch_add(scan.blocks_total, Relaxed);
        counters
            .blocks_scanned
            .fetch_add(scan.blocks_scanned, Relaxed);
        counters
            .blocks_pruned
            .fetch_add(scan.blocks_pruned_time + scan.blocks_pruned_bloom, Relaxed);
        counters
            .bytes_decompressed
            .fetch_add(scan.bytes_decompressed, Relaxed);
        query.control.check()?;
    }
    let entries = collector
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_entries();
    let streams = group_streams(entries, backward);
    let stats = QueryStats {
        exec_time_secs: started.elapsed().as_secs_f64(),
        lines_scanned: counters.lines_scanned.load(Relaxed),
        bytes_scanned: counters.bytes_scanned.load(Relaxed),
        lines_matched: counters.lines_matched.load(Relaxed),
        blocks_total: counters.blocks_total.load(Relaxed),
        blocks_scanned: counters.blocks_scanned.load(Relaxed),
        blocks_pruned: counters.blocks_pruned.load(Relaxed),
        bytes_decompressed: counters.bytes_decompressed.load(Relaxed),
    };
    Ok(LogQueryResult { streams, stats })
}

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
struct Counters {
    lines_scanned: AtomicU64,
    bytes_scanned: AtomicU64,
    lines_matched: AtomicU64,
    blocks_total: AtomicU64,
    blocks_scanned: AtomicU64,
    blocks_pruned: AtomicU64,
    bytes_decompressed: AtomicU64,
}

/// Runs the pipeline over one block, newest rows first when `backward`, and
/// hands at most `limit` matches to the shared collector: no older (newer)
/// row of this block can beat them.
fn scan_block(
    block: &RowBlock,
    pipeline: &Pipeline,
    field_hints: &[FieldClause],
    limit: usize,
    backward: bool,
    collector: &Mutex<Collector>,
    counters: &Counters,
) {
    let rows = block.len();
    if rows == 0 {
        return;
    }
    let best_ts = if backward {
        block.ts(rows - 1)
    } else {
        block.ts(0)
    };
    if lock(collector).rejects(best_ts) {
        return;
    }
    let stream = Arc::new(block.labels().clone());
    let mut matches = Vec::new();
    let mut scanned = 0u64;
    let mut bytes = 0u64;
    // Once `limit` rows matched, only rows with the same timestamp as the
    // last one can still win (ties are broken by labels and line).
    let mut cutoff_ts = None;
    let mut distinct = std::collections::HashSet::new();
    // A literal line filter searches the whole block once, and a
    // `key="value"` filter on structured metadata picks its rows by the
    // metadata column (in streams without such a label); other rows cannot
    // match, and skipping them saves building their labels.
    let (text, ends) = block.lines_text();
    let mut candidates = pipeline.candidate_rows(text, ends);
    for hint in field_hints {
        if block.labels().get(&hint.key).is_some() {
            continue;
        }
        let rows = block.rows_with_metadata(&hint.key, &hint.values);
        candidates = Some(match candidates {
            Some(marks) => marks.iter().zip(rows).map(|(a, b)| *a && b).collect(),
            None => rows,
        });
    }
    for step in 0..rows {
        let row = if backward { rows - 1 - step } else { step };
        let ts = block.ts(row);
        if cutoff_ts.is_some_and(|cutoff| cutoff != ts) {
            break;
        }
        scanned += 1;
        let line = block.line(row);
        bytes += line.len() as u64;
        if candidates.as_ref().is_some_and(|marks| !marks[row]) {
            continue;
        }
        if pipeline.is_line_filter_only() {
            if !pipeline.matches_line(line) {
                continue;
            }
            let metadata: Vec<(String, String)> = block
                .metadata(row)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let labels = if metadata.is_empty() {
                stream.clone()
            } else {
                Arc::new(merge_labels(&stream, &metadata))
            };
            let extra = EntryExtra {
                stream: stream.clone(),
                structured_metadata: metadata,
                parsed: Vec::new(),
            };
            matches.push(((ts, labels, line.to_string()), extra));
        } else {
            let metadata: Vec<(&str, &str)> = block.metadata(row).collect();
            let Some(processed) = pipeline.process(ts, line, &stream, &metadata) else {
                continue;
            };
            let extra = EntryExtra {
                stream: stream.clone(),
                structured_metadata: processed.structured_metadata,
                parsed: processed.parsed,
            };
            matches.push(((ts, Arc::new(processed.labels), processed.line), extra));
        }
        if cutoff_ts.is_none() {
            // Count distinct entries only: a block may hold the same entry
            // twice (a retried push), and the collector keeps it once. A hash
            // collision only makes the scan go on longer.
            let (key, _) = &matches[matches.len() - 1];
            distinct.insert(entry_hash(key));
            if distinct.len() >= limit {
                cutoff_ts = Some(ts);
            }
        }
    }
    counters.lines_scanned.fetch_add(scanned, Relaxed);
    counters.bytes_scanned.fetch_add(bytes, Relaxed);
    counters
        .lines_matched
        .fetch_add(matches.len() as u64, Relaxed);
    if matches.is_empty() {
        return;
    }
    let mut collector = lock(collector);
    for (key, extra) in matches {
        collector.insert(key, extra);
    }
}

fn entry_hash(key: &super::collector::EntryKey) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

fn lock(collector: &Mutex<Collector>) -> std::sync::MutexGuard<'_, Collector> {
    collector
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stream labels plus structured metadata, as one label set.
fn merge_labels(stream: &Labels, metadata: &[(String, String)]) -> Labels {
    // As in the pipeline: a metadata key that is also a stream label wins.
    let mut pairs: Vec<(String, String)> = stream
        .iter()
        .filter(|(name, _)| !metadata.iter().any(|(key, _)| key == name))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    pairs.extend(metadata.iter().cloned());
    Labels::from_pairs(pairs)
}

fn group_streams(
    entries: BTreeMap<super::collector::EntryKey, EntryExtra>,
    backward: bool,
) -> Vec<ResultStream> {
    let mut streams: BTreeMap<Arc<Labels>, ResultStream> = BTreeMap::new();
    for ((ts_ns, labels, line), extra) in entries {
        let stream = streams
            .entry(labels.clone())
            .or_insert_with(|| ResultStream {
                labels: (*labels).clone(),
                stream_labels: (*extra.stream).clone(),
                entries: Vec::new(),
            });
        stream.entries.push(ResultEntry {
            ts_ns,
            line,
            structured_metadata: extra.structured_metadata,
            parsed: extra.parsed,
        });
    }
    let mut result: Vec<ResultStream> = streams.into_values().collect();
    for stream in &mut result {
        if backward {
            stream.entries.reverse();
        }
    }
    result
}
