//! Where records go: a strata or Loki server ([`loki`]), Elasticsearch's
//! `_bulk` API ([`elasticsearch`]), a file or stdout ([`sink`]).
//!
//! Every output shares one delivery rule: a batch is retried with
//! exponential backoff (250 ms doubling to 30 s, ±25 % jitter) on
//! connection errors, 401, 403, 404, 408, 429 and 5xx, for as long as it
//! takes; any other 4xx is the destination refusing the lines, and they go
//! to the output's dead-letter file (one JSON line per entry, with the
//! reason). The agent moves a file's position only once every output a line
//! was routed to has answered for it.

pub mod buffer;
pub mod elasticsearch;
pub mod loki;
pub mod sink;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use strata_model::{Entry, Labels};

/// First and largest wait between attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One stream's entries for one output.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub labels: Labels,
    /// `labels` in Loki's text form.
    pub name: String,
    pub entries: Vec<Entry>,
    /// Per entry, the fields the stages extracted, typed ones as numbers
    /// (empty unless the output writes whole records).
    pub fields: Vec<serde_json::Map<String, serde_json::Value>>,
}

pub type Batch = Vec<Stream>;

/// What became of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The destination stored it.
    Accepted,
    /// It refused it (or part of it) for good: dead-lettered.
    Refused(String),
    /// The agent is stopping; the batch was not delivered.
    Stopped,
}

/// Counters of one output.
#[derive(Debug, Default)]
pub struct OutputStats {
    pub retries: AtomicU64,
    pub refused_lines: AtomicU64,
    pub sent_lines: AtomicU64,
}

/// One try at sending.
pub(crate) enum Attempt {
    Done,
    /// Worth trying again (the reason is logged).
    Retry(String),
    /// Refused for good: these streams (all or part of the batch) are dead-lettered.
    Refuse(String, Option<Batch>),
}

/// The `outputs:` entries of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum OutputConfig {
    Loki(loki::LokiConfig),
    Elasticsearch(elasticsearch::ElasticsearchConfig),
    File(sink::FileConfig),
    Stdout(sink::StdoutConfig),
}

impl OutputConfig {
    pub fn name(&self) -> &str {
        match self {
            OutputConfig::Loki(config) => config.name.as_deref().unwrap_or("loki"),
            OutputConfig::Elasticsearch(config) => {
                config.name.as_deref().unwrap_or("elasticsearch")
            }
            OutputConfig::File(config) => config.name.as_deref().unwrap_or("file"),
            OutputConfig::Stdout(config) => config.name.as_deref().unwrap_or("stdout"),
        }
    }

    /// Its disk buffer, if it has one.
    pub fn buffer(&self) -> Option<&buffer::BufferConfig> {
        match self {
            OutputConfig::Loki(config) => config.buffer.as_ref(),
            OutputConfig::Elasticsearch(config) => config.buffer.as_ref(),
            OutputConfig::File(config) => config.buffer.as_ref(),
            OutputConfig::Stdout(_) => None,
        }
    }

    /// Whether the output writes the fields stages extracted.
    pub fn writes_fields(&self) -> bool {
        match self {
            OutputConfig::Loki(_) => false,
            OutputConfig::Elasticsearch(_) => true,
            OutputConfig::File(config) => config.codec.as_deref() != Some("text"),
            OutputConfig::Stdout(config) => config.codec.as_deref() != Some("text"),
        }
    }
}

/// A running output.
pub enum Output {
    Loki(loki::LokiOutput),
    Elasticsearch(elasticsearch::ElasticsearchOutput),
    Sink(sink::SinkOutput),
    /// Any of them behind a disk buffer.
    Buffered(buffer::Buffered),
}

impl Output {
    /// The output, behind its disk buffer when it has one (`stats` counts
    /// the buffer's bytes, drops and damaged records).
    pub fn open(config: &OutputConfig, stats: Arc<buffer::BufferStats>) -> anyhow::Result<Output> {
        let output = Output::new(config)?;
        match config.buffer() {
            None => Ok(output),
            Some(buffer) => Ok(Output::Buffered(
                buffer::Buffered::open(buffer, output, stats)
                    .map_err(|err| anyhow::anyhow!("buffer.{err}"))?,
            )),
        }
    }

    /// The output without its buffer.
    pub fn new(config: &OutputConfig) -> anyhow::Result<Output> {
        Ok(match config {
            OutputConfig::Loki(config) => Output::Loki(loki::LokiOutput::new(config)?),
            OutputConfig::Elasticsearch(config) => {
                Output::Elasticsearch(elasticsearch::ElasticsearchOutput::new(config)?)
            }
            OutputConfig::File(config) => Output::Sink(sink::SinkOutput::file(config)?),
            OutputConfig::Stdout(config) => Output::Sink(sink::SinkOutput::stdout(config)?),
        })
    }

    pub fn stats(&self) -> &Arc<OutputStats> {
        match self {
            Output::Loki(output) => &output.stats,
            Output::Elasticsearch(output) => &output.stats,
            Output::Sink(output) => &output.stats,
            Output::Buffered(buffered) => buffered.output.stats(),
        }
    }

    /// Bytes a disk buffer holds not yet delivered (0 without one).
    pub fn held(&self) -> u64 {
        match self {
            Output::Buffered(buffered) => buffered.held(),
            _ => 0,
        }
    }

