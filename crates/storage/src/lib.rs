//! strata's storage engine: WAL, head, parts, blocks, bloom filters, stream
//! index, merges.
//!
//! [`Storage`] is the entry point. [`Storage::append`] writes a record to the
//! WAL (group commit) and adds the rows to the in-memory head
//! [`Storage::flush`] writes the head out as immutable parts
//! (one per tenant and UTC day) of column-compressed blocks with
//! bloom filters; [`Storage::merge`] rewrites small
//! parts into bigger ones. [`Storage::scan`] selects streams through the
//! per-tenant stream index, prunes blocks by time and blooms and
//! hands [`RowBlock`]s to a visitor, in parallel. docs/format.md describes
//! every file byte by byte.
//!
//! ```
//! use std::ops::ControlFlow;
//! use strata_model::{Entry, Labels, PushStream};
//! use strata_storage::{ScanRequest, Storage, StorageConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let storage = Storage::open(StorageConfig { data_dir: dir.path().into(), ..StorageConfig::default() }).unwrap();
//! let labels = Labels::parse(r#"{job="api"}"#).unwrap();
//! storage.append("fake", &[PushStream { labels, entries: vec![Entry::new(10, "hello")] }]).unwrap();
//! let request = ScanRequest { tenant: "fake", matchers: &[], start_ns: 0, end_ns: 100, line_tokens: &[], field_values: &[], timestamps_only: false };
//! let rows = std::sync::atomic::AtomicUsize::new(0);
//! storage.scan(&request, &|block| { rows.fetch_add(block.len(), std::sync::atomic::Ordering::Relaxed); ControlFlow::Continue(()) }).unwrap();
//! assert_eq!(rows.into_inner(), 1);
//! ```

mod background;
mod block;
mod bloom;
mod config;
mod encoding;
mod error;
mod flush;
mod fs_util;
mod head;
mod index;
mod merge;
mod part;
mod part_writer;
mod partition;
mod row_block;
mod scan;
mod stats;
mod storage;
mod stream_merger;
mod summary;
mod wal;
mod wal_record;

/// Entry points for the micro-benchmarks (`benches/hot_paths.rs`): block
/// encoding and decoding and the bloom filters are private.
#[doc(hidden)]
pub mod hot_paths {
    use std::sync::Arc;

    use strata_model::Labels;

    use crate::bloom::{Bloom, BloomRef, hash_token};
    use crate::encoding::Reader;
    use crate::row_block::RowBlock;

    /// A block of one stream holding `lines`, one ms apart.
    pub fn block_of(lines: &[String]) -> RowBlock {
        let mut block = RowBlock::new(1, Arc::new(Labels::default()));
        for (index, line) in lines.iter().enumerate() {
            block.push(index as i64 * 1_000_000, line, []);
        }
        block
    }

    /// Encodes a block as a flush does (zstd `level`); returns the bytes.
    pub fn encode(block: &RowBlock, level: i32) -> Vec<u8> {
        let rows: Vec<usize> = (0..block.len()).collect();
        let mut out = Vec::new();
        crate::block::encode_rows(block, &rows, level, &mut out);
        out
    }

    /// Encodes a block with its line column in one piece, as version 1
    /// parts held it (to compare with framed columns).
    pub fn encode_unframed(block: &RowBlock, level: i32) -> Vec<u8> {
        let rows: Vec<usize> = (0..block.len()).collect();
        let mut out = Vec::new();
        crate::block::encode_rows_in_frames(block, &rows, level, usize::MAX, &mut out);
        out
    }

    /// Decodes what [`encode`] wrote; returns the rows.
    pub fn decode(bytes: &[u8], timestamps_only: bool) -> usize {
        let mut decompressed = 0;
        crate::block::decode_block(
            bytes,
            1,
            Arc::new(Labels::default()),
            &mut decompressed,
            timestamps_only,
            &[],
        )
        .map(|decoded| decoded.block.len())
        .unwrap_or(0)
    }

    /// The token hashes of `lines`, as a block's filter takes them.
    pub fn token_hashes(lines: &[String]) -> Vec<u64> {
        let mut hashes = Vec::new();
        for line in lines {
            strata_model::tokens::for_each_token(line, |token| {
                if strata_model::tokens::is_indexed_token(token) {
                    hashes.push(hash_token(token.as_bytes()));
                }
            });
        }
        hashes
    }

    /// A filter of `hashes`, encoded as parts store it.
    pub fn build_bloom(hashes: &[u64]) -> Vec<u8> {
        let mut out = Vec::new();
        Bloom::from_hashes(hashes).encode(&mut out);
        out
    }

    /// Probes an encoded filter the way scans do (word reads); returns the hits.
    pub fn probe_bloom(encoded: &[u8], probes: &[u64]) -> usize {
        let Ok(reference) = BloomRef::decode(&mut Reader::new(encoded), 0) else {
            return 0;
        };
        let mut read_word = |at: u64| {
            let at = at as usize;
            encoded
                .get(at..at + 8)
                .map(|word| u64::from_le_bytes(word.try_into().expect("BUG: 8 bytes")))
        };
        probes
            .iter()
            .filter(|&&hash| reference.may_contain(hash, &mut read_word))
            .count()
    }
}

/// Entry points for the fuzz targets (`fuzz/`): the decoders of on-disk
/// bytes are private, this runs each of them on untrusted input.
#[doc(hidden)]
pub mod fuzzing {
    use std::sync::Arc;

    /// Feeds `bytes` to every decoder of on-disk structures (WAL segment and
    /// record, block, stream table, block index, part footer). Any outcome but
    /// a panic or an unbounded allocation is fine.
    pub fn decode_untrusted(bytes: &[u8]) {
        let _ = crate::wal::read_segment(bytes);
        let _ = crate::wal_record::decode_record(bytes);
        let mut decompressed = 0;
        let labels = Arc::new(strata_model::Labels::default());
        let _ = crate::block::decode_block(bytes, 1, labels.clone(), &mut decompressed, false, &[]);
        // A lookup by metadata takes the path that decompresses some frames only.
        let clause = crate::FieldClause {
            key: "trace_id".to_string(),
            values: vec!["a".to_string()],
        };
        let _ = crate::block::decode_block(bytes, 1, labels, &mut decompressed, false, &[clause]);
        let _ = crate::part::decode_stream_table(bytes);
        let _ = crate::part::decode_block_index(bytes, 0);
        let _ = crate::part::Footer::decode(bytes);
    }

    #[cfg(test)]
    mod tests {
        /// The golden files and garbage go through every decoder.
        #[test]
        fn decodes_golden_files_and_garbage() {
            let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/v1");
            for entry in walk(std::path::Path::new(golden)) {
                let bytes = std::fs::read(&entry).unwrap();
                super::decode_untrusted(&bytes);
                for cut in [0, 1, bytes.len() / 2] {
                    super::decode_untrusted(&bytes[cut..]);
                }
            }
            super::decode_untrusted(&[0xff; 64]);
        }

        fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    files.extend(walk(&path));
                } else {
                    files.push(path);
                }
            }
            files
        }
    }
}

pub use background::BackgroundTasks;
pub use config::{FsyncPolicy, StorageConfig};
pub use error::StorageError;
pub use row_block::RowBlock;
pub use scan::{FieldClause, ScanRequest, ScanStats, TokenClause};
pub use stats::StorageStats;
pub use storage::Storage;
pub use summary::StreamSummary;
