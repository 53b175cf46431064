//! When a metric query is evaluated, and which samples each evaluation sees.
//!
//! [`Steps`] are the evaluation times: `start, start + step, ...` up to `end`
//! (an instant query has one). A range aggregation at time `t` sees the
//! samples in the left-open window `(t - offset - range, t - offset]`.
//! [`Grid`] cuts the time line at every window edge, so that each window is
//! a contiguous run of buckets: samples are accumulated per bucket while
//! scanning, and every window is computed from its buckets afterwards,
//! whatever the ratio of range to step.

/// Loki's limit on points per series of a range query.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The evaluation times of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    /// The first evaluation time, in ns.
    pub start_ns: i64,
    /// Between evaluation times; 0 for an instant query.
    pub step_ns: i64,
    /// How many evaluation times; at least 1.
    pub count: usize,
}

impl Steps {
    /// One evaluation at `time_ns`.
    pub fn instant(time_ns: i64) -> Steps {
        Steps {
            start_ns: time_ns,
            step_ns: 0,
            count: 1,
        }
    }

    /// `start, start + step, ...` while `<= end`, as Loki evaluates a range
    /// query (no alignment of start to the step).
    pub fn range(start_ns: i64, end_ns: i64, step_ns: i64) -> Result<Steps, String> {
        if step_ns <= 0 {
            return Err(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
                    .to_string(),
            );
        }
        if end_ns < start_ns {
            return Err("end timestamp must not be before or equal to start time".to_string());
        }
        let intervals = (i128::from(end_ns) - i128::from(start_ns)) / i128::from(step_ns);
        if intervals > i128::from(MAX_POINTS_PER_SERIES) {
            return Err(format!(
                "exceeded maximum resolution of {MAX_POINTS_PER_SERIES} points per timeseries. Try decreasing the query resolution (?step=XX)"
            ));
        }
        Ok(Steps {
            start_ns,
            step_ns,
            count: intervals as usize + 1,
        })
    }

    /// The evaluation time of step `index`.
    pub fn at(&self, index: usize) -> i64 {
        self.start_ns
            .saturating_add(self.step_ns.saturating_mul(index as i64))
    }

    pub fn is_instant(&self) -> bool {
        self.step_ns == 0
    }
}

/// Loki's default step of a range query: `(end - start) / 250` in whole
/// seconds, rounded down, at least one second.
pub fn default_step_ns(start_ns: i64, end_ns: i64) -> i64 {
    let seconds = (end_ns.saturating_sub(start_ns) / 1_000_000_000) / 250;
    seconds.max(1) * 1_000_000_000
}

/// The buckets of one range aggregation: bucket `k` holds the samples with
/// `edges[k] < ts <= edges[k + 1]`; every window is the run of buckets
/// `windows[i].0 .. windows[i].1`.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    /// Every window's start and end, sorted, without repeats.
    edges: Vec<i64>,
    /// Whether some window contains bucket `k` (false in the gaps between
    /// windows when the range is shorter than the step).
    covered: Vec<bool>,
    /// Per step, the buckets of its window; both bounds never decrease.
    windows: Vec<(u32, u32)>,
}

impl Grid {
    pub fn new(steps: &Steps, range_ns: i64, offset_ns: i64) -> Grid {
        debug_assert!(range_ns > 0, "BUG: empty range");
        let mut edges = Vec::with_capacity(steps.count * 2);
        for index in 0..steps.count {
            let end = steps.at(index).saturating_sub(offset_ns);
            edges.push(end.saturating_sub(range_ns));
            edges.push(end);
        }
        edges.sort_unstable();
        edges.dedup();
        let position = |edge: i64| edges.partition_point(|&e| e < edge) as u32;
        let mut covered = vec![false; edges.len().saturating_sub(1)];
        let mut windows = Vec::with_capacity(steps.count);
        for index in 0..steps.count {
            let end = steps.at(index).saturating_sub(offset_ns);
            let (low, high) = (position(end.saturating_sub(range_ns)), position(end));
            for bucket in &mut covered[low as usize..high as usize] {
                *bucket = true;
            }
            windows.push((low, high));
        }
        Grid {
            edges,
            covered,
            windows,
        }
    }

    /// The storage range holding every sample of every window: `[start, end)`.
    pub fn scan_range(&self) -> (i64, i64) {
        let first = self.edges[0];
        let last = self.edges[self.edges.len() - 1];
        (first.saturating_add(1), last.saturating_add(1))
    }

    pub fn bucket_count(&self) -> usize {
        self.covered.len()
    }

    /// Per step, the buckets `[low, high)` of its window.
    pub fn windows(&self) -> &[(u32, u32)] {
        &self.windows
    }

    /// The first step whose window ends after `bucket` (so contains it, when
    /// the bucket is covered).
    pub fn first_step_after(&self, bucket: u32) -> usize {
        self.windows.partition_point(|&(_, high)| high <= bucket)
    }

    /// A cursor for locating the timestamps of one block, which come sorted.
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor {
            grid: self,
            low: 0,
            high: 0,
            bucket: None,
        }
    }

    /// The bucket of `ts`, or None when no window contains it.
    #[cfg(test)]
    pub fn bucket_of(&self, ts: i64) -> Option<u32> {
        self.cursor().locate(ts)
    }
}

