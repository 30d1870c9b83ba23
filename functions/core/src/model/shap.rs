//! Exact per-input contributions of tree models: path-dependent TreeSHAP (Lundberg et al.,
//! "From local explanations to global understanding with explainable AI for trees", Nature
//! Machine Intelligence 2020, Algorithm 2), the algorithm of the `shap` package's
//! `TreeExplainer(feature_perturbation="tree_path_dependent")`.
//!
//! For one tree and one input `x`, `phi[i]` is input `i`'s Shapley value of the tree's
//! output, the expectation over a missing input taken along the tree's own training
//! weights (each node's cover); the `phi` sum to the tree's value at `x` minus its expected
//! value ([`expected_value`]). A sum of trees adds its trees' `phi`.

use crate::model::{Node, Tree};

/// One input on the path from the root to the current node: the share of the weight that
/// goes this way when the input is unknown (`zero`) or known (`one`: 1 or 0), and the
/// weight of the subsets of path inputs of each size (`weight`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PathElem {
    input: i64,
    zero: f64,
    one: f64,
    weight: f64,
}

/// The tree's expected value: its leaves averaged by the share of cover that reaches them
/// (along each split, the children's covers relative to their parent's).
pub fn expected_value(tree: &Tree) -> f64 {
    fn at(tree: &Tree, i: usize) -> f64 {
        match tree.nodes[i].split() {
            None => match tree.nodes[i] {
                Node::Leaf { value } => value,
                _ => f64::NAN,
            },
            Some((_, left, right)) => {
                let (l, r) = (left as usize, right as usize);
                let w = tree.cover[i];
                tree.cover[l] / w * at(tree, l) + tree.cover[r] / w * at(tree, r)
            }
        }
    }
    at(tree, 0)
}

/// Whether TreeSHAP can run on the tree: a positive cover at every node.
pub fn has_cover(tree: &Tree) -> bool {
    tree.cover.len() == tree.nodes.len() && tree.cover.iter().all(|&c| c > 0.0)
}

/// The longest root-to-leaf path of a well-formed tree, in splits.
pub fn depth(tree: &Tree) -> usize {
    let mut d = vec![0usize; tree.nodes.len()];
    for i in (0..tree.nodes.len()).rev() {
        if let Some((_, left, right)) = tree.nodes[i].split() {
            d[i] = 1 + d[left as usize].max(d[right as usize]);
        }
    }
    d.first().copied().unwrap_or(0)
}

/// Add the tree's contribution of each input at `x` to `phi` (one slot per input). The
/// tree must have a cover ([`has_cover`]) and be well formed; `path` is scratch space,
/// grown as needed.
pub fn add_tree_shap(tree: &Tree, x: &[f64], phi: &mut [f64], path: &mut Vec<PathElem>) {
    let need = path_len(depth(tree));
    if path.len() < need {
        path.resize(need, PathElem::default());
    }
    add_tree_shap_in(tree, x, phi, path);
}

/// The scratch space [`add_tree_shap_in`] needs for a tree `depth` splits deep.
pub fn path_len(depth: usize) -> usize {
    let d = depth + 2;
    d * (d + 1) / 2 + d + 1
}

/// [`add_tree_shap`] with `path` at least [`path_len`] of the tree's depth long: a scorer
/// sizes it once for its deepest tree instead of walking every tree on every call.
pub fn add_tree_shap_in(tree: &Tree, x: &[f64], phi: &mut [f64], path: &mut [PathElem]) {
    recurse(tree, x, phi, path, 0, 0, 0, 1.0, 1.0, -1);
}

