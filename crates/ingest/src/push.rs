use crate::IngestLimits;
use crate::loki_json::JsonPush;
use crate::loki_proto::PushRequest;
use prost::Message;
use std::io::Read;
use strata_model::{Entry, Labels, PushStream, is_valid_label_name};

/// How a push body is encoded, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    /// `application/json` (also the default when no type is given, as Loki does).
    Json,
    /// `application/x-protobuf`: snappy block-compressed `PushRequest`.
    Protobuf,
}

impl PushFormat {
    pub fn from_content_type(content_type: Option<&str>) -> Result<PushFormat, PushError> {
        let media = content_type
            .unwrap_or("application/json")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        match media {
            "application/json" | "" => Ok(PushFormat::Json),
            "application/x-protobuf" | "application/protobuf" => Ok(PushFormat::Protobuf),
            other => Err(PushError::UnsupportedContentType(other.to_string())),
        }
    }
}

/// Why a whole push was refused. Every variant is the client's fault (4xx).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    #[error("unsupported content type {0:?}: use application/json or application/x-protobuf")]
    UnsupportedContentType(String),
    #[error("unsupported content encoding {0:?}: use gzip or none")]
    UnsupportedContentEncoding(String),
    #[error("request body is larger than the limit of {limit} bytes (max_request_bytes)")]
    TooLarge { limit: usize },
    #[error("cannot decompress request body: {0}")]
    Decompress(String),
    #[error("cannot parse JSON push body: {0}")]
    Json(String),
    #[error("cannot parse protobuf push body: {0}")]
    Protobuf(String),
}

impl PushError {
    /// The HTTP status Loki gives for this error.
    pub fn status(&self) -> u16 {
        match self {
            PushError::TooLarge { .. } => 413,
            PushError::UnsupportedContentType(_) => 415,
            _ => 400,
        }
    }
}

/// The valid part of a push, and what was refused.
#[derive(Debug, Default)]
pub struct DecodedPush {
    /// Streams with their valid entries; streams without any are left out.
    pub streams: Vec<PushStream>,
    /// One message per refused stream or entry, naming it and the reason.
    pub rejected: Vec<String>,
    /// Valid entries.
    pub entries: usize,
    /// Bytes of the valid entries (lines plus metadata).
    pub bytes: usize,
}

/// Undoes `Content-Encoding` (gzip or none), bounded by `max_request_bytes`.
pub fn decode_body(
    body: &[u8],
    content_encoding: Option<&str>,
    limits: &IngestLimits,
) -> Result<Vec<u8>, PushError> {
    let encoding = content_encoding.unwrap_or("").trim();
    match encoding {
        "" | "identity" => {
            if body.len() > limits.max_request_bytes {
                return Err(PushError::TooLarge {
                    limit: limits.max_request_bytes,
                });
            }
            Ok(body.to_vec())
        }
        "gzip" | "x-gzip" => {
            let mut decoded = Vec::new();
            let mut reader =
                flate2::read::MultiGzDecoder::new(body).take(limits.max_request_bytes as u64 + 1);
            reader
                .read_to_end(&mut decoded)
                .map_err(|err| PushError::Decompress(format!("gzip: {err}")))?;
            if decoded.len() > limits.max_request_bytes {
                return Err(PushError::TooLarge {
                    limit: limits.max_request_bytes,
                });
            }
            Ok(decoded)
        }
        other => Err(PushError::UnsupportedContentEncoding(other.to_string())),
    }
}

