//! Writes a part file: blocks streamed to a temp file, then the stream table,
//! the block index and the footer; fsync, rename, directory fsync.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use strata_model::Labels;

use crate::block::{BlockBlooms, encode_rows};
use crate::encoding::crc32;
use crate::error::StorageError;
use crate::fs_util::{sync_dir, tmp_path};
use crate::part::{
    BlockBloomRefs, BlockMeta, Footer, PART_HEADER_LEN, PART_MAGIC, PART_VERSION, Part,
    encode_block_index, encode_stream_table,
};
use crate::row_block::RowBlock;

/// Limits and compression of the blocks a writer cuts.
#[derive(Debug, Clone, Copy)]
pub struct BlockLimits {
    pub max_rows: usize,
    pub max_bytes: usize,
    pub zstd_level: i32,
}

pub struct PartWriter {
    /// Final path `<dir>/<id>.part`.
    path: PathBuf,
    /// Where bytes go until the rename.
    tmp: PathBuf,
    file: BufWriter<File>,
    /// Bytes written so far.
    offset: u64,
    blocks: Vec<BlockMeta>,
    /// The filters of `blocks`, written into the block index at the end.
    blooms: Vec<BlockBlooms>,
    /// Streams in the order added (ascending id).
    streams: Vec<(u64, Arc<Labels>)>,
    limits: BlockLimits,
    /// Deletes the temp file if the writer is dropped before `finish` renames it.
    cleanup: TmpCleanup,
}

/// Removes a temp file on drop unless disarmed: a failed flush or merge
/// leaves nothing behind.
struct TmpCleanup(Option<PathBuf>);

impl Drop for TmpCleanup {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && let Err(err) = std::fs::remove_file(&path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %err, "cannot remove unfinished part");
        }
    }
}

