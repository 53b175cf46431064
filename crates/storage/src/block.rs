//! Encoding of one block's columns (see docs/format.md, "block data").
//!
//! ```text
//! block data = rows: varint
//!              ts column      (zigzag varint of the first ts, then zigzag varint deltas)
//!              line column    (varint length per row, then the bytes)
//!              fields: varint, per field: key (varint len + bytes), field column
//!                             (presence bitmap, varint length per present value, bytes)
//! column     = codec: u8 (0 raw, 1 zstd), raw_len: varint, stored_len: varint, stored bytes
//! ```

use std::cell::RefCell;
use std::sync::Arc;

use strata_model::Labels;
use strata_model::tokens::{for_each_token, is_indexed_token};

use crate::bloom::{Bloom, hash_field, hash_token};
use crate::encoding::{DecodeError, DecodeResult, Reader, put_str, put_varint, unzigzag, zigzag};
use crate::row_block::{FieldColumn, RowBlock, StrColumn};

const CODEC_RAW: u8 = 0;
const CODEC_ZSTD: u8 = 1;
/// Largest uncompressed column accepted when decoding.
const MAX_COLUMN_BYTES: usize = 1 << 30;
/// Most rows accepted in one block when decoding.
const MAX_BLOCK_ROWS: usize = 1 << 24;

/// The blooms of one block: tokens of its lines and its metadata pairs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockBlooms {
    /// Every token of every line (strata_model::tokens).
    pub lines: Bloom,
    /// Every `key=value` metadata pair.
    pub fields: Bloom,
}

/// Encodes `block` into `out`; returns the blooms of the block.
#[cfg(test)]
pub fn encode_block(block: &RowBlock, zstd_level: i32, out: &mut Vec<u8>) -> BlockBlooms {
    let rows: Vec<usize> = (0..block.len()).collect();
    encode_rows(block, &rows, zstd_level, out)
}

/// Encodes rows `order` of `block` (sorted by ts) as one block, without
/// copying them out first; metadata columns in key order, those without a
/// value in these rows left out. Returns the blooms of the block.
pub fn encode_rows(
    block: &RowBlock,
    order: &[usize],
    zstd_level: i32,
    out: &mut Vec<u8>,
) -> BlockBlooms {
    let rows = order.len();
    put_varint(out, rows as u64);
    let mut raw = Vec::with_capacity(rows * 2);
    let mut previous = 0i64;
    for &row in order {
        let ts = block.ts[row];
        put_varint(&mut raw, zigzag(ts.wrapping_sub(previous)));
        previous = ts;
    }
    put_column(out, &raw, zstd_level);

    raw.clear();
    let mut token_hashes = Vec::new();
    let mut text_len = 0;
    for &row in order {
        let line = block.line(row);
        put_varint(&mut raw, line.len() as u64);
        text_len += line.len();
        for_each_token(line, |token| {
            if is_indexed_token(token) {
                token_hashes.push(hash_token(token.as_bytes()))
            }
        });
    }
    raw.reserve(text_len);
    // Contiguous rows in order (the usual case) are one copy.
    let contiguous = order.windows(2).all(|pair| pair[1] == pair[0] + 1);
    if contiguous && rows > 0 {
        let start = if order[0] == 0 {
            0
        } else {
            block.lines.ends[order[0] - 1]
        };
        raw.extend_from_slice(&block.lines.text.as_bytes()[start..start + text_len]);
    } else {
        for &row in order {
            raw.extend_from_slice(block.line(row).as_bytes());
        }
    }
    put_column(out, &raw, zstd_level);

    let mut field_hashes = Vec::new();
    let mut fields: Vec<&FieldColumn> = block
        .fields
        .iter()
        .filter(|field| order.iter().any(|&row| field.present[row]))
        .collect();
    fields.sort_by(|a, b| a.key.cmp(&b.key));
    put_varint(out, fields.len() as u64);
    for field in fields {
        put_str(out, &field.key);
        raw.clear();
        let mut bitmap = vec![0u8; rows.div_ceil(8)];
        for (index, &row) in order.iter().enumerate() {
            if field.present[row] {
                bitmap[index / 8] |= 1 << (index % 8);
                let value = field.values.get(row);
                put_varint(&mut raw, value.len() as u64);
                field_hashes.push(hash_field(&field.key, value));
            }
        }
        let mut column = bitmap;
        column.extend_from_slice(&raw);
        for &row in order {
            if field.present[row] {
                column.extend_from_slice(field.values.get(row).as_bytes());
            }
        }
        put_column(out, &column, zstd_level);
    }
    BlockBlooms {
        lines: Bloom::from_hashes(&token_hashes),
        fields: Bloom::from_hashes(&field_hashes),
    }
}

thread_local! {
    /// One zstd compression context per thread and level, reused across
    /// columns (a fresh context per call costs an allocation and its setup).
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compress(raw: &[u8], level: i32) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(current, _)| *current != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        let (_, compressor) = slot.as_mut()?;
        compressor.compress(raw).ok()
    })
}

