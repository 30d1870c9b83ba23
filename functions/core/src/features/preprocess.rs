//! Fitted preprocessing: from the values of a row's features to the model's input vector.
//!
//! Every statistic here was fitted on the training split by the batch job and travels in
//! the artifact: imputation values, standardization, category lists.

use serde::{Deserialize, Serialize};

use crate::features::expr::Expr;
use crate::features::value::Value;

/// How close to zero a number is missing under [`Encoding::Numeric`]'s `zero_missing`
/// (LightGBM's `kZeroThreshold`).
pub const ZERO_MISSING: f64 = 1e-35;

/// The level a missing categorical value takes (as the reference pipeline's imputer does).
pub const MISSING_LEVEL: &str = "missing";

/// One feature: how to compute it from the raw row, how to encode it, and how to name it
/// when it is a reason for a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    pub expr: Expr,
    pub encoding: Encoding,
    pub reason: Reason,
}

/// A stable reason code and a readable text, from the pipeline's reason table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encoding {
    /// Missing (NULL, NaN, +-inf) -> `impute` (the training median); then `(x - mean) / scale`
    /// (population standard deviation; 1 where it was 0). With `native_missing`, a missing
    /// value is not imputed but encoded as NaN, for a model that routes it itself (boosted
    /// trees). With `zero_missing`, a value within [`ZERO_MISSING`] of zero is missing too
    /// (LightGBM's missing type Zero: a model trained with `zero_as_missing`).
    Numeric {
        impute: f64,
        mean: f64,
        scale: f64,
        #[serde(default, skip_serializing_if = "is_false")]
        native_missing: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        zero_missing: bool,
    },
    /// One column per training level, sorted; NULL -> [`MISSING_LEVEL`]; a level unseen in
    /// training encodes as all zeros. `frequencies`: each level's share of the training
    /// rows (the average applicant, against whom reasons are measured).
    OneHot {
        levels: Vec<String>,
        frequencies: Vec<f64>,
    },
    /// One input: the level's position in `levels` (sorted, as for [`Encoding::OneHot`]);
    /// NULL -> [`MISSING_LEVEL`]; a level unseen in training encodes as NaN. Read by tree
    /// models that split on sets of levels (LightGBM's categorical splits) instead of on
    /// one-hot inputs.
    Level {
        levels: Vec<String>,
        frequencies: Vec<f64>,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Encoding {
    /// A number as it is, a missing one left missing (for a model that routes it).
    pub fn as_is() -> Encoding {
        Encoding::Numeric {
            impute: 0.0,
            mean: 0.0,
            scale: 1.0,
            native_missing: true,
            zero_missing: false,
        }
    }

    pub fn width(&self) -> usize {
        match self {
            Encoding::Numeric { .. } | Encoding::Level { .. } => 1,
            Encoding::OneHot { levels, .. } => levels.len(),
        }
    }

    /// A categorical encoding's levels and their training shares.
    pub fn levels(&self) -> Option<(&[String], &[f64])> {
        match self {
            Encoding::OneHot {
                levels,
                frequencies,
            }
            | Encoding::Level {
                levels,
                frequencies,
            } => Some((levels, frequencies)),
            Encoding::Numeric { .. } => None,
        }
    }

    /// The position of the most frequent training level (the first of equals).
    pub fn mode(&self) -> Option<usize> {
        let (_, frequencies) = self.levels()?;
        frequencies
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
    }
}

/// The key a categorical value is matched on: strings as they are, integers in decimal,
/// booleans as `true`/`false`.
pub fn category_key(v: &Value) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match v {
        Value::Null => Cow::Borrowed(MISSING_LEVEL),
        Value::Str(s) => Cow::Borrowed(s),
        Value::Bool(true) => Cow::Borrowed("true"),
        Value::Bool(false) => Cow::Borrowed("false"),
        Value::Int(i) => Cow::Owned(i.to_string()),
        Value::Float(x) => Cow::Owned(format!("{x:?}")),
    }
}

