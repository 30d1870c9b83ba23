//! CART classification trees on the Gini criterion, grown on binned inputs: the decision tree
//! family, and Breiman's random forest (a bootstrap sample of rows per tree, a fresh random
//! sample of inputs at every split), as scikit-learn's `DecisionTreeClassifier` and
//! `RandomForestClassifier` grow them.
//!
//! Inputs are binned once ([`crate::bins`]): splits are exact where an input has few
//! distinct values, as scikit-learn's are.
//!
//! Every random choice comes from a SplitMix64 stream seeded by the run's seed and the
//! tree's index, and every sum runs in row order within one tree: the same inputs and seed
//! give the same trees on any number of threads.

use ndarray::Array2;
use riskfn_core::model::{Node, Tree};

pub use crate::bins::{Binned, SplitMix};

/// How one tree is grown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    /// `None`: until leaves are pure or too small.
    pub max_depth: Option<usize>,
    /// Fewest distinct training rows in a leaf.
    pub min_samples_leaf: usize,
    /// Inputs drawn at each split (all of them for a single tree).
    pub max_features: usize,
}

/// Per-bin sums of one input over a node's rows.
#[derive(Debug, Clone, Copy, Default)]
struct BinStats {
    weight: f64,
    adverse: f64,
    rows: usize,
}

/// A candidate split: the input, the last bin sent left, and its Gini proxy.
#[derive(Debug, Clone, Copy)]
struct Split {
    input: usize,
    last_left: usize,
    proxy: f64,
}

/// Grow one tree on the rows with a positive `weight` (bootstrap counts, or 1 each).
/// Leaves hold the weighted share of adverse rows; covers hold the weight reaching each node.
pub fn grow(
    binned: &Binned,
    y: &[bool],
    weight: &[f64],
    growth: Growth,
    rng: &mut SplitMix,
) -> Tree {
    let mut rows: Vec<usize> = (0..binned.rows()).filter(|&i| weight[i] > 0.0).collect();
    let mut nodes: Vec<Node> = vec![Node::Leaf { value: f64::NAN }];
    let mut cover = vec![0.0];
    let mut order: Vec<usize> = (0..binned.inputs()).collect();
    let mut hist: Vec<BinStats> = Vec::new();
    // (node, rows range, depth)
    let mut todo = vec![(0usize, 0usize, rows.len(), 0usize)];
    while let Some((node, start, end, depth)) = todo.pop() {
        let here = &rows[start..end];
        let (mut w, mut a) = (0.0, 0.0);
        for &r in here {
            w += weight[r];
            if y[r] {
                a += weight[r];
            }
        }
        cover[node] = w;
        nodes[node] = Node::Leaf { value: a / w };
        let n_rows = here.len();
        let pure = a == 0.0 || a == w;
        if pure
            || n_rows < 2 * growth.min_samples_leaf.max(1)
            || growth.max_depth.is_some_and(|d| depth >= d)
        {
            continue;
        }
        let Some(split) = best_split(
            binned,
            y,
            weight,
            here,
            (w, a),
            growth,
            &mut order,
            &mut hist,
            rng,
        ) else {
            continue;
        };
        // Rows whose bin is at most `last_left` go first.
        let part = &mut rows[start..end];
        let mut i = 0;
        for k in 0..part.len() {
            if usize::from(binned.code(split.input, part[k])) <= split.last_left {
                part.swap(i, k);
                i += 1;
            }
        }
        let threshold = binned.threshold(split.input, split.last_left);
        let (left, right) = (nodes.len(), nodes.len() + 1);
        nodes.push(Node::Leaf { value: f64::NAN });
        nodes.push(Node::Leaf { value: f64::NAN });
        cover.extend([0.0, 0.0]);
        nodes[node] = Node::Split {
            feature: split.input as u32,
            threshold,
            left: left as u32,
            right: right as u32,
            missing_left: false,
        };
        // Right first on the stack, so the left subtree is grown (and numbered) first.
        todo.push((right, start + i, end, depth + 1));
        todo.push((left, start, start + i, depth + 1));
    }
    Tree {
        nodes,
        cover,
        level_sets: Vec::new(),
    }
}

