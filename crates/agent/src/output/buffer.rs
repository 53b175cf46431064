//! A disk buffer in front of an output, so an outage of one destination
//! neither blocks the agent's other outputs nor loses lines:
//!
//! ```yaml
//! outputs:
//!   - type: elasticsearch
//!     url: http://es:9200
//!     buffer: {path: /var/lib/strata-agent/buffer-es, max_bytes: 1GiB, when_full: block}
//! ```
//!
//! A batch sent to a buffered output is appended to the buffer and fsynced,
//! and that is its acknowledgement: the agent's positions move on. A thread
//! sends the buffered batches to the destination in order, with the usual
//! retries, and moves the buffer's read pointer (saved atomically) once the
//! destination has answered. So the buffer survives agent restarts and
//! crashes: what was appended and not yet delivered is sent after a restart
//! (at least once: a batch in flight at a crash is sent again).
//!
//! On disk: segment files `NNNNNNNNNNNNNNNNNNNN.seg` of records
//! `[u32 length][u32 crc32 of the payload][payload: the batch as JSON]`
//! (little-endian), at most 64 MiB each, and `read-pointer`: the segment and
//! offset of the first record not yet delivered. A record that fails its
//! checksum or is cut short (a torn write at a crash, a damaged disk) is
//! counted in `strata_agent_buffer_corrupt_records_total`, and the rest of
//! its segment is skipped: the buffer detects its own corruption instead of
//! sending garbage or stopping.
//!
//! `max_bytes` bounds the bytes not yet delivered; when it is reached,
//! `when_full: block` (default) makes the agent wait (it stops reading; the
//! files hold the lines), `drop_newest` drops the new batch, counted in
//! `strata_agent_buffer_dropped_lines_total`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::{Batch, Delivery, Output, Stream};

/// An entry as a buffer record holds it: time, line, structured metadata.
type StoredEntry = (i64, String, Vec<(String, String)>);

/// A stream as a buffer record holds it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    labels: String,
    entries: Vec<StoredEntry>,
    fields: Vec<serde_json::Map<String, serde_json::Value>>,
}

fn encode(batch: &Batch) -> serde_json::Result<Vec<u8>> {
    let stored: Vec<Stored> = batch
        .iter()
        .map(|stream| Stored {
            labels: stream.name.clone(),
            entries: stream
                .entries
                .iter()
                .map(|e| (e.ts_ns, e.line.clone(), e.metadata.clone()))
                .collect(),
            fields: stream.fields.clone(),
        })
        .collect();
    serde_json::to_vec(&stored)
}

fn decode(payload: &[u8]) -> Result<Batch, String> {
    let stored: Vec<Stored> = serde_json::from_slice(payload).map_err(|err| err.to_string())?;
    stored
        .into_iter()
        .map(|stream| {
            let labels =
                strata_model::Labels::parse(&stream.labels).map_err(|err| err.to_string())?;
            Ok(Stream {
                name: stream.labels,
                labels,
                entries: stream
                    .entries
                    .into_iter()
                    .map(|(ts_ns, line, metadata)| strata_model::Entry {
                        ts_ns,
                        line,
                        metadata,
                    })
                    .collect(),
                fields: stream.fields,
            })
        })
        .collect()
}

/// Largest segment file.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Largest record accepted when reading (a batch is at most 16 MiB of lines).
const MAX_RECORD: u32 = 256 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    pub path: PathBuf,
    /// Most bytes held (`1GiB`, default 256MiB).
    #[serde(default)]
    pub max_bytes: Option<String>,
    /// `block` (default) or `drop_newest`.
    #[serde(default)]
    pub when_full: Option<String>,
}

/// Buffer counters, shown on /metrics.
#[derive(Debug, Default)]
pub struct BufferStats {
    pub bytes: AtomicU64,
    pub dropped_lines: AtomicU64,
    pub corrupt_records: AtomicU64,
}

/// Where a record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Spot {
    segment: u64,
    offset: u64,
}

struct State {
    /// The first record not yet delivered.
    read: Spot,
    /// Where the next record goes.
    write: Spot,
    file: Option<File>,
    /// Per live segment (from `read.segment` to `write.segment`), the end
    /// of its records.
    ends: BTreeMap<u64, u64>,
}

