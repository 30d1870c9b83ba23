//! The one scoring path: raw record -> feature expressions -> fitted preprocessing -> model
//! -> probability and decision. The Lambda handler, the local server and batch scoring all
//! call [`Scorer`].

use serde::Serialize;

use crate::artifact::ScoringArtifact;
use crate::error::Result;
use crate::expr::EvalError;
use crate::value::Value;

/// A loaded, validated version ready to score.
#[derive(Debug)]
pub struct Scorer {
    artifact: ScoringArtifact,
    /// sha256 of `model.json` as published: which exact artifact answered.
    content_sha256: String,
}

/// The answer for one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    /// Probability of the adverse outcome.
    pub probability: f64,
    pub decision: String,
}

/// Why one record could not be scored: its fields, or a feature its values make undefined.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("{}", crate::schema::FieldError::summary(.0))]
    Fields(Vec<crate::schema::FieldError>),
    #[error("feature {feature}: {error}")]
    Feature { feature: String, error: EvalError },
}

impl Scorer {
    pub fn new(artifact: ScoringArtifact, content_sha256: String) -> Result<Self> {
        artifact.validate()?;
        Ok(Scorer {
            artifact,
            content_sha256,
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
        let mut x = Vec::with_capacity(self.artifact.model.n_inputs());
        for f in &self.artifact.features {
            let v = f.expr.eval(row).map_err(|error| RecordError::Feature {
                feature: f.name.clone(),
                error,
            })?;
            f.encode_into(&v, &mut x);
        }
        Ok(x)
    }

    /// Score one raw row (values in raw-schema order).
    pub fn score_row(&self, row: &[Value]) -> Result<Score, RecordError> {
        self.artifact
            .raw_schema
            .check_nulls(row)
            .map_err(RecordError::Fields)?;
        let x = self.encode(row)?;
        let probability = self.artifact.model.probability(&x);
        Ok(Score {
            probability,
            decision: self.artifact.decision.label(probability).to_owned(),
        })
    }

    /// Score one JSON applicant record.
    pub fn score_json(&self, record: &serde_json::Value) -> Result<Score, RecordError> {
        let row = self
            .artifact
            .raw_schema
            .parse_record(record, self.artifact.unknown_fields)
            .map_err(RecordError::Fields)?;
        self.score_row(&row)
    }
}
