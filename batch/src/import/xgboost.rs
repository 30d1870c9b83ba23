//! XGBoost's JSON model (`save_model("m.json")`), or the same document as UBJSON
//! (`save_model("m.ubj")`), as riskfn's boosted trees.
//!
//! The inputs are as for LightGBM ([`super::lightgbm`]): a number as it is (NaN when
//! missing), a category as its level's position among the feature's sorted levels (NaN
//! when missing or unseen). XGBoost's routing is kept exactly:
//! - it compares the input rounded to float32 with a float32 condition, `f32(x) < c`: the
//!   same as `x < b` for the double `b` where rounding to float32 crosses `c` (the midpoint
//!   below `c`, or just above it when ties round down to the even neighbour);
//! - a missing value goes where `default_left` says;
//! - a category split sends its listed categories right and every other (a category past
//!   the list included) left; riskfn's level split sends its set left and a missing or
//!   unseen category right, so the set is the listed categories with the children swapped
//!   when missing values go left, the others when they go right;
//! - `base_score` (a probability for `binary:logistic`) becomes the margin it stands for;
//!   `best_iteration`, when kept, cuts the trees; each node's cover is its `sum_hessian`,
//!   the weights XGBoost's own TreeSHAP (`pred_contribs`) takes expectations over.
//!
//! Refused by name: objectives other than `binary:logistic`, multi-output and multiclass
//! models, boosters other than `gbtree`.

use riskfn_core::model::{Boosted, Node, Tree};
use serde_json::Value;

use super::{Converted, Format, ImportError, Imported, float32_boundary, positions};

const FORMAT: Format = Format("XGBoost");

/// A parsed XGBoost model.
#[derive(Debug, Clone, PartialEq)]
pub struct XgBoost {
    pub feature_names: Vec<String>,
    /// Per feature: its categories in XGBoost's codes, for the categorical ones.
    pub categories: Vec<Option<Vec<String>>>,
    /// The margin `base_score` stands for.
    pub base_margin: f64,
    trees: Vec<XgTree>,
}

#[derive(Debug, Clone, PartialEq)]
struct XgTree {
    left: Vec<i64>,
    right: Vec<i64>,
    feature: Vec<usize>,
    /// Float32 conditions (a leaf's value at a leaf).
    condition: Vec<f32>,
    default_left: Vec<bool>,
    categorical: Vec<bool>,
    /// Per node, the categories sent right (its node's segment of `categories`).
    right_categories: Vec<Vec<u32>>,
    cover: Vec<f64>,
}

fn array<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>, ImportError> {
    v[key]
        .as_array()
        .ok_or_else(|| FORMAT.malformed(format!("no {key}")))
}

fn ints(v: &Value, key: &str) -> Result<Vec<i64>, ImportError> {
    array(v, key)?
        .iter()
        .map(|x| {
            x.as_i64()
                .ok_or_else(|| FORMAT.malformed(format!("{key}: not integers")))
        })
        .collect()
}

fn floats(v: &Value, key: &str) -> Result<Vec<f64>, ImportError> {
    array(v, key)?
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| FORMAT.malformed(format!("{key}: not numbers")))
        })
        .collect()
}

/// A number XGBoost keeps as text (`"0.5"`, or `"[3.2387313E-1]"` for a vector of one).
fn text_number(v: &Value, key: &str) -> Result<f64, ImportError> {
    let s = v[key]
        .as_str()
        .ok_or_else(|| FORMAT.malformed(format!("no {key}")))?;
    s.trim_matches(|c| c == '[' || c == ']')
        .parse::<f64>()
        .map_err(|_| FORMAT.malformed(format!("{key}: {s:?}")))
}