/// The split of the node's rows with the lowest weighted Gini impurity over a random draw
/// of `max_features` inputs that vary in the node (inputs constant there do not count, as
/// in scikit-learn), or `None` if no split improves on the node.
#[allow(clippy::too_many_arguments)]
fn best_split(
    binned: &Binned,
    y: &[bool],
    weight: &[f64],
    rows: &[usize],
    (w, a): (f64, f64),
    growth: Growth,
    order: &mut [usize],
    hist: &mut Vec<BinStats>,
    rng: &mut SplitMix,
) -> Option<Split> {
    let p = order.len();
    // Gini impurity times weight is w - (a^2 + b^2) / w: minimising it maximises the
    // proxy (a^2 + b^2) / w summed over the children.
    let parent = (a * a + (w - a) * (w - a)) / w;
    let mut best: Option<Split> = None;
    let mut drawn = 0;
    let mut useful = 0;
    while drawn < p && useful < growth.max_features {
        // Partial Fisher-Yates: the next input of a random order without repeats.
        let k = drawn + rng.below(p - drawn);
        order.swap(drawn, k);
        let input = order[drawn];
        drawn += 1;
        let bins = binned.bins(input);
        hist.clear();
        hist.resize(bins, BinStats::default());
        for &r in rows {
            let h = &mut hist[usize::from(binned.code(input, r))];
            h.weight += weight[r];
            if y[r] {
                h.adverse += weight[r];
            }
            h.rows += 1;
        }
        let occupied = hist.iter().filter(|h| h.rows > 0).count();
        if occupied < 2 {
            continue;
        }
        useful += 1;
        let (mut lw, mut la, mut lr) = (0.0, 0.0, 0usize);
        for (b, h) in hist.iter().enumerate().take(bins - 1) {
            lw += h.weight;
            la += h.adverse;
            lr += h.rows;
            if h.rows == 0
                || lr < growth.min_samples_leaf
                || rows.len() - lr < growth.min_samples_leaf
            {
                continue;
            }
            if lr == rows.len() {
                break;
            }
            let (rw, ra) = (w - lw, a - la);
            if lw <= 0.0 || rw <= 0.0 {
                continue;
            }
            let proxy =
                (la * la + (lw - la) * (lw - la)) / lw + (ra * ra + (rw - ra) * (rw - ra)) / rw;
            if proxy > parent + 1e-12 * w && best.is_none_or(|s| proxy > s.proxy) {
                best = Some(Split {
                    input,
                    last_left: b,
                    proxy,
                });
            }
        }
    }
    best
}

/// A single tree on every training row, every input considered at every split.
pub fn tree(
    x: &Array2<f64>,
    y: &[bool],
    max_depth: Option<usize>,
    min_samples_leaf: usize,
) -> Tree {
    let binned = Binned::new(x);
    let growth = Growth {
        max_depth,
        min_samples_leaf,
        max_features: binned.inputs(),
    };
    grow(
        &binned,
        y,
        &vec![1.0; x.nrows()],
        growth,
        &mut SplitMix::new(0),
    )
}

/// Breiman's forest: `trees` trees, each on a bootstrap sample of the rows (drawn with
/// replacement, as many as there are rows) with `growth.max_features` inputs drawn at each
/// split. Tree `t` draws from the stream seeded by `seed` and `t` alone, and trees are grown
/// on every core.
pub fn forest(binned: &Binned, y: &[bool], trees: usize, growth: Growth, seed: u64) -> Vec<Tree> {
    use rayon::prelude::*;
    let n = binned.rows();
    (0..trees)
        .into_par_iter()
        .map(|t| {
            let mut rng = SplitMix::new(seed ^ (t as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
            let mut weight = vec![0.0; n];
            for _ in 0..n {
                weight[rng.below(n)] += 1.0;
            }
            grow(binned, y, &weight, growth, &mut rng)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// A tree separates separable rows exactly, routes each training row by value to the
    /// leaf of its class, and its covers add up.
    #[test]
    fn a_tree_fits_separable_rows_and_its_covers_add_up() {
        let x = array![
            [0.0, 5.0],
            [1.0, 3.0],
            [2.0, 1.0],
            [3.0, 0.0],
            [4.0, 4.0],
            [5.0, 2.0],
            [6.0, 6.0],
            [7.0, 7.0]
        ];
        let y = [false, false, true, true, false, true, true, false];
        let t = tree(&x, &y, None, 1);
        t.validate().unwrap();
        for (row, &label) in x.rows().into_iter().zip(&y) {
            let p = t.value(row.as_slice().unwrap());
            assert_eq!(p, f64::from(u8::from(label)), "row {row}");
        }
        for (i, n) in t.nodes.iter().enumerate() {
            if let Node::Split { left, right, .. } = n {
                assert_eq!(
                    t.cover[i],
                    t.cover[*left as usize] + t.cover[*right as usize]
                );
            }
        }
        assert_eq!(t.cover[0], 8.0);
        // A depth limit of 1 leaves one split.
        let stump = tree(&x, &y, Some(1), 1);
        assert_eq!(stump.nodes.len(), 3);
    }

    /// A forest is the same on one thread as on several, and differs with the seed.
    #[test]
    fn a_forest_is_reproducible_on_any_number_of_threads() {
        let n = 300;
        let x = Array2::from_shape_fn((n, 6), |(i, j)| {
            ((i * 7 + j * 13) % 17) as f64 + (i % (j + 2)) as f64
        });
        let y: Vec<bool> = (0..n).map(|i| (i * 31 % 7) < 3).collect();
        let b = Binned::new(&x);
        let g = Growth {
            max_depth: None,
            min_samples_leaf: 1,
            max_features: 2,
        };
        let many = forest(&b, &y, 20, g, 7);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| forest(&b, &y, 20, g, 7));
        assert_eq!(many, one);
        assert_ne!(forest(&b, &y, 20, g, 8), many);
    }
}
