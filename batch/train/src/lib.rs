//! Training and evaluation for the batch job: every configured model family's grid is
//! cross-validated over the training and validation splits (or scored on the validation
//! split, for large tables), the best point of each family fitted on the training split and
//! converted into the serving side's model types, and the best family chosen.
//!
//! - [`logistic`], [`scorecard`] (on [`binning`]), [`naive_bayes`], [`svm`], [`trees`] (on
//!   [`cart`]), [`boosting`]: the families, each a [`Family`];
//! - [`select`]: cross-validating every family's grid and choosing among them;
//! - [`fairness`]: outcomes by protected group (adverse impact ratios);
//! - [`metrics`]: accuracy, precision, recall, F1, ROC AUC, KS, Gini, Brier, log loss, and
//!   the decision threshold rules.

pub mod binning;
pub mod bins;
pub mod boosting;
pub mod cart;
pub mod fairness;
pub mod logistic;
pub mod metrics;
pub mod naive_bayes;
pub mod scorecard;
pub mod select;
pub mod svm;
pub mod table;
pub mod trees;

use std::collections::BTreeMap;

use ndarray::Array2;
use rayon::prelude::*;
use riskfn_core::model::{Inputs, Model};
use serde::Serialize;

pub use boosting::BoostingSpec;
pub use logistic::LogisticSpec;
pub use naive_bayes::NaiveBayesSpec;
pub use scorecard::ScorecardSpec;
pub use select::{Families, Outcome, Selection, Unwatched, Watch, select, train_all};
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

/// Encoded rows and their labels (adverse = true), in three encodings: `x` with missing
/// numbers imputed and categories one-hot (linear models, naive Bayes, trees, forests),
/// `native` with missing numbers left NaN (the scorecard), and `levels`, missing numbers
/// NaN, a category of many levels one input (its level's position), of few one-hot
/// (boosting).
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    pub x: &'a Array2<f64>,
    pub native: &'a Array2<f64>,
    pub levels: &'a Array2<f64>,
    /// Per input of `levels`, whether it holds level positions.
    pub categorical: &'a [bool],
    pub y: &'a [bool],
}

impl Rows<'_> {
    pub fn positives(&self) -> usize {
        self.y.iter().filter(|&&b| b).count()
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The encoding `model` reads: levels by position for boosted trees, missing numbers
    /// left NaN for scorecards (they bin them), imputed one-hot for the others.
    pub fn x_for(&self, model: &Model) -> &Array2<f64> {
        match model.inputs() {
            Inputs::Levels => self.levels,
            Inputs::Native => self.native,
            Inputs::Imputed => self.x,
        }
    }
}

/// What every family trains on.
#[derive(Debug, Clone, Copy)]
pub struct Data<'a> {
    pub train: Rows<'a>,
    pub validation: Rows<'a>,
    /// Seed of every random choice (folds, forests, boosting's row samples).
    pub seed: u64,
}

/// A grid point's settings, as the report shows them.
pub type Params = BTreeMap<String, serde_json::Value>;

/// One fitted grid point.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub model: Model,
    /// Facts about the fit a reader should know (convergence, rows used, trees kept).
    pub notes: Params,
    pub warnings: Vec<String>,
}

impl Fitted {
    pub fn new(model: Model) -> Self {
        Fitted {
            model,
            notes: Params::new(),
            warnings: Vec::new(),
        }
    }

    pub fn with_notes(mut self, notes: &[(&str, serde_json::Value)]) -> Self {
        self.notes.extend(params(notes));
        self
    }
}

/// A model family: its grid, and how to fit one of its points.
pub trait Family: Sync {
    fn name(&self) -> &'static str;
    /// The grid's points, in the order ties are broken (simpler first).
    fn grid(&self) -> Vec<Params>;
    /// Fit point `point` of the grid on `fit`; `holdout` (rows not fitted on) is there for
    /// what a family tunes on held-out rows: early stopping, Platt scaling.
    fn fit(&self, point: usize, fit: Rows<'_>, holdout: Rows<'_>, seed: u64) -> Result<Fitted>;
    /// Fewest training rows of the rarer class the family needs.
    fn min_class_rows(&self) -> usize {
        2
    }
}

/// One grid point and the evidence for it.
#[derive(Debug, Clone, Serialize)]
pub struct GridPoint {
    pub params: Params,
    /// The ROC AUC the choice is made on: the mean over the cross-validation folds, or the
    /// validation split's AUC when there are none.
    pub score: f64,
    /// Its spread: the standard deviation of the fold AUCs, or the validation AUC's
    /// DeLong standard error.
    pub spread: f64,
    /// Each fold's AUC (empty without folds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fold_aucs: Vec<f64>,
    pub fit_seconds: f64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: Params,
}

/// A family's best grid point, its model (fitted on the training split), and the grid.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyResult {
    pub family: String,
    pub chosen: GridPoint,
    /// The model's ROC AUC on the validation split.
    pub validation_auc: f64,
    pub grid: Vec<GridPoint>,
    /// Warnings raised while fitting (also logged).
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub model: Model,
}

/// Probabilities of `model` on every row, by the serving side's own code, on every core
/// (each row's alone: the same on any number of them). A row of a column-major design is
/// gathered into a buffer first.
pub fn probabilities(model: &Model, x: &Array2<f64>) -> Vec<f64> {
    (0..x.nrows())
        .into_par_iter()
        .with_min_len(1024)
        .map_init(Vec::new, |row, i| {
            let r = x.row(i);
            match r.as_slice() {
                Some(s) => model.probability(s),
                None => {
                    row.clear();
                    row.extend(r.iter().copied());
                    model.probability(row)
                }
            }
        })
        .collect()
}

pub(crate) fn params(pairs: &[(&str, serde_json::Value)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// `None` as JSON null (an unlimited depth), a number otherwise.
pub(crate) fn optional(v: Option<usize>) -> serde_json::Value {
    v.map_or(serde_json::Value::Null, Into::into)
}
