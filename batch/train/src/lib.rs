//! Training and evaluation for the batch job: every configured model family is fitted with
//! linfa on the training split, its hyperparameters chosen on the validation split, and
//! converted into the serving side's model types.
//!
//! - [`logistic`], [`naive_bayes`], [`svm`], [`trees`]: the families;
//! - [`select`]: running the families and choosing among them;
//! - [`metrics`]: accuracy, precision, recall, F1, ROC AUC, KS, Gini, Brier, log loss, and
//!   the decision threshold rules.

pub mod logistic;
pub mod metrics;
pub mod naive_bayes;
pub mod select;
pub mod svm;
pub mod trees;

use std::collections::BTreeMap;

use ndarray::Array2;
use riskfn_core::model::Model;
use serde::Serialize;

pub use logistic::LogisticSpec;
pub use naive_bayes::NaiveBayesSpec;
pub use select::{Families, Outcome, select, train_all};
pub use svm::SvmSpec;
pub use trees::{ForestSpec, TreeSpec};

#[derive(Debug, thiserror::Error)]
#[error("training {family}: {message}")]
pub struct TrainError {
    pub family: String,
    pub message: String,
}

impl TrainError {
    pub fn new(family: &str, message: impl Into<String>) -> Self {
        TrainError {
            family: family.to_owned(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// Encoded rows and their labels (adverse = true).
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    pub x: &'a Array2<f64>,
    pub y: &'a [bool],
}

impl Rows<'_> {
    pub fn positives(&self) -> usize {
        self.y.iter().filter(|&&b| b).count()
    }
}

/// What every family trains on.
#[derive(Debug, Clone, Copy)]
pub struct Data<'a> {
    pub train: Rows<'a>,
    pub validation: Rows<'a>,
    /// Seed of every random choice (forests), so a run is reproducible.
    pub seed: u64,
}

/// One grid point and how it did.
#[derive(Debug, Clone, Serialize)]
pub struct GridPoint {
    pub params: BTreeMap<String, serde_json::Value>,
    pub validation_auc: f64,
    pub fit_seconds: f64,
    /// Facts about the fit a reader should know (convergence, rows used, support vectors).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, serde_json::Value>,
}

/// A family's best grid point, its model, and the whole grid.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyResult {
    pub family: String,
    pub chosen: GridPoint,
    pub grid: Vec<GridPoint>,
    /// Warnings raised while fitting (also logged).
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub model: Model,
}

/// Keep the best point of a grid (strictly better validation AUC wins; earlier points win
/// ties, so smaller / simpler settings listed first are preferred).
#[derive(Debug)]
pub(crate) struct Best {
    pub(crate) grid: Vec<GridPoint>,
    best: Option<(usize, Model)>,
}

impl Best {
    pub(crate) fn new() -> Self {
        Best {
            grid: Vec::new(),
            best: None,
        }
    }

    pub(crate) fn offer(&mut self, point: GridPoint, model: Model) {
        let better = match &self.best {
            None => true,
            Some((i, _)) => point.validation_auc > self.grid[*i].validation_auc + 1e-12,
        };
        if better {
            self.best = Some((self.grid.len(), model));
        }
        self.grid.push(point);
    }

    pub(crate) fn finish(self, family: &str, warnings: Vec<String>) -> Result<FamilyResult> {
        let (i, model) = self
            .best
            .ok_or_else(|| TrainError::new(family, "no grid point could be fitted"))?;
        Ok(FamilyResult {
            family: family.to_owned(),
            chosen: self.grid[i].clone(),
            grid: self.grid,
            warnings,
            model,
        })
    }
}

/// Probabilities of `model` on every row, by the serving side's own code.
pub fn probabilities(model: &Model, x: &Array2<f64>) -> Vec<f64> {
    x.rows()
        .into_iter()
        .map(|r| match r.as_slice() {
            Some(s) => model.probability(s),
            None => model.probability(&r.to_vec()),
        })
        .collect()
}

pub(crate) fn params(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}
