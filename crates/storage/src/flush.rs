//! Flushing: the active head is frozen, written out as one part per tenant
//! and day, then the WAL segments it came from are deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::StorageError;
use crate::fs_util::{create_dir_all, sync_dir};
use crate::head::Head;
use crate::part::Part;
use crate::part_writer::{BlockLimits, PartWriter};
use crate::partition::{day_of, new_part_id};
use crate::row_block::RowBlock;
use crate::stats::bump;
use crate::storage::{Storage, read_lock, write_lock};

impl Storage {
    pub(crate) fn block_limits(&self) -> BlockLimits {
        BlockLimits {
            max_rows: self.config.block_max_rows,
            max_bytes: self.config.block_max_bytes,
            zstd_level: self.config.zstd_level,
        }
    }

    /// Writes the whole head out to parts now, then deletes the WAL segments
    /// whose data is all in parts. Safe to call concurrently with appends and scans.
    pub fn flush(&self) -> Result<(), StorageError> {
        let _flushing = self.flush_lock.lock().map_err(|_| StorageError::Poisoned)?;
        self.flush_locked()
    }

    /// Backpressure for appends: when the active head holds `limit` bytes or
    /// more, flushes it (waiting for a flush already under way first), so that
    /// the head's memory stays bounded however fast pushes arrive.
    pub(crate) fn flush_if_over(&self, limit: u64) -> Result<(), StorageError> {
        let _flushing = self.flush_lock.lock().map_err(|_| StorageError::Poisoned)?;
        // Another appender may have flushed while this one waited for the lock.
        if read_lock(&self.heads)?.active.memory < limit {
            return Ok(());
        }
        self.flush_locked()
    }

    /// The body of a flush; the caller holds `flush_lock`.
    fn flush_locked(&self) -> Result<(), StorageError> {
        {
            let heads = read_lock(&self.heads)?;
            if heads.active.entries == 0 && heads.frozen.is_empty() {
                return Ok(());
            }
        }
        let (segment, frozen) = self.wal.rotate(
            &self.counters,
            || -> Result<Vec<Arc<Head>>, StorageError> {
                let mut heads = write_lock(&self.heads)?;
                if heads.active.entries > 0 {
                    let active = std::mem::take(&mut heads.active);
                    heads.frozen.push(Arc::new(active));
                }
                Ok(heads.frozen.clone())
            },
        )?;
        let frozen = frozen?;
        for head in &frozen {
            self.write_head(head)?;
        }
        {
            let mut heads = write_lock(&self.heads)?;
            heads
                .frozen
                .retain(|head| !frozen.iter().any(|done| Arc::ptr_eq(done, head)));
        }
        self.wal.remove_before(segment)?;
        bump(&self.counters.flushes, 1);
        Ok(())
    }

    /// Writes one part per tenant and day of `head` and makes them readable.
    fn write_head(&self, head: &Head) -> Result<(), StorageError> {
        for (tenant, streams) in &head.tenants {
            // day -> stream id -> sorted rows of that day
            let mut by_day: BTreeMap<i64, BTreeMap<u64, Vec<usize>>> = BTreeMap::new();
            for (id, stream) in streams {
                let sorted = stream.rows.dedup_sorted_rows(stream.rows.sorted_rows());
                // Sorted by ts, so each day is one run of rows.
                for run in
                    sorted.chunk_by(|&a, &b| day_of(stream.rows.ts(a)) == day_of(stream.rows.ts(b)))
                {
                    let day = day_of(stream.rows.ts(run[0]));
                    by_day.entry(day).or_default().insert(*id, run.to_vec());
                }
            }
            for (day, day_streams) in by_day {
                let mut writer = self.create_part_writer(tenant, day)?;
                // Rows are written straight from the head in sorted order,
                // without a sorted copy of the stream.
                let selected: Vec<(&RowBlock, &[usize])> = day_streams
                    .iter()
                    .map(|(id, rows)| (&streams[id].rows, rows.as_slice()))
                    .collect();
                writer.add_stream_rows(&selected)?;
                if let Some(part) = writer.finish(tenant, day)? {
                    tracing::debug!(path = %part.path.display(), rows = part.rows, "flushed part");
                    self.register_part(part, &[])?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn create_part_writer(
        &self,
        tenant: &str,
        day: i64,
    ) -> Result<PartWriter, StorageError> {
        let dir = self.partition_dir(tenant, day);
        if !dir.exists() {
            create_dir_all(&dir)?;
            if let Some(tenant_dir) = dir.parent() {
                sync_dir(tenant_dir)?;
                if let Some(tenants_dir) = tenant_dir.parent() {
                    sync_dir(tenants_dir)?;
                }
            }
        }
        PartWriter::create(&dir, &new_part_id(), self.block_limits())
    }

    /// Makes `part` readable and `replaced` (parts of the same tenant) unreadable, atomically for scans.
    pub(crate) fn register_part(
        &self,
        part: Part,
        replaced: &[Arc<Part>],
    ) -> Result<(), StorageError> {
        let mut parts = write_lock(&self.parts)?;
        let tenant_parts = parts.entry(part.tenant.clone()).or_default();
        tenant_parts.retain(|existing| !replaced.iter().any(|old| Arc::ptr_eq(old, existing)));
        tenant_parts.push(Arc::new(part));
        bump(&self.counters.parts_written, 1);
        Ok(())
    }

    /// Whether the head is due for a flush by size or age.
    pub(crate) fn flush_due(&self) -> bool {
        let Ok(heads) = self.heads.read() else {
            return false;
        };
        if heads.active.memory > self.config.flush_max_head_bytes {
            return true;
        }
        heads
            .active
            .oldest
            .is_some_and(|oldest| oldest.elapsed() >= self.config.flush_max_age)
            || !heads.frozen.is_empty()
    }
}