impl PartWriter {
    pub fn create(dir: &Path, id: &str, limits: BlockLimits) -> Result<PartWriter, StorageError> {
        let path = dir.join(format!("{id}.part"));
        let tmp = tmp_path(&path);
        let file = File::create(&tmp).map_err(|err| StorageError::io("create", &tmp, err))?;
        let mut writer = PartWriter {
            path,
            cleanup: TmpCleanup(Some(tmp.clone())),
            tmp,
            file: BufWriter::with_capacity(1 << 20, file),
            offset: 0,
            blocks: Vec::new(),
            blooms: Vec::new(),
            streams: Vec::new(),
            limits,
        };
        let mut header = PART_MAGIC.to_vec();
        header.extend_from_slice(&PART_VERSION.to_le_bytes());
        writer.write(&header)?;
        debug_assert_eq!(writer.offset, PART_HEADER_LEN);
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.file
            .write_all(bytes)
            .map_err(|err| StorageError::io("write", &self.tmp, err))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Adds rows of one stream, sorted by ts. Streams must come in ascending id
    /// order; a stream may be added in several consecutive calls (in ts order).
    pub fn add_stream(&mut self, rows: &RowBlock) -> Result<(), StorageError> {
        self.add_streams(&[rows])
    }

    /// Adds several streams (each sorted by ts, in ascending id order);
    /// their blocks are encoded in parallel and written in order.
    pub fn add_streams(&mut self, streams: &[&RowBlock]) -> Result<(), StorageError> {
        let identities: Vec<Vec<usize>> = streams
            .iter()
            .map(|rows| (0..rows.len()).collect())
            .collect();
        let selected: Vec<(&RowBlock, &[usize])> = streams
            .iter()
            .zip(&identities)
            .map(|(rows, order)| (*rows, order.as_slice()))
            .collect();
        self.add_stream_rows(&selected)
    }

    /// Like [`PartWriter::add_streams`], with each stream's rows given as
    /// indices into its block, in (ts, line) order: a head is written
    /// without first being copied into sorted order.
    pub fn add_stream_rows(
        &mut self,
        streams: &[(&RowBlock, &[usize])],
    ) -> Result<(), StorageError> {
        let mut jobs: Vec<(&RowBlock, &[usize])> = Vec::new();
        for &(rows, order) in streams {
            if order.is_empty() {
                continue;
            }
            debug_assert!(order.is_sorted_by_key(|&row| rows.ts(row)));
            // The same stream may come in several calls in a row (merges add it chunk by chunk).
            let last = self.streams.last().map(|(last, _)| *last);
            debug_assert!(last.is_none_or(|last| last <= rows.stream_id()));
            if last != Some(rows.stream_id()) {
                self.streams
                    .push((rows.stream_id(), rows.labels_arc().clone()));
            }
            self.cut_blocks(rows, order, &mut jobs);
        }
        let level = self.limits.zstd_level;
        for chunk in jobs.chunks(PARALLEL_BLOCKS) {
            let encoded: Vec<EncodedBlock> = chunk
                .par_iter()
                .map(|&(rows, order)| encode_selected(rows, order, level))
                .collect();
            for block in encoded {
                self.write_block(block)?;
            }
        }
        Ok(())
    }

    /// Copies block `index` of `part` unchanged (data and filters). Same
    /// ordering rules as [`PartWriter::add_streams`].
    pub fn copy_block(&mut self, part: &Part, index: usize) -> Result<(), StorageError> {
        let (bytes, blooms) = part.read_raw_block(index)?;
        let meta = part.blocks[index].clone();
        let last = self.streams.last().map(|(last, _)| *last);
        if last != Some(meta.stream_id) {
            let labels = part
                .streams
                .get(&meta.stream_id)
                .cloned()
                .unwrap_or_default();
            self.streams.push((meta.stream_id, labels));
        }
        self.write_block(EncodedBlock {
            meta: BlockMeta {
                blooms: BlockBloomRefs::default(),
                ..meta
            },
            bytes,
            blooms,
        })
    }

    /// Cuts one stream's rows (`order`) into block-sized runs.
    fn cut_blocks<'a>(
        &self,
        rows: &'a RowBlock,
        order: &'a [usize],
        jobs: &mut Vec<(&'a RowBlock, &'a [usize])>,
    ) {
        let mut start = 0;
        while start < order.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < order.len() && end - start < self.limits.max_rows.max(1) {
                let line_len = rows.line(order[end]).len();
                if end > start && bytes + line_len > self.limits.max_bytes {
                    break;
                }
                bytes += line_len;
                end += 1;
            }
            jobs.push((rows, &order[start..end]));
            start = end;
        }
    }

    fn write_block(&mut self, block: EncodedBlock) -> Result<(), StorageError> {
        let mut meta = block.meta;
        meta.offset = self.offset;
        self.blocks.push(meta);
        self.blooms.push(block.blooms);
        self.write(&block.bytes)
    }

    /// Completes the file and opens it; None (and no file) when no rows were added.
    pub fn finish(mut self, tenant: &str, day: i64) -> Result<Option<Part>, StorageError> {
        if self.blocks.is_empty() {
            drop(self.file);
            std::fs::remove_file(&self.tmp)
                .map_err(|err| StorageError::io("remove", &self.tmp, err))?;
            return Ok(None);
        }
        let mut table = Vec::new();
        encode_stream_table(&self.streams, &mut table);
        let mut index = Vec::new();
        encode_block_index(&self.blocks, &self.blooms, &mut index);
        let footer = Footer {
            stream_table_offset: self.offset,
            stream_table_len: table.len() as u64,
            index_offset: self.offset + table.len() as u64,
            index_len: index.len() as u64,
            stream_table_crc: crc32(&table),
            index_crc: crc32(&index),
        };
        let mut tail = table;
        tail.extend_from_slice(&index);
        footer.encode(&mut tail);
        self.write(&tail)?;
        let file = self
            .file
            .into_inner()
            .map_err(|err| StorageError::io("write", &self.tmp, err.into_error()))?;
        file.sync_all()
            .map_err(|err| StorageError::io("fsync", &self.tmp, err))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path)
            .map_err(|err| StorageError::io("rename", &self.tmp, err))?;
        self.cleanup.0 = None;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        Part::open(&self.path, tenant, day).map(Some)
    }
}