impl State {
    /// Bytes held: from `read` to the end of every live segment.
    fn held(&self) -> u64 {
        self.ends
            .range(self.read.segment..)
            .map(|(&segment, &end)| {
                if segment == self.read.segment {
                    end.saturating_sub(self.read.offset)
                } else {
                    end
                }
            })
            .sum()
    }
}

struct Shared {
    dir: PathBuf,
    max_bytes: u64,
    drop_newest: bool,
    state: Mutex<State>,
    changed: Condvar,
    stats: Arc<BufferStats>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An output behind a disk buffer.
pub struct Buffered {
    /// The destination (also used by the draining thread).
    pub output: Arc<Output>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    drainer: Option<std::thread::JoinHandle<()>>,
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.seg"))
}

fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut ids: Vec<u64> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()?
                .strip_suffix(".seg")?
                .parse()
                .ok()
        })
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

fn load_pointer(dir: &Path) -> Option<Spot> {
    let text = fs::read_to_string(dir.join("read-pointer")).ok()?;
    let (segment, offset) = text.trim().split_once(' ')?;
    Some(Spot {
        segment: segment.parse().ok()?,
        offset: offset.parse().ok()?,
    })
}

fn save_pointer(dir: &Path, spot: Spot) -> std::io::Result<()> {
    let temp = dir.join("read-pointer.tmp");
    let mut file = File::create(&temp)?;
    writeln!(file, "{} {}", spot.segment, spot.offset)?;
    file.sync_all()?;
    fs::rename(&temp, dir.join("read-pointer"))?;
    File::open(dir)?.sync_all()
}

/// Reads the record at `offset` of `file`: Ok(None) at a clean end,
/// Err(()) when it is cut short or fails its checksum.
fn read_record(file: &mut File, offset: u64, end: u64) -> Result<Option<(Vec<u8>, u64)>, ()> {
    if offset >= end {
        return Ok(None);
    }
    if end - offset < 8 {
        return Err(());
    }
    let mut head = [0u8; 8];
    file.seek(SeekFrom::Start(offset)).map_err(|_| ())?;
    file.read_exact(&mut head).map_err(|_| ())?;
    let length = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if length > MAX_RECORD || offset + 8 + u64::from(length) > end {
        return Err(());
    }
    let mut payload = vec![0u8; length as usize];
    file.read_exact(&mut payload).map_err(|_| ())?;
    if crc32fast::hash(&payload) != crc {
        return Err(());
    }
    Ok(Some((payload, offset + 8 + u64::from(length))))
}

/// The end of the valid records of a segment from `start` (records before
/// it were delivered and are not read again), and whether something
/// invalid follows them.
fn valid_end(path: &Path, start: u64) -> std::io::Result<(u64, bool)> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut offset = start;
    loop {
        match read_record(&mut file, offset, len) {
            Ok(Some((_, next))) => offset = next,
            Ok(None) => return Ok((offset.min(len), false)),
            Err(()) => return Ok((offset, true)),
        }
    }
}

fn parse_size(text: &str) -> anyhow::Result<u64> {
    strata_logql::units::parse_bytes(text)
        .filter(|bytes| *bytes >= 1 << 20)
        .ok_or_else(|| anyhow::anyhow!("max_bytes: {text:?} is not a size of at least 1MiB"))
}

