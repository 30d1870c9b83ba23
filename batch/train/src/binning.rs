//! Optimal binning of one characteristic for a scorecard: fine classes merged into coarse
//! bins of the highest information value under the scorecard's constraints, and each bin's
//! weight of evidence.
//!
//! Fine classes are the levels of a category, or at most [`Binning::fine_classes`] pre-bins of
//! a number (cut by a one-variable CART tree, as optbinning pre-bins). Coarse bins are runs of adjacent fine classes
//! (a category's levels in the order of their adverse rates, so that merged levels have
//! similar WoE); the run partition is chosen exactly, by dynamic programming over (last run,
//! number of runs), to maximise IV subject to: adverse rates strictly monotone across the
//! bins (ascending or descending; `auto` tries both and keeps the higher IV), each bin at
//! least `min_share` of the rows and holding both outcomes, at most `max_bins` bins.
//! Missing values have a bin of their own (empty if the training rows have none).
//!
//! WoE and IV as optbinning defines them: `WoE_b = ln((good_b / goods) / (bad_b / bads))`
//! (higher is lower risk), `IV = sum_b (good_b / goods - bad_b / bads) WoE_b`; an empty bin
//! has WoE 0.

use serde::Serialize;

/// The WoE trend across a number's bins (a category's bins are in rate order anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Auto,
    /// The adverse rate rises with the value (WoE falls).
    Ascending,
    Descending,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Binning {
    pub fine_classes: usize,
    pub min_share: f64,
    pub max_bins: usize,
}

impl Default for Binning {
    fn default() -> Self {
        Binning {
            fine_classes: 20,
            min_share: 0.05,
            max_bins: 6,
        }
    }
}

/// Rows of one bin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub rows: usize,
    pub adverse: usize,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.rows += o.rows;
        self.adverse += o.adverse;
    }

    pub fn good(&self) -> usize {
        self.rows - self.adverse
    }

    fn rate(&self) -> f64 {
        self.adverse as f64 / self.rows as f64
    }
}

/// Weight of evidence of a bin against the totals (0 for an empty bin).
pub fn woe(bin: Counts, total: Counts) -> f64 {
    if bin.rows == 0 {
        return 0.0;
    }
    let g = bin.good() as f64 / total.good() as f64;
    let b = bin.adverse as f64 / total.adverse as f64;
    (g / b).ln()
}

/// A bin's share of the information value.
pub fn iv(bin: Counts, total: Counts) -> f64 {
    if bin.rows == 0 {
        return 0.0;
    }
    let g = bin.good() as f64 / total.good() as f64;
    let b = bin.adverse as f64 / total.adverse as f64;
    (g - b) * woe(bin, total)
}

/// A number's bins: `cuts[i]` is the upper edge (exclusive) of bin `i`, so a value `v` falls
/// in the first bin with `v < cuts[i]`, or the last (one more bin than cuts).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NumericBins {
    pub cuts: Vec<f64>,
    pub counts: Vec<Counts>,
    pub missing: Counts,
    pub trend: Trend,
}

