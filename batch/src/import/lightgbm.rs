//! LightGBM's text model (`Booster.save_model`) as riskfn's boosted trees.
//!
//! A binary model's trees become [`Boosted`] trees over one input per model feature: a
//! number as it is (NaN when missing), a category as its level's position among the
//! feature's levels (LightGBM's `pandas_categorical`, sorted; NaN when missing or unseen).
//! Each split keeps LightGBM's routing exactly:
//! - `x <= t` goes left: riskfn's `x < next_up(t)`, the same for every double;
//! - missing type None (a NaN is read as 0): NaN goes left when `0 <= t`; type NaN: where
//!   `default_left` says; type Zero (`zero_as_missing`: NaN and any value within 1e-35 of
//!   zero go where `default_left` says): the feature's encoding reads those values as
//!   missing (`zero_missing`), and its splits send a missing one where `default_left` says;
//! - a category split sends the codes of its bitset left, others right, and a missing or
//!   unseen category (NaN) right, as riskfn's level splits do;
//! - leaves are scaled by the objective's sigmoid; the initial score is already in the first
//!   tree's leaves (LightGBM folds it there); in random-forest mode (`average_output`) the
//!   trees' outputs are averaged: each leaf is divided by their number;
//! - each node's cover is its training row count (`internal_count`, `leaf_count`), the
//!   weights LightGBM's own TreeSHAP (`pred_contrib`) takes expectations over.
//!
//! Refused by name: multiclass, objectives other than binary, linear trees.

use std::collections::HashMap;

use riskfn_core::features::preprocess::{Encoding, ZERO_MISSING};
use riskfn_core::model::{Boosted, Node, Tree};

use super::{Converted, Format, ImportError, Imported, positions};

const FORMAT: Format = Format("LightGBM");

/// A parsed LightGBM text model.
#[derive(Debug, Clone, PartialEq)]
pub struct LightGbm {
    pub feature_names: Vec<String>,
    /// Per feature: its categories in LightGBM's codes (code `c` is `categories[c]`), for
    /// the categorical ones.
    pub categories: Vec<Option<Vec<String>>>,
    pub sigmoid: f64,
    /// Random-forest mode: the trees' outputs are averaged, not summed.
    pub average_output: bool,
    trees: Vec<LgbTree>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct LgbTree {
    split_feature: Vec<usize>,
    threshold: Vec<f64>,
    decision_type: Vec<u8>,
    left_child: Vec<i64>,
    right_child: Vec<i64>,
    leaf_value: Vec<f64>,
    leaf_count: Vec<f64>,
    internal_count: Vec<f64>,
    cat_boundaries: Vec<usize>,
    cat_threshold: Vec<u32>,
}

fn numbers<T: std::str::FromStr>(key: &str, v: &str) -> Result<Vec<T>, ImportError> {
    v.split_whitespace()
        .map(|x| {
            x.parse::<T>()
                .map_err(|_| FORMAT.malformed(format!("{key}: {x:?} is not a number")))
        })
        .collect()
}

impl LightGbm {
    /// Parse a text model.
    pub fn parse(text: &str) -> Result<LightGbm, ImportError> {
        if !text.starts_with("tree\n") {
            return Err(FORMAT.malformed("it does not start with the line `tree`"));
        }
        let (header, rest) = text
            .split_once("\nTree=")
            .ok_or_else(|| FORMAT.malformed("no trees"))?;
        let header: HashMap<&str, &str> =
            header.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |k: &str| {
            header
                .get(k)
                .copied()
                .ok_or_else(|| FORMAT.malformed(format!("no {k}")))
        };
        if get("num_class")? != "1" || get("num_tree_per_iteration")? != "1" {
            return Err(FORMAT.unsupported(
                "multiclass model",
                format!("num_class={}", get("num_class")?),
            ));
        }
        let average_output =
            header.contains_key("average_output") || text.contains("\naverage_output\n");
        let sigmoid = sigmoid_of(get("objective")?)?;
        let feature_names: Vec<String> = get("feature_names")?
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let infos: Vec<&str> = get("feature_infos")?.split_whitespace().collect();
        if infos.len() != feature_names.len() {
            return Err(FORMAT.malformed("feature_infos and feature_names differ in length"));
        }
        let (trees_text, tail) = rest.split_once("end of trees").unwrap_or((rest, ""));
        let mut trees = Vec::new();
        for block in trees_text.split("\nTree=") {
            trees.push(parse_tree(block)?);
        }
        let pandas = (tail.lines())
            .find_map(|l| l.strip_prefix("pandas_categorical:"))
            .unwrap_or("null");
        let pandas = serde_json::from_str::<serde_json::Value>(pandas)
            .map_err(|e| FORMAT.malformed(format!("pandas_categorical: {e}")))?;
        let categorical: Vec<bool> = (infos.iter())
            .map(|info| !(info.starts_with('[') || *info == "none"))
            .collect();
        let categories = categories(&categorical, &pandas)?;
        Ok(LightGbm {
            feature_names,
            categories,
            sigmoid,
            average_output,
            trees,
        })
    }

