//! Evaluation tables shared by the training report, the model card and their readers: the
//! gains table's rows and the outcomes of one protected group.

use serde::{Deserialize, Serialize};

/// Fewest rows a group needs for its ratios to be reported.
pub const MIN_ROWS: usize = 30;

/// A group's adverse impact ratio (its approval rate over the reference group's) and
/// whether it is too small for one: under [`MIN_ROWS`] rows, its own or the reference's.
/// No ratio either when the reference group approves nobody.
pub fn impact_ratio(
    rows: usize,
    approval_rate: f64,
    reference_rows: usize,
    reference_rate: f64,
) -> (bool, Option<f64>) {
    let small = rows < MIN_ROWS || reference_rows < MIN_ROWS;
    (
        small,
        (!small && reference_rate > 0.0).then(|| approval_rate / reference_rate),
    )
}

/// One score band of a gains table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GainsRow {
    /// 1 is the riskiest band.
    pub band: usize,
    pub rows: usize,
    pub adverse: usize,
    /// The band's lowest and highest probability.
    pub min_probability: f64,
    pub max_probability: f64,
    pub bad_rate: f64,
    /// Shares of all adverse and of all favourable rows in this band and the riskier ones.
    pub cumulative_adverse: f64,
    pub cumulative_favourable: f64,
    /// `cumulative_adverse - cumulative_favourable`: the KS statistic is its largest value
    /// at a band edge.
    pub ks: f64,
}

/// One protected group's outcomes (see `riskfn_train::fairness`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMeasure {
    pub group: String,
    pub reference: bool,
    pub rows: usize,
    /// Fewer than [`MIN_ROWS`] rows (this group's or the reference's): no ratios.
    pub small: bool,
    pub approval_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adverse_impact_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standardized_mean_difference: Option<f64>,
    /// NaN-free: absent when the group holds one outcome only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    pub mean_predicted: f64,
    pub observed_adverse_rate: f64,
}

/// `test_scores.json`: the chosen model's probability for each test row (at most
/// [`TestScores::MAX_ROWS`], evenly spaced), with its outcome and its position in the
/// source, so that two versions tested on the same data can be compared row by row (the
/// console's swap set) and each one's ROC curve drawn. No applicant's values: positions,
/// outcomes and probabilities only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestScores {
    /// The data's fingerprint: positions mean the same rows only under the same one.
    pub fingerprint: String,
    pub threshold: f64,
    pub row: Vec<u64>,
    pub outcome: Vec<bool>,
    pub probability: Vec<f64>,
}

impl TestScores {
    pub const FILE: &'static str = "test_scores.json";
    pub const MAX_ROWS: usize = 50_000;

    /// Keep every k-th row when there are more than [`Self::MAX_ROWS`].
    pub fn new(fingerprint: &str, threshold: f64, rows: &[u64], y: &[bool], p: &[f64]) -> Self {
        let step = rows.len().div_ceil(Self::MAX_ROWS).max(1);
        let pick = |i: &usize| i.is_multiple_of(step);
        TestScores {
            fingerprint: fingerprint.to_owned(),
            threshold,
            row: (0..rows.len()).filter(pick).map(|i| rows[i]).collect(),
            outcome: (0..y.len()).filter(pick).map(|i| y[i]).collect(),
            probability: (0..p.len()).filter(pick).map(|i| p[i]).collect(),
        }
    }
}

/// Test-split (and validation-split) measures of a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: u64,
    pub positives: u64,
    pub threshold: f64,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub ks: f64,
    pub gini: f64,
    pub brier: f64,
    pub log_loss: f64,
    pub confusion: Confusion,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    pub validation: Metrics,
    pub test: Metrics,
}
