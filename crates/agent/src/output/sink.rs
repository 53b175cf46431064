//! The `file` and `stdout` outputs: one JSON object per entry (`codec:
//! json`, the default: `ts`, `labels`, `line`, `metadata`, `fields`) or the
//! line alone (`codec: text`). A file output appends and fsyncs before the
//! batch counts as delivered, so it is as durable as a server's
//! acknowledgement; an archive beside the server, or a debugging aid
//! (Logstash's `stdout { codec => rubydebug }`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use serde::Deserialize;

use super::{Attempt, Batch, Delivery, OutputStats};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub name: Option<String>,
    pub path: PathBuf,
    /// `json` (default) or `text`.
    #[serde(default)]
    pub codec: Option<String>,
    /// A disk buffer in front of it (see [`super::buffer`]).
    #[serde(default)]
    pub buffer: Option<super::buffer::BufferConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub codec: Option<String>,
}

enum Target {
    File(PathBuf, Mutex<Option<std::fs::File>>),
    Stdout,
}

pub struct SinkOutput {
    target: Target,
    text: bool,
    pub stats: std::sync::Arc<OutputStats>,
}

fn codec(codec: Option<&str>) -> anyhow::Result<bool> {
    match codec {
        None | Some("json") => Ok(false),
        Some("text") => Ok(true),
        Some(other) => anyhow::bail!("codec: {other:?} is not json or text"),
    }
}

impl SinkOutput {
    pub fn file(config: &FileConfig) -> anyhow::Result<SinkOutput> {
        Ok(SinkOutput {
            target: Target::File(config.path.clone(), Mutex::new(None)),
            text: codec(config.codec.as_deref())?,
            stats: std::sync::Arc::default(),
        })
    }

    pub fn stdout(config: &StdoutConfig) -> anyhow::Result<SinkOutput> {
        Ok(SinkOutput {
            target: Target::Stdout,
            text: codec(config.codec.as_deref())?,
            stats: std::sync::Arc::default(),
        })
    }

    /// The batch as the codec writes it.
    pub fn render(&self, batch: &Batch) -> Vec<u8> {
        let mut out = Vec::new();
        for stream in batch {
            for (index, entry) in stream.entries.iter().enumerate() {
                if self.text {
                    out.extend_from_slice(entry.line.as_bytes());
                } else {
                    let fields = stream.fields.get(index).cloned().unwrap_or_default();
                    let record = serde_json::json!({
                        "ts": super::rfc3339(entry.ts_ns),
                        "labels": super::pairs_object(stream.labels.pairs()),
                        "line": entry.line,
                        "metadata": super::pairs_object(&entry.metadata),
                        "fields": fields,
                    });
                    out.extend_from_slice(record.to_string().as_bytes());
                }
                out.push(b'\n');
            }
        }
        out
    }

    pub fn send(&self, batch: &Batch, stop: &AtomicBool) -> Delivery {
        let bytes = self.render(batch);
        let what = match &self.target {
            Target::File(path, _) => path.display().to_string(),
            Target::Stdout => "stdout".to_string(),
        };
        super::deliver(&what, &self.stats, None, batch, stop, || {
            let written = match &self.target {
                Target::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&bytes).and_then(|()| out.flush())
                }
                Target::File(path, file) => {
                    let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                    let open = match file.take() {
                        Some(open) => Ok(open),
                        None => std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(path),
                    };
                    open.and_then(|mut open| {
                        // On a failed write, cut what it left, so a retry
                        // does not follow a torn line.
                        let before = open.metadata()?.len();
                        let written = open.write_all(&bytes).and_then(|()| open.sync_data());
                        if written.is_err() {
                            let _ = open.set_len(before);
                            return written;
                        }
                        *file = Some(open);
                        Ok(())
                    })
                }
            };
            match written {
                Ok(()) => Attempt::Done,
                Err(err) => Attempt::Retry(err.to_string()),
            }
        })
    }
}
