//! `strata ingest`: bulk-loads plain-text or JSON-lines files, into a running
//! server (protobuf push, several connections) or straight into a data
//! directory, with a progress bar and a closing summary.

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use strata_model::{Entry, Labels, PushStream};

#[derive(clap::Args)]
pub struct IngestArgs {
    /// Files to load (plain text, or JSON lines with --format jsonl or a .json/.jsonl name).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Push to this server [default: $STRATA_ADDR or http://127.0.0.1:3100].
    #[arg(long, conflicts_with = "data_dir")]
    server: Option<String>,
    /// Write straight into this data directory instead (no server may be using it).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Labels of the stream, Loki syntax; a `filename` label is added per file.
    #[arg(long, default_value = r#"{job="ingest"}"#)]
    labels: String,
    /// auto (by file name), text or jsonl.
    #[arg(long, default_value = "auto")]
    format: String,
    /// How to read each line's timestamp: rfc3339, unix, unix_ms, unix_ns, or a
    /// strftime format matched at the start of the line (e.g. '%Y-%m-%d %H:%M:%S').
    /// JSON lines are read from --timestamp-field. Without it: the time of ingest.
    #[arg(long)]
    timestamp_format: Option<String>,
    /// JSON key holding the timestamp [default: the first of timestamp, ts, time, @timestamp].
    #[arg(long)]
    timestamp_field: Option<String>,
    /// Lines per push request.
    #[arg(long, default_value_t = 2000)]
    batch_lines: usize,
    /// Concurrent push connections.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Tenant (X-Scope-OrgID).
    #[arg(long)]
    org_id: Option<String>,
}

/// Where batches go.
enum Sink {
    Server { url: String, org_id: Option<String> },
    Storage(Arc<strata_storage::Storage>),
}

pub fn run(args: IngestArgs) -> anyhow::Result<()> {
    let base_labels =
        Labels::parse(&args.labels).map_err(|err| anyhow::anyhow!("invalid --labels: {err}"))?;
    let total_bytes: u64 = args
        .files
        .iter()
        .map(|path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
        .sum();
    let sink = match &args.data_dir {
        Some(dir) => {
            let config = strata_storage::StorageConfig {
                data_dir: dir.clone(),
                fsync: strata_storage::FsyncPolicy::Never,
                ..Default::default()
            };
            Sink::Storage(Arc::new(
                strata_storage::Storage::open(config)
                    .with_context(|| format!("cannot open data directory {}", dir.display()))?,
            ))
        }
        None => Sink::Server {
            url: super::server_url(args.server.clone()),
            org_id: args.org_id.clone(),
        },
    };
    let sink = Arc::new(sink);
    let progress = ProgressBar::new(total_bytes);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let lines = Arc::new(AtomicU64::new(0));
    let (sender, receiver) =
        std::sync::mpsc::sync_channel::<PushStream>(args.concurrency.max(1) * 2);
    let receiver = Arc::new(std::sync::Mutex::new(receiver));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let receiver = receiver.clone();
        let sink = sink.clone();
        let lines = lines.clone();
        workers.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?;
            loop {
                let batch = match receiver
                    .lock()
                    .map_err(|_| anyhow::anyhow!("BUG: batch queue poisoned"))?
                    .recv()
                {
                    Ok(batch) => batch,
                    Err(_) => return Ok(()),
                };
                let count = batch.entries.len() as u64;
                send(&client, &sink, batch)?;
                lines.fetch_add(count, Relaxed);
            }
        }));
    }
    let mut read_error = None;
    for path in &args.files {
        if let Err(err) = read_file(path, &args, &base_labels, &sender, &progress) {
            read_error = Some(err);
            break;
        }
    }
    drop(sender);
    for worker in workers {
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("BUG: ingest worker panicked"))??;
    }
    if let Some(err) = read_error {
        return Err(err);
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let disk_bytes = match sink.as_ref() {
        Sink::Storage(storage) => {
            storage.flush().context("cannot flush the data directory")?;
            Some(storage.stats().disk_bytes)
        }
        Sink::Server { url, .. } => server_disk_bytes(url),
    };
    let count = lines.load(Relaxed);
    let mb = total_bytes as f64 / 1e6;
    let disk = match disk_bytes {
        Some(bytes) => format!(
            ", on disk {:.1} MB ({:.1}x smaller than raw)",
            bytes as f64 / 1e6,
            total_bytes as f64 / (bytes.max(1) as f64)
        ),
        None => String::new(),
    };
    println!(
        "ingested {count} lines, {mb:.1} MB in {elapsed:.1}s: {:.0} lines/s, {:.1} MB/s{disk}",
        count as f64 / elapsed,
        mb / elapsed
    );
    Ok(())
}