/// Fine classes of a number: (upper edge, counts), the last edge +infinity. Cut as
/// optbinning pre-bins (a CART tree on the one value, grown best first to at most `fine`
/// leaves of at least `min_share` of the values each, Gini impurity), so the coarse bins
/// can only merge what a tree found worth telling apart; thresholds halfway between the
/// values either side.
fn fine_numeric(values: &[(f64, bool)], fine: usize, min_share: f64) -> Vec<(f64, Counts)> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    let min_leaf = ((min_share * n as f64).ceil() as usize).max(1);
    // Prefix counts of adverse rows.
    let mut bad = vec![0usize; n + 1];
    for (i, v) in values.iter().enumerate() {
        bad[i + 1] = bad[i] + usize::from(v.1);
    }
    // Gini impurity times rows of [a, b): rows - (bad^2 + good^2) / rows.
    let impurity = |a: usize, b: usize| {
        let r = (b - a) as f64;
        let k = (bad[b] - bad[a]) as f64;
        r - (k * k + (r - k) * (r - k)) / r
    };
    // The best cut of [a, b): (gain, position), cutting only between distinct values.
    let best_cut = |a: usize, b: usize| -> Option<(f64, usize)> {
        let parent = impurity(a, b);
        let mut best: Option<(f64, usize)> = None;
        for m in (a + min_leaf)..=(b.saturating_sub(min_leaf)) {
            if m <= a || m >= b || values[m].0 == values[m - 1].0 {
                continue;
            }
            let gain = parent - impurity(a, m) - impurity(m, b);
            if gain > 1e-12 && best.is_none_or(|x| gain > x.0) {
                best = Some((gain, m));
            }
        }
        best
    };
    // Leaves as (first row, end row, best cut).
    type Leaf = (usize, usize, Option<(f64, usize)>);
    let mut leaves: Vec<Leaf> = vec![(0, n, best_cut(0, n))];
    while leaves.len() < fine.max(1) {
        // The leaf whose best cut gains most (ties: the leftmost).
        let Some(k) = (0..leaves.len())
            .filter(|&k| leaves[k].2.is_some())
            .max_by(|&x, &y| {
                let (gx, gy) = (leaves[x].2.unwrap().0, leaves[y].2.unwrap().0);
                gx.total_cmp(&gy).then(y.cmp(&x))
            })
        else {
            break;
        };
        let (a, b, Some((_, m))) = leaves[k] else {
            break;
        };
        leaves.splice(k..=k, [(a, m, best_cut(a, m)), (m, b, best_cut(m, b))]);
    }
    leaves
        .iter()
        .map(|&(a, b, _)| {
            let edge = if b == n {
                f64::INFINITY
            } else {
                let (lo, hi) = (values[b - 1].0, values[b].0);
                let mid = lo + (hi - lo) / 2.0;
                if mid > lo { mid } else { hi }
            };
            (
                edge,
                Counts {
                    rows: b - a,
                    adverse: bad[b] - bad[a],
                },
            )
        })
        .collect()
}

/// The best partition of `fine` (in order) into runs: the index where each run ends.
/// `extra` is the IV of the bins outside the runs (the missing bin); `n_all` the rows the
/// share is counted over.
// The table is indexed by run count, run start and run end at once: index loops read best.
#[allow(clippy::needless_range_loop)]
fn best_runs(
    fine: &[Counts],
    total: Counts,
    n_all: usize,
    b: &Binning,
    ascending: bool,
) -> Option<(f64, Vec<usize>)> {
    let m = fine.len();
    let k_max = b.max_bins.max(1).min(m);
    let min_rows = (b.min_share * n_all as f64).ceil() as usize;
    // Prefix sums for run counts.
    let mut prefix = vec![Counts::default(); m + 1];
    for i in 0..m {
        prefix[i + 1] = prefix[i];
        prefix[i + 1].add(fine[i]);
    }
    let run = |i: usize, j: usize| Counts {
        rows: prefix[j].rows - prefix[i].rows,
        adverse: prefix[j].adverse - prefix[i].adverse,
    };
    let ok = |c: Counts| c.rows >= min_rows && c.adverse > 0 && c.good() > 0;
    // best[k][i][j]: the highest IV of runs covering [0, j) in k + 1 runs, the last [i, j).
    let neg = f64::NEG_INFINITY;
    let mut best = vec![vec![vec![neg; m + 1]; m + 1]; k_max];
    let mut from = vec![vec![vec![usize::MAX; m + 1]; m + 1]; k_max];
    for j in 1..=m {
        if ok(run(0, j)) {
            best[0][0][j] = iv(run(0, j), total);
        }
    }
    for k in 1..k_max {
        for j in 1..=m {
            for i in 1..j {
                let last = run(i, j);
                if !ok(last) {
                    continue;
                }
                let mut top = neg;
                let mut arg = usize::MAX;
                for h in 0..i {
                    let v = best[k - 1][h][i];
                    if v == neg {
                        continue;
                    }
                    let prev = run(h, i);
                    let monotone = if ascending {
                        prev.rate() < last.rate()
                    } else {
                        prev.rate() > last.rate()
                    };
                    if monotone && v > top {
                        top = v;
                        arg = h;
                    }
                }
                if arg != usize::MAX {
                    best[k][i][j] = top + iv(last, total);
                    from[k][i][j] = arg;
                }
            }
        }
    }
    let mut end: Option<(f64, usize, usize)> = None;
    for (k, layer) in best.iter().enumerate() {
        for (i, row) in layer.iter().enumerate() {
            let v = row[m];
            if v > end.map_or(neg, |e| e.0) + 1e-15 {
                end = Some((v, k, i));
            }
        }
    }
    let (value, mut k, mut i) = end?;
    let mut ends = vec![m];
    let mut j = m;
    while k > 0 {
        let h = from[k][i][j];
        ends.push(i);
        j = i;
        i = h;
        k -= 1;
    }
    ends.reverse();
    Some((value, ends))
}

