//! `strata-corpus push`: replays corpus.tsv into a Loki-compatible server.
//!
//! One reader thread parses the file into batches of consecutive entries
//! (several streams each) and hands them over a bounded channel to the
//! client threads, which encode (protobuf + snappy) and POST them. Batches
//! go back to the reader through a second channel, so their buffers are
//! reused and an entry costs no allocation.

use crate::proto::{EntryRef, encode_stream};
use crate::stream::LABEL_NAMES;
use crate::text::push_tsv_unescaped;
use anyhow::{Context, bail};
use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Server base URL; requests go to `<url>/loki/api/v1/push`.
    pub url: String,
    pub clients: usize,
    /// Entries per request.
    pub batch: usize,
    /// Sent as X-Scope-OrgID when set.
    pub tenant: Option<String>,
    /// The corpus directory (its corpus.tsv is read).
    pub dir: PathBuf,
    /// Send each line's trace id (a `"trace_id":"…"` JSON value or a
    /// `trace_id=…` pair) as structured metadata `trace_id`, as a collector
    /// pipeline would.
    pub trace_metadata: bool,
}

/// The closing summary, printed as one JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct PushSummary {
    pub entries: u64,
    /// Line bytes + 1 per entry, as the manifest counts them.
    pub bytes: u64,
    pub seconds: f64,
    pub requests: u64,
}

/// Consecutive entries of the corpus, sent as one request.
#[derive(Default)]
struct Batch {
    /// The un-escaped lines, back to back.
    text: Vec<u8>,
    entries: Vec<EntryRef>,
    /// (stream id, Loki label string) of each stream present.
    labels: Vec<(u32, Arc<[u8]>)>,
}

impl Batch {
    fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
        self.labels.clear();
    }
}

/// Counters shared by the client threads.
#[derive(Default)]
struct Progress {
    entries: AtomicU64,
    bytes: AtomicU64,
    requests: AtomicU64,
    /// Set by a client that gave up, so the reader stops early.
    failed: AtomicBool,
}

const MAX_ATTEMPTS: u32 = 10;

pub fn push(options: &PushOptions) -> anyhow::Result<PushSummary> {
    let path = options.dir.join("corpus.tsv");
    let file =
        std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let endpoint = format!("{}/loki/api/v1/push", options.url.trim_end_matches('/'));
    let clients = options.clients.max(1);
    let started = Instant::now();
    let progress = Arc::new(Progress::default());
    let (batch_sender, batch_receiver) = std::sync::mpsc::sync_channel::<Batch>(clients * 2);
    let (recycle_sender, recycle_receiver) = std::sync::mpsc::channel::<Batch>();
    let batch_receiver = Arc::new(Mutex::new(batch_receiver));
    let mut workers = Vec::new();
    for _ in 0..clients {
        let client = Client {
            endpoint: endpoint.clone(),
            tenant: options.tenant.clone(),
            batches: batch_receiver.clone(),
            recycle: recycle_sender.clone(),
            progress: progress.clone(),
        };
        workers.push(std::thread::spawn(move || {
            let result = client.run();
            if result.is_err() {
                client.progress.failed.store(true, Ordering::Relaxed);
            }
            result
        }));
    }
    drop(batch_receiver);
    drop(recycle_sender);
    let read_result = read_batches(
        BufReader::with_capacity(1 << 20, file),
        options.batch.max(1),
        options.trace_metadata,
        &batch_sender,
        &recycle_receiver,
        &progress,
    )
    .with_context(|| format!("cannot read {}", path.display()));
    drop(batch_sender);
    let mut first_error = None;
    for worker in workers {
        let result = worker
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("BUG: push client panicked")));
        if let Err(err) = result {
            first_error.get_or_insert(err);
        }
    }
    if let Some(err) = first_error {
        return Err(err);
    }
    read_result?;
    Ok(PushSummary {
        entries: progress.entries.load(Ordering::Relaxed),
        bytes: progress.bytes.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        requests: progress.requests.load(Ordering::Relaxed),
    })
}

