//! An immutable part file: the rows of one tenant and one day, sorted by
//! (stream, ts), cut into blocks. See docs/format.md for the byte layout.
//!
//! ```text
//! header "SPRT" version | block data ... | stream table | block index | footer
//! footer = stream_table_offset u64, stream_table_len u64, index_offset u64, index_len u64,
//!          stream_table_crc u32, index_crc u32, footer_crc u32, version u32, "SPRT"
//! ```

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use strata_model::Labels;

use crate::block::{BlockBlooms, decode_block};
use crate::bloom::{Bloom, BloomRef};
use crate::encoding::{
    DecodeError, DecodeResult, Reader, crc32, put_i64, put_str, put_u32, put_u64, put_varint,
};
use crate::error::StorageError;
use crate::row_block::RowBlock;

pub const PART_MAGIC: &[u8; 4] = b"SPRT";
/// The version parts are written with: 2 added framed line columns.
pub const PART_VERSION: u32 = 2;
/// The oldest version still read.
pub const PART_VERSION_MIN: u32 = 1;
pub const PART_HEADER_LEN: u64 = 8;
pub const FOOTER_LEN: u64 = 52;
/// Largest stream table or block index accepted when opening.
const MAX_SECTION_BYTES: u64 = 1 << 31;

/// Where one block lives and what it holds; the block index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMeta {
    pub stream_id: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub rows: u64,
    /// Uncompressed line bytes.
    pub line_bytes: u64,
    /// Offset of the block data in the file.
    pub offset: u64,
    /// Length of the block data.
    pub len: u64,
    /// crc32 of the block data.
    pub crc: u32,
    /// Where the block's filters are in the part file (they stay there).
    pub blooms: BlockBloomRefs,
}

/// The filters of one block, left in the part file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockBloomRefs {
    pub lines: BloomRef,
    pub fields: BloomRef,
}

/// An open part: its index in memory, its block data read on demand.
#[derive(Debug)]
pub struct Part {
    /// Globally unique id, the file name without `.part`.
    pub id: String,
    pub path: PathBuf,
    pub tenant: String,
    /// UTC day of every row.
    pub day: i64,
    /// Open for positioned reads from many threads.
    file: File,
    /// File size in bytes.
    pub size: u64,
    /// stream id -> labels.
    pub streams: HashMap<u64, Arc<Labels>>,
    /// Blocks sorted by (stream id, min ts).
    pub blocks: Vec<BlockMeta>,
    pub min_ts: i64,
    pub max_ts: i64,
    pub rows: u64,
    /// Blocks found corrupt by scans so far, so that each is reported once.
    corrupt_blocks: Mutex<HashSet<usize>>,
    /// Set when a merge could not read this part: merges leave it alone from
    /// then on (a merge would drop its unreadable blocks for good).
    unmergeable: std::sync::atomic::AtomicBool,
    /// Where the block index (with the filters) is, and its checksum.
    index_section: (u64, u64, u32),
    /// The block index's bytes, loaded at the first probe of a filter while
    /// [`FILTER_CACHE_BYTES`] allows (None: probe with positioned reads).
    filters: OnceLock<Option<Vec<u8>>>,
}

/// Most bytes of block indexes (mostly bloom filters) that parts keep in
/// memory for probing, all parts together: 128 MiB holds the filters of about
/// 9 GB of raw logs of the benchmark's kind. Past it, a part's filters are
/// probed with one positioned read per word (~1 µs each, measured: 6,400
/// reads made most of a 10 ms rare-token query on the 2 GB benchmark).
pub const FILTER_CACHE_BYTES: u64 = 128 << 20;

/// Bytes of block indexes held in memory by all open parts.
static CACHED_FILTER_BYTES: AtomicU64 = AtomicU64::new(0);

/// Bytes of block indexes that parts hold in memory for probing filters.
pub fn cached_filter_bytes() -> u64 {
    CACHED_FILTER_BYTES.load(Ordering::Relaxed)
}

impl Drop for Part {
    fn drop(&mut self) {
        if let Some(Some(bytes)) = self.filters.get() {
            CACHED_FILTER_BYTES.fetch_sub(bytes.len() as u64, Ordering::Relaxed);
        }
    }
}

pub fn encode_stream_table(streams: &[(u64, Arc<Labels>)], out: &mut Vec<u8>) {
    put_varint(out, streams.len() as u64);
    for (stream_id, labels) in streams {
        put_u64(out, *stream_id);
        put_varint(out, labels.len() as u64);
        for (name, value) in labels.iter() {
            put_str(out, name);
            put_str(out, value);
        }
    }
}