impl XgBoost {
    /// Its JSON model (`save_model("m.json")`).
    pub fn parse(text: &str) -> Result<XgBoost, ImportError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| FORMAT.malformed(format!("not JSON ({e})")))?;
        Self::from_document(&doc)
    }

    /// Its binary model (`save_model("m.ubj")`): the same document in UBJSON.
    pub fn parse_ubj(bytes: &[u8]) -> Result<XgBoost, ImportError> {
        let doc = super::ubjson::decode(bytes)
            .map_err(|e| FORMAT.malformed(format!("not UBJSON ({e})")))?;
        Self::from_document(&doc)
    }

    /// Whether `bytes` are a UBJSON model rather than a JSON one: after the opening brace,
    /// UBJSON has a length marker where JSON has a quote or white space.
    pub fn is_ubj(bytes: &[u8]) -> bool {
        bytes.first() == Some(&b'{') && bytes.get(1).is_some_and(|b| b"iUIlL$#".contains(b))
    }

    fn from_document(doc: &Value) -> Result<XgBoost, ImportError> {
        let learner = &doc["learner"];
        if !learner.is_object() {
            return Err(FORMAT.malformed("no learner"));
        }
        let objective = learner["objective"]["name"].as_str().unwrap_or("");
        if objective != "binary:logistic" {
            return Err(FORMAT.unsupported("objective", objective));
        }
        let param = &learner["learner_model_param"];
        if param["num_class"].as_str().unwrap_or("0") != "0"
            || param["num_target"].as_str().unwrap_or("1") != "1"
        {
            return Err(FORMAT.unsupported("multi-output model", "num_class or num_target"));
        }
        let booster = &learner["gradient_booster"];
        if booster["name"].as_str() != Some("gbtree") {
            return Err(FORMAT.unsupported("booster", booster["name"].to_string()));
        }
        let p = text_number(param, "base_score")?;
        let base_margin = (p / (1.0 - p)).ln();
        let feature_names: Vec<String> = array(learner, "feature_names")?
            .iter()
            .map(|n| n.as_str().unwrap_or_default().to_owned())
            .collect();
        let types = array(learner, "feature_types")?;
        if types.len() != feature_names.len() {
            return Err(FORMAT.malformed("feature_types and feature_names differ in length"));
        }
        let model = &booster["model"];
        let enc = model["cats"]["enc"].as_array();
        let categories = (types.iter().enumerate())
            .map(|(f, t)| match t.as_str() {
                Some("c") => {
                    let e = enc.and_then(|e| e.get(f)).ok_or_else(|| {
                        FORMAT.unsupported(
                            "categorical feature without its categories",
                            "save with XGBoost 3 (cats in the model)",
                        )
                    })?;
                    decode_categories(e).map(Some)
                }
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut trees: Vec<XgTree> = array(model, "trees")?
            .iter()
            .map(parse_tree)
            .collect::<Result<_, _>>()?;
        // Early stopping kept the best iteration: the trees after it are not used.
        let best = learner["attributes"]["best_iteration"]
            .as_str()
            .and_then(|b| b.parse::<usize>().ok());
        if let Some(best) = best {
            trees.truncate(best + 1);
        }
        Ok(XgBoost {
            feature_names,
            categories,
            base_margin,
            trees,
        })
    }

    /// The trees as riskfn's boosted ensemble (see the module docs for the inputs).
    pub fn to_boosted(&self) -> Result<Boosted, ImportError> {
        let positions = positions(&self.categories);
        let trees = (self.trees.iter())
            .map(|t| convert_tree(t, &positions))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Boosted {
            base_score: self.base_margin,
            trees,
        })
    }
}