/// Decodes and validates a Loki push body (already free of Content-Encoding,
/// see [`decode_body`]).
pub fn decode_loki_push(
    body: &[u8],
    format: PushFormat,
    limits: &IngestLimits,
) -> Result<DecodedPush, PushError> {
    if body.len() > limits.max_request_bytes {
        return Err(PushError::TooLarge {
            limit: limits.max_request_bytes,
        });
    }
    let mut out = DecodedPush::default();
    match format {
        PushFormat::Json => {
            let push: JsonPush<'_> =
                serde_json::from_slice(body).map_err(|err| PushError::Json(err.to_string()))?;
            for stream in push.streams {
                let labels = Labels::from_pairs(
                    stream
                        .stream
                        .into_iter()
                        .map(|(k, v)| (k.into_owned(), v.into_owned())),
                );
                let entries = stream.values.into_iter().map(|entry| {
                    let ts = parse_json_timestamp(&entry.ts);
                    let metadata = entry
                        .metadata
                        .into_iter()
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    (ts, entry.line.into_owned(), metadata)
                });
                add_stream(&mut out, labels, entries, limits);
            }
        }
        PushFormat::Protobuf => {
            let max_len = snap::raw::decompress_len(body)
                .map_err(|err| PushError::Decompress(format!("snappy: {err}")))?;
            if max_len > limits.max_request_bytes {
                return Err(PushError::TooLarge {
                    limit: limits.max_request_bytes,
                });
            }
            let raw = snap::raw::Decoder::new()
                .decompress_vec(body)
                .map_err(|err| PushError::Decompress(format!("snappy: {err}")))?;
            let request = PushRequest::decode(raw.as_slice())
                .map_err(|err| PushError::Protobuf(err.to_string()))?;
            for stream in request.streams {
                let labels = match Labels::parse(&stream.labels) {
                    Ok(labels) => labels,
                    Err(err) => {
                        out.rejected
                            .push(format!("stream {}: {err}", clip(&stream.labels)));
                        continue;
                    }
                };
                let entries = stream.entries.into_iter().map(|entry| {
                    let ts = match entry.timestamp {
                        Some(ts) => ts
                            .seconds
                            .checked_mul(1_000_000_000)
                            .and_then(|s| s.checked_add(i64::from(ts.nanos)))
                            .ok_or("timestamp out of range".to_string()),
                        None => Err("missing timestamp".to_string()),
                    };
                    let metadata = entry
                        .structured_metadata
                        .into_iter()
                        .map(|pair| (pair.name, pair.value))
                        .collect();
                    (ts, entry.line, metadata)
                });
                add_stream(&mut out, labels, entries, limits);
            }
        }
    }
    Ok(out)
}

fn parse_json_timestamp(text: &str) -> Result<i64, String> {
    text.parse::<i64>().map_err(|_| {
        format!(
            "timestamp {:?} is not an integer of nanoseconds",
            clip(text)
        )
    })
}

type RawEntry = (Result<i64, String>, String, Vec<(String, String)>);

fn add_stream(
    out: &mut DecodedPush,
    labels: Labels,
    entries: impl Iterator<Item = RawEntry>,
    limits: &IngestLimits,
) {
    let labels = labels.without_empty_values();
    if let Err(err) = labels.validate(&limits.labels) {
        let count = entries.count();
        out.rejected
            .push(format!("stream {labels}: {err} ({count} entries dropped)"));
        return;
    }
    let mut valid = Vec::new();
    for (index, (ts, line, metadata)) in entries.enumerate() {
        match check_entry(ts, line, metadata, limits) {
            Ok(entry) => {
                out.bytes += entry.size_bytes();
                valid.push(entry);
            }
            Err(reason) => out
                .rejected
                .push(format!("stream {labels}: entry {index}: {reason}")),
        }
    }
    if !valid.is_empty() {
        out.entries += valid.len();
        out.streams.push(PushStream {
            labels,
            entries: valid,
        });
    }
}

fn check_entry(
    ts: Result<i64, String>,
    line: String,
    metadata: Vec<(String, String)>,
    limits: &IngestLimits,
) -> Result<Entry, String> {
    let ts_ns = ts?;
    if line.len() > limits.max_line_bytes {
        return Err(format!(
            "line is {} bytes, longer than the limit of {} (max_line_bytes)",
            line.len(),
            limits.max_line_bytes
        ));
    }
    if metadata.len() > limits.max_metadata_entries {
        return Err(format!(
            "{} structured metadata pairs, more than the limit of {}",
            metadata.len(),
            limits.max_metadata_entries
        ));
    }
    let mut metadata_bytes = 0;
    let mut kept = Vec::with_capacity(metadata.len());
    for (name, value) in metadata {
        if !is_valid_label_name(&name) {
            return Err(format!(
                "invalid structured metadata name {:?}",
                clip(&name)
            ));
        }
        metadata_bytes += name.len() + value.len();
        if !value.is_empty() {
            kept.push((name, value));
        }
    }
    if metadata_bytes > limits.max_metadata_bytes {
        return Err(format!(
            "structured metadata is {metadata_bytes} bytes, more than the limit of {} (max_metadata_bytes)",
            limits.max_metadata_bytes
        ));
    }
    kept.sort();
    kept.dedup_by(|a, b| a.0 == b.0);
    Ok(Entry {
        ts_ns,
        line,
        metadata: kept,
    })
}

