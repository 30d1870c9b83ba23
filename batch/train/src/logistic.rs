//! Model training with linfa, hyperparameters chosen on the validation split.

use std::collections::BTreeMap;

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2, ArrayView1};
use riskfn_core::model::{Linear, Model, sigmoid};
use serde::Serialize;

use crate::metrics::roc_auc;
use crate::{Result, TrainError};

/// Logistic regression settings: the L2 grid (scikit-learn's `C`; linfa's `alpha = 1 / C`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticSpec {
    pub c_grid: Vec<f64>,
    pub max_iterations: u64,
}

/// One grid point and how it did.
#[derive(Debug, Clone, Serialize)]
pub struct GridPoint {
    pub params: BTreeMap<String, serde_json::Value>,
    pub validation_auc: f64,
    /// Euclidean norm of the penalised loss gradient at the solution, divided by the row
    /// count; linfa stops silently at its iteration limit, so this is how we know.
    pub gradient_norm: f64,
    pub converged: bool,
}

#[derive(Debug, Clone)]
pub struct Trained {
    pub model: Model,
    pub chosen: GridPoint,
    pub grid: Vec<GridPoint>,
}

/// A per-row gradient norm above this means the solver stopped early.
const CONVERGED_GRADIENT: f64 = 1e-4;

/// L2 logistic regression over the `C` grid (linfa's `alpha = 1 / C`, the same objective as
/// scikit-learn's `C`), keeping the best validation ROC AUC.
pub fn logistic(
    spec: &LogisticSpec,
    x_train: &Array2<f64>,
    y_train: &Array1<bool>,
    x_val: &Array2<f64>,
    y_val: &[bool],
) -> Result<Trained> {
    let dataset = Dataset::new(x_train.clone(), y_train.clone());
    let mut grid = Vec::new();
    let mut best: Option<(GridPoint, Linear)> = None;
    for &c in &spec.c_grid {
        let alpha = 1.0 / c;
        let fitted = LogisticRegression::default()
            .alpha(alpha)
            .max_iterations(spec.max_iterations)
            .gradient_tolerance(1e-6)
            .fit(&dataset)
            .map_err(|e| TrainError {
                family: "logistic_regression".into(),
                message: format!("C={c}: {e}"),
            })?;
        // linfa models the probability of `labels().pos`, which it picks by its own rule
        // (rust-ml/linfa#393): orient the model so it always gives P(adverse).
        let flip = !fitted.labels().pos.class;
        let sign = if flip { -1.0 } else { 1.0 };
        let linear = Linear {
            weights: fitted.params().iter().map(|w| sign * w).collect(),
            intercept: sign * fitted.intercept(),
        };
        let p_val = probabilities(&linear, x_val);
        let gradient_norm = gradient_norm(&linear, alpha, x_train, y_train.view());
        let point = GridPoint {
            params: BTreeMap::from([("c".to_owned(), serde_json::json!(c))]),
            validation_auc: roc_auc(y_val, &p_val),
            gradient_norm,
            converged: gradient_norm <= CONVERGED_GRADIENT,
        };
        if !point.converged {
            tracing::warn!(
                c,
                gradient_norm,
                "logistic regression stopped at its iteration limit"
            );
        }
        if best
            .as_ref()
            .is_none_or(|(b, _)| point.validation_auc > b.validation_auc + 1e-12)
        {
            best = Some((point.clone(), linear));
        }
        grid.push(point);
    }
    let (chosen, linear) = best.ok_or_else(|| TrainError {
        family: "logistic_regression".into(),
        message: "empty grid".into(),
    })?;
    Ok(Trained {
        model: Model::LogisticRegression(linear),
        chosen,
        grid,
    })
}

/// P(adverse) of each row, by the serving side's own model code.
pub fn probabilities(m: &Linear, x: &Array2<f64>) -> Vec<f64> {
    x.rows()
        .into_iter()
        .map(|r| sigmoid(m.intercept + r.dot(&ArrayView1::from(&m.weights[..]))))
        .collect()
}

/// |grad| / n of `sum(logloss) + alpha/2 |w|^2` (intercept not penalised).
fn gradient_norm(m: &Linear, alpha: f64, x: &Array2<f64>, y: ArrayView1<'_, bool>) -> f64 {
    let p = Array1::from(probabilities(m, x));
    let target = y.mapv(|b| f64::from(u8::from(b)));
    let residual = &p - &target;
    let w = ArrayView1::from(&m.weights[..]);
    let grad_w = x.t().dot(&residual) + &(&w * alpha);
    let grad_b = residual.sum();
    (grad_w.dot(&grad_w) + grad_b * grad_b).sqrt() / x.nrows().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::array;

    /// The converted model, saved and reloaded, gives linfa's own probabilities (oriented to
    /// the adverse class).
    #[test]
    fn converted_model_matches_linfa_after_reload() {
        let x = array![
            [0.0, 1.0],
            [1.0, 0.5],
            [2.0, -1.0],
            [3.0, 0.0],
            [0.5, 2.0],
            [2.5, 1.5]
        ];
        let y = array![false, false, true, true, false, true];
        let fitted = LogisticRegression::default()
            .alpha(0.1)
            .max_iterations(100)
            .gradient_tolerance(1e-6)
            .fit(&Dataset::new(x.clone(), y.clone()))
            .unwrap();
        let spec = LogisticSpec {
            c_grid: vec![10.0],
            max_iterations: 100,
        };
        let trained = logistic(&spec, &x, &y, &x, y.as_slice().unwrap()).unwrap();
        let json = serde_json::to_string(&trained.model).unwrap();
        let reloaded: Model = serde_json::from_str(&json).unwrap();
        let linfa_p = fitted.predict_probabilities(&x);
        for (i, row) in x.rows().into_iter().enumerate() {
            let ours = reloaded.probability(row.as_slice().unwrap());
            let p_pos = linfa_p[i];
            let p_adverse = if fitted.labels().pos.class {
                p_pos
            } else {
                1.0 - p_pos
            };
            assert_abs_diff_eq!(ours, p_adverse, epsilon = 1e-9);
        }
        // Adverse rows score higher on this separable-ish data.
        assert!(reloaded.probability(&[3.0, 0.0]) > reloaded.probability(&[0.0, 1.0]));
    }
}
