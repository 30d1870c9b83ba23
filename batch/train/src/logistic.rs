//! L2 logistic regression over a `C` grid (linfa's `alpha = 1 / C` is scikit-learn's `C`).

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2, ArrayView1};
use riskfn_core::model::{Linear, Model};

use crate::{Family, Fitted, Params, Result, Rows, TrainError, params, probabilities};

pub const FAMILY: &str = "logistic_regression";

#[derive(Debug, Clone, PartialEq)]
pub struct LogisticSpec {
    pub c_grid: Vec<f64>,
    pub max_iterations: u64,
}

impl Default for LogisticSpec {
    fn default() -> Self {
        LogisticSpec {
            c_grid: vec![0.001, 0.01, 0.1, 1.0, 10.0, 100.0],
            max_iterations: 1000,
        }
    }
}

/// A per-row gradient norm above this means the solver stopped early.
const CONVERGED_GRADIENT: f64 = 1e-4;

/// Fit one logistic regression, oriented to give P(adverse).
pub fn fit_one(x: &Array2<f64>, y: &Array1<bool>, c: f64, max_iterations: u64) -> Result<Linear> {
    let fitted = LogisticRegression::default()
        .alpha(1.0 / c)
        .max_iterations(max_iterations)
        .gradient_tolerance(1e-6)
        .fit(&Dataset::new(x.clone(), y.clone()))
        .map_err(|e| TrainError::new(FAMILY, format!("C={c}: {e}")))?;
    // linfa models the probability of `labels().pos`, which it picks by its own rule
    // (rust-ml/linfa#393): orient the model so it always gives P(adverse).
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok(Linear {
        weights: fitted.params().iter().map(|w| sign * w).collect(),
        intercept: sign * fitted.intercept(),
    })
}

impl Family for LogisticSpec {
    fn name(&self) -> &'static str {
        FAMILY
    }

    fn grid(&self) -> Vec<Params> {
        self.c_grid
            .iter()
            .map(|&c| params(&[("c", c.into())]))
            .collect()
    }

    fn fit(&self, point: usize, fit: Rows<'_>, _: Rows<'_>, _: u64) -> Result<Fitted> {
        let c = self.c_grid[point];
        let y = Array1::from(fit.y.to_vec());
        let linear = fit_one(fit.x, &y, c, self.max_iterations)?;
        let gradient_norm = gradient_norm(&linear, 1.0 / c, fit.x, y.view());
        let converged = gradient_norm <= CONVERGED_GRADIENT;
        let mut fitted = Fitted::new(Model::LogisticRegression(linear)).with_notes(&[
            ("converged", converged.into()),
            ("gradient_norm", gradient_norm.into()),
        ]);
        if !converged {
            fitted.warnings.push(format!(
                "C={c}: stopped at the iteration limit (gradient norm {gradient_norm:.2e} per row)"
            ));
        }
        Ok(fitted)
    }
}

/// |grad| / n of `sum(logloss) + alpha/2 |w|^2` (intercept not penalised).
pub fn gradient_norm(m: &Linear, alpha: f64, x: &Array2<f64>, y: ArrayView1<'_, bool>) -> f64 {
    let model = Model::LogisticRegression(m.clone());
    let p = Array1::from(probabilities(&model, x));
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
        let ours = Model::LogisticRegression(fit_one(&x, &y, 10.0, 100).unwrap());
        let reloaded: Model = serde_json::from_str(&serde_json::to_string(&ours).unwrap()).unwrap();
        let linfa_p = fitted.predict_probabilities(&x);
        for (i, row) in x.rows().into_iter().enumerate() {
            let p_pos = linfa_p[i];
            let p_adverse = if fitted.labels().pos.class {
                p_pos
            } else {
                1.0 - p_pos
            };
            assert_abs_diff_eq!(
                reloaded.probability(row.as_slice().unwrap()),
                p_adverse,
                epsilon = 1e-9
            );
        }
        assert!(reloaded.probability(&[3.0, 0.0]) > reloaded.probability(&[0.0, 1.0]));
    }
}
