//! [`Storage`]: opening, appending and the label APIs. Flushing, scanning
//! and merging live in their own files as further `impl Storage` blocks.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use strata_model::{LabelMatcher, Labels, PushStream, stream_id};

use crate::config::StorageConfig;
use crate::error::StorageError;
use crate::fs_util::{create_dir_all, quarantine};
use crate::head::Head;
use crate::index::TenantIndex;
use crate::part::Part;
use crate::partition::{day_of, parse_day_name};
use crate::stats::{Counters, StorageStats, bump, read};
use crate::wal::{Wal, frame_record};
use crate::wal_record::{WalRecord, encode_record};

/// The heads: the active one takes appends, frozen ones are being flushed.
#[derive(Debug, Default)]
pub(crate) struct Heads {
    pub active: Head,
    /// Heads swapped out by a flush and not yet fully written to parts.
    pub frozen: Vec<Arc<Head>>,
}

/// The storage engine of one node. Send + Sync; share it as `Arc<Storage>`.
pub struct Storage {
    pub(crate) config: StorageConfig,
    pub(crate) counters: Counters,
    pub(crate) wal: Wal,
    pub(crate) heads: RwLock<Heads>,
    /// tenant -> readable parts of every day.
    pub(crate) parts: RwLock<HashMap<String, Vec<Arc<Part>>>>,
    /// tenant -> stream index.
    pub(crate) index: RwLock<HashMap<String, TenantIndex>>,
    /// Serialises flushes.
    pub(crate) flush_lock: Mutex<()>,
    /// Serialises merges.
    pub(crate) merge_lock: Mutex<()>,
    /// `<data_dir>/LOCK`, exclusively locked while this storage is open.
    _dir_lock: fs::File,
}

pub(crate) fn read_lock<T>(lock: &RwLock<T>) -> Result<RwLockReadGuard<'_, T>, StorageError> {
    lock.read().map_err(|_| StorageError::Poisoned)
}

pub(crate) fn write_lock<T>(lock: &RwLock<T>) -> Result<RwLockWriteGuard<'_, T>, StorageError> {
    lock.write().map_err(|_| StorageError::Poisoned)
}

/// The day range `[first, last]` of `[start_ns, end_ns)`; None when empty.
pub(crate) fn day_range(start_ns: i64, end_ns: i64) -> Option<(i64, i64)> {
    (start_ns < end_ns).then(|| (day_of(start_ns), day_of(end_ns - 1)))
}