fn decompress(stored: &[u8], raw_len: usize) -> Option<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new().ok()?);
        }
        slot.as_mut()?.decompress(stored, raw_len).ok()
    })
}

fn put_column(out: &mut Vec<u8>, raw: &[u8], zstd_level: i32) {
    if raw.len() >= 64
        && let Some(compressed) = compress(raw, zstd_level)
        && compressed.len() < raw.len()
    {
        out.push(CODEC_ZSTD);
        put_varint(out, raw.len() as u64);
        put_varint(out, compressed.len() as u64);
        out.extend_from_slice(&compressed);
        return;
    }
    out.push(CODEC_RAW);
    put_varint(out, raw.len() as u64);
    put_varint(out, raw.len() as u64);
    out.extend_from_slice(raw);
}

/// Reads one column; returns its uncompressed bytes.
fn read_column(reader: &mut Reader<'_>, decompressed: &mut u64) -> DecodeResult<Vec<u8>> {
    let codec = reader.u8()?;
    let raw_len = reader.len(MAX_COLUMN_BYTES)?;
    let stored_len = reader.count()?;
    let stored = reader.bytes(stored_len)?;
    match codec {
        CODEC_RAW if stored_len == raw_len => Ok(stored.to_vec()),
        CODEC_RAW => Err(reader.error("unexpected raw column length")),
        CODEC_ZSTD => {
            let raw = decompress(stored, raw_len)
                .ok_or_else(|| reader.error("cannot decompress column"))?;
            if raw.len() != raw_len {
                return Err(reader.error("unexpected decompressed column length"));
            }
            *decompressed += raw_len as u64;
            Ok(raw)
        }
        _ => Err(reader.error("unexpected column codec")),
    }
}

/// Steps over one column without decompressing it.
fn skip_column(reader: &mut Reader<'_>) -> DecodeResult<()> {
    reader.u8()?;
    reader.len(MAX_COLUMN_BYTES)?;
    let stored_len = reader.count()?;
    reader.bytes(stored_len)?;
    Ok(())
}

/// Decodes `rows` strings: lengths then bytes, as the line and field
/// columns hold them. Reuses the column's buffer for the text.
fn decode_strings(mut column: Vec<u8>, rows: usize) -> DecodeResult<StrColumn> {
    let mut reader = Reader::new(&column);
    let mut ends = Vec::with_capacity(rows);
    let mut total = 0usize;
    for _ in 0..rows {
        total += reader.len(column.len())?;
        if total > column.len() {
            return Err(reader.error("string lengths exceed the column"));
        }
        ends.push(total);
    }
    let text_start = reader.position();
    if column.len() - text_start != total {
        return Err(reader.error("unexpected string bytes length"));
    }
    column.drain(..text_start);
    let text = String::from_utf8(column).map_err(|_| DecodeError {
        offset: text_start,
        reason: "string is not utf-8",
    })?;
    let mut start = 0;
    for &end in &ends {
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            return Err(DecodeError {
                offset: text_start,
                reason: "string splits a utf-8 character",
            });
        }
        start = end;
    }
    Ok(StrColumn { ends, text })
}

/// Decodes a block; `decompressed` accumulates the bytes zstd produced.
/// With `timestamps_only`, the line column is not decompressed: the block
/// comes back with empty lines (timestamps and metadata as stored).
pub fn decode_block(
    bytes: &[u8],
    stream_id: u64,
    labels: Arc<Labels>,
    decompressed: &mut u64,
    timestamps_only: bool,
) -> DecodeResult<RowBlock> {
    let mut reader = Reader::new(bytes);
    let rows = reader.len(MAX_BLOCK_ROWS)?;
    let ts_column = read_column(&mut reader, decompressed)?;
    if rows > ts_column.len() {
        return Err(reader.error("unexpected row count"));
    }
    let mut ts_reader = Reader::new(&ts_column);
    let mut ts = Vec::with_capacity(rows);
    let mut previous = 0i64;
    for _ in 0..rows {
        previous = previous.wrapping_add(unzigzag(
            ts_reader
                .varint()
                .map_err(|_| reader.error("cannot read timestamps"))?,
        ));
        ts.push(previous);
    }
    if !ts_reader.is_empty() {
        return Err(reader.error("unexpected bytes after the timestamps"));
    }
    let lines = if timestamps_only {
        skip_column(&mut reader)?;
        StrColumn {
            ends: vec![0; rows],
            text: String::new(),
        }
    } else {
        let line_column = read_column(&mut reader, decompressed)?;
        decode_strings(line_column, rows).map_err(|_| reader.error("cannot read lines"))?
    };
    let field_count = reader.count()?;
    let mut fields: Vec<FieldColumn> = Vec::with_capacity(field_count);
    for _ in 0..field_count {
        let key = reader.str()?.to_string();
        let column = read_column(&mut reader, decompressed)?;
        let field = decode_field(key, &column, rows)
            .map_err(|_| reader.error("cannot read a metadata column"))?;
        fields.push(field);
    }
    if !reader.is_empty() {
        return Err(reader.error("unexpected bytes after the block"));
    }
    Ok(RowBlock {
        stream_id,
        labels,
        ts,
        lines,
        fields,
    })
}