/// Reads the TSV into batches of `batch_size` entries.
fn read_batches(
    mut reader: impl BufRead,
    batch_size: usize,
    trace_metadata: bool,
    sender: &SyncSender<Batch>,
    recycle: &Receiver<Batch>,
    progress: &Progress,
) -> anyhow::Result<()> {
    let mut labels_by_stream: Vec<Option<Arc<[u8]>>> = Vec::new();
    // The batch number in which each stream was last seen, to list it once.
    let mut seen_in: Vec<u64> = Vec::new();
    let mut batch_number = 1u64;
    let mut record = Vec::with_capacity(64 << 10);
    let mut batch = Batch::default();
    let mut line_number = 0u64;
    loop {
        record.clear();
        if reader.read_until(b'\n', &mut record)? == 0 {
            break;
        }
        line_number += 1;
        if record.last() == Some(&b'\n') {
            record.pop();
        }
        if record.is_empty() {
            continue;
        }
        let Record {
            ts_ns,
            stream,
            labels: label_fields,
            line,
        } = split_record(&record)
            .with_context(|| format!("unexpected record at line {line_number}"))?;
        let index = stream as usize;
        if index >= labels_by_stream.len() {
            labels_by_stream.resize(index + 1, None);
            seen_in.resize(index + 1, 0);
        }
        let labels = labels_by_stream[index].get_or_insert_with(|| loki_labels(&label_fields));
        if seen_in[index] != batch_number {
            seen_in[index] = batch_number;
            batch.labels.push((stream, labels.clone()));
        }
        let start = batch.text.len();
        push_tsv_unescaped(&mut batch.text, line);
        let trace = if trace_metadata {
            find_trace_id(&batch.text[start..])
                .map_or((0, 0), |(at, len)| ((start + at) as u32, len as u32))
        } else {
            (0, 0)
        };
        batch.entries.push(EntryRef {
            stream,
            ts_ns,
            start: start as u32,
            len: (batch.text.len() - start) as u32,
            trace,
        });
        if batch.entries.len() >= batch_size || batch.text.len() > (u32::MAX / 2) as usize {
            if progress.failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            let next = recycle.try_recv().unwrap_or_default();
            if sender.send(std::mem::replace(&mut batch, next)).is_err() {
                return Ok(());
            }
            batch_number += 1;
        }
    }
    if !batch.entries.is_empty() {
        let _ = sender.send(batch);
    }
    Ok(())
}

/// Where the trace id of a line is: the hex digits after `"trace_id":"` or
/// `trace_id=`; None when the line has none.
pub fn find_trace_id(line: &[u8]) -> Option<(usize, usize)> {
    for prefix in [&b"\"trace_id\":\""[..], b"trace_id="] {
        if let Some(at) = memchr::memmem::find(line, prefix) {
            let start = at + prefix.len();
            let len = line[start..]
                .iter()
                .take_while(|byte| byte.is_ascii_hexdigit())
                .count();
            if len > 0 {
                return Some((start, len));
            }
        }
    }
    None
}

/// One corpus.tsv record, split into columns.
struct Record<'a> {
    ts_ns: i64,
    stream: u32,
    /// Label values in TSV column order, still escaped.
    labels: [&'a [u8]; 7],
    /// The line, still escaped.
    line: &'a [u8],
}

/// Splits `ts \t stream \t 7 labels \t line`.
fn split_record(record: &[u8]) -> anyhow::Result<Record<'_>> {
    let mut fields = [&record[..0]; 9];
    let mut rest = record;
    for field in fields.iter_mut() {
        let Some(tab) = memchr::memchr(b'\t', rest) else {
            bail!("missing columns: expected ts, stream, 7 labels and the line");
        };
        *field = &rest[..tab];
        rest = &rest[tab + 1..];
    }
    let ts_ns = parse_int(fields[0]).context("unexpected timestamp")?;
    let stream = parse_int(fields[1])
        .and_then(|id| u32::try_from(id).ok())
        .context("unexpected stream id")?;
    let mut labels = [&record[..0]; 7];
    labels.copy_from_slice(&fields[2..]);
    Ok(Record {
        ts_ns,
        stream,
        labels,
        line: rest,
    })
}

