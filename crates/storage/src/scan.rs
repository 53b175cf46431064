//! Scanning: select streams through the index, copy matching head rows,
//! prune part blocks by time and bloom filters, decode the rest in parallel.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use strata_model::tokens::is_indexed_token;
use strata_model::{LabelMatcher, Labels};

use crate::bloom::{hash_field, hash_token};
use crate::error::StorageError;
use crate::part::{BlockBloomRefs, Part};
use crate::row_block::RowBlock;
use crate::stats::bump;
use crate::storage::{Storage, day_range, read_lock};
use crate::stream_merger::merge_blocks;

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
    /// Every clause must be possibly satisfied by a block's metadata bloom;
    /// rows of part blocks whose metadata fails a clause are not delivered,
    /// and their lines are not decompressed where the block's line frames
    /// allow (head rows are delivered unfiltered: the caller still checks).
    pub field_values: &'a [FieldClause],
    /// Lines are not needed (counting queries): rows may then be delivered
    /// with empty lines; timestamps and structured metadata are as stored.
    pub timestamps_only: bool,
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
                        // Tokens left out of the filters cannot prune.
                        alternative
                            .iter()
                            .filter(|token| is_indexed_token(token))
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

    /// For each field clause, whether `labels` carry its key (then the
    /// label, not the metadata, may be what matches).
    fn keys_in_labels(&self, labels: &Labels) -> Vec<bool> {
        self.field_keys
            .iter()
            .map(|key| labels.get(key).is_some())
            .collect()
    }

    /// `keys_in_labels`: [`BloomProbe::keys_in_labels`] of the block's
    /// stream, None when the stream is unknown (the block is kept).
    fn may_match(
        &self,
        part: &Part,
        blooms: &BlockBloomRefs,
        keys_in_labels: Option<&[bool]>,
    ) -> bool {
        let mut read_word = |offset| part.read_word(offset);
        let tokens_ok = self.tokens.iter().all(|clause: &Vec<Vec<u64>>| {
            clause.is_empty()
                || clause.iter().any(|alternative| {
                    alternative
                        .iter()
                        .all(|&hash| blooms.lines.may_contain(hash, &mut read_word))
                })
        });
        tokens_ok
            && self.fields.iter().enumerate().all(|(clause, values)| {
                values.is_empty()
                    || keys_in_labels.is_none_or(|keys| keys[clause])
                    || values
                        .iter()
                        .any(|&hash| blooms.fields.may_contain(hash, &mut read_word))
            })
    }
}

/// One piece of a scan's work.
enum Unit {
    /// A part block whose rows overlap no other source's rows of its stream:
    /// delivered as it is decoded.
    Block(usize, usize),
    /// Rows of one stream from sources that overlap in time (or from the
    /// heads, which may hold duplicates): decoded, merged and deduplicated.
    Merge {
        blocks: Vec<(usize, usize)>,
        heads: Vec<RowBlock>,
    },
}

/// Groups the candidate part blocks and head blocks into units so that no
/// row is delivered twice: blocks of one stream whose time ranges overlap a
/// block of another source (another part, or a head) are merged, as are all
/// head blocks of a stream. Rows inside one part are already free of
/// duplicates (flushes and merges drop them), so blocks of the same part are
/// never merged for touching each other.
fn plan_units(
    parts: &[Arc<Part>],
    candidates: Vec<(usize, usize)>,
    head_blocks: Vec<RowBlock>,
) -> Vec<Unit> {
    const HEAD: usize = usize::MAX;
    /// (stream, min ts, max ts, source part or HEAD, index in candidates or head_blocks)
    type Item = (u64, i64, i64, usize, usize);
    let mut items: Vec<Item> = Vec::with_capacity(candidates.len() + head_blocks.len());
    for (position, &(part_index, index)) in candidates.iter().enumerate() {
        let meta = &parts[part_index].blocks[index];
        items.push((
            meta.stream_id,
            meta.min_ts,
            meta.max_ts,
            part_index,
            position,
        ));
    }
    for (position, block) in head_blocks.iter().enumerate() {
        let (min, max) = block.min_max_ts();
        items.push((block.stream_id(), min, max, HEAD, position));
    }
    items.sort_unstable_by_key(|&(stream, min, ..)| (stream, min));

    // Union-find over item positions.
    let mut parent: Vec<usize> = (0..items.len()).collect();
    fn root(parent: &mut [usize], mut at: usize) -> usize {
        while parent[at] != at {
            parent[at] = parent[parent[at]];
            at = parent[at];
        }
        at
    }
    let union = |parent: &mut Vec<usize>, a: usize, b: usize| {
        let (ra, rb) = (root(parent, a), root(parent, b));
        if ra != rb {
            parent[ra] = rb;
        }
    };
    let mut at = 0;
    while at < items.len() {
        let stream = items[at].0;
        let end = at
            + items[at..]
                .iter()
                .take_while(|item| item.0 == stream)
                .count();
        // Items of this stream still open (max >= the current min).
        let mut open: Vec<usize> = Vec::new();
        let mut first_head: Option<usize> = None;
        for current in at..end {
            let (_, min, _, source, _) = items[current];
            open.retain(|&earlier| items[earlier].2 >= min);
            for &earlier in &open {
                if items[earlier].3 != source || source == HEAD {
                    union(&mut parent, earlier, current);
                }
            }
            if source == HEAD {
                match first_head {
                    Some(head) => union(&mut parent, head, current),
                    None => first_head = Some(current),
                }
            }
            open.push(current);
        }
        at = end;
    }

    let mut groups: std::collections::HashMap<usize, Vec<usize>> = std::collections::HashMap::new();
    for position in 0..items.len() {
        let group = root(&mut parent, position);
        groups.entry(group).or_default().push(position);
    }
    let mut heads: Vec<Option<RowBlock>> = head_blocks.into_iter().map(Some).collect();
    let mut units = Vec::with_capacity(groups.len());
    for (_, members) in groups {
        if let [only] = members[..]
            && items[only].3 != HEAD
        {
            units.push(Unit::Block(items[only].3, candidates[items[only].4].1));
            continue;
        }
        let mut blocks = Vec::new();
        let mut head_rows = Vec::new();
        for position in members {
            let (.., source, index) = items[position];
            if source == HEAD {
                head_rows.extend(heads[index].take());
            } else {
                blocks.push(candidates[index]);
            }
        }
        units.push(Unit::Merge {
            blocks,
            heads: head_rows,
        });
    }
    units
}

