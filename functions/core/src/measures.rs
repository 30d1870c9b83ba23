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
