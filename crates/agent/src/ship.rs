//! The strata/Loki push output: protobuf + snappy, retried with exponential
//! backoff and jitter on connection errors, 401, 403, 404, 408, 429 and 5xx;
//! any other 4xx (the server refusing these lines) is a permanent refusal,
//! written to the dead-letter file with its reason.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strata_model::Entry;

/// First and largest wait between attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One stream's entries: its label set (Loki's text form) and entries.
pub type Batch = Vec<(String, Vec<Entry>)>;

/// What became of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The server stored it.
    Accepted,
    /// The server refused it for good (a 4xx other than 429): dead-lettered.
    Refused(String),
    /// The agent is stopping; the batch was not delivered.
    Stopped,
}

/// Counters the agent reports.
#[derive(Debug, Default)]
pub struct ShipStats {
    pub retries: std::sync::atomic::AtomicU64,
    pub refused_lines: std::sync::atomic::AtomicU64,
}

pub struct LokiOutput {
    url: String,
    tenant: Option<String>,
    dead_letter: Option<PathBuf>,
    client: reqwest::blocking::Client,
    pub stats: ShipStats,
}

impl LokiOutput {
    /// `url` is the server's base URL (`http://host:3100`) or its push URL.
    pub fn new(
        url: &str,
        tenant: Option<String>,
        dead_letter: Option<PathBuf>,
    ) -> anyhow::Result<LokiOutput> {
        let base = url.trim_end_matches('/');
        let url = if base.ends_with("/loki/api/v1/push") {
            base.to_string()
        } else {
            format!("{base}/loki/api/v1/push")
        };
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(LokiOutput {
            url,
            tenant,
            dead_letter,
            client,
            stats: ShipStats::default(),
        })
    }

    /// Sends `batch` until the server accepts or refuses it, or `stop` is set.
    pub fn send(&self, batch: &Batch, stop: &AtomicBool) -> Delivery {
        let body = encode(batch);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            let mut request = self
                .client
                .post(&self.url)
                // Loki's push protobuf is snappy-compressed with no Content-Encoding.
                .header("Content-Type", "application/x-protobuf")
                .body(body.clone());
            if let Some(tenant) = &self.tenant {
                request = request.header("X-Scope-OrgID", tenant);
            }
            let problem = match request.send() {
                Ok(response) if response.status().is_success() => return Delivery::Accepted,
                Ok(response) => {
                    let status = response.status().as_u16();
                    let text = response.text().unwrap_or_default();
                    // 401/403/404/408 say the agent or its target is
                    // misconfigured or slow, not that the lines are bad:
                    // retried like 429 and 5xx until fixed.
                    let transient = matches!(status, 401 | 403 | 404 | 408 | 429);
                    if !transient && (400..500).contains(&status) {
                        let reason = format!("{status} {}", text.trim());
                        self.dead_letter(batch, &reason);
                        return Delivery::Refused(reason);
                    }
                    format!("{status} {}", text.trim())
                }
                Err(err) => err.to_string(),
            };
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(attempt, error = %problem, url = %self.url, "push failed; retrying");
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

    fn dead_letter(&self, batch: &Batch, reason: &str) {
        let lines: u64 = batch.iter().map(|(_, entries)| entries.len() as u64).sum();
        self.stats.refused_lines.fetch_add(lines, Ordering::Relaxed);
        tracing::error!(
            lines,
            reason,
            "the server refused a batch; it goes to the dead-letter file"
        );
        let Some(path) = &self.dead_letter else {
            return;
        };
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            for (labels, entries) in batch {
                for entry in entries {
                    let metadata: serde_json::Map<String, serde_json::Value> = entry
                        .metadata
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                        .collect();
                    let record = serde_json::json!({
                        "reason": reason, "labels": labels, "ts": entry.ts_ns.to_string(),
                        "line": entry.line, "metadata": metadata,
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
}

/// The batch as Loki's push protobuf, snappy-compressed.
pub fn encode(batch: &Batch) -> Vec<u8> {
    strata_ingest::encode_push(
        batch
            .iter()
            .map(|(labels, entries)| (labels.clone(), entries.as_slice())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_batches_decode_as_loki_pushes() {
        let batch: Batch = vec![(
            r#"{job="x"}"#.to_string(),
            vec![Entry {
                ts_ns: 1_700_000_000_123_456_789,
                line: "hello".to_string(),
                metadata: vec![("trace_id".to_string(), "t1".to_string())],
            }],
        )];
        let body = encode(&batch);
        let limits = strata_ingest::IngestLimits::default();
        let raw = strata_ingest::decode_body(&body, None, &limits).unwrap();
        let decoded =
            strata_ingest::decode_loki_push(&raw, strata_ingest::PushFormat::Protobuf, &limits)
                .unwrap();
        assert_eq!(decoded.entries, 1);
        assert_eq!(
            decoded.streams[0].entries[0].ts_ns,
            1_700_000_000_123_456_789
        );
        assert_eq!(decoded.streams[0].entries[0].line, "hello");
        assert_eq!(
            decoded.streams[0].entries[0].metadata,
            [("trace_id".to_string(), "t1".to_string())]
        );
    }
}
