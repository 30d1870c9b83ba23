//! The gradient boosting family: trees fitted in turn to the log loss's gradient and hessian
//! (second-order gains on gradient histograms, L2-regularised leaf weights, as XGBoost and
//! LightGBM fit them), grown leaf-wise (the leaf whose best split gains most is split next,
//! up to `num_leaves` leaves and `max_depth` levels; without `num_leaves`, every level to
//! `max_depth`), a missing number sent down whichever side of each split gains most, a
//! categorical feature split natively on a set of its levels (LightGBM's method: the
//! levels ordered by their gradient statistics, the best prefix from either end), each tree
//! on a random share of the rows and features, early-stopped on the held-out rows' log
//! loss, and monotone constraints kept exactly.
//!
//! Why not a library: forust-ml 0.8.0 and perpetual 2.3.0 (the pure-Rust boosters) clip a
//! leaf weight to the bounds a monotone split set above it only when the leaf's own split
//! is on a constrained input (`utils::constrained_weight` returns the raw weight for an
//! unconstrained one), so a later split on another input breaks the constraint; on the
//! test data below forust's trees rose with an input constrained to fall in 59 of 1,000
//! trees. Here every leaf is clipped to the bounds of every constrained split above it, as
//! XGBoost does, and `tests` checks monotonicity on every tree.
//!
//! Inputs are the level design ([`crate::table`]), binned once per fit into `u8` codes.
//! A node's histogram sums its rows' gradient pairs per bin in fixed point (exact integer
//! sums: the same in any order), a few features per task on every core; the larger child's
//! is its parent's less the smaller child's. Every random choice comes from the seed, so a
//! fit is the same on any number of threads. The
//! trees are riskfn's own [`Boosted`], scored by the serving code; covers are the nodes'
//! hessian sums (TreeSHAP's weights, as for XGBoost).

use ndarray::Array2;
use rayon::prelude::*;
use riskfn_core::model::{Boosted, Model, Node, Tree, sigmoid};

use crate::bins::SplitMix;
use crate::table::{Bins, MISSING, Table};
use crate::{Family, Fitted, Params, Result, Rows, TrainError, optional, params};

pub const FAMILY: &str = "gradient_boosting";

#[derive(Debug, Clone, PartialEq)]
pub struct BoostingSpec {
    pub max_depth: Vec<usize>,
    /// Most leaves a tree grows, leaf-wise (LightGBM's `num_leaves`); empty: every level
    /// to `max_depth`.
    pub num_leaves: Vec<usize>,
    pub learning_rate: Vec<f64>,
    /// Least hessian (sum of p (1 - p)) a leaf holds: XGBoost's `min_child_weight`.
    pub min_leaf_weight: Vec<f64>,
    /// Fewest rows a leaf holds (LightGBM's `min_child_samples`).
    pub min_leaf_rows: Vec<usize>,
    /// Most trees; fewer when the held-out log loss stops improving.
    pub max_trees: usize,
    pub early_stopping_rounds: usize,
    /// Share of rows each tree is fitted on, and of inputs it may split on.
    pub subsample: f64,
    pub colsample: f64,
    /// L2 penalty on leaf weights (XGBoost's `lambda`).
    pub l2: f64,
    /// Per input, +1 if the adverse probability may only rise with it, -1 only fall.
    pub monotone: Vec<(usize, i8)>,
}

impl Default for BoostingSpec {
    fn default() -> Self {
        BoostingSpec {
            max_depth: vec![2, 3, 5],
            num_leaves: Vec::new(),
            learning_rate: vec![0.05, 0.1],
            min_leaf_weight: vec![1.0, 5.0],
            min_leaf_rows: vec![1],
            max_trees: 2000,
            early_stopping_rounds: 50,
            subsample: 0.8,
            colsample: 0.8,
            l2: 1.0,
            monotone: Vec::new(),
        }
    }
}

/// LightGBM's defaults for categorical splits: a feature of at most this many levels is
/// split one level against the rest (`max_cat_to_onehot`)...
const ONE_VS_REST_LEVELS: usize = 4;
/// ...otherwise on at most this many levels (`max_cat_threshold`)...
const MAX_SET_LEVELS: usize = 32;
/// ...ordered by `G / (H + CAT_SMOOTH)` (`cat_smooth`), with this extra L2 (`cat_l2`)...
const CAT_SMOOTH: f64 = 10.0;
const CAT_L2: f64 = 10.0;
/// ...each level holding at least this many of the node's rows (`min_data_per_group`,
/// LightGBM's 100, or a fiftieth of a smaller node's rows, so small sets' levels still count).
const MIN_LEVEL_ROWS: u32 = 100;

/// One grid point's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub max_depth: usize,
    pub num_leaves: Option<usize>,
    pub learning_rate: f64,
    pub min_leaf_weight: f64,
    pub min_leaf_rows: usize,
}

impl Point {
    fn max_leaves(&self) -> usize {
        self.num_leaves
            .unwrap_or(1 << self.max_depth.min(20))
            .max(2)
    }
}

