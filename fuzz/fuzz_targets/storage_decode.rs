#![no_main]
//! Arbitrary bytes as the storage's on-disk structures (WAL segment and
//! record, block, stream table, block index, footer): errors, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    strata_storage::fuzzing::decode_untrusted(data);
});
