//! The compact training table the histogram learners share: every feature of every row as
//! one `u8` bin code, fitted on the training rows once.
//!
//! Its input is the level design: one column per feature, a number (NaN when missing) or a
//! categorical feature's level position (NaN for a level unseen in training; see
//! `Encoding::Level`). A number's present values are cut at most [`MAX_BINS`] ways (every
//! distinct training value its own bin when there are that few, else bins of about equal
//! counts), each cut halfway between the training values either side, so that a row's bin
//! is at most `b` exactly when its value is below cut `b`: rows not seen in the fit (the
//! validation split) take the branch by bin that the published threshold gives them by
//! value. A categorical feature's levels have a bin each when there are at most 255; more
//! are grouped by their smoothed adverse rate into [`MAX_LEVEL_BINS`] bins (see
//! `Bins::levels`). A missing number or an unseen level has bin [`MISSING`].

use ndarray::ArrayView2;
use rayon::prelude::*;

/// The most bins of present values a feature is cut into.
pub const MAX_BINS: usize = 255;

/// The most bins a categorical feature of more than 255 levels has for its frequent levels
/// (or groups of them); its other levels share one more.
pub const MAX_LEVEL_BINS: usize = 254;

/// A categorical feature of many levels: the fewest training rows a level has to be
/// placed by its adverse rate (LightGBM's `min_data_per_group`), and the hessian that rate
/// is smoothed with (its `cat_smooth`).
pub const GROUPED_LEVEL_ROWS: u64 = 100;
const LEVEL_SMOOTH: f64 = 10.0;

/// The bin of a missing number or an unseen level.
pub const MISSING: u8 = u8::MAX;

/// Rows coded per task.
const CODE_BLOCK_ROWS: usize = 4096;

/// The most rows a number's cuts are chosen on.
pub const CUT_SAMPLE_ROWS: usize = 200_000;

/// How one feature's values map to bins.
#[derive(Debug, Clone, PartialEq)]
pub enum Bins {
    /// `cuts[b]`: values below it have bin `b` or less (increasing; one fewer than the bins).
    Numeric { cuts: Vec<f64> },
    /// `bin_of[l]`: level `l`'s bin; `levels_of[b]`: the levels of bin `b` (increasing).
    Levels {
        bin_of: Vec<u8>,
        levels_of: Vec<Vec<u32>>,
    },
}

