//! Size-tiered merging: the small parts of one partition are rewritten into
//! one bigger part (sorted, exact duplicates dropped); the new part is
//! durable before the old ones are deleted, so a crash leaves the old parts,
//! the new one, or both (readers dedup) -- never neither.

use std::collections::BTreeMap;
use std::sync::Arc;

use strata_model::Labels;

use crate::error::StorageError;
use crate::fs_util::sync_dir;
use crate::part::Part;
use crate::part_writer::PartWriter;
use crate::stats::bump;
use crate::storage::{Storage, read_lock};
use crate::stream_merger::StreamMerger;

/// Parts bigger than this are not merged again.
const MAX_MERGE_INPUT_BYTES: u64 = 1 << 30;
/// Most parts merged into one at a time.
const MAX_PARTS_PER_MERGE: usize = 32;

impl Storage {
    /// Runs one round of merging: every partition with at least
    /// `merge_min_parts` small parts gets its smallest parts merged.
    pub fn merge(&self) -> Result<(), StorageError> {
        let _merging = self.merge_lock.lock().map_err(|_| StorageError::Poisoned)?;
        let min_parts = self.config.merge_min_parts.max(2);
        let mut plans: Vec<Vec<Arc<Part>>> = Vec::new();
        {
            let parts = read_lock(&self.parts)?;
            for tenant_parts in parts.values() {
                let mut by_day: BTreeMap<i64, Vec<Arc<Part>>> = BTreeMap::new();
                for part in tenant_parts {
                    if part.size <= MAX_MERGE_INPUT_BYTES && part.mergeable() {
                        by_day.entry(part.day).or_default().push(part.clone());
                    }
                }
                for (_, candidates) in by_day {
                    if let Some(plan) = pick_tier(candidates, min_parts) {
                        plans.push(plan);
                    }
                }
            }
        }
        let mut first_error = None;
        for plan in plans {
            if let Err(err) = self.merge_parts(&plan) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Merges parts of one tenant and day into one.
    fn merge_parts(&self, inputs: &[Arc<Part>]) -> Result<(), StorageError> {
        let tenant = inputs[0].tenant.clone();
        let day = inputs[0].day;
        let mut streams: BTreeMap<u64, Arc<Labels>> = BTreeMap::new();
        for part in inputs {
            for (id, labels) in &part.streams {
                streams.entry(*id).or_insert_with(|| labels.clone());
            }
        }
        let mut writer = self.create_part_writer(&tenant, day)?;
        let (max_rows, max_bytes) = (self.config.block_max_rows, self.config.block_max_bytes);
        // Whole-run merges need each input's blocks of a stream in time order.
        let unreadable = |err: &StorageError| {
            log_unreadable(err);
            if let StorageError::Corrupt { path, .. } = err {
                for part in inputs.iter().filter(|part| &part.path == path) {
                    part.mark_unmergeable();
                }
            }
        };
        // On any error the writer is dropped, which deletes its temp file.
        for (id, labels) in streams {
            // The stream's blocks in every input, by first timestamp.
            let mut blocks: Vec<(usize, usize)> = Vec::new();
            for (input, part) in inputs.iter().enumerate() {
                let first = part.blocks.partition_point(|block| block.stream_id < id);
                for index in first..part.blocks.len() {
                    if part.blocks[index].stream_id != id {
                        break;
                    }
                    blocks.push((input, index));
                }
            }
            let meta = |&(input, index): &(usize, usize)| &inputs[input].blocks[index];
            blocks.sort_by_key(|block| meta(block).min_ts);
            // A full block that overlaps no block of another input is copied
            // as it is (no decompression, no recompression); the rest are
            // merged row by row in runs between such blocks.
            let copyable: Vec<bool> = blocks
                .iter()
                .map(|block| {
                    let m = meta(block);
                    let full =
                        m.rows as usize >= max_rows / 2 || m.line_bytes as usize >= max_bytes / 2;
                    full && blocks.iter().all(|other| {
                        other.0 == block.0
                            || meta(other).max_ts < m.min_ts
                            || meta(other).min_ts > m.max_ts
                    })
                })
                .collect();
            let mut pending: Vec<(usize, usize)> = Vec::new();
            for (block, copy) in blocks.iter().zip(&copyable) {
                if *copy {
                    self.merge_run(inputs, &mut pending, id, &labels, &mut writer)
                        .inspect_err(unreadable)?;
                    let (input, index) = *block;
                    writer
                        .copy_block(&inputs[input], index)
                        .inspect_err(unreadable)?;
                    bump(&self.counters.blocks_copied, 1);
                } else {
                    pending.push(*block);
                }
            }
            self.merge_run(inputs, &mut pending, id, &labels, &mut writer)
                .inspect_err(unreadable)?;
        }
        let Some(part) = writer.finish(&tenant, day)? else {
            return Ok(());
        };
        tracing::debug!(part = %part.id, inputs = inputs.len(), rows = part.rows, "merged parts");
        let dir = part.path.parent().map(|dir| dir.to_path_buf());
        self.register_part(part, inputs)?;
        for old in inputs {
            if let Err(err) = std::fs::remove_file(&old.path) {
                tracing::warn!(path = %old.path.display(), error = %err, "cannot remove merged part");
            }
        }
        if let Some(dir) = dir {
            sync_dir(&dir)?;
        }
        bump(&self.counters.merges, 1);
        bump(&self.counters.parts_merged, inputs.len() as u64);
        Ok(())
    }
}

impl Storage {
    /// Merges `run` (blocks of one stream, as (input, block index)) row by
    /// row into the writer, dropping exact duplicates; empties `run`.
    fn merge_run(
        &self,
        inputs: &[Arc<Part>],
        run: &mut Vec<(usize, usize)>,
        id: u64,
        labels: &Arc<Labels>,
        writer: &mut PartWriter,
    ) -> Result<(), StorageError> {
        if run.is_empty() {
            return Ok(());
        }
        let mut per_input: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &(input, index) in run.iter() {
            per_input.entry(input).or_default().push(index);
        }
        run.clear();
        let cursors = per_input
            .into_iter()
            .map(|(input, mut blocks)| {
                blocks.sort_unstable();
                (&*inputs[input], blocks)
            })
            .collect();
        let mut merger = StreamMerger::new(cursors, id, labels.clone())?;
        let (max_rows, max_bytes) = (self.config.block_max_rows, self.config.block_max_bytes);
        while let Some(chunk) = merger.next_chunk(max_rows, max_bytes)? {
            writer.add_stream(&chunk)?;
        }
        Ok(())
    }
}

/// Chooses the parts of one partition to merge: the smallest ones, adding a
/// bigger part only while it is at most twice the total of the smaller ones
/// picked so far, so that a big part is rewritten only once enough small data
/// has piled up next to it (size tiers, logarithmic write amplification).
/// None when fewer than `min_parts` qualify.
fn pick_tier(mut parts: Vec<Arc<Part>>, min_parts: usize) -> Option<Vec<Arc<Part>>> {
    parts.sort_by_key(|part| part.size);
    let sizes: Vec<u64> = parts.iter().map(|part| part.size).collect();
    let count = tier_len(&sizes).min(MAX_PARTS_PER_MERGE);
    if count < min_parts {
        return None;
    }
    parts.truncate(count);
    Some(parts)
}

/// Parts up to this size always qualify for a tier: without it, one tiny
/// part (a flush at shutdown, say) next to many equal ones would block them all.
const SMALL_PART_BYTES: u64 = 64 << 20;

/// How many of the ascending `sizes` form the tier to merge.
fn tier_len(sizes: &[u64]) -> usize {
    let mut total = 0u64;
    for (index, &size) in sizes.iter().enumerate() {
        if index > 0 && size > SMALL_PART_BYTES && size > total.saturating_mul(2) {
            return index;
        }
        total = total.saturating_add(size);
    }
    sizes.len()
}

/// Leaves the partition as it is: scans skip a bad block, a merge would drop it for good.
fn log_unreadable(err: &StorageError) {
    tracing::error!(error = %err, "cannot merge partition with an unreadable block");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_leave_big_parts_alone() {
        const M: u64 = 1 << 20;
        assert_eq!(tier_len(&[]), 0);
        assert_eq!(tier_len(&[5, 5, 5, 5]), 4);
        assert_eq!(tier_len(&[M, 100 * M, 100 * M, 100 * M]), 1);
        assert_eq!(tier_len(&[100 * M, 100 * M, 100 * M, 100 * M, 1000 * M]), 4);
        assert_eq!(
            tier_len(&[100 * M, 100 * M, 100 * M, 100 * M, 800 * M, 5000 * M]),
            5
        );
        assert_eq!(tier_len(&[100 * M, 100 * M, 450 * M]), 2);
        // Small parts always qualify, however uneven.
        assert_eq!(tier_len(&[1, 15 * M, 15 * M, 16 * M, 60 * M]), 5);
    }
}
