//! [`RowBlock`]: rows of one stream, column by column, as scans deliver them
//! and as the head, the part writer and the merger build them.

use std::sync::Arc;

use strata_model::Labels;

/// Strings of a column concatenated into one buffer, one entry per row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StrColumn {
    /// End offset in `text` of each row's string; row `i` starts at `ends[i - 1]`.
    pub ends: Vec<usize>,
    /// All strings back to back.
    pub text: String,
}

impl StrColumn {
    pub fn push(&mut self, value: &str) {
        self.text.push_str(value);
        self.ends.push(self.text.len());
    }

    pub fn get(&self, row: usize) -> &str {
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        &self.text[start..self.ends[row]]
    }
}

/// The values of one structured-metadata key in a block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldColumn {
    /// The metadata key.
    pub key: String,
    /// Whether each row has this key.
    pub present: Vec<bool>,
    /// Each row's value, empty where absent.
    pub values: StrColumn,
}

/// A block of rows of one stream. Columnar: no allocation per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowBlock {
    /// `strata_model::stream_id` of the labels.
    pub(crate) stream_id: u64,
    /// The stream's label set, shared by every block of the stream.
    pub(crate) labels: Arc<Labels>,
    /// Timestamps in ns, one per row.
    pub(crate) ts: Vec<i64>,
    /// Lines, one per row.
    pub(crate) lines: StrColumn,
    /// One column per metadata key present in the block, sorted by key once
    /// built by the part writer (insertion order in the head).
    pub(crate) fields: Vec<FieldColumn>,
}

impl RowBlock {
    pub(crate) fn new(stream_id: u64, labels: Arc<Labels>) -> RowBlock {
        RowBlock {
            stream_id,
            labels,
            ts: Vec::new(),
            lines: StrColumn::default(),
            fields: Vec::new(),
        }
    }

    pub fn stream_id(&self) -> u64 {
        self.stream_id
    }

    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    pub(crate) fn labels_arc(&self) -> &Arc<Labels> {
        &self.labels
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    pub fn ts(&self, row: usize) -> i64 {
        self.ts[row]
    }

    pub fn line(&self, row: usize) -> &str {
        self.lines.get(row)
    }

    /// This row's structured metadata pairs, ordered by the block's key order.
    pub fn metadata(&self, row: usize) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .filter(move |field| field.present[row])
            .map(move |field| (field.key.as_str(), field.values.get(row)))
    }

    /// All lines back to back, and the end offset of each row's line in
    /// that text (row `i` starts where row `i - 1` ends): for searching a
    /// whole block at once.
    pub fn lines_text(&self) -> (&str, &[usize]) {
        (&self.lines.text, &self.lines.ends)
    }

    /// Marks the rows whose structured metadata has `key` with one of
    /// `values` (all false when no row has the key).
    pub fn rows_with_metadata(&self, key: &str, values: &[String]) -> Vec<bool> {
        match self.fields.iter().find(|field| field.key == key) {
            Some(field) => (0..self.len())
                .map(|row| {
                    field.present[row] && values.iter().any(|value| value == field.values.get(row))
                })
                .collect(),
            None => vec![false; self.len()],
        }
    }

    /// The structured-metadata keys some row of the block has.
    pub fn metadata_keys(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(|field| field.present.contains(&true))
            .map(|field| field.key.as_str())
    }

    /// Heap bytes held, spare capacity included.
    pub(crate) fn heap_bytes(&self) -> u64 {
        let words = self.ts.capacity() + self.lines.ends.capacity();
        let fields: usize = self
            .fields
            .iter()
            .map(|field| {
                field.present.capacity()
                    + field.values.ends.capacity() * 8
                    + field.values.text.capacity()
                    + field.key.capacity()
            })
            .sum();
        (words * 8 + self.lines.text.capacity() + fields) as u64
    }

    /// Bytes of lines in the block.
    pub fn line_bytes(&self) -> usize {
        self.lines.text.len()
    }