    /// Sends `batch` until it is accepted or refused, or `stop` is set.
    pub fn send(&self, batch: &Batch, stop: &AtomicBool) -> Delivery {
        match self {
            Output::Loki(output) => output.send(batch, stop),
            Output::Elasticsearch(output) => output.send(batch, stop),
            Output::Sink(output) => output.send(batch, stop),
            Output::Buffered(buffered) => buffered.send(batch, stop),
        }
    }
}

/// TLS settings of an HTTPS output (the system's roots are trusted too).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file of CA certificates to trust (a private CA, as Logstash's
    /// `cacert`); empty is none.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key (PEM, PKCS#8), for mutual TLS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate (testing only).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// An HTTP client for `url` with a timeout (`60s` by default) and TLS
/// settings. (Building it loads the system's CA certificates, about 0.2
/// CPU-second once at start, even for http URLs: native-tls always does.)
pub(crate) fn http_client(
    url: &str,
    timeout: Option<&str>,
    tls: Option<&TlsConfig>,
) -> anyhow::Result<reqwest::blocking::Client> {
    let timeout = match timeout {
        None => Duration::from_secs(60),
        Some(text) => {
            crate::stages::parse_duration(text).map_err(|err| anyhow::anyhow!("timeout: {err}"))?
        }
    };
    let _ = url;
    let mut builder = reqwest::blocking::Client::builder().timeout(timeout);
    if let Some(tls) = tls {
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path)
                .map_err(|err| anyhow::anyhow!("tls.{what}: cannot read {}: {err}", path.display()))
        };
        if let Some(path) = tls.ca_file.as_ref().filter(|p| !p.as_os_str().is_empty()) {
            let pem = read(path, "ca_file")?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
                anyhow::anyhow!(
                    "tls.ca_file: {} holds no PEM certificate: {err}",
                    path.display()
                )
            })?;
            if certificates.is_empty() {
                anyhow::bail!("tls.ca_file: {} holds no PEM certificate", path.display());
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        match (&tls.cert_file, &tls.key_file) {
            (Some(cert), Some(key)) => {
                let identity = reqwest::Identity::from_pkcs8_pem(
                    &read(cert, "cert_file")?,
                    &read(key, "key_file")?,
                )
                .map_err(|err| anyhow::anyhow!("tls.cert_file/key_file: {err}"))?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => anyhow::bail!("tls: give both cert_file and key_file, or neither"),
        }
        if tls.insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
    }
    Ok(builder.build()?)
}

/// Whether an HTTP status is worth retrying: 429 and 5xx, and 401, 403,
/// 404 and 408, which say the agent or its target is misconfigured or
/// slow, not that the lines are bad.
pub(crate) fn transient(status: u16) -> bool {
    matches!(status, 401 | 403 | 404 | 408 | 429) || !(400..500).contains(&status)
}

/// Runs `attempt` until it is done or refused, with backoff between tries.
pub(crate) fn deliver(
    what: &str,
    stats: &OutputStats,
    dead_letter: Option<&PathBuf>,
    batch: &Batch,
    stop: &AtomicBool,
    mut attempt: impl FnMut() -> Attempt,
) -> Delivery {
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 0u64;
    let lines: u64 = batch.iter().map(|s| s.entries.len() as u64).sum();
    loop {
        tries += 1;
        let problem = match attempt() {
            Attempt::Done => {
                stats.sent_lines.fetch_add(lines, Ordering::Relaxed);
                return Delivery::Accepted;
            }
            Attempt::Refuse(reason, part) => {
                let refused = part.as_ref().unwrap_or(batch);
                write_dead_letter(stats, dead_letter, refused, &reason);
                return Delivery::Refused(reason);
            }
            Attempt::Retry(problem) => problem,
        };
        stats.retries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(attempt = tries, error = %problem, output = what, "send failed; retrying");
        // Jitter: 75-125% of the backoff, from the clock's low bits.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let wait = backoff.mul_f64(0.75 + f64::from(nanos % 1000) / 2000.0);
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            if stop.load(Ordering::Relaxed) {
                return Delivery::Stopped;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Appends refused entries to the dead-letter file, one JSON line each.
fn write_dead_letter(stats: &OutputStats, path: Option<&PathBuf>, batch: &Batch, reason: &str) {
    let lines: u64 = batch.iter().map(|s| s.entries.len() as u64).sum();
    stats.refused_lines.fetch_add(lines, Ordering::Relaxed);
    tracing::error!(
        lines,
        reason,
        "the destination refused lines; they go to the dead-letter file"
    );
    let Some(path) = path else {
        return;
    };
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        for stream in batch {
            for entry in &stream.entries {
                let record = serde_json::json!({
                    "reason": reason, "labels": stream.name, "ts": entry.ts_ns.to_string(),
                    "line": entry.line, "metadata": pairs_object(&entry.metadata),
                });
                writeln!(file, "{record}")?;
            }
        }
        file.sync_data()
    };
    if let Err(err) = write() {
        tracing::error!(path = %path.display(), error = %err, "cannot write the dead-letter file");
    }
}

/// Pairs as a JSON object.
pub(crate) fn pairs_object<'a>(
    pairs: impl IntoIterator<Item = &'a (String, String)>,
) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect()
}

/// RFC 3339 with nanoseconds, UTC.
pub(crate) fn rfc3339(ts_ns: i64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ts_ns)) {
        Ok(ts) => format!("{ts:.9}"),
        Err(_) => ts_ns.to_string(),
    }
}