/// Visit `node`, reached along the parent's path (at `parent` in `buf`, `depth + 1`
/// elements), whose last split read `input` and sent `zero` of the weight (and `one` of a
/// known `x`) this way.
#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    x: &[f64],
    phi: &mut [f64],
    buf: &mut [PathElem],
    node: usize,
    parent: usize,
    depth: usize,
    zero: f64,
    one: f64,
    input: i64,
) {
    let at = parent + depth + 1;
    buf.copy_within(parent..parent + depth + 1, at);
    let path = &mut buf[at..];
    extend(path, depth, zero, one, input);
    match tree.nodes[node].split() {
        None => {
            let Node::Leaf { value } = tree.nodes[node] else {
                return;
            };
            for i in 1..=depth {
                let w = unwound_sum(path, depth, i);
                let e = path[i];
                if let Some(p) = phi.get_mut(e.input as usize) {
                    *p += w * (e.one - e.zero) * value;
                }
            }
        }
        Some((feature, left, right)) => {
            let hot = tree.child(node, x).unwrap_or(left as usize);
            let cold = if hot == left as usize {
                right as usize
            } else {
                left as usize
            };
            let w = tree.cover[node];
            let (hot_zero, cold_zero) = (tree.cover[hot] / w, tree.cover[cold] / w);
            let (mut in_zero, mut in_one) = (1.0, 1.0);
            let mut depth = depth;
            // An input split on higher up is taken off the path and put back here.
            if let Some(k) = (0..=depth).find(|&k| path[k].input == i64::from(feature)) {
                in_zero = path[k].zero;
                in_one = path[k].one;
                unwind(path, depth, k);
                depth -= 1;
            }
            let f = i64::from(feature);
            recurse(
                tree,
                x,
                phi,
                buf,
                hot,
                at,
                depth + 1,
                hot_zero * in_zero,
                in_one,
                f,
            );
            recurse(
                tree,
                x,
                phi,
                buf,
                cold,
                at,
                depth + 1,
                cold_zero * in_zero,
                0.0,
                f,
            );
        }
    }
}

/// Most inputs one leaf's path may read for [`LeafTables`] (a leaf's table has `2^d` rows).
const MAX_PATH_INPUTS: usize = 12;

/// A tree's TreeSHAP laid out per leaf, as Fast TreeSHAP v2 does (Yang, "Fast TreeSHAP",
/// 2021): a leaf's contributions depend on `x` only through which of its path's inputs
/// `x` follows at every split, so each leaf keeps them for every such pattern. Scoring then
/// reads one row per leaf instead of walking paths, and a tree of a few splits one row in
/// all (the leaves' rows summed for each pattern of directions at its splits); the values
/// equal [`add_tree_shap`]'s up to rounding.
#[derive(Debug, Clone)]
pub struct LeafTables {
    leaves: Vec<LeafTable>,
    /// For a tree of at most [`MAX_WHOLE_SPLITS`] splits, the leaves' rows summed for
    /// every pattern of directions at its splits: one row read a tree.
    whole: Option<WholeTree>,
}

/// Most splits a tree may have for [`WholeTree`] (a table of `2^s` rows).
const MAX_WHOLE_SPLITS: usize = 8;

#[derive(Debug, Clone)]
struct WholeTree {
    /// The split nodes' tests (input, threshold, whether a missing value goes left); bit
    /// `b` of a pattern: the input goes left at split `b`. Kept apart from the nodes so a
    /// record's pattern is a few comparisons, without branching on node kinds.
    tests: Vec<(u32, f64, bool)>,
    /// The tree's distinct inputs.
    inputs: Vec<u32>,
    /// `values[pattern * inputs.len() + k]`: input `k`'s contribution.
    values: Vec<f64>,
    /// `leaf[pattern]`: the value of the leaf the pattern leads to.
    leaf: Vec<f64>,
}

