//! Gaussian naive Bayes over a variance-smoothing grid.

use linfa::prelude::*;
use linfa_bayes::GaussianNb as LinfaNb;
use ndarray::Array1;
use riskfn_core::model::{ClassGaussian, GaussianNb, Model};

use crate::{Family, Fitted, Params, Result, Rows, TrainError, params};

pub const FAMILY: &str = "gaussian_nb";

#[derive(Debug, Clone, PartialEq)]
pub struct NaiveBayesSpec {
    pub var_smoothing: Vec<f64>,
}

impl Default for NaiveBayesSpec {
    fn default() -> Self {
        NaiveBayesSpec {
            var_smoothing: vec![1e-9, 1e-6, 1e-3, 1e-1],
        }
    }
}

/// linfa-bayes keeps its fitted statistics private; they are read back through its serde
/// form (`class_info: {label: {prior, theta (means), sigma (variances)}}`).
fn convert(nb: &LinfaNb<f64, bool>) -> Result<GaussianNb> {
    let bad =
        |m: &str| TrainError::new(FAMILY, format!("unexpected linfa-bayes model layout: {m}"));
    let v = serde_json::to_value(nb).map_err(|e| bad(&e.to_string()))?;
    let class = |key: &str| -> Result<ClassGaussian> {
        let c = v
            .get("class_info")
            .and_then(|m| m.get(key))
            .ok_or_else(|| bad(key))?;
        let arr = |name: &str| -> Result<Vec<f64>> {
            serde_json::from_value(
                c.get(name)
                    .and_then(|a| a.get("data"))
                    .cloned()
                    .ok_or_else(|| bad(name))?,
            )
            .map_err(|e| bad(&e.to_string()))
        };
        Ok(ClassGaussian {
            prior: c
                .get("prior")
                .and_then(|p| p.as_f64())
                .ok_or_else(|| bad("prior"))?,
            mean: arr("theta")?,
            var: arr("sigma")?,
        })
    };
    Ok(GaussianNb {
        adverse: class("true")?,
        favourable: class("false")?,
    })
}

impl Family for NaiveBayesSpec {
    fn name(&self) -> &'static str {
        FAMILY
    }

    fn grid(&self) -> Vec<Params> {
        self.var_smoothing
            .iter()
            .map(|&s| params(&[("var_smoothing", s.into())]))
            .collect()
    }

    fn fit(&self, point: usize, fit: Rows<'_>, _: Rows<'_>, _: u64) -> Result<Fitted> {
        let s = self.var_smoothing[point];
        let dataset = Dataset::new(fit.x.clone(), Array1::from(fit.y.to_vec()));
        let fitted = LinfaNb::params()
            .var_smoothing(s)
            .fit(&dataset)
            .map_err(|e| TrainError::new(FAMILY, format!("var_smoothing={s}: {e}")))?;
        Ok(Fitted::new(Model::GaussianNb(convert(&fitted)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use linfa_bayes::NaiveBayes;
    use ndarray::array;

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
        let fitted = LinfaNb::params().fit(&Dataset::new(x.clone(), y)).unwrap();
        let ours = Model::GaussianNb(convert(&fitted).unwrap());
        let reloaded: Model = serde_json::from_str(&serde_json::to_string(&ours).unwrap()).unwrap();
        let (proba, classes) = fitted.predict_proba(x.view());
        let col = classes.iter().position(|c| **c).unwrap();
        for (i, row) in x.rows().into_iter().enumerate() {
            assert_abs_diff_eq!(
                reloaded.probability(row.as_slice().unwrap()),
                proba[[i, col]],
                epsilon = 1e-9
            );
        }
    }
}