fn parse_int(text: &[u8]) -> Option<i64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `{app="x", ...}`: the non-empty labels, sorted, in Loki's syntax.
fn loki_labels(fields: &[&[u8]; 7]) -> Arc<[u8]> {
    let mut pairs = Vec::new();
    for (name, value) in LABEL_NAMES.iter().zip(fields) {
        if value.is_empty() {
            continue;
        }
        let mut unescaped = Vec::new();
        push_tsv_unescaped(&mut unescaped, value);
        pairs.push((
            name.to_string(),
            String::from_utf8_lossy(&unescaped).into_owned(),
        ));
    }
    let labels = strata_model::Labels::from_pairs(pairs);
    Arc::from(labels.to_string().into_bytes())
}

/// One client thread's state.
struct Client {
    endpoint: String,
    tenant: Option<String>,
    batches: Arc<Mutex<Receiver<Batch>>>,
    recycle: Sender<Batch>,
    progress: Arc<Progress>,
}

impl Client {
    fn run(&self) -> anyhow::Result<()> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("cannot build the HTTP client")?;
        let mut encoder = snap::raw::Encoder::new();
        let mut proto = Vec::new();
        loop {
            let received = self
                .batches
                .lock()
                .map_err(|_| anyhow::anyhow!("BUG: batch queue poisoned"))?
                .recv();
            let Ok(mut batch) = received else {
                return Ok(());
            };
            if self.progress.failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            batch
                .entries
                .sort_unstable_by_key(|entry| (entry.stream, entry.start));
            batch.labels.sort_unstable_by_key(|(stream, _)| *stream);
            proto.clear();
            let mut labels = batch.labels.iter();
            for group in batch.entries.chunk_by(|a, b| a.stream == b.stream) {
                let stream = group[0].stream;
                let Some((_, label_text)) = labels.find(|(id, _)| *id == stream) else {
                    bail!("BUG: no labels for stream {stream} in a batch");
                };
                encode_stream(&mut proto, label_text, &batch.text, group);
            }
            let mut body = vec![0; snap::raw::max_compress_len(proto.len())];
            let len = encoder
                .compress(&proto, &mut body)
                .context("cannot snappy-compress a push")?;
            body.truncate(len);
            self.send(&http, body)?;
            let entries = batch.entries.len() as u64;
            self.progress.entries.fetch_add(entries, Ordering::Relaxed);
            self.progress
                .bytes
                .fetch_add(batch.text.len() as u64 + entries, Ordering::Relaxed);
            self.progress.requests.fetch_add(1, Ordering::Relaxed);
            batch.clear();
            let _ = self.recycle.send(batch);
        }
    }

    /// POSTs `body`, retrying connection errors, 429 and 5xx with backoff.
    fn send(&self, http: &reqwest::blocking::Client, body: Vec<u8>) -> anyhow::Result<()> {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=MAX_ATTEMPTS {
            let mut request = http
                .post(&self.endpoint)
                .header("Content-Type", "application/x-protobuf")
                .body(body.clone());
            if let Some(tenant) = &self.tenant {
                request = request.header("X-Scope-OrgID", tenant);
            }
            let reason = match request.send() {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response)
                    if response.status().as_u16() == 429 || response.status().is_server_error() =>
                {
                    format!("server answered {}", response.status())
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().unwrap_or_default();
                    bail!("push refused ({status}): {}", text.trim());
                }
                Err(err) => format!("cannot reach {}: {err}", self.endpoint),
            };
            if attempt == MAX_ATTEMPTS || self.progress.failed.load(Ordering::Relaxed) {
                bail!("giving up after {attempt} attempts: {reason}");
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_and_labels_render() {
        let record = b"1795132800000000000\t7\tgpu-east-1\tml-training\ttrainer\tpod-1\tpytorch\t\tinfo\ta\\tb\\nc";
        let split = split_record(record).expect("record");
        assert_eq!((split.ts_ns, split.stream), (1_795_132_800_000_000_000, 7));
        assert_eq!(split.line, b"a\\tb\\nc");
        let rendered = loki_labels(&split.labels);
        assert_eq!(
            std::str::from_utf8(&rendered).expect("utf-8"),
            r#"{app="trainer", cluster="gpu-east-1", container="pytorch", level="info", namespace="ml-training", pod="pod-1"}"#
        );
        assert!(split_record(b"1\t2\tonly").is_err());
    }
}
