//! `pipeline.toml` as written: every section, its keys and their defaults. Unknown keys are
//! refused by name; [`super::Pipeline::load`] checks the values and builds the pipeline.

use std::collections::BTreeMap;

use riskfn_core::contract::gate::GateSpec;
use riskfn_core::features::schema::UnknownFields;
use serde::Deserialize;

use super::MissingPolicy;
use super::families::ModelsConfig;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) description: String,
    pub(super) source: SourceConfig,
    pub(super) target: TargetConfig,
    #[serde(default)]
    pub(super) columns: ColumnsConfig,
    #[serde(default)]
    pub(super) cleaning: CleaningConfig,
    #[serde(default)]
    pub(super) split: SplitConfig,
    #[serde(default)]
    pub(super) models: ModelsConfig,
    #[serde(default)]
    pub(super) decision: DecisionConfig,
    #[serde(default)]
    pub(super) serving: ServingConfig,
    #[serde(default)]
    pub(super) gate: GateConfig,
    #[serde(default)]
    pub(super) scorecard: ScorecardConfig,
    #[serde(default)]
    pub(super) drift: DriftConfig,
    #[serde(default)]
    pub(super) outcomes: OutcomesConfig,
    /// Protected attributes, by name.
    #[serde(default)]
    pub(super) fairness: BTreeMap<String, FairnessConfig>,
    #[serde(default)]
    pub(super) card: CardConfig,
}

/// `[card]`: what the model card says of the model's purpose, beside `description`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CardConfig {
    pub(super) owner: Option<String>,
    pub(super) intended_use: Option<String>,
    #[serde(default)]
    pub(super) out_of_scope: Vec<String>,
}

/// `[fairness] <attribute> = { column, bands, reference }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FairnessConfig {
    /// A column of the SQL output that is not a feature (default: the attribute's name).
    pub(super) column: Option<String>,
    /// Cut points of a number into bands (`[25, 40, 62]`: under 25, 25 to 40, ...); without
    /// them, each value is a group.
    pub(super) bands: Option<Vec<f64>>,
    /// The group the others are compared with.
    pub(super) reference: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DriftConfig {
    /// Above this PSI or CSI, `riskfn drift` exits non-zero (default 0.25: "act").
    pub(super) threshold: Option<f64>,
}

/// `[outcomes]`: back-testing the versions in use on what became of their applicants.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutcomesConfig {
    /// Months after a decision before an outcome of 0 counts as good (default 12); a 1
    /// counts as soon as it is observed.
    pub(super) window_months: Option<u32>,
    /// A test's p-value below `red` is red (default 0.01), below `amber` amber (0.05).
    pub(super) red: Option<f64>,
    pub(super) amber: Option<f64>,
    /// The rating grades' PD boundaries (default: each version's test-split deciles).
    pub(super) grades: Option<Vec<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScorecardConfig {
    pub(super) base_points: Option<f64>,
    /// Good applicants per bad one at `base_points`.
    pub(super) base_odds: Option<f64>,
    pub(super) pdo: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GateConfig {
    #[serde(default = "default_auc_tolerance")]
    pub(super) auc_tolerance: f64,
    #[serde(default = "default_min_ks")]
    pub(super) min_ks: f64,
    /// The four-fifths screen: every protected group's approval rate at least this share of
    /// the reference group's on validation (off unless set).
    pub(super) min_adverse_impact_ratio: Option<f64>,
    /// Four eyes: approvals a version that passed needs, each by an identity other than
    /// the one that trained or proposed it, before it becomes champion (0: none).
    #[serde(default)]
    pub(super) approvals: u32,
}

fn default_auc_tolerance() -> f64 {
    GateSpec::default().auc_tolerance
}

fn default_min_ks() -> f64 {
    GateSpec::default().min_ks
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            auc_tolerance: default_auc_tolerance(),
            min_ks: default_min_ks(),
            min_adverse_impact_ratio: None,
            approvals: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SourceConfig {
    /// Parquet or CSV file, folder of Parquet files, or `s3://` URI; relative paths are
    /// relative to the pipeline folder.
    pub(super) path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TargetConfig {
    pub(super) column: String,
    /// The raw value of the adverse outcome (string, integer or boolean).
    pub(super) positive: toml::Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ColumnsConfig {
    /// Row key: ignored by de-duplication, never a feature.
    pub(super) id: Option<String>,
    /// SQL output columns that are not features.
    #[serde(default)]
    pub(super) exclude: Vec<String>,
    /// Integer-coded columns to one-hot encode instead of treating as numbers.
    #[serde(default)]
    pub(super) categorical: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CleaningConfig {
    #[serde(default)]
    pub(super) missing: MissingPolicy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SplitConfig {
    #[serde(default = "default_split_method")]
    pub(super) method: String,
    #[serde(default = "default_train_pct")]
    pub(super) train: u32,
    #[serde(default = "default_validation_pct")]
    pub(super) validation: u32,
    #[serde(default = "default_split_column")]
    pub(super) column: String,
    /// Train on at most about this many rows: above it, a deterministic hash sample of
    /// the de-duplicated rows (drawn in SQL, so only the sample reaches memory).
    #[serde(default)]
    pub(super) max_rows: Option<u64>,
}

fn default_split_method() -> String {
    "hash".into()
}

fn default_train_pct() -> u32 {
    60
}

fn default_validation_pct() -> u32 {
    20
}

fn default_split_column() -> String {
    "split".into()
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            method: default_split_method(),
            train: default_train_pct(),
            validation: default_validation_pct(),
            column: default_split_column(),
            max_rows: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionConfig {
    /// fixed (at `threshold`), max_f1, max_ks, or cost.
    #[serde(default = "default_rule")]
    pub(super) rule: String,
    #[serde(default = "default_threshold")]
    pub(super) threshold: f64,
    /// For `rule = "cost"`: the cost of approving an applicant who turns out bad...
    pub(super) cost_false_approve: Option<f64>,
    /// ...and of declining one who would have been good.
    pub(super) cost_false_decline: Option<f64>,
    #[serde(default = "default_adverse")]
    pub(super) adverse: String,
    #[serde(default = "default_favourable")]
    pub(super) favourable: String,
}

fn default_rule() -> String {
    "fixed".into()
}

fn default_threshold() -> f64 {
    0.5
}

fn default_adverse() -> String {
    "decline".into()
}

fn default_favourable() -> String {
    "approve".into()
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            rule: default_rule(),
            threshold: default_threshold(),
            cost_false_approve: None,
            cost_false_decline: None,
            adverse: default_adverse(),
            favourable: default_favourable(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServingConfig {
    #[serde(default)]
    pub(super) unknown_fields: UnknownFields,
    /// A record the SQL's filters would drop: `refuse` (422 naming the filter) or `flag`
    /// (scored, the filter named in the answer and the audit record).
    #[serde(default)]
    pub(super) outside_population: riskfn_core::features::population::Outside,
    /// Reasons per answer.
    pub(super) reasons: Option<usize>,
}
