//! The payload of one WAL record: one `append` call of one tenant.
//!
//! ```text
//! payload = tenant (varint len + bytes), streams: varint,
//!           per stream: labels: varint, per label: name, value (varint len + bytes),
//!                       entries: varint, per entry: ts (zigzag varint), line,
//!                                metadata: varint, per pair: key, value
//! ```

use strata_model::{Entry, Labels, PushStream};

use crate::encoding::{DecodeResult, Reader, put_str, put_varint, unzigzag, zigzag};

/// A decoded WAL record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    pub tenant: String,
    pub streams: Vec<PushStream>,
}

/// Encodes one record payload into `out`.
pub fn encode_record(tenant: &str, streams: &[PushStream], out: &mut Vec<u8>) {
    put_str(out, tenant);
    put_varint(out, streams.len() as u64);
    for stream in streams {
        put_varint(out, stream.labels.len() as u64);
        for (name, value) in stream.labels.iter() {
            put_str(out, name);
            put_str(out, value);
        }
        put_varint(out, stream.entries.len() as u64);
        for entry in &stream.entries {
            put_varint(out, zigzag(entry.ts_ns));
            put_str(out, &entry.line);
            put_varint(out, entry.metadata.len() as u64);
            for (key, value) in &entry.metadata {
                put_str(out, key);
                put_str(out, value);
            }
        }
    }
}

pub fn decode_record(payload: &[u8]) -> DecodeResult<WalRecord> {
    let mut reader = Reader::new(payload);
    let tenant = reader.str()?.to_string();
    let stream_count = reader.count()?;
    let mut streams = Vec::with_capacity(stream_count);
    for _ in 0..stream_count {
        let label_count = reader.count()?;
        let mut pairs = Vec::with_capacity(label_count);
        for _ in 0..label_count {
            let name = reader.str()?.to_string();
            let value = reader.str()?.to_string();
            pairs.push((name, value));
        }
        let entry_count = reader.count()?;
        let mut entries = Vec::with_capacity(entry_count);
        for _ in 0..entry_count {
            let ts_ns = unzigzag(reader.varint()?);
            let line = reader.str()?.to_string();
            let pair_count = reader.count()?;
            let mut metadata = Vec::with_capacity(pair_count);
            for _ in 0..pair_count {
                let key = reader.str()?.to_string();
                let value = reader.str()?.to_string();
                metadata.push((key, value));
            }
            entries.push(Entry {
                ts_ns,
                line,
                metadata,
            });
        }
        streams.push(PushStream {
            labels: Labels::from_pairs(pairs),
            entries,
        });
    }
    if !reader.is_empty() {
        return Err(reader.error("unexpected bytes after the record"));
    }
    Ok(WalRecord { tenant, streams })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_stream() -> impl Strategy<Value = PushStream> {
        let labels = proptest::collection::btree_map("[a-z_]{1,5}", "[a-z0-9]{1,5}", 1..4);
        let entry = (
            any::<i64>(),
            ".{0,20}",
            proptest::collection::vec(("[a-z]{1,4}", ".{0,6}"), 0..3),
        )
            .prop_map(|(ts_ns, line, metadata)| Entry {
                ts_ns,
                line,
                metadata,
            });
        (labels, proptest::collection::vec(entry, 0..10)).prop_map(|(labels, entries)| PushStream {
            labels: Labels::from_pairs(labels),
            entries,
        })
    }

    proptest! {
        #[test]
        fn round_trip(tenant in "[a-z]{1,8}", streams in proptest::collection::vec(arb_stream(), 0..4)) {
            let mut payload = Vec::new();
            encode_record(&tenant, &streams, &mut payload);
            let record = decode_record(&payload).unwrap();
            prop_assert_eq!(record, WalRecord { tenant, streams });
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode_record(&bytes);
        }
    }
}