fn decode_field(key: String, column: &[u8], rows: usize) -> DecodeResult<FieldColumn> {
    let mut reader = Reader::new(column);
    let bitmap = reader.bytes(rows.div_ceil(8))?;
    let present: Vec<bool> = (0..rows)
        .map(|row| bitmap[row / 8] & (1 << (row % 8)) != 0)
        .collect();
    let present_count = present.iter().filter(|&&p| p).count();
    let dense = decode_strings(column[reader.position()..].to_vec(), present_count)?;
    let mut values = StrColumn {
        ends: Vec::with_capacity(rows),
        text: dense.text,
    };
    let mut next = 0;
    let mut end = 0;
    for &is_present in &present {
        if is_present {
            end = dense.ends[next];
            next += 1;
        }
        values.ends.push(end);
    }
    Ok(FieldColumn {
        key,
        present,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_block() -> impl Strategy<Value = RowBlock> {
        let row = (
            any::<i64>(),
            "[a-z é=0-9]{0,30}",
            proptest::collection::vec((0..3usize, "[a-z0-9]{0,5}"), 0..3),
        );
        proptest::collection::vec(row, 0..60).prop_map(|rows| {
            let mut block = RowBlock::new(7, Arc::new(Labels::parse(r#"{job="x"}"#).unwrap()));
            let keys = ["trace_id", "user", "k"];
            for (ts, line, metadata) in &rows {
                block.push(
                    *ts,
                    line,
                    metadata
                        .iter()
                        .map(|(key, value)| (keys[*key], value.as_str())),
                );
            }
            block
        })
    }

    type Row = (i64, String, Vec<(String, String)>);

    fn rows_of(block: &RowBlock) -> Vec<Row> {
        (0..block.len())
            .map(|row| {
                let mut metadata: Vec<(String, String)> = block
                    .metadata(row)
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                metadata.sort();
                (block.ts(row), block.line(row).to_string(), metadata)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn encoding_a_range_equals_encoding_its_copy(block in arb_block(), a in 0..40usize, b in 0..40usize) {
            let (start, end) = (a.min(b).min(block.len()), a.max(b).min(block.len()));
            let copy = block.take(&(start..end).collect::<Vec<_>>());
            let (mut from_range, mut from_copy) = (Vec::new(), Vec::new());
            let selected: Vec<usize> = (start..end).collect();
            let range_blooms = encode_rows(&block, &selected, 3, &mut from_range);
            let copy_blooms = encode_block(&copy, 3, &mut from_copy);
            prop_assert_eq!(from_range, from_copy);
            prop_assert_eq!(range_blooms, copy_blooms);
        }

        #[test]
        fn round_trip(block in arb_block(), level in 1..4i32) {
            let mut bytes = Vec::new();
            let blooms = encode_block(&block, level, &mut bytes);
            let mut decompressed = 0;
            let decoded = decode_block(&bytes, 7, block.labels_arc().clone(), &mut decompressed, false).unwrap();
            prop_assert_eq!(rows_of(&decoded), rows_of(&block));
            prop_assert!(decoded.fields.is_sorted_by(|a, b| a.key < b.key));
            let stamps = decode_block(&bytes, 7, block.labels_arc().clone(), &mut decompressed, true).unwrap();
            prop_assert_eq!(&stamps.ts, &block.ts);
            prop_assert!((0..stamps.len()).all(|row| stamps.line(row).is_empty()));
            prop_assert!((0..stamps.len()).all(|row| stamps.metadata(row).eq(decoded.metadata(row))));
            for row in 0..block.len() {
                for_each_token(block.line(row), |token| assert!(!is_indexed_token(token) || blooms.lines.may_contain(hash_token(token.as_bytes()))));
                for (key, value) in block.metadata(row) {
                    prop_assert!(blooms.fields.may_contain(hash_field(key, value)));
                }
            }
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut decompressed = 0;
            let _ = decode_block(&bytes, 1, Arc::new(Labels::default()), &mut decompressed, false);
        }

        #[test]
        fn decoding_flipped_bytes_never_panics(block in arb_block(), flip in any::<usize>()) {
            let mut bytes = Vec::new();
            encode_block(&block, 1, &mut bytes);
            let index = flip % bytes.len();
            bytes[index] ^= 0x5a;
            let mut decompressed = 0;
            let _ = decode_block(&bytes, 1, Arc::new(Labels::default()), &mut decompressed, false);
        }
    }
}
