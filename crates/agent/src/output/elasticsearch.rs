//! The Elasticsearch `_bulk` output, so the agent can also feed an existing
//! ELK stack (as Logstash's and Fluentd's elasticsearch outputs do):
//!
//! ```yaml
//! outputs:
//!   - type: elasticsearch
//!     url: https://elasticsearch.logging.svc:9200
//!     index: 'ml-logs-%{+yyyy.MM.dd}'     # Logstash's date syntax, from each entry's time (UTC)
//!     username: ${ES_USER}
//!     password: ${ES_PASSWORD}
//! ```
//!
//! Each entry is one document: `@timestamp` (RFC 3339, nanoseconds),
//! `message` (the line), the stream labels, the structured metadata and the
//! fields the stages extracted, as top-level keys (a field wins over a label
//! of the same name). `index` may also name labels or fields: `%{app}`.
//!
//! Documents are sent with `create` and an `_id` derived from the stream,
//! time and line, so a batch sent again after a crash or a timeout finds its
//! documents already there (409, counted as delivered) instead of indexing
//! them twice. Items refused with 429 or 5xx are sent again; items refused
//! with another 4xx (a mapping conflict) go to the dead-letter file.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use serde::Deserialize;

use super::{Attempt, Batch, Delivery, OutputStats, Stream};

/// Most bytes of one `_bulk` request (Elasticsearch's default
/// `http.max_content_length` is 100 MB; Logstash sends 20 MB).
const MAX_REQUEST_BYTES: usize = 20 << 20;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    #[serde(default)]
    pub name: Option<String>,
    /// The cluster's base URL.
    pub url: String,
    /// Index name pattern (default `strata-%{+yyyy.MM.dd}`).
    #[serde(default)]
    pub index: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Sent as `Authorization: ApiKey ...`.
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub dead_letter: Option<PathBuf>,
    #[serde(default)]
    pub timeout: Option<String>,
    /// TLS for https URLs: `ca_file`, `cert_file`/`key_file`, `insecure_skip_verify`.
    #[serde(default)]
    pub tls: Option<super::TlsConfig>,
    /// A disk buffer in front of it (see [`super::buffer`]).
    #[serde(default)]
    pub buffer: Option<super::buffer::BufferConfig>,
}

/// A piece of an index pattern.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    /// `%{+yyyy.MM.dd}`: a date in Joda's letters.
    Date(String),
    /// `%{name}`: a label or field.
    Field(String),
}

pub struct ElasticsearchOutput {
    url: String,
    index: Vec<Part>,
    auth: Option<(String, Option<String>)>,
    api_key: Option<String>,
    dead_letter: Option<PathBuf>,
    client: reqwest::blocking::Client,
    pub stats: std::sync::Arc<OutputStats>,
}

fn parse_index(pattern: &str) -> anyhow::Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut rest = pattern;
    while let Some(at) = rest.find("%{") {
        if at > 0 {
            parts.push(Part::Text(rest[..at].to_string()));
        }
        let after = &rest[at + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| anyhow::anyhow!("index: unclosed %{{ in {pattern:?}"))?;
        let inside = &after[..end];
        match inside.strip_prefix('+') {
            Some(format) => parts.push(Part::Date(format.to_string())),
            None => parts.push(Part::Field(
                inside.trim_matches(|c| c == '[' || c == ']').to_string(),
            )),
        }
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(parts)
}

/// A date in Joda's letters (`yyyy.MM.dd`, `YYYY.MM.dd.HH`), UTC.
fn joda_date(format: &str, ts_ns: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_nanosecond(i128::from(ts_ns)) else {
        return String::new();
    };
    let time = ts.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let mut out = String::new();
    let chars: Vec<char> = format.chars().collect();
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        let mut run = 1;
        while index + run < chars.len() && chars[index + run] == c {
            run += 1;
        }
        match c {
            'y' | 'Y' | 'x' if run == 2 => out.push_str(&format!("{:02}", time.year() % 100)),
            'y' | 'Y' | 'x' => out.push_str(&format!("{:04}", time.year())),
            'M' => out.push_str(&format!("{:02}", time.month())),
            'd' => out.push_str(&format!("{:02}", time.day())),
            'H' => out.push_str(&format!("{:02}", time.hour())),
            'm' => out.push_str(&format!("{:02}", time.minute())),
            's' => out.push_str(&format!("{:02}", time.second())),
            'w' => out.push_str(&format!("{:02}", time.date().iso_week_date().week())),
            other => {
                for _ in 0..run {
                    out.push(other);
                }
            }
        }
        index += run;
    }
    out
}

