//! Support vector machines (linear and RBF kernels) over a `C` grid, with probabilities by
//! Platt scaling fitted on the validation split.
//!
//! linfa-svm builds a dense n x n kernel matrix, so training uses at most `max_rows` rows
//! (default 5,000: a 200 MB matrix); beyond that an evenly spaced subset of the training
//! split is used, with a warning and a note in the report.

use linfa::prelude::*;
use linfa_svm::Svm as LinfaSvm;
use ndarray::{Array1, Array2, Axis};
use riskfn_core::model::{Kernel, Model, Svm};

use crate::logistic::fit_one as logistic_fit;
use crate::{Family, Fitted, Params, Result, Rows, TrainError, params};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelKind {
    Linear,
    Rbf,
}

impl KernelKind {
    pub fn family(self) -> &'static str {
        match self {
            KernelKind::Linear => "linear_svm",
            KernelKind::Rbf => "rbf_svm",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SvmSpec {
    pub kind: KernelKind,
    pub c_grid: Vec<f64>,
    /// Most training rows the kernel matrix is built over.
    pub max_rows: usize,
}

impl SvmSpec {
    pub fn default_for(kind: KernelKind) -> Self {
        SvmSpec {
            kind,
            c_grid: match kind {
                // C = 10 and above make linfa's SMO solver crawl where the classes overlap
                // (68 of 79 s on credit_data), and scored no better than C <= 1 here.
                KernelKind::Linear => vec![0.001, 0.01, 0.1, 1.0],
                KernelKind::Rbf => vec![0.1, 1.0, 10.0],
            },
            max_rows: 5000,
        }
    }
}

/// linfa-svm keeps the separating hyperplane private; it is read back through its serde
/// form. The decision value is `weighted_sum(x) - rho`, positive for the `true` (adverse)
/// class; support vectors pair with the alphas linfa keeps (|alpha| > 100 eps).
fn convert(svm: &LinfaSvm<f64, bool>, family: &str) -> Result<(Kernel, f64)> {
    let bad = |m: &str| TrainError::new(family, format!("unexpected linfa-svm model layout: {m}"));
    let v = serde_json::to_value(svm).map_err(|e| bad(&e.to_string()))?;
    let rho = v
        .get("rho")
        .and_then(|r| r.as_f64())
        .ok_or_else(|| bad("rho"))?;
    let data = |a: &serde_json::Value| -> Result<Vec<f64>> {
        serde_json::from_value(a.get("data").cloned().ok_or_else(|| bad("data"))?)
            .map_err(|e| bad(&e.to_string()))
    };
    let plane = v
        .get("sep_hyperplane")
        .ok_or_else(|| bad("sep_hyperplane"))?;
    if let Some(w) = plane.get("Linear") {
        return Ok((Kernel::Linear { weights: data(w)? }, rho));
    }
    let sv = plane
        .get("WeightedCombination")
        .ok_or_else(|| bad("hyperplane kind"))?;
    let dim: Vec<usize> = serde_json::from_value(sv.get("dim").cloned().ok_or_else(|| bad("dim"))?)
        .map_err(|e| bad(&e.to_string()))?;
    let flat = data(sv)?;
    let (k, n) = match dim[..] {
        [k, n] => (k, n),
        _ => return Err(bad("support vector shape")),
    };
    let eps = v
        .get("kernel_method")
        .and_then(|m| m.get("Gaussian"))
        .and_then(|e| e.as_f64())
        .ok_or_else(|| bad("gaussian kernel"))?;
    let alpha: Vec<f64> =
        serde_json::from_value(v.get("alpha").cloned().ok_or_else(|| bad("alpha"))?)
            .map_err(|e| bad(&e.to_string()))?;
    let coef: Vec<f64> = alpha
        .into_iter()
        .filter(|a| a.abs() > 100.0 * f64::EPSILON)
        .collect();
    let support: Vec<Vec<f64>> = flat.chunks(n.max(1)).map(<[f64]>::to_vec).take(k).collect();
    if coef.len() < support.len() {
        return Err(bad("fewer weights than support vectors"));
    }
    let coef = coef[..support.len()].to_vec();
    Ok((Kernel::Rbf { eps, support, coef }, rho))
}

/// Evenly spaced rows, at most `max`.
fn subsample(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|i| i * n / max).collect()
}

impl Family for SvmSpec {
    fn name(&self) -> &'static str {
        self.kind.family()
    }

