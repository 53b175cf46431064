//! What a range aggregation keeps per series and bucket while scanning.
//!
//! Every state is a summary of the samples of one bucket that can be merged
//! with the summary of another bucket, so that a window's value is computed
//! from the merged summaries of its buckets without keeping the samples:
//! sums and counts, extremes, moments (Welford's mean and squared
//! deviations, merged with Chan's formula), first and last samples. Only
//! `rate_counter` and `quantile_over_time`, which need every sample of a
//! window, keep them ([`Samples`], [`Values`]).

/// A mergeable summary of samples.
pub(crate) trait BucketState: Default + Clone + Send + Sync + 'static {
    fn add(&mut self, ts: i64, value: f64);
    /// Adds the samples `other` summarizes. Every state here is
    /// commutative: the order of merges does not change the result.
    fn merge(&mut self, other: &Self);
    fn is_empty(&self) -> bool;
    /// How many samples the state keeps (only [`Kept`] states keep any).
    fn kept(&self) -> usize {
        0
    }
}

/// Sum and number of samples: count, rate, bytes, sum, avg, absent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct SumCount {
    pub sum: f64,
    pub count: u64,
}

impl BucketState for SumCount {
    fn add(&mut self, _ts: i64, value: f64) {
        self.sum += value;
        self.count += 1;
    }

    fn merge(&mut self, other: &Self) {
        self.sum += other.sum;
        self.count += other.count;
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Smallest and largest value. As in Prometheus, NaN loses to any number
/// and is the answer only when every value is NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MinMax {
    pub min: f64,
    pub max: f64,
    pub count: u64,
}

impl Default for MinMax {
    fn default() -> MinMax {
        MinMax {
            min: f64::NAN,
            max: f64::NAN,
            count: 0,
        }
    }
}

impl BucketState for MinMax {
    fn add(&mut self, _ts: i64, value: f64) {
        if value < self.min || self.min.is_nan() {
            self.min = value;
        }
        if value > self.max || self.max.is_nan() {
            self.max = value;
        }
        self.count += 1;
    }

    fn merge(&mut self, other: &Self) {
        if other.count == 0 {
            return;
        }
        if other.min < self.min || self.min.is_nan() {
            self.min = other.min;
        }
        if other.max > self.max || self.max.is_nan() {
            self.max = other.max;
        }
        self.count += other.count;
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Count, mean and sum of squared deviations from the mean: the population
/// variance is `m2 / count`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Moments {
    pub count: f64,
    pub mean: f64,
    pub m2: f64,
}

impl BucketState for Moments {
    fn add(&mut self, _ts: i64, value: f64) {
        self.count += 1.0;
        let delta = value - self.mean;
        self.mean += delta / self.count;
        self.m2 += delta * (value - self.mean);
    }

    fn merge(&mut self, other: &Self) {
        if other.count == 0.0 {
            return;
        }
        if self.count == 0.0 {
            *self = *other;
            return;
        }
        let count = self.count + other.count;
        let delta = other.mean - self.mean;
        self.mean += delta * other.count / count;
        self.m2 += other.m2 + delta * delta * self.count * other.count / count;
        self.count = count;
    }

    fn is_empty(&self) -> bool {
        self.count == 0.0
    }
}

impl Moments {
    pub fn variance(&self) -> f64 {
        self.m2 / self.count
    }
}

/// The earliest and the latest sample. Samples with the same timestamp are
/// ordered by value so that the answer never depends on scan order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FirstLast {
    pub first: (i64, f64),
    pub last: (i64, f64),
    pub count: u64,
}

impl Default for FirstLast {
    fn default() -> FirstLast {
        FirstLast {
            first: (i64::MAX, f64::NAN),
            last: (i64::MIN, f64::NAN),
            count: 0,
        }
    }
}

/// True when sample `a` comes before sample `b`.
fn before(a: (i64, f64), b: (i64, f64)) -> bool {
    a.0 < b.0 || (a.0 == b.0 && a.1.total_cmp(&b.1).is_lt())
}

impl BucketState for FirstLast {
    fn add(&mut self, ts: i64, value: f64) {
        let sample = (ts, value);
        if self.count == 0 || before(sample, self.first) {
            self.first = sample;
        }
        if self.count == 0 || before(self.last, sample) {
            self.last = sample;
        }
        self.count += 1;
    }