impl Buffered {
    /// Opens (or creates) the buffer and starts sending what it holds
    /// through `output`.
    pub fn open(
        config: &BufferConfig,
        output: Output,
        stats: Arc<BufferStats>,
    ) -> anyhow::Result<Buffered> {
        let max_bytes = match &config.max_bytes {
            None => 256 << 20,
            Some(text) => parse_size(text)?,
        };
        let drop_newest = match config.when_full.as_deref() {
            None | Some("block") => false,
            Some("drop_newest") => true,
            Some(other) => anyhow::bail!("when_full: {other:?} is not block or drop_newest"),
        };
        let dir = config.path.clone();
        fs::create_dir_all(&dir)
            .map_err(|err| anyhow::anyhow!("path: cannot create {}: {err}", dir.display()))?;
        let mut ids = segments(&dir)?;
        let mut read = load_pointer(&dir).unwrap_or(Spot {
            segment: ids.first().copied().unwrap_or(1),
            offset: 0,
        });
        // Segments before the pointer were delivered (their deletion was
        // interrupted): finish it.
        for id in ids.iter().filter(|id| **id < read.segment) {
            let _ = fs::remove_file(segment_path(&dir, *id));
        }
        ids.retain(|id| *id >= read.segment);
        if ids.first() != Some(&read.segment) && read.offset > 0 {
            // The pointer's segment is gone: go on with the next one.
            read = Spot {
                segment: ids.first().copied().unwrap_or(read.segment + 1),
                offset: 0,
            };
        }
        let mut ends = BTreeMap::new();
        let last = ids.last().copied();
        for &id in &ids {
            let path = segment_path(&dir, id);
            let start = if id == read.segment { read.offset } else { 0 };
            let (end, damaged) = valid_end(&path, start)?;
            if damaged {
                stats.corrupt_records.fetch_add(1, Ordering::Relaxed);
                tracing::error!(segment = %path.display(), offset = end, "the disk buffer holds a damaged or torn record; what follows it in this segment is dropped");
            }
            if Some(id) == last {
                // Appends go after the last good record: cut a torn tail.
                OpenOptions::new().write(true).open(&path)?.set_len(end)?;
            }
            ends.insert(id, end);
        }
        let write = match last {
            Some(id) => Spot {
                segment: id,
                offset: ends.get(&id).copied().unwrap_or(0),
            },
            None => read,
        };
        ends.entry(write.segment).or_insert(write.offset);
        let state = State {
            read,
            write,
            file: None,
            ends,
        };
        stats.bytes.store(state.held(), Ordering::Relaxed);
        let shared = Arc::new(Shared {
            dir,
            max_bytes,
            drop_newest,
            state: Mutex::new(state),
            changed: Condvar::new(),
            stats,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let output = Arc::new(output);
        let drainer = {
            let shared = shared.clone();
            let stop = stop.clone();
            let output = output.clone();
            std::thread::Builder::new()
                .name("agent-buffer".into())
                .spawn(move || drain(&shared, &output, &stop))?
        };
        Ok(Buffered {
            output,
            shared,
            stop,
            drainer: Some(drainer),
        })
    }

    /// Bytes not yet delivered.
    pub fn held(&self) -> u64 {
        self.shared.lock().held()
    }

    /// Appends `batch` durably: its acknowledgement. Waits while the buffer
    /// is full (`block`), or drops it (`drop_newest`); retries a failing
    /// disk (full, read-only) until it works or `stop` is set.
    pub fn send(&self, batch: &Batch, stop: &AtomicBool) -> Delivery {
        let payload = match encode(batch) {
            Ok(payload) => payload,
            Err(err) => return Delivery::Refused(format!("cannot encode the batch: {err}")),
        };
        let size = 8 + payload.len() as u64;
        let shared = &self.shared;
        let mut backoff = Duration::from_millis(100);
        let mut state = shared.lock();
        loop {
            if stop.load(Ordering::Relaxed) {
                return Delivery::Stopped;
            }
            let held = state.held();
            if held > 0 && held + size > shared.max_bytes {
                if shared.drop_newest {
                    let lines: u64 = batch.iter().map(|s| s.entries.len() as u64).sum();
                    shared
                        .stats
                        .dropped_lines
                        .fetch_add(lines, Ordering::Relaxed);
                    tracing::warn!(lines, "the disk buffer is full; dropping the newest batch");
                    return Delivery::Accepted;
                }
                state = shared
                    .changed
                    .wait_timeout(state, Duration::from_millis(100))
                    .map(|(state, _)| state)
                    .unwrap_or_else(|e| e.into_inner().0);
                continue;
            }
            match append(shared, &mut state, &payload) {
                Ok(()) => {
                    shared.stats.bytes.store(state.held(), Ordering::Relaxed);
                    shared.changed.notify_all();
                    return Delivery::Accepted;
                }
                Err(err) => {
                    tracing::error!(error = %err, dir = %shared.dir.display(), "cannot write the disk buffer; retrying");
                    drop(state);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    state = shared.lock();
                }
            }
        }
    }
}

/// Writes one record at the write position and fsyncs it. On failure the
/// segment is cut back to the position, so the next append starts there.
fn append(shared: &Shared, state: &mut State, payload: &[u8]) -> std::io::Result<()> {
    let size = 8 + payload.len() as u64;
    if state.write.offset > 0 && state.write.offset + size > SEGMENT_BYTES {
        state.write = Spot {
            segment: state.write.segment + 1,
            offset: 0,
        };
        state.file = None;
        {
            let segment = state.write.segment;
            let end = 0;
            state.ends.insert(segment, end);
        }
    }
    if state.file.is_none() {
        let path = segment_path(&shared.dir, state.write.segment);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // Whatever a failed append left past the position goes.
        file.set_len(state.write.offset)?;
        if state.write.offset == 0 {
            File::open(&shared.dir)?.sync_all()?;
        }
        state.file = Some(file);
    }
    let offset = state.write.offset;
    let Some(mut file) = state.file.take() else {
        return Err(std::io::Error::other("no segment open"));
    };
    let mut record = Vec::with_capacity(size as usize);
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    record.extend_from_slice(payload);
    let written = file
        .seek(SeekFrom::Start(offset))
        .and_then(|_| file.write_all(&record))
        .and_then(|()| file.sync_data());
    if let Err(err) = written {
        if file.set_len(offset).is_err() {
            // Cannot cut it back: the next append starts a new segment.
            state.write = Spot {
                segment: state.write.segment + 1,
                offset: 0,
            };
            {
                let segment = state.write.segment;
                let end = 0;
                state.ends.insert(segment, end);
            }
        }
        return Err(err);
    }
    state.file = Some(file);
    state.write.offset += size;
    {
        let segment = state.write.segment;
        let end = state.write.offset;
        state.ends.insert(segment, end);
    }
    Ok(())
}

/// Sends the buffered batches in order until `stop`.
fn drain(shared: &Shared, output: &Output, stop: &AtomicBool) {
    let mut reader: Option<(u64, File)> = None;
    while !stop.load(Ordering::Relaxed) {
        let (read, end) = {
            let state = shared.lock();
            let end = state.ends.get(&state.read.segment).copied().unwrap_or(0);
            let caught_up = state.read.segment == state.write.segment && state.read.offset >= end;
            if caught_up {
                let _ = shared
                    .changed
                    .wait_timeout(state, Duration::from_millis(200));
                continue;
            }
            (state.read, end)
        };
        if read.offset >= end {
            // A finished segment (not the one being written).
            finish_segment(shared, read, &mut reader);
            continue;
        }
        if reader
            .as_ref()
            .is_none_or(|(segment, _)| *segment != read.segment)
        {
            match File::open(segment_path(&shared.dir, read.segment)) {
                Ok(file) => reader = Some((read.segment, file)),
                Err(err) => {
                    shared.stats.corrupt_records.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(segment = read.segment, error = %err, "a disk buffer segment is missing; skipped");
                    skip_segment(shared, read, &mut reader);
                    continue;
                }
            }
        }
        let Some((_, file)) = reader.as_mut() else {
            continue;
        };
        match read_record(file, read.offset, end) {
            Ok(Some((payload, next))) => {
                match decode(&payload) {
                    Ok(batch) => {
                        if output.send(&batch, stop) == Delivery::Stopped {
                            return;
                        }
                    }
                    Err(err) => {
                        shared.stats.corrupt_records.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %err, "a disk buffer record is not a batch; skipped");
                    }
                }
                advance(
                    shared,
                    read,
                    Spot {
                        segment: read.segment,
                        offset: next,
                    },
                );
            }
            Ok(None) => finish_segment(shared, read, &mut reader),
            Err(()) => {
                shared.stats.corrupt_records.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    segment = read.segment,
                    offset = read.offset,
                    "the disk buffer holds a damaged record; the rest of its segment is skipped"
                );
                skip_segment(shared, read, &mut reader);
            }
        }
    }
}