impl WholeTree {
    fn new(tree: &Tree, leaves: &[LeafTable]) -> Option<WholeTree> {
        // Its tests are thresholds: a tree with level splits keeps its leaves' tables only.
        if tree.nodes.iter().any(|n| matches!(n, Node::Levels { .. })) {
            return None;
        }
        let splits: Vec<u32> = (0..tree.nodes.len() as u32)
            .filter(|&i| matches!(tree.nodes[i as usize], Node::Split { .. }))
            .collect();
        if splits.len() > MAX_WHOLE_SPLITS {
            return None;
        }
        let mut inputs: Vec<u32> = leaves
            .iter()
            .flat_map(|l| l.inputs.iter().copied())
            .collect();
        inputs.sort_unstable();
        inputs.dedup();
        let k = inputs.len();
        let mut values = vec![0.0; (1 << splits.len()) * k];
        let mut reached = vec![0.0; 1 << splits.len()];
        let mut dirs = vec![u32::MAX; tree.nodes.len()];
        for pattern in 0..1usize << splits.len() {
            for (b, &node) in splits.iter().enumerate() {
                if let Node::Split { left, right, .. } = tree.nodes[node as usize] {
                    dirs[node as usize] = if pattern >> b & 1 == 1 { left } else { right };
                }
            }
            reached[pattern] = leaf_at(tree, &dirs);
            let row = &mut values[pattern * k..(pattern + 1) * k];
            for leaf in leaves {
                let d = leaf.inputs.len();
                let mask = leaf.mask(&dirs);
                for (j, &input) in leaf.inputs.iter().enumerate() {
                    let at = inputs.partition_point(|&i| i < input);
                    row[at] += leaf.values[mask * d + j];
                }
            }
        }
        let tests = splits
            .iter()
            .filter_map(|&node| match tree.nodes[node as usize] {
                Node::Split {
                    feature,
                    threshold,
                    missing_left,
                    ..
                } => Some((feature, threshold, missing_left)),
                _ => None,
            })
            .collect();
        Some(WholeTree {
            tests,
            inputs,
            values,
            leaf: reached,
        })
    }
}

/// The value of the leaf reached from the root by following `dirs` (the child each split
/// sends the input to), as `Tree::value` walks it; 0 for a malformed tree.
fn leaf_at(tree: &Tree, dirs: &[u32]) -> f64 {
    let mut i = 0;
    for _ in 0..=tree.nodes.len() {
        match tree.nodes.get(i) {
            Some(Node::Leaf { value }) => return *value,
            Some(_) => i = dirs.get(i).map_or(usize::MAX, |&d| d as usize),
            None => break,
        }
    }
    0.0
}

/// A split on the way to a leaf: its node, the child taken, the input it reads.
type Step = (u32, u32, u32);

#[derive(Debug, Clone)]
struct LeafTable {
    /// The path's splits: node, the child on the path, and the path input it reads.
    steps: Vec<(u32, u32, u8)>,
    /// The path's distinct inputs, in order of first split.
    inputs: Vec<u32>,
    /// `values[mask * d + j]`: input `j`'s contribution (leaf value included) when `x`
    /// follows the path at every split on input `k` exactly for the bits `k` of `mask`.
    values: Vec<f64>,
}

impl LeafTables {
    /// `None` when a leaf's path reads more than [`MAX_PATH_INPUTS`] inputs. The tree must
    /// have a cover ([`has_cover`]).
    pub fn new(tree: &Tree) -> Option<LeafTables> {
        let mut leaves = Vec::new();
        // (node, the splits above it: node, child taken, input)
        let mut stack: Vec<(usize, Vec<Step>)> = vec![(0, Vec::new())];
        while let Some((node, steps)) = stack.pop() {
            match (tree.nodes[node], tree.nodes[node].split()) {
                (Node::Leaf { value }, _) => leaves.push(LeafTable::new(tree, &steps, value)?),
                (_, None) => return None,
                (_, Some((feature, left, right))) => {
                    for child in [right, left] {
                        let mut s = steps.clone();
                        s.push((node as u32, child, feature));
                        stack.push((child as usize, s));
                    }
                }
            }
        }
        let whole = WholeTree::new(tree, &leaves);
        Some(LeafTables { leaves, whole })
    }