impl Imported for XgBoost {
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
        Ok(super::trees(self, self.to_boosted()?))
    }

    /// By XGBoost's rules (`GetNextNode`, `common::Decision`): a missing value to its
    /// default side, a category listed right and any other left, `f32(x) < c` for a number.
    fn probability(&self, codes: &[f64]) -> f64 {
        let margin: f64 = self.trees.iter().map(|t| t.value(codes)).sum();
        riskfn_core::model::sigmoid(self.base_margin + margin)
    }

    /// Each condition, and the double where rounding to float32 crosses it.
    fn splits(&self) -> Vec<(usize, f64)> {
        (self.trees.iter())
            .flat_map(|t| {
                (0..t.left.len())
                    .filter(|&i| t.left[i] >= 0 && !t.categorical[i])
                    .flat_map(|i| {
                        let c = t.condition[i];
                        [
                            (t.feature[i], f64::from(c)),
                            (t.feature[i], float32_boundary(c)),
                        ]
                    })
            })
            .collect()
    }
}

impl XgTree {
    fn value(&self, x: &[f64]) -> f64 {
        let mut i = 0usize;
        for _ in 0..=self.left.len() {
            if self.left[i] < 0 {
                return f64::from(self.condition[i]);
            }
            let v = x.get(self.feature[i]).copied().unwrap_or(f64::NAN);
            let left = if v.is_nan() {
                self.default_left[i]
            } else if self.categorical[i] {
                !(v >= 0.0 && self.right_categories[i].contains(&(v as u32)))
            } else {
                (v as f32) < self.condition[i]
            };
            i = if left { self.left[i] } else { self.right[i] } as usize;
        }
        f64::NAN
    }
}

/// One feature's categories from XGBoost's encoding: UTF-8 bytes cut at `offsets`.
fn decode_categories(e: &Value) -> Result<Vec<String>, ImportError> {
    let offsets = ints(e, "offsets")?;
    let bytes: Vec<u8> = array(e, "values")?
        .iter()
        .map(|b| b.as_u64().map(|b| b as u8))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            FORMAT.unsupported("categories that are not strings", "numeric category values")
        })?;
    offsets
        .windows(2)
        .map(|w| {
            let part = bytes
                .get(w[0] as usize..w[1] as usize)
                .ok_or_else(|| FORMAT.malformed("category offsets out of range"))?;
            String::from_utf8(part.to_vec())
                .map_err(|_| FORMAT.malformed("a category is not UTF-8"))
        })
        .collect()
}

fn parse_tree(t: &Value) -> Result<XgTree, ImportError> {
    let left = ints(t, "left_children")?;
    let n = left.len();
    let right = ints(t, "right_children")?;
    let feature: Vec<usize> = ints(t, "split_indices")?
        .into_iter()
        .map(|i| i as usize)
        .collect();
    let condition: Vec<f32> = floats(t, "split_conditions")?
        .into_iter()
        .map(|c| c as f32)
        .collect();
    let default_left: Vec<bool> = ints(t, "default_left")?
        .into_iter()
        .map(|d| d != 0)
        .collect();
    let categorical: Vec<bool> = match t["split_type"].as_array() {
        Some(_) => ints(t, "split_type")?.into_iter().map(|s| s == 1).collect(),
        None => vec![false; n],
    };
    // XGBoost keeps hessian sums in float32 (its JSON prints the shortest text that reads
    // back as that float32; its UBJSON has the float32 itself).
    let cover: Vec<f64> = (floats(t, "sum_hessian")?.into_iter())
        .map(|c| f64::from(c as f32))
        .collect();
    let mut right_categories = vec![Vec::new(); n];
    if categorical.iter().any(|c| *c) {
        let (cats, nodes) = (ints(t, "categories")?, ints(t, "categories_nodes")?);
        let (segments, sizes) = (
            ints(t, "categories_segments")?,
            ints(t, "categories_sizes")?,
        );
        for ((&node, &start), &size) in nodes.iter().zip(&segments).zip(&sizes) {
            let part = cats
                .get(start as usize..(start + size) as usize)
                .ok_or_else(|| FORMAT.malformed("a category segment out of range"))?;
            *right_categories
                .get_mut(node as usize)
                .ok_or_else(|| FORMAT.malformed("a category node out of range"))? =
                part.iter().map(|&c| c as u32).collect();
        }
    }
    let lengths = [
        right.len(),
        feature.len(),
        condition.len(),
        default_left.len(),
        categorical.len(),
        cover.len(),
    ];
    if n == 0 || lengths.iter().any(|&l| l != n) {
        return Err(FORMAT.malformed("a tree's arrays differ in length (truncated?)"));
    }
    Ok(XgTree {
        left,
        right,
        feature,
        condition,
        default_left,
        categorical,
        right_categories,
        cover,
    })
}