/// Skips the rest of a damaged segment; new appends go to a new one first.
fn skip_segment(shared: &Shared, read: Spot, reader: &mut Option<(u64, File)>) {
    {
        let mut state = shared.lock();
        if state.write.segment == read.segment {
            state.write = Spot {
                segment: read.segment + 1,
                offset: 0,
            };
            state.file = None;
            {
                let segment = state.write.segment;
                let end = 0;
                state.ends.insert(segment, end);
            }
        }
    }
    finish_segment(shared, read, reader);
}

/// Moves the read pointer to the next segment and deletes this one.
fn finish_segment(shared: &Shared, read: Spot, reader: &mut Option<(u64, File)>) {
    advance(
        shared,
        read,
        Spot {
            segment: read.segment + 1,
            offset: 0,
        },
    );
    *reader = None;
    let _ = fs::remove_file(segment_path(&shared.dir, read.segment));
}

/// Moves the read pointer from `from` to `to` (saved first).
fn advance(shared: &Shared, from: Spot, to: Spot) {
    if let Err(err) = save_pointer(&shared.dir, to) {
        tracing::error!(error = %err, "cannot save the disk buffer's read pointer");
    }
    let mut state = shared.lock();
    if state.read == from {
        state.read = to;
        if to.segment > from.segment {
            state.ends.remove(&from.segment);
            state.ends.entry(to.segment).or_insert(0);
        }
        if state.write < state.read {
            state.write = state.read;
            state.file = None;
        }
        shared.stats.bytes.store(state.held(), Ordering::Relaxed);
    }
    shared.changed.notify_all();
}

