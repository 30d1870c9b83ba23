//! Fitted models in a form the serving side evaluates without the training library.
//!
//! The batch job converts each linfa model into one of these; a test there checks that the
//! converted model, saved and reloaded, gives linfa's own probabilities.

use serde::{Deserialize, Serialize};

/// A fitted binary classifier; every variant yields the probability of the adverse outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Model {
    LogisticRegression(Linear),
}

/// `p = sigmoid(intercept + weights . x)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    pub weights: Vec<f64>,
    pub intercept: f64,
}

impl Model {
    pub fn family(&self) -> &'static str {
        match self {
            Model::LogisticRegression(_) => "logistic_regression",
        }
    }

    /// Number of encoded inputs the model expects.
    pub fn n_inputs(&self) -> usize {
        match self {
            Model::LogisticRegression(m) => m.weights.len(),
        }
    }

    /// Probability of the adverse outcome for one encoded row.
    pub fn probability(&self, x: &[f64]) -> f64 {
        match self {
            Model::LogisticRegression(m) => sigmoid(m.logit(x)),
        }
    }
}

impl Linear {
    pub fn logit(&self, x: &[f64]) -> f64 {
        self.intercept + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>()
    }
}

/// The logistic function, stable for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn logistic_probability() {
        let m = Model::LogisticRegression(Linear {
            weights: vec![1.0, -2.0],
            intercept: 0.5,
        });
        // sigmoid(0.5 + 1 - 4) = sigmoid(-2.5) = 0.0758581800212435 (1 / (1 + e^2.5)).
        assert_abs_diff_eq!(
            m.probability(&[1.0, 2.0]),
            0.075_858_180_021_243_5,
            epsilon = 1e-15
        );
        assert_abs_diff_eq!(sigmoid(800.0), 1.0);
        assert_abs_diff_eq!(sigmoid(-800.0), 0.0);
    }
}
