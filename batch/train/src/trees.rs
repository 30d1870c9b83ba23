//! Decision trees and random forests (linfa-trees, linfa-ensemble), converted to flat trees
//! whose leaves hold the share of adverse training rows that reach them (scikit-learn's
//! `predict_proba` for a tree; a forest averages its trees).
//!
//! linfa's `RandomForest` has no serde support (rust-ml/linfa#449), but its trees and their
//! feature subsets are public: each tree is walked through its public node API. A linfa
//! forest draws one feature subset per tree (`feature_proportion`), not one per split.

use std::time::Instant;

use linfa::prelude::*;
use linfa_ensemble::RandomForestParams;
use linfa_trees::{DecisionTree, SplitQuality, TreeNode};
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand::rngs::StdRng;
use riskfn_core::model::{Forest, Model, Node, Tree};

use crate::metrics::roc_auc;
use crate::{Best, Data, FamilyResult, GridPoint, Result, TrainError, params, probabilities};

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
    /// Share of inputs each tree sees; `None`: sqrt(p) / p.
    pub feature_proportion: Option<f64>,
}

impl Default for ForestSpec {
    fn default() -> Self {
        ForestSpec {
            trees: vec![100, 300],
            max_depth: vec![None, Some(8), Some(16)],
            feature_proportion: None,
        }
    }
}

/// Flatten a linfa tree (splits `x[f] < t` go left); `features` maps the tree's input
/// indices to the design matrix's. Leaves are given probabilities by [`fill_leaves`].
fn flatten(root: &TreeNode<f64, bool>, features: Option<&[usize]>) -> Tree {
    let mut nodes = Vec::new();
    fn walk(n: &TreeNode<f64, bool>, features: Option<&[usize]>, nodes: &mut Vec<Node>) -> u32 {
        let at = nodes.len();
        nodes.push(Node::Leaf { p: f64::NAN });
        let kids = n.children();
        if let (false, Some(l), Some(r)) = (n.is_leaf(), kids[0].as_deref(), kids[1].as_deref()) {
            let (f, threshold, _) = n.split();
            let feature = features.map_or(f, |m| m[f]) as u32;
            let left = walk(l, features, nodes);
            let right = walk(r, features, nodes);
            nodes[at] = Node::Split {
                feature,
                threshold,
                left,
                right,
            };
        }
        at as u32
    }
    walk(root, features, &mut nodes);
    Tree { nodes }
}

/// Set each leaf to the share of adverse rows among the training rows reaching it (the
/// overall share where none does).
fn fill_leaves(tree: &mut Tree, x: &Array2<f64>, y: &[bool]) {
    let mut counts = vec![(0usize, 0usize); tree.nodes.len()];
    for (row, &label) in x.rows().into_iter().zip(y) {
        let mut i = 0usize;
        while let Node::Split {
            feature,
            threshold,
            left,
            right,
        } = tree.nodes[i]
        {
            i = if row[feature as usize] < threshold {
                left
            } else {
                right
            } as usize;
        }
        counts[i].0 += usize::from(label);
        counts[i].1 += 1;
    }
    let overall = y.iter().filter(|&&b| b).count() as f64 / y.len().max(1) as f64;
    for (node, (adverse, total)) in tree.nodes.iter_mut().zip(counts) {
        if let Node::Leaf { p } = node {
            *p = if total == 0 {
                overall
            } else {
                adverse as f64 / total as f64
            };
        }
    }
}

fn depth_param(d: Option<usize>) -> serde_json::Value {
    d.map_or(serde_json::Value::Null, Into::into)
}