impl Drop for Buffered {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
        if let Some(drainer) = self.drainer.take() {
            let _ = drainer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(lines: &[&str]) -> Batch {
        let labels = strata_model::Labels::parse(r#"{job="x"}"#).unwrap();
        vec![Stream {
            name: labels.to_string(),
            labels,
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, line)| strata_model::Entry {
                    ts_ns: i as i64,
                    line: line.to_string(),
                    metadata: Vec::new(),
                })
                .collect(),
            fields: Vec::new(),
        }]
    }

    fn buffer_config(dir: &Path, max_bytes: Option<&str>, when_full: Option<&str>) -> BufferConfig {
        BufferConfig {
            path: dir.join("buffer"),
            max_bytes: max_bytes.map(str::to_string),
            when_full: when_full.map(str::to_string),
        }
    }

    fn file_output(path: &Path) -> Output {
        Output::new(&super::super::OutputConfig::File(
            super::super::sink::FileConfig {
                name: None,
                path: path.to_path_buf(),
                codec: Some("text".into()),
                buffer: None,
            },
        ))
        .unwrap()
    }

    fn wait_lines(path: &Path, count: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() >= count || std::time::Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn batches_survive_a_restart_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let config = buffer_config(dir.path(), None, None);
        let out = dir.path().join("out.log");
        let stop = AtomicBool::new(false);
        {
            let stats = Arc::new(BufferStats::default());
            let buffer = Buffered::open(&config, file_output(&out), stats).unwrap();
            assert_eq!(buffer.send(&batch(&["a", "b"]), &stop), Delivery::Accepted);
            assert_eq!(wait_lines(&out, 2), ["a", "b"]);
        }
        // Appended while nothing drains, then damaged: the damaged record
        // and what follows it in its segment are skipped and counted.
        let segment = segments(&config.path).unwrap();
        assert_eq!(segment.len(), 1);
        let path = segment_path(&config.path, segment[0]);
        let pointer = load_pointer(&config.path).unwrap();
        let good = encode(&batch(&["c"])).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        for payload in [good.clone(), good] {
            file.write_all(&(payload.len() as u32).to_le_bytes())
                .unwrap();
            file.write_all(&crc32fast::hash(&payload).to_le_bytes())
                .unwrap();
            file.write_all(&payload).unwrap();
        }
        drop(file);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(pointer.segment, segment[0]);
        let stats = Arc::new(BufferStats::default());
        let buffer = Buffered::open(&config, file_output(&out), stats.clone()).unwrap();
        assert!(stats.corrupt_records.load(Ordering::Relaxed) >= 1);
        assert_eq!(buffer.send(&batch(&["d"]), &stop), Delivery::Accepted);
        assert_eq!(wait_lines(&out, 4), ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_full_buffer_drops_the_newest_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let config = buffer_config(dir.path(), Some("1MiB"), Some("drop_newest"));
        // A destination that never answers: a Loki output to a closed port.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let output = Output::new(&super::super::OutputConfig::Loki(
            super::super::loki::LokiConfig {
                name: None,
                url: format!("http://127.0.0.1:{port}"),
                tenant: None,
                dead_letter: None,
                compression: None,
                username: None,
                password: None,
                timeout: None,
                tls: None,
                buffer: None,
            },
        ))
        .unwrap();
        let stats = Arc::new(BufferStats::default());
        let buffer = Buffered::open(&config, output, stats.clone()).unwrap();
        let stop = AtomicBool::new(false);
        let big = "x".repeat(100_000);
        for _ in 0..20 {
            assert_eq!(buffer.send(&batch(&[&big]), &stop), Delivery::Accepted);
        }
        assert!(stats.bytes.load(Ordering::Relaxed) <= 1 << 20);
        assert!(stats.dropped_lines.load(Ordering::Relaxed) >= 10);
    }

    fn raw_append(path: &Path, payload: &[u8]) {
        let mut file = OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(&(payload.len() as u32).to_le_bytes())
            .unwrap();
        file.write_all(&crc32fast::hash(payload).to_le_bytes())
            .unwrap();
        file.write_all(payload).unwrap();
    }

    #[test]
    fn damage_in_a_delivered_record_loses_nothing_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = buffer_config(dir.path(), None, None);
        let out = dir.path().join("out.log");
        let stop = AtomicBool::new(false);
        {
            let buffer =
                Buffered::open(&config, file_output(&out), Arc::new(BufferStats::default()))
                    .unwrap();
            buffer.send(&batch(&["a", "b"]), &stop);
            assert_eq!(wait_lines(&out, 2), ["a", "b"]);
        }
        let path = segment_path(&config.path, segments(&config.path).unwrap()[0]);
        // Undelivered records c and d, then a bit flips in delivered "a b".
        raw_append(&path, &encode(&batch(&["c"])).unwrap());
        raw_append(&path, &encode(&batch(&["d"])).unwrap());
        let mut bytes = fs::read(&path).unwrap();
        bytes[12] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let stats = Arc::new(BufferStats::default());
        let buffer = Buffered::open(&config, file_output(&out), stats.clone()).unwrap();
        buffer.send(&batch(&["e"]), &stop);
        assert_eq!(wait_lines(&out, 5), ["a", "b", "c", "d", "e"]);
        assert_eq!(stats.corrupt_records.load(Ordering::Relaxed), 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while buffer.held() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(buffer.held(), 0);
    }

    #[test]
    fn bytes_left_by_a_failed_append_do_not_hide_later_batches() {
        let dir = tempfile::tempdir().unwrap();
        let config = buffer_config(dir.path(), None, None);
        let out = dir.path().join("out.log");
        let stop = AtomicBool::new(false);
        let buffer =
            Buffered::open(&config, file_output(&out), Arc::new(BufferStats::default())).unwrap();
        assert_eq!(buffer.send(&batch(&["a"]), &stop), Delivery::Accepted);
        assert_eq!(wait_lines(&out, 1), ["a"]);
        // Half a record past the position, as a failed append leaves it.
        let path = segment_path(&config.path, segments(&config.path).unwrap()[0]);
        let payload = encode(&batch(&["torn"])).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&(payload.len() as u32).to_le_bytes())
            .unwrap();
        file.write_all(&payload[..10]).unwrap();
        drop(file);
        assert_eq!(buffer.send(&batch(&["x"]), &stop), Delivery::Accepted);
        assert_eq!(buffer.send(&batch(&["y"]), &stop), Delivery::Accepted);
        assert_eq!(wait_lines(&out, 3), ["a", "x", "y"]);
    }
}
