//! Inputs cut into bins once per fit, and the seeded random stream: what the tree growers
//! ([`crate::cart`], [`crate::boosting`]) share.
//!
//! Each input's present values are cut into at most [`MAX_BINS`] bins: every distinct
//! training value its own bin when there are that few (so splits are exact), else bins of
//! about equal counts. A missing value (NaN) has a bin of its own, [`MISSING`]. A split
//! after bin `b` becomes the threshold halfway between the largest training value of bins
//! up to `b` and the smallest above it, and `x < threshold` goes left, so a training row
//! takes the same branch by value as it did by bin.

use ndarray::Array2;

/// The most bins of present values an input is cut into.
pub const MAX_BINS: usize = 255;

/// The bin of a missing value.
pub const MISSING: u8 = u8::MAX;

/// The inputs of the training rows, binned per input.
#[derive(Debug)]
pub struct Binned {
    /// Column-major codes: `codes[j * rows + i]` is row `i`'s bin of input `j`.
    codes: Vec<u8>,
    rows: usize,
    /// Per input, the largest and smallest training value of each bin.
    bin_max: Vec<Vec<f64>>,
    bin_min: Vec<Vec<f64>>,
}

impl Binned {
    /// Bin every input of `x` (rows x inputs).
    pub fn new(x: &Array2<f64>) -> Binned {
        let rows = x.nrows();
        let mut codes = vec![0u8; rows * x.ncols()];
        let (mut bin_max, mut bin_min) = (Vec::new(), Vec::new());
        for (j, col) in x.columns().into_iter().enumerate() {
            let mut present: Vec<f64> = col.iter().copied().filter(|v| !v.is_nan()).collect();
            present.sort_by(f64::total_cmp);
            let mut distinct = present.clone();
            distinct.dedup();
            // Upper edges: each distinct value, or values at equal-count steps.
            let edges: Vec<f64> = if distinct.len() <= MAX_BINS {
                distinct
            } else {
                let n = present.len();
                let mut e: Vec<f64> = (1..MAX_BINS)
                    .map(|k| present[(k * n / MAX_BINS).min(n - 1)])
                    .collect();
                e.extend(distinct.last());
                e.dedup();
                e
            };
            let bins = edges.len().max(1);
            let (mut hi, mut lo) = (vec![f64::NEG_INFINITY; bins], vec![f64::INFINITY; bins]);
            for (i, &v) in col.iter().enumerate() {
                if v.is_nan() {
                    codes[j * rows + i] = MISSING;
                    continue;
                }
                // The first bin whose upper edge is at or above v.
                let b = edges.partition_point(|&e| e < v).min(bins - 1);
                codes[j * rows + i] = b as u8;
                hi[b] = hi[b].max(v);
                lo[b] = lo[b].min(v);
            }
            bin_max.push(hi);
            bin_min.push(lo);
        }
        Binned {
            codes,
            rows,
            bin_max,
            bin_min,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn inputs(&self) -> usize {
        self.bin_max.len()
    }

    /// Row `row`'s bin of `input` ([`MISSING`] for a missing value).
    #[inline]
    pub fn code(&self, input: usize, row: usize) -> u8 {
        self.codes[input * self.rows + row]
    }

    /// The bins of present values of `input`.
    pub fn bins(&self, input: usize) -> usize {
        self.bin_max[input].len()
    }

    /// The threshold of a split of `input` after bin `last_left`: halfway between the
    /// largest value up to it and the smallest above it, never at or below the former.
    pub fn threshold(&self, input: usize, last_left: usize) -> f64 {
        let lo = self.bin_max[input][last_left];
        let hi = (last_left + 1..self.bins(input))
            .map(|b| self.bin_min[input][b])
            .find(|v| v.is_finite())
            .unwrap_or(f64::INFINITY);
        let mid = lo + (hi - lo) / 2.0;
        if mid > lo && mid <= hi { mid } else { hi }
    }
}

/// SplitMix64: a small, fully specified random stream (Steele, Lea and Flood 2014), so a
/// model does not change with a random crate's version.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for these n).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `k` of `0..n` without repeats, in increasing order (partial Fisher-Yates).
    pub fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        all.truncate(k.min(n));
        all.sort_unstable();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Few distinct values bin exactly; missing values take their own bin; many distinct
    /// values bin by count, each threshold between the bins it separates.
    #[test]
    fn inputs_bin_exactly_or_by_count() {
        let x = Array2::from_shape_vec((5, 1), vec![3.0, f64::NAN, 1.0, 3.0, 2.0]).unwrap();
        let b = Binned::new(&x);
        assert_eq!(b.bins(0), 3);
        let codes: Vec<u8> = (0..5).map(|i| b.code(0, i)).collect();
        assert_eq!(codes, [2, MISSING, 0, 2, 1]);
        assert_eq!(b.threshold(0, 0), 1.5);
        assert_eq!(b.threshold(0, 1), 2.5);
        let n = 3000;
        let x = Array2::from_shape_fn((n, 1), |(i, _)| (i as f64 * 0.37).sin());
        let b = Binned::new(&x);
        assert!(b.bins(0) <= MAX_BINS && b.bins(0) > 200);
        for last in 0..b.bins(0) - 1 {
            let t = b.threshold(0, last);
            for i in 0..n {
                assert_eq!(x[[i, 0]] < t, usize::from(b.code(0, i)) <= last);
            }
        }
    }
}