/// Finds buckets of increasing timestamps in amortized constant time: the
/// answer for the last interval found is kept until a timestamp leaves it.
pub(crate) struct Cursor<'a> {
    grid: &'a Grid,
    /// The interval `(low, high]` the last answer holds for (empty at first).
    low: i64,
    high: i64,
    /// The last answer: the bucket, None outside every window.
    bucket: Option<u32>,
}

impl Cursor<'_> {
    /// The bucket of `ts`, or None when no window contains it.
    #[inline]
    pub fn locate(&mut self, ts: i64) -> Option<u32> {
        if self.low < ts && ts <= self.high {
            return self.bucket;
        }
        self.seek(ts)
    }

    #[inline(never)]
    fn seek(&mut self, ts: i64) -> Option<u32> {
        let edges = &self.grid.edges;
        let last = edges.len() - 1;
        if ts <= edges[0] {
            (self.low, self.high, self.bucket) = (i64::MIN, edges[0], None);
        } else if ts > edges[last] {
            (self.low, self.high, self.bucket) = (edges[last], i64::MAX, None);
        } else {
            let bucket = edges.partition_point(|&edge| edge < ts) - 1;
            self.low = edges[bucket];
            self.high = edges[bucket + 1];
            self.bucket = self.grid.covered[bucket].then_some(bucket as u32);
        }
        self.bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn range_steps_include_end_when_aligned() {
        let steps = Steps::range(100 * S, 160 * S, 30 * S).unwrap();
        assert_eq!(steps.count, 3);
        assert_eq!(
            (0..3).map(|i| steps.at(i)).collect::<Vec<_>>(),
            [100 * S, 130 * S, 160 * S]
        );
        // Not aligned: the last step is the last one <= end.
        let steps = Steps::range(100 * S, 159 * S, 30 * S).unwrap();
        assert_eq!(steps.count, 2);
        assert_eq!(Steps::range(5, 5, 1).unwrap().count, 1);
        assert!(
            Steps::range(0, 10, 0)
                .unwrap_err()
                .contains("zero or negative")
        );
        assert!(Steps::range(10, 0, 1).is_err());
        assert!(Steps::range(0, 11_001, 1).unwrap_err().contains("11000"));
        assert_eq!(Steps::range(0, 11_000, 1).unwrap().count, 11_001);
    }

    #[test]
    fn default_step_is_a_250th_in_whole_seconds() {
        assert_eq!(default_step_ns(0, 3600 * S), 14 * S);
        assert_eq!(default_step_ns(0, 60 * S), S);
        assert_eq!(default_step_ns(0, 0), S);
        assert_eq!(default_step_ns(0, 86_400 * S), 345 * S);
    }

    /// Windows are `(t - range, t]`: `t` is in, `t - range` is out.
    #[test]
    fn window_edges() {
        let grid = Grid::new(&Steps::instant(100), 10, 0);
        assert_eq!(grid.scan_range(), (91, 101));
        assert_eq!(grid.bucket_of(90), None);
        assert_eq!(grid.bucket_of(91), Some(0));
        assert_eq!(grid.bucket_of(100), Some(0));
        assert_eq!(grid.bucket_of(101), None);
        // With an offset the window moves back.
        let grid = Grid::new(&Steps::instant(100), 10, 5);
        assert_eq!(grid.scan_range(), (86, 96));
        assert_eq!(grid.windows(), [(0, 1)]);
    }

    #[test]
    fn range_a_multiple_of_step_shares_buckets() {
        // Steps at 10, 20, 30; range 20: windows (-10,10], (0,20], (10,30].
        let grid = Grid::new(&Steps::range(10, 30, 10).unwrap(), 20, 0);
        assert_eq!(grid.bucket_count(), 4);
        assert_eq!(grid.windows(), [(0, 2), (1, 3), (2, 4)]);
        assert_eq!(grid.bucket_of(-10), None);
        assert_eq!(grid.bucket_of(-9), Some(0));
        assert_eq!(grid.bucket_of(10), Some(1));
        assert_eq!(grid.bucket_of(11), Some(2));
        assert_eq!(grid.bucket_of(30), Some(3));
    }

    #[test]
    fn range_shorter_than_step_leaves_gaps() {
        // Steps at 10, 20; range 4: windows (6,10], (16,20].
        let grid = Grid::new(&Steps::range(10, 20, 10).unwrap(), 4, 0);
        assert_eq!(grid.windows(), [(0, 1), (2, 3)]);
        assert_eq!(grid.bucket_of(8), Some(0));
        assert_eq!(grid.bucket_of(12), None);
        assert_eq!(grid.bucket_of(16), None);
        assert_eq!(grid.bucket_of(17), Some(2));
        assert_eq!(grid.first_step_after(0), 0);
        assert_eq!(grid.first_step_after(2), 1);
    }

    #[test]
    fn cursor_matches_binary_search_on_sorted_input() {
        let grid = Grid::new(&Steps::range(0, 1000, 7).unwrap(), 30, 3);
        let mut cursor = grid.cursor();
        for ts in -50..1050 {
            assert_eq!(cursor.locate(ts), grid.bucket_of(ts), "ts {ts}");
        }
        // And after a jump backwards.
        assert_eq!(cursor.locate(5), grid.bucket_of(5));
    }
}