impl BoostingSpec {
    fn points(&self) -> Vec<Point> {
        let leaves: Vec<Option<usize>> = if self.num_leaves.is_empty() {
            vec![None]
        } else {
            self.num_leaves.iter().map(|&l| Some(l)).collect()
        };
        let mut out = Vec::new();
        for &max_depth in &self.max_depth {
            for &num_leaves in &leaves {
                for &learning_rate in &self.learning_rate {
                    for &min_leaf_weight in &self.min_leaf_weight {
                        for &min_leaf_rows in &self.min_leaf_rows {
                            out.push(Point {
                                max_depth,
                                num_leaves,
                                learning_rate,
                                min_leaf_weight,
                                min_leaf_rows,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    fn direction(&self, input: usize) -> i8 {
        self.monotone
            .iter()
            .find(|(i, _)| *i == input)
            .map_or(0, |(_, d)| d.signum())
    }
}

/// Gradient and hessian sums and the rows they cover.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    g: f64,
    h: f64,
    n: u32,
}

impl Sums {
    #[inline]
    fn add(&mut self, o: Sums) {
        self.g += o.g;
        self.h += o.h;
        self.n += o.n;
    }

    fn minus(self, o: Sums) -> Sums {
        Sums {
            g: self.g - o.g,
            h: self.h - o.h,
            n: self.n - o.n,
        }
    }
}

/// A row's gradient pair, or a histogram cell's sum of them, in fixed point with the row
/// count in the hessian's low bits (see [`Fixed`]). Integer sums are exact, so a histogram
/// is the same to the bit however its rows are split between threads, and a larger child's
/// histogram (its parent's less its sibling's) is exactly what summing it would give.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cell {
    g: i64,
    h: i64,
}

impl Cell {
    #[inline]
    fn add(&mut self, o: Cell) {
        // Sums cannot overflow by `Fixed`'s scales; wrapping keeps overflow checks out of
        // the innermost loop in test builds.
        self.g = self.g.wrapping_add(o.g);
        self.h = self.h.wrapping_add(o.h);
    }

    #[inline]
    fn sub(&mut self, o: Cell) {
        self.g = self.g.wrapping_sub(o.g);
        self.h = self.h.wrapping_sub(o.h);
    }
}

/// The fixed-point scales for a fit of `rows` rows (`rows < 2^count_bits`): a gradient
/// (|g| <= 1) times `2^(62 - count_bits)` and a hessian (h <= 1/4) times
/// `2^(64 - 2 count_bits)`, shifted up by `count_bits` with a 1 below it, so that sums of
/// up to `rows` rows stay below 2^63 and the low bits count them. At 2M rows a hessian is
/// kept to 2^-22 (LightGBM quantizes gradients far more coarsely, to a few bits).
#[derive(Debug, Clone, Copy)]
struct Fixed {
    g_scale: f64,
    h_scale: f64,
    count_bits: u32,
    /// The scales' inverses (powers of two: multiplying by one is exactly dividing).
    g_unit: f64,
    h_unit: f64,
}

impl Fixed {
    fn new(rows: usize) -> Fixed {
        let count_bits = (usize::BITS - rows.leading_zeros()).clamp(1, 30);
        let (g_bits, h_bits) = (62 - count_bits as i32, 64 - 2 * count_bits as i32);
        Fixed {
            g_scale: 2f64.powi(g_bits),
            h_scale: 2f64.powi(h_bits),
            count_bits,
            g_unit: 2f64.powi(-g_bits),
            h_unit: 2f64.powi(-h_bits),
        }
    }

    /// One row's pair.
    fn cell(&self, g: f64, h: f64) -> Cell {
        let hq = (h.clamp(0.0, 0.25) * self.h_scale).round() as i64;
        Cell {
            g: (g.clamp(-1.0, 1.0) * self.g_scale).round() as i64,
            h: (hq << self.count_bits) | 1,
        }
    }

    fn sums(&self, c: Cell) -> Sums {
        Sums {
            g: c.g as f64 * self.g_unit,
            h: (c.h >> self.count_bits) as f64 * self.h_unit,
            n: (c.h & ((1 << self.count_bits) - 1)) as u32,
        }
    }
}

/// Cells a feature has in a histogram: one per code, [`MISSING`] last.
const STRIDE: usize = 256;

/// Per feature, a [`Cell`] per bin code.
#[derive(Debug, Clone)]
struct Histogram(Vec<[Cell; STRIDE]>);

impl Histogram {
    fn zero(features: usize) -> Histogram {
        Histogram(vec![[Cell::default(); STRIDE]; features])
    }

    fn sub(&mut self, o: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            for (a, b) in a.iter_mut().zip(b) {
                a.sub(*b);
            }
        }
    }
}

/// How a split sends a row's code: numbers after a bin (missing to one side), levels by
/// a set of bins (the missing bin, an unseen level, always right).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    Below { last_left: u8, missing_left: bool },
    In([u64; 4]),
}

impl Rule {
    #[inline]
    fn left(&self, code: u8) -> bool {
        match *self {
            Rule::Below {
                last_left,
                missing_left,
            } => {
                if code == MISSING {
                    missing_left
                } else {
                    code <= last_left
                }
            }
            Rule::In(mask) => mask[usize::from(code >> 6)] >> (code & 63) & 1 == 1,
        }
    }
}

/// The best split found for a leaf.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    rule: Rule,
    gain: f64,
    left: Sums,
    weights: (f64, f64),
}

/// A leaf of the tree being grown: its rows (`order[start..end]`), sums, the weight bounds
/// monotone splits above it set, its histogram and best split.
struct Open {
    node: usize,
    start: usize,
    end: usize,
    sums: Sums,
    bounds: (f64, f64),
    depth: usize,
    hist: Option<Histogram>,
    best: Option<Split>,
}

/// A grown tree, how binned rows are routed through it, and the rows it was grown on in
/// leaf order (`order`), with each leaf's value and range of them.
struct Grown {
    tree: Tree,
    route: Vec<Option<(usize, Rule)>>,
    order: Vec<u32>,
    leaves: Vec<(f64, std::ops::Range<usize>)>,
}

/// What one tree is grown with.
struct Grower<'a> {
    table: &'a Table,
    grad: &'a [Cell],
    fixed: Fixed,
    spec: &'a BoostingSpec,
    point: Point,
    /// Whether the tree may split on each feature.
    active: Vec<bool>,
}

/// Below this many rows a node's histogram is summed on one core.
const PARALLEL_ROWS: usize = 4096;
/// A histogram task's share: this many features (one core's work), read this many rows at
/// a time, so that a block's gradient pairs stay in the core's first-level cache while
/// its features' cells are added to.
const TASK_FEATURES: usize = 8;
const BLOCK_ROWS: usize = 2048;

impl Grower<'_> {
    fn weight(&self, s: Sums, (lo, hi): (f64, f64)) -> f64 {
        (-s.g / (s.h + self.spec.l2)).clamp(lo, hi)
    }

    /// The loss reduction a leaf of weight `w` brings (XGBoost's gain given weight).
    fn gain_of(&self, s: Sums, w: f64, l2: f64) -> f64 {
        -(2.0 * s.g * w + (s.h + l2) * w * w)
    }

    /// The histogram of `rows` (LightGBM's column-wise layout): their gradient pairs
    /// gathered once in row order, then per task a few features' codes read block by block,
    /// four features to a pass over a block (one load of each row's pair for four adds).
    fn histogram(&self, rows: &[u32]) -> Histogram {
        let p = self.table.features();
        let mut hist = Histogram::zero(p);
        let ordered: Vec<Cell> = if rows.len() < PARALLEL_ROWS {
            rows.iter().map(|&r| self.grad[r as usize]).collect()
        } else {
            let pair = |&r: &u32| self.grad[r as usize];
            rows.par_iter()
                .with_min_len(PARALLEL_ROWS)
                .map(pair)
                .collect()
        };
        let fill = |(k, chunk): (usize, &mut [[Cell; STRIDE]])| {
            let mine: Vec<usize> = (0..chunk.len())
                .filter(|&j| self.active[k * TASK_FEATURES + j])
                .collect();
            for (block, pairs) in rows.chunks(BLOCK_ROWS).zip(ordered.chunks(BLOCK_ROWS)) {
                for four in mine.chunks(4) {
                    if let &[a, b, c, d] = four {
                        let cols = [a, b, c, d].map(|j| self.table.column(k * TASK_FEATURES + j));
                        let Ok([ha, hb, hc, hd]) = chunk.get_disjoint_mut([a, b, c, d]) else {
                            unreachable!("distinct features")
                        };
                        for (&r, &pair) in block.iter().zip(pairs) {
                            let r = r as usize;
                            ha[usize::from(cols[0][r])].add(pair);
                            hb[usize::from(cols[1][r])].add(pair);
                            hc[usize::from(cols[2][r])].add(pair);
                            hd[usize::from(cols[3][r])].add(pair);
                        }
                    } else {
                        for &j in four {
                            let codes = self.table.column(k * TASK_FEATURES + j);
                            for (&r, &pair) in block.iter().zip(pairs) {
                                chunk[j][usize::from(codes[r as usize])].add(pair);
                            }
                        }
                    }
                }
            }
        };
        if rows.len() < PARALLEL_ROWS {
            hist.0.chunks_mut(TASK_FEATURES).enumerate().for_each(fill);
        } else {
            hist.0
                .par_chunks_mut(TASK_FEATURES)
                .enumerate()
                .for_each(fill);
        }
        hist
    }

    fn allowed(&self, l: Sums, r: Sums) -> bool {
        let (rows, weight) = (
            self.point.min_leaf_rows.max(1) as u32,
            self.point.min_leaf_weight,
        );
        l.n >= rows && r.n >= rows && l.h >= weight && r.h >= weight && r.h > 0.0 && l.h > 0.0
    }

    fn best_split(&self, open: &Open) -> Option<Split> {
        let hist = open.hist.as_ref()?;
        // Features in parallel, gathered in order: the same choice on any number of threads.
        let per_feature: Vec<Option<Split>> = (0..self.table.features())
            .into_par_iter()
            .map(|f| {
                if !self.active[f] {
                    return None;
                }
                let mut cells = [Sums::default(); STRIDE];
                for (s, &c) in cells.iter_mut().zip(&hist.0[f]) {
                    *s = self.fixed.sums(c);
                }
                match &self.table.bins[f] {
                    b @ Bins::Numeric { .. } => self.numeric_split(f, b.len(), &cells, open),
                    b @ Bins::Levels { .. } => self.level_split(f, b.len(), &cells, open),
                }
            })
            .collect();
        // The best gain; the first feature wins ties.
        per_feature
            .into_iter()
            .flatten()
            .fold(None, |best: Option<Split>, s| match best {
                Some(b) if b.gain >= s.gain => Some(b),
                _ => Some(s),
            })
    }

    /// A number's best split without monotone bounds (the common case): every threshold's
    /// gain `G_l^2 / (H_l + l2) + G_r^2 / (H_r + l2)` computed in one branch-free pass the
    /// compiler vectorises, then chosen among by [`Self::best_threshold`] as the bounded
    /// case's are.
    fn free_numeric_split(
        &self,
        f: usize,
        bins: usize,
        cells: &[Sums],
        open: &Open,
    ) -> Option<Split> {
        let (total, l2) = (open.sums, self.spec.l2);
        let k = bins.saturating_sub(1).min(STRIDE - 1);
        let missing = cells[usize::from(MISSING)];
        let leaf = |g: f64, h: f64| g * g / (h + l2);
        let parent = leaf(total.g, total.h);
        let (mut lg, mut lh) = ([0.0; STRIDE], [0.0; STRIDE]);
        let mut acc = Sums::default();
        for b in 0..k {
            acc.add(cells[b]);
            (lg[b], lh[b]) = (acc.g, acc.h);
        }
        let sides: &[bool] = if missing.n > 0 {
            &[false, true]
        } else {
            &[false]
        };
        let mut gains = [[0.0; STRIDE]; 2];
        for &missing_left in sides {
            let (mg, mh) = if missing_left {
                (missing.g, missing.h)
            } else {
                (0.0, 0.0)
            };
            let out = &mut gains[usize::from(missing_left)];
            for b in 0..k {
                let (gl, hl) = (lg[b] + mg, lh[b] + mh);
                out[b] = leaf(gl, hl) + leaf(total.g - gl, total.h - hl) - parent;
            }
        }
        let gain = |b: usize, missing_left: bool, _: Sums, _: Sums| {
            Some(gains[usize::from(missing_left)][b])
        };
        let weights = |l: Sums, r: Sums| (-l.g / (l.h + l2), -r.g / (r.h + l2));
        self.best_threshold(f, k, cells, total, gain, weights)
    }

    /// The best of a number's first `k` thresholds (after bin `b`, missing values right or
    /// left) by `score` (a candidate's gain, or none), among those that leave each side
    /// enough rows and weight; the first wins ties. `weights` gives the chosen one's leaves.
    fn best_threshold(
        &self,
        f: usize,
        k: usize,
        cells: &[Sums],
        total: Sums,
        mut score: impl FnMut(usize, bool, Sums, Sums) -> Option<f64>,
        weights: impl Fn(Sums, Sums) -> (f64, f64),
    ) -> Option<Split> {
        let missing = cells[usize::from(MISSING)];
        let least = 1e-12 * total.h.max(1.0);
        let mut best: Option<Split> = None;
        let mut left = Sums::default();
        for (b, cell) in cells.iter().enumerate().take(k) {
            left.add(*cell);
            if cell.n == 0 {
                // An empty bin splits the node as the bin before it did.
                continue;
            }
            for missing_left in [false, true] {
                if missing_left && missing.n == 0 {
                    continue;
                }
                let mut l = left;
                if missing_left {
                    l.add(missing);
                }
                let r = total.minus(l);
                if !self.allowed(l, r) {
                    continue;
                }
                let Some(gain) = score(b, missing_left, l, r) else {
                    continue;
                };
                if gain > least && best.is_none_or(|s| gain > s.gain) {
                    best = Some(Split {
                        feature: f,
                        rule: Rule::Below {
                            last_left: b as u8,
                            missing_left,
                        },
                        gain,
                        left: l,
                        weights: weights(l, r),
                    });
                }
            }
        }
        best.map(|s| heavier_side_for_missing(s, missing, total))
    }

    fn numeric_split(&self, f: usize, bins: usize, cells: &[Sums], open: &Open) -> Option<Split> {
        let (total, bounds) = (open.sums, open.bounds);
        let dir = self.spec.direction(f);
        if dir == 0 && bounds.0 == f64::NEG_INFINITY && bounds.1 == f64::INFINITY {
            return self.free_numeric_split(f, bins, cells, open);
        }
        let l2 = self.spec.l2;
        let parent = self.gain_of(total, self.weight(total, bounds), l2);
        let weights = |l: Sums, r: Sums| (self.weight(l, bounds), self.weight(r, bounds));
        let gain = |_: usize, _: bool, l: Sums, r: Sums| {
            let (wl, wr) = weights(l, r);
            if (dir > 0 && wl > wr) || (dir < 0 && wl < wr) {
                return None;
            }
            Some(self.gain_of(l, wl, l2) + self.gain_of(r, wr, l2) - parent)
        };
        let k = bins.saturating_sub(1).min(STRIDE - 1);
        self.best_threshold(f, k, cells, total, gain, weights)
    }

    /// LightGBM's categorical split: one level against the rest for a few levels; else
    /// the levels (of enough rows) ordered by `G / (H + smooth)`, the best prefix of up to
    /// [`MAX_SET_LEVELS`] from either end sent left.
    fn level_split(&self, f: usize, bins: usize, cells: &[Sums], open: &Open) -> Option<Split> {
        let (total, bounds) = (open.sums, open.bounds);
        let used: Vec<usize> = (0..bins).filter(|&b| cells[b].n > 0).collect();
        if used.len() < 2 && cells[usize::from(MISSING)].n == 0 {
            return None;
        }
        let mut best: Option<Split> = None;
        let mut consider = |set: &[usize], l2: f64| {
            let mut l = Sums::default();
            let mut mask = [0u64; 4];
            for &b in set {
                l.add(cells[b]);
                mask[b >> 6] |= 1 << (b & 63);
            }
            let r = total.minus(l);
            if !self.allowed(l, r) {
                return;
            }
            let w = |s: Sums| (-s.g / (s.h + l2)).clamp(bounds.0, bounds.1);
            let (wl, wr) = (w(l), w(r));
            let gain = self.gain_of(l, wl, l2) + self.gain_of(r, wr, l2)
                - self.gain_of(total, w(total), l2);
            if gain > 1e-12 * total.h.max(1.0) && best.is_none_or(|s| gain > s.gain) {
                best = Some(Split {
                    feature: f,
                    rule: Rule::In(mask),
                    gain,
                    left: l,
                    weights: (self.weight(l, bounds), self.weight(r, bounds)),
                });
            }
        };
        if used.len() <= ONE_VS_REST_LEVELS {
            for &b in &used {
                consider(&[b], self.spec.l2);
            }
            return best;
        }
        let min_rows = MIN_LEVEL_ROWS.min((total.n / 50).max(1));
        let mut order: Vec<usize> = used
            .into_iter()
            .filter(|&b| cells[b].n >= min_rows)
            .collect();
        let key = |b: usize| cells[b].g / (cells[b].h + CAT_SMOOTH);
        order.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
        let l2 = self.spec.l2 + CAT_L2;
        let most = MAX_SET_LEVELS.min(order.len().saturating_sub(1));
        for k in 1..=most {
            consider(&order[..k], l2);
            consider(&order[order.len() - k..], l2);
        }
        best
    }

    /// Grow one tree over `rows` (increasing); also returns, per node, how a binned row is
    /// routed (`None` for a leaf), and the rows of each leaf.
    fn grow(&self, mut order: Vec<u32>) -> Grown {
        let mut total = Cell::default();
        for &r in &order {
            total.add(self.grad[r as usize]);
        }
        let sums = self.fixed.sums(total);
        let mut tree = Tree {
            nodes: vec![Node::Leaf { value: 0.0 }],
            cover: vec![sums.h],
            level_sets: Vec::new(),
        };
        let mut route = vec![None];
        let mut root = Open {
            node: 0,
            start: 0,
            end: order.len(),
            sums,
            bounds: (f64::NEG_INFINITY, f64::INFINITY),
            depth: 0,
            hist: None,
            best: None,
        };
        if self.splittable(&root) {
            let hist = self.histogram(&order);
            self.choose(&mut root, hist);
        }
        let mut open = vec![root];
        let mut leaves = 1;
        let mut scratch: Vec<u32> = Vec::with_capacity(order.len());
        while leaves < self.point.max_leaves() {
            // The leaf whose split gains most (the first made wins ties).
            let Some(at) = (0..open.len()).filter(|&i| open[i].best.is_some()).fold(
                None,
                |b: Option<usize>, i| match b {
                    Some(j) if open[j].best.map(|s| s.gain) >= open[i].best.map(|s| s.gain) => {
                        Some(j)
                    }
                    _ => Some(i),
                },
            ) else {
                break;
            };
            let parent = open.remove(at);
            let split = parent.best.expect("chosen for its split");
            // Stable partition of the leaf's rows: left ones first, each side in row order.
            let k = self.partition(&mut order[parent.start..parent.end], &split, &mut scratch);
            let mid = parent.start + k;
            let (left, right) = (tree.nodes.len(), tree.nodes.len() + 1);
            tree.nodes
                .extend([Node::Leaf { value: 0.0 }, Node::Leaf { value: 0.0 }]);
            let right_sums = parent.sums.minus(split.left);
            tree.cover.extend([split.left.h, right_sums.h]);
            route.extend([None, None]);
            tree.nodes[parent.node] = match split.rule {
                Rule::Below {
                    last_left,
                    missing_left,
                } => Node::Split {
                    feature: split.feature as u32,
                    threshold: self.table.bins[split.feature].threshold(usize::from(last_left)),
                    left: left as u32,
                    right: right as u32,
                    missing_left,
                },
                Rule::In(mask) => {
                    let set = self.table.bins[split.feature]
                        .levels_in((0..255).filter(|&b: &usize| mask[b >> 6] >> (b & 63) & 1 == 1));
                    tree.level_sets.push(set);
                    Node::Levels {
                        feature: split.feature as u32,
                        set: (tree.level_sets.len() - 1) as u32,
                        left: left as u32,
                        right: right as u32,
                    }
                }
            };
            route[parent.node] = Some((split.feature, split.rule));
            let (lo, hi) = parent.bounds;
            let mid_w = (split.weights.0 + split.weights.1) / 2.0;
            let (l_bounds, r_bounds) = match self.spec.direction(split.feature) {
                d if d > 0 => ((lo, mid_w), (mid_w, hi)),
                d if d < 0 => ((mid_w, hi), (lo, mid_w)),
                _ => (parent.bounds, parent.bounds),
            };
            let child = |node, start, end, sums, bounds| Open {
                node,
                start,
                end,
                sums,
                bounds,
                depth: parent.depth + 1,
                hist: None,
                best: None,
            };
            let mut l = child(left, parent.start, mid, split.left, l_bounds);
            let mut r = child(right, mid, parent.end, right_sums, r_bounds);
            // The smaller child's histogram is summed; the larger one's is the parent's less it.
            let (small, large) = if mid - parent.start <= parent.end - mid {
                (&mut l, &mut r)
            } else {
                (&mut r, &mut l)
            };
            if self.splittable(small) || self.splittable(large) {
                let summed = self.histogram(&order[small.start..small.end]);
                if self.splittable(large) {
                    let mut rest = parent.hist.expect("a split leaf has its histogram");
                    rest.sub(&summed);
                    self.choose(large, rest);
                }
                if self.splittable(small) {
                    self.choose(small, summed);
                }
            }
            open.push(l);
            open.push(r);
            leaves += 1;
        }
        // Leaf values from each leaf's sums and bounds.
        let eta = self.point.learning_rate;
        let mut leaf_rows = Vec::with_capacity(open.len());
        for o in &open {
            let value = eta * self.weight(o.sums, o.bounds);
            tree.nodes[o.node] = Node::Leaf { value };
            leaf_rows.push((value, o.start..o.end));
        }
        Grown {
            tree,
            route,
            order,
            leaves: leaf_rows,
        }
    }

    /// Put `rows`' left ones first, each side in row order; returns how many go left.
    /// Blocks of rows are partitioned on every core, then put in place in order.
    fn partition(&self, rows: &mut [u32], split: &Split, scratch: &mut Vec<u32>) -> usize {
        let codes = self.table.column(split.feature);
        let left = |r: &u32| split.rule.left(codes[*r as usize]);
        if rows.len() < PARALLEL_ROWS {
            scratch.clear();
            let mut k = 0;
            for i in 0..rows.len() {
                let r = rows[i];
                if left(&r) {
                    rows[k] = r;
                    k += 1;
                } else {
                    scratch.push(r);
                }
            }
            rows[k..].copy_from_slice(scratch);
            return k;
        }
        let parts: Vec<(Vec<u32>, Vec<u32>)> = rows
            .par_chunks(PARALLEL_ROWS)
            .map(|block| block.iter().partition(|r| left(r)))
            .collect();
        let mut at = 0;
        for side in [0, 1] {
            for part in &parts {
                let part = if side == 0 { &part.0 } else { &part.1 };
                rows[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
        }
        parts.iter().map(|p| p.0.len()).sum()
    }

    /// Whether a new leaf may be split at all.
    fn splittable(&self, open: &Open) -> bool {
        open.depth < self.point.max_depth
            && open.sums.h >= 2.0 * self.point.min_leaf_weight
            && open.sums.n as usize >= 2 * self.point.min_leaf_rows.max(1)
    }

    /// A new leaf's best split on its histogram, which it keeps only if it has one.
    fn choose(&self, open: &mut Open, hist: Histogram) {
        open.hist = Some(hist);
        open.best = self.best_split(open);
        if open.best.is_none() {
            open.hist = None;
        }
    }
}

/// With no missing values in the node, missing ones later go the heavier way.
fn heavier_side_for_missing(mut s: Split, missing: Sums, total: Sums) -> Split {
    if missing.n == 0
        && let Rule::Below { missing_left, .. } = &mut s.rule
    {
        *missing_left = s.left.h >= total.h - s.left.h;
    }
    s
}

/// A grown tree as binned rows are routed through it: a leaf's value, or a split's
/// feature, rule and children (by index).
#[derive(Debug, Clone, Copy)]
enum Step {
    Leaf(f64),
    Split {
        feature: usize,
        rule: Rule,
        left: u32,
        right: u32,
    },
}

fn steps(tree: &Tree, route: &[Option<(usize, Rule)>]) -> Vec<Step> {
    tree.nodes
        .iter()
        .zip(route)
        .map(|(node, route)| match (node, route) {
            (Node::Leaf { value }, _) => Step::Leaf(*value),
            (_, Some((feature, rule))) => {
                let (_, left, right) = node.split().expect("a node with a route splits");
                Step::Split {
                    feature: *feature,
                    rule: *rule,
                    left,
                    right,
                }
            }
            _ => unreachable!("every split has a route"),
        })
        .collect()
}

/// The leaf value of binned row `row`.
fn leaf_of(steps: &[Step], table: &Table, row: usize) -> f64 {
    let mut i = 0;
    loop {
        match steps[i] {
            Step::Leaf(value) => return value,
            Step::Split {
                feature,
                rule,
                left,
                right,
            } => {
                i = if rule.left(table.code_of(row, feature)) {
                    left
                } else {
                    right
                } as usize;
            }
        }
    }
}

/// Add each row's leaf value to its margin, on every core.
fn add_tree(steps: &[Step], table: &Table, margin: &mut [f64]) {
    margin
        .par_chunks_mut(8192)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (k, m) in chunk.iter_mut().enumerate() {
                *m += leaf_of(steps, table, c * 8192 + k);
            }
        });
}

/// Rows whose log loss is summed as one part; the parts are added in order, so the loss
/// is the same on any number of threads.
const LOSS_BLOCK_ROWS: usize = 16_384;

fn log_loss(y: &[bool], margin: &[f64]) -> f64 {
    // log(1 + e^m) - y m, stable for large |m|.
    let part = |(y, m): (&[bool], &[f64])| {
        y.iter()
            .zip(m)
            .map(|(&y, &m)| m.max(0.0) + (-m.abs()).exp().ln_1p() - if y { m } else { 0.0 })
            .sum::<f64>()
    };
    let parts: Vec<f64> = y
        .par_chunks(LOSS_BLOCK_ROWS)
        .zip(margin.par_chunks(LOSS_BLOCK_ROWS))
        .map(part)
        .collect();
    parts.iter().sum::<f64>() / y.len().max(1) as f64
}

/// Fit one ensemble of `point` on `fit`'s level design, early-stopped on `holdout`'s.
pub fn fit_booster(
    spec: &BoostingSpec,
    point: Point,
    fit: Rows<'_>,
    holdout: Rows<'_>,
    seed: u64,
) -> Result<Boosted> {
    if fit.is_empty() || holdout.is_empty() {
        return Err(TrainError::new(FAMILY, "no rows to fit or to stop on"));
    }
    let table = Table::fit(fit.levels.view(), fit.categorical, fit.y);
    let held_table = Table::code(table.bins.clone(), holdout.levels.view());
    let n = fit.len();
    let p = table.features();
    let rate = fit.positives() as f64 / n as f64;
    let rate = rate.clamp(1e-6, 1.0 - 1e-6);
    let base_score = (rate / (1.0 - rate)).ln();
    let mut margin = vec![base_score; n];
    let mut held = vec![base_score; holdout.len()];
    let mut rng = SplitMix::new(seed ^ 0xB005_7ED5);
    let mut trees: Vec<Tree> = Vec::new();
    let (mut best_loss, mut best_len) = (log_loss(holdout.y, &held), 0usize);
    let n_inputs = ((spec.colsample * p as f64).floor() as usize).clamp(1, p.max(1));
    let fixed = Fixed::new(n);
    let mut grad = vec![Cell::default(); n];
    for t in 0..spec.max_trees {
        grad.par_iter_mut()
            .zip(&margin)
            .zip(fit.y)
            .with_min_len(4096)
            .for_each(|((c, &m), &y)| {
                let q = sigmoid(m);
                *c = fixed.cell(q - f64::from(u8::from(y)), q * (1.0 - q));
            });
        let (mut rows, mut out_of_bag): (Vec<u32>, Vec<u32>) =
            (0..n as u32).partition(|_| spec.subsample >= 1.0 || rng.unit() < spec.subsample);
        if rows.is_empty() {
            (rows, out_of_bag) = (out_of_bag, rows);
        }
        let mut active = vec![false; p];
        for f in rng.choose(p, n_inputs) {
            active[f] = true;
        }
        let grower = Grower {
            table: &table,
            grad: &grad,
            fixed,
            spec,
            point,
            active,
        };
        let Grown {
            tree,
            route,
            order,
            leaves,
        } = grower.grow(rows);
        let steps = steps(&tree, &route);
        // The rows grown on are in their leaves' ranges; the others are routed.
        for (value, range) in leaves {
            for &r in &order[range] {
                margin[r as usize] += value;
            }
        }
        let routed: Vec<f64> = out_of_bag
            .par_iter()
            .map(|&r| leaf_of(&steps, &table, r as usize))
            .collect();
        for (&r, v) in out_of_bag.iter().zip(routed) {
            margin[r as usize] += v;
        }
        add_tree(&steps, &held_table, &mut held);
        trees.push(tree);
        let loss = log_loss(holdout.y, &held);
        if loss < best_loss {
            (best_loss, best_len) = (loss, t + 1);
        } else if t + 1 - best_len >= spec.early_stopping_rounds {
            break;
        }
    }
    trees.truncate(best_len.max(1));
    Ok(Boosted { base_score, trees })
}

impl Family for BoostingSpec {
    fn name(&self) -> &'static str {
        FAMILY
    }