impl Bins {
    /// Bins of present values (and of seen levels).
    pub fn len(&self) -> usize {
        match self {
            Bins::Numeric { cuts } => cuts.len() + 1,
            Bins::Levels { levels_of, .. } => levels_of.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bin of value `v`.
    #[inline]
    pub fn code(&self, v: f64) -> u8 {
        if v.is_nan() {
            return MISSING;
        }
        match self {
            Bins::Numeric { cuts } => cuts.partition_point(|&c| c <= v) as u8,
            Bins::Levels { bin_of, .. } => {
                if v >= 0.0 && v.fract() == 0.0 {
                    bin_of.get(v as usize).copied().unwrap_or(MISSING)
                } else {
                    MISSING
                }
            }
        }
    }

    /// Fit a numeric feature's bins on its training values.
    fn numeric(values: impl Iterator<Item = f64>) -> Bins {
        let mut present: Vec<f64> = values.filter(|v| !v.is_nan()).collect();
        present.sort_unstable_by(f64::total_cmp);
        let mut distinct = present.clone();
        distinct.dedup();
        // The largest value of each bin but the last.
        let lasts: Vec<f64> = if distinct.len() <= MAX_BINS {
            distinct[..distinct.len().saturating_sub(1)].to_vec()
        } else {
            let n = present.len();
            let mut e: Vec<f64> = (1..MAX_BINS).map(|k| present[k * n / MAX_BINS]).collect();
            e.dedup();
            // A bin's largest value below the data's largest, so no bin is empty.
            e.retain(|&v| v < distinct[distinct.len() - 1]);
            e
        };
        let cuts = lasts
            .iter()
            .map(|&lo| {
                // The smallest training value above `lo`.
                let hi = distinct[distinct.partition_point(|&d| d <= lo)];
                let mid = lo + (hi - lo) / 2.0;
                if mid > lo && mid <= hi { mid } else { hi }
            })
            .collect();
        Bins::Numeric { cuts }
    }

    /// Fit a categorical feature's bins on its training level positions and labels: a bin
    /// for each of its most frequent levels (up to [`MAX_LEVEL_BINS`]; all of them when
    /// there are 255 or fewer), the rest one bin between them. When more than
    /// [`MAX_LEVEL_BINS`] levels hold [`GROUPED_LEVEL_ROWS`] rows or more (an employer over
    /// millions of rows), those are grouped instead: ordered by their smoothed adverse rate
    /// and cut into [`MAX_LEVEL_BINS`] bins of about equal rows, so that a split on a set
    /// of bins still separates the levels by how they lean (LightGBM keeps a bin per level
    /// and orders them at each node; a bin here is a `u8`). Only levels of that many rows
    /// are placed by their rate: on fewer, grouping by a noisy rate overfits (at 120,000
    /// rows it cost 0.008 of validation AUC).
    fn levels(values: impl Iterator<Item = (f64, bool)>) -> Bins {
        let (mut counts, mut adverse): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
        for (v, y) in values {
            if v >= 0.0 && v.fract() == 0.0 {
                let l = v as usize;
                if l >= counts.len() {
                    counts.resize(l + 1, 0);
                    adverse.resize(l + 1, 0);
                }
                counts[l] += 1;
                adverse[l] += u64::from(y);
            }
        }
        let mut seen: Vec<usize> = (0..counts.len()).filter(|&l| counts[l] > 0).collect();
        // The most frequent first (ties to the first level).
        seen.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
        let reliable = seen.partition_point(|&l| counts[l] >= GROUPED_LEVEL_ROWS);
        let mut groups: Vec<Vec<usize>> = if seen.len() <= MAX_LEVEL_BINS + 1 {
            seen.iter().map(|&l| vec![l]).collect()
        } else if reliable <= MAX_LEVEL_BINS {
            let mut groups: Vec<Vec<usize>> =
                seen[..MAX_LEVEL_BINS].iter().map(|&l| vec![l]).collect();
            groups.push(seen[MAX_LEVEL_BINS..].to_vec());
            groups
        } else {
            let mut groups = by_rate(&seen[..reliable], &counts, &adverse);
            groups.push(seen[reliable..].to_vec());
            groups
        };
        groups.retain(|g| !g.is_empty());
        let mut bin_of = vec![MISSING; counts.len()];
        let mut levels_of: Vec<Vec<u32>> = Vec::with_capacity(groups.len());
        for (b, group) in groups.iter().enumerate() {
            let mut set: Vec<u32> = group.iter().map(|&l| l as u32).collect();
            set.sort_unstable();
            for &l in &set {
                bin_of[l as usize] = b as u8;
            }
            levels_of.push(set);
        }
        Bins::Levels { bin_of, levels_of }
    }

    /// The threshold of a numeric split after bin `last_left` (`x < threshold` goes left).
    pub fn threshold(&self, last_left: usize) -> f64 {
        match self {
            Bins::Numeric { cuts } => cuts.get(last_left).copied().unwrap_or(f64::INFINITY),
            Bins::Levels { .. } => f64::NAN,
        }
    }

    /// The increasing level positions of `bins`.
    pub fn levels_in(&self, bins: impl Iterator<Item = usize>) -> Vec<u32> {
        let Bins::Levels { levels_of, .. } = self else {
            return Vec::new();
        };
        let mut out: Vec<u32> = bins
            .filter_map(|b| levels_of.get(b))
            .flatten()
            .copied()
            .collect();
        out.sort_unstable();
        out
    }
}

/// `levels` ordered by their adverse rate (smoothed by [`LEVEL_SMOOTH`] of hessian, as
/// rows at the overall rate: the order LightGBM's `G / (H + cat_smooth)` gives levels at a
/// tree's root) and cut into [`MAX_LEVEL_BINS`] groups of about equal rows.
fn by_rate(levels: &[usize], counts: &[u64], adverse: &[u64]) -> Vec<Vec<usize>> {
    let rows: u64 = levels.iter().map(|&l| counts[l]).sum();
    let bad: u64 = levels.iter().map(|&l| adverse[l]).sum();
    let prior = bad as f64 / rows.max(1) as f64;
    let smooth = LEVEL_SMOOTH / (prior * (1.0 - prior)).max(1e-6);
    let rate = |l: usize| (adverse[l] as f64 + smooth * prior) / (counts[l] as f64 + smooth);
    let mut ordered = levels.to_vec();
    ordered.sort_by(|&a, &b| rate(a).total_cmp(&rate(b)).then(a.cmp(&b)));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut filled = 0u64;
    for l in ordered {
        // The group this level's first row falls in, by equal shares of the rows.
        let g = (u128::from(filled) * MAX_LEVEL_BINS as u128 / u128::from(rows.max(1))) as usize;
        if g.min(groups.len()) == groups.len() {
            groups.push(Vec::new());
        }
        groups.last_mut().expect("a group was pushed").push(l);
        filled += counts[l];
    }
    groups
}

/// Bins fitted per feature, and the codes of a set of rows.
#[derive(Debug, Clone)]
pub struct Table {
    pub bins: Vec<Bins>,
    rows: usize,
    /// Column-major, `codes[f * rows + r]`: a histogram reads one feature's codes of a
    /// block of rows at a time.
    codes: Vec<u8>,
}

/// A column-major buffer of columns `rows` long, cut into blocks of `block` rows: each
/// block's part of every column, in column order (to write blocks of rows on every core).
pub fn column_blocks<T>(data: &mut [T], rows: usize, block: usize) -> Vec<Vec<&mut [T]>> {
    let mut blocks: Vec<Vec<&mut [T]>> = Vec::new();
    if rows == 0 {
        return blocks;
    }
    for column in data.chunks_mut(rows) {
        for (b, part) in column.chunks_mut(block).enumerate() {
            if b == blocks.len() {
                blocks.push(Vec::new());
            }
            blocks[b].push(part);
        }
    }
    blocks
}

impl Table {
    /// Fit each feature's bins on `fit` (rows x features of the level design; `levels[f]`:
    /// feature `f` holds level positions; `y`: each row adverse) and code its rows. A
    /// number's cuts come from at most [`CUT_SAMPLE_ROWS`] evenly spaced rows (LightGBM's
    /// `bin_construct_sample_cnt`); levels are counted on every row.
    pub fn fit(fit: ArrayView2<'_, f64>, levels: &[bool], y: &[bool]) -> Table {
        let step = fit.nrows().div_ceil(CUT_SAMPLE_ROWS).max(1);
        let bins: Vec<Bins> = (0..fit.ncols())
            .into_par_iter()
            .map(|f| {
                let col = fit.column(f);
                if levels.get(f).copied().unwrap_or(false) {
                    Bins::levels(col.iter().copied().zip(y.iter().copied()))
                } else {
                    Bins::numeric(col.iter().step_by(step).copied())
                }
            })
            .collect();
        Table::code(bins, fit)
    }

    /// Code the rows of `x` with `bins` (fitted elsewhere): blocks of rows on every core,
    /// read in `x`'s own order: a column-major design a feature's run at a time, a
    /// row-major one each row's values together (a pass per feature would read a cache
    /// line per value).
    pub fn code(bins: Vec<Bins>, x: ArrayView2<'_, f64>) -> Table {
        let rows = x.nrows();
        let mut codes = vec![0u8; rows * bins.len()];
        // Each feature's values in one run (a column-major design), or none.
        let columns: Option<Vec<&[f64]>> = (rows > 1)
            .then(|| x.columns().into_iter().map(|c| c.to_slice()).collect())
            .flatten();
        if rows > 0 {
            column_blocks(&mut codes, rows, CODE_BLOCK_ROWS)
                .into_par_iter()
                .enumerate()
                .for_each(|(b, mut outs)| {
                    let first = b * CODE_BLOCK_ROWS;
                    let len = outs.first().map_or(0, |o| o.len());
                    if let Some(columns) = &columns {
                        for ((out, b), values) in outs.iter_mut().zip(&bins).zip(columns) {
                            for (out, &v) in out.iter_mut().zip(&values[first..first + len]) {
                                *out = b.code(v);
                            }
                        }
                    } else {
                        for i in 0..len {
                            let row = x.row(first + i);
                            for ((out, b), &v) in outs.iter_mut().zip(&bins).zip(row) {
                                out[i] = b.code(v);
                            }
                        }
                    }
                });
        }
        Table { bins, rows, codes }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn features(&self) -> usize {
        self.bins.len()
    }

    /// Feature `f`'s codes, one per row.
    #[inline]
    pub fn column(&self, f: usize) -> &[u8] {
        &self.codes[f * self.rows..(f + 1) * self.rows]
    }

    /// Row `r`'s code of feature `f`.
    #[inline]
    pub fn code_of(&self, r: usize, f: usize) -> u8 {
        self.codes[f * self.rows + r]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    /// Few distinct values bin exactly; missing values take their own bin; many distinct
    /// values bin by count; and a row's bin is at most `b` exactly when its value is below
    /// cut `b`, for training values and values between them alike.
    #[test]
    fn numbers_bin_exactly_or_by_count_and_cuts_agree_with_bins() {
        let x = Array2::from_shape_vec((5, 1), vec![3.0, f64::NAN, 1.0, 3.0, 2.0]).unwrap();
        let t = Table::fit(x.view(), &[false], &[false; 5]);
        assert_eq!(t.bins[0].len(), 3);
        assert_eq!(t.column(0), [2, MISSING, 0, 2, 1]);
        assert_eq!(t.bins[0].threshold(0), 1.5);
        assert_eq!(t.bins[0].threshold(1), 2.5);
        let n = 3000;
        let x = Array2::from_shape_fn((n, 1), |(i, _)| (i as f64 * 0.37).sin());
        let t = Table::fit(x.view(), &[false], &[false; 5]);
        let b = &t.bins[0];
        assert!(b.len() <= MAX_BINS && b.len() > 200);
        let probe = Array2::from_shape_fn((n, 1), |(i, _)| (i as f64 * 0.71 + 0.3).sin());
        let other = Table::code(t.bins.clone(), probe.view());
        for last in 0..b.len() - 1 {
            let c = b.threshold(last);
            for i in 0..n {
                assert_eq!(x[[i, 0]] < c, usize::from(t.code_of(i, 0)) <= last);
                assert_eq!(probe[[i, 0]] < c, usize::from(other.code_of(i, 0)) <= last);
            }
        }
    }

    /// Up to 255 levels a bin each, the most frequent first; unseen levels the missing bin.
    /// A design coded a column at a time (column-major) and a row at a time (row-major)
    /// gives the same codes, over several blocks of rows.
    #[test]
    fn either_layout_codes_alike() {
        let (n, p) = (3 * CODE_BLOCK_ROWS + 17, 3);
        let value = |r: usize, f: usize| match (r * 31 + f * 7) % 13 {
            0 => f64::NAN,
            k => (k * (f + 1)) as f64 * 0.25,
        };
        let rows = Array2::from_shape_fn((n, p), |(r, f)| value(r, f));
        let columns = Array2::from_shape_fn((n, p).f(), |(r, f)| value(r, f));
        assert!(columns.t().is_standard_layout());
        let levels = [false, true, false];
        let y: Vec<bool> = (0..n).map(|r| r % 5 == 0).collect();
        let a = Table::fit(rows.view(), &levels, &y);
        let b = Table::fit(columns.view(), &levels, &y);
        assert_eq!(a.codes, b.codes);
        assert!(a.column(0).contains(&MISSING));
    }

    #[test]
    fn few_levels_bin_one_each() {
        let v = [2.0, 0.0, 2.0, 5.0, 2.0, 0.0];
        let x = Array2::from_shape_vec((6, 1), v.to_vec()).unwrap();
        let t = Table::fit(x.view(), &[true], &[false; 6]);
        let b = &t.bins[0];
        assert_eq!(b.len(), 3);
        assert_eq!([b.code(2.0), b.code(0.0), b.code(5.0)], [0, 1, 2]);
        assert_eq!([b.code(1.0), b.code(f64::NAN), b.code(9.0)], [MISSING; 3]);
        assert_eq!(b.levels_in([0, 2].into_iter()), [2, 5]);
    }

    /// More than 255 levels, few of them of `GROUPED_LEVEL_ROWS` rows: the most frequent
    /// 254 a bin each, the rest one bin, whatever their rates.
    #[test]
    fn many_small_levels_bin_by_frequency() {
        let (mut v, mut y) = (Vec::new(), Vec::new());
        for l in 0..300u32 {
            // Level l appears 300 - l times; the rarer levels all adverse.
            let n = 300 - l as usize;
            v.extend(std::iter::repeat_n(f64::from(l), n));
            y.extend(std::iter::repeat_n(l >= 254, n));
        }
        let x = Array2::from_shape_vec((v.len(), 1), v).unwrap();
        let t = Table::fit(x.view(), &[true], &y);
        let b = &t.bins[0];
        assert_eq!(b.len(), MAX_LEVEL_BINS + 1);
        assert_eq!([b.code(0.0), b.code(253.0)], [0, 253]);
        assert_eq!([b.code(254.0), b.code(299.0)], [254, 254]);
        assert_eq!([b.code(f64::NAN), b.code(400.0)], [MISSING, MISSING]);
        assert_eq!(b.levels_in([3, 254].into_iter()).len(), 1 + 46);
    }

    /// More than 254 levels of `GROUPED_LEVEL_ROWS` rows: those grouped into bins by their
    /// smoothed adverse rate, in order, of about equal rows; rarer ones one bin.
    #[test]
    fn many_large_levels_bin_by_adverse_rate() {
        let (mut v, mut y) = (Vec::new(), Vec::new());
        // 1,000 levels of 100 rows, level l with (l * 7) % 101 of them adverse (a rate
        // unrelated to the level's position); 50 levels of 5 rows, none adverse.
        for l in 0..1000u32 {
            for i in 0..100 {
                v.push(f64::from(l));
                y.push(i < (l * 7) % 101);
            }
        }
        for l in 1000..1050u32 {
            v.extend([f64::from(l); 5]);
            y.extend([false; 5]);
        }
        let x = Array2::from_shape_vec((v.len(), 1), v).unwrap();
        let t = Table::fit(x.view(), &[true], &y);
        let b = &t.bins[0];
        assert_eq!(b.len(), MAX_LEVEL_BINS + 1);
        let adverse = |l: u32| (l * 7) % 101;
        // Bins follow the adverse rate: a level's bin never falls as its rate rises.
        let mut by_rate: Vec<u32> = (0..1000).collect();
        by_rate.sort_by_key(|&l| (adverse(l), l));
        let codes: Vec<u8> = by_rate.iter().map(|&l| b.code(f64::from(l))).collect();
        assert!(codes.windows(2).all(|w| w[0] <= w[1]), "{codes:?}");
        assert_eq!(codes[0], 0);
        assert_eq!(*codes.last().unwrap() as usize, MAX_LEVEL_BINS - 1);
        // About equal rows: 1,000 levels over 254 bins, 3 or 4 levels each.
        for bin in 0..MAX_LEVEL_BINS {
            let n = b.levels_in([bin].into_iter()).len();
            assert!((3..=5).contains(&n), "bin {bin}: {n} levels");
        }
        // The rare levels share the last bin.
        assert_eq!(b.code(1000.0), MAX_LEVEL_BINS as u8);
        assert_eq!(b.code(1049.0), MAX_LEVEL_BINS as u8);
        assert_eq!(b.levels_in([MAX_LEVEL_BINS].into_iter()).len(), 50);
        assert_eq!(b.code(2000.0), MISSING);
    }
}
