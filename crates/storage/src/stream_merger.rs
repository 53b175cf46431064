//! K-way merge of one stream's rows across several parts, block by block,
//! so that a merge holds one decoded block per input part in memory.

use std::collections::HashMap;
use std::sync::Arc;

use strata_model::Labels;

use crate::error::StorageError;
use crate::part::Part;
use crate::row_block::RowBlock;

/// One input part's position in the merged stream.
struct Cursor<'a> {
    part: &'a Part,
    /// The part's blocks to read, in order.
    blocks: Vec<usize>,
    /// Position in `blocks` of the next block to decode.
    next_block: usize,
    /// The decoded current block.
    block: RowBlock,
    /// Current row in `block`.
    row: usize,
}

impl Cursor<'_> {
    /// Moves to the next row, decoding the next block when needed; false at the end.
    fn load_until_row(&mut self) -> Result<bool, StorageError> {
        while self.row >= self.block.len() {
            let Some(&index) = self.blocks.get(self.next_block) else {
                return Ok(false);
            };
            let mut decompressed = 0;
            self.block = self.part.read_block(index, &mut decompressed, false)?;
            self.next_block += 1;
            self.row = 0;
        }
        Ok(true)
    }
}

/// Lines already emitted at the current timestamp, to drop exact duplicates.
#[derive(Default)]
struct SeenAtTs {
    ts: Option<i64>,
    /// The lines, back to back.
    text: String,
    /// xxh3 of a line -> its ranges in `text`.
    by_hash: HashMap<u64, Vec<(usize, usize)>>,
}

impl SeenAtTs {
    /// True the first time (ts, line) is seen; `line` here is the row's
    /// line followed by its structured metadata.
    fn first_time(&mut self, ts: i64, line: &str) -> bool {
        if self.ts != Some(ts) {
            self.ts = Some(ts);
            self.text.clear();
            self.by_hash.clear();
        }
        let ranges = self
            .by_hash
            .entry(xxhash_rust::xxh3::xxh3_64(line.as_bytes()))
            .or_default();
        if ranges
            .iter()
            .any(|&(start, end)| &self.text[start..end] == line)
        {
            return false;
        }
        let start = self.text.len();
        self.text.push_str(line);
        ranges.push((start, self.text.len()));
        true
    }
}

/// Rows of one stream from several parts in (ts, line) order per input, exact
/// duplicates (same ts and line) dropped.
pub struct StreamMerger<'a> {
    stream_id: u64,
    labels: Arc<Labels>,
    /// Inputs that still have rows.
    cursors: Vec<Cursor<'a>>,
    seen: SeenAtTs,
    /// Reused buffer for a row's dedup key (line and metadata).
    key_scratch: String,
}

impl<'a> StreamMerger<'a> {
    /// Merges the given blocks (each part's in time order) of one stream.
    pub fn new(
        inputs: Vec<(&'a Part, Vec<usize>)>,
        stream_id: u64,
        labels: Arc<Labels>,
    ) -> Result<StreamMerger<'a>, StorageError> {
        let mut cursors = Vec::new();
        for (part, blocks) in inputs {
            let mut cursor = Cursor {
                part,
                blocks,
                next_block: 0,
                block: RowBlock::new(stream_id, labels.clone()),
                row: 0,
            };
            if cursor.load_until_row()? {
                cursors.push(cursor);
            }
        }
        Ok(StreamMerger {
            stream_id,
            labels,
            cursors,
            seen: SeenAtTs::default(),
            key_scratch: String::new(),
        })
    }

