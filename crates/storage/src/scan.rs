//! Scanning: select streams through the index, copy matching head rows,
//! prune part blocks by time and bloom filters, decode the rest in parallel.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use strata_model::{LabelMatcher, Labels};

use crate::block::BlockBlooms;
use crate::bloom::{hash_field, hash_token};
use crate::error::StorageError;
use crate::part::Part;
use crate::row_block::RowBlock;
use crate::stats::bump;
use crate::storage::{Storage, day_range, read_lock};

/// What to scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanRequest<'a> {
    pub tenant: &'a str,
    /// All must match (`LabelMatcher::matches(labels.get(name))`).
    pub matchers: &'a [LabelMatcher],
    /// Inclusive.
    pub start_ns: i64,
    /// Exclusive.
    pub end_ns: i64,
    /// Every clause must be possibly satisfied by a block's line bloom.
    pub line_tokens: &'a [TokenClause],
    /// Every clause must be possibly satisfied by a block's metadata bloom.
    pub field_values: &'a [FieldClause],
}

/// Satisfied when for at least one alternative every token in it may be
/// present (bloom) in the block's lines. An empty alternatives list is
/// always satisfied, as is an empty alternative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenClause {
    pub alternatives: Vec<Vec<String>>,
}

/// Satisfied when the block may contain metadata key `key` with a value equal
/// to one of `values`. An empty `values` list is always satisfied, and so is
/// any block of a stream that has `key` among its labels (there the label, not
/// the metadata, may be what matches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldClause {
    pub key: String,
    pub values: Vec<String>,
}

/// What one scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Blocks of the selected streams in the scanned partitions, head blocks included.
    pub blocks_total: u64,
    /// Blocks decoded (or copied from the head) and delivered or filtered.
    pub blocks_scanned: u64,
    pub blocks_pruned_time: u64,
    pub blocks_pruned_bloom: u64,
    /// Rows delivered to the visitor.
    pub rows_scanned: u64,
    /// Bytes produced by zstd while decoding.
    pub bytes_decompressed: u64,
}

/// Token and field clauses as bloom hashes, computed once per scan.
struct BloomProbe {
    /// clause -> alternative -> token hashes
    tokens: Vec<Vec<Vec<u64>>>,
    /// clause -> value hashes
    fields: Vec<Vec<u64>>,
    /// clause -> its metadata key
    field_keys: Vec<String>,
}

