//! Models trained elsewhere, converted into riskfn's own model types so that the service
//! scores them without their libraries (no C++ runtime in the Lambda): LightGBM's and
//! XGBoost's models become boosted trees, a scikit-learn model exported to ONNX a logistic
//! regression or trees over riskfn's encodings, a PMML scorecard a points scorecard;
//! `publish` imports one as a version of a pipeline, behind a parity gate (the rows here:
//! every split's edges).

pub mod lightgbm;
pub mod onnx;
pub mod pmml;
pub mod publish;
pub mod ubjson;
pub mod xgboost;

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use riskfn_core::features::expr::Expr;
use riskfn_core::features::preprocess::{Encoding, Feature, Reason};
use riskfn_core::model::{BinStats, Boosted, Model, PointsCard, Tree};
use riskfn_train::binning::{self, Counts};

use crate::error::Result;
use crate::source::RawData;

/// Why a model file cannot be imported: what it is that riskfn does not take, by name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("not a {format} model file: {reason}")]
    Malformed {
        format: &'static str,
        reason: String,
    },
    #[error("{format} {what} is not supported: {detail}")]
    Unsupported {
        format: &'static str,
        what: &'static str,
        detail: String,
    },
}

/// A format's name, that its errors say which format they are about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Format(pub &'static str);