/// Bin a number: `values` are the training rows' values (NaN: missing) and outcomes.
pub fn bin_numeric(values: &[(f64, bool)], b: &Binning, trend: Trend) -> NumericBins {
    let mut present: Vec<(f64, bool)> = values.iter().copied().filter(|v| !v.0.is_nan()).collect();
    present.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut missing = Counts::default();
    for v in values.iter().filter(|v| v.0.is_nan()) {
        missing.add(Counts {
            rows: 1,
            adverse: usize::from(v.1),
        });
    }
    let mut total = missing;
    for &(_, bad) in &present {
        total.add(Counts {
            rows: 1,
            adverse: usize::from(bad),
        });
    }
    let fine = fine_numeric(&present, b.fine_classes, b.min_share);
    let counts: Vec<Counts> = fine.iter().map(|f| f.1).collect();
    let tries: &[(bool, Trend)] = match trend {
        Trend::Ascending => &[(true, Trend::Ascending)],
        Trend::Descending => &[(false, Trend::Descending)],
        Trend::Auto => &[(true, Trend::Ascending), (false, Trend::Descending)],
    };
    let mut chosen: Option<(f64, Vec<usize>, Trend)> = None;
    if total.adverse > 0 && total.good() > 0 {
        for &(asc, t) in tries {
            if let Some((v, ends)) = best_runs(&counts, total, total.rows, b, asc)
                && chosen.as_ref().is_none_or(|c| v > c.0 + 1e-15)
            {
                chosen = Some((v, ends, t));
            }
        }
    }
    let (ends, trend) = match chosen {
        Some((_, ends, t)) => (ends, t),
        // Nothing feasible: one bin of every present value.
        None => (vec![fine.len()], trend),
    };
    let mut cuts = Vec::with_capacity(ends.len());
    let mut bins = Vec::with_capacity(ends.len());
    let mut start = 0;
    for &e in &ends {
        let mut c = Counts::default();
        for f in &fine[start..e] {
            c.add(f.1);
        }
        bins.push(c);
        cuts.push(fine.get(e.max(1) - 1).map_or(f64::INFINITY, |f| f.0));
        start = e;
    }
    // The last bin is open above.
    cuts.pop();
    NumericBins {
        cuts,
        counts: bins,
        missing,
        trend,
    }
}

/// A category's bins: each level's bin, and the bins' counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoricalBins {
    /// Per level (in the given order), its bin.
    pub level_bins: Vec<usize>,
    pub counts: Vec<Counts>,
}