pub fn decode_stream_table(bytes: &[u8]) -> DecodeResult<HashMap<u64, Arc<Labels>>> {
    let mut reader = Reader::new(bytes);
    let count = reader.count()?;
    let mut streams = HashMap::with_capacity(count);
    for _ in 0..count {
        let stream_id = reader.u64()?;
        let label_count = reader.count()?;
        let mut pairs = Vec::with_capacity(label_count);
        for _ in 0..label_count {
            pairs.push((reader.str()?.to_string(), reader.str()?.to_string()));
        }
        streams.insert(stream_id, Arc::new(Labels::from_pairs(pairs)));
    }
    if !reader.is_empty() {
        return Err(reader.error("unexpected bytes after the stream table"));
    }
    Ok(streams)
}

/// Encodes the block index; `blooms[i]` are the filters of `blocks[i]`.
pub fn encode_block_index(blocks: &[BlockMeta], blooms: &[BlockBlooms], out: &mut Vec<u8>) {
    debug_assert_eq!(blocks.len(), blooms.len());
    put_varint(out, blocks.len() as u64);
    for (block, blooms) in blocks.iter().zip(blooms) {
        put_u64(out, block.stream_id);
        put_i64(out, block.min_ts);
        put_i64(out, block.max_ts);
        put_varint(out, block.rows);
        put_varint(out, block.line_bytes);
        put_varint(out, block.offset);
        put_varint(out, block.len);
        put_u32(out, block.crc);
        blooms.lines.encode(out);
        blooms.fields.encode(out);
    }
}

/// Decodes the block index; `base` is the file offset of its first byte, so
/// that the filters' addresses are file offsets.
pub fn decode_block_index(bytes: &[u8], base: u64) -> DecodeResult<Vec<BlockMeta>> {
    let mut reader = Reader::new(bytes);
    let count = reader.count()?;
    let mut blocks = Vec::with_capacity(count);
    for _ in 0..count {
        let stream_id = reader.u64()?;
        let min_ts = reader.i64()?;
        let max_ts = reader.i64()?;
        let rows = reader.varint()?;
        let line_bytes = reader.varint()?;
        let offset = reader.varint()?;
        let len = reader.varint()?;
        let crc = reader.u32()?;
        let lines = BloomRef::decode(&mut reader, base)?;
        let fields = BloomRef::decode(&mut reader, base)?;
        if min_ts > max_ts || rows == 0 {
            return Err(reader.error("unexpected block time range or row count"));
        }
        blocks.push(BlockMeta {
            stream_id,
            min_ts,
            max_ts,
            rows,
            line_bytes,
            offset,
            len,
            crc,
            blooms: BlockBloomRefs { lines, fields },
        });
    }
    if !reader.is_empty() {
        return Err(reader.error("unexpected bytes after the block index"));
    }
    Ok(blocks)
}

/// The fixed-size footer at the end of a part file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub stream_table_offset: u64,
    pub stream_table_len: u64,
    pub index_offset: u64,
    pub index_len: u64,
    pub stream_table_crc: u32,
    pub index_crc: u32,
}

impl Footer {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        put_u64(out, self.stream_table_offset);
        put_u64(out, self.stream_table_len);
        put_u64(out, self.index_offset);
        put_u64(out, self.index_len);
        put_u32(out, self.stream_table_crc);
        put_u32(out, self.index_crc);
        let crc = crc32(&out[start..]);
        put_u32(out, crc);
        put_u32(out, PART_VERSION);
        out.extend_from_slice(PART_MAGIC);
    }

    pub fn decode(bytes: &[u8]) -> DecodeResult<Footer> {
        if bytes.len() != FOOTER_LEN as usize {
            return Err(DecodeError {
                offset: 0,
                reason: "unexpected footer length",
            });
        }
        if &bytes[48..52] != PART_MAGIC {
            return Err(DecodeError {
                offset: 48,
                reason: "unexpected part magic",
            });
        }
        let mut reader = Reader::new(bytes);
        let footer = Footer {
            stream_table_offset: reader.u64()?,
            stream_table_len: reader.u64()?,
            index_offset: reader.u64()?,
            index_len: reader.u64()?,
            stream_table_crc: reader.u32()?,
            index_crc: reader.u32()?,
        };
        let crc = reader.u32()?;
        if crc != crc32(&bytes[..40]) {
            return Err(DecodeError {
                offset: 40,
                reason: "footer checksum mismatch",
            });
        }
        if !(PART_VERSION_MIN..=PART_VERSION).contains(&reader.u32()?) {
            return Err(DecodeError {
                offset: 44,
                reason: "unsupported part version",
            });
        }
        Ok(footer)
    }
}

