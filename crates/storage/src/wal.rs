//! The write-ahead log: segment files of CRC-framed records, group commit.
//!
//! ```text
//! segment = header: magic "SWAL", version u32, segment seq u64, crc32 of the previous 16 bytes
//!           records: len u32, crc32 u32 (of payload), payload (see wal_record.rs)
//! ```
//! Segments are named `<seq as 16 hex digits>.wal`. A segment whose data is
//! all in parts is deleted by [`Wal::remove_before`].

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use crate::config::FsyncPolicy;
use crate::encoding::{Reader, crc32, put_u32, put_u64};
use crate::error::StorageError;
use crate::fs_util::{quarantine, sync_dir};
use crate::stats::{Counters, bump};
use crate::wal_record::{WalRecord, decode_record};

pub const WAL_MAGIC: &[u8; 4] = b"SWAL";
pub const WAL_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 20;
/// Largest record payload accepted when replaying.
const MAX_RECORD_BYTES: usize = 1 << 30;

pub struct Wal {
    /// Directory of the segment files.
    dir: PathBuf,
    /// Durability policy of `append`.
    policy: FsyncPolicy,
    /// A segment is closed when it grows past this.
    segment_bytes: u64,
    /// The open segment; held while a record is written (and the head updated).
    state: Mutex<WalState>,
    /// Group-commit bookkeeping; never held together with `state`.
    sync: Mutex<SyncState>,
    /// Wakes followers when a leader's fsync completes.
    synced: Condvar,
}

struct WalState {
    /// The open segment, shared with the fsync leader.
    file: Arc<File>,
    /// Path of the open segment, for errors.
    path: PathBuf,
    /// Sequence number of the open segment.
    segment: u64,
    /// Bytes in the open segment.
    size: u64,
    /// Records written since open; the group-commit sequence number.
    written: u64,
    /// Set after a write or fsync failed in a way that may have left the
    /// segment unusable: every later append is refused until a restart
    /// replays the WAL from disk.
    broken: Option<&'static str>,
}

struct SyncState {
    /// Every record numbered up to this is fsynced.
    synced: u64,
    /// A leader is running fsync now.
    syncing: bool,
    /// An fsync failed: its records (and any written with them) may be lost
    /// by the kernel, so no waiter may retry and report success.
    failed: bool,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016x}.wal"))
}