fn read_file(
    path: &Path,
    args: &IngestArgs,
    base_labels: &Labels,
    sender: &std::sync::mpsc::SyncSender<PushStream>,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let jsonl = match args.format.as_str() {
        "jsonl" | "json" => true,
        "text" => false,
        "auto" => path
            .extension()
            .is_some_and(|ext| ext == "json" || ext == "jsonl" || ext == "ndjson"),
        other => bail!("invalid --format {other:?}: use auto, text or jsonl"),
    };
    let mut pairs = base_labels.pairs().to_vec();
    pairs.retain(|(name, _)| name != "filename");
    pairs.push(("filename".to_string(), path.display().to_string()));
    let labels = Labels::from_pairs(pairs);
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buffer = Vec::new();
    let mut entries = Vec::with_capacity(args.batch_lines);
    let now = super::query::now_ns();
    let mut last_ts = None;
    let mut index: i64 = 0;
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            break;
        }
        progress.inc(read as u64);
        while buffer.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buffer.pop();
        }
        if buffer.is_empty() {
            continue;
        }
        let line = String::from_utf8_lossy(&buffer).into_owned();
        let parsed = if jsonl {
            json_timestamp(&line, args.timestamp_field.as_deref())
        } else {
            args.timestamp_format
                .as_deref()
                .and_then(|format| text_timestamp(&line, format))
        };
        // Continuation lines (stack traces) keep the previous line's time.
        let ts = parsed.or(last_ts).unwrap_or(now + index);
        last_ts = Some(ts);
        index += 1;
        entries.push(Entry::new(ts, line));
        if entries.len() >= args.batch_lines {
            let batch = PushStream {
                labels: labels.clone(),
                entries: std::mem::take(&mut entries),
            };
            sender
                .send(batch)
                .map_err(|_| anyhow::anyhow!("an ingest worker stopped early"))?;
        }
    }
    if !entries.is_empty() {
        sender
            .send(PushStream { labels, entries })
            .map_err(|_| anyhow::anyhow!("an ingest worker stopped early"))?;
    }
    Ok(())
}

/// Parses the timestamp at the start of a text line.
fn text_timestamp(line: &str, format: &str) -> Option<i64> {
    let first = line.split_whitespace().next().unwrap_or("");
    match format {
        "rfc3339" => first
            .parse::<jiff::Timestamp>()
            .ok()
            .and_then(|ts| i64::try_from(ts.as_nanosecond()).ok()),
        "unix" => first.parse::<f64>().ok().map(|s| (s * 1e9) as i64),
        "unix_ms" => first
            .parse::<i64>()
            .ok()
            .map(|ms| ms.saturating_mul(1_000_000)),
        "unix_ns" => first.parse::<i64>().ok(),
        strftime => {
            let (time, _) =
                jiff::fmt::strtime::BrokenDownTime::parse_prefix(strftime, line.trim_start())
                    .ok()?;
            let timestamp = match time.to_timestamp() {
                Ok(ts) => ts,
                Err(_) => time
                    .to_datetime()
                    .ok()?
                    .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                    .ok()?
                    .timestamp(),
            };
            i64::try_from(timestamp.as_nanosecond()).ok()
        }
    }
}

/// Reads the timestamp of a JSON line from `field` or the usual keys.
fn json_timestamp(line: &str, field: Option<&str>) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let object = value.as_object()?;
    let found = match field {
        Some(name) => object.get(name),
        None => ["timestamp", "ts", "time", "@timestamp"]
            .iter()
            .find_map(|name| object.get(*name)),
    }?;
    match found {
        serde_json::Value::String(text) => text
            .parse::<jiff::Timestamp>()
            .ok()
            .and_then(|ts| i64::try_from(ts.as_nanosecond()).ok())
            .or_else(|| strata_server::parse_loki_time(text).ok()),
        serde_json::Value::Number(number) => {
            let value = number.as_f64()?;
            // Seconds, milliseconds, microseconds or nanoseconds, by magnitude.
            let nanos = if value < 1e11 {
                value * 1e9
            } else if value < 1e14 {
                value * 1e6
            } else if value < 1e17 {
                value * 1e3
            } else {
                value
            };
            Some(nanos as i64)
        }
        _ => None,
    }
}

fn send(client: &reqwest::blocking::Client, sink: &Sink, batch: PushStream) -> anyhow::Result<()> {
    match sink {
        Sink::Storage(storage) => storage
            .append(strata_model::DEFAULT_TENANT, std::slice::from_ref(&batch))
            .context("cannot write to the data directory"),
        Sink::Server { url, org_id } => {
            let body =
                strata_ingest::encode_push([(batch.labels.to_string(), batch.entries.as_slice())]);
            let mut delay = Duration::from_millis(200);
            for attempt in 0.. {
                let mut request = client
                    .post(format!("{url}/loki/api/v1/push"))
                    .header("Content-Type", "application/x-protobuf")
                    .body(body.clone());
                if let Some(org) = org_id {
                    request = request.header("X-Scope-OrgID", org);
                }
                let retry_reason = match request.send() {
                    Ok(response) if response.status().is_success() => return Ok(()),
                    Ok(response)
                        if response.status().as_u16() == 429
                            || response.status().is_server_error() =>
                    {
                        format!("server answered {}", response.status())
                    }
                    Ok(response) => {
                        let status = response.status();
                        bail!(
                            "push refused ({status}): {}",
                            response.text().unwrap_or_default().trim()
                        );
                    }
                    Err(err) => format!("cannot reach {url}: {err}"),
                };
                if attempt >= 8 {
                    bail!("giving up after {} attempts: {retry_reason}", attempt + 1);
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Ok(())
        }
    }
}

/// Asks the server to flush, then reads its on-disk size from /metrics.
fn server_disk_bytes(url: &str) -> Option<u64> {
    let client = reqwest::blocking::Client::new();
    client.post(format!("{url}/flush")).send().ok()?;
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .ok()?
        .text()
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("strata_disk_bytes "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_from_lines() {
        assert_eq!(
            text_timestamp("2023-11-14T22:13:20Z GET /", "rfc3339"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            text_timestamp("1700000000.5 x", "unix"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            text_timestamp("2023-11-14 22:13:20 INFO x", "%Y-%m-%d %H:%M:%S"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(text_timestamp("no time here", "%Y-%m-%d %H:%M:%S"), None);
        assert_eq!(
            json_timestamp(r#"{"ts":1700000000,"msg":"x"}"#, None),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            json_timestamp(r#"{"time":"2023-11-14T22:13:20Z"}"#, None),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            json_timestamp(r#"{"at":1700000000000}"#, Some("at")),
            Some(1_700_000_000_000_000_000)
        );
    }
}
