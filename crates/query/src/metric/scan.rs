//! The scan of one range aggregation: rows from the storage, through the
//! pipeline, into per-series bucket states.
//!
//! The storage calls the visitor from several threads with blocks of one
//! stream. Each block is accumulated on its own thread into runs of
//! (series, bucket, state) (rows of a block are sorted by time, so a run
//! covers many rows), and the runs are merged into the shared series table
//! under one lock per block. Without pipeline stages a block's series is
//! computed once, not per row (rows with structured metadata excepted).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use strata_logql::{Grouping, LogExpr};
use strata_model::Labels;
use strata_storage::{RowBlock, ScanRequest, Storage};

use super::series::{group_labels, labels_with_metadata};
use super::state::BucketState;
use super::store::BucketStore;
use super::time::Grid;
use crate::engine::{QueryError, QueryStats, hints::scan_clauses};
use crate::pipeline::Pipeline;

/// Most series one range aggregation may hold while scanning.
pub(crate) const MAX_SCAN_SERIES: usize = 100_000;
/// Most samples kept for quantile_over_time and rate_counter.
pub(crate) const MAX_KEPT_SAMPLES: usize = 25_000_000;

/// The sample value each row contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SampleValue {
    /// 1 per line (count_over_time, rate, absent_over_time).
    One,
    /// The line's length in bytes, after the pipeline (bytes_*).
    LineBytes,
    /// The value of the unwrap stage.
    Unwrapped,
}

/// What to scan and how to turn rows into samples.
pub(crate) struct ScanPlan<'a> {
    pub tenant: &'a str,
    pub log: &'a LogExpr,
    pub pipeline: &'a Pipeline,
    pub grid: &'a Grid,
    pub value: SampleValue,
    /// Applied in order to each sample's labels (the aggregation's own
    /// grouping, then the one of a `sum` pushed down into the scan).
    pub groupings: Vec<&'a Grouping>,
    /// Ask the storage not to decompress lines (timestamps and structured
    /// metadata still come).
    pub timestamps_only: bool,
    /// Stops the scan on timeout or cancellation.
    pub control: &'a crate::QueryControl,
}

/// Series labels -> their buckets.
pub(crate) type SeriesTable<S> = HashMap<Labels, BucketStore<S>>;

/// Runs the scan; fills `stats`.
pub(crate) fn scan_series<S: BucketState>(
    storage: &Storage,
    plan: &ScanPlan<'_>,
    stats: &mut QueryStats,
) -> Result<SeriesTable<S>, QueryError> {
    let (line_tokens, field_values) = scan_clauses(&plan.log.stages);
    let (start_ns, end_ns) = plan.grid.scan_range();
    let request = ScanRequest {
        tenant: plan.tenant,
        matchers: &plan.log.matchers,
        start_ns,
        end_ns,
        line_tokens: &line_tokens,
        field_values: &field_values,
        timestamps_only: plan.timestamps_only,
    };
    let visitor = Visitor::<S> {
        plan,
        table: Mutex::new(HashMap::new()),
        failure: Mutex::new(None),
        kept_samples: AtomicU64::new(0),
        rows: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        samples: AtomicU64::new(0),
    };
    let scan = storage.scan(&request, &|block| {
        if plan.control.stopped() {
            return ControlFlow::Break(());
        }
        visitor.visit(block)
    })?;
    plan.control.check()?;
    stats.blocks_total += scan.blocks_total;
    stats.blocks_scanned += scan.blocks_scanned;
    stats.blocks_pruned += scan.blocks_pruned_time + scan.blocks_pruned_bloom;
    stats.bytes_decompressed += scan.bytes_decompressed;
    stats.lines_scanned += visitor.rows.load(Relaxed);
    stats.bytes_scanned += visitor.bytes.load(Relaxed);
    stats.lines_matched += visitor.samples.load(Relaxed);
    if let Some(err) = into_inner(visitor.failure) {
        return Err(err);
    }
    Ok(into_inner(visitor.table))
}

