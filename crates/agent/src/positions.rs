//! Where each file has been read up to, persisted atomically: written to a
//! temporary file, fsynced, renamed over the old one, directory fsynced. A
//! position only ever moves past lines every output has acknowledged, so a
//! crash at any point re-sends lines (at least once) and never skips any.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A file's identity and how far it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The path it was last seen at.
    pub path: PathBuf,
    /// The path it was first found at: its `filename` label, kept when the
    /// file is renamed by a rotation (so lines sent again after a crash are
    /// in the same stream). None in positions of older agents: `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<PathBuf>,
    /// The source (of the agent's config) whose glob found it.
    #[serde(default)]
    pub source: usize,
    pub dev: u64,
    pub ino: u64,
    /// Bytes acknowledged: the start of the first line not yet delivered.
    pub offset: u64,
    /// Length and xxh3 of the file's first bytes (up to 1 KiB), which tell
    /// a rewritten or reused inode from the file that was being read.
    pub head_len: u64,
    pub head_hash: u64,
    /// The timestamp of the first line past `offset` while a batch holding
    /// it is in flight: lines sent again after a crash get the same
    /// timestamps, so the server drops them as duplicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_ts: Option<i64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PositionsFile {
    files: Vec<Position>,
    /// Per journal source (by index), the cursor of the last delivered entry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    cursors: BTreeMap<usize, String>,
}

/// Per journal source, the saved cursor.
pub type Cursors = BTreeMap<usize, String>;

/// Reads the file positions and the journal cursors; a missing file is an
/// empty set.
pub fn load_all(path: &Path) -> anyhow::Result<(Vec<Position>, Cursors)> {
    match fs::read(path) {
        Ok(bytes) => {
            let file: PositionsFile = serde_json::from_slice(&bytes).map_err(|err| {
                anyhow::anyhow!("positions file {} is not valid: {err}", path.display())
            })?;
            Ok((file.files, file.cursors))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(err) => Err(anyhow::anyhow!(
            "cannot read positions file {}: {err}",
            path.display()
        )),
    }
}

/// Replaces the positions file with `positions` and `cursors`, durably.
pub fn save_all(path: &Path, positions: &[Position], cursors: &Cursors) -> anyhow::Result<()> {
    let mut temp = PathBuf::from(path);
    temp.as_mut_os_string().push(".tmp");
    let body = serde_json::to_vec(&PositionsFile {
        files: positions.to_vec(),
        cursors: cursors.clone(),
    })?;
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&temp)?;
        file.write_all(&body)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|err| anyhow::anyhow!("cannot write positions file {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_refuse_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.json");
        assert!(load_all(&path).unwrap().0.is_empty());
        let positions = vec![Position {
            path: dir.path().join("a.log.1"),
            name: Some(dir.path().join("a.log")),
            source: 1,
            dev: 1,
            ino: 2,
            offset: 3,
            head_len: 4,
            head_hash: 5,
            replay_ts: Some(6),
        }];
        let cursors = Cursors::from([(2, "s=abc;i=1".to_string())]);
        save_all(&path, &positions, &cursors).unwrap();
        assert_eq!(load_all(&path).unwrap(), (positions, cursors));
        fs::write(&path, b"{oops").unwrap();
        let err = load_all(&path).unwrap_err().to_string();
        assert!(
            err.contains("positions file") && err.contains("not valid"),
            "{err}"
        );
    }
}