    fn grid(&self) -> Vec<Params> {
        self.c_grid
            .iter()
            .map(|&c| params(&[("c", c.into())]))
            .collect()
    }

    fn min_class_rows(&self) -> usize {
        5
    }

    /// Fit on at most `max_rows` rows of `fit`; Platt scaling on `holdout`.
    fn fit(&self, point: usize, fit: Rows<'_>, holdout: Rows<'_>, _: u64) -> Result<Fitted> {
        let (c, kind) = (self.c_grid[point], self.kind);
        let family = kind.family();
        let n = fit.len();
        let rows = subsample(n, self.max_rows.max(1));
        let mut warnings = Vec::new();
        if rows.len() < n {
            warnings.push(format!(
                "trained on {} of {n} rows: the kernel matrix is capped at max_rows = {}",
                rows.len(),
                self.max_rows
            ));
        }
        let x = fit.x.select(Axis(0), &rows);
        let y: Array1<bool> = rows.iter().map(|&i| fit.y[i]).collect();
        // scikit-learn's gamma = "scale": 1 / (n_inputs * variance of all inputs); eps = 1/gamma.
        let var = x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64
            - (x.sum() / x.len().max(1) as f64).powi(2);
        let eps = x.ncols() as f64 * if var > 0.0 { var } else { 1.0 };
        let dataset = Dataset::new(x, y);
        // libsvm's (and scikit-learn's) stopping tolerance; linfa's default (1e-7) made one
        // credit_data grid take a minute. (linfa's shrinking overflows an index: unused.)
        let p = LinfaSvm::<f64, bool>::params()
            .pos_neg_weights(c, c)
            .eps(1e-3);
        let p = match kind {
            KernelKind::Linear => p.linear_kernel(),
            KernelKind::Rbf => p.gaussian_kernel(eps),
        };
        let fitted = p
            .fit(&dataset)
            .map_err(|e| TrainError::new(family, format!("C={c}: {e}")))?;
        let (kernel, rho) = convert(&fitted, family)?;
        let n_support = fitted.nsupport();
        let mut svm = Svm {
            kernel,
            rho,
            platt_a: -1.0,
            platt_b: 0.0,
        };
        // Platt scaling on the held-out rows' decision values.
        let decisions: Vec<f64> = holdout
            .x
            .rows()
            .into_iter()
            .map(|r| svm.decision(&r.to_vec()))
            .collect();
        let f = Array2::from_shape_vec((decisions.len(), 1), decisions)
            .map_err(|e| TrainError::new(family, e.to_string()))?;
        let (platt, _) = logistic_fit(&f, holdout.y, 1e3, 100)?;
        svm.platt_a = -platt.weights[0];
        svm.platt_b = -platt.intercept;
        Ok(Fitted {
            model: Model::Svm(svm),
            notes: params(&[
                ("support_vectors", n_support.into()),
                ("rows", rows.len().into()),
            ]),
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::array;

    /// The converted decision function equals linfa's own `weighted_sum - rho`.
    #[test]
    fn converted_decisions_match_linfa() {
        let x = array![
            [0.0, 1.0],
            [1.0, 0.5],
            [2.0, -1.0],
            [3.0, 0.0],
            [0.5, 2.0],
            [2.5, 1.5],
            [1.5, 1.0],
            [0.2, 0.1]
        ];
        let y = array![false, false, true, true, false, true, true, false];
        let ds = Dataset::new(x.clone(), y);
        for (kind, params) in [
            (
                KernelKind::Linear,
                LinfaSvm::<f64, bool>::params()
                    .pos_neg_weights(1.0, 1.0)
                    .linear_kernel(),
            ),
            (
                KernelKind::Rbf,
                LinfaSvm::<f64, bool>::params()
                    .pos_neg_weights(1.0, 1.0)
                    .gaussian_kernel(2.0),
            ),
        ] {
            let fitted = params.fit(&ds).unwrap();
            let (kernel, rho) = convert(&fitted, kind.family()).unwrap();
            let svm = Svm {
                kernel,
                rho,
                platt_a: -1.0,
                platt_b: 0.0,
            };
            let reloaded: Svm =
                serde_json::from_str(&serde_json::to_string(&svm).unwrap()).unwrap();
            for row in x.rows() {
                let theirs = fitted.weighted_sum(&row) - fitted.rho;
                assert_abs_diff_eq!(
                    reloaded.decision(row.as_slice().unwrap()),
                    theirs,
                    epsilon = 1e-9
                );
            }
        }
    }
}