    /// Appends a row. A key repeated within one row keeps its first value.
    pub(crate) fn push<'a>(
        &mut self,
        ts: i64,
        line: &str,
        metadata: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let row = self.ts.len();
        self.ts.push(ts);
        self.lines.push(line);
        for (key, value) in metadata {
            let column = match self.fields.iter().position(|field| field.key == key) {
                Some(index) => &mut self.fields[index],
                None => {
                    let mut column = FieldColumn {
                        key: key.to_string(),
                        ..FieldColumn::default()
                    };
                    for _ in 0..row {
                        column.present.push(false);
                        column.values.push("");
                    }
                    self.fields.push(column);
                    self.fields.last_mut().expect("BUG: column was just pushed")
                }
            };
            if column.present.len() == row {
                column.present.push(true);
                column.values.push(value);
            }
        }
        for column in &mut self.fields {
            if column.present.len() == row {
                column.present.push(false);
                column.values.push("");
            }
        }
    }

    /// Appends row `row` of `other` (same stream).
    pub(crate) fn push_from(&mut self, other: &RowBlock, row: usize) {
        self.push(other.ts(row), other.line(row), other.metadata(row));
    }

    /// A new block with the given rows of this one, in the given order.
    pub(crate) fn take(&self, rows: &[usize]) -> RowBlock {
        let mut block = RowBlock::new(self.stream_id, self.labels.clone());
        block.ts.reserve(rows.len());
        block.lines.ends.reserve(rows.len());
        for &row in rows {
            block.push_from(self, row);
        }
        block
    }

    /// Row indices sorted by (ts, line), stable.
    pub(crate) fn sorted_rows(&self) -> Vec<usize> {
        let rows = self.len();
        let in_order = (1..rows).all(|row| {
            let (a, b) = (self.ts[row - 1], self.ts[row]);
            a < b || (a == b && self.line(row - 1) <= self.line(row))
        });
        if in_order {
            return (0..rows).collect();
        }
        // Sort (ts, row) pairs, which is fast, then order each run of equal
        // timestamps by line (stable: the runs are in row order).
        let mut keyed: Vec<(i64, usize)> = self.ts.iter().copied().zip(0..rows).collect();
        keyed.sort_unstable();
        let mut sorted: Vec<usize> = keyed.iter().map(|&(_, row)| row).collect();
        let mut start = 0;
        while start < rows {
            let ts = keyed[start].0;
            let end = start + keyed[start..].iter().take_while(|(t, _)| *t == ts).count();
            if end - start > 1 {
                sorted[start..end].sort_by(|&a, &b| self.line(a).cmp(self.line(b)));
            }
            start = end;
        }
        sorted
    }

    /// `rows` (sorted by (ts, line), as [`RowBlock::sorted_rows`] gives them)
    /// without exact duplicates: rows equal in ts, line and metadata keep
    /// their first occurrence.
    pub(crate) fn dedup_sorted_rows(&self, rows: Vec<usize>) -> Vec<usize> {
        let same_entry =
            |a: usize, b: usize| self.ts[a] == self.ts[b] && self.line(a) == self.line(b);
        let mut kept: Vec<usize> = Vec::with_capacity(rows.len());
        // Start in `kept` of the run of rows equal in (ts, line) to the last one.
        let mut run_start = 0;
        for row in rows {
            match kept.last() {
                Some(&last) if same_entry(last, row) => {
                    if kept[run_start..]
                        .iter()
                        .any(|&earlier| self.metadata(earlier).eq(self.metadata(row)))
                    {
                        continue;
                    }
                }
                _ => run_start = kept.len(),
            }
            kept.push(row);
        }
        kept
    }

    pub(crate) fn min_max_ts(&self) -> (i64, i64) {
        let min = self.ts.iter().copied().min().unwrap_or(0);
        let max = self.ts.iter().copied().max().unwrap_or(0);
        (min, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_read_back_metadata() {
        let mut block = RowBlock::new(1, Arc::new(Labels::parse(r#"{a="1"}"#).unwrap()));
        block.push(5, "first", [("trace", "t1")]);
        block.push(3, "second", []);
        block.push(
            4,
            "third",
            [("user", "u"), ("trace", "t3"), ("user", "dup")],
        );
        assert_eq!(block.len(), 3);
        assert_eq!(block.line(1), "second");
        assert_eq!(block.metadata(0).collect::<Vec<_>>(), [("trace", "t1")]);
        assert_eq!(block.metadata(1).count(), 0);
        assert_eq!(
            block.metadata(2).collect::<Vec<_>>(),
            [("trace", "t3"), ("user", "u")]
        );
        let sorted = block.take(&block.sorted_rows());
        assert_eq!(sorted.ts, [3, 4, 5]);
        assert_eq!(sorted.line(2), "first");
    }

    proptest::proptest! {
        #[test]
        fn sorted_rows_is_a_stable_sort_by_ts_and_line(rows in proptest::collection::vec((0..5i64, "[ab]{0,2}"), 0..40)) {
            let mut block = RowBlock::new(1, Arc::new(Labels::default()));
            for (ts, line) in &rows {
                block.push(*ts, line, []);
            }
            let mut expected: Vec<usize> = (0..rows.len()).collect();
            expected.sort_by(|&a, &b| (rows[a].0, &rows[a].1).cmp(&(rows[b].0, &rows[b].1)));
            proptest::prop_assert_eq!(block.sorted_rows(), expected);
        }
    }

    #[test]
    fn dedup_drops_exact_duplicates_only() {
        let mut block = RowBlock::new(1, Arc::new(Labels::default()));
        block.push(1, "a", [("k", "1")]);
        block.push(1, "a", [("k", "2")]);
        block.push(1, "a", [("k", "1")]);
        block.push(1, "b", []);
        block.push(2, "a", [("k", "1")]);
        block.push(1, "b", []);
        let rows = block.dedup_sorted_rows(block.sorted_rows());
        assert_eq!(rows, [0, 1, 3, 4]);
    }
}
