//! The gradient boosting family: trees fitted in turn to the log loss's gradient and hessian
//! (Chen and Guestrin's XGBoost algorithm: second-order gains on histograms, L2-regularised
//! leaf weights), a missing value sent down whichever side of each split gains most, each
//! tree on a random share of the rows and inputs, early-stopped on the held-out rows' log
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
//! Inputs are the `native` encoding: a missing number stays NaN; a category is one-hot.
//! Sums run in row order and every random choice comes from the seed, so a fit is the same
//! on any number of threads. The trees are riskfn's own [`Boosted`], scored by the serving
//! code; covers are the nodes' hessian sums (TreeSHAP's weights, as for XGBoost).

use ndarray::Array2;
use riskfn_core::model::{Boosted, Model, Node, Tree, sigmoid};

use crate::bins::{Binned, MISSING, SplitMix};
use crate::{Family, Fitted, Params, Result, Rows, TrainError, params};

pub const FAMILY: &str = "gradient_boosting";

#[derive(Debug, Clone, PartialEq)]
pub struct BoostingSpec {
    pub max_depth: Vec<usize>,
    pub learning_rate: Vec<f64>,
    /// Least hessian (sum of p (1 - p)) a leaf holds: XGBoost's `min_child_weight`.
    pub min_leaf_weight: Vec<f64>,
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
            learning_rate: vec![0.05, 0.1],
            min_leaf_weight: vec![1.0, 5.0],
            max_trees: 1000,
            early_stopping_rounds: 50,
            subsample: 0.8,
            colsample: 0.8,
            l2: 1.0,
            monotone: Vec::new(),
        }
    }
}

/// One grid point's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub max_depth: usize,
    pub learning_rate: f64,
    pub min_leaf_weight: f64,
}