    fn grid(&self) -> Vec<Params> {
        self.points()
            .into_iter()
            .map(|p| {
                let mut out = params(&[
                    ("max_depth", p.max_depth.into()),
                    ("learning_rate", p.learning_rate.into()),
                    ("min_leaf_weight", p.min_leaf_weight.into()),
                ]);
                if p.num_leaves.is_some() {
                    out.insert("num_leaves".into(), optional(p.num_leaves));
                }
                if self.min_leaf_rows != [1] {
                    out.insert("min_leaf_rows".into(), p.min_leaf_rows.into());
                }
                out
            })
            .collect()
    }

    fn min_class_rows(&self) -> usize {
        5
    }

    fn fit(&self, point: usize, fit: Rows<'_>, holdout: Rows<'_>, seed: u64) -> Result<Fitted> {
        let model = fit_booster(self, self.points()[point], fit, holdout, seed)?;
        let trees = model.trees.len();
        Ok(Fitted::new(Model::GradientBoosting(model)).with_notes(&[("trees", trees.into())]))
    }
}

/// Column `j` of `x` set to `v` in every row, the model's mean probability: one point of
/// the partial dependence of `model` on input `j`.
pub fn partial_dependence(model: &Model, x: &Array2<f64>, j: usize, v: f64) -> f64 {
    let mut probe = Vec::with_capacity(x.ncols());
    let mut sum = 0.0;
    for row in x.rows() {
        probe.clear();
        probe.extend(row.iter());
        probe[j] = v;
        sum += model.probability(&probe);
    }
    sum / x.nrows().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two informative inputs (the second with missing values, which lean adverse) and a
    /// noise input, from a fixed stream.
    fn data(n: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
        let mut rng = SplitMix::new(seed);
        let x = Array2::from_shape_fn((n, 3), |(i, j)| {
            let u = rng.unit();
            if j == 1 && i % 7 == 0 { f64::NAN } else { u }
        });
        let y = (0..n)
            .map(|i| {
                let (a, b) = (x[[i, 0]], x[[i, 1]]);
                a + if b.is_nan() { 0.9 } else { b } + 0.8 * rng.unit() > 1.4
            })
            .collect();
        (x, y)
    }

    fn rows<'a>(x: &'a Array2<f64>, y: &'a [bool]) -> Rows<'a> {
        Rows {
            x,
            native: x,
            levels: x,
            categorical: &[false, false, false],
            y,
        }
    }

    fn point(max_depth: usize) -> Point {
        Point {
            max_depth,
            num_leaves: None,
            learning_rate: 0.1,
            min_leaf_weight: 1.0,
            min_leaf_rows: 1,
        }
    }

    /// A stump on its first round has the closed-form leaves -eta G / (H + lambda) of the
    /// rows each side (at the base score p0: g = p0 - y, h = p0 (1 - p0)).
    #[test]
    fn a_first_stump_has_the_closed_form_leaves() {
        let x = Array2::from_shape_vec((6, 1), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let y = [false, false, false, true, true, true];
        let spec = BoostingSpec {
            max_trees: 1,
            subsample: 1.0,
            colsample: 1.0,
            ..BoostingSpec::default()
        };
        let stump = Point {
            min_leaf_weight: 0.5,
            ..point(1)
        };
        let m = fit_booster(&spec, stump, rows(&x, &y), rows(&x, &y), 0).unwrap();
        assert_eq!(m.base_score, 0.0);
        let (g, h) = (0.5 * 3.0, 0.25 * 3.0);
        let leaf = -0.1 * g / (h + 1.0);
        let t = &m.trees[0];
        assert!((t.value(&[0.0]) - leaf).abs() < 1e-15);
        assert!((t.value(&[5.0]) + leaf).abs() < 1e-15);
        assert_eq!(t.value(&[2.4]), t.value(&[0.0]));
        assert_eq!(t.cover[0], 1.5);
    }

    /// Missing values go where they lean; an input constrained to lower the risk never
    /// raises it in any tree; and a fit is the same on one thread as on several.
    #[test]
    fn missing_values_monotone_constraints_and_reproducibility() {
        let (x, y) = data(2000, 1);
        let (xv, yv) = data(600, 2);
        let spec = BoostingSpec::default();
        let m = fit_booster(&spec, point(3), rows(&x, &y), rows(&xv, &yv), 42).unwrap();
        assert!(m.trees.len() > 5 && m.trees.len() < spec.max_trees);
        let p = |b: f64| sigmoid(m.margin(&[0.5, b, 0.5]));
        assert!(p(f64::NAN) > p(0.2), "NaN leans adverse");
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| fit_booster(&spec, point(3), rows(&x, &y), rows(&xv, &yv), 42).unwrap());
        assert_eq!(one, m);
        assert_ne!(
            fit_booster(&spec, point(3), rows(&x, &y), rows(&xv, &yv), 43).unwrap(),
            m
        );

        // Input 0 raises the risk in the data; constrained to lower it, every tree complies.
        for dir in [-1i8, 1] {
            let constrained = BoostingSpec {
                monotone: vec![(0, dir)],
                ..BoostingSpec::default()
            };
            let m = fit_booster(&constrained, point(5), rows(&x, &y), rows(&xv, &yv), 42).unwrap();
            for t in &m.trees {
                for row in xv.rows().into_iter().take(60) {
                    let mut probe = row.to_vec();
                    let mut last = None::<f64>;
                    for k in 0..=40 {
                        probe[0] = k as f64 / 40.0;
                        let v = t.value(&probe);
                        if let Some(l) = last {
                            assert!(
                                (v - l) * f64::from(dir) >= 0.0,
                                "a tree moved against the constraint {dir}"
                            );
                        }
                        last = Some(v);
                    }
                }
            }
        }
    }

    /// A feature of 40 levels whose effects do not follow their positions: the booster
    /// splits it on sets of levels, ranks the levels as their true effects do, sends an
    /// unseen level (NaN) right, and gives the same model on one thread as on several.
    #[test]
    fn levels_are_split_as_sets() {
        let (n, levels) = (6000, 40);
        let effect = |l: usize| if (l * 7) % 5 < 2 { 1.5 } else { -1.0 };
        let mut rng = SplitMix::new(9);
        let mut x = Array2::zeros((n, 2));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let l = rng.below(levels);
            let u = rng.unit();
            x[[i, 0]] = l as f64;
            x[[i, 1]] = u;
            let z = effect(l) + 0.5 * u - 0.5;
            y.push(rng.unit() < sigmoid(z));
        }
        let cat = [true, false];
        let take = |r: std::ops::Range<usize>| x.select(ndarray::Axis(0), &r.collect::<Vec<_>>());
        let (xt, yt) = (take(0..4500), &y[..4500]);
        let (xv, yv) = (take(4500..n), &y[4500..]);
        let data = |x, y| Rows {
            x,
            native: x,
            levels: x,
            categorical: &cat,
            y,
        };
        let spec = BoostingSpec::default();
        let fit = || fit_booster(&spec, point(3), data(&xt, yt), data(&xv, yv), 5).unwrap();
        let m = fit();
        assert!(
            m.trees
                .iter()
                .any(|t| t.nodes.iter().any(|n| matches!(n, Node::Levels { .. }))),
            "no split on levels"
        );
        for t in &m.trees {
            t.validate().unwrap();
        }
        let p = |l: f64| sigmoid(m.margin(&[l, 0.5]));
        for a in 0..levels {
            for b in 0..levels {
                if effect(a) > effect(b) {
                    assert!(p(a as f64) > p(b as f64), "level {a} against {b}");
                }
            }
        }
        assert!(p(f64::NAN).is_finite());
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(fit);
        assert_eq!(one, m);
    }
}
