//! Micro-benchmarks of push decoding: snappy protobuf and JSON bodies of
//! 2,000 lines, with validation, as `POST /loki/api/v1/push` runs them.
//!
//! `cargo bench -p strata-ingest` (CI compiles them with --all-targets).

use std::hint::black_box;

use prost::Message;
use strata_ingest::{
    EntryAdapter, IngestLimits, PushFormat, PushRequest, StreamAdapter, Timestamp, decode_loki_push,
};

fn main() {
    divan::main();
}

const LINES: usize = 2000;

fn line(i: usize) -> String {
    format!(
        r#"{{"timestamp": "2026-11-20T00:00:{:02}.{:06}Z", "level": "INFO", "message": "Prediction request", "model_name": "resnet50", "latency_ms": {:.1}, "status": 200, "trace_id": "{:032x}"}}"#,
        i % 60,
        (i * 7919) % 1_000_000,
        (i % 900) as f64 / 3.0,
        (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
    )
}

fn protobuf_body() -> Vec<u8> {
    let streams = (0..8)
        .map(|stream| StreamAdapter {
            labels: format!(r#"{{app="model-serving", pod="server-{stream}"}}"#),
            entries: (0..LINES / 8)
                .map(|i| EntryAdapter {
                    timestamp: Some(Timestamp {
                        seconds: 1_795_132_800 + i as i64,
                        nanos: 0,
                    }),
                    line: line(stream * LINES + i),
                    structured_metadata: Vec::new(),
                })
                .collect(),
            hash: 0,
        })
        .collect();
    let request = PushRequest { streams };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy")
}

fn json_body() -> Vec<u8> {
    let streams: Vec<serde_json::Value> = (0..8)
        .map(|stream| {
            let values: Vec<serde_json::Value> = (0..LINES / 8)
                .map(|i| {
                    serde_json::json!([
                        ((1_795_132_800 + i as i64) * 1_000_000_000).to_string(),
                        line(stream * LINES + i)
                    ])
                })
                .collect();
            serde_json::json!({"stream": {"app": "model-serving", "pod": format!("server-{stream}")}, "values": values})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "streams": streams })).expect("json")
}

#[divan::bench]
fn protobuf(bencher: divan::Bencher) {
    let body = protobuf_body();
    let limits = IngestLimits::default();
    bencher
        .counter(divan::counter::ItemsCount::new(LINES))
        .bench(|| {
            decode_loki_push(black_box(&body), PushFormat::Protobuf, &limits).expect("decodes")
        });
}

#[divan::bench]
fn json(bencher: divan::Bencher) {
    let body = json_body();
    let limits = IngestLimits::default();
    bencher
        .counter(divan::counter::ItemsCount::new(LINES))
        .bench(|| decode_loki_push(black_box(&body), PushFormat::Json, &limits).expect("decodes"));
}
