//! The strata/Loki push output. `compression: snappy` (the default) sends
//! Loki's push protobuf, snappy-compressed, as Promtail does; `gzip` sends
//! the JSON push body gzip-compressed (`Content-Encoding: gzip`), and `none`
//! plain JSON, as Vector's Loki sink can. `tenant` sets `X-Scope-OrgID`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use serde::Deserialize;

use super::{Attempt, Batch, Delivery, OutputStats};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// The server's base URL (`http://host:3100`) or its push URL.
    pub url: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub dead_letter: Option<PathBuf>,
    /// `snappy` (protobuf, default), `gzip` (JSON) or `none` (JSON).
    #[serde(default)]
    pub compression: Option<String>,
    /// HTTP basic auth.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Per request (default 60s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// TLS for https URLs: `ca_file`, `cert_file`/`key_file`, `insecure_skip_verify`.
    #[serde(default)]
    pub tls: Option<super::TlsConfig>,
    /// A disk buffer in front of it (see [`super::buffer`]).
    #[serde(default)]
    pub buffer: Option<super::buffer::BufferConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Snappy,
    Gzip,
    None,
}

pub struct LokiOutput {
    url: String,
    tenant: Option<String>,
    auth: Option<(String, Option<String>)>,
    compression: Compression,
    dead_letter: Option<PathBuf>,
    client: reqwest::blocking::Client,
    pub stats: std::sync::Arc<OutputStats>,
}

impl LokiOutput {
    pub fn new(config: &LokiConfig) -> anyhow::Result<LokiOutput> {
        if !(config.url.starts_with("http://") || config.url.starts_with("https://")) {
            anyhow::bail!("url: {:?} is not an http:// or https:// URL", config.url);
        }
        let base = config.url.trim_end_matches('/');
        let url = if base.ends_with("/loki/api/v1/push") {
            base.to_string()
        } else {
            format!("{base}/loki/api/v1/push")
        };
        let compression = match config.compression.as_deref() {
            None | Some("snappy") => Compression::Snappy,
            Some("gzip") => Compression::Gzip,
            Some("none") => Compression::None,
            Some(other) => anyhow::bail!("compression: {other:?} is not snappy, gzip or none"),
        };
        let client = super::http_client(&url, config.timeout.as_deref(), config.tls.as_ref())?;
        Ok(LokiOutput {
            url,
            tenant: config.tenant.clone(),
            auth: config
                .username
                .clone()
                .filter(|user| !user.is_empty())
                .map(|user| (user, config.password.clone().filter(|p| !p.is_empty()))),
            compression,
            dead_letter: config.dead_letter.clone(),
            client,
            stats: std::sync::Arc::default(),
        })
    }

    /// Sends `batch` until the server accepts or refuses it, or `stop` is set.
    pub fn send(&self, batch: &Batch, stop: &AtomicBool) -> Delivery {
        let (body, content_type, encoding) = match self.compression {
            Compression::Snappy => (encode(batch), "application/x-protobuf", None),
            Compression::Gzip => {
                use std::io::Write;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                let json = encode_json(batch);
                let body = gz
                    .write_all(&json)
                    .and_then(|()| gz.finish())
                    .unwrap_or(json);
                (body, "application/json", Some("gzip"))
            }
            Compression::None => (encode_json(batch), "application/json", None),
        };
        // Shared by every attempt without copying.
        let body = bytes::Bytes::from(body);
        super::deliver(
            &self.url,
            &self.stats,
            self.dead_letter.as_ref(),
            batch,
            stop,
            || {
                let mut request = self
                    .client
                    .post(&self.url)
                    // Loki's push protobuf is snappy-compressed with no Content-Encoding.
                    .header("Content-Type", content_type)
                    .body(body.clone());
                if let Some(encoding) = encoding {
                    request = request.header("Content-Encoding", encoding);
                }
                if let Some(tenant) = &self.tenant {
                    request = request.header("X-Scope-OrgID", tenant);
                }
                if let Some((user, password)) = &self.auth {
                    request = request.basic_auth(user, password.as_ref());
                }
                match request.send() {
                    Ok(response) if response.status().is_success() => Attempt::Done,
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let text = response.text().unwrap_or_default();
                        let reason = format!("{status} {}", text.trim());
                        if super::transient(status) {
                            Attempt::Retry(reason)
                        } else {
                            Attempt::Refuse(reason, None)
                        }
                    }
                    Err(err) => Attempt::Retry(err.to_string()),
                }
            },
        )
    }
}

/// The batch as Loki's push protobuf, snappy-compressed.
pub fn encode(batch: &Batch) -> Vec<u8> {
    strata_ingest::encode_push(
        batch
            .iter()
            .map(|stream| (stream.name.clone(), stream.entries.as_slice())),
    )
}

/// The batch as Loki's JSON push body.
pub fn encode_json(batch: &Batch) -> Vec<u8> {
    let streams: Vec<serde_json::Value> = batch
        .iter()
        .map(|stream| {
            let values: Vec<serde_json::Value> = stream
                .entries
                .iter()
                .map(|entry| {
                    if entry.metadata.is_empty() {
                        serde_json::json!([entry.ts_ns.to_string(), entry.line])
                    } else {
                        serde_json::json!([
                            entry.ts_ns.to_string(),
                            entry.line,
                            super::pairs_object(&entry.metadata)
                        ])
                    }
                })
                .collect();
            serde_json::json!({
                "stream": super::pairs_object(stream.labels.pairs()),
                "values": values,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "streams": streams })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_batches_decode_as_loki_pushes() {
        let labels = strata_model::Labels::parse(r#"{job="x"}"#).unwrap();
        let batch: Batch = vec![super::super::Stream {
            name: labels.to_string(),
            labels,
            entries: vec![strata_model::Entry {
                ts_ns: 1_700_000_000_123_456_789,
                line: "hello".to_string(),
                metadata: vec![("trace_id".to_string(), "t1".to_string())],
            }],
            fields: Vec::new(),
        }];
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
        let json = encode_json(&batch);
        let decoded =
            strata_ingest::decode_loki_push(&json, strata_ingest::PushFormat::Json, &limits)
                .unwrap();
        assert_eq!(decoded.streams[0].entries[0].line, "hello");
        assert_eq!(
            decoded.streams[0].entries[0].metadata,
            [("trace_id".to_string(), "t1".to_string())]
        );
    }
}
