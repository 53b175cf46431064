#![no_main]
//! Arbitrary bytes as the storage's on-disk structures (WAL segment and
//! record, block, stream table, block index, footer): errors, never a panic.
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use strata_model::Labels;
use strata_storage_internals::{block, part, wal, wal_record};

fuzz_target!(|data: &[u8]| {
    let _ = wal::read_segment(data);
    let _ = wal_record::decode_record(data);
    let mut decompressed = 0;
    let _ = block::decode_block(data, 1, Arc::new(Labels::default()), &mut decompressed);
    let _ = part::decode_stream_table(data);
    let _ = part::decode_block_index(data);
    let _ = part::Footer::decode(data);
});