fn into_inner<T>(mutex: Mutex<T>) -> T {
    mutex
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The shared state of one scan.
struct Visitor<'a, S> {
    plan: &'a ScanPlan<'a>,
    table: Mutex<SeriesTable<S>>,
    /// The first error; the scan stops at it.
    failure: Mutex<Option<QueryError>>,
    kept_samples: AtomicU64,
    rows: AtomicU64,
    bytes: AtomicU64,
    samples: AtomicU64,
}

/// One block's samples, before they join the shared table.
struct BlockRuns<S> {
    /// Local series id -> labels.
    series: Vec<Labels>,
    lookup: HashMap<Labels, u32>,
    /// (local series, bucket, state), in no particular order.
    runs: Vec<(u32, u32, S)>,
    /// The run being extended.
    open: Option<(u32, u32, S)>,
}

impl<S: BucketState> BlockRuns<S> {
    fn new() -> Self {
        BlockRuns {
            series: Vec::new(),
            lookup: HashMap::new(),
            runs: Vec::new(),
            open: None,
        }
    }

    fn intern(&mut self, labels: Labels) -> u32 {
        if let Some(&id) = self.lookup.get(&labels) {
            return id;
        }
        let id = self.series.len() as u32;
        self.series.push(labels.clone());
        self.lookup.insert(labels, id);
        id
    }

    fn add(&mut self, series: u32, bucket: u32, ts: i64, value: f64) {
        if let Some((open_series, open_bucket, state)) = &mut self.open
            && *open_series == series
            && *open_bucket == bucket
        {
            state.add(ts, value);
            return;
        }
        let mut state = S::default();
        state.add(ts, value);
        if let Some(run) = self.open.replace((series, bucket, state)) {
            self.runs.push(run);
        }
    }

    fn finish(mut self) -> (Vec<Labels>, Vec<(u32, u32, S)>) {
        self.runs.extend(self.open.take());
        self.runs
            .sort_unstable_by_key(|(series, bucket, _)| (*series, *bucket));
        (self.series, self.runs)
    }
}

