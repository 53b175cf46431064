use std::path::PathBuf;

/// Errors of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file system operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was attempted: "open", "write", "fsync", ...
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Bytes on disk failed a magic, version, checksum or bounds check.
    #[error("unexpected data in {path} at byte {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// Another process (or another `Storage` in this one) has the data directory open.
    #[error("cannot lock {path}: the data directory is in use by another storage")]
    Locked { path: PathBuf },
    /// The WAL had an I/O error that may have lost written records; appends
    /// are refused until a restart replays the WAL from disk.
    #[error("cannot append: {reason}; restart to replay the wal")]
    WalFailed { reason: &'static str },
    /// One append would make a WAL record over the 1 GiB limit.
    #[error("cannot append {bytes} bytes as one wal record: the limit is 1 GiB")]
    RecordTooLarge { bytes: usize },
    /// A background thread or lock holder panicked earlier.
    #[error("cannot use storage: a lock was poisoned by an earlier panic")]
    Poisoned,
}

impl StorageError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> StorageError {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> StorageError {
        StorageError::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}