fn convert_tree(t: &XgTree, positions: &[Option<Vec<u32>>]) -> Result<Tree, ImportError> {
    let mut tree = Tree {
        nodes: Vec::new(),
        cover: Vec::new(),
        level_sets: Vec::new(),
    };
    emit(t, 0, positions, &mut tree, 0)?;
    Ok(tree)
}

fn emit(
    t: &XgTree,
    i: usize,
    positions: &[Option<Vec<u32>>],
    tree: &mut Tree,
    depth: usize,
) -> Result<u32, ImportError> {
    if depth > t.left.len() || i >= t.left.len() {
        return Err(FORMAT.malformed("a tree's children loop or leave it"));
    }
    let at = tree.nodes.len();
    tree.cover.push(t.cover[i]);
    if t.left[i] < 0 {
        tree.nodes.push(Node::Leaf {
            value: f64::from(t.condition[i]),
        });
        return Ok(at as u32);
    }
    tree.nodes.push(Node::Leaf { value: 0.0 });
    let xgb_left = emit(t, t.left[i] as usize, positions, tree, depth + 1)?;
    let xgb_right = emit(t, t.right[i] as usize, positions, tree, depth + 1)?;
    let feature = t.feature[i];
    tree.nodes[at] = if t.categorical[i] {
        let codes = positions
            .get(feature)
            .and_then(|p| p.as_ref())
            .ok_or_else(|| {
                FORMAT.malformed(format!("a category split on number feature {feature}"))
            })?;
        let listed: Vec<u32> = (t.right_categories[i].iter())
            .filter_map(|&c| codes.get(c as usize).copied())
            .collect();
        // riskfn sends its set left and NaN right: NaN must reach XGBoost's default side.
        let (mut set, left, right): (Vec<u32>, u32, u32) = match t.default_left[i] {
            true => (listed, xgb_right, xgb_left),
            false => (
                (0..codes.len() as u32)
                    .filter(|p| !listed.contains(p))
                    .collect(),
                xgb_left,
                xgb_right,
            ),
        };
        set.sort_unstable();
        tree.level_sets.push(set);
        Node::Levels {
            feature: feature as u32,
            set: (tree.level_sets.len() - 1) as u32,
            left,
            right,
        }
    } else {
        Node::Split {
            feature: feature as u32,
            threshold: float32_boundary(t.condition[i]),
            left: xgb_left,
            right: xgb_right,
            missing_left: t.default_left[i],
        }
    };
    Ok(at as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::testing::{base_rows, fixture, reference, tree_shap};
    use crate::import::{edge_rows, parity};

    /// Rounding to float32 crosses each condition exactly at the boundary.
    #[test]
    fn float32_boundaries_are_exact() {
        for c in [16.0f32, 3617.0, 0.1, 2288.5, 1e-3, 7.0e6] {
            let b = float32_boundary(c);
            assert!((b.next_down() as f32) < c, "{c}");
            assert!((b as f32) >= c, "{c}");
        }
    }

    /// XGBoost 3.2.0 models on german_credit's features (five numbers, five native
    /// categories, missing ages), islr_default's and credit_data's, converted: on every reference row (an unseen category
    /// and missing values among them) riskfn's probability is XGBoost's `predict_proba` to
    /// 1e-6 (XGBoost adds its margins in float32: 1.5e-7 apart at most), and its TreeSHAP
    /// contributions are XGBoost's `pred_contribs` to 1e-6 of their size (4.8e-7; XGBoost
    /// computes them in float32), bias included; on rows probing every split's edges it
    /// routes as XGBoost's rules do. Expected values:
    /// `tests/reference/import/xgboost_german.py`, `islr_default.py` and `credit_data.py`.
    #[tokio::test]
    async fn an_xgboost_model_scores_and_explains_as_xgboost_does() {
        let german = ("xgboost_german.json", "xgboost_german_reference.csv");
        let islr = ("xgboost_islr.json", "xgboost_islr_reference.csv");
        let credit = ("xgboost_credit.json", "xgboost_credit_reference.csv");
        for (model, reference_rows) in [german, islr, credit] {
            let text = std::fs::read_to_string(fixture(model)).unwrap();
            let m = XgBoost::parse(&text).unwrap();
            let converted = m.convert().unwrap();
            let riskfn_core::model::Model::GradientBoosting(boosted) = &converted.model else {
                panic!("{model}")
            };
            let reference = reference(&m, reference_rows).await;
            let probability = reference.numbers("probability");
            let contrib: Vec<Vec<f64>> = (m.feature_names.iter())
                .map(|name| reference.numbers(&format!("contrib_{name}")))
                .collect();
            let contrib_bias = reference.numbers("contrib_bias");
            let (mut worst_p, mut worst_phi) = (0.0f64, 0.0f64);
            for (r, codes) in reference.codes.iter().enumerate() {
                // As the service encodes the row.
                let x = &converted.encode(&m, codes);
                let p = converted.model.probability(x);
                worst_p = worst_p.max((p - probability[r]).abs());
                let (phi, bias) = tree_shap(boosted, x);
                // XGBoost computes its contributions in float32: compared relative to their
                // size (at least 1).
                let off = |got: f64, want: f64| (got - want).abs() / want.abs().max(1.0);
                for f in 0..m.feature_names.len() {
                    worst_phi = worst_phi.max(off(phi[f], contrib[f][r]));
                }
                worst_phi = worst_phi.max(off(bias, contrib_bias[r]));
            }
            assert!(worst_p < 1e-6, "{model}: probabilities differ by {worst_p}");
            assert!(
                worst_phi < 1e-6,
                "{model}: contributions differ by {worst_phi}"
            );
            let rows = edge_rows(&m, &base_rows(&m));
            let found = parity(&m, &converted, &rows);
            assert!(found.max_difference < 1e-12, "{model}: {found:?}");
        }
    }

    /// XGBoost's UBJSON model reads as the same model as its JSON twin (XGBoost 3.2.0 saved
    /// both from one booster: `tests/reference/import/xgboost_german.py`).
    #[test]
    fn a_ubjson_model_is_its_json_twin() {
        let ubj = std::fs::read(fixture("xgboost_german.ubj")).unwrap();
        assert!(XgBoost::is_ubj(&ubj));
        let json = std::fs::read_to_string(fixture("xgboost_german.json")).unwrap();
        assert!(!XgBoost::is_ubj(json.as_bytes()));
        assert_eq!(
            XgBoost::parse_ubj(&ubj).unwrap(),
            XgBoost::parse(&json).unwrap()
        );
        let cut = XgBoost::parse_ubj(&ubj[..ubj.len() / 2])
            .unwrap_err()
            .to_string();
        assert!(
            cut.contains("not UBJSON") && cut.contains("the file ends"),
            "{cut}"
        );
    }

    #[test]
    fn unsupported_models_are_refused_by_name() {
        let text = std::fs::read_to_string(fixture("xgboost_german.json")).unwrap();
        let err = |t: String| XgBoost::parse(&t).unwrap_err().to_string();
        assert!(err(text.replacen("binary:logistic", "reg:squarederror", 1)).contains("objective"));
        assert!(err(text.replacen("\"gbtree\"", "\"dart\"", 1)).contains("booster"));
        assert!(err(text[..text.len() / 2].to_owned()).contains("not a XGBoost model file"));
    }
}
