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
use crate::scan::FieldClause;

const CODEC_RAW: u8 = 0;
const CODEC_ZSTD: u8 = 1;
/// A line column cut into frames of consecutive rows, each its own column, so
/// that a lookup decompresses only the frames holding the rows it wants.
const CODEC_FRAMES: u8 = 2;
/// Line bytes per frame of a framed line column. Re-encoding the 2 GB
/// benchmark's blocks: 256 KiB frames took 0.4% more bytes than one frame
/// per column (128 KiB: 2.8%, 64 KiB: 5.3%), and a lookup that needs a few
/// rows of a 1 MiB block decompresses a quarter of its lines.
pub const FRAME_BYTES: usize = 256 << 10;
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
    encode_rows_in_frames(block, order, zstd_level, FRAME_BYTES, out)
}

/// [`encode_rows`] with line frames of `frame_bytes` (tests use tiny ones).
pub(crate) fn encode_rows_in_frames(
    block: &RowBlock,
    order: &[usize],
    zstd_level: i32,
    frame_bytes: usize,
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

    let mut token_hashes = Vec::new();
    let mut text_len = 0;
    for &row in order {
        let line = block.line(row);
        text_len += line.len();
        for_each_token(line, |token| {
            if is_indexed_token(token) {
                token_hashes.push(hash_token(token.as_bytes()))
            }
        });
    }
    if text_len <= frame_bytes {
        line_column_raw(block, order, text_len, &mut raw);
        put_column(out, &raw, zstd_level);
    } else {
        let mark = out.len();
        if put_framed_lines(block, order, zstd_level, frame_bytes, &mut raw, out).is_none() {
            // zstd failed: one raw column instead.
            out.truncate(mark);
            line_column_raw(block, order, text_len, &mut raw);
            put_column(out, &raw, zstd_level);
        }
    }

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

/// The raw line column of rows `order`: their lengths, then their bytes.
fn line_column_raw(block: &RowBlock, order: &[usize], text_len: usize, raw: &mut Vec<u8>) {
    raw.clear();
    raw.reserve(order.len() * 2 + text_len);
    for &row in order {
        put_varint(raw, block.line(row).len() as u64);
    }
    // Contiguous rows in order (the usual case) are one copy.
    let contiguous = order.windows(2).all(|pair| pair[1] == pair[0] + 1);
    if contiguous && !order.is_empty() {
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
}

/// Writes the lines of rows `order` as a framed column: their lengths in
/// one column, then their text cut into frames of consecutive rows holding
/// about `frame_bytes` each, every frame its own zstd frame. The frames are
/// back to back, so a whole column decompresses in one call (zstd reads
/// concatenated frames), and a lookup decompresses only the frames it needs.
///
/// ```text
/// codec 2, raw_len (lengths + text), stored_len (what follows),
/// frame_count:varint, frame_count × (rows:varint text_len:varint stored_len:varint),
/// lengths:column, the frames' zstd bytes back to back
/// ```
fn put_framed_lines(
    block: &RowBlock,
    order: &[usize],
    zstd_level: i32,
    frame_bytes: usize,
    raw: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Option<()> {
    let mut directory = Vec::new();
    let mut frames = Vec::new();
    let mut frame_count = 0;
    let (mut start, mut bytes, mut text_total) = (0, 0, 0);
    for (index, &row) in order.iter().enumerate() {
        bytes += block.line(row).len();
        if bytes >= frame_bytes || index + 1 == order.len() {
            raw.clear();
            for &row in &order[start..=index] {
                raw.extend_from_slice(block.line(row).as_bytes());
            }
            let compressed = compress(raw, zstd_level)?;
            put_varint(&mut directory, (index + 1 - start) as u64);
            put_varint(&mut directory, bytes as u64);
            put_varint(&mut directory, compressed.len() as u64);
            frames.extend_from_slice(&compressed);
            frame_count += 1;
            text_total += bytes;
            start = index + 1;
            bytes = 0;
        }
    }
    raw.clear();
    for &row in order {
        put_varint(raw, block.line(row).len() as u64);
    }
    let lengths_len = raw.len();
    let mut head = Vec::with_capacity(directory.len() + 16);
    put_varint(&mut head, frame_count);
    head.extend_from_slice(&directory);
    put_column(&mut head, raw, zstd_level);
    out.push(CODEC_FRAMES);
    put_varint(out, (lengths_len + text_total) as u64);
    put_varint(out, (head.len() + frames.len()) as u64);
    out.extend_from_slice(&head);
    out.extend_from_slice(&frames);
    Some(())
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

/// Steps over one column without decompressing it; returns its raw length.
fn skip_column(reader: &mut Reader<'_>) -> DecodeResult<usize> {
    reader.u8()?;
    let raw_len = reader.len(MAX_COLUMN_BYTES)?;
    let stored_len = reader.count()?;
    reader.bytes(stored_len)?;
    Ok(raw_len)
}

/// Reads the lengths of `rows` strings (lengths then bytes, as the line and
/// field columns hold them): the end offset of each within the text, and
/// the text's start in `column`. The text is not checked yet.
fn string_ends(column: &[u8], rows: usize) -> DecodeResult<(Vec<usize>, usize)> {
    let mut reader = Reader::new(column);
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
    Ok((ends, text_start))
}

/// Checks that `ends` split `text` on character boundaries.
fn check_boundaries(text: &str, ends: &[usize], offset: usize) -> DecodeResult<()> {
    if ends.iter().any(|&end| !text.is_char_boundary(end)) {
        return Err(DecodeError {
            offset,
            reason: "string splits a utf-8 character",
        });
    }
    Ok(())
}

const NOT_UTF8: &str = "string is not utf-8";

/// Decodes `rows` strings: lengths then bytes, as the line and field
/// columns hold them. Reuses the column's buffer for the text.
fn decode_strings(mut column: Vec<u8>, rows: usize) -> DecodeResult<StrColumn> {
    let (ends, text_start) = string_ends(&column, rows)?;
    column.drain(..text_start);
    let text = String::from_utf8(column).map_err(|_| DecodeError {
        offset: text_start,
        reason: NOT_UTF8,
    })?;
    check_boundaries(&text, &ends, text_start)?;
    Ok(StrColumn { ends, text })
}

/// Reads a line column of `rows` rows. With `wanted`, rows it marks false
/// may come back with empty lines: frames holding none of the wanted rows
/// are skipped, not decompressed.
fn read_lines(
    reader: &mut Reader<'_>,
    rows: usize,
    wanted: Option<&[bool]>,
    decompressed: &mut u64,
) -> DecodeResult<StrColumn> {
    let empty = |rows| StrColumn {
        ends: vec![0; rows],
        text: String::new(),
    };
    if reader.clone().u8()? != CODEC_FRAMES {
        if wanted.is_some_and(|wanted| !wanted.contains(&true)) {
            skip_column(reader)?;
            return Ok(empty(rows));
        }
        let column = read_column(reader, decompressed)?;
        return decode_strings(column, rows).map_err(|_| reader.error("cannot read lines"));
    }
    reader.u8()?;
    let raw_len = reader.len(MAX_COLUMN_BYTES)?;
    let stored_len = reader.count()?;
    let body_offset = reader.position();
    let corrupt = |reason| DecodeError {
        offset: body_offset,
        reason,
    };
    let mut body = Reader::new(reader.bytes(stored_len)?);
    // The directory: rows, text bytes and stored bytes of each frame.
    let frame_count = body.len(rows.max(1))?;
    let mut frames = Vec::with_capacity(frame_count);
    let (mut row_total, mut text_total, mut stored_total) = (0usize, 0usize, 0usize);
    for _ in 0..frame_count {
        let frame_rows = body.len(rows - row_total)?;
        let text_len = body.len(raw_len - text_total)?;
        let frame_stored = body.len(stored_len)?;
        frames.push((
            row_total,
            frame_rows,
            text_total,
            text_len,
            stored_total,
            frame_stored,
        ));
        row_total += frame_rows;
        text_total += text_len;
        stored_total += frame_stored;
    }
    if row_total != rows {
        return Err(corrupt("line frames do not hold the block's rows"));
    }
    let lengths = read_column(&mut body, decompressed)?;
    let mut lengths_reader = Reader::new(&lengths);
    let mut lengths_of = Vec::with_capacity(rows);
    for _ in 0..rows {
        lengths_of.push(lengths_reader.len(text_total)?);
    }
    if !lengths_reader.is_empty() || lengths.len() + text_total != raw_len {
        return Err(corrupt("unexpected line lengths"));
    }
    let data = body.bytes(stored_total)?;
    if !body.is_empty() {
        return Err(corrupt("unexpected bytes after the line frames"));
    }
    let mut lines = StrColumn {
        ends: Vec::with_capacity(rows),
        text: String::new(),
    };
    let everything = wanted.is_none_or(|wanted| !wanted.contains(&false));
    if everything {
        // All frames at once, straight into the text.
        let text =
            decompress(data, text_total).ok_or_else(|| corrupt("cannot decompress lines"))?;
        if text.len() != text_total {
            return Err(corrupt("unexpected decompressed lines length"));
        }
        *decompressed += text_total as u64;
        let mut end = 0;
        for (first, frame_rows, text_start, text_len, ..) in frames {
            for &length in &lengths_of[first..first + frame_rows] {
                end += length;
                lines.ends.push(end);
            }
            if end != text_start + text_len {
                return Err(corrupt("line lengths do not fill their frame"));
            }
        }
        lines.text = String::from_utf8(text).map_err(|_| corrupt(NOT_UTF8))?;
        check_boundaries(&lines.text, &lines.ends, body_offset)?;
        return Ok(lines);
    }
    let wanted = wanted.unwrap_or_default();
    for (first, frame_rows, _, text_len, stored_start, frame_stored) in frames {
        let rows_of_frame = first..first + frame_rows;
        let frame_lengths = &lengths_of[rows_of_frame.clone()];
        if frame_lengths.iter().sum::<usize>() != text_len {
            return Err(corrupt("line lengths do not fill their frame"));
        }
        let base = lines.text.len();
        if !wanted[rows_of_frame].contains(&true) {
            lines.ends.extend(std::iter::repeat_n(base, frame_rows));
            continue;
        }
        let stored = &data[stored_start..stored_start + frame_stored];
        let text =
            decompress(stored, text_len).ok_or_else(|| corrupt("cannot decompress lines"))?;
        if text.len() != text_len {
            return Err(corrupt("unexpected decompressed lines length"));
        }
        *decompressed += text_len as u64;
        let text = std::str::from_utf8(&text).map_err(|_| corrupt(NOT_UTF8))?;
        let mut end = base;
        for &length in frame_lengths {
            end += length;
            lines.ends.push(end);
        }
        lines.text.push_str(text);
        check_boundaries(&lines.text, &lines.ends[first..], body_offset)?;
    }
    Ok(lines)
}

/// Marks the rows that satisfy every clause through their structured
/// metadata (see [`FieldClause`]); None when every row does.
fn rows_matching(
    labels: &Labels,
    fields: &[FieldColumn],
    rows: usize,
    clauses: &[FieldClause],
) -> Option<Vec<bool>> {
    let mut marks: Option<Vec<bool>> = None;
    for clause in clauses {
        if clause.values.is_empty() || labels.get(&clause.key).is_some() {
            continue;
        }
        let field = fields.iter().find(|field| field.key == clause.key);
        let marks = marks.get_or_insert_with(|| vec![true; rows]);
        for (row, mark) in marks.iter_mut().enumerate() {
            *mark = *mark
                && field.is_some_and(|field| {
                    field.present[row]
                        && clause
                            .values
                            .iter()
                            .any(|value| value == field.values.get(row))
                });
        }
    }
    marks
}

/// A decoded block, and which of its rows a decode's field clauses keep.
pub struct Decoded {
    /// Every row of the block; lines may be empty where `kept` is false (or
    /// everywhere, for a `timestamps_only` decode).
    pub block: RowBlock,
    /// The rows satisfying the field clauses; None when all do.
    pub kept: Option<Vec<bool>>,
}

/// Decodes a block; `decompressed` accumulates the bytes zstd produced.
/// With `timestamps_only`, the line column is not decompressed: the block
/// comes back with empty lines (timestamps and metadata as stored). Rows
/// failing `clauses` are marked in [`Decoded::kept`], and line frames
/// holding none of the kept rows are not decompressed.
pub fn decode_block(
    bytes: &[u8],
    stream_id: u64,
    labels: Arc<Labels>,
    decompressed: &mut u64,
    timestamps_only: bool,
    clauses: &[FieldClause],
) -> DecodeResult<Decoded> {
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
    // The metadata columns follow the lines: read them first, so that the
    // clauses can pick the line frames to decompress.
    let mut line_reader = reader.clone();
    skip_column(&mut reader)?;
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
    let kept = rows_matching(&labels, &fields, rows, clauses);
    let lines = if timestamps_only {
        StrColumn {
            ends: vec![0; rows],
            text: String::new(),
        }
    } else {
        read_lines(&mut line_reader, rows, kept.as_deref(), decompressed)?
    };
    Ok(Decoded {
        block: RowBlock {
            stream_id,
            labels,
            ts,
            lines,
            fields,
        },
        kept,
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
            let decoded = decode_block(&bytes, 7, block.labels_arc().clone(), &mut decompressed, false, &[]).unwrap().block;
            prop_assert_eq!(rows_of(&decoded), rows_of(&block));
            prop_assert!(decoded.fields.is_sorted_by(|a, b| a.key < b.key));
            let stamps = decode_block(&bytes, 7, block.labels_arc().clone(), &mut decompressed, true, &[]).unwrap().block;
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
            let _ = decode_block(&bytes, 1, Arc::new(Labels::default()), &mut decompressed, false, &[]);
        }

        #[test]
        fn decoding_flipped_bytes_never_panics(block in arb_block(), flip in any::<usize>()) {
            let mut bytes = Vec::new();
            encode_block(&block, 1, &mut bytes);
            let index = flip % bytes.len();
            bytes[index] ^= 0x5a;
            let mut decompressed = 0;
            let _ = decode_block(&bytes, 1, Arc::new(Labels::default()), &mut decompressed, false, &[]);
        }

        /// Framed line columns decode to the same rows as one column, and
        /// field clauses keep exactly the rows whose metadata satisfies them.
        #[test]
        fn frames_and_clauses(block in arb_block(), frame_bytes in 1..80usize, value in "[a-z0-9]{0,2}", flip in any::<usize>()) {
            let rows: Vec<usize> = (0..block.len()).collect();
            let (mut framed, mut whole) = (Vec::new(), Vec::new());
            let framed_blooms = encode_rows_in_frames(&block, &rows, 1, frame_bytes, &mut framed);
            let whole_blooms = encode_rows_in_frames(&block, &rows, 1, usize::MAX, &mut whole);
            prop_assert_eq!(framed_blooms, whole_blooms);
            let labels = block.labels_arc().clone();
            let mut decompressed = 0;
            let decoded = decode_block(&framed, 7, labels.clone(), &mut decompressed, false, &[]).unwrap();
            prop_assert!(decoded.kept.is_none());
            prop_assert_eq!(rows_of(&decoded.block), rows_of(&block));

            let clauses = [FieldClause { key: "trace_id".into(), values: vec![value.clone(), "zz".into()] }];
            let filtered = decode_block(&framed, 7, labels, &mut decompressed, false, &clauses).unwrap();
            let expected = block.rows_with_metadata("trace_id", &clauses[0].values);
            let kept = filtered.kept.clone().unwrap();
            prop_assert_eq!(&kept, &expected);
            for row in (0..block.len()).filter(|&row| kept[row]) {
                prop_assert_eq!(filtered.block.line(row), block.line(row));
            }

            // Damage in any frame is an error, never a panic.
            if !framed.is_empty() {
                let index = flip % framed.len();
                framed[index] ^= 0x5a;
                let _ = decode_block(&framed, 7, block.labels_arc().clone(), &mut decompressed, false, &clauses);
            }
        }
    }

    /// A lookup by metadata decompresses only the frame holding its row.
    #[test]
    fn a_metadata_lookup_decompresses_one_frame() {
        let mut block = RowBlock::new(7, Arc::new(Labels::parse(r#"{job="x"}"#).unwrap()));
        let mut expected_line = String::new();
        for row in 0..40_000u32 {
            let line = format!(
                "request {row} served in {} ms by worker {}",
                row * 7 % 1000,
                row % 13
            );
            let trace = format!(
                "{:016x}",
                u64::from(row).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            );
            if row == 12_345 {
                expected_line = line.clone();
            }
            block.push(i64::from(row), &line, [("trace_id", trace.as_str())]);
        }
        let rows: Vec<usize> = (0..block.len()).collect();
        let mut bytes = Vec::new();
        encode_rows(&block, &rows, 1, &mut bytes);
        let (mut all, mut one) = (0, 0);
        let labels = block.labels_arc().clone();
        let full = decode_block(&bytes, 7, labels.clone(), &mut all, false, &[]).unwrap();
        assert_eq!(rows_of(&full.block), rows_of(&block));
        let wanted = format!("{:016x}", 12_345u64.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let clauses = [FieldClause {
            key: "trace_id".into(),
            values: vec![wanted],
        }];
        let found = decode_block(&bytes, 7, labels, &mut one, false, &clauses).unwrap();
        let kept = found.kept.unwrap();
        assert_eq!(kept.iter().filter(|&&kept| kept).count(), 1);
        assert!(kept[12_345]);
        assert_eq!(found.block.line(12_345), expected_line);
        let text = block.lines_text().0.len() as u64;
        assert!(text > 4 * FRAME_BYTES as u64);
        // The timestamps and trace ids, and one frame of lines (not all of them).
        assert!(
            one + text / 2 < all,
            "one row: {one} bytes, all rows: {all} bytes"
        );
    }
}