impl Format {
    pub(crate) fn malformed(self, reason: impl Into<String>) -> ImportError {
        ImportError::Malformed {
            format: self.0,
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(self, what: &'static str, detail: impl Into<String>) -> ImportError {
        ImportError::Unsupported {
            format: self.0,
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        self.0
    }
}

/// A model read from another library's file. Its inputs are one per feature: a number as
/// it is, a category as the library's code (its place in `categories`), NaN when missing
/// and [`Imported::unseen_code`] for a level the model never saw.
pub trait Imported {
    /// The library that trained it.
    fn library(&self) -> &'static str;
    fn feature_names(&self) -> &[String];
    /// Per feature: its categories in the library's codes; `None` for a number.
    fn categories(&self) -> &[Option<Vec<String>>];
    /// The model as riskfn's: each feature's encoding and the model over them.
    fn convert(&self) -> Result<Converted, ImportError>;
    /// A row's probability by the library's own rules, read from its file independently
    /// of the conversion: the gate's reference for rows no file holds.
    fn probability(&self, codes: &[f64]) -> f64;
    /// Each split on a number: its feature and condition.
    fn splits(&self) -> Vec<(usize, f64)>;
    /// The code of a level the model never saw: NaN where the library reads it as missing
    /// (LightGBM, XGBoost, a PMML scorecard), a code of its own where the two differ.
    fn unseen_code(&self) -> f64 {
        f64::NAN
    }
    /// The pipeline's points scale (`[scorecard]`), for a model that gives points (a PMML
    /// scorecard) rather than a probability.
    fn set_scale(&mut self, _scale: riskfn_core::contract::artifact::Scorecard) {}
}

/// A model converted into riskfn's types: per feature (in the model's order) how the
/// service encodes it, and the model over the encoded inputs. The features' expressions
/// are the model's own inputs (`Expr::Column(f)`), their level shares empty, until
/// publishing puts the pipeline's SQL and training rows in their place.
#[derive(Debug, Clone)]
pub struct Converted {
    pub features: Vec<Feature>,
    pub model: Model,
    /// Whether the file names its features' reason codes (a PMML scorecard's): they are
    /// kept over the pipeline's.
    pub own_reasons: bool,
}

impl Converted {
    /// A model feature of `encoding`, before publishing fills it in.
    pub(crate) fn feature(f: usize, name: &str, encoding: Encoding) -> Feature {
        Feature {
            name: name.to_owned(),
            expr: Expr::Column(f),
            encoding,
            reason: Reason {
                code: name.to_uppercase(),
                text: name.replace('_', " "),
            },
        }
    }

    /// The probability of a row of `m`'s codes scored as the service scores it: each
    /// feature encoded by its encoding (a missing category as riskfn's missing level, an
    /// unseen one as a level none of the model's), the model over the inputs.
    pub fn probability(&self, m: &dyn Imported, codes: &[f64]) -> f64 {
        self.model.probability(&self.encode(m, codes))
    }

    /// A row of `m`'s codes as the model's inputs, encoded as the service encodes them.
    pub fn encode(&self, m: &dyn Imported, codes: &[f64]) -> Vec<f64> {
        let unseen = unseen_level(m);
        let mut x = Vec::new();
        for ((feature, categories), &v) in self.features.iter().zip(m.categories()).zip(codes) {
            match categories {
                Some(c) => {
                    let key = match v {
                        v if v.is_nan() => riskfn_core::features::preprocess::MISSING_LEVEL,
                        v if v >= 0.0 => c.get(v as usize).map_or(unseen.as_str(), |s| s),
                        _ => unseen.as_str(),
                    };
                    feature.encode_key_into(key, &mut x);
                }
                None => feature.encode_number_into(Some(v).filter(|v| v.is_finite()), &mut x),
            }
        }
        x
    }
}

/// Fill in what the model's file kept none of, from `rows` (the training split's inputs
/// and outcomes), in one pass: a tree's cover (ONNX's trees), the rows reaching each node,
/// the weights TreeSHAP takes its expectations over, as scikit-learn's own node counts are
/// for the rows it was fitted on (a node no row reaches keeps a trace of weight, so that
/// expectations stay defined); a card's bin statistics (a PMML scorecard keeps only
/// points), the rows and adverse rows in each bin with their weight of evidence and
/// information value as riskfn's own cards count them (0 where a bin lacks either outcome:
/// JSON holds no infinity).
pub(crate) fn describe_from_training(
    model: &mut Model,
    rows: impl Iterator<Item = (Vec<f64>, bool)>,
) {
    match model {
        Model::GradientBoosting(b) => cover_trees(b.trees.iter_mut().collect(), rows),
        Model::RandomForest(f) => cover_trees(f.trees.iter_mut().collect(), rows),
        Model::DecisionTree(t) => cover_trees(vec![t], rows),
        Model::Scorecard(card) => describe_bins(card, rows),
        _ => {}
    }
}

fn cover_trees(trees: Vec<&mut Tree>, rows: impl Iterator<Item = (Vec<f64>, bool)>) {
    let mut trees: Vec<&mut Tree> = trees.into_iter().filter(|t| t.cover.is_empty()).collect();
    if trees.is_empty() {
        return;
    }
    for t in &mut trees {
        t.cover = vec![0.0; t.nodes.len()];
    }
    for (x, _) in rows {
        for t in &mut trees {
            let mut i = Some(0);
            while let Some(n) = i {
                t.cover[n] += 1.0;
                i = t.child(n, &x);
            }
        }
    }
    for t in trees {
        for c in &mut t.cover {
            *c = c.max(1e-9);
        }
    }
}

fn describe_bins(card: &mut PointsCard, rows: impl Iterator<Item = (Vec<f64>, bool)>) {
    if (card.characteristics.iter())
        .flat_map(|c| &c.stats)
        .any(|s| s.rows > 0)
    {
        return;
    }
    for (x, adverse) in rows {
        for c in &mut card.characteristics {
            let b = c.bin(&x);
            if let Some(s) = c.stats.get_mut(b) {
                s.rows += 1;
                s.adverse += u64::from(adverse);
            }
        }
    }
    let counts = |s: &BinStats| Counts {
        rows: s.rows as usize,
        adverse: s.adverse as usize,
    };
    for c in &mut card.characteristics {
        let total = (c.stats.iter()).fold(Counts::default(), |t, s| Counts {
            rows: t.rows + s.rows as usize,
            adverse: t.adverse + s.adverse as usize,
        });
        for s in &mut c.stats {
            let bin = counts(s);
            (s.woe, s.iv) = match bin.adverse > 0 && bin.good() > 0 {
                true => (binning::woe(bin, total), binning::iv(bin, total)),
                false => (0.0, 0.0),
            };
        }
    }
}

/// A string that is none of `m`'s levels.
fn unseen_level(m: &dyn Imported) -> String {
    let mut s = String::from("unseen level");
    while m.categories().iter().flatten().flatten().any(|c| *c == s) {
        s.push('?');
    }
    s
}

/// The double `b` with `x < b` exactly when `f32(x) < c` (round to nearest, ties to
/// even).
pub(crate) fn float32_boundary(c: f32) -> f64 {
    if !c.is_finite() || c == f32::MIN {
        return f64::from(c);
    }
    let below = c.next_down();
    let mid = (f64::from(below) + f64::from(c)) / 2.0;
    // At the midpoint itself rounding picks the neighbour with an even last bit.
    if c.to_bits() & 1 == 0 {
        mid
    } else {
        mid.next_up()
    }
}

/// Boosted trees over one input per feature: a number as it is (NaN when missing, routed
/// by the trees), a category as its level's position among the sorted levels.
pub(crate) fn trees(m: &dyn Imported, boosted: Boosted) -> Converted {
    let features = (m.feature_names().iter().enumerate())
        .map(|(f, name)| {
            let encoding = match levels(m, f) {
                Some(levels) => Encoding::Level {
                    frequencies: vec![0.0; levels.len()],
                    levels,
                },
                None => Encoding::as_is(),
            };
            Converted::feature(f, name, encoding)
        })
        .collect();
    Converted {
        features,
        model: Model::GradientBoosting(boosted),
        own_reasons: false,
    }
}

/// For each code of a category feature, its level's position among the sorted levels.
pub(crate) fn code_positions(categories: &[String]) -> Vec<u32> {
    let mut sorted: Vec<&String> = categories.iter().collect();
    sorted.sort();
    categories
        .iter()
        .map(|c| sorted.binary_search(&c).map_or(u32::MAX, |p| p as u32))
        .collect()
}

/// A feature's levels, sorted (the positions riskfn's inputs hold).
pub fn levels(m: &dyn Imported, feature: usize) -> Option<Vec<String>> {
    let mut levels = m.categories().get(feature)?.clone()?;
    levels.sort();
    Some(levels)
}

/// Each feature's [`code_positions`]; `None` for a number.
pub(crate) fn positions(categories: &[Option<Vec<String>>]) -> Vec<Option<Vec<u32>>> {
    (categories.iter())
        .map(|c| c.as_ref().map(|c| code_positions(c)))
        .collect()
}

/// The pipeline's SQL output column of each model feature: its own name, or the one
/// `--features` maps it to (`model name -> SQL column`). A mapped name the model lacks is an
/// error naming it.
pub fn sql_names(m: &dyn Imported, map: &[(String, String)]) -> Result<Vec<String>> {
    if let Some((name, _)) = map.iter().find(|(k, _)| !m.feature_names().contains(k)) {
        return Err(crate::error::Error::Data(format!(
            "--features maps {name}, which the model does not read (it reads {})",
            m.feature_names().join(", ")
        )));
    }
    Ok((m.feature_names().iter())
        .map(|n| (map.iter().find(|(k, _)| k == n)).map_or_else(|| n.clone(), |(_, v)| v.clone()))
        .collect())
}

/// `raw`'s rows as the library's codes, each feature from the column `names` gives it: a
/// number as it is, a category as its place in `categories`; NaN when missing, the model's
/// [`Imported::unseen_code`] when unseen. A column `raw` lacks is an error naming it and
/// the file (`what` it is).
pub fn codes(
    m: &dyn Imported,
    names: &[String],
    raw: &RawData,
    what: &str,
) -> Result<Vec<Vec<f64>>> {
    let mut rows = vec![vec![f64::NAN; m.feature_names().len()]; raw.rows as usize];
    let unseen = m.unseen_code();
    for (f, name) in names.iter().enumerate() {
        match &m.categories()[f] {
            Some(categories) => {
                let code: HashMap<&str, f64> = (categories.iter().enumerate())
                    .map(|(k, c)| (c.as_str(), k as f64))
                    .collect();
                let c = raw.required_as(name, &DataType::Utf8, what)?;
                let c = c.as_string::<i32>();
                for (r, row) in rows.iter_mut().enumerate() {
                    if c.is_valid(r) {
                        row[f] = code.get(c.value(r)).copied().unwrap_or(unseen);
                    }
                }
            }
            None => {
                let c = raw.required_as(name, &DataType::Float64, what)?;
                let c = c.as_primitive::<Float64Type>();
                for (r, row) in rows.iter_mut().enumerate() {
                    if c.is_valid(r) {
                        row[f] = c.value(r);
                    }
                }
            }
        }
    }
    Ok(rows)
}

/// Rows that probe every split, each from `base` rows: a number on each condition and one
/// ulp either side of it, NaN and zero (NaN and zero for every number); each category's
/// code, a missing one and an unseen one.
pub fn edge_rows(m: &dyn Imported, base: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut probes: Vec<(usize, f64)> = (m.splits().into_iter())
        .flat_map(|(f, t)| [t, t.next_down(), t.next_up(), f64::NAN, 0.0].map(|v| (f, v)))
        .collect();
    for (f, c) in m.categories().iter().enumerate() {
        match c {
            Some(c) => {
                probes.extend((0..c.len()).map(|code| (f, code as f64)));
                probes.extend([(f, f64::NAN), (f, m.unseen_code())]);
            }
            None => probes.extend([(f, f64::NAN), (f, 0.0)]),
        }
    }
    // An infinity is no value a feature takes (riskfn reads one as missing, which NaN
    // probes), and the largest double stands for it where a converted split needs one (JSON
    // holds no infinity): neither is probed.
    probes.retain(|p| p.1.is_nan() || p.1.abs() < f64::MAX);
    probes.sort_by_key(|p| (p.0, p.1.to_bits()));
    probes.dedup_by(|a, b| a.0 == b.0 && a.1.to_bits() == b.1.to_bits());
    (base.iter())
        .flat_map(|row| {
            probes.iter().map(move |&(f, v)| {
                let mut r = row.clone();
                r[f] = v;
                r
            })
        })
        .collect()
}

/// How far the converted model is from the library's own rules on a set of rows.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Parity {
    pub rows: usize,
    /// The largest difference in probability.
    pub max_difference: f64,
}

/// The converted model against the library's own rules on `rows` (of codes). A NaN
/// difference (a row one side cannot score) counts as the worst.
pub fn parity(m: &dyn Imported, converted: &Converted, rows: &[Vec<f64>]) -> Parity {
    let max_difference = (rows.iter())
        .map(|codes| (converted.probability(m, codes) - m.probability(codes)).abs())
        .fold(0.0, |worst: f64, d| {
            if d.is_nan() || worst.is_nan() {
                f64::NAN
            } else {
                worst.max(d)
            }
        });
    Parity {
        rows: rows.len(),
        max_difference,
    }
}

/// Read a model file of `format` (`lightgbm`: its text model or JSON dump, `xgboost`: its
/// JSON or UBJSON model, `onnx` or `pmml`).
pub fn read(format: &str, bytes: &[u8]) -> Result<Box<dyn Imported>, ImportError> {
    let text = || {
        std::str::from_utf8(bytes).map_err(|_| ImportError::Malformed {
            format: "text model",
            reason: format!("a {format} model file is text; this one is not UTF-8"),
        })
    };
    match format {
        // Its JSON dump opens with a brace; its text model with the line `tree`.
        "lightgbm" if bytes.first() == Some(&b'{') => {
            Ok(Box::new(lightgbm::LightGbm::parse_json(text()?)?))
        }
        "lightgbm" => Ok(Box::new(lightgbm::LightGbm::parse(text()?)?)),
        "xgboost" if xgboost::XgBoost::is_ubj(bytes) => {
            Ok(Box::new(xgboost::XgBoost::parse_ubj(bytes)?))
        }
        "xgboost" => Ok(Box::new(xgboost::XgBoost::parse(text()?)?)),
        "onnx" => Ok(Box::new(onnx::Onnx::parse(bytes)?)),
        "pmml" => Ok(Box::new(pmml::Pmml::parse(text()?)?)),
        other => Err(ImportError::Unsupported {
            format: "model",
            what: "format",
            detail: format!("{other} (lightgbm, xgboost, onnx or pmml)"),
        }),
    }
}

/// What the formats' tests share: their fixtures (`tests/reference/import`), read as the
/// libraries' codes, and TreeSHAP over converted trees.
#[cfg(test)]
pub(crate) mod testing {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float64Type};

    use super::Imported;
    use crate::source::RawData;

    pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/reference/import")
            .join(name)
    }