/// Blocks encoded at once; bounds the memory of encoded-but-unwritten blocks.
const PARALLEL_BLOCKS: usize = 8;

/// A block ready to be written; `meta.offset` is set when it is.
struct EncodedBlock {
    meta: BlockMeta,
    bytes: Vec<u8>,
    blooms: BlockBlooms,
}

fn encode_selected(rows: &RowBlock, order: &[usize], zstd_level: i32) -> EncodedBlock {
    let mut bytes = Vec::new();
    let blooms = encode_rows(rows, order, zstd_level, &mut bytes);
    // Rows are sorted by ts.
    let (min_ts, max_ts) = (rows.ts(order[0]), rows.ts(order[order.len() - 1]));
    let line_bytes: usize = order.iter().map(|&row| rows.line(row).len()).sum();
    let meta = BlockMeta {
        stream_id: rows.stream_id(),
        min_ts,
        max_ts,
        rows: order.len() as u64,
        line_bytes: line_bytes as u64,
        offset: 0,
        len: bytes.len() as u64,
        crc: crc32(&bytes),
        blooms: BlockBloomRefs::default(),
    };
    EncodedBlock {
        meta,
        bytes,
        blooms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn labels(i: u8) -> Arc<Labels> {
        Arc::new(Labels::parse(&format!(r#"{{app="a{i}"}}"#)).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(32)))]
        #[test]
        fn part_round_trip(rows in proptest::collection::vec((0..4u8, -5i64..50, "[a-z ]{0,12}", proptest::option::of("[a-z]{1,3}")), 1..120), max_rows in 1..10usize) {
            let dir = tempfile::tempdir().unwrap();
            let mut by_stream: BTreeMap<u64, RowBlock> = BTreeMap::new();
            for (stream, ts, line, trace) in &rows {
                let labels = labels(*stream);
                let id = strata_model::stream_id(&labels);
                let block = by_stream.entry(id).or_insert_with(|| RowBlock::new(id, labels));
                block.push(*ts, line, trace.as_deref().map(|value| ("trace", value)));
            }
            let limits = BlockLimits { max_rows, max_bytes: 40, zstd_level: 1 };
            let mut writer = PartWriter::create(dir.path(), "p1", limits).unwrap();
            let mut expected = Vec::new();
            for block in by_stream.values() {
                let sorted = block.take(&block.sorted_rows());
                writer.add_stream(&sorted).unwrap();
                expected.push(sorted);
            }
            let part = writer.finish("t", 0).unwrap().unwrap();
            prop_assert_eq!(part.rows as usize, rows.len());
            let mut decoded: BTreeMap<u64, RowBlock> = BTreeMap::new();
            let mut decompressed = 0;
            for index in 0..part.blocks.len() {
                let block = part.read_block(index, &mut decompressed, false).unwrap();
                prop_assert!(block.len() <= max_rows);
                let whole = decoded.entry(block.stream_id()).or_insert_with(|| RowBlock::new(block.stream_id(), block.labels_arc().clone()));
                for row in 0..block.len() {
                    whole.push_from(&block, row);
                }
            }
            for block in &expected {
                let got = &decoded[&block.stream_id()];
                prop_assert_eq!(&got.ts, &block.ts);
                for row in 0..block.len() {
                    prop_assert_eq!(got.line(row), block.line(row));
                    prop_assert_eq!(got.metadata(row).collect::<Vec<_>>(), block.metadata(row).collect::<Vec<_>>());
                }
                prop_assert_eq!(&**got.labels_arc(), &**block.labels_arc());
            }
            // Filter words read the same from the in-memory index as from the file.
            for meta in &part.blocks {
                for bloom in [&meta.blooms.lines, &meta.blooms.fields] {
                    let (offset, len) = bloom.words_span();
                    for at in (offset..offset + len).step_by(8) {
                        prop_assert_eq!(part.read_word(at), part.read_word_from_file(at));
                    }
                }
            }
        }
    }
}