impl Storage {
    /// Opens (or creates) the storage under `config.data_dir`: loads parts,
    /// replays the WAL into the head. Corrupt files are logged and moved to
    /// `<data_dir>/quarantine/`.
    pub fn open(config: StorageConfig) -> Result<Storage, StorageError> {
        let data_dir = config.data_dir.clone();
        let wal_dir = data_dir.join("wal");
        let tenants_dir = data_dir.join("tenants");
        create_dir_all(&wal_dir)?;
        create_dir_all(&tenants_dir)?;
        // Make the new directories themselves durable before anything in
        // them is acknowledged.
        crate::fs_util::sync_dir(&data_dir)?;
        if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::fs_util::sync_dir(parent)?;
        }
        let dir_lock = lock_data_dir(&data_dir)?;
        let counters = Counters::default();
        let mut index: HashMap<String, TenantIndex> = HashMap::new();
        let mut parts: HashMap<String, Vec<Arc<Part>>> = HashMap::new();
        for part in load_parts(&data_dir, &tenants_dir, &counters)? {
            let tenant_index = index.entry(part.tenant.clone()).or_default();
            for (id, labels) in &part.streams {
                tenant_index.add(*id, labels, part.day);
            }
            parts
                .entry(part.tenant.clone())
                .or_default()
                .push(Arc::new(part));
        }
        let mut head = Head::default();
        let wal = Wal::open(
            &wal_dir,
            &data_dir,
            config.fsync,
            config.wal_segment_bytes,
            &counters,
            |record: WalRecord| {
                let tenant_index = index.entry(record.tenant.clone()).or_default();
                for stream in &record.streams {
                    let id = stream_id(&stream.labels);
                    let labels = Arc::new(stream.labels.clone());
                    let mut canonical = labels.clone();
                    for entry in &stream.entries {
                        canonical = tenant_index.add(id, &labels, day_of(entry.ts_ns));
                    }
                    head.insert(&record.tenant, id, &canonical, &stream.entries);
                }
            },
        )?;
        if head.entries == 0 {
            // Nothing to replay: old (empty or fully flushed) segments can go.
            wal.remove_before(wal.segment())?;
        }
        tracing::info!(
            data_dir = %data_dir.display(),
            parts = parts.values().map(Vec::len).sum::<usize>(),
            head_entries = head.entries,
            "storage opened"
        );
        Ok(Storage {
            config,
            counters,
            wal,
            heads: RwLock::new(Heads {
                active: head,
                frozen: Vec::new(),
            }),
            parts: RwLock::new(parts),
            index: RwLock::new(index),
            flush_lock: Mutex::new(()),
            merge_lock: Mutex::new(()),
            _dir_lock: dir_lock,
        })
    }

    pub(crate) fn partition_dir(&self, tenant: &str, day: i64) -> PathBuf {
        self.config
            .data_dir
            .join("tenants")
            .join(tenant)
            .join(crate::partition::day_name(day))
    }

    /// Appends entries; returns once they are durable per the fsync policy
    /// and visible to `scan`.
    pub fn append(&self, tenant: &str, streams: &[PushStream]) -> Result<(), StorageError> {
        let entries: usize = streams.iter().map(|stream| stream.entries.len()).sum();
        if entries == 0 {
            return Ok(());
        }
        // A head twice the flush size means flushes fall behind: this append
        // waits for one, which bounds memory and slows the clients down.
        let stall_bytes = self.config.flush_max_head_bytes.saturating_mul(2);
        if read_lock(&self.heads)?.active.memory >= stall_bytes {
            self.flush_if_over(stall_bytes)?;
        }
        let mut payload = Vec::with_capacity(
            streams
                .iter()
                .map(|s| s.entries.iter().map(|e| e.size_bytes() + 12).sum::<usize>())
                .sum::<usize>()
                + 64,
        );
        encode_record(tenant, streams, &mut payload);
        let mut framed = Vec::with_capacity(payload.len() + 8);
        frame_record(&payload, &mut framed);
        drop(payload);
        let resolved = self.index_streams(tenant, streams)?;
        let (seq, inserted) =
            self.wal
                .append(&framed, &self.counters, || -> Result<(), StorageError> {
                    let mut heads = write_lock(&self.heads)?;
                    for (stream, (id, labels)) in streams.iter().zip(&resolved) {
                        heads.active.insert(tenant, *id, labels, &stream.entries);
                    }
                    Ok(())
                })?;
        inserted?;
        self.wal.sync_to(seq, &self.counters)?;
        bump(&self.counters.entries_appended, entries as u64);
        Ok(())
    }

    /// Makes sure every stream is indexed for every day its entries touch;
    /// returns (stream id, canonical labels) per stream.
    fn index_streams(
        &self,
        tenant: &str,
        streams: &[PushStream],
    ) -> Result<Vec<(u64, Arc<Labels>)>, StorageError> {
        let mut resolved = Vec::with_capacity(streams.len());
        let mut missing = Vec::new();
        {
            let index = read_lock(&self.index)?;
            let tenant_index = index.get(tenant);
            for (position, stream) in streams.iter().enumerate() {
                let id = stream_id(&stream.labels);
                let mut labels = None;
                let mut last_day = None;
                for entry in &stream.entries {
                    let day = day_of(entry.ts_ns);
                    if last_day == Some(day) {
                        continue;
                    }
                    last_day = Some(day);
                    match tenant_index.and_then(|index| index.lookup(id, day)) {
                        Some(found) => labels = Some(found.clone()),
                        None => missing.push((position, day)),
                    }
                }
                resolved.push((
                    id,
                    labels.unwrap_or_else(|| Arc::new(stream.labels.clone())),
                ));
            }
        }
        if !missing.is_empty() {
            let mut index = write_lock(&self.index)?;
            let tenant_index = index.entry(tenant.to_string()).or_default();
            for (position, day) in missing {
                let (id, labels) = &resolved[position];
                let canonical = tenant_index.add(*id, labels, day);
                resolved[position].1 = canonical;
            }
        }
        Ok(resolved)
    }

    /// Runs `read` on the tenant's stream index over the days of
    /// `[start_ns, end_ns)`; empty when the range or the tenant is.
    fn with_index<T: Default>(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        read: impl FnOnce(&TenantIndex, i64, i64) -> T,
    ) -> Result<T, StorageError> {
        let Some((first, last)) = day_range(start_ns, end_ns) else {
            return Ok(T::default());
        };
        let index = read_lock(&self.index)?;
        Ok(index
            .get(tenant)
            .map(|tenant_index| read(tenant_index, first, last))
            .unwrap_or_default())
    }

    /// Streams matching all matchers with data in partitions overlapping the range, sorted.
    pub fn series(
        &self,
        tenant: &str,
        matchers: &[LabelMatcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>, StorageError> {
        let mut series: Vec<Labels> =
            self.with_index(tenant, start_ns, end_ns, |index, first, last| {
                index
                    .select(matchers, first, last)
                    .into_iter()
                    .map(|(_, labels)| (*labels).clone())
                    .collect()
            })?;
        series.dedup();
        Ok(series)
    }

    pub fn label_names(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StorageError> {
        self.with_index(tenant, start_ns, end_ns, |index, first, last| {
            index.label_names(first, last)
        })
    }

    pub fn label_values(
        &self,
        tenant: &str,
        name: &str,
        matchers: &[LabelMatcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StorageError> {
        self.with_index(tenant, start_ns, end_ns, |index, first, last| {
            index.label_values(name, matchers, first, last)
        })
    }

    pub fn stats(&self) -> StorageStats {
        let c = &self.counters;
        let (head_bytes, head_entries) = match self.heads.read() {
            Ok(heads) => {
                let frozen_bytes: u64 = heads.frozen.iter().map(|head| head.bytes).sum();
                let frozen_entries: u64 = heads.frozen.iter().map(|head| head.entries).sum();
                (
                    heads.active.bytes + frozen_bytes,
                    heads.active.entries + frozen_entries,
                )
            }
            Err(_) => (0, 0),
        };
        let (parts, disk_bytes) = match self.parts.read() {
            Ok(parts) => parts
                .values()
                .flatten()
                .fold((0, 0), |(count, bytes), part| {
                    (count + 1, bytes + part.size)
                }),
            Err(_) => (0, 0),
        };
        StorageStats {
            wal_bytes_written: read(&c.wal_bytes_written),
            wal_fsyncs: read(&c.wal_fsyncs),
            wal_records: read(&c.wal_records),
            entries_appended: read(&c.entries_appended),
            flushes: read(&c.flushes),
            parts_written: read(&c.parts_written),
            merges: read(&c.merges),
            parts_merged: read(&c.parts_merged),
            head_bytes,
            head_entries,
            parts,
            disk_bytes,
            filter_cache_bytes: crate::part::cached_filter_bytes(),
            corrupt_files: read(&c.corrupt_files),
            blocks_scanned: read(&c.blocks_scanned),
            blocks_copied: read(&c.blocks_copied),
            blocks_pruned_bloom: read(&c.blocks_pruned_bloom),
            blocks_pruned_time: read(&c.blocks_pruned_time),
        }
    }

    /// The configuration this storage was opened with.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }
}

/// Opens every part under `tenants/<tenant>/<day>/`; removes temp files;
/// quarantines corrupt parts.
fn load_parts(
    data_dir: &Path,
    tenants_dir: &Path,
    counters: &Counters,
) -> Result<Vec<Part>, StorageError> {
    let mut parts = Vec::new();
    for tenant_entry in read_dir(tenants_dir)? {
        let tenant = tenant_entry.file_name().to_string_lossy().into_owned();
        if !tenant_entry.path().is_dir() || strata_model::validate_tenant(&tenant).is_err() {
            tracing::warn!(path = %tenant_entry.path().display(), "ignoring unexpected entry in tenants directory");
            continue;
        }
        for day_entry in read_dir(&tenant_entry.path())? {
            let day_path = day_entry.path();
            let Some(day) = parse_day_name(&day_entry.file_name().to_string_lossy())
                .filter(|_| day_path.is_dir())
            else {
                tracing::warn!(path = %day_path.display(), "ignoring unexpected entry in tenant directory");
                continue;
            };
            for file_entry in read_dir(&day_path)? {
                let path = file_entry.path();
                let name = file_entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".tmp") {
                    tracing::info!(path = %path.display(), "removing unfinished temp file");
                    fs::remove_file(&path).map_err(|err| StorageError::io("remove", &path, err))?;
                    continue;
                }
                if !name.ends_with(".part") {
                    continue;
                }
                match Part::open(&path, &tenant, day) {
                    Ok(part) => parts.push(part),
                    Err(StorageError::Corrupt {
                        path,
                        offset,
                        reason,
                    }) => {
                        tracing::error!(path = %path.display(), offset, reason, "corrupt part");
                        bump(&counters.corrupt_files, 1);
                        quarantine(data_dir, &path);
                    }
                    Err(err) => {
                        tracing::error!(path = %path.display(), error = %err, "cannot open part, skipping it")
                    }
                }
            }
        }
    }
    Ok(parts)
}

/// How long `open` waits for the data directory lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Takes an exclusive lock on `<data_dir>/LOCK`; released when the file closes
/// (also when the process dies).
fn lock_data_dir(data_dir: &Path) -> Result<fs::File, StorageError> {
    let path = data_dir.join("LOCK");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|err| StorageError::io("open", &path, err))?;
    // Retry briefly: a child process forked by another thread of this process
    // holds a copy of the descriptor (and so the lock) until it calls exec.
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(fs::TryLockError::WouldBlock) => return Err(StorageError::Locked { path }),
            Err(fs::TryLockError::Error(err)) => return Err(StorageError::io("lock", &path, err)),
        }
    }
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, StorageError> {
    let entries = fs::read_dir(dir).map_err(|err| StorageError::io("list", dir, err))?;
    let mut result = Vec::new();
    for entry in entries {
        result.push(entry.map_err(|err| StorageError::io("list", dir, err))?);
    }
    result.sort_by_key(|entry| entry.file_name());
    Ok(result)
}