/// Bin a category: `levels[i]` counts level `i`'s training rows. Levels are ordered by
/// adverse rate (ties by index), then merged into runs as a number's fine classes are.
pub fn bin_categorical(levels: &[Counts], b: &Binning) -> CategoricalBins {
    let mut order: Vec<usize> = (0..levels.len()).filter(|&i| levels[i].rows > 0).collect();
    order.sort_by(|&a, &c| {
        levels[a]
            .rate()
            .total_cmp(&levels[c].rate())
            .then(a.cmp(&c))
    });
    let fine: Vec<Counts> = order.iter().map(|&i| levels[i]).collect();
    let mut total = Counts::default();
    for f in &fine {
        total.add(*f);
    }
    let ends = if total.adverse > 0 && total.good() > 0 {
        best_runs(&fine, total, total.rows, b, true).map(|r| r.1)
    } else {
        None
    }
    .unwrap_or(vec![fine.len()]);
    let mut level_bins = vec![usize::MAX; levels.len()];
    let mut counts = Vec::new();
    let mut start = 0;
    for (bin, &e) in ends.iter().enumerate() {
        let mut c = Counts::default();
        for &lvl in &order[start..e] {
            level_bins[lvl] = bin;
            c.add(levels[lvl]);
        }
        counts.push(c);
        start = e;
    }
    // A level without training rows joins the riskiest bin.
    let riskiest = (0..counts.len())
        .max_by(|&a, &c| counts[a].rate().total_cmp(&counts[c].rate()))
        .unwrap_or(0);
    for b in &mut level_bins {
        if *b == usize::MAX {
            *b = riskiest;
        }
    }
    CategoricalBins { level_bins, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every partition of the fine classes, by brute force: the DP's IV is the best
    /// feasible one.
    #[test]
    fn the_partition_is_the_best_feasible_one() {
        let fine = [
            Counts {
                rows: 50,
                adverse: 5,
            },
            Counts {
                rows: 40,
                adverse: 8,
            },
            Counts {
                rows: 30,
                adverse: 4,
            },
            Counts {
                rows: 60,
                adverse: 15,
            },
            Counts {
                rows: 20,
                adverse: 9,
            },
            Counts {
                rows: 45,
                adverse: 20,
            },
            Counts {
                rows: 25,
                adverse: 6,
            },
        ];
        let mut total = Counts::default();
        for f in &fine {
            total.add(*f);
        }
        let b = Binning {
            fine_classes: 7,
            min_share: 0.08,
            max_bins: 4,
        };
        let (got, ends) = best_runs(&fine, total, total.rows, &b, true).unwrap();
        let mut want = f64::NEG_INFINITY;
        for mask in 0u32..(1 << (fine.len() - 1)) {
            let mut runs = Vec::new();
            let mut c = Counts::default();
            for (i, f) in fine.iter().enumerate() {
                c.add(*f);
                if i == fine.len() - 1 || mask >> i & 1 == 1 {
                    runs.push(c);
                    c = Counts::default();
                }
            }
            let feasible = runs.len() <= 4
                && runs.iter().all(|r| {
                    r.rows as f64 >= 0.08 * total.rows as f64 && r.adverse > 0 && r.good() > 0
                })
                && runs.windows(2).all(|w| w[0].rate() < w[1].rate());
            if feasible {
                want = want.max(runs.iter().map(|r| iv(*r, total)).sum());
            }
        }
        assert!((got - want).abs() < 1e-12, "{got} against {want}");
        assert_eq!(*ends.last().unwrap(), fine.len());
    }

    /// Bins of a number keep the trend asked for, their minimum share, and route values by
    /// their cuts; missing values count apart.
    #[test]
    fn numeric_bins_keep_their_constraints() {
        let values: Vec<(f64, bool)> = (0..2000)
            .map(|i| {
                let v = if i % 13 == 0 {
                    f64::NAN
                } else {
                    ((i * 7919) % 1000) as f64
                };
                let bad = ((i * 31 % 100) as f64) < 10.0 + v.max(0.0) / 25.0;
                (v, bad)
            })
            .collect();
        let b = Binning::default();
        let bins = bin_numeric(&values, &b, Trend::Auto);
        assert_eq!(bins.trend, Trend::Ascending);
        assert!(bins.counts.len() >= 2 && bins.counts.len() <= 6);
        let rates: Vec<f64> = bins.counts.iter().map(Counts::rate).collect();
        assert!(rates.windows(2).all(|w| w[0] < w[1]), "{rates:?}");
        assert!(bins.counts.iter().all(|c| c.rows >= 100));
        assert_eq!(
            bins.missing.rows,
            values.iter().filter(|v| v.0.is_nan()).count()
        );
        let routed: usize = bins.counts.iter().map(|c| c.rows).sum();
        assert_eq!(routed + bins.missing.rows, values.len());
        let descending = bin_numeric(&values, &b, Trend::Descending);
        let r: Vec<f64> = descending.counts.iter().map(Counts::rate).collect();
        assert!(r.windows(2).all(|w| w[0] > w[1]), "{r:?}");
    }
}
