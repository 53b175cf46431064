#![no_main]
//! Arbitrary bytes as a snappy protobuf push body: never a panic, bounded memory.
use libfuzzer_sys::fuzz_target;
use strata_ingest::{IngestLimits, PushFormat, decode_loki_push};

fuzz_target!(|data: &[u8]| {
    let limits = IngestLimits { max_request_bytes: 1 << 20, ..IngestLimits::default() };
    let _ = decode_loki_push(data, PushFormat::Protobuf, &limits);
});