fn read_at(file: &File, path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset)
        .map_err(|err| StorageError::io("read", path, err))?;
    Ok(buf)
}

impl Part {
    /// The little-endian word at `offset` (for probing the blocks' filters);
    /// None on an I/O error.
    pub fn read_word(&self, offset: u64) -> Option<u64> {
        let (index_offset, ..) = self.index_section;
        if let Some(bytes) = self.filters.get_or_init(|| self.load_filters())
            && let Some(word) = offset
                .checked_sub(index_offset)
                .and_then(|at| bytes.get(at as usize..at as usize + 8))
        {
            return Some(u64::from_le_bytes(word.try_into().expect("BUG: 8 bytes")));
        }
        self.read_word_from_file(offset)
    }

    /// [`Part::read_word`] with a positioned read, past the cache.
    pub(crate) fn read_word_from_file(&self, offset: u64) -> Option<u64> {
        let mut word = [0u8; 8];
        match self.file.read_exact_at(&mut word, offset) {
            Ok(()) => Some(u64::from_le_bytes(word)),
            Err(err) => {
                tracing::warn!(path = %self.path.display(), offset, error = %err, "cannot read a bloom filter word");
                None
            }
        }
    }

    /// The block index's bytes, if the cache budget has room for them and
    /// they read back with their checksum.
    fn load_filters(&self) -> Option<Vec<u8>> {
        let (offset, len, crc) = self.index_section;
        CACHED_FILTER_BYTES
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cached| {
                (cached + len <= FILTER_CACHE_BYTES).then_some(cached + len)
            })
            .ok()?;
        match read_at(&self.file, &self.path, offset, len) {
            Ok(bytes) if crc32(&bytes) == crc => Some(bytes),
            _ => {
                CACHED_FILTER_BYTES.fetch_sub(len, Ordering::Relaxed);
                None
            }
        }
    }

    /// Block `index`'s bytes, checked against its checksum.
    fn read_checked(&self, index: usize) -> Result<Vec<u8>, StorageError> {
        let meta = &self.blocks[index];
        let bytes = read_at(&self.file, &self.path, meta.offset, meta.len)?;
        if crc32(&bytes) != meta.crc {
            return Err(StorageError::corrupt(
                &self.path,
                meta.offset,
                "block checksum mismatch",
            ));
        }
        Ok(bytes)
    }

    /// A block's data, checked against its checksum, and its filters: what a
    /// merge needs to copy the block into a new part unchanged.
    pub fn read_raw_block(&self, index: usize) -> Result<(Vec<u8>, BlockBlooms), StorageError> {
        let meta = &self.blocks[index];
        let bytes = self.read_checked(index)?;
        let read = |bloom: &BloomRef| -> Result<Bloom, StorageError> {
            let (offset, len) = bloom.words_span();
            Ok(bloom.with_words(&read_at(&self.file, &self.path, offset, len)?))
        };
        let blooms = BlockBlooms {
            lines: read(&meta.blooms.lines)?,
            fields: read(&meta.blooms.fields)?,
        };
        Ok((bytes, blooms))
    }

    /// Opens and fully validates a part's header, footer, stream table and block index.
    pub fn open(path: &Path, tenant: &str, day: i64) -> Result<Part, StorageError> {
        let corrupt = |offset: u64, reason: &str| StorageError::corrupt(path, offset, reason);
        let file = File::open(path).map_err(|err| StorageError::io("open", path, err))?;
        let size = file
            .metadata()
            .map_err(|err| StorageError::io("stat", path, err))?
            .len();
        if size < PART_HEADER_LEN + FOOTER_LEN {
            return Err(corrupt(0, "part is shorter than header and footer"));
        }
        let header = read_at(&file, path, 0, PART_HEADER_LEN)?;
        if &header[0..4] != PART_MAGIC {
            return Err(corrupt(0, "unexpected part magic"));
        }
        let version = u32::from_le_bytes(header[4..8].try_into().expect("BUG: 4 bytes"));
        if !(PART_VERSION_MIN..=PART_VERSION).contains(&version) {
            return Err(corrupt(4, "unsupported part version"));
        }
        let footer_offset = size - FOOTER_LEN;
        let footer_bytes = read_at(&file, path, footer_offset, FOOTER_LEN)?;
        let footer = Footer::decode(&footer_bytes)
            .map_err(|err| corrupt(footer_offset + err.offset as u64, err.reason))?;
        let in_bounds = |offset: u64, len: u64| {
            len <= MAX_SECTION_BYTES
                && offset >= PART_HEADER_LEN
                && offset
                    .checked_add(len)
                    .is_some_and(|end| end <= footer_offset)
        };
        if !in_bounds(footer.stream_table_offset, footer.stream_table_len)
            || !in_bounds(footer.index_offset, footer.index_len)
        {
            return Err(corrupt(footer_offset, "section out of bounds"));
        }
        // Reads a section and checks its checksum.
        let section =
            |offset: u64, len: u64, crc: u32, what: &str| -> Result<Vec<u8>, StorageError> {
                let bytes = read_at(&file, path, offset, len)?;
                if crc32(&bytes) != crc {
                    return Err(corrupt(offset, &format!("{what} checksum mismatch")));
                }
                Ok(bytes)
            };
        let table_bytes = section(
            footer.stream_table_offset,
            footer.stream_table_len,
            footer.stream_table_crc,
            "stream table",
        )?;
        let streams = decode_stream_table(&table_bytes)
            .map_err(|err| corrupt(footer.stream_table_offset + err.offset as u64, err.reason))?;
        let index_bytes = section(
            footer.index_offset,
            footer.index_len,
            footer.index_crc,
            "block index",
        )?;
        let blocks = decode_block_index(&index_bytes, footer.index_offset)
            .map_err(|err| corrupt(footer.index_offset + err.offset as u64, err.reason))?;
        if !blocks.is_sorted_by_key(|block| block.stream_id) {
            return Err(corrupt(
                footer.index_offset,
                "blocks are not sorted by stream",
            ));
        }
        let data_end = footer.stream_table_offset.min(footer.index_offset);
        for block in &blocks {
            if block.offset < PART_HEADER_LEN
                || block
                    .offset
                    .checked_add(block.len)
                    .is_none_or(|end| end > data_end)
            {
                return Err(corrupt(footer.index_offset, "block out of bounds"));
            }
            if !streams.contains_key(&block.stream_id) {
                return Err(corrupt(
                    footer.index_offset,
                    "block of a stream missing from the stream table",
                ));
            }
        }
        let min_ts = blocks.iter().map(|block| block.min_ts).min().unwrap_or(0);
        let max_ts = blocks.iter().map(|block| block.max_ts).max().unwrap_or(0);
        let rows = blocks.iter().map(|block| block.rows).sum();
        let id = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        Ok(Part {
            id,
            path: path.to_path_buf(),
            tenant: tenant.to_string(),
            day,
            file,
            size,
            streams,
            blocks,
            min_ts,
            max_ts,
            rows,
            corrupt_blocks: Mutex::new(HashSet::new()),
            unmergeable: std::sync::atomic::AtomicBool::new(false),
            index_section: (footer.index_offset, footer.index_len, footer.index_crc),
            filters: OnceLock::new(),
        })
    }

    /// Whether merges may rewrite this part: not once any of its blocks was
    /// found unreadable.
    pub fn mergeable(&self) -> bool {
        let corrupt = self
            .corrupt_blocks
            .lock()
            .map(|blocks| !blocks.is_empty())
            .unwrap_or(true);
        !corrupt && !self.unmergeable.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps merges away from this part.
    pub fn mark_unmergeable(&self) {
        self.unmergeable
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records that block `index` is corrupt; true the first time.
    pub fn first_report_of_corrupt_block(&self, index: usize) -> bool {
        self.corrupt_blocks
            .lock()
            .map(|mut blocks| blocks.insert(index))
            .unwrap_or(false)
    }

    /// Reads, checks and decodes block `index`. `decompressed` accumulates zstd output bytes.
    pub fn read_block(
        &self,
        index: usize,
        decompressed: &mut u64,
        timestamps_only: bool,
    ) -> Result<RowBlock, StorageError> {
        self.read_block_rows(index, decompressed, timestamps_only, &[])
    }

    /// [`Part::read_block`] keeping only the rows whose structured metadata
    /// satisfies `clauses` (see [`crate::FieldClause`]); the lines of the
    /// other rows are not decompressed where the block's frames allow.
    pub fn read_block_rows(
        &self,
        index: usize,
        decompressed: &mut u64,
        timestamps_only: bool,
        clauses: &[crate::FieldClause],
    ) -> Result<RowBlock, StorageError> {
        let meta = &self.blocks[index];
        let bytes = self.read_checked(index)?;
        let labels = self
            .streams
            .get(&meta.stream_id)
            .cloned()
            .unwrap_or_default();
        let decoded = decode_block(
            &bytes,
            meta.stream_id,
            labels,
            decompressed,
            timestamps_only,
            clauses,
        )
        .map_err(|err| {
            StorageError::corrupt(&self.path, meta.offset + err.offset as u64, err.reason)
        })?;
        if decoded.block.len() as u64 != meta.rows {
            return Err(StorageError::corrupt(
                &self.path,
                meta.offset,
                "unexpected block row count",
            ));
        }
        Ok(match decoded.kept {
            None => decoded.block,
            Some(kept) if !kept.contains(&false) => decoded.block,
            Some(kept) => {
                let rows: Vec<usize> = (0..kept.len()).filter(|&row| kept[row]).collect();
                decoded.block.take(&rows)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_meta() -> impl Strategy<Value = (BlockMeta, BlockBlooms)> {
        let bloom_items = proptest::collection::vec(any::<u64>(), 0..20);
        (
            any::<u64>(),
            any::<i64>(),
            0..1000i64,
            1..u64::MAX,
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            bloom_items.clone(),
            bloom_items,
        )
            .prop_map(
                |(stream_id, min_ts, span, rows, line_bytes, offset, len, crc, lines, fields)| {
                    (
                        BlockMeta {
                            stream_id,
                            min_ts,
                            max_ts: min_ts.saturating_add(span),
                            rows,
                            line_bytes,
                            offset,
                            len,
                            crc,
                            blooms: BlockBloomRefs::default(),
                        },
                        BlockBlooms {
                            lines: Bloom::from_hashes(&lines),
                            fields: Bloom::from_hashes(&fields),
                        },
                    )
                },
            )
    }

    proptest! {
        #[test]
        fn stream_table_round_trip(streams in proptest::collection::btree_map(any::<u64>(), proptest::collection::btree_map("[a-z_]{1,6}", ".{0,8}", 0..4), 0..10)) {
            let streams: Vec<(u64, Arc<Labels>)> = streams.into_iter().map(|(id, pairs)| (id, Arc::new(Labels::from_pairs(pairs)))).collect();
            let mut bytes = Vec::new();
            encode_stream_table(&streams, &mut bytes);
            let decoded = decode_stream_table(&bytes).unwrap();
            prop_assert_eq!(decoded.len(), streams.len());
            for (id, labels) in &streams {
                prop_assert_eq!(&decoded[id], labels);
            }
        }

        #[test]
        fn block_index_round_trip(blocks in proptest::collection::vec(arb_meta(), 0..10), probes in proptest::collection::vec(any::<u64>(), 0..20)) {
            let (metas, blooms): (Vec<BlockMeta>, Vec<BlockBlooms>) = blocks.into_iter().unzip();
            let mut bytes = Vec::new();
            encode_block_index(&metas, &blooms, &mut bytes);
            let base = 1000;
            let decoded = decode_block_index(&bytes, base).unwrap();
            let mut read_word = |at: u64| {
                let at = (at - base) as usize;
                Some(u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()))
            };
            prop_assert_eq!(decoded.len(), metas.len());
            for ((got, want), blooms) in decoded.iter().zip(&metas).zip(&blooms) {
                prop_assert_eq!(&BlockMeta { blooms: BlockBloomRefs::default(), ..got.clone() }, want);
                for &hash in &probes {
                    prop_assert_eq!(got.blooms.lines.may_contain(hash, &mut read_word), blooms.lines.may_contain(hash));
                    prop_assert_eq!(got.blooms.fields.may_contain(hash, &mut read_word), blooms.fields.may_contain(hash));
                }
            }
        }

        #[test]
        fn footer_round_trip(offsets in proptest::array::uniform4(any::<u64>()), crcs in proptest::array::uniform2(any::<u32>())) {
            let footer = Footer { stream_table_offset: offsets[0], stream_table_len: offsets[1], index_offset: offsets[2], index_len: offsets[3], stream_table_crc: crcs[0], index_crc: crcs[1] };
            let mut bytes = Vec::new();
            footer.encode(&mut bytes);
            prop_assert_eq!(bytes.len() as u64, FOOTER_LEN);
            prop_assert_eq!(Footer::decode(&bytes).unwrap(), footer);
        }

        #[test]
        fn section_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = decode_stream_table(&bytes);
            let _ = decode_block_index(&bytes, 0);
            let _ = Footer::decode(&bytes);
        }
    }
}
