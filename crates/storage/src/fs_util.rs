//! File system helpers: directory fsync, atomic file creation, quarantine.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::StorageError;

/// fsyncs a directory so that renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    let handle = File::open(dir).map_err(|err| StorageError::io("open directory", dir, err))?;
    handle
        .sync_all()
        .map_err(|err| StorageError::io("fsync directory", dir, err))
}

pub fn create_dir_all(dir: &Path) -> Result<(), StorageError> {
    fs::create_dir_all(dir).map_err(|err| StorageError::io("create directory", dir, err))
}

pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Moves a bad file to `<data_dir>/quarantine/`, under a name that keeps its
/// origin readable (`tenants_t_2024-01-01_<id>.part.<n>`). Never fails: a file
/// that cannot be moved is logged and left in place.
pub fn quarantine(data_dir: &Path, path: &Path) -> Option<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = data_dir.join("quarantine");
    if let Err(err) = fs::create_dir_all(&dir) {
        tracing::error!(path = %dir.display(), error = %err, "cannot create quarantine directory");
        return None;
    }
    let relative = path.strip_prefix(data_dir).unwrap_or(path);
    let flat: String = relative
        .to_string_lossy()
        .chars()
        .map(|c| if c == '/' { '_' } else { c })
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let target = dir.join(format!(
        "{flat}.{nanos}.{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    match fs::rename(path, &target) {
        Ok(()) => {
            tracing::error!(path = %path.display(), moved_to = %target.display(), "moved corrupt file to quarantine");
            Some(target)
        }
        Err(err) => {
            tracing::error!(path = %path.display(), error = %err, "cannot move corrupt file to quarantine");
            None
        }
    }
}