impl BoostingSpec {
    fn points(&self) -> Vec<Point> {
        let mut out = Vec::new();
        for &max_depth in &self.max_depth {
            for &learning_rate in &self.learning_rate {
                for &min_leaf_weight in &self.min_leaf_weight {
                    out.push(Point {
                        max_depth,
                        learning_rate,
                        min_leaf_weight,
                    });
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

/// Gradient and hessian sums.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    g: f64,
    h: f64,
}

impl Sums {
    fn add(&mut self, o: Sums) {
        self.g += o.g;
        self.h += o.h;
    }

    fn minus(self, o: Sums) -> Sums {
        Sums {
            g: self.g - o.g,
            h: self.h - o.h,
        }
    }
}

/// Per candidate input, a [`Sums`] per bin of present values and one for missing values.
#[derive(Debug, Clone)]
struct Histogram {
    cells: Vec<Sums>,
}

/// A node of the tree being grown: its rows, sums and the weight bounds monotone splits
/// above it set.
struct Open {
    node: usize,
    rows: Vec<u32>,
    sums: Sums,
    bounds: (f64, f64),
    depth: usize,
    hist: Histogram,
}

/// The best split found for a node.
#[derive(Debug, Clone, Copy)]
struct Split {
    input: usize,
    last_left: usize,
    missing_left: bool,
    gain: f64,
    left: Sums,
    weights: (f64, f64),
}

/// How a binned training row passes a split: its input, last bin sent left, and whether a
/// missing value goes left (`None` for a leaf).
type Route = Option<(usize, usize, bool)>;

/// What one tree is grown with.
struct Grower<'a> {
    binned: &'a Binned,
    grad: &'a [Sums],
    spec: &'a BoostingSpec,
    point: Point,
    /// The inputs this tree may split on, and where each one's cells start.
    inputs: Vec<usize>,
    offsets: Vec<usize>,
}

impl Grower<'_> {
    fn weight(&self, s: Sums, (lo, hi): (f64, f64)) -> f64 {
        (-s.g / (s.h + self.spec.l2)).clamp(lo, hi)
    }

    /// The loss reduction a leaf of weight `w` brings (XGBoost's gain given weight).
    fn gain(&self, s: Sums, w: f64) -> f64 {
        -(2.0 * s.g * w + (s.h + self.spec.l2) * w * w)
    }

    fn histogram(&self, rows: &[u32]) -> Histogram {
        let mut cells = vec![Sums::default(); *self.offsets.last().unwrap_or(&0)];
        for (k, &input) in self.inputs.iter().enumerate() {
            let (start, bins) = (self.offsets[k], self.binned.bins(input));
            let cell = &mut cells[start..self.offsets[k + 1]];
            for &r in rows {
                let code = self.binned.code(input, r as usize);
                let b = if code == MISSING {
                    bins
                } else {
                    usize::from(code)
                };
                cell[b].add(self.grad[r as usize]);
            }
        }
        Histogram { cells }
    }

    fn best_split(&self, open: &Open) -> Option<Split> {
        let (total, bounds) = (open.sums, open.bounds);
        let parent = self.gain(total, self.weight(total, bounds));
        let min = self.point.min_leaf_weight;
        let mut best: Option<Split> = None;
        for (k, &input) in self.inputs.iter().enumerate() {
            let cells = &open.hist.cells[self.offsets[k]..self.offsets[k + 1]];
            let (present, missing) = cells.split_at(cells.len() - 1);
            let missing = missing[0];
            let dir = self.spec.direction(input);
            let mut left = Sums::default();
            for (b, cell) in present
                .iter()
                .enumerate()
                .take(present.len().saturating_sub(1))
            {
                left.add(*cell);
                if cell.h == 0.0 {
                    // An empty bin splits the node as the bin before it did.
                    continue;
                }
                for missing_left in [false, true] {
                    if missing_left && missing.h == 0.0 {
                        continue;
                    }
                    let l = if missing_left {
                        Sums {
                            g: left.g + missing.g,
                            h: left.h + missing.h,
                        }
                    } else {
                        left
                    };
                    let r = total.minus(l);
                    if l.h < min || r.h < min || r.h <= 0.0 {
                        continue;
                    }
                    let (wl, wr) = (self.weight(l, bounds), self.weight(r, bounds));
                    if (dir > 0 && wl > wr) || (dir < 0 && wl < wr) {
                        continue;
                    }
                    let gain = self.gain(l, wl) + self.gain(r, wr) - parent;
                    if gain > 1e-12 * total.h.max(1.0) && best.is_none_or(|s| gain > s.gain) {
                        best = Some(Split {
                            input,
                            last_left: b,
                            missing_left,
                            gain,
                            left: l,
                            weights: (wl, wr),
                        });
                    }
                }
            }
        }
        // With no missing values in the node, missing ones later go the heavier way.
        best.map(|mut s| {
            if missing_of(&open.hist, self, s.input).h == 0.0 {
                s.missing_left = s.left.h >= total.h - s.left.h;
            }
            s
        })
    }

    /// Grow one tree over `rows`; also returns, per node, how a binned training row is
    /// routed (`None` for a leaf).
    fn grow(&self, rows: Vec<u32>) -> (Tree, Vec<Route>) {
        let mut sums = Sums::default();
        for &r in &rows {
            sums.add(self.grad[r as usize]);
        }
        let hist = self.histogram(&rows);
        let mut nodes = vec![Node::Leaf { value: 0.0 }];
        let mut cover = vec![0.0];
        let mut route = vec![None];
        let mut todo = vec![Open {
            node: 0,
            rows,
            sums,
            bounds: (f64::NEG_INFINITY, f64::INFINITY),
            depth: 0,
            hist,
        }];
        let eta = self.point.learning_rate;
        while let Some(open) = todo.pop() {
            cover[open.node] = open.sums.h;
            let leaf = eta * self.weight(open.sums, open.bounds);
            nodes[open.node] = Node::Leaf { value: leaf };
            if open.depth >= self.point.max_depth || open.sums.h < 2.0 * self.point.min_leaf_weight
            {
                continue;
            }
            let Some(split) = self.best_split(&open) else {
                continue;
            };
            let (l_rows, r_rows): (Vec<u32>, Vec<u32>) = open.rows.iter().partition(|&&r| {
                let code = self.binned.code(split.input, r as usize);
                if code == MISSING {
                    split.missing_left
                } else {
                    usize::from(code) <= split.last_left
                }
            });
            // The smaller child's histogram is built; the larger one's is the parent's less it.
            let small_left = l_rows.len() <= r_rows.len();
            let small = self.histogram(if small_left { &l_rows } else { &r_rows });
            let large = Histogram {
                cells: open
                    .hist
                    .cells
                    .iter()
                    .zip(&small.cells)
                    .map(|(p, s)| p.minus(*s))
                    .collect(),
            };
            let (l_hist, r_hist) = if small_left {
                (small, large)
            } else {
                (large, small)
            };
            let (lo, hi) = open.bounds;
            let mid = (split.weights.0 + split.weights.1) / 2.0;
            let (l_bounds, r_bounds) = match self.spec.direction(split.input) {
                d if d > 0 => ((lo, mid), (mid, hi)),
                d if d < 0 => ((mid, hi), (lo, mid)),
                _ => (open.bounds, open.bounds),
            };
            let (left, right) = (nodes.len(), nodes.len() + 1);
            nodes.extend([Node::Leaf { value: 0.0 }, Node::Leaf { value: 0.0 }]);
            cover.extend([0.0, 0.0]);
            route.extend([None, None]);
            nodes[open.node] = Node::Split {
                feature: split.input as u32,
                threshold: self.binned.threshold(split.input, split.last_left),
                left: left as u32,
                right: right as u32,
                missing_left: split.missing_left,
            };
            route[open.node] = Some((split.input, split.last_left, split.missing_left));
            let child = |node, rows, sums, bounds, hist| Open {
                node,
                rows,
                sums,
                bounds,
                depth: open.depth + 1,
                hist,
            };
            let right_sums = open.sums.minus(split.left);
            // Right first on the stack, so the left subtree is numbered first.
            todo.push(child(right, r_rows, right_sums, r_bounds, r_hist));
            todo.push(child(left, l_rows, split.left, l_bounds, l_hist));
        }
        (Tree { nodes, cover }, route)
    }
}

fn missing_of(hist: &Histogram, g: &Grower<'_>, input: usize) -> Sums {
    let k = g
        .inputs
        .iter()
        .position(|&i| i == input)
        .expect("a split's input is a candidate");
    hist.cells[g.offsets[k + 1] - 1]
}

/// The leaf value of a binned training row.
fn leaf_of(tree: &Tree, route: &[Route], binned: &Binned, row: usize) -> f64 {
    let mut i = 0;
    loop {
        match (&tree.nodes[i], route[i]) {
            (Node::Split { left, right, .. }, Some((input, last_left, missing_left))) => {
                let code = binned.code(input, row);
                let go_left = if code == MISSING {
                    missing_left
                } else {
                    usize::from(code) <= last_left
                };
                i = if go_left { *left } else { *right } as usize;
            }
            (Node::Leaf { value }, _) => return *value,
            _ => unreachable!("every split has a route"),
        }
    }
}

fn log_loss(y: &[bool], margin: &[f64]) -> f64 {
    // log(1 + e^m) - y m, stable for large |m|.
    y.iter()
        .zip(margin)
        .map(|(&y, &m)| m.max(0.0) + (-m.abs()).exp().ln_1p() - if y { m } else { 0.0 })
        .sum::<f64>()
        / y.len().max(1) as f64
}

/// Fit one ensemble of `point` on `fit`'s native inputs, early-stopped on `holdout`'s.
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
    let binned = Binned::new(fit.native);
    let n = fit.len();
    let p = binned.inputs();
    let rate = fit.positives() as f64 / n as f64;
    let rate = rate.clamp(1e-6, 1.0 - 1e-6);
    let base_score = (rate / (1.0 - rate)).ln();
    let mut margin = vec![base_score; n];
    let mut held = vec![base_score; holdout.len()];
    let held_rows: Vec<Vec<f64>> = holdout
        .native
        .rows()
        .into_iter()
        .map(|r| r.to_vec())
        .collect();
    let mut rng = SplitMix::new(seed ^ 0xB005_7ED5);
    let mut trees: Vec<Tree> = Vec::new();
    let (mut best_loss, mut best_len) = (log_loss(holdout.y, &held), 0usize);
    let n_inputs = ((spec.colsample * p as f64).floor() as usize).clamp(1, p.max(1));
    let mut grad = vec![Sums::default(); n];
    for t in 0..spec.max_trees {
        for ((s, &m), &y) in grad.iter_mut().zip(&margin).zip(fit.y) {
            let q = sigmoid(m);
            *s = Sums {
                g: q - f64::from(u8::from(y)),
                h: (q * (1.0 - q)).max(1e-16),
            };
        }
        let mut rows: Vec<u32> = (0..n as u32)
            .filter(|_| spec.subsample >= 1.0 || rng.unit() < spec.subsample)
            .collect();
        if rows.is_empty() {
            rows = (0..n as u32).collect();
        }
        let inputs = rng.choose(p, n_inputs);
        let mut offsets = vec![0];
        for &i in &inputs {
            offsets.push(offsets.last().unwrap_or(&0) + binned.bins(i) + 1);
        }
        let grower = Grower {
            binned: &binned,
            grad: &grad,
            spec,
            point,
            inputs,
            offsets,
        };
        let (tree, route) = grower.grow(rows);
        for (r, m) in margin.iter_mut().enumerate() {
            *m += leaf_of(&tree, &route, &binned, r);
        }
        for (m, x) in held.iter_mut().zip(&held_rows) {
            *m += tree.value(x);
        }
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
                params(&[
                    ("max_depth", p.max_depth.into()),
                    ("learning_rate", p.learning_rate.into()),
                    ("min_leaf_weight", p.min_leaf_weight.into()),
                ])
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
        Rows { x, native: x, y }
    }

    fn point(max_depth: usize) -> Point {
        Point {
            max_depth,
            learning_rate: 0.1,
            min_leaf_weight: 1.0,
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
}