/// A numeric feature's value, or `None` when it is missing and must be imputed.
pub fn numeric_value(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

impl Feature {
    /// Append this feature's encoded columns for `value` to `out`.
    pub fn encode_into(&self, value: &Value, out: &mut Vec<f64>) {
        match &self.encoding {
            Encoding::Numeric { .. } => self.encode_number_into(numeric_value(value), out),
            Encoding::OneHot { .. } | Encoding::Level { .. } => {
                self.encode_key_into(&category_key(value), out)
            }
        }
    }

    /// [`Feature::encode_into`] for a numeric feature, from its number (`None`: missing).
    pub fn encode_number_into(&self, x: Option<f64>, out: &mut Vec<f64>) {
        if let Some(v) = self.encode_number(x) {
            out.push(v);
        }
    }

    /// A numeric feature's one encoded input for `x` (`None`: missing); `None` for a
    /// one-hot feature.
    pub fn encode_number(&self, x: Option<f64>) -> Option<f64> {
        match &self.encoding {
            Encoding::Numeric {
                impute,
                mean,
                scale,
                native_missing,
                zero_missing,
            } => {
                let fill = if *native_missing { f64::NAN } else { *impute };
                let x = x.filter(|v| !(*zero_missing && v.abs() <= ZERO_MISSING));
                Some((x.unwrap_or(fill) - mean) / scale)
            }
            Encoding::OneHot { .. } | Encoding::Level { .. } => None,
        }
    }

    /// [`Feature::encode_into`] for a categorical feature, from its category key.
    pub fn encode_key_into(&self, key: &str, out: &mut Vec<f64>) {
        match &self.encoding {
            Encoding::OneHot { levels, .. } => {
                out.extend(levels.iter().map(|l| f64::from(u8::from(l == key))))
            }
            Encoding::Level { .. } => {
                out.push(self.level_of(key).map_or(f64::NAN, |l| l as f64));
            }
            Encoding::Numeric { .. } => {}
        }
    }

    /// The position of a categorical feature's level `key` (a one-hot feature's input set
    /// to 1, a level feature's input), `None` for a level unseen in training or a numeric
    /// feature.
    pub fn level_of(&self, key: &str) -> Option<usize> {
        match &self.encoding {
            Encoding::OneHot { levels, .. } => levels.iter().position(|l| l == key),
            // Levels are sorted (checked when an artifact is loaded): thousands of them
            // (an employer, a postcode) are searched, not scanned.
            Encoding::Level { levels, .. } => levels.binary_search_by(|l| l.as_str().cmp(key)).ok(),
            Encoding::Numeric { .. } => None,
        }
    }

    /// The average training applicant's encoded columns: 0 for a standardized number (its
    /// mean), the level shares for a one-hot feature.
    pub fn baseline_into(&self, out: &mut Vec<f64>) {
        match &self.encoding {
            Encoding::Numeric { .. } => out.push(0.0),
            Encoding::OneHot { frequencies, .. } => out.extend_from_slice(frequencies),
            // No mean of positions means anything: the most frequent level stands in.
            Encoding::Level { .. } => out.push(self.encoding.mode().map_or(f64::NAN, |l| l as f64)),
        }
    }

    /// Names of this feature's encoded columns (`name` or `name=level`).
    pub fn encoded_names(&self) -> Vec<String> {
        match &self.encoding {
            Encoding::Numeric { .. } | Encoding::Level { .. } => vec![self.name.clone()],
            Encoding::OneHot { levels, .. } => levels
                .iter()
                .map(|l| format!("{}={l}", self.name))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_maps_unseen_to_zeros_and_null_to_missing() {
        let f = Feature {
            name: "home".into(),
            expr: Expr::column(0),
            encoding: Encoding::OneHot {
                levels: vec!["missing".into(), "own".into(), "rent".into()],
                frequencies: vec![0.1, 0.5, 0.4],
            },
            reason: Reason {
                code: "H".into(),
                text: "home".into(),
            },
        };
        let mut out = Vec::new();
        f.encode_into(&Value::str("rent"), &mut out);
        f.encode_into(&Value::str("castle"), &mut out);
        f.encode_into(&Value::Null, &mut out);
        assert_eq!(out, [0., 0., 1., 0., 0., 0., 1., 0., 0.]);
    }

    #[test]
    fn numeric_imputes_non_finite_then_scales() {
        let f = Feature {
            name: "x".into(),
            expr: Expr::column(0),
            encoding: Encoding::Numeric {
                impute: 4.0,
                mean: 2.0,
                scale: 2.0,
                native_missing: false,
                zero_missing: false,
            },
            reason: Reason {
                code: "X".into(),
                text: "x".into(),
            },
        };
        let mut out = Vec::new();
        f.encode_into(&Value::Null, &mut out);
        f.encode_into(&Value::Float(f64::INFINITY), &mut out);
        f.encode_into(&Value::Int(0), &mut out);
        assert_eq!(out, [1.0, 1.0, -1.0]);
        // Native missing: NaN passes through to the model; present values scale alike.
        let mut native = f.clone();
        if let Encoding::Numeric { native_missing, .. } = &mut native.encoding {
            *native_missing = true;
        }
        assert!(native.encode_number(None).unwrap().is_nan());
        assert_eq!(native.encode_number(Some(0.0)), Some(-1.0));
        // Zero as missing: within 1e-35 of zero, as NaN; anything further, as it is.
        if let Encoding::Numeric { zero_missing, .. } = &mut native.encoding {
            *zero_missing = true;
        }
        for zero in [0.0, -0.0, 1e-35, -1e-35] {
            assert!(native.encode_number(Some(zero)).unwrap().is_nan(), "{zero}");
        }
        assert_eq!(native.encode_number(Some(2e-35)), Some((2e-35 - 2.0) / 2.0));
    }

    #[test]
    fn a_level_feature_is_its_levels_position() {
        let f = Feature {
            name: "employer".into(),
            expr: Expr::column(0),
            encoding: Encoding::Level {
                levels: vec!["E1".into(), "E2".into(), "missing".into()],
                frequencies: vec![0.5, 0.2, 0.3],
            },
            reason: Reason {
                code: "E".into(),
                text: "employer".into(),
            },
        };
        let mut out = Vec::new();
        f.encode_into(&Value::str("E2"), &mut out);
        f.encode_into(&Value::Null, &mut out);
        f.encode_into(&Value::str("E9"), &mut out);
        assert_eq!(&out[..2], [1.0, 2.0]);
        assert!(out[2].is_nan());
        let mut base = Vec::new();
        f.baseline_into(&mut base);
        assert_eq!(base, [0.0]);
        assert_eq!(f.encoding.width(), 1);
    }
}
