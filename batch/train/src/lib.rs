//! Training and evaluation for the batch job: linfa models over an encoded design matrix,
//! hyperparameters chosen on the validation split, converted to the serving side's model
//! types, and the evaluation measures.
//!
//! - [`logistic`]: L2 logistic regression over a `C` grid;
//! - [`metrics`]: accuracy, precision, recall, F1, ROC AUC, KS, Gini, Brier, log loss.

pub mod logistic;
pub mod metrics;

pub use logistic::{GridPoint, LogisticSpec, Trained};

#[derive(Debug, thiserror::Error)]
#[error("training {family}: {message}")]
pub struct TrainError {
    pub family: String,
    pub message: String,
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;