impl ElasticsearchOutput {
    pub fn new(config: &ElasticsearchConfig) -> anyhow::Result<ElasticsearchOutput> {
        if !(config.url.starts_with("http://") || config.url.starts_with("https://")) {
            anyhow::bail!("url: {:?} is not an http:// or https:// URL", config.url);
        }
        let index = parse_index(config.index.as_deref().unwrap_or("strata-%{+yyyy.MM.dd}"))?;

        Ok(ElasticsearchOutput {
            url: format!("{}/_bulk", config.url.trim_end_matches('/')),
            index,
            auth: config
                .username
                .clone()
                .filter(|user| !user.is_empty())
                .map(|user| (user, config.password.clone().filter(|p| !p.is_empty()))),
            api_key: config.api_key.clone(),
            dead_letter: config.dead_letter.clone(),
            client: super::http_client(
                &config.url,
                config.timeout.as_deref(),
                config.tls.as_ref(),
            )?,
            stats: std::sync::Arc::default(),
        })
    }

    fn index_of(&self, stream: &Stream, entry: usize) -> String {
        let mut out = String::new();
        for part in &self.index {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Date(format) => {
                    out.push_str(&joda_date(format, stream.entries[entry].ts_ns));
                }
                Part::Field(name) => {
                    match stream.fields.get(entry).and_then(|fields| fields.get(name)) {
                        Some(serde_json::Value::String(text)) => out.push_str(text),
                        Some(other) => out.push_str(&other.to_string()),
                        None => out.push_str(stream.labels.get(name).unwrap_or("")),
                    }
                }
            }
        }
        // Index names are lower case.
        out.to_lowercase()
    }

    /// The `_bulk` body lines of one entry: its action and its document.
    fn document(&self, stream: &Stream, entry: usize) -> (String, String) {
        let item = &stream.entries[entry];
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(stream.name.as_bytes());
        hasher.update(&item.ts_ns.to_le_bytes());
        hasher.update(item.line.as_bytes());
        let id = format!("{:032x}", hasher.digest128());
        let action =
            serde_json::json!({"create": {"_index": self.index_of(stream, entry), "_id": id}});
        let mut doc = serde_json::Map::new();
        doc.insert(
            "@timestamp".into(),
            serde_json::Value::String(super::rfc3339(item.ts_ns)),
        );
        doc.insert(
            "message".into(),
            serde_json::Value::String(item.line.clone()),
        );
        for (name, value) in stream.labels.pairs().iter().chain(&item.metadata) {
            doc.insert(name.clone(), serde_json::Value::String(value.clone()));
        }
        if let Some(fields) = stream.fields.get(entry) {
            for (name, value) in fields {
                doc.insert(name.clone(), value.clone());
            }
        }
        doc.retain(|name, _| !name.starts_with("__"));
        (
            action.to_string(),
            serde_json::Value::Object(doc).to_string(),
        )
    }

    pub fn send(&self, batch: &Batch, stop: &AtomicBool) -> Delivery {
        // Cut into requests of at most MAX_REQUEST_BYTES, each delivered in turn.
        let mut chunk: Batch = Vec::new();
        let mut bytes = 0usize;
        let mut refused: Option<String> = None;
        for stream in batch {
            for entry in 0..stream.entries.len() {
                let size = stream.entries[entry].line.len() + 256;
                if bytes + size > MAX_REQUEST_BYTES && !chunk.is_empty() {
                    match self.send_chunk(&std::mem::take(&mut chunk), stop) {
                        Delivery::Stopped => return Delivery::Stopped,
                        Delivery::Refused(reason) => refused = Some(reason),
                        Delivery::Accepted => {}
                    }
                    bytes = 0;
                }
                bytes += size;
                push_entry(&mut chunk, stream, entry);
            }
        }
        if !chunk.is_empty() {
            match self.send_chunk(&chunk, stop) {
                Delivery::Stopped => return Delivery::Stopped,
                Delivery::Refused(reason) => refused = Some(reason),
                Delivery::Accepted => {}
            }
        }
        match refused {
            Some(reason) => Delivery::Refused(reason),
            None => Delivery::Accepted,
        }
    }

    fn send_chunk(&self, chunk: &Batch, stop: &AtomicBool) -> Delivery {
        // What is still to send: items accepted along the way are dropped from it.
        let mut pending: Batch = chunk.clone();
        let url = self.url.clone();
        super::deliver(
            &url,
            &self.stats,
            self.dead_letter.as_ref(),
            chunk,
            stop,
            || {
                let mut body = String::new();
                let mut order: Vec<(usize, usize)> = Vec::new();
                for (s, stream) in pending.iter().enumerate() {
                    for entry in 0..stream.entries.len() {
                        let (action, doc) = self.document(stream, entry);
                        body.push_str(&action);
                        body.push('\n');
                        body.push_str(&doc);
                        body.push('\n');
                        order.push((s, entry));
                    }
                }
                let mut request = self
                    .client
                    .post(&self.url)
                    .header("Content-Type", "application/x-ndjson")
                    .body(body);
                if let Some((user, password)) = &self.auth {
                    request = request.basic_auth(user, password.as_ref());
                }
                if let Some(key) = &self.api_key {
                    request = request.header("Authorization", format!("ApiKey {key}"));
                }
                let response = match request.send() {
                    Ok(response) => response,
                    Err(err) => return Attempt::Retry(err.to_string()),
                };
                let status = response.status().as_u16();
                let text = response.text().unwrap_or_default();
                if !(200..300).contains(&status) {
                    let reason = format!("{status} {}", text.trim());
                    return if super::transient(status) {
                        Attempt::Retry(reason)
                    } else {
                        Attempt::Refuse(reason, Some(pending.clone()))
                    };
                }
                let answer: serde_json::Value = match serde_json::from_str(&text) {
                    Ok(answer) => answer,
                    Err(err) => {
                        return Attempt::Retry(format!("cannot read the _bulk answer: {err}"));
                    }
                };
                if answer.get("errors").and_then(serde_json::Value::as_bool) != Some(true) {
                    return Attempt::Done;
                }
                let items = answer
                    .get("items")
                    .and_then(serde_json::Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut retry: Batch = Vec::new();
                let mut refuse: Batch = Vec::new();
                let mut reason = String::new();
                for (index, (s, entry)) in order.iter().enumerate() {
                    let result = items
                        .get(index)
                        .and_then(|item| item.as_object())
                        .and_then(|item| item.values().next());
                    let item_status = result
                        .and_then(|r| r.get("status"))
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(500) as u16;
                    // 409: a document with this id exists: sent before.
                    if (200..300).contains(&item_status) || item_status == 409 {
                        continue;
                    }
                    if super::transient(item_status) {
                        push_entry(&mut retry, &pending[*s], *entry);
                    } else {
                        if reason.is_empty() {
                            let error = result.and_then(|r| r.get("error")).map(|e| e.to_string());
                            reason = format!("{item_status} {}", error.unwrap_or_default());
                        }
                        push_entry(&mut refuse, &pending[*s], *entry);
                    }
                }
                if !refuse.is_empty() {
                    // The refused items are dead-lettered; the transient ones
                    // are counted as retried but only come back on a later batch
                    // attempt if any: keep it simple by retrying them first.
                    if retry.is_empty() {
                        return Attempt::Refuse(reason, Some(refuse));
                    }
                    super::write_dead_letter(
                        &self.stats,
                        self.dead_letter.as_ref(),
                        &refuse,
                        &reason,
                    );
                }
                if retry.is_empty() {
                    return Attempt::Done;
                }
                let count: usize = retry.iter().map(|s| s.entries.len()).sum();
                pending = retry;
                Attempt::Retry(format!("{count} items refused for now (429 or 5xx)"))
            },
        )
    }
}