    /// Its JSON dump (`Booster.dump_model()`): the same model as its text.
    pub fn parse_json(text: &str) -> Result<LightGbm, ImportError> {
        use serde_json::Value;
        let doc: Value =
            serde_json::from_str(text).map_err(|e| FORMAT.malformed(format!("not JSON ({e})")))?;
        if doc["num_class"].as_i64() != Some(1) || doc["num_tree_per_iteration"].as_i64() != Some(1)
        {
            return Err(FORMAT.unsupported(
                "multiclass model",
                format!("num_class={}", doc["num_class"]),
            ));
        }
        let sigmoid = sigmoid_of(doc["objective"].as_str().unwrap_or(""))?;
        let feature_names: Vec<String> = (doc["feature_names"].as_array())
            .ok_or_else(|| FORMAT.malformed("no feature_names"))?
            .iter()
            .map(|n| n.as_str().unwrap_or_default().to_owned())
            .collect();
        // A categorical feature lists the codes it saw in its info's `values`.
        let categorical: Vec<bool> = (feature_names.iter())
            .map(|n| (doc["feature_infos"][n]["values"].as_array()).is_some_and(|v| !v.is_empty()))
            .collect();
        let categories = categories(&categorical, &doc["pandas_categorical"])?;
        let trees = (doc["tree_info"].as_array())
            .ok_or_else(|| FORMAT.malformed("no tree_info"))?
            .iter()
            .map(tree_of_dump)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LightGbm {
            feature_names,
            categories,
            sigmoid,
            average_output: doc["average_output"].as_bool().unwrap_or(false),
            trees,
        })
    }

    /// What a leaf is worth in the margin: the objective's sigmoid, shared among the trees
    /// in random-forest mode.
    fn leaf_scale(&self) -> f64 {
        match self.average_output {
            true => self.sigmoid / self.trees.len().max(1) as f64,
            false => self.sigmoid,
        }
    }

    /// Whether feature `f`'s splits read values within 1e-35 of zero as missing (missing
    /// type Zero, which LightGBM keeps per feature).
    fn zero_missing(&self, f: usize) -> bool {
        (self.trees.iter()).any(|t| {
            (t.split_feature.iter().zip(&t.decision_type))
                .any(|(&g, &dt)| g == f && dt & 1 == 0 && (dt >> 2) & 3 == 1)
        })
    }

    /// The trees as riskfn's boosted ensemble over one input per feature (see the module
    /// docs for the inputs).
    pub fn to_boosted(&self) -> Result<Boosted, ImportError> {
        let positions = positions(&self.categories);
        let trees = (self.trees.iter())
            .map(|t| convert_tree(t, &positions, self.leaf_scale()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Boosted {
            base_score: 0.0,
            trees,
        })
    }
}

impl Imported for LightGbm {
    fn library(&self) -> &'static str {
        FORMAT.name()
    }

    fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    fn categories(&self) -> &[Option<Vec<String>>] {
        &self.categories
    }

    fn convert(&self) -> Result<Converted, ImportError> {
        let mut converted = super::trees(self, self.to_boosted()?);
        for (f, feature) in converted.features.iter_mut().enumerate() {
            if let Encoding::Numeric { zero_missing, .. } = &mut feature.encoding {
                *zero_missing = self.zero_missing(f);
            }
        }
        Ok(converted)
    }

    /// By LightGBM's own rules (`Tree::NumericalDecision` and `CategoricalDecision`).
    fn probability(&self, codes: &[f64]) -> f64 {
        let mut raw: f64 = self.trees.iter().map(|t| t.value(codes)).sum();
        if self.average_output {
            raw /= self.trees.len().max(1) as f64;
        }
        riskfn_core::model::sigmoid(self.sigmoid * raw)
    }

    fn splits(&self) -> Vec<(usize, f64)> {
        (self.trees.iter())
            .flat_map(|t| {
                (t.split_feature
                    .iter()
                    .zip(&t.threshold)
                    .zip(&t.decision_type))
                .filter(|(_, dt)| **dt & 1 == 0)
                .flat_map(|((f, th), dt)| {
                    // Missing type Zero: the band's edges too.
                    let band =
                        ((dt >> 2) & 3 == 1).then_some([(*f, ZERO_MISSING), (*f, -ZERO_MISSING)]);
                    std::iter::once((*f, *th)).chain(band.into_iter().flatten())
                })
            })
            .collect()
    }
}

impl LgbTree {
    /// The leaf value `x` reaches, by LightGBM's rules.
    fn value(&self, x: &[f64]) -> f64 {
        if self.split_feature.is_empty() {
            return self.leaf_value.first().copied().unwrap_or(0.0);
        }
        let mut i = 0usize;
        for _ in 0..=self.split_feature.len() {
            let v = x.get(self.split_feature[i]).copied().unwrap_or(f64::NAN);
            let dt = self.decision_type[i];
            let left = if dt & 1 != 0 {
                // A missing (or negative) category goes right.
                !v.is_nan() && v >= 0.0 && {
                    let (code, k) = (v as usize, self.threshold[i] as usize);
                    let words =
                        &self.cat_threshold[self.cat_boundaries[k]..self.cat_boundaries[k + 1]];
                    words
                        .get(code / 32)
                        .is_some_and(|w| w >> (code % 32) & 1 == 1)
                }
            } else {
                let missing = (dt >> 2) & 3;
                let v = if v.is_nan() && missing != 2 { 0.0 } else { v };
                if (missing == 1 && v.abs() <= 1e-35) || (missing == 2 && v.is_nan()) {
                    dt & 2 != 0
                } else {
                    v <= self.threshold[i]
                }
            };
            let next = if left {
                self.left_child[i]
            } else {
                self.right_child[i]
            };
            if next < 0 {
                return self.leaf_value[(!next) as usize];
            }
            i = next as usize;
        }
        f64::NAN
    }
}

/// The objective's sigmoid: `binary sigmoid:<s>`, the only objective riskfn takes.
fn sigmoid_of(objective: &str) -> Result<f64, ImportError> {
    match objective.split_whitespace().collect::<Vec<_>>()[..] {
        ["binary", s] => s
            .strip_prefix("sigmoid:")
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| FORMAT.malformed(format!("objective {objective:?}"))),
        _ => Err(FORMAT.unsupported("objective", objective)),
    }
}