    /// Table entries held: what the tables cost in memory, 8 bytes each.
    pub fn len(&self) -> usize {
        self.leaves.iter().map(|l| l.values.len()).sum::<usize>()
            + self.whole.as_ref().map_or(0, |w| w.values.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add the tree's contribution of each input at `x` to `phi`, as [`add_tree_shap`]
    /// does, and return the value of the leaf `x` reaches (`Tree::value`, from the same
    /// decisions); `dirs` is scratch space.
    pub fn add(&self, tree: &Tree, x: &[f64], phi: &mut [f64], dirs: &mut Vec<u32>) -> f64 {
        if let Some(w) = &self.whole {
            // As `Node::child` decides (a tree whose split sends both ways to one child
            // has the same row either way).
            let mut pattern = 0;
            for (b, &(feature, threshold, missing_left)) in w.tests.iter().enumerate() {
                let v = x.get(feature as usize).copied().unwrap_or(0.0);
                let left = v < threshold || (missing_left && v.is_nan());
                pattern |= usize::from(left) << b;
            }
            let k = w.inputs.len();
            for (&i, &v) in w
                .inputs
                .iter()
                .zip(&w.values[pattern * k..(pattern + 1) * k])
            {
                if let Some(p) = phi.get_mut(i as usize) {
                    *p += v;
                }
            }
            return w.leaf[pattern];
        }
        dirs.clear();
        dirs.extend((0..tree.nodes.len()).map(|i| tree.child(i, x).map_or(u32::MAX, |c| c as u32)));
        for leaf in &self.leaves {
            let d = leaf.inputs.len();
            let mask = leaf.mask(dirs);
            let row = &leaf.values[mask * d..(mask + 1) * d];
            for (&i, &v) in leaf.inputs.iter().zip(row) {
                if let Some(p) = phi.get_mut(i as usize) {
                    *p += v;
                }
            }
        }
        leaf_at(tree, dirs)
    }
}

impl LeafTable {
    /// The path inputs `x` follows at every split (`dirs`: the child each node sends it to).
    fn mask(&self, dirs: &[u32]) -> usize {
        let mut mask = (1usize << self.inputs.len()) - 1;
        for &(node, child, j) in &self.steps {
            if dirs[node as usize] != child {
                mask &= !(1 << j);
            }
        }
        mask
    }

    fn new(tree: &Tree, steps: &[Step], value: f64) -> Option<LeafTable> {
        let (mut inputs, mut zero) = (Vec::<u32>::new(), Vec::<f64>::new());
        let mut path_steps = Vec::with_capacity(steps.len());
        for &(node, child, feature) in steps {
            let j = match inputs.iter().position(|&i| i == feature) {
                Some(j) => j,
                None => {
                    inputs.push(feature);
                    zero.push(1.0);
                    inputs.len() - 1
                }
            };
            // The share of the weight that takes this way when the input is unknown.
            zero[j] *= tree.cover[child as usize] / tree.cover[node as usize];
            path_steps.push((node, child, j as u8));
        }
        let d = inputs.len();
        if d > MAX_PATH_INPUTS {
            return None;
        }
        let mut values = vec![0.0; (1 << d) * d];
        let mut path = vec![PathElem::default(); d + 1];
        for mask in 0..1usize << d {
            extend(&mut path, 0, 1.0, 1.0, -1);
            for j in 0..d {
                let one = f64::from(u8::from(mask >> j & 1 == 1));
                extend(&mut path, j + 1, zero[j], one, i64::from(inputs[j]));
            }
            for j in 0..d {
                let e = path[j + 1];
                values[mask * d + j] = unwound_sum(&path, d, j + 1) * (e.one - e.zero) * value;
            }
        }
        Some(LeafTable {
            steps: path_steps,
            inputs,
            values,
        })
    }
}

/// `1 / k` for the small `k` the path arithmetic divides by: a multiplication costs a few
/// cycles, a division twenty (TreeSHAP's reasons spent most of their time dividing).
const RECIP: [f64; 64] = {
    let mut r = [0.0; 64];
    let mut k = 1;
    while k < 64 {
        r[k] = 1.0 / k as f64;
        k += 1;
    }
    r
};

fn recip(k: usize) -> f64 {
    match RECIP.get(k) {
        Some(&r) => r,
        None => 1.0 / k as f64,
    }
}

/// Add an input to a path of `depth` elements (Algorithm 2's EXTEND).
fn extend(path: &mut [PathElem], depth: usize, zero: f64, one: f64, input: i64) {
    path[depth] = PathElem {
        input,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let inv_n = recip(depth + 1);
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 * inv_n;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 * inv_n;
    }
}

/// Take element `k` off a path of `depth + 1` elements (Algorithm 2's UNWIND).
fn unwind(path: &mut [PathElem], depth: usize, k: usize) {
    let (one, zero) = (path[k].one, path[k].zero);
    let n = (depth + 1) as f64;
    let inv_n = recip(depth + 1);
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * n * recip(i + 1) / one;
            next = tmp - path[i].weight * zero * (depth - i) as f64 * inv_n;
        } else {
            path[i].weight = path[i].weight * n * recip(depth - i) / zero;
        }
    }
    for i in k..depth {
        path[i].input = path[i + 1].input;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

/// The total weight of a path of `depth + 1` elements with element `k` unwound, without
/// unwinding it.
fn unwound_sum(path: &[PathElem], depth: usize, k: usize) -> f64 {
    let (one, zero) = (path[k].one, path[k].zero);
    let mut next = path[depth].weight;
    let mut total = 0.0;
    if one != 0.0 {
        let inv_one = 1.0 / one;
        for i in (0..depth).rev() {
            let tmp = next * recip(i + 1) * inv_one;
            total += tmp;
            next = path[i].weight - tmp * zero * (depth - i) as f64;
        }
    } else {
        let inv_zero = 1.0 / zero;
        for i in (0..depth).rev() {
            total += path[i].weight * recip(depth - i) * inv_zero;
        }
    }
    total * (depth + 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(feature: u32, threshold: f64, left: u32, right: u32) -> Node {
        Node::Split {
            feature,
            threshold,
            left,
            right,
            missing_left: false,
        }
    }

    /// The tables give `want` at `x`, and the leaf the walk reaches, to the bit (the margin
    /// comes from it).
    fn tables_agree(tables: &LeafTables, tree: &Tree, x: &[f64], want: &[f64]) {
        let mut by_table = vec![0.0; want.len()];
        let leaf = tables.add(tree, x, &mut by_table, &mut Vec::new());
        assert_eq!(leaf.to_bits(), tree.value(x).to_bits(), "{x:?}");
        for (a, b) in by_table.iter().zip(want) {
            assert!(
                (a - b).abs() < 1e-12,
                "{x:?}: {by_table:?} against {want:?}"
            );
        }
    }

    /// Shapley values by their definition: over every subset S of the other inputs, the
    /// weighted change of E[f | x_S] when input i joins, E taken along the covers.
    fn brute_force(tree: &Tree, x: &[f64], n: usize) -> Vec<f64> {
        fn cond(tree: &Tree, i: usize, x: &[f64], known: u32) -> f64 {
            match tree.nodes[i].split() {
                None => match tree.nodes[i] {
                    Node::Leaf { value } => value,
                    _ => unreachable!(),
                },
                Some((feature, left, right)) => {
                    if known >> feature & 1 == 1 {
                        cond(tree, tree.child(i, x).unwrap(), x, known)
                    } else {
                        let (l, r) = (left as usize, right as usize);
                        let w = tree.cover[i];
                        tree.cover[l] / w * cond(tree, l, x, known)
                            + tree.cover[r] / w * cond(tree, r, x, known)
                    }
                }
            }
        }
        let fact = |k: usize| (1..=k).map(|v| v as f64).product::<f64>();
        (0..n)
            .map(|i| {
                let mut phi = 0.0;
                for s in 0u32..(1 << n) {
                    if s >> i & 1 == 1 {
                        continue;
                    }
                    let k = s.count_ones() as usize;
                    let weight = fact(k) * fact(n - k - 1) / fact(n);
                    phi += weight * (cond(tree, 0, x, s | 1 << i) - cond(tree, 0, x, s));
                }
                phi
            })
            .collect()
    }

    /// A tree that splits on input 0 twice on one path and reads a NaN through a missing
    /// branch: TreeSHAP equals the Shapley values computed by their definition, and the
    /// values add up to the tree's output minus its expectation.
    #[test]
    fn tree_shap_equals_the_definition() {
        let mut tree = Tree {
            nodes: vec![
                split(0, 0.5, 1, 2),
                split(1, 1.0, 3, 4),
                split(2, -1.0, 5, 6),
                split(0, 0.2, 7, 8),
                Node::Leaf { value: 0.3 },
                Node::Leaf { value: -0.4 },
                split(0, 2.0, 9, 10),
                Node::Leaf { value: 1.1 },
                Node::Leaf { value: -0.7 },
                Node::Leaf { value: 0.05 },
                Node::Leaf { value: 0.6 },
            ],
            cover: vec![
                100.0, 60.0, 40.0, 35.0, 25.0, 15.0, 25.0, 20.0, 15.0, 10.0, 15.0,
            ],
            level_sets: Vec::new(),
        };
        if let Node::Split { missing_left, .. } = &mut tree.nodes[1] {
            *missing_left = true;
        }
        let mut path = Vec::new();
        for x in [
            [0.1, 0.0, 0.0],
            [0.3, 2.0, 5.0],
            [3.0, 0.0, 0.0],
            [1.0, 0.0, -3.0],
            [0.0, f64::NAN, 1.0],
        ] {
            let mut phi = vec![0.0; 3];
            add_tree_shap(&tree, &x, &mut phi, &mut path);
            let want = brute_force(&tree, &x, 3);
            for (a, b) in phi.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{x:?}: {phi:?} against {want:?}");
            }
            let total: f64 = phi.iter().sum();
            assert!((total - (tree.value(&x) - expected_value(&tree))).abs() < 1e-12);
            // The per-leaf tables give the same values (input 0 is split on three times).
            // Both forms: the whole tree's table (5 splits), and the leaves' rows.
            let whole = LeafTables::new(&tree).unwrap();
            assert!(whole.whole.is_some());
            let by_leaf = LeafTables {
                whole: None,
                ..whole.clone()
            };
            for tables in [whole, by_leaf] {
                tables_agree(&tables, &tree, &x, &want);
            }
        }
    }

    /// Splits on levels: TreeSHAP, by the walk and by the leaves' tables, equals the
    /// Shapley values by their definition, an unseen level (NaN) going right.
    #[test]
    fn tree_shap_with_level_splits_equals_the_definition() {
        let levels = |feature, set, left, right| Node::Levels {
            feature,
            set,
            left,
            right,
        };
        let tree = Tree {
            nodes: vec![
                levels(1, 0, 1, 2),
                split(0, 0.5, 3, 4),
                levels(1, 1, 5, 6),
                Node::Leaf { value: 0.3 },
                levels(2, 0, 7, 8),
                Node::Leaf { value: -0.4 },
                Node::Leaf { value: 0.9 },
                Node::Leaf { value: 1.1 },
                Node::Leaf { value: -0.7 },
            ],
            cover: vec![100.0, 60.0, 40.0, 35.0, 25.0, 15.0, 25.0, 5.0, 20.0],
            level_sets: vec![vec![0, 2, 5], vec![3]],
        };
        tree.validate().unwrap();
        let mut path = Vec::new();
        for x in [
            [0.1, 0.0, 0.0],
            [0.7, 2.0, 5.0],
            [0.7, 3.0, 1.0],
            [0.2, 4.0, 2.0],
            [0.9, f64::NAN, f64::NAN],
            [0.9, 5.0, 7.0],
        ] {
            let mut phi = vec![0.0; 3];
            add_tree_shap(&tree, &x, &mut phi, &mut path);
            let want = brute_force(&tree, &x, 3);
            for (a, b) in phi.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{x:?}: {phi:?} against {want:?}");
            }
            let tables = LeafTables::new(&tree).unwrap();
            assert!(tables.whole.is_none());
            tables_agree(&tables, &tree, &x, &want);
        }
        // Unseen (NaN) goes right at the root: to node 2, then right again (not level 3).
        assert_eq!(tree.value(&[0.0, f64::NAN, 0.0]), 0.9);
        assert_eq!(tree.value(&[0.0, 3.0, 0.0]), -0.4);
        assert_eq!(tree.value(&[0.9, 2.0, 5.0]), 1.1);
        let bad = Tree {
            level_sets: vec![vec![2, 1]],
            ..tree.clone()
        };
        assert!(bad.validate().is_err());
    }
}