pub fn train_tree(spec: &TreeSpec, data: &Data<'_>) -> Result<FamilyResult> {
    let dataset = Dataset::new(data.train.x.clone(), Array1::from(data.train.y.to_vec()));
    let mut best = Best::new();
    for &depth in &spec.max_depth {
        for &leaf in &spec.min_samples_leaf {
            let started = Instant::now();
            let fitted = DecisionTree::params()
                .split_quality(SplitQuality::Gini)
                .max_depth(depth)
                .min_weight_leaf(leaf as f32)
                .fit(&dataset)
                .map_err(|e| {
                    TrainError::new(
                        TREE,
                        format!("max_depth={depth:?} min_samples_leaf={leaf}: {e}"),
                    )
                })?;
            let mut tree = flatten(fitted.root_node(), None);
            fill_leaves(&mut tree, data.train.x, data.train.y);
            let leaves = tree
                .nodes
                .iter()
                .filter(|n| matches!(n, Node::Leaf { .. }))
                .count();
            let model = Model::DecisionTree(tree);
            let fit_seconds = started.elapsed().as_secs_f64();
            let auc = roc_auc(data.validation.y, &probabilities(&model, data.validation.x));
            best.offer(
                GridPoint {
                    params: params(&[
                        ("max_depth", depth_param(depth)),
                        ("min_samples_leaf", leaf.into()),
                    ]),
                    validation_auc: auc,
                    fit_seconds,
                    notes: params(&[("leaves", leaves.into())]),
                },
                model,
            );
        }
    }
    best.finish(TREE, Vec::new())
}

pub fn train_forest(spec: &ForestSpec, data: &Data<'_>) -> Result<FamilyResult> {
    use rayon::prelude::*;

    let dataset = Dataset::new(data.train.x.clone(), Array1::from(data.train.y.to_vec()));
    let p = data.train.x.ncols().max(1) as f64;
    let proportion = spec
        .feature_proportion
        .unwrap_or(p.sqrt() / p)
        .clamp(1.0 / p, 1.0);
    let grid: Vec<(usize, Option<usize>)> = spec
        .trees
        .iter()
        .flat_map(|&n| spec.max_depth.iter().map(move |&d| (n, d)))
        .collect();
    // Grid points are independent: fit them on every core, keep their order.
    let fitted: Vec<Result<(GridPoint, Model)>> = grid
        .par_iter()
        .map(|&(n_trees, depth)| {
            let started = Instant::now();
            let rng = StdRng::seed_from_u64(data.seed);
            let fitted =
                RandomForestParams::new_fixed_rng(DecisionTree::params().max_depth(depth), rng)
                    .ensemble_size(n_trees)
                    .bootstrap_proportion(1.0)
                    .feature_proportion(proportion)
                    .fit(&dataset)
                    .map_err(|e| {
                        TrainError::new(FOREST, format!("trees={n_trees} max_depth={depth:?}: {e}"))
                    })?;
            let trees: Vec<Tree> = fitted
                .models
                .iter()
                .zip(&fitted.model_features)
                .map(|(t, feats)| {
                    let mut tree = flatten(t.root_node(), Some(feats));
                    fill_leaves(&mut tree, data.train.x, data.train.y);
                    tree
                })
                .collect();
            let model = Model::RandomForest(Forest { trees });
            let fit_seconds = started.elapsed().as_secs_f64();
            let auc = roc_auc(data.validation.y, &probabilities(&model, data.validation.x));
            Ok((
                GridPoint {
                    params: params(&[("trees", n_trees.into()), ("max_depth", depth_param(depth))]),
                    validation_auc: auc,
                    fit_seconds,
                    notes: params(&[("feature_proportion", proportion.into())]),
                },
                model,
            ))
        })
        .collect();
    let mut best = Best::new();
    for r in fitted {
        let (point, model) = r?;
        best.offer(point, model);
    }
    best.finish(FOREST, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The flattened tree routes every row to a leaf with linfa's own predicted class, and
    /// survives a save and reload.
    #[test]
    fn flattened_tree_agrees_with_linfa() {
        let x = array![
            [0.0, 1.0],
            [1.0, 0.5],
            [2.0, -1.0],
            [3.0, 0.0],
            [0.5, 2.0],
            [2.5, 1.5],
            [1.5, 1.0],
            [0.2, 0.1]
        ];
        let y = array![false, false, true, true, false, true, true, false];
        let fitted = DecisionTree::params()
            .fit(&Dataset::new(x.clone(), y.clone()))
            .unwrap();
        let mut tree = flatten(fitted.root_node(), None);
        fill_leaves(&mut tree, &x, y.as_slice().unwrap());
        let model = Model::DecisionTree(tree);
        let reloaded: Model =
            serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
        let predicted = fitted.predict(&x);
        for (row, label) in x.rows().into_iter().zip(predicted.iter()) {
            let p = reloaded.probability(row.as_slice().unwrap());
            assert_eq!(p >= 0.5, *label, "row {row}: p {p}");
        }
    }
}