    /// The next rows, at most `max_rows` and about `max_bytes` of lines; None when done.
    pub fn next_chunk(
        &mut self,
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<Option<RowBlock>, StorageError> {
        let mut out = RowBlock::new(self.stream_id, self.labels.clone());
        while out.len() < max_rows.max(1) && out.line_bytes() < max_bytes.max(1) {
            let Some(index) = self.smallest() else {
                break;
            };
            let cursor = &mut self.cursors[index];
            let ts = cursor.block.ts(cursor.row);
            // Rows are duplicates only when line and structured metadata both match.
            let key = &mut self.key_scratch;
            key.clear();
            key.push_str(cursor.block.line(cursor.row));
            for (name, value) in cursor.block.metadata(cursor.row) {
                key.push('\0');
                key.push_str(name);
                key.push('=');
                key.push_str(value);
            }
            if self.seen.first_time(ts, key) {
                out.push_from(&cursor.block, cursor.row);
            }
            cursor.row += 1;
            if !cursor.load_until_row()? {
                self.cursors.swap_remove(index);
            }
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// The cursor whose current row is smallest by (ts, line).
    fn smallest(&self) -> Option<usize> {
        (0..self.cursors.len())
            .min_by(|&a, &b| row_key(&self.cursors[a]).cmp(&row_key(&self.cursors[b])))
    }
}

fn row_key<'c>(cursor: &'c Cursor<'_>) -> (i64, &'c str) {
    (cursor.block.ts(cursor.row), cursor.block.line(cursor.row))
}

/// The rows of `blocks` (all of one stream) sorted by (ts, line), exact
/// duplicates (ts, line and metadata equal) dropped, in blocks of at most
/// `max_rows`. For the few blocks whose time ranges overlap in a scan.
pub(crate) fn merge_blocks(blocks: &[RowBlock], max_rows: usize) -> Vec<RowBlock> {
    let Some(first) = blocks.first() else {
        return Vec::new();
    };
    let mut rows: Vec<(usize, usize)> = blocks
        .iter()
        .enumerate()
        .flat_map(|(index, block)| (0..block.len()).map(move |row| (index, row)))
        .collect();
    let key = |&(block, row): &(usize, usize)| (blocks[block].ts(row), blocks[block].line(row));
    rows.sort_by(|a, b| key(a).cmp(&key(b)));
    let mut out = vec![RowBlock::new(first.stream_id, first.labels.clone())];
    // Start in `rows` of the run of rows equal in (ts, line) to the current one, and the rows kept in it.
    let mut run: Vec<(usize, usize)> = Vec::new();
    for &(block, row) in &rows {
        let source = &blocks[block];
        if let Some(&previous) = run.first()
            && key(&previous) == key(&(block, row))
        {
            if run
                .iter()
                .any(|&(b, r)| blocks[b].metadata(r).eq(source.metadata(row)))
            {
                continue;
            }
        } else {
            run.clear();
        }
        run.push((block, row));
        let current = out.last_mut().expect("BUG: out starts with one block");
        if current.len() >= max_rows.max(1) {
            out.push(RowBlock::new(first.stream_id, first.labels.clone()));
        }
        out.last_mut()
            .expect("BUG: out starts with one block")
            .push_from(source, row);
    }
    out.retain(|block| !block.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_blocks_sorts_and_drops_duplicates() {
        let labels = Arc::new(Labels::default());
        let mut a = RowBlock::new(1, labels.clone());
        a.push(1, "x", []);
        a.push(3, "y", [("k", "v")]);
        a.push(3, "y", [("k", "v")]);
        let mut b = RowBlock::new(1, labels);
        b.push(2, "z", []);
        b.push(3, "y", [("k", "w")]);
        b.push(3, "y", [("k", "v")]);
        let merged = merge_blocks(&[a, b], 2);
        type Row = (i64, String, Vec<(String, String)>);
        let rows: Vec<Row> = merged
            .iter()
            .flat_map(|block| {
                (0..block.len()).map(move |row| {
                    (
                        block.ts(row),
                        block.line(row).to_string(),
                        block
                            .metadata(row)
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    )
                })
            })
            .collect();
        let kv = |v: &str| vec![("k".to_string(), v.to_string())];
        assert_eq!(
            rows,
            [
                (1, "x".to_string(), vec![]),
                (2, "z".to_string(), vec![]),
                (3, "y".to_string(), kv("v")),
                (3, "y".to_string(), kv("w")),
            ]
        );
        assert_eq!(merged.iter().map(RowBlock::len).collect::<Vec<_>>(), [2, 2]);
    }

    #[test]
    fn seen_at_ts_drops_exact_duplicates_only() {
        let mut seen = SeenAtTs::default();
        assert!(seen.first_time(1, "a"));
        assert!(seen.first_time(1, "b"));
        assert!(!seen.first_time(1, "a"));
        assert!(seen.first_time(2, "a"));
        assert!(!seen.first_time(2, "a"));
    }
}