    fn merge(&mut self, other: &Self) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 || before(other.first, self.first) {
            self.first = other.first;
        }
        if self.count == 0 || before(self.last, other.last) {
            self.last = other.last;
        }
        self.count += other.count;
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// A state that keeps its samples: each window gets them all, in order.
pub(crate) trait Kept: BucketState {
    type Item: Copy;
    fn items(&self) -> &[Self::Item];
    /// Sorts the samples into the order a window hands them on.
    fn sort(&mut self);
}

/// Every sample with its time, for rate_counter (which needs their order).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Samples(pub Vec<(i64, f64)>);

impl BucketState for Samples {
    fn add(&mut self, ts: i64, value: f64) {
        self.0.push((ts, value));
    }

    fn merge(&mut self, other: &Self) {
        self.0.extend_from_slice(&other.0);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn kept(&self) -> usize {
        self.0.len()
    }
}

impl Kept for Samples {
    type Item = (i64, f64);

    fn items(&self) -> &[(i64, f64)] {
        &self.0
    }

    /// By time, then value, so that equal timestamps never depend on scan order.
    fn sort(&mut self) {
        self.0
            .sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    }
}

/// Every sample's value, for quantile_over_time (half the memory of [`Samples`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Values(pub Vec<f64>);

impl BucketState for Values {
    fn add(&mut self, _ts: i64, value: f64) {
        self.0.push(value);
    }

    fn merge(&mut self, other: &Self) {
        self.0.extend_from_slice(&other.0);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn kept(&self) -> usize {
        self.0.len()
    }
}

impl Kept for Values {
    type Item = f64;

    fn items(&self) -> &[f64] {
        &self.0
    }

    /// Order does not matter to a quantile.
    fn sort(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold<S: BucketState>(values: &[f64]) -> S {
        let mut state = S::default();
        for (index, value) in values.iter().enumerate() {
            state.add(index as i64, *value);
        }
        state
    }

    /// Merging the summaries of two halves equals summarizing the whole.
    fn merge_equals_whole<S: BucketState + std::fmt::Debug>(
        values: &[f64],
        close: impl Fn(&S, &S) -> bool,
    ) {
        for split in 0..=values.len() {
            let whole: S = fold(values);
            let mut left: S = S::default();
            let mut right: S = S::default();
            for (index, value) in values.iter().enumerate() {
                if index < split {
                    left.add(index as i64, *value);
                } else {
                    right.add(index as i64, *value);
                }
            }
            let mut merged = right.clone();
            merged.merge(&left);
            assert!(
                close(&merged, &whole),
                "split {split}: {merged:?} != {whole:?}"
            );
        }
    }

    #[test]
    fn merges_equal_whole_summaries() {
        let values = [3.0, -1.5, 8.0, 8.0, 0.25, 100.0];
        merge_equals_whole::<SumCount>(&values, |a, b| a == b);
        merge_equals_whole::<MinMax>(&values, |a, b| a == b);
        merge_equals_whole::<FirstLast>(&values, |a, b| a == b);
        merge_equals_whole::<Moments>(&values, |a, b| {
            a.count == b.count && (a.mean - b.mean).abs() < 1e-9 && (a.m2 - b.m2).abs() < 1e-9
        });
    }

    #[test]
    fn min_max_skip_nan_unless_all_nan() {
        let state: MinMax = fold(&[f64::NAN, 2.0, -3.0, f64::NAN]);
        assert_eq!((state.min, state.max), (-3.0, 2.0));
        let state: MinMax = fold(&[f64::NAN]);
        assert!(state.min.is_nan() && state.max.is_nan());
        let mut merged: MinMax = fold(&[f64::NAN]);
        merged.merge(&fold(&[5.0]));
        assert_eq!((merged.min, merged.max), (5.0, 5.0));
    }

    #[test]
    fn population_variance() {
        let state: Moments = fold(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(state.variance(), 4.0);
    }

    #[test]
    fn first_last_order_ties_by_value() {
        let mut state = FirstLast::default();
        state.add(5, 1.0);
        state.add(5, -1.0);
        state.add(9, 2.0);
        state.add(9, 7.0);
        assert_eq!(state.first, (5, -1.0));
        assert_eq!(state.last, (9, 7.0));
    }
}