/// Appends entry `entry` of `stream` to `batch`, in a stream of the same labels.
fn push_entry(batch: &mut Batch, stream: &Stream, entry: usize) {
    if batch.last().is_none_or(|last| last.name != stream.name) {
        batch.push(Stream {
            labels: stream.labels.clone(),
            name: stream.name.clone(),
            entries: Vec::new(),
            fields: Vec::new(),
        });
    }
    if let Some(last) = batch.last_mut() {
        last.entries.push(stream.entries[entry].clone());
        if let Some(fields) = stream.fields.get(entry) {
            last.fields.push(fields.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_patterns_take_the_entry_date_and_fields() {
        let parts = parse_index("ml-logs-%{+yyyy.MM.dd}").unwrap();
        assert_eq!(
            parts,
            vec![
                Part::Text("ml-logs-".into()),
                Part::Date("yyyy.MM.dd".into())
            ]
        );
        // 2024-01-15T10:30:00Z
        assert_eq!(
            joda_date("yyyy.MM.dd", 1_705_314_600_000_000_000),
            "2024.01.15"
        );
        assert_eq!(
            joda_date("YYYY.MM.dd.HH", 1_705_314_600_000_000_000),
            "2024.01.15.10"
        );
        assert!(parse_index("x-%{+yyyy").is_err());
    }
}
