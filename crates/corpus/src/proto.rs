//! Loki's push protobuf (`logproto.PushRequest`) encoded by hand into a
//! reused buffer: the same bytes prost writes for `strata_ingest::PushRequest`
//! (checked in the tests), without a `String` per entry.
//!
//! ```text
//! PushRequest   { repeated StreamAdapter streams = 1; }
//! StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//! EntryAdapter  { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structured_metadata = 3; }
//! LabelPairAdapter { string name = 1; string value = 2; }
//! Timestamp     { int64 seconds = 1; int32 nanos = 2; }
//! ```

/// One entry of a batch: its stream, time, and where its line is in the
/// batch's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef {
    pub stream: u32,
    pub ts_ns: i64,
    pub start: u32,
    pub len: u32,
    /// Where in `text` a trace id sent as structured metadata `trace_id`
    /// is (start, len); len 0 for none.
    pub trace: (u32, u32),
}

/// The structured-metadata key trace ids are sent under.
pub const TRACE_ID_KEY: &str = "trace_id";

impl EntryRef {
    fn line<'t>(&self, text: &'t [u8]) -> &'t [u8] {
        &text[self.start as usize..(self.start + self.len) as usize]
    }

    fn trace<'t>(&self, text: &'t [u8]) -> &'t [u8] {
        let (start, len) = self.trace;
        &text[start as usize..(start + len) as usize]
    }
}

/// Bytes of the structured-metadata pair of an entry with a trace id.
fn metadata_len(entry: &EntryRef) -> usize {
    if entry.trace.1 == 0 {
        return 0;
    }
    let pair = field_len(TRACE_ID_KEY.len()) + field_len(entry.trace.1 as usize);
    1 + varint_len(pair as u64) + pair
}

/// Appends one `streams` element of a PushRequest: `labels` and `entries`,
/// whose lines are in `text`. A request is its streams back to back.
pub fn encode_stream(out: &mut Vec<u8>, labels: &[u8], text: &[u8], entries: &[EntryRef]) {
    let mut stream_len = field_len(labels.len());
    for entry in entries {
        let entry_len = entry_len(entry);
        stream_len += 1 + varint_len(entry_len as u64) + entry_len;
    }
    // streams = 1, length-delimited
    out.push(0x0a);
    push_varint(out, stream_len as u64);
    if !labels.is_empty() {
        out.push(0x0a);
        push_varint(out, labels.len() as u64);
        out.extend_from_slice(labels);
    }
    for entry in entries {
        // entries = 2
        out.push(0x12);
        push_varint(out, entry_len(entry) as u64);
        let (seconds, nanos) = split_ts(entry.ts_ns);
        let ts_len = timestamp_len(seconds, nanos);
        out.push(0x0a);
        push_varint(out, ts_len as u64);
        if seconds != 0 {
            out.push(0x08);
            push_varint(out, seconds as u64);
        }
        if nanos != 0 {
            out.push(0x10);
            push_varint(out, nanos as i64 as u64);
        }
        if entry.len > 0 {
            out.push(0x12);
            push_varint(out, u64::from(entry.len));
            out.extend_from_slice(entry.line(text));
        }
        if entry.trace.1 > 0 {
            // structured_metadata = 3: { name = 1, value = 2 }
            out.push(0x1a);
            let pair = field_len(TRACE_ID_KEY.len()) + field_len(entry.trace.1 as usize);
            push_varint(out, pair as u64);
            out.push(0x0a);
            push_varint(out, TRACE_ID_KEY.len() as u64);
            out.extend_from_slice(TRACE_ID_KEY.as_bytes());
            out.push(0x12);
            push_varint(out, u64::from(entry.trace.1));
            out.extend_from_slice(entry.trace(text));
        }
    }
}

fn split_ts(ts_ns: i64) -> (i64, i32) {
    (
        ts_ns.div_euclid(1_000_000_000),
        ts_ns.rem_euclid(1_000_000_000) as i32,
    )
}

fn timestamp_len(seconds: i64, nanos: i32) -> usize {
    let mut len = 0;
    if seconds != 0 {
        len += 1 + varint_len(seconds as u64);
    }
    if nanos != 0 {
        len += 1 + varint_len(nanos as i64 as u64);
    }
    len
}

fn entry_len(entry: &EntryRef) -> usize {
    let (seconds, nanos) = split_ts(entry.ts_ns);
    let ts_len = timestamp_len(seconds, nanos);
    // The timestamp message is always present (prost writes Some(default) too).
    1 + varint_len(ts_len as u64) + ts_len + field_len(entry.len as usize) + metadata_len(entry)
}

/// Bytes of an optional length-delimited field (omitted when empty).
fn field_len(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        1 + varint_len(len as u64) + len
    }
}

fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use strata_ingest::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};

    #[test]
    fn same_bytes_as_prost() {
        let streams: Vec<(String, Vec<(i64, String)>)> = vec![
            (
                r#"{app="a", level="info"}"#.to_string(),
                vec![
                    (1_795_132_800_123_456_789, "hello".to_string()),
                    (
                        1_795_132_800_123_456_790,
                        "GET / trace_id=4bf92f3577b3".to_string(),
                    ),
                    (1_795_132_801_000_000_000, "x".repeat(300)),
                    (5, String::new()),
                ],
            ),
            (String::new(), vec![(0, "zero time".to_string())]),
            (r#"{app="b"}"#.to_string(), vec![]),
        ];
        let mut ours = Vec::new();
        for (labels, entries) in &streams {
            let mut text = Vec::new();
            let mut refs = Vec::new();
            for (ts_ns, line) in entries {
                let start = text.len() as u32;
                let trace = crate::push::find_trace_id(line.as_bytes())
                    .map_or((0, 0), |(at, len)| (start + at as u32, len as u32));
                refs.push(EntryRef {
                    stream: 0,
                    ts_ns: *ts_ns,
                    start,
                    len: line.len() as u32,
                    trace,
                });
                text.extend_from_slice(line.as_bytes());
            }
            encode_stream(&mut ours, labels.as_bytes(), &text, &refs);
        }
        let request = PushRequest {
            streams: streams
                .iter()
                .map(|(labels, entries)| StreamAdapter {
                    labels: labels.clone(),
                    entries: entries
                        .iter()
                        .map(|(ts_ns, line)| EntryAdapter {
                            timestamp: Some(Timestamp {
                                seconds: ts_ns.div_euclid(1_000_000_000),
                                nanos: ts_ns.rem_euclid(1_000_000_000) as i32,
                            }),
                            line: line.clone(),
                            structured_metadata: crate::push::find_trace_id(line.as_bytes())
                                .map(|(at, len)| strata_ingest::LabelPairAdapter {
                                    name: TRACE_ID_KEY.to_string(),
                                    value: line[at..at + len].to_string(),
                                })
                                .into_iter()
                                .collect(),
                        })
                        .collect(),
                    hash: 0,
                })
                .collect(),
        };
        assert_eq!(ours, request.encode_to_vec());
        let decoded = PushRequest::decode(ours.as_slice()).expect("decodes");
        assert_eq!(decoded, request);
    }

    #[test]
    fn varints() {
        for value in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            push_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
        }
    }
}
