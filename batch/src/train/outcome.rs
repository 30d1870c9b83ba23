//! What a training run reports (`--json`, `report.json`): per family its grid and
//! measures, fairness by protected group, the scorecard's bins, importance and partial
//! dependence of the chosen model, and the features.

use std::collections::BTreeMap;

use riskfn_core::contract::artifact::{DataSummary, Metrics, ScoringArtifact, SplitMetrics};
use riskfn_core::contract::gate::GateRecord;
use riskfn_core::review::Promotion;
use riskfn_core::scoring::Scorer;
use riskfn_train::metrics::{ThresholdRule, evaluate};
use riskfn_train::{GridPoint, Outcome, Rows, probabilities};
use serde::Serialize;

use crate::error::Result;

/// What a training run did, as printed (`--json`) and stored (`report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub pipeline: String,
    pub version: String,
    pub store: String,
    pub champion: bool,
    /// Decided after publishing: absent from the stored `report.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
    pub gate: GateRecord,
    pub model: ModelReport,
    pub metrics: SplitMetrics,
    /// How grid points and families were compared.
    pub selection: String,
    /// Outcomes by protected group, on validation and test (`[fairness]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fairness: Vec<FairnessReport>,
    pub families: Vec<FamilyReport>,
    pub data: DataSummary,
    pub features: Vec<FeatureReport>,
    /// Each step's seconds and the run's peak memory.
    pub resources: super::resources::Resources,
}

/// The chosen model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub family: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub n_inputs: usize,
    /// False when the solver stopped at its iteration limit (logistic regression).
    pub converged: bool,
    /// The decision threshold, chosen on the validation split by `threshold_rule`.
    pub threshold: f64,
    pub threshold_rule: ThresholdRule,
    pub warnings: Vec<String>,
}

/// Every family: its best grid point, scores, whole grid, or why it was skipped.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyReport {
    pub family: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    /// What the family was chosen on (see `TrainReport::selection`) and its spread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
    /// The fitted model on the validation split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_auc: Option<f64>,
    /// For the report only: the choice is made without the test split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Metrics>,
    pub fit_seconds: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grid: Vec<GridPoint>,
    /// Each feature's mean |contribution| to the log-odds (the reasons' measure) over the
    /// validation rows, largest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub importance: Vec<Importance>,
    /// Partial dependence of each monotone-constrained feature (gradient boosting).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partial_dependence: Vec<PartialDependence>,
    /// The test split in ten score bands, riskiest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gains: Vec<riskfn_train::metrics::GainsRow>,
    /// A points scorecard's characteristics, bins and points, IV ranking and what was
    /// dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scorecard: Option<ScorecardReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One protected attribute's outcomes by group.
#[derive(Debug, Clone, Serialize)]
pub struct FairnessReport {
    pub attribute: String,
    pub column: String,
    pub reference: String,
    pub validation: Vec<riskfn_train::fairness::GroupMeasure>,
    pub test: Vec<riskfn_train::fairness::GroupMeasure>,
}

pub(crate) fn fairness_reports(
    protected: &[crate::pipeline::Protected],
    groups: &[Vec<std::sync::Arc<str>>],
    (val_rows, y_val, p_val): (&[usize], &[bool], &[f64]),
    (test_rows, y_test, p_test): (&[usize], &[bool], &[f64]),
    threshold: f64,
) -> Vec<FairnessReport> {
    protected
        .iter()
        .zip(groups)
        .map(|(a, g)| {
            let of = |rows: &[usize]| -> Vec<Option<String>> {
                rows.iter().map(|&r| Some(g[r].to_string())).collect()
            };
            FairnessReport {
                attribute: a.name.clone(),
                column: a.column.clone(),
                reference: a.reference.clone(),
                validation: riskfn_train::fairness::by_group(
                    &of(val_rows),
                    y_val,
                    p_val,
                    threshold,
                    &a.reference,
                ),
                test: riskfn_train::fairness::by_group(
                    &of(test_rows),
                    y_test,
                    p_test,
                    threshold,
                    &a.reference,
                ),
            }
        })
        .collect()
}

