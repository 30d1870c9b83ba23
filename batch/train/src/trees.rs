//! The decision tree and random forest families, grown by [`crate::cart`]: leaves hold the
//! share of adverse training rows that reach them (scikit-learn's `predict_proba` for a
//! tree; a forest averages its trees, each tree's shares weighted by its bootstrap counts).

use riskfn_core::model::{Forest, Model, Node, Tree};

use crate::cart::{self, Binned, Growth};
use crate::{Family, Fitted, Params, Result, Rows, optional, params};

pub const TREE: &str = "decision_tree";
pub const FOREST: &str = "random_forest";

#[derive(Debug, Clone, PartialEq)]
pub struct TreeSpec {
    /// `None`: grow until leaves are pure or too small.
    pub max_depth: Vec<Option<usize>>,
    pub min_samples_leaf: Vec<usize>,
}

impl Default for TreeSpec {
    fn default() -> Self {
        TreeSpec {
            max_depth: vec![Some(3), Some(5), Some(8), Some(12), None],
            min_samples_leaf: vec![1, 5, 20],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForestSpec {
    pub trees: Vec<usize>,
    pub max_depth: Vec<Option<usize>>,
    pub min_samples_leaf: Vec<usize>,
    /// Share of the inputs drawn at each split; `None`: sqrt(p) / p (scikit-learn's
    /// `max_features="sqrt"`).
    pub feature_proportion: Option<f64>,
}

impl Default for ForestSpec {
    fn default() -> Self {
        ForestSpec {
            trees: vec![300],
            max_depth: vec![None],
            min_samples_leaf: vec![1, 5, 20],
            feature_proportion: None,
        }
    }
}

fn leaves(t: &Tree) -> usize {
    t.nodes
        .iter()
        .filter(|n| matches!(n, Node::Leaf { .. }))
        .count()
}

impl TreeSpec {
    fn points(&self) -> Vec<(Option<usize>, usize)> {
        self.max_depth
            .iter()
            .flat_map(|&d| self.min_samples_leaf.iter().map(move |&l| (d, l)))
            .collect()
    }
}

impl Family for TreeSpec {
    fn name(&self) -> &'static str {
        TREE
    }

    fn grid(&self) -> Vec<Params> {
        self.points()
            .into_iter()
            .map(|(d, l)| params(&[("max_depth", optional(d)), ("min_samples_leaf", l.into())]))
            .collect()
    }

    fn min_class_rows(&self) -> usize {
        self.min_samples_leaf
            .iter()
            .min()
            .copied()
            .unwrap_or(1)
            .max(1)
            * 2
    }

    fn fit(&self, point: usize, fit: Rows<'_>, _: Rows<'_>, _: u64) -> Result<Fitted> {
        let (depth, leaf) = self.points()[point];
        let tree = cart::tree(fit.x, fit.y, depth, leaf);
        let n = leaves(&tree);
        Ok(Fitted::new(Model::DecisionTree(tree)).with_notes(&[("leaves", n.into())]))
    }
}

impl ForestSpec {
    fn points(&self) -> Vec<(usize, Option<usize>, usize)> {
        let mut out = Vec::new();
        for &n in &self.trees {
            for &d in &self.max_depth {
                for &l in &self.min_samples_leaf {
                    out.push((n, d, l));
                }
            }
        }
        out
    }

    /// Inputs drawn at each split out of `p`.
    pub fn max_features(&self, p: usize) -> usize {
        let p = p.max(1);
        let share = self
            .feature_proportion
            .unwrap_or(((p as f64).sqrt()).floor() / p as f64);
        ((share * p as f64).round() as usize).clamp(1, p)
    }
}

impl Family for ForestSpec {
    fn name(&self) -> &'static str {
        FOREST
    }

    fn grid(&self) -> Vec<Params> {
        self.points()
            .into_iter()
            .map(|(n, d, l)| {
                params(&[
                    ("trees", n.into()),
                    ("max_depth", optional(d)),
                    ("min_samples_leaf", l.into()),
                ])
            })
            .collect()
    }

    fn min_class_rows(&self) -> usize {
        5
    }

    fn fit(&self, point: usize, fit: Rows<'_>, _: Rows<'_>, seed: u64) -> Result<Fitted> {
        let (n_trees, max_depth, min_samples_leaf) = self.points()[point];
        let binned = Binned::new(fit.x);
        let max_features = self.max_features(binned.inputs());
        let growth = Growth {
            max_depth,
            min_samples_leaf,
            max_features,
        };
        let trees = cart::forest(&binned, fit.y, n_trees, growth, seed);
        let mean_leaves = trees.iter().map(leaves).sum::<usize>() as f64 / n_trees.max(1) as f64;
        Ok(
            Fitted::new(Model::RandomForest(Forest { trees })).with_notes(&[
                ("max_features", max_features.into()),
                ("mean_leaves", mean_leaves.into()),
            ]),
        )
    }
}