fn clip(text: &str) -> &str {
    let mut end = text.len().min(100);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryAdapter, LabelPairAdapter, StreamAdapter, Timestamp};

    fn json(body: &str) -> Result<DecodedPush, PushError> {
        decode_loki_push(body.as_bytes(), PushFormat::Json, &IngestLimits::default())
    }

    #[test]
    fn json_push_with_metadata_and_escapes() {
        let push = json(r#"{"streams":[{"stream":{"job":"a","pod":"p\"1"},"values":[["1700000000000000001","hello \"w\""],["2","x",{"trace_id":"abc"}]]}]}"#).unwrap();
        assert!(push.rejected.is_empty());
        assert_eq!(push.entries, 2);
        let stream = &push.streams[0];
        assert_eq!(stream.labels.to_string(), r#"{job="a", pod="p\"1"}"#);
        assert_eq!(
            stream.entries[0],
            Entry::new(1_700_000_000_000_000_001, "hello \"w\"")
        );
        assert_eq!(
            stream.entries[1].metadata,
            vec![("trace_id".to_string(), "abc".to_string())]
        );
    }

    #[test]
    fn json_errors_name_what_is_wrong() {
        let rejected = |body: &str| json(body).unwrap().rejected.join("\n");
        assert!(
            rejected(r#"{"streams":[{"stream":{"9x":"a"},"values":[["1","l"]]}]}"#)
                .contains("invalid label name")
        );
        assert!(
            rejected(r#"{"streams":[{"stream":{},"values":[["1","l"]]}]}"#)
                .contains("at least one label")
        );
        assert!(
            rejected(r#"{"streams":[{"stream":{"a":"b"},"values":[["x1","l"]]}]}"#)
                .contains("entry 0: timestamp \"x1\"")
        );
        assert!(
            rejected(r#"{"streams":[{"stream":{"a":"b"},"values":[["1","l",{"a-b":"c"}]]}]}"#)
                .contains("structured metadata name")
        );
        assert!(
            json(r#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#)
                .unwrap_err()
                .to_string()
                .contains("invalid length 1")
        );
        assert!(
            json("{")
                .unwrap_err()
                .to_string()
                .starts_with("cannot parse JSON push body")
        );
    }

    #[test]
    fn partly_bad_request_keeps_valid_entries() {
        let long = "x".repeat(300 << 10);
        let body = format!(
            r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[["1","ok"],["2","{long}"]]}},{{"stream":{{"-":"b"}},"values":[["1","l"]]}}]}}"#
        );
        let push = json(&body).unwrap();
        assert_eq!(push.entries, 1);
        assert_eq!(push.rejected.len(), 2);
        assert!(push.rejected[0].contains("max_line_bytes"));
    }

    #[test]
    fn protobuf_snappy_round_trip() {
        let request = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{job="x", env="prod"}"#.to_string(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp {
                        seconds: 10,
                        nanos: 5,
                    }),
                    line: "line one".to_string(),
                    structured_metadata: vec![LabelPairAdapter {
                        name: "trace_id".into(),
                        value: "t1".into(),
                    }],
                }],
                hash: 0,
            }],
        };
        let compressed = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap();
        let push =
            decode_loki_push(&compressed, PushFormat::Protobuf, &IngestLimits::default()).unwrap();
        assert_eq!(
            push.streams[0].labels.to_string(),
            r#"{env="prod", job="x"}"#
        );
        assert_eq!(push.streams[0].entries[0].ts_ns, 10_000_000_005);
        assert_eq!(push.streams[0].entries[0].metadata[0].1, "t1");
    }

    #[test]
    fn bad_protobuf_and_limits() {
        let limits = IngestLimits {
            max_request_bytes: 100,
            ..IngestLimits::default()
        };
        assert!(decode_loki_push(b"\xff\xff\xff", PushFormat::Protobuf, &limits).is_err());
        let big = snap::raw::Encoder::new()
            .compress_vec(&[0u8; 1000])
            .unwrap();
        assert_eq!(
            decode_loki_push(&big, PushFormat::Protobuf, &limits)
                .unwrap_err()
                .status(),
            413
        );
        assert_eq!(
            decode_body(&[0u8; 101], None, &limits)
                .unwrap_err()
                .status(),
            413
        );
        assert!(PushFormat::from_content_type(Some("text/plain")).is_err());
        assert_eq!(
            PushFormat::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
            PushFormat::Json
        );
    }

    #[test]
    fn gzip_body() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder
            .write_all(br#"{"streams":[{"stream":{"a":"b"},"values":[["1","zipped"]]}]}"#)
            .unwrap();
        let body = decode_body(
            &encoder.finish().unwrap(),
            Some("gzip"),
            &IngestLimits::default(),
        )
        .unwrap();
        let push = decode_loki_push(&body, PushFormat::Json, &IngestLimits::default()).unwrap();
        assert_eq!(push.streams[0].entries[0].line, "zipped");
        assert!(decode_body(b"not gzip", Some("gzip"), &IngestLimits::default()).is_err());
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic either decoder.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_loki_push(&bytes, PushFormat::Json, &IngestLimits::default());
            let _ = decode_loki_push(&bytes, PushFormat::Protobuf, &IngestLimits::default());
            let _ = decode_body(&bytes, Some("gzip"), &IngestLimits::default());
        }
    }
}