/// Each categorical feature's categories from `pandas_categorical` (a list per categorical
/// feature, in feature order; `null` when none): LightGBM's code `c` is `categories[c]`.
fn categories(
    categorical: &[bool],
    pandas: &serde_json::Value,
) -> Result<Vec<Option<Vec<String>>>, ImportError> {
    let lists: Vec<Vec<String>> = match pandas {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::Array(lists) => (lists.iter())
            .map(|l| {
                (l.as_array().into_iter().flatten())
                    .map(|c| match c {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect(),
        other => return Err(FORMAT.malformed(format!("pandas_categorical: {other}"))),
    };
    let mut lists = lists.into_iter();
    (categorical.iter())
        .map(|&c| match c {
            false => Ok(None),
            true => lists.next().map(Some).ok_or_else(|| {
                FORMAT.unsupported(
                    "categorical feature without its categories",
                    "train from a pandas DataFrame with category columns (pandas_categorical)",
                )
            }),
        })
        .collect()
}

/// A tree of the JSON dump as the text model's arrays: internal nodes by `split_index`,
/// leaves by `leaf_index`, a category split's codes as its bitset.
fn tree_of_dump(info: &serde_json::Value) -> Result<LgbTree, ImportError> {
    if info["is_linear"].as_bool() == Some(true) {
        return Err(FORMAT.unsupported("linear tree", "is_linear"));
    }
    let leaves = info["num_leaves"]
        .as_u64()
        .ok_or_else(|| FORMAT.malformed("a tree without num_leaves"))? as usize;
    let internal = leaves.saturating_sub(1);
    let mut t = LgbTree {
        split_feature: vec![0; internal],
        threshold: vec![0.0; internal],
        decision_type: vec![0; internal],
        left_child: vec![0; internal],
        right_child: vec![0; internal],
        leaf_value: vec![0.0; leaves],
        leaf_count: vec![0.0; leaves],
        internal_count: vec![0.0; internal],
        cat_boundaries: vec![0],
        cat_threshold: Vec::new(),
    };
    // Category splits in split_index order take their bitsets in that order.
    let mut sets: Vec<(usize, Vec<u32>)> = Vec::new();
    let at = walk_dump(&info["tree_structure"], &mut t, &mut sets, 0)?;
    if internal == 0 && at != !0 {
        return Err(FORMAT.malformed("a one-leaf tree with splits"));
    }
    sets.sort_by_key(|s| s.0);
    for (k, (i, codes)) in sets.into_iter().enumerate() {
        t.threshold[i] = k as f64;
        let words = codes.iter().max().map_or(1, |&m| m as usize / 32 + 1);
        let mut bits = vec![0u32; words];
        for c in codes {
            bits[c as usize / 32] |= 1 << (c % 32);
        }
        t.cat_threshold.extend(bits);
        t.cat_boundaries.push(t.cat_threshold.len());
    }
    if t.cat_threshold.is_empty() {
        t.cat_boundaries.clear();
    }
    Ok(t)
}

/// Node `n` of a dumped tree into `t`; its text-model reference (an internal node's index,
/// or `!leaf`).
fn walk_dump(
    n: &serde_json::Value,
    t: &mut LgbTree,
    sets: &mut Vec<(usize, Vec<u32>)>,
    depth: usize,
) -> Result<i64, ImportError> {
    if depth > t.leaf_value.len() {
        return Err(FORMAT.malformed("a tree's children loop"));
    }
    let index = |key: &str| n[key].as_u64().map(|i| i as usize);
    if let Some(value) = n["leaf_value"].as_f64() {
        let leaf = index("leaf_index").unwrap_or(0);
        let slot = t
            .leaf_value
            .get_mut(leaf)
            .ok_or_else(|| FORMAT.malformed("a leaf out of range"))?;
        *slot = value;
        t.leaf_count[leaf] = n["leaf_count"].as_f64().unwrap_or(0.0);
        return Ok(!(leaf as i64));
    }
    let i = index("split_index").filter(|&i| i < t.split_feature.len());
    let i = i.ok_or_else(|| FORMAT.malformed("a split out of range"))?;
    t.split_feature[i] =
        index("split_feature").ok_or_else(|| FORMAT.malformed("a split without its feature"))?;
    let missing = match n["missing_type"].as_str() {
        Some("None") => 0u8,
        Some("Zero") => 1,
        Some("NaN") => 2,
        other => return Err(FORMAT.malformed(format!("missing_type {other:?}"))),
    };
    let categorical = n["decision_type"].as_str() == Some("==");
    let default_left = n["default_left"].as_bool().unwrap_or(false);
    t.decision_type[i] = u8::from(categorical) | (u8::from(default_left) << 1) | (missing << 2);
    if categorical {
        let codes = (n["threshold"].as_str().unwrap_or("").split("||"))
            .map(|c| {
                c.parse::<u32>()
                    .map_err(|_| FORMAT.malformed(format!("category split {:?}", n["threshold"])))
            })
            .collect::<Result<Vec<_>, _>>()?;
        sets.push((i, codes));
    } else {
        t.threshold[i] = n["threshold"]
            .as_f64()
            .ok_or_else(|| FORMAT.malformed("a split without its threshold"))?;
    }
    t.internal_count[i] = n["internal_count"].as_f64().unwrap_or(0.0);
    t.left_child[i] = walk_dump(&n["left_child"], t, sets, depth + 1)?;
    t.right_child[i] = walk_dump(&n["right_child"], t, sets, depth + 1)?;
    Ok(i as i64)
}

fn parse_tree(block: &str) -> Result<LgbTree, ImportError> {
    let fields: HashMap<&str, &str> = block.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |k: &str| fields.get(k).copied().unwrap_or("");
    if get("is_linear") == "1" {
        return Err(FORMAT.unsupported("linear tree", "is_linear=1"));
    }
    let num_leaves: usize = get("num_leaves")
        .parse()
        .map_err(|_| FORMAT.malformed("a tree without num_leaves"))?;
    let t = LgbTree {
        split_feature: numbers("split_feature", get("split_feature"))?,
        threshold: numbers("threshold", get("threshold"))?,
        decision_type: numbers("decision_type", get("decision_type"))?,
        left_child: numbers("left_child", get("left_child"))?,
        right_child: numbers("right_child", get("right_child"))?,
        leaf_value: numbers("leaf_value", get("leaf_value"))?,
        leaf_count: numbers("leaf_count", get("leaf_count"))?,
        internal_count: numbers("internal_count", get("internal_count"))?,
        cat_boundaries: numbers("cat_boundaries", get("cat_boundaries"))?,
        cat_threshold: numbers("cat_threshold", get("cat_threshold"))?,
    };
    let internal = num_leaves.saturating_sub(1);
    let lengths = [
        t.split_feature.len(),
        t.threshold.len(),
        t.decision_type.len(),
        t.left_child.len(),
        t.right_child.len(),
        t.internal_count.len(),
    ];
    if t.leaf_value.len() != num_leaves || lengths.iter().any(|&l| l != internal) {
        return Err(FORMAT.malformed("a tree's arrays do not match its num_leaves (truncated?)"));
    }
    Ok(t)
}

fn convert_tree(
    t: &LgbTree,
    positions: &[Option<Vec<u32>>],
    sigmoid: f64,
) -> Result<Tree, ImportError> {
    let mut tree = Tree {
        nodes: Vec::new(),
        cover: Vec::new(),
        level_sets: Vec::new(),
    };
    if t.split_feature.is_empty() {
        // A stump: one leaf.
        tree.nodes.push(Node::Leaf {
            value: t.leaf_value.first().copied().unwrap_or(0.0) * sigmoid,
        });
        tree.cover
            .push(t.leaf_count.first().copied().unwrap_or(1.0));
        return Ok(tree);
    }
    emit(t, 0, positions, sigmoid, &mut tree, 0)?;
    Ok(tree)
}

/// Append LightGBM node `node` (an internal node's index, or `!leaf`) and its subtree, in
/// preorder (children after their parent); returns its riskfn index.
fn emit(
    t: &LgbTree,
    node: i64,
    positions: &[Option<Vec<u32>>],
    sigmoid: f64,
    tree: &mut Tree,
    depth: usize,
) -> Result<u32, ImportError> {
    if depth > t.leaf_value.len() {
        return Err(FORMAT.malformed("a tree's children loop"));
    }
    let at = tree.nodes.len();
    if node < 0 {
        let leaf = (!node) as usize;
        let value = *t
            .leaf_value
            .get(leaf)
            .ok_or_else(|| FORMAT.malformed("a leaf out of range"))?;
        tree.nodes.push(Node::Leaf {
            value: value * sigmoid,
        });
        tree.cover
            .push(t.leaf_count.get(leaf).copied().unwrap_or(0.0));
        return Ok(at as u32);
    }
    let i = node as usize;
    if i >= t.split_feature.len() {
        return Err(FORMAT.malformed("a node out of range"));
    }
    // Reserve the node, then its children after it.
    tree.nodes.push(Node::Leaf { value: 0.0 });
    tree.cover.push(t.internal_count[i]);
    let left = emit(t, t.left_child[i], positions, sigmoid, tree, depth + 1)?;
    let right = emit(t, t.right_child[i], positions, sigmoid, tree, depth + 1)?;
    let feature = t.split_feature[i];
    let dt = t.decision_type[i];
    let (categorical, default_left, missing) = (dt & 1 != 0, dt & 2 != 0, (dt >> 2) & 3);
    tree.nodes[at] = if categorical {
        let codes = positions
            .get(feature)
            .and_then(|p| p.as_ref())
            .ok_or_else(|| {
                FORMAT.malformed(format!("a category split on number feature {feature}"))
            })?;
        let k = t.threshold[i] as usize;
        let words = t
            .cat_boundaries
            .get(k..=k + 1)
            .and_then(|b| t.cat_threshold.get(b[0]..b[1]))
            .ok_or_else(|| FORMAT.malformed("a category split's bitset out of range"))?;
        let in_set: Vec<u32> = (0..words.len() * 32)
            .filter(|&c| words[c / 32] >> (c % 32) & 1 == 1)
            .map(|c| c as u32)
            .collect();
        let mut set: Vec<u32> = (in_set.iter())
            .filter_map(|&c| codes.get(c as usize).copied())
            .filter(|&p| p != u32::MAX)
            .collect();
        set.sort_unstable();
        tree.level_sets.push(set);
        Node::Levels {
            feature: feature as u32,
            set: (tree.level_sets.len() - 1) as u32,
            left,
            right,
        }
    } else {
        let threshold = t.threshold[i];
        // Type Zero's values near zero reach the split as missing (the feature's encoding).
        let missing_left = match missing {
            0 => 0.0 <= threshold,
            _ => default_left,
        };
        Node::Split {
            feature: feature as u32,
            threshold: threshold.next_up(),
            left,
            right,
            missing_left,
        }
    };
    Ok(at as u32)
}

#[cfg(test)]
mod tests {
    use riskfn_core::model::Model;

    use super::*;
    use crate::import::testing::{base_rows, fixture, reference, tree_shap};
    use crate::import::{edge_rows, parity};

    /// LightGBM 4.7.0 models on german_credit's features (five numbers, five categories,
    /// missing ages), islr_default's and credit_data's, converted: on every reference row (an unseen
    /// category and missing values among them) riskfn's probability, and the gate's reading
    /// of LightGBM's rules, are LightGBM's `predict_proba` to 1e-12, and its TreeSHAP
    /// contributions are LightGBM's `pred_contrib` to 1e-9, bias included. Expected values:
    /// `tests/reference/import/lightgbm_german.py`, `islr_default.py` and `credit_data.py`.
    #[tokio::test]
    async fn a_lightgbm_model_scores_and_explains_as_lightgbm_does() {
        let german = ("lightgbm_german.txt", "lightgbm_german_reference.csv");
        let islr = ("lightgbm_islr.txt", "lightgbm_islr_reference.csv");
        let credit = ("lightgbm_credit.txt", "lightgbm_credit_reference.csv");
        // zero_as_missing (missing type Zero) and random-forest mode (average_output).
        let zero = ("lightgbm_islr_zero.txt", "lightgbm_islr_zero_reference.csv");
        let forest = ("lightgbm_german_rf.txt", "lightgbm_german_rf_reference.csv");
        for (model, reference_rows) in [german, islr, credit, zero, forest] {
            let text = std::fs::read_to_string(fixture(model)).unwrap();
            let m = LightGbm::parse(&text).unwrap();
            let converted = m.convert().unwrap();
            let Model::GradientBoosting(boosted) = &converted.model else {
                panic!("{model}")
            };
            let reference = reference(&m, reference_rows).await;
            let missing = (reference.codes.iter())
                .filter(|x| x.iter().any(|v| v.is_nan()))
                .count();
            assert!(missing >= 2, "{model}: {missing} rows with a missing value");
            let probability = reference.numbers("probability");
            let contrib: Vec<Vec<f64>> = (m.feature_names.iter())
                .map(|name| reference.numbers(&format!("contrib_{name}")))
                .collect();
            let contrib_bias = reference.numbers("contrib_bias");
            // In random-forest mode LightGBM's pred_contrib sums the trees' contributions
            // without averaging them (LightGBM #6217, open): riskfn's explain the averaged
            // margin the probability comes from, so they are LightGBM's over the trees.
            let k = if m.average_output {
                m.trees.len() as f64
            } else {
                1.0
            };
            for (r, codes) in reference.codes.iter().enumerate() {
                // As the service encodes the row.
                let x = converted.encode(&m, codes);
                let want = probability[r];
                let p = converted.model.probability(&x);
                assert!(
                    (p - want).abs() < 1e-12,
                    "{model} row {r}: {p} against {want}"
                );
                let by_rules = Imported::probability(&m, codes);
                assert!(
                    (by_rules - want).abs() < 1e-12,
                    "{model} row {r}: rules give {by_rules}"
                );
                let (phi, bias) = tree_shap(boosted, &x);
                for (f, name) in m.feature_names.iter().enumerate() {
                    let want = contrib[f][r] / k;
                    assert!(
                        (phi[f] - want).abs() < 1e-9,
                        "{model} row {r} {name}: {}",
                        phi[f]
                    );
                }
                let want = contrib_bias[r] / k;
                assert!((bias - want).abs() < 1e-9, "{model} row {r} bias");
            }
        }
        // The zero_as_missing model reads zero balances as missing; the forest averages.
        let zero = LightGbm::parse(&std::fs::read_to_string(fixture(zero.0)).unwrap()).unwrap();
        assert!(zero.zero_missing(1) && !zero.average_output);
        let forest = LightGbm::parse(&std::fs::read_to_string(fixture(forest.0)).unwrap()).unwrap();
        assert!(forest.average_output);
    }

    /// The gate's own rows: every split's threshold and one ulp either side, NaN and zero,
    /// every category and a missing one, from ten rows: the converted trees route each as
    /// LightGBM's rules do (probabilities equal to 1e-12). A conversion that read `x <= t`
    /// as `x < t` is caught on the threshold rows.
    #[test]
    fn converted_trees_route_every_edge_as_lightgbm_does() {
        for model in [
            "lightgbm_german.txt",
            "lightgbm_islr_zero.txt",
            "lightgbm_german_rf.txt",
        ] {
            let text = std::fs::read_to_string(fixture(model)).unwrap();
            let m = LightGbm::parse(&text).unwrap();
            let converted = m.convert().unwrap();
            let rows = edge_rows(&m, &base_rows(&m));
            assert!(rows.len() > 2_000, "{model}: {} rows", rows.len());
            let found = parity(&m, &converted, &rows);
            assert!(found.max_difference < 1e-12, "{model}: {found:?}");
            let mut strict = converted.clone();
            let Model::GradientBoosting(b) = &mut strict.model else {
                panic!("{model}")
            };
            for n in b.trees.iter_mut().flat_map(|t| &mut t.nodes) {
                if let Node::Split { threshold, .. } = n {
                    *threshold = threshold.next_down();
                }
            }
            assert!(parity(&m, &strict, &rows).max_difference > 1e-6, "{model}");
        }
        // Missing type Zero where it matters: the first tree's root sends missing values
        // (and so zeros) right though 0 is below its threshold. The encoding's zero_missing
        // routes them so; zeros read as numbers would go left.
        let text = std::fs::read_to_string(fixture("lightgbm_islr_zero.txt")).unwrap();
        let text = text.replacen("decision_type=6 6 6 4 4 6", "decision_type=4 6 6 4 4 6", 1);
        let m = LightGbm::parse(&text).unwrap();
        let converted = m.convert().unwrap();
        let rows = edge_rows(&m, &base_rows(&m));
        let found = parity(&m, &converted, &rows);
        assert!(found.max_difference < 1e-12, "{found:?}");
        let mut plain = converted.clone();
        for f in &mut plain.features {
            if let Encoding::Numeric { zero_missing, .. } = &mut f.encoding {
                *zero_missing = false;
            }
        }
        assert!(parity(&m, &plain, &rows).max_difference > 1e-6);
    }

    /// LightGBM's JSON dump reads as the same model as its text (lightgbm 4.7.0 dumped both
    /// fixtures: `tests/reference/import/lightgbm_german.py`), category bitsets included.
    #[test]
    fn a_json_dump_is_its_text_model() {
        for stem in ["lightgbm_german", "lightgbm_german_rf"] {
            let text = std::fs::read_to_string(fixture(&format!("{stem}.txt"))).unwrap();
            let json = std::fs::read_to_string(fixture(&format!("{stem}.json"))).unwrap();
            let (a, b) = (
                LightGbm::parse(&text).unwrap(),
                LightGbm::parse_json(&json).unwrap(),
            );
            assert_eq!(a, b, "{stem}");
            let via_read = crate::import::read("lightgbm", json.as_bytes()).unwrap();
            assert_eq!(via_read.feature_names(), a.feature_names.as_slice());
        }
        let json = std::fs::read_to_string(fixture("lightgbm_german.json")).unwrap();
        let cut = LightGbm::parse_json(&json[..json.len() / 2])
            .unwrap_err()
            .to_string();
        assert!(cut.contains("not JSON"), "{cut}");
    }

    /// What riskfn does not take is refused by name; a truncated file is malformed.
    #[test]
    fn unsupported_and_truncated_models_are_refused_by_name() {
        let text = std::fs::read_to_string(fixture("lightgbm_german.txt")).unwrap();
        let swap = |from: &str, to: &str| LightGbm::parse(&text.replacen(from, to, 1));
        let err = |r: Result<LightGbm, ImportError>| r.unwrap_err().to_string();
        assert!(
            err(swap("objective=binary sigmoid:1", "objective=regression")).contains("objective")
        );
        assert!(err(swap("num_class=1", "num_class=3")).contains("multiclass"));
        assert!(err(swap("is_linear=0", "is_linear=1")).contains("linear tree"));
        let cut = &text[..text.len() / 2];
        assert!(LightGbm::parse(cut).is_err());
        assert!(err(LightGbm::parse("not a model")).contains("not a LightGBM model file"));
    }
}