/// Every group's adverse impact ratio on validation (where its rows allow one).
pub(crate) fn adverse_impact(
    fairness: &[FairnessReport],
) -> Vec<riskfn_core::contract::gate::AdverseImpact> {
    fairness
        .iter()
        .flat_map(|f| {
            f.validation
                .iter()
                .filter(|g| !g.reference)
                .filter_map(|g| {
                    g.adverse_impact_ratio
                        .map(|ratio| riskfn_core::contract::gate::AdverseImpact {
                            attribute: f.attribute.clone(),
                            group: g.group.clone(),
                            ratio,
                        })
                })
        })
        .collect()
}

/// A scorecard as credit officers read it.
#[derive(Debug, Clone, Serialize)]
pub struct ScorecardReport {
    /// Characteristics on the card, highest information value first.
    pub characteristics: Vec<CharacteristicReport>,
    pub dropped: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct CharacteristicReport {
    pub feature: String,
    pub iv: f64,
    pub suspicious: bool,
    pub bins: Vec<BinReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BinReport {
    pub bin: String,
    pub rows: u64,
    pub share: f64,
    pub bad_rate: f64,
    pub woe: f64,
    pub points: f64,
}

fn scorecard_report(
    card: &riskfn_core::model::PointsCard,
    features: &[riskfn_core::features::preprocess::Feature],
    notes: &BTreeMap<String, serde_json::Value>,
) -> ScorecardReport {
    let mut characteristics: Vec<CharacteristicReport> = card
        .characteristics
        .iter()
        .map(|c| {
            let total: u64 = c.stats.iter().map(|b| b.rows).sum();
            let iv = c.stats.iter().map(|b| b.iv).sum();
            CharacteristicReport {
                feature: features
                    .get(c.feature)
                    .map_or_else(|| c.feature.to_string(), |f| f.name.clone()),
                iv,
                suspicious: iv > riskfn_train::ScorecardSpec::default().iv_suspicious,
                bins: c
                    .stats
                    .iter()
                    .zip(&c.points)
                    .map(|(b, &points)| BinReport {
                        bin: b.label.clone(),
                        rows: b.rows,
                        share: b.rows as f64 / total.max(1) as f64,
                        bad_rate: if b.rows == 0 {
                            f64::NAN
                        } else {
                            b.adverse as f64 / b.rows as f64
                        },
                        woe: b.woe,
                        points,
                    })
                    .collect(),
            }
        })
        .collect();
    characteristics.sort_by(|a, b| b.iv.total_cmp(&a.iv));
    ScorecardReport {
        characteristics,
        dropped: notes.get("dropped").cloned().unwrap_or_default(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Importance {
    pub feature: String,
    pub mean_abs_contribution: f64,
}

/// The model's mean probability with one input set to each of `values` (its training
/// quantiles) on every training row, and whether it moves only the constrained way.
#[derive(Debug, Clone, Serialize)]
pub struct PartialDependence {
    pub feature: String,
    pub direction: i8,
    pub values: Vec<f64>,
    pub mean_probability: Vec<f64>,
    pub monotone: bool,
}

/// The encoded splits a family's model reads.
#[derive(Clone, Copy)]
pub(crate) struct Splits<'a> {
    pub train: Rows<'a>,
    pub validation: Rows<'a>,
    pub test: Rows<'a>,
}

/// Most rows the importance and partial dependence are averaged over.
const EXPLAIN_ROWS: usize = 1000;

pub(super) fn family_reports(
    outcomes: &[Outcome],
    artifact: &ScoringArtifact,
    encodings: &super::fit::Encodings,
    splits: Splits<'_>,
    monotone: &[(String, usize, i8)],
    threshold: f64,
) -> Result<Vec<FamilyReport>> {
    outcomes
        .iter()
        .map(|o| match o {
            Outcome::Trained(r) => {
                let is_boosted = matches!(r.model, riskfn_core::model::Model::GradientBoosting(_));
                let mut a = artifact.clone();
                a.model = r.model.clone();
                a.features = encodings.for_model(&r.model).to_vec();
                let p_test = probabilities(&r.model, splits.test.x_for(&r.model));
                let scorecard = match &r.model {
                    riskfn_core::model::Model::Scorecard(card) => {
                        Some(scorecard_report(card, &a.features, &r.chosen.notes))
                    }
                    _ => None,
                };
                Ok(FamilyReport {
                    family: r.family.clone(),
                    status: "trained",
                    reason: None,
                    gains: riskfn_train::metrics::gains(splits.test.y, &p_test, 10),
                    scorecard,
                    params: r.chosen.params.clone(),
                    score: Some(r.chosen.score),
                    spread: Some(r.chosen.spread),
                    validation_auc: Some(r.validation_auc),
                    test: Some(evaluate(splits.test.y, &p_test, threshold)),
                    fit_seconds: r.grid.iter().map(|g| g.fit_seconds).sum(),
                    grid: r.grid.clone(),
                    importance: importance(&Scorer::new(a, String::new())?, splits.validation),
                    partial_dependence: if is_boosted {
                        monotone
                            .iter()
                            .map(|(name, input, dir)| {
                                partial_dependence(
                                    &r.model,
                                    splits.train.levels,
                                    name,
                                    *input,
                                    *dir,
                                )
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                    warnings: r.warnings.clone(),
                })
            }
            Outcome::Skipped { family, reason } => Ok(FamilyReport {
                family: family.clone(),
                status: "skipped",
                reason: Some(reason.clone()),
                params: BTreeMap::new(),
                score: None,
                spread: None,
                validation_auc: None,
                test: None,
                fit_seconds: 0.0,
                grid: Vec::new(),
                importance: Vec::new(),
                partial_dependence: Vec::new(),
                gains: Vec::new(),
                scorecard: None,
                warnings: Vec::new(),
            }),
        })
        .collect()
}

/// Evenly spaced rows of `x`, at most [`EXPLAIN_ROWS`].
fn spaced_rows(n: usize) -> impl Iterator<Item = usize> {
    let take = n.min(EXPLAIN_ROWS);
    (0..take).map(move |i| i * n / take.max(1))
}

fn importance(scorer: &Scorer, rows: Rows<'_>) -> Vec<Importance> {
    let model = &scorer.artifact().model;
    let x = rows.x_for(model);
    let features = &scorer.artifact().features;
    let mut sum = vec![0.0; features.len()];
    let mut n = 0usize;
    for i in spaced_rows(x.nrows()) {
        let row = x.row(i).to_vec();
        let c = scorer.contributions(&row, model.probability(&row));
        for (s, c) in sum.iter_mut().zip(c) {
            if c.is_finite() {
                *s += c.abs();
            }
        }
        n += 1;
    }
    let mut out: Vec<Importance> = features
        .iter()
        .zip(sum)
        .map(|(f, s)| Importance {
            feature: f.name.clone(),
            mean_abs_contribution: s / n.max(1) as f64,
        })
        .collect();
    out.sort_by(|a, b| b.mean_abs_contribution.total_cmp(&a.mean_abs_contribution));
    out
}

fn partial_dependence(
    model: &riskfn_core::model::Model,
    x: &ndarray::Array2<f64>,
    name: &str,
    input: usize,
    direction: i8,
) -> PartialDependence {
    let sample = x.select(
        ndarray::Axis(0),
        &spaced_rows(x.nrows()).collect::<Vec<_>>(),
    );
    let mut present: Vec<f64> = x
        .column(input)
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    present.sort_by(f64::total_cmp);
    let mut values: Vec<f64> = (0..=10)
        .filter_map(|k| {
            present
                .get(k * (present.len().saturating_sub(1)) / 10)
                .copied()
        })
        .collect();
    values.dedup();
    let mean_probability: Vec<f64> = values
        .iter()
        .map(|&v| riskfn_train::boosting::partial_dependence(model, &sample, input, v))
        .collect();
    let monotone = mean_probability
        .windows(2)
        .all(|w| (w[1] - w[0]) * f64::from(direction) >= -1e-12);
    PartialDependence {
        feature: name.to_owned(),
        direction,
        values,
        mean_probability,
        monotone,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FeatureReport {
    pub name: String,
    pub encoding: riskfn_core::features::preprocess::Encoding,
}

/// Each feature's name and fitted encoding, as reports list them.
pub(crate) fn feature_reports(
    features: &[riskfn_core::features::preprocess::Feature],
) -> Vec<FeatureReport> {
    features
        .iter()
        .map(|f| FeatureReport {
            name: f.name.clone(),
            encoding: f.encoding.clone(),
        })
        .collect()
}
