#![no_main]
//! Arbitrary bytes as a JSON push body, plain and as a gzip body: never a panic.
use libfuzzer_sys::fuzz_target;
use strata_ingest::{IngestLimits, PushFormat, decode_body, decode_loki_push};

fuzz_target!(|data: &[u8]| {
    let limits = IngestLimits { max_request_bytes: 1 << 20, ..IngestLimits::default() };
    let _ = decode_loki_push(data, PushFormat::Json, &limits);
    if let Ok(body) = decode_body(data, Some("gzip"), &limits) {
        let _ = decode_loki_push(&body, PushFormat::Json, &limits);
    }
});
