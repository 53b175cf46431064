//! One series' buckets, and the sliding computation of its windows.

use super::series::Point;
use super::state::{BucketState, Kept};
use super::time::Grid;

/// The non-empty buckets of one series. Starts as a list of (bucket, state)
/// pieces, which costs memory only for buckets that saw samples (a series of
/// a handful of lines stays tiny); turns into one state per bucket once the
/// pieces would outgrow that.
#[derive(Debug, Clone)]
pub(crate) enum BucketStore<S> {
    /// Unsorted; a bucket may appear more than once (pieces from different blocks).
    Sparse(Vec<(u32, S)>),
    Dense(Vec<S>),
}

impl<S: BucketState> Default for BucketStore<S> {
    fn default() -> Self {
        BucketStore::Sparse(Vec::new())
    }
}

impl<S: BucketState> BucketStore<S> {
    pub fn add(&mut self, bucket: u32, state: S, bucket_count: usize) {
        match self {
            BucketStore::Sparse(pieces) => {
                pieces.push((bucket, state));
                if pieces.len() >= 8 && pieces.len() * 2 > bucket_count {
                    let mut dense = vec![S::default(); bucket_count];
                    for (bucket, state) in pieces.drain(..) {
                        dense[bucket as usize].merge(&state);
                    }
                    *self = BucketStore::Dense(dense);
                }
            }
            BucketStore::Dense(dense) => dense[bucket as usize].merge(&state),
        }
    }

    /// The non-empty buckets, sorted, one entry per bucket.
    pub fn into_sorted(self) -> Vec<(u32, S)> {
        match self {
            BucketStore::Dense(dense) => dense
                .into_iter()
                .enumerate()
                .filter(|(_, state)| !state.is_empty())
                .map(|(bucket, state)| (bucket as u32, state))
                .collect(),
            BucketStore::Sparse(mut pieces) => {
                pieces.sort_by_key(|(bucket, _)| *bucket);
                let mut sorted: Vec<(u32, S)> = Vec::with_capacity(pieces.len());
                for (bucket, state) in pieces {
                    match sorted.last_mut() {
                        Some((last, merged)) if *last == bucket => merged.merge(&state),
                        _ => sorted.push((bucket, state)),
                    }
                }
                sorted
            }
        }
    }
}

/// A FIFO of bucket states whose merged summary is available in amortized
/// constant time without undoing merges (two stacks: new states go on the
/// back; the front holds suffix summaries of older states).
struct SlidingWindow<S> {
    /// Oldest last; each entry holds its bucket and the summary of it and
    /// every newer front entry.
    front: Vec<(u32, S)>,
    /// Newest last: bucket and its own state.
    back: Vec<(u32, S)>,
    /// The summary of everything in `back`.
    back_summary: S,
}

