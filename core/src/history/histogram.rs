//! The response-time histogram of a rollup row: counts per bucket, with fixed lower bounds.
//! Percentiles read from it are the upper bound of the bucket the rank falls in ("p95 ≤ 300
//! ms"), the same whether the checks are raw rows or rolled up.

use serde::Serialize;

/// Lower bounds of the buckets, in milliseconds; the last bucket has no upper bound.
pub const BUCKETS_MS: [i32; 39] = [
    0, 2, 4, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 100, 125, 150, 200, 250, 300, 400, 500,
    600, 750, 1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000, 15000, 20000, 30000,
    60000,
];

/// The bucket (0-based) a response time falls in; PostgreSQL's `width_bucket(ms, BUCKETS_MS)`
/// minus one.
pub fn bucket_of(ms: i32) -> usize {
    BUCKETS_MS
        .iter()
        .rposition(|&lower| ms >= lower)
        .unwrap_or(0)
}

/// What a percentile in bucket `i` is reported as: the bucket's upper bound, or the lower
/// bound of the last, open bucket.
pub fn bucket_upper_ms(i: usize) -> i64 {
    BUCKETS_MS
        .get(i + 1)
        .or(BUCKETS_MS.last())
        .map(|&b| i64::from(b))
        .unwrap_or_default()
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Histogram(pub Vec<i64>);

impl Histogram {
    pub fn empty() -> Self {
        Self(vec![0; BUCKETS_MS.len()])
    }

    pub fn from_counts(counts: &[i64]) -> Self {
        let mut h = Self::empty();
        h.add_counts(counts);
        h
    }

    pub fn add_counts(&mut self, counts: &[i64]) {
        for (slot, c) in self.0.iter_mut().zip(counts) {
            *slot += c;
        }
    }

    pub fn add(&mut self, other: &Histogram) {
        self.add_counts(&other.0);
    }

    pub fn record(&mut self, ms: i32) {
        if let Some(slot) = self.0.get_mut(bucket_of(ms)) {
            *slot += 1;
        }
    }

    pub fn total(&self) -> i64 {
        self.0.iter().sum()
    }

    /// The nearest-rank percentile `q` (0 < q ≤ 1) as a bucket's upper bound; `None` when
    /// empty.
    pub fn percentile(&self, q: f64) -> Option<i64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as i64).clamp(1, total);
        let mut seen = 0;
        for (i, count) in self.0.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(bucket_upper_ms(i));
            }
        }
        None
    }

    /// `{1,2,…}`: the PostgreSQL array literal.
    pub fn to_pg_literal(&self) -> String {
        let items: Vec<String> = self.0.iter().map(i64::to_string).collect();
        format!("{{{}}}", items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_width_bucket() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(2), 1);
        assert_eq!(bucket_of(299), 19);
        assert_eq!(bucket_of(300), 20);
        assert_eq!(bucket_of(1_000_000), BUCKETS_MS.len() - 1);
        assert_eq!(bucket_of(-5), 0);
        assert_eq!(bucket_upper_ms(19), 300);
        assert_eq!(bucket_upper_ms(BUCKETS_MS.len() - 1), 60000);
    }

    #[test]
    fn percentiles_are_nearest_rank_upper_bounds() {
        let mut h = Histogram::empty();
        for ms in [10, 11, 13, 14, 16, 100, 101, 102, 900, 5000] {
            h.record(ms);
        }
        assert_eq!(h.total(), 10);
        // Rank 5 of 10 is 16 ms, in [15, 20).
        assert_eq!(h.percentile(0.5), Some(20));
        // Rank 10 is 5000 ms, in [5000, 7500).
        assert_eq!(h.percentile(0.95), Some(7500));
        assert_eq!(h.percentile(0.99), Some(7500));
        assert_eq!(Histogram::empty().percentile(0.5), None);
    }

    #[test]
    fn sums_and_literals() {
        let mut a = Histogram::from_counts(&[1, 2]);
        a.add(&Histogram::from_counts(&[3]));
        assert_eq!(&a.0[..3], &[4, 2, 0]);
        assert!(a.to_pg_literal().starts_with("{4,2,0,"));
        assert_eq!(a.0.len(), BUCKETS_MS.len());
    }
}