impl<S: BucketState> Visitor<'_, S> {
    fn fail(&self, err: QueryError) -> ControlFlow<()> {
        lock(&self.failure).get_or_insert(err);
        ControlFlow::Break(())
    }

    /// The labels of a sample's series: `labels` after every grouping.
    fn series_labels(&self, labels: Labels) -> Labels {
        let mut labels = labels;
        for grouping in &self.plan.groupings {
            labels = group_labels(&labels, grouping);
        }
        labels
    }

    /// True when a label named `name` survives every grouping (always, with none).
    fn grouping_keeps(&self, name: &str) -> bool {
        self.plan
            .groupings
            .iter()
            .all(|grouping| grouping.labels.iter().any(|label| label == name) != grouping.without)
    }

    fn visit(&self, block: &RowBlock) -> ControlFlow<()> {
        if block.is_empty() {
            return ControlFlow::Continue(());
        }
        let stream = block.labels();
        // Structured metadata whose keys the groupings drop cannot change a
        // sample's series (a `sum by (level)` over trace-id metadata, say):
        // then rows are counted as if they had none.
        let metadata_matters = block.metadata_keys().any(|key| self.grouping_keeps(key));
        let pipeline = self.plan.pipeline;
        // No stage changes labels: the series is the stream's (plus metadata).
        let simple = pipeline.is_line_filter_only();
        let no_stages = self.plan.log.stages.is_empty();
        let needs_line = !no_stages || self.plan.value == SampleValue::LineBytes;
        let mut runs = BlockRuns::<S>::new();
        let mut stream_series: Option<u32> = None;
        let mut metadata: Vec<(&str, &str)> = Vec::new();
        let mut cursor = self.plan.grid.cursor();
        let mut samples = 0u64;
        // A literal line filter searches the whole block once.
        let candidates = if needs_line {
            let (text, ends) = block.lines_text();
            pipeline.candidate_rows(text, ends)
        } else {
            None
        };
        for row in 0..block.len() {
            if candidates.as_ref().is_some_and(|marks| !marks[row]) {
                continue;
            }
            let ts = block.ts(row);
            let Some(bucket) = cursor.locate(ts) else {
                continue;
            };
            if !needs_line && (!metadata_matters || block.metadata(row).next().is_none()) {
                // The hot path of counting queries: nothing but the time matters.
                let series = *stream_series
                    .get_or_insert_with(|| runs.intern(self.series_labels(stream.clone())));
                samples += 1;
                runs.add(series, bucket, ts, 1.0);
                continue;
            }
            let line = block.line(row);
            metadata.clear();
            metadata.extend(block.metadata(row));
            let (series, value) = if simple {
                if !pipeline.matches_line(line) {
                    continue;
                }
                let series = if metadata.is_empty() || !metadata_matters {
                    *stream_series
                        .get_or_insert_with(|| runs.intern(self.series_labels(stream.clone())))
                } else {
                    runs.intern(self.series_labels(labels_with_metadata(stream, &metadata)))
                };
                let value = match self.plan.value {
                    SampleValue::LineBytes => line.len() as f64,
                    SampleValue::One | SampleValue::Unwrapped => 1.0,
                };
                (series, value)
            } else {
                let Some(processed) = pipeline.process(ts, line, stream, &metadata) else {
                    continue;
                };
                if let Some(kind) = processed.labels.get("__error__") {
                    return self.fail(pipeline_error(kind, &processed.labels));
                }
                let value = match self.plan.value {
                    SampleValue::One => 1.0,
                    SampleValue::LineBytes => processed.line.len() as f64,
                    SampleValue::Unwrapped => match processed.value {
                        Some(value) => value,
                        None => {
                            debug_assert!(false, "BUG: unwrap gave no value and no error");
                            continue;
                        }
                    },
                };
                (runs.intern(self.series_labels(processed.labels)), value)
            };
            samples += 1;
            runs.add(series, bucket, ts, value);
        }
        self.rows.fetch_add(block.len() as u64, Relaxed);
        self.bytes.fetch_add(block.line_bytes() as u64, Relaxed);
        self.samples.fetch_add(samples, Relaxed);
        self.merge(runs)
    }

    /// Adds one block's runs to the shared table.
    fn merge(&self, runs: BlockRuns<S>) -> ControlFlow<()> {
        let (mut series, runs) = runs.finish();
        if runs.is_empty() {
            return ControlFlow::Continue(());
        }
        let kept: usize = runs.iter().map(|(_, _, state)| state.kept()).sum();
        if kept > 0 {
            let total = self.kept_samples.fetch_add(kept as u64, Relaxed) + kept as u64;
            if total > MAX_KEPT_SAMPLES as u64 {
                return self.fail(QueryError::BadQuery(format!(
                    "the query needs more than {MAX_KEPT_SAMPLES} samples in memory at once: narrow the selector or the time range"
                )));
            }
        }
        let bucket_count = self.plan.grid.bucket_count();
        let mut table = lock(&self.table);
        let mut runs = runs.into_iter().peekable();
        while let Some((local, bucket, state)) = runs.next() {
            let labels = std::mem::take(&mut series[local as usize]);
            if table.len() >= MAX_SCAN_SERIES && !table.contains_key(&labels) {
                drop(table);
                return self.fail(QueryError::BadQuery(format!(
                    "maximum of series ({MAX_SCAN_SERIES}) reached for a single query"
                )));
            }
            let store = table.entry(labels).or_default();
            store.add(bucket, state, bucket_count);
            while let Some((_, bucket, state)) = runs.next_if(|run| run.0 == local) {
                store.add(bucket, state, bucket_count);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Loki's answer to a sample whose labels carry `__error__`: the query fails
/// and says how to skip such samples.
fn pipeline_error(kind: &str, labels: &Labels) -> QueryError {
    QueryError::BadQuery(format!(
        "pipeline error: '{kind}' for series: '{labels}'. Use a label filter to intentionally skip this error (e.g | __error__!=\"{kind}\"); to skip all potential errors match empty errors (e.g | __error__=\"\"), which can also follow unwrap (e.g | unwrap latency | __error__=\"\")"
    ))
}