/// True when no timestamp appears twice among the rows of `heads` and no
/// timestamp appears in two of the `parts` blocks or in one of them and a
/// head: such rows cannot be duplicates of each other, so the blocks can be
/// delivered as they are, without their lines (a part block holds no
/// duplicates; a head may).
fn no_shared_timestamps(parts: &[RowBlock], heads: &[RowBlock]) -> bool {
    const HEAD: usize = usize::MAX;
    let mut stamps: Vec<(i64, usize)> = Vec::new();
    for (index, block) in parts.iter().enumerate() {
        stamps.extend(block.ts.iter().map(|&ts| (ts, index)));
    }
    for block in heads {
        stamps.extend(block.ts.iter().map(|&ts| (ts, HEAD)));
    }
    stamps.sort_unstable();
    stamps
        .windows(2)
        .all(|pair| pair[0].0 != pair[1].0 || (pair[0].1 == pair[1].1 && pair[0].1 != HEAD))
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

        // Head rows first, then the list of parts: data moves from the head to
        // parts, so taking them in that order never misses rows a concurrent
        // flush moves (it may see them twice; the merge below drops that).
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
        let keys_in_labels: std::collections::HashMap<u64, Vec<bool>> = selected
            .iter()
            .map(|(id, labels)| (*id, probe.keys_in_labels(labels)))
            .collect();
        let mut candidates: Vec<(usize, usize)> = Vec::new();
        let mut consider =
            |part_index: usize, index: usize, part_overlaps: bool, stats: &mut ScanStats| {
                let block = &parts[part_index].blocks[index];
                stats.blocks_total += 1;
                if !part_overlaps || block.max_ts < start || block.min_ts >= end {
                    stats.blocks_pruned_time += 1;
                } else if !probe.may_match(
                    &parts[part_index],
                    &block.blooms,
                    keys_in_labels.get(&block.stream_id).map(Vec::as_slice),
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
        let units = plan_units(&parts, candidates, head_blocks);

        let stop = AtomicBool::new(false);
        let scanned = AtomicU64::new(0);
        let rows = AtomicU64::new(0);
        let decompressed = AtomicU64::new(0);
        let io_error: Mutex<Option<StorageError>> = Mutex::new(None);
        // Reads one part block; None when it is skipped (corrupt) or the scan must stop.
        let read = |part_index: usize, index: usize, timestamps_only: bool| -> Option<RowBlock> {
            let part = &parts[part_index];
            let mut block_decompressed = 0;
            let result = part.read_block_rows(
                index,
                &mut block_decompressed,
                timestamps_only,
                request.field_values,
            );
            decompressed.fetch_add(block_decompressed, Ordering::Relaxed);
            scanned.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(block) => Some(restrict(block, start, end)),
                Err(StorageError::Corrupt {
                    path,
                    offset,
                    reason,
                }) => {
                    if part.first_report_of_corrupt_block(index) {
                        tracing::error!(path = %path.display(), offset, reason, "skipping corrupt block");
                        bump(&self.counters.corrupt_files, 1);
                    }
                    None
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot read block");
                    if let Ok(mut slot) = io_error.lock() {
                        slot.get_or_insert(err);
                    }
                    stop.store(true, Ordering::Relaxed);
                    None
                }
            }
        };
        let deliver = |block: &RowBlock| {
            if block.is_empty() {
                return;
            }
            rows.fetch_add(block.len() as u64, Ordering::Relaxed);
            if visit(block).is_break() {
                stop.store(true, Ordering::Relaxed);
            }
        };
        units.into_par_iter().for_each(|unit| {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match unit {
                Unit::Block(part_index, index) => {
                    if let Some(block) = read(part_index, index, request.timestamps_only) {
                        deliver(&block);
                    }
                }
                Unit::Merge { blocks, mut heads } => {
                    scanned.fetch_add(heads.len() as u64, Ordering::Relaxed);
                    if request.timestamps_only {
                        // Without lines, rows are told apart by timestamp: when
                        // no two sources share one, there is nothing to merge.
                        let stamps: Vec<RowBlock> = blocks
                            .iter()
                            .filter_map(|&(part_index, index)| read(part_index, index, true))
                            .collect();
                        if no_shared_timestamps(&stamps, &heads) {
                            for block in heads.iter().chain(&stamps) {
                                if stop.load(Ordering::Relaxed) {
                                    return;
                                }
                                deliver(block);
                            }
                            return;
                        }
                    }
                    for (part_index, index) in blocks {
                        heads.extend(read(part_index, index, false));
                    }
                    for block in merge_blocks(&heads, max_rows) {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        deliver(&block);
                    }
                }
            }
        });
        let scanned = scanned.into_inner();
        bump(&self.counters.blocks_scanned, scanned);
        stats.blocks_scanned = scanned;
        stats.rows_scanned += rows.into_inner();
        stats.bytes_decompressed = decompressed.into_inner();
        if let Some(err) = io_error.into_inner().ok().flatten() {
            return Err(err);
        }
        Ok(stats)
    }
}