/// Existing segments, sorted by sequence number.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut segments = Vec::new();
    let entries = fs::read_dir(dir).map_err(|err| StorageError::io("list", dir, err))?;
    for entry in entries {
        let entry = entry.map_err(|err| StorageError::io("list", dir, err))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(hex) = name.strip_suffix(".wal")
            && let Ok(seq) = u64::from_str_radix(hex, 16)
        {
            segments.push((seq, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

pub fn encode_header(seq: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(WAL_MAGIC);
    put_u32(&mut header, WAL_VERSION);
    put_u64(&mut header, seq);
    let crc = crc32(&header);
    put_u32(&mut header, crc);
    header
}

/// Frames a payload as a record: len, crc32, payload.
pub fn frame_record(payload: &[u8], out: &mut Vec<u8>) {
    put_u32(out, payload.len() as u32);
    put_u32(out, crc32(payload));
    out.extend_from_slice(payload);
}

/// What reading a segment found.
pub struct SegmentContents {
    /// Decoded records, in order.
    pub records: Vec<WalRecord>,
    /// Offset where valid data ends; less than the file size when the tail is torn.
    pub valid_len: u64,
    /// Why reading stopped early, if it did.
    pub torn: Option<&'static str>,
    /// True when what follows `valid_len` looks like a write cut short by a
    /// crash (a frame running past the end of the file, a last frame whose
    /// checksum fails, or zeros); false when a damaged record is followed by
    /// more data, which is corruption: acknowledged records may follow it.
    pub tail_is_torn: bool,
    /// Records whose CRC held but whose payload did not decode: (offset, reason).
    pub bad_payloads: Vec<(u64, &'static str)>,
}

/// Parses a whole segment. Err means the header is bad (the file is corrupt).
pub fn read_segment(bytes: &[u8]) -> Result<SegmentContents, (u64, &'static str)> {
    let mut reader = Reader::new(bytes);
    let header = reader
        .bytes(HEADER_LEN)
        .map_err(|_| (0, "segment is shorter than its header"))?;
    if &header[0..4] != WAL_MAGIC {
        return Err((0, "unexpected segment magic"));
    }
    let mut header_reader = Reader::new(&header[4..]);
    let version = header_reader.u32().map_err(|err| (4, err.reason))?;
    if version != WAL_VERSION {
        return Err((4, "unsupported segment version"));
    }
    let stored_crc = u32::from_le_bytes([header[16], header[17], header[18], header[19]]);
    if stored_crc != crc32(&header[..16]) {
        return Err((16, "segment header checksum mismatch"));
    }
    let mut contents = SegmentContents {
        records: Vec::new(),
        valid_len: HEADER_LEN as u64,
        torn: None,
        tail_is_torn: true,
        bad_payloads: Vec::new(),
    };
    while !reader.is_empty() {
        let offset = reader.position() as u64;
        let frame = (|| {
            let len = reader.u32().map_err(|_| "torn record header")? as usize;
            let crc = reader.u32().map_err(|_| "torn record header")?;
            if len > MAX_RECORD_BYTES {
                return Err("record length out of bounds");
            }
            let payload = reader.bytes(len).map_err(|_| "torn record payload")?;
            if crc32(payload) != crc {
                return Err("record checksum mismatch");
            }
            Ok(payload)
        })();
        match frame {
            Ok(payload) => {
                match decode_record(payload) {
                    Ok(record) => contents.records.push(record),
                    Err(err) => contents
                        .bad_payloads
                        .push((offset + 8 + err.offset as u64, err.reason)),
                }
                contents.valid_len = reader.position() as u64;
            }
            Err(reason) => {
                let rest = &bytes[offset as usize..];
                let frame_ends_the_file = reader.is_empty();
                contents.tail_is_torn = match reason {
                    "torn record header" | "torn record payload" => true,
                    "record checksum mismatch" => frame_ends_the_file,
                    _ => false,
                } || rest.iter().all(|byte| *byte == 0);
                contents.torn = Some(reason);
                break;
            }
        }
    }
    Ok(contents)
}

impl Wal {
    /// Replays every segment of `dir` into `replay` (in order), then starts a new segment.
    pub fn open(
        dir: &Path,
        data_dir: &Path,
        policy: FsyncPolicy,
        segment_bytes: u64,
        counters: &Counters,
        mut replay: impl FnMut(WalRecord),
    ) -> Result<Wal, StorageError> {
        let segments = list_segments(dir)?;
        let mut next_seq = 1;
        for (seq, path) in &segments {
            next_seq = next_seq.max(seq + 1);
            replay_segment(path, data_dir, counters, &mut replay)?;
        }
        let state = create_segment(dir, next_seq, policy)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            policy,
            segment_bytes,
            state: Mutex::new(state),
            sync: Mutex::new(SyncState {
                synced: 0,
                syncing: false,
                failed: false,
            }),
            synced: Condvar::new(),
        })
    }

    /// Writes one framed record, then runs `then` while still holding the WAL
    /// lock (so that the head sees records in WAL order). Returns the record's
    /// sequence number for [`Wal::sync_to`].
    pub fn append<T>(
        &self,
        framed: &[u8],
        counters: &Counters,
        then: impl FnOnce() -> T,
    ) -> Result<(u64, T), StorageError> {
        let mut state = self.state.lock().map_err(|_| StorageError::Poisoned)?;
        if let Some(reason) = state.broken {
            return Err(StorageError::WalFailed { reason });
        }
        if framed.len() > MAX_RECORD_BYTES + 8 {
            return Err(StorageError::RecordTooLarge {
                bytes: framed.len(),
            });
        }
        // Write at the known end, not at the file cursor: after a failed
        // write the cursor may sit past it and leave a hole.
        if let Err(err) = state.file.write_all_at(framed, state.size) {
            // Cut a partial record off so that later records stay replayable.
            if state.file.set_len(state.size).is_err() {
                state.broken = Some("cannot cut off a partly written record");
            }
            return Err(StorageError::io("write", &state.path, err));
        }
        state.size += framed.len() as u64;
        state.written += 1;
        bump(&counters.wal_bytes_written, framed.len() as u64);
        bump(&counters.wal_records, 1);
        let seq = state.written;
        let result = then();
        if state.size >= self.segment_bytes {
            self.rotate_locked(&mut state, counters)?;
        }
        Ok((seq, result))
    }

    /// Blocks until record `seq` is fsynced; concurrent callers share fsyncs.
    pub fn sync_to(&self, seq: u64, counters: &Counters) -> Result<(), StorageError> {
        if self.policy == FsyncPolicy::Never {
            return Ok(());
        }
        let mut sync = self.sync.lock().map_err(|_| StorageError::Poisoned)?;
        loop {
            if sync.synced >= seq {
                return Ok(());
            }
            if sync.failed {
                return Err(StorageError::WalFailed {
                    reason: "an fsync of the wal failed",
                });
            }
            if !sync.syncing {
                break;
            }
            sync = self.synced.wait(sync).map_err(|_| StorageError::Poisoned)?;
        }
        sync.syncing = true;
        drop(sync);
        let (file, path, target) = {
            let state = self.state.lock().map_err(|_| StorageError::Poisoned)?;
            (state.file.clone(), state.path.clone(), state.written)
        };
        let result = file
            .sync_data()
            .map_err(|err| StorageError::io("fsync", path, err));
        bump(&counters.wal_fsyncs, 1);
        let mut sync = self.sync.lock().map_err(|_| StorageError::Poisoned)?;
        sync.syncing = false;
        if result.is_ok() {
            sync.synced = sync.synced.max(target);
        } else {
            sync.failed = true;
        }
        self.synced.notify_all();
        drop(sync);
        if result.is_err()
            && let Ok(mut state) = self.state.lock()
        {
            state.broken = Some("an fsync of the wal failed");
        }
        result
    }

    /// Starts a new segment, running `then` under the WAL lock first. Returns
    /// the new segment's number: every record of older segments went through
    /// a `then` of `append` before this `then` ran.
    pub fn rotate<T>(
        &self,
        counters: &Counters,
        then: impl FnOnce() -> T,
    ) -> Result<(u64, T), StorageError> {
        let mut state = self.state.lock().map_err(|_| StorageError::Poisoned)?;
        let result = then();
        self.rotate_locked(&mut state, counters)?;
        Ok((state.segment, result))
    }

    fn rotate_locked(&self, state: &mut WalState, counters: &Counters) -> Result<(), StorageError> {
        if self.policy == FsyncPolicy::Always {
            if let Err(err) = state.file.sync_data() {
                state.broken = Some("an fsync of the wal failed");
                return Err(StorageError::io("fsync", &state.path, err));
            }
            bump(&counters.wal_fsyncs, 1);
        }
        let written = state.written;
        let mut next = create_segment(&self.dir, state.segment + 1, self.policy)?;
        next.written = written;
        *state = next;
        Ok(())
    }

    /// Number of the open segment.
    pub fn segment(&self) -> u64 {
        self.state.lock().map(|state| state.segment).unwrap_or(0)
    }

    /// Deletes every segment numbered below `seq`.
    pub fn remove_before(&self, seq: u64) -> Result<(), StorageError> {
        for (segment, path) in list_segments(&self.dir)? {
            if segment < seq {
                fs::remove_file(&path).map_err(|err| StorageError::io("remove", &path, err))?;
            }
        }
        sync_dir(&self.dir)
    }
}

fn create_segment(dir: &Path, seq: u64, policy: FsyncPolicy) -> Result<WalState, StorageError> {
    let path = segment_path(dir, seq);
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(|err| StorageError::io("create", &path, err))?;
    file.write_all(&encode_header(seq))
        .map_err(|err| StorageError::io("write", &path, err))?;
    if policy == FsyncPolicy::Always {
        file.sync_all()
            .map_err(|err| StorageError::io("fsync", &path, err))?;
        sync_dir(dir)?;
    }
    Ok(WalState {
        file: Arc::new(file),
        path,
        segment: seq,
        size: HEADER_LEN as u64,
        written: 0,
        broken: None,
    })
}

fn replay_segment(
    path: &Path,
    data_dir: &Path,
    counters: &Counters,
    replay: &mut impl FnMut(WalRecord),
) -> Result<(), StorageError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .map_err(|err| StorageError::io("read", path, err))?;
    if bytes.len() < HEADER_LEN {
        // Crashed while creating the segment: nothing was acknowledged from it.
        tracing::warn!(path = %path.display(), size = bytes.len(), "removing wal segment with a torn header");
        fs::remove_file(path).map_err(|err| StorageError::io("remove", path, err))?;
        return Ok(());
    }
    let contents = match read_segment(&bytes) {
        Ok(contents) => contents,
        Err((offset, reason)) => {
            tracing::error!(path = %path.display(), offset, reason, "corrupt wal segment");
            bump(&counters.corrupt_files, 1);
            quarantine(data_dir, path);
            return Ok(());
        }
    };
    for (offset, reason) in &contents.bad_payloads {
        tracing::error!(path = %path.display(), offset, reason, "skipping undecodable wal record");
        bump(&counters.corrupt_files, 1);
    }
    if let Some(reason) = contents.torn {
        if contents.tail_is_torn {
            tracing::warn!(path = %path.display(), offset = contents.valid_len, reason, "truncating torn wal tail");
        } else {
            // Damage with data after it: keep the whole segment aside before
            // cutting it, so that nothing is destroyed.
            tracing::error!(path = %path.display(), offset = contents.valid_len, reason, "corrupt wal record; a copy of the segment is kept in quarantine");
            bump(&counters.corrupt_files, 1);
            copy_to_quarantine(data_dir, path)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|err| StorageError::io("open", path, err))?;
        file.set_len(contents.valid_len)
            .map_err(|err| StorageError::io("truncate", path, err))?;
        file.sync_all()
            .map_err(|err| StorageError::io("fsync", path, err))?;
    }
    for record in contents.records {
        replay(record);
    }
    Ok(())
}

/// Copies `path` into `<data_dir>/quarantine/`, fsynced, keeping the original.
fn copy_to_quarantine(data_dir: &Path, path: &Path) -> Result<(), StorageError> {
    let dir = data_dir.join("quarantine");
    fs::create_dir_all(&dir).map_err(|err| StorageError::io("create", &dir, err))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let target = dir.join(format!("{name}.{nanos}"));
    fs::copy(path, &target).map_err(|err| StorageError::io("copy", &target, err))?;
    File::open(&target)
        .and_then(|file| file.sync_all())
        .map_err(|err| StorageError::io("fsync", &target, err))?;
    crate::fs_util::sync_dir(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal_record::encode_record;
    use strata_model::{Entry, Labels, PushStream};

    fn framed(line: &str) -> Vec<u8> {
        let stream = PushStream {
            labels: Labels::parse(r#"{a="1"}"#).unwrap(),
            entries: vec![Entry::new(1, line)],
        };
        let mut payload = Vec::new();
        encode_record("t", &[stream], &mut payload);
        let mut framed = Vec::new();
        frame_record(&payload, &mut framed);
        framed
    }

    /// A fresh WAL in `dir` (segments of `segment_bytes`) and `lines`
    /// appended and synced one record each.
    fn wal_with(dir: &Path, segment_bytes: u64, counters: &Counters, lines: usize) -> Wal {
        let wal = Wal::open(
            dir,
            dir,
            FsyncPolicy::Always,
            segment_bytes,
            counters,
            |_| {},
        )
        .unwrap();
        for i in 0..lines {
            let (seq, ()) = wal
                .append(&framed(&format!("line {i}")), counters, || ())
                .unwrap();
            wal.sync_to(seq, counters).unwrap();
        }
        wal
    }

    fn replayed(dir: &Path) -> Vec<String> {
        let counters = Counters::default();
        let mut lines = Vec::new();
        let _wal = Wal::open(
            dir,
            dir,
            FsyncPolicy::Always,
            1 << 20,
            &counters,
            |record| {
                lines.push(record.streams[0].entries[0].line.clone());
            },
        )
        .unwrap();
        lines
    }

    /// A damaged record with good records after it is corruption, not a torn
    /// tail: the segment is cut to stay writable, but a full copy is kept.
    #[test]
    fn corruption_mid_segment_keeps_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Counters::default();
        let wal = wal_with(dir.path(), 1 << 20, &counters, 3);
        drop(wal);
        let (_, path) = list_segments(dir.path()).unwrap().pop().unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let record_len = framed("line 0").len();
        // Flip a payload byte of the second record.
        bytes[HEADER_LEN + record_len + 12] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(replayed(dir.path()), ["line 0"]);
        let kept: Vec<_> = fs::read_dir(dir.path().join("quarantine"))
            .unwrap()
            .collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(fs::read(kept[0].as_ref().unwrap().path()).unwrap(), bytes);
    }

    /// After an fsync failure or a failed write, the WAL writes at its known
    /// end: no hole, and later records replay.
    #[test]
    fn appends_write_at_the_known_end() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Counters::default();
        let wal = wal_with(dir.path(), 1 << 20, &counters, 0);
        let (seq, ()) = wal.append(&framed("first"), &counters, || ()).unwrap();
        wal.sync_to(seq, &counters).unwrap();
        {
            // Leave the file cursor past the end, as a failed partial write
            // followed by a truncate does: a cursor write would leave a hole.
            use std::io::{Seek, SeekFrom};
            let state = wal.state.lock().unwrap();
            (&*state.file)
                .seek(SeekFrom::Start(state.size + 100))
                .unwrap();
        }
        let (seq, ()) = wal.append(&framed("second"), &counters, || ()).unwrap();
        wal.sync_to(seq, &counters).unwrap();
        drop(wal);
        assert_eq!(replayed(dir.path()), ["first", "second"]);
    }

    #[test]
    fn replays_rotates_and_truncates_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Counters::default();
        let wal = wal_with(dir.path(), 100, &counters, 5);
        drop(wal);
        assert_eq!(
            replayed(dir.path()),
            ["line 0", "line 1", "line 2", "line 3", "line 4"]
        );
        // Tear the last non-empty segment.
        let segments = list_segments(dir.path()).unwrap();
        let last = segments
            .iter()
            .rev()
            .find(|(_, path)| fs::metadata(path).unwrap().len() > HEADER_LEN as u64)
            .unwrap();
        let len = fs::metadata(&last.1).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&last.1)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        assert_eq!(
            replayed(dir.path()),
            ["line 0", "line 1", "line 2", "line 3"]
        );
        assert_eq!(
            replayed(dir.path()),
            ["line 0", "line 1", "line 2", "line 3"]
        );
    }

    proptest::proptest! {
        #[test]
        fn segment_parsing_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            let mut segment = encode_header(1);
            segment.extend_from_slice(&bytes);
            let _ = read_segment(&segment);
            let _ = read_segment(&bytes);
        }

        #[test]
        fn segment_round_trip(lines in proptest::collection::vec(".{0,10}", 0..10)) {
            let mut segment = encode_header(3);
            for line in &lines {
                segment.extend_from_slice(&framed(line));
            }
            let contents = read_segment(&segment).unwrap();
            proptest::prop_assert!(contents.torn.is_none());
            let decoded: Vec<String> = contents.records.iter().map(|r| r.streams[0].entries[0].line.clone()).collect();
            proptest::prop_assert_eq!(decoded, lines);
        }
    }
}
