//! Loki's push protobuf (`logproto.PushRequest`), mirrored field for field.
//! Loki's push API shapes are Apache-licensed; the messages are declared
//! with prost's derive, so no protoc is needed.

/// `logproto.PushRequest`
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: labels as Loki's label string `{a="b"}`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// A Loki push body: the protobuf `PushRequest` of `streams` (each a label
/// set in Loki's text form and its entries), snappy-compressed as Loki's
/// clients send it. What `strata ingest` and `strata agent` push. Written
/// field by field from the entries (no copy of the lines into prost's
/// structs); the bytes are prost's, byte for byte.
pub fn encode_push<'a>(
    streams: impl IntoIterator<Item = (String, &'a [strata_model::Entry])>,
) -> Vec<u8> {
    use prost::encoding::{encode_varint, encoded_len_varint};
    fn string_len(text: &str) -> usize {
        if text.is_empty() {
            0
        } else {
            1 + encoded_len_varint(text.len() as u64) + text.len()
        }
    }
    fn put_string(tag: u8, text: &str, out: &mut Vec<u8>) {
        if !text.is_empty() {
            out.push(tag);
            encode_varint(text.len() as u64, out);
            out.extend_from_slice(text.as_bytes());
        }
    }
    fn message_len(body: usize) -> usize {
        1 + encoded_len_varint(body as u64) + body
    }
    // (seconds, nanos) and the timestamp message's body length.
    fn timestamp(ts_ns: i64) -> (i64, i32, usize) {
        let seconds = ts_ns.div_euclid(1_000_000_000);
        let nanos = ts_ns.rem_euclid(1_000_000_000) as i32;
        let mut len = 0;
        if seconds != 0 {
            len += 1 + encoded_len_varint(seconds as u64);
        }
        if nanos != 0 {
            len += 1 + encoded_len_varint(nanos as u64);
        }
        (seconds, nanos, len)
    }
    fn pair_len(name: &str, value: &str) -> usize {
        string_len(name) + string_len(value)
    }
    fn entry_len(entry: &strata_model::Entry) -> usize {
        let (_, _, ts) = timestamp(entry.ts_ns);
        message_len(ts)
            + string_len(&entry.line)
            + entry
                .metadata
                .iter()
                .map(|(n, v)| message_len(pair_len(n, v)))
                .sum::<usize>()
    }
    let streams: Vec<(String, &[strata_model::Entry])> = streams.into_iter().collect();
    // Body lengths first, so each message's length prefix can be written.
    let lengths: Vec<(usize, Vec<usize>)> = streams
        .iter()
        .map(|(labels, entries)| {
            let entry_lens: Vec<usize> = entries.iter().map(entry_len).collect();
            let body = string_len(labels)
                + entry_lens
                    .iter()
                    .map(|len| message_len(*len))
                    .sum::<usize>();
            (body, entry_lens)
        })
        .collect();
    let total: usize = lengths.iter().map(|(body, _)| message_len(*body)).sum();
    let mut out = Vec::with_capacity(total);
    for ((labels, entries), (body, entry_lens)) in streams.iter().zip(&lengths) {
        out.push(0x0a); // streams: field 1, length-delimited
        encode_varint(*body as u64, &mut out);
        put_string(0x0a, labels, &mut out); // labels: field 1
        for (entry, len) in entries.iter().zip(entry_lens) {
            out.push(0x12); // entries: field 2
            encode_varint(*len as u64, &mut out);
            let (seconds, nanos, ts_len) = timestamp(entry.ts_ns);
            out.push(0x0a); // timestamp: field 1
            encode_varint(ts_len as u64, &mut out);
            if seconds != 0 {
                out.push(0x08);
                encode_varint(seconds as u64, &mut out);
            }
            if nanos != 0 {
                out.push(0x10);
                encode_varint(nanos as u64, &mut out);
            }
            put_string(0x12, &entry.line, &mut out); // line: field 2
            for (name, value) in &entry.metadata {
                out.push(0x1a); // structured_metadata: field 3
                encode_varint(pair_len(name, value) as u64, &mut out);
                put_string(0x0a, name, &mut out);
                put_string(0x12, value, &mut out);
            }
        }
    }
    snap::raw::Encoder::new()
        .compress_vec(&out)
        .expect("BUG: snappy compresses any input")
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// The push as prost encodes it, from copies of the entries.
    fn with_prost(streams: &[(String, Vec<strata_model::Entry>)]) -> Vec<u8> {
        let request = PushRequest {
            streams: streams
                .iter()
                .map(|(labels, entries)| StreamAdapter {
                    labels: labels.clone(),
                    entries: entries
                        .iter()
                        .map(|entry| EntryAdapter {
                            timestamp: Some(Timestamp {
                                seconds: entry.ts_ns.div_euclid(1_000_000_000),
                                nanos: entry.ts_ns.rem_euclid(1_000_000_000) as i32,
                            }),
                            line: entry.line.clone(),
                            structured_metadata: entry
                                .metadata
                                .iter()
                                .map(|(name, value)| LabelPairAdapter {
                                    name: name.clone(),
                                    value: value.clone(),
                                })
                                .collect(),
                        })
                        .collect(),
                    hash: 0,
                })
                .collect(),
        };
        request.encode_to_vec()
    }

    #[test]
    fn pushes_are_prosts_bytes() {
        let entry = |ts_ns: i64, line: &str, metadata: &[(&str, &str)]| strata_model::Entry {
            ts_ns,
            line: line.to_string(),
            metadata: metadata
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        };
        let streams = vec![
            (
                r#"{job="x"}"#.to_string(),
                vec![
                    entry(1_700_000_000_123_456_789, "hello", &[("trace_id", "t1")]),
                    entry(0, "", &[]),
                    entry(-1_500_000_000, "before 1970", &[("empty", "")]),
                    entry(5, &"é".repeat(200), &[]),
                    entry(3_000_000_000, "whole seconds", &[]),
                ],
            ),
            (String::new(), vec![]),
            (
                r#"{a="b"}"#.to_string(),
                vec![entry(7, "x", &[("a", "1"), ("b", "2")])],
            ),
        ];
        let ours = encode_push(streams.iter().map(|(l, e)| (l.clone(), e.as_slice())));
        let raw = snap::raw::Decoder::new().decompress_vec(&ours).unwrap();
        assert_eq!(raw, with_prost(&streams));
    }
}