impl BloomProbe {
    fn new(request: &ScanRequest<'_>) -> BloomProbe {
        let tokens = request
            .line_tokens
            .iter()
            .map(|clause| {
                clause
                    .alternatives
                    .iter()
                    .map(|alternative| {
                        alternative
                            .iter()
                            .map(|token| hash_token(token.as_bytes()))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let fields = request
            .field_values
            .iter()
            .map(|clause| {
                clause
                    .values
                    .iter()
                    .map(|value| hash_field(&clause.key, value))
                    .collect()
            })
            .collect();
        let field_keys = request
            .field_values
            .iter()
            .map(|clause| clause.key.clone())
            .collect();
        BloomProbe {
            tokens,
            fields,
            field_keys,
        }
    }

    fn may_match(&self, blooms: &BlockBlooms, stream_labels: Option<&Labels>) -> bool {
        let tokens_ok = self.tokens.iter().all(|clause: &Vec<Vec<u64>>| {
            clause.is_empty()
                || clause.iter().any(|alternative| {
                    alternative
                        .iter()
                        .all(|&hash| blooms.lines.may_contain(hash))
                })
        });
        tokens_ok
            && self
                .fields
                .iter()
                .zip(&self.field_keys)
                .all(|(values, key)| {
                    values.is_empty()
                        || stream_labels.is_none_or(|labels| labels.get(key).is_some())
                        || values.iter().any(|&hash| blooms.fields.may_contain(hash))
                })
    }
}

/// The rows of `block` inside `[start, end)` (rows are sorted by ts).
fn restrict(block: RowBlock, start: i64, end: i64) -> RowBlock {
    let first = block.ts.partition_point(|&ts| ts < start);
    let last = block.ts.partition_point(|&ts| ts < end);
    if first == 0 && last == block.len() {
        return block;
    }
    let rows: Vec<usize> = (first..last).collect();
    block.take(&rows)
}

impl Storage {
    /// Calls `visit` for every block of rows of matching streams inside
    /// `[start_ns, end_ns)`, after pruning by stream, time and blooms. May call
    /// `visit` from several threads at once. Rows of one block are sorted by
    /// ts; a stream may appear in many blocks with overlapping times, and
    /// duplicates (same ts and line) may be delivered.
    pub fn scan(
        &self,
        request: &ScanRequest<'_>,
        visit: &(dyn Fn(&RowBlock) -> ControlFlow<()> + Sync),
    ) -> Result<ScanStats, StorageError> {
        let mut stats = ScanStats::default();
        let Some((first_day, last_day)) = day_range(request.start_ns, request.end_ns) else {
            return Ok(stats);
        };
        let selected = {
            let index = read_lock(&self.index)?;
            match index.get(request.tenant) {
                Some(tenant_index) => tenant_index.select(request.matchers, first_day, last_day),
                None => return Ok(stats),
            }
        };
        if selected.is_empty() {
            return Ok(stats);
        }
        let (start, end) = (request.start_ns, request.end_ns);
        let max_rows = self.config.block_max_rows;

        // Head rows first, then parts: data moves from the head to parts, so
        // reading in that order never misses rows a concurrent flush moves.
        let mut head_blocks = Vec::new();
        let frozen = {
            let heads = read_lock(&self.heads)?;
            for (id, _) in &selected {
                heads
                    .active
                    .copy_rows(request.tenant, *id, start, end, max_rows, &mut head_blocks);
            }
            heads.frozen.clone()
        };
        for head in &frozen {
            for (id, _) in &selected {
                head.copy_rows(request.tenant, *id, start, end, max_rows, &mut head_blocks);
            }
        }
        let parts: Vec<Arc<Part>> = {
            let parts = read_lock(&self.parts)?;
            let tenant_parts = parts
                .get(request.tenant)
                .map(Vec::as_slice)
                .unwrap_or_default();
            tenant_parts
                .iter()
                .filter(|part| part.day >= first_day && part.day <= last_day)
                .cloned()
                .collect()
        };

        let wanted: HashSet<u64> = selected.iter().map(|(id, _)| *id).collect();
        let mut wanted_sorted: Vec<u64> = wanted.iter().copied().collect();
        wanted_sorted.sort_unstable();
        let probe = BloomProbe::new(request);
        let mut candidates: Vec<(usize, usize)> = Vec::new();
        let mut consider =
            |part_index: usize, index: usize, part_overlaps: bool, stats: &mut ScanStats| {
                let block = &parts[part_index].blocks[index];
                stats.blocks_total += 1;
                if !part_overlaps || block.max_ts < start || block.min_ts >= end {
                    stats.blocks_pruned_time += 1;
                } else if !probe.may_match(
                    &block.blooms,
                    parts[part_index]
                        .streams
                        .get(&block.stream_id)
                        .map(|labels| &**labels),
                ) {
                    stats.blocks_pruned_bloom += 1;
                } else {
                    candidates.push((part_index, index));
                }
            };
        for (part_index, part) in parts.iter().enumerate() {
            let part_overlaps = part.max_ts >= start && part.min_ts < end;
            if wanted_sorted.len() * 4 < part.blocks.len() {
                // Few streams: find each one's blocks by binary search (blocks are sorted by stream id).
                for &id in &wanted_sorted {
                    let first = part.blocks.partition_point(|block| block.stream_id < id);
                    for index in first..part.blocks.len() {
                        if part.blocks[index].stream_id != id {
                            break;
                        }
                        consider(part_index, index, part_overlaps, &mut stats);
                    }
                }
            } else {
                for (index, block) in part.blocks.iter().enumerate() {
                    if wanted.contains(&block.stream_id) {
                        consider(part_index, index, part_overlaps, &mut stats);
                    }
                }
            }
        }
        bump(&self.counters.blocks_pruned_time, stats.blocks_pruned_time);
        bump(
            &self.counters.blocks_pruned_bloom,
            stats.blocks_pruned_bloom,
        );

        stats.blocks_total += head_blocks.len() as u64;
        for block in &head_blocks {
            stats.blocks_scanned += 1;
            stats.rows_scanned += block.len() as u64;
            if visit(block).is_break() {
                bump(&self.counters.blocks_scanned, stats.blocks_scanned);
                return Ok(stats);
            }
        }
        bump(&self.counters.blocks_scanned, stats.blocks_scanned);

        let stop = AtomicBool::new(false);
        let scanned = AtomicU64::new(0);
        let rows = AtomicU64::new(0);
        let decompressed = AtomicU64::new(0);
        let io_error: Mutex<Option<StorageError>> = Mutex::new(None);
        candidates.par_iter().for_each(|&(part_index, index)| {
            let part = &parts[part_index];
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let mut block_decompressed = 0;
            let result = part.read_block(index, &mut block_decompressed);
            decompressed.fetch_add(block_decompressed, Ordering::Relaxed);
            scanned.fetch_add(1, Ordering::Relaxed);
            let block = match result {
                Ok(block) => restrict(block, start, end),
                Err(StorageError::Corrupt { path, offset, reason }) => {
                    if part.first_report_of_corrupt_block(index) {
                        tracing::error!(path = %path.display(), offset, reason, "skipping corrupt block");
                        bump(&self.counters.corrupt_files, 1);
                    }
                    return;
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot read block");
                    if let Ok(mut slot) = io_error.lock() {
                        slot.get_or_insert(err);
                    }
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
            };
            if block.is_empty() {
                return;
            }
            rows.fetch_add(block.len() as u64, Ordering::Relaxed);
            if visit(&block).is_break() {
                stop.store(true, Ordering::Relaxed);
            }
        });
        let scanned = scanned.into_inner();
        bump(&self.counters.blocks_scanned, scanned);
        stats.blocks_scanned += scanned;
        stats.rows_scanned += rows.into_inner();
        stats.bytes_decompressed = decompressed.into_inner();
        if let Some(err) = io_error.into_inner().ok().flatten() {
            return Err(err);
        }
        Ok(stats)
    }
}
