use std::path::PathBuf;
use std::time::Duration;

/// When the WAL is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync before `append` returns; concurrent appends share one fsync.
    Always,
    /// Never fsync the WAL (data reaches the page cache before `append` returns).
    Never,
}

/// Settings of a [`crate::Storage`].
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Root directory: `wal/`, `tenants/`, `quarantine/` live below it.
    pub data_dir: PathBuf,
    /// WAL durability policy.
    pub fsync: FsyncPolicy,
    /// A WAL segment is closed and a new one started past this size.
    pub wal_segment_bytes: u64,
    /// Flush the head to parts when its rows take more than this many bytes
    /// of memory (spare capacity included); appends wait while the head is
    /// twice this size.
    pub flush_max_head_bytes: u64,
    /// Flush the head when its oldest data was appended longer ago than this.
    pub flush_max_age: Duration,
    /// Most rows per block.
    pub block_max_rows: usize,
    /// Most uncompressed line bytes per block.
    pub block_max_bytes: usize,
    /// Merge a partition when it has at least this many small parts.
    pub merge_min_parts: usize,
    /// zstd compression level of columns.
    pub zstd_level: i32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./data"),
            fsync: FsyncPolicy::Always,
            wal_segment_bytes: 64 << 20,
            flush_max_head_bytes: 32 << 20,
            flush_max_age: Duration::from_secs(60),
            block_max_rows: 8192,
            block_max_bytes: 1 << 20,
            merge_min_parts: 8,
            zstd_level: 1,
        }
    }
}
