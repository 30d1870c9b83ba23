//! Tree models laid out for scoring many rows at once: each tree a flat array walked
//! branch-free, rows in lockstep (the columnar scorer's trees; the scorer caches them).

use crate::model::{Forest, Model, Node, Tree};

/// Rows scored at once by the tree walks: the block's inputs stay in the second-level cache.
pub(crate) const BLOCK: usize = 256;
/// Rows walked through a tree in lockstep.
const LANES: usize = 8;

/// A tree laid out for branch-free walks: a leaf is a node that sends every row to itself.
#[derive(Debug, Clone)]
pub(crate) struct FlatTree {
    nodes: Vec<FlatNode>,
    /// The longest root-to-leaf path, in splits: after this many steps every row is at its leaf.
    depth: usize,
}

#[derive(Debug, Clone, Copy)]
struct FlatNode {
    threshold: f64,
    feature: u32,
    /// The next node: `[right, left]`, left when `x[feature] < threshold`, or when the
    /// input is NaN and `missing_left`.
    child: [u32; 2],
    missing_left: bool,
    /// A leaf's value.
    value: f64,
}

impl FlatNode {
    #[inline]
    fn next(&self, v: f64) -> u32 {
        self.child[usize::from((v < self.threshold) | (self.missing_left & v.is_nan()))]
    }
}

impl FlatTree {
    /// `None` when the tree reads an input at or past `width` (the row path reads it as 0),
    /// or splits on levels.
    fn new(tree: &Tree, width: usize) -> Option<FlatTree> {
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for (i, n) in tree.nodes.iter().enumerate() {
            nodes.push(match *n {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    missing_left,
                } => {
                    if feature as usize >= width {
                        return None;
                    }
                    FlatNode {
                        threshold,
                        feature,
                        child: [right, left],
                        missing_left,
                        value: f64::NAN,
                    }
                }
                Node::Leaf { value } => FlatNode {
                    threshold: 0.0,
                    feature: 0,
                    child: [i as u32; 2],
                    missing_left: false,
                    value,
                },
                // Level splits are not thresholds: such a tree is walked by the row path.
                Node::Levels { .. } => return None,
            });
        }
        // Children come after their parent (validated), so depths fill in from the back.
        let mut depth = vec![0usize; nodes.len()];
        for i in (0..nodes.len()).rev() {
            if let Node::Split { left, right, .. } = tree.nodes[i] {
                depth[i] = 1 + depth[left as usize].max(depth[right as usize]);
            }
        }
        Some(FlatTree {
            depth: depth.first().copied().unwrap_or(0),
            nodes,
        })
    }

    /// The leaf probability of each row of `x` (`rows` rows of `width` inputs), into `out`.
    fn leaves(&self, x: &[f64], width: usize, out: &mut [f64]) {
        let rows = out.len();
        let mut r = 0;
        while r + LANES <= rows {
            let mut at = [0u32; LANES];
            for _ in 0..self.depth {
                for (lane, i) in at.iter_mut().enumerate() {
                    let n = &self.nodes[*i as usize];
                    *i = n.next(x[(r + lane) * width + n.feature as usize]);
                }
            }
            for (lane, i) in at.iter().enumerate() {
                out[r + lane] = self.nodes[*i as usize].value;
            }
            r += LANES;
        }
        for (k, o) in out.iter_mut().enumerate().skip(r) {
            let mut i = 0u32;
            for _ in 0..self.depth {
                let n = &self.nodes[i as usize];
                i = n.next(x[k * width + n.feature as usize]);
            }
            *o = self.nodes[i as usize].value;
        }
    }
}

/// A decision tree, forest or boosted ensemble in the branch-free layout.
#[derive(Debug, Clone)]
pub(crate) enum FlatTrees {
    Tree(FlatTree),
    Forest(Vec<FlatTree>),
    Boosted {
        base_score: f64,
        trees: Vec<FlatTree>,
    },
}

fn flat_all(trees: &[Tree], width: usize) -> Option<Vec<FlatTree>> {
    trees.iter().map(|t| FlatTree::new(t, width)).collect()
}

impl FlatTrees {
    pub(crate) fn new(model: &Model, width: usize) -> Option<FlatTrees> {
        match model {
            Model::DecisionTree(t) => FlatTree::new(t, width).map(FlatTrees::Tree),
            Model::RandomForest(Forest { trees }) => flat_all(trees, width).map(FlatTrees::Forest),
            Model::GradientBoosting(b) => {
                flat_all(&b.trees, width).map(|trees| FlatTrees::Boosted {
                    base_score: b.base_score,
                    trees,
                })
            }
            _ => None,
        }
    }

    /// The model's probability for each row of `x`, into `out`: a tree's leaf; a forest's
    /// leaves summed in tree order and divided by the number of trees, as
    /// [`Forest::probability`] does; a boosted ensemble's base score plus its leaves in
    /// tree order, through the sigmoid, as [`crate::model::Boosted::margin`] does.
    pub(crate) fn probabilities(
        &self,
        x: &[f64],
        width: usize,
        out: &mut [f64],
        leaf: &mut Vec<f64>,
    ) {
        match self {
            FlatTrees::Tree(t) => t.leaves(x, width, out),
            FlatTrees::Forest(trees) => {
                leaf.resize(out.len(), 0.0);
                out.fill(-0.0);
                for t in trees {
                    t.leaves(x, width, leaf);
                    for (o, l) in out.iter_mut().zip(leaf.iter()) {
                        *o += l;
                    }
                }
                let n = trees.len().max(1) as f64;
                for o in out.iter_mut() {
                    *o /= n;
                }
            }
            FlatTrees::Boosted { base_score, trees } => {
                leaf.resize(out.len(), 0.0);
                out.fill(*base_score);
                for t in trees {
                    t.leaves(x, width, leaf);
                    for (o, l) in out.iter_mut().zip(leaf.iter()) {
                        *o += l;
                    }
                }
                for o in out.iter_mut() {
                    *o = crate::model::sigmoid(*o);
                }
            }
        }
    }
}