impl<S: BucketState> SlidingWindow<S> {
    fn new() -> Self {
        SlidingWindow {
            front: Vec::new(),
            back: Vec::new(),
            back_summary: S::default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.front.is_empty() && self.back.is_empty()
    }

    fn push(&mut self, bucket: u32, state: &S) {
        self.back_summary.merge(state);
        self.back.push((bucket, state.clone()));
    }

    /// Drops the buckets below `low`.
    fn drop_below(&mut self, low: u32) {
        loop {
            if self.front.is_empty() {
                if self.back.is_empty() {
                    return;
                }
                // Move the back over, building suffix summaries newest first.
                let mut summary = S::default();
                for (bucket, state) in self.back.drain(..).rev() {
                    summary.merge(&state);
                    self.front.push((bucket, summary.clone()));
                }
                self.back_summary = S::default();
            }
            match self.front.last() {
                Some((bucket, _)) if *bucket < low => {
                    self.front.pop();
                }
                _ => return,
            }
        }
    }

    fn summary(&self) -> S {
        let mut summary = match self.front.last() {
            Some((_, state)) => state.clone(),
            None => S::default(),
        };
        summary.merge(&self.back_summary);
        summary
    }
}

/// Computes every window of one series from its sorted buckets: `finish`
/// turns a window's merged state into its value (None: no point). Steps
/// whose window holds no bucket are skipped without being visited.
pub(crate) fn slide<S: BucketState>(
    buckets: &[(u32, S)],
    grid: &Grid,
    mut finish: impl FnMut(usize, &S) -> Option<f64>,
) -> Vec<Point> {
    let windows = grid.windows();
    let mut points = Vec::new();
    let mut window = SlidingWindow::new();
    let mut next = 0usize;
    let mut step = 0usize;
    while step < windows.len() {
        if window.is_empty() {
            let Some((bucket, _)) = buckets.get(next) else {
                break;
            };
            step = step.max(grid.first_step_after(*bucket));
            if step >= windows.len() {
                break;
            }
        }
        let (low, high) = windows[step];
        while let Some((bucket, state)) = buckets.get(next) {
            if *bucket >= high {
                break;
            }
            window.push(*bucket, state);
            next += 1;
        }
        window.drop_below(low);
        if !window.is_empty() {
            let summary = window.summary();
            if !summary.is_empty()
                && let Some(value) = finish(step, &summary)
            {
                points.push(Point {
                    step: step as u32,
                    value,
                });
            }
        }
        step += 1;
    }
    points
}

/// Like [`slide`] for kept samples: each window's samples, in the state's
/// order ([`Kept::sort`]), go to `finish`.
pub(crate) fn gather<S: Kept>(
    buckets: &mut [(u32, S)],
    grid: &Grid,
    mut finish: impl FnMut(usize, &[S::Item]) -> Option<f64>,
) -> Vec<Point> {
    for (_, samples) in buckets.iter_mut() {
        samples.sort();
    }
    let windows = grid.windows();
    let mut points = Vec::new();
    let mut scratch: Vec<S::Item> = Vec::new();
    let mut step = 0usize;
    let mut first = 0usize;
    while step < windows.len() && first < buckets.len() {
        let (low, high) = windows[step];
        while first < buckets.len() && buckets[first].0 < low {
            first += 1;
        }
        if first >= buckets.len() {
            break;
        }
        if buckets[first].0 >= high {
            // Nothing in this window: jump to the first window reaching the next bucket.
            step = step
                .max(grid.first_step_after(buckets[first].0))
                .max(step + 1);
            continue;
        }
        scratch.clear();
        for (bucket, samples) in &buckets[first..] {
            if *bucket >= high {
                break;
            }
            scratch.extend_from_slice(samples.items());
        }
        if let Some(value) = finish(step, &scratch) {
            points.push(Point {
                step: step as u32,
                value,
            });
        }
        step += 1;
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::state::{MinMax, Samples, SumCount};
    use crate::metric::time::Steps;

    fn sum(count: u64) -> SumCount {
        SumCount {
            sum: count as f64,
            count,
        }
    }

    #[test]
    fn store_goes_dense_and_sorts() {
        let mut store = BucketStore::<SumCount>::default();
        for bucket in [5u32, 1, 5, 3] {
            store.add(bucket, sum(1), 100);
        }
        assert!(matches!(store, BucketStore::Sparse(_)));
        assert_eq!(
            store.clone().into_sorted(),
            [(1, sum(1)), (3, sum(1)), (5, sum(2))]
        );
        for bucket in 0..10u32 {
            store.add(bucket, sum(1), 12);
        }
        assert!(matches!(store, BucketStore::Dense(_)));
        let sorted = store.into_sorted();
        assert_eq!(sorted.len(), 10);
        assert_eq!(sorted[5], (5, sum(3)));
    }

    /// Windows of 3 buckets over steps 0..=9 (range 3, step 1): each window
    /// sums its buckets; steps without buckets get no point.
    #[test]
    fn sliding_sums_and_gaps() {
        let grid = Grid::new(&Steps::range(0, 9, 1).unwrap(), 3, 0);
        // Buckets are (t-1, t] for t = -2..=9; bucket k ends at k - 2.
        let at = |t: i64| grid.cursor().locate(t).unwrap();
        let buckets = vec![(at(1), sum(1)), (at(2), sum(10)), (at(7), sum(100))];
        let points = slide(&buckets, &grid, |_, state| Some(state.sum));
        let got: Vec<(u32, f64)> = points.iter().map(|p| (p.step, p.value)).collect();
        assert_eq!(
            got,
            [
                (1, 1.0),
                (2, 11.0),
                (3, 11.0),
                (4, 10.0),
                (7, 100.0),
                (8, 100.0),
                (9, 100.0)
            ]
        );
    }

    #[test]
    fn sliding_min_matches_direct_computation() {
        let grid = Grid::new(&Steps::range(0, 50, 3).unwrap(), 10, 0);
        let mut buckets: Vec<(u32, MinMax)> = Vec::new();
        let mut rows: Vec<(i64, f64)> = Vec::new();
        for t in 0..50i64 {
            let value = ((t * 7919) % 23) as f64;
            rows.push((t, value));
            let Some(bucket) = grid.cursor().locate(t) else {
                continue;
            };
            match buckets.last_mut() {
                Some((last, state)) if *last == bucket => state.add(t, value),
                _ => {
                    let mut state = MinMax::default();
                    state.add(t, value);
                    buckets.push((bucket, state));
                }
            }
        }
        let points = slide(&buckets, &grid, |_, state| Some(state.min));
        let steps = Steps::range(0, 50, 3).unwrap();
        let mut expected = Vec::new();
        for step in 0..steps.count {
            let t = steps.at(step);
            let inside: Vec<f64> = rows
                .iter()
                .filter(|(ts, _)| *ts > t - 10 && *ts <= t)
                .map(|(_, v)| *v)
                .collect();
            if let Some(min) = inside.iter().copied().reduce(f64::min) {
                expected.push(Point {
                    step: step as u32,
                    value: min,
                });
            }
        }
        assert_eq!(points, expected);
    }

    #[test]
    fn gather_hands_sorted_window_samples() {
        let grid = Grid::new(&Steps::range(10, 30, 10).unwrap(), 10, 0);
        let at = |t: i64| grid.cursor().locate(t).unwrap();
        let mut buckets = vec![
            (at(5), Samples(vec![(5, 2.0), (3, 1.0)])),
            (at(25), Samples(vec![(25, 9.0)])),
        ];
        let mut seen = Vec::new();
        let points = gather(&mut buckets, &grid, |step, samples| {
            seen.push((step, samples.to_vec()));
            Some(samples.len() as f64)
        });
        assert_eq!(seen, [(0, vec![(3, 1.0), (5, 2.0)]), (2, vec![(25, 9.0)])]);
        assert_eq!(points.len(), 2);
    }
}
