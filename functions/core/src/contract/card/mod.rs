//! The model card of a version: what a validator reads before it serves (purpose, data,
//! features, model, performance, fairness, stability, gate verdict, limitations, history).
//! Built by the batch job at publish time and written as `card.json`, `card.md` and
//! `card.html`; the serving side renders the same document with the version's promotion
//! history appended. It holds aggregates only, never an applicant's values: no category
//! levels, no quantile edges of a feature, no imputed medians.

mod render;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contract::artifact::{DataSummary, Metrics, SplitMetrics};
use crate::contract::gate::GateRecord;
use crate::contract::measures::{GainsRow, GroupMeasure, MIN_ROWS};

pub const CARD_JSON: &str = "card.json";
pub const CARD_MARKDOWN: &str = "card.md";
pub const CARD_HTML: &str = "card.html";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub pipeline: String,
    pub version: String,
    pub created_at: String,
    pub code_version: String,
    pub purpose: Purpose,
    pub data: DataSummary,
    pub features: Vec<CardFeature>,
    /// Columns of the SQL output kept out of the features (`[columns] exclude`).
    pub excluded: Vec<String>,
    pub protected: Vec<ProtectedAttribute>,
    pub model: ChosenModel,
    pub families: Vec<FamilyTried>,
    pub metrics: SplitMetrics,
    /// The chosen model's gains table on the test split.
    pub gains: Vec<GainsRow>,
    pub fairness: Vec<FairnessTable>,
    pub stability: Stability,
    pub gate: GateRecord,
    pub limitations: Vec<String>,
    /// For a model trained elsewhere: where it came from and how its conversion was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportedModel>,
    /// The version's promotion history, added when the card is served (the stored card is
    /// written before the version can be promoted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
}

/// A model trained outside riskfn and imported (`riskfn models import`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedModel {
    pub provenance: Provenance,
    /// The most a probability may differ from the library's own.
    pub tolerance: f64,
    /// The parity gate's sets of rows and how far each came from the library.
    pub parity: Vec<ParityCheck>,
}

/// Where an imported model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The library that trained it.
    pub library: String,
    pub file: String,
    pub sha256: String,
    pub imported_by: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityCheck {
    pub rows_of: String,
    pub rows: usize,
    pub max_difference: f64,
}

/// `description` and `[card]` of `pipeline.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Purpose {
    pub description: String,
    pub owner: Option<String>,
    pub intended_use: Option<String>,
    pub out_of_scope: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardFeature {
    pub name: String,
    /// `numeric` or `categorical`.
    pub kind: String,
    /// Levels a categorical feature knows (how many, not which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<usize>,
    pub reason_code: String,
    pub reason_text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtectedAttribute {
    pub name: String,
    pub column: String,
    /// Cut points of a banded number; empty: each value is a group.
    pub bands: Vec<f64>,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChosenModel {
    pub family: String,
    pub params: BTreeMap<String, serde_json::Value>,
    pub inputs: usize,
    pub threshold: f64,
    /// How the threshold was chosen (`fixed`, `max_ks`, ...).
    pub threshold_rule: String,
    /// How grid points and families were compared.
    pub selection: String,
    pub adverse: String,
    pub favourable: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyTried {
    pub family: String,
    /// `trained` or `skipped`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_auc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_auc: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FairnessTable {
    pub attribute: String,
    pub column: String,
    pub reference: String,
    pub validation: Vec<GroupMeasure>,
    pub test: Vec<GroupMeasure>,
}

/// The drift baseline, as aggregates: the score's bins in full (probabilities), each
/// feature's number of bins and largest share (its edges or levels stay in `baseline.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stability {
    pub rows: u64,
    /// Above this PSI or CSI, `riskfn drift` exits non-zero.
    pub threshold: f64,
    pub score: Vec<ScoreBin>,
    pub features: Vec<FeatureStability>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreBin {
    /// Probability range `[from, to)`; `None` ends are open; both `None`: missing.
    pub from: Option<f64>,
    pub to: Option<f64>,
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStability {
    pub name: String,
    pub bins: usize,
    pub largest_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: String,
    pub event: String,
    pub detail: String,
    /// Who did it and why, when the record says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