    /// A fixture's reference rows.
    pub(crate) struct Reference {
        /// As the library's codes.
        pub codes: Vec<Vec<f64>>,
        raw: RawData,
    }

    impl Reference {
        /// A string column of the file (empty when empty).
        pub(crate) fn strings(&self, name: &str) -> Vec<String> {
            let c = self.raw.column_as(name, &DataType::Utf8).unwrap().unwrap();
            let c = c.as_string::<i32>();
            (0..c.len())
                .map(|r| {
                    if c.is_null(r) {
                        String::new()
                    } else {
                        c.value(r).to_owned()
                    }
                })
                .collect()
        }

        /// A number column of the file (NaN when empty).
        pub(crate) fn numbers(&self, name: &str) -> Vec<f64> {
            let c = self
                .raw
                .column_as(name, &DataType::Float64)
                .unwrap()
                .unwrap();
            let c = c.as_primitive::<Float64Type>();
            (0..c.len())
                .map(|r| if c.is_null(r) { f64::NAN } else { c.value(r) })
                .collect()
        }
    }

    pub(crate) async fn reference(m: &dyn Imported, name: &str) -> Reference {
        reference_as(m, m.feature_names(), name).await
    }

    /// A fixture's reference rows, each model feature from the column `names` gives it.
    pub(crate) async fn reference_as(m: &dyn Imported, names: &[String], name: &str) -> Reference {
        let ctx = crate::source::session().unwrap();
        let raw = crate::source::read(&ctx, &fixture(name).display().to_string())
            .await
            .unwrap();
        let codes = super::codes(m, names, &raw, "the fixture").unwrap();
        Reference { codes, raw }
    }

    /// Each input's TreeSHAP value over the trees, and the bias (the base score and the
    /// trees' expected values).
    pub(crate) fn tree_shap(boosted: &riskfn_core::model::Boosted, x: &[f64]) -> (Vec<f64>, f64) {
        let mut phi = vec![0.0; x.len()];
        let mut path = Vec::new();
        for t in &boosted.trees {
            riskfn_core::model::shap::add_tree_shap(t, x, &mut phi, &mut path);
        }
        let bias = boosted.base_score
            + (boosted.trees.iter())
                .map(riskfn_core::model::shap::expected_value)
                .sum::<f64>();
        (phi, bias)
    }

    /// Ten rows of codes for the edge rows to start from.
    pub(crate) fn base_rows(m: &dyn Imported) -> Vec<Vec<f64>> {
        (0..10)
            .map(|i| {
                (m.categories().iter())
                    .map(|c| match c {
                        Some(c) => (i % c.len()) as f64,
                        None => 10.0 + 37.0 * i as f64,
                    })
                    .collect()
            })
            .collect()
    }
}
