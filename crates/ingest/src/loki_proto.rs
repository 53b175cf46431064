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
/// clients send it. What `strata ingest` and `strata agent` push.
pub fn encode_push<'a>(
    streams: impl IntoIterator<Item = (String, &'a [strata_model::Entry])>,
) -> Vec<u8> {
    use prost::Message;
    let request = PushRequest {
        streams: streams
            .into_iter()
            .map(|(labels, entries)| StreamAdapter {
                labels,
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
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("BUG: snappy compresses any input")
}
