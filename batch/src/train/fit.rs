//! Fitting the preprocessing on the training split only, and building design matrices with
//! the same encoding code the serving side runs.

use std::borrow::Cow;
use std::collections::BTreeMap;

use ndarray::{Array2, ShapeBuilder};
use rayon::prelude::*;
use riskfn_core::features::preprocess::{Encoding, Feature, Reason};

use crate::error::{Error, Result};
use crate::prepare::{FeatureColumn, Prepared};

/// Fit each feature's encoding on `train` rows: median imputation and standardization
/// (population standard deviation) for numbers, sorted level lists (with their shares) for
/// categories. `reasons` names each feature for decisions (a default where it has none).
pub fn fit(
    columns: &[FeatureColumn],
    train: &[usize],
    reasons: &BTreeMap<String, Reason>,
) -> Result<Vec<Feature>> {
    // Features are fitted apart, on every core.
    columns
        .par_iter()
        .map(|c| {
            let encoding = if c.categorical {
                // Counted by borrowed key (no string copied a row), then levels sorted.
                let counts = c.values.count_keys(train.iter().copied());
                let mut counts: Vec<(Cow<'_, str>, usize)> = counts.into_iter().collect();
                counts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                let n = train.len().max(1) as f64;
                Encoding::OneHot {
                    frequencies: counts.iter().map(|&(_, k)| k as f64 / n).collect(),
                    levels: counts.into_iter().map(|(l, _)| l.into_owned()).collect(),
                }
            } else {
                let mut present: Vec<f64> =
                    train.iter().filter_map(|&r| c.values.number(r)).collect();
                if present.is_empty() {
                    return Err(Error::Data(format!(
                        "feature {} has no values in the training split",
                        c.name
                    )));
                }
                let impute = median(&mut present);
                let filled: Vec<f64> = train
                    .iter()
                    .map(|&r| c.values.number(r).unwrap_or(impute))
                    .collect();
                let n = filled.len() as f64;
                let mean = filled.iter().sum::<f64>() / n;
                let var = filled.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                let sd = var.sqrt();
                // A constant column is left unscaled (as scikit-learn's StandardScaler does).
                let scale = if sd.is_finite() && sd > f64::EPSILON * mean.abs().max(1.0) {
                    sd
                } else {
                    1.0
                };
                Encoding::Numeric {
                    impute,
                    mean,
                    scale,
                    native_missing: false,
                    zero_missing: false,
                }
            };
            Ok(Feature {
                name: c.name.clone(),
                expr: c.online.clone(),
                encoding,
                reason: reasons.get(&c.name).cloned().unwrap_or_else(|| Reason {
                    code: c.name.to_uppercase(),
                    text: c.name.replace('_', " "),
                }),
            })
        })
        .collect()
}

/// The median (mean of the two middle values for an even count), as numpy's. Selected,
/// not sorted: the values are put in order only about the middle.
fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    let (below, &mut middle, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    match n % 2 {
        1 => middle,
        // The other middle value is the largest of those below.
        _ => {
            (below
                .iter()
                .copied()
                .max_by(f64::total_cmp)
                .unwrap_or(middle)
                + middle)
                / 2.0
        }
    }
}

/// The encoded design matrix of `rows`.
pub fn design(features: &[Feature], prepared: &Prepared, rows: &[usize]) -> Array2<f64> {
    let width: usize = features.iter().map(|f| f.encoding.width()).sum();
    let mut data = vec![0.0; rows.len() * width];
    write_rows(&mut data, width, rows, |r, row| {
        for (f, c) in features.iter().zip(&prepared.features) {
            encode_into(f, c, r, row);
        }
    });
    Array2::from_shape_vec((rows.len(), width), data).expect("every row encodes to `width` values")
}

/// Rows a design task encodes.
const DESIGN_BLOCK_ROWS: usize = 4096;

/// Write `rows` into a row-major design of `width` values a row, in place, blocks of rows
/// on every core: `encode(r, values)` appends source row `r`'s `width` values.
fn write_rows(
    data: &mut [f64],
    width: usize,
    rows: &[usize],
    encode: impl Fn(usize, &mut Vec<f64>) + Sync,
) {
    if width == 0 {
        return;
    }
    data.par_chunks_mut(width * DESIGN_BLOCK_ROWS)
        .zip(rows.par_chunks(DESIGN_BLOCK_ROWS))
        .for_each(|(out, rows)| {
            let mut values = Vec::with_capacity(width);
            for (&r, out) in rows.iter().zip(out.chunks_mut(width)) {
                values.clear();
                encode(r, &mut values);
                out.copy_from_slice(&values);
            }
        });
}

/// One row's encoding of feature `f` from its column `c`, appended to `out`.
fn encode_into(f: &Feature, c: &FeatureColumn, r: usize, out: &mut Vec<f64>) {
    match f.encoding {
        Encoding::Numeric { .. } => f.encode_number_into(c.values.number(r), out),
        Encoding::OneHot { .. } | Encoding::Level { .. } => {
            f.encode_key_into(&c.values.key(r), out)
        }
    }
}

/// The designs of several sets of rows, built a feature at a time from `columns`, which
/// are consumed: each column is handed to `last_use` and dropped once encoded. The designs
/// are column-major, so a feature's writes touch only its own columns' pages and the
/// designs grow as the feature table shrinks: at 2M rows x 80 columns the two (about 1.6
/// and 1.7 GB) are never held whole at once, as a row-major design (whose first feature
/// touches every page) would have them. The booster codes them a column at a time.
pub fn designs_consuming<const N: usize>(
    features: &[Feature],
    columns: Vec<FeatureColumn>,
    sets: [&[usize]; N],
    mut last_use: impl FnMut(&FeatureColumn),
) -> [Array2<f64>; N] {
    let width: usize = features.iter().map(|f| f.encoding.width()).sum();
    let mut data: [Vec<f64>; N] = sets.map(|rows| vec![0.0; rows.len() * width]);
    let mut at = 0;
    for (f, c) in features.iter().zip(columns) {
        let k = f.encoding.width();
        for (data, rows) in data.iter_mut().zip(sets) {
            let n = rows.len();
            write_columns(&mut data[at * n..(at + k) * n], k, rows, |r, values| {
                encode_into(f, &c, r, values)
            });
        }
        last_use(&c);
        at += k;
    }
    let mut i = 0;
    data.map(|d| {
        let n = sets[i].len();
        i += 1;
        Array2::from_shape_vec((n, width).f(), d).expect("every row encodes to `width` values")
    })
}

/// Write one feature's `k` columns of `rows` (each `rows.len()` values, one after the
/// other in `columns`): blocks of rows on every core; `encode(r, values)` appends source
/// row `r`'s `k` values.
fn write_columns(
    columns: &mut [f64],
    k: usize,
    rows: &[usize],
    encode: impl Fn(usize, &mut Vec<f64>) + Sync,
) {
    if k == 0 || rows.is_empty() {
        return;
    }
    riskfn_train::table::column_blocks(columns, rows.len(), DESIGN_BLOCK_ROWS)
        .into_par_iter()
        .zip(rows.par_chunks(DESIGN_BLOCK_ROWS))
        .for_each(|(mut outs, rows)| {
            let mut values = Vec::with_capacity(k);
            for (i, &r) in rows.iter().enumerate() {
                values.clear();
                encode(r, &mut values);
                debug_assert_eq!(values.len(), k, "a feature encodes to its width");
                for (out, &v) in outs.iter_mut().zip(&values) {
                    out[i] = v;
                }
            }
        });
}

/// A category of at most this many levels stays one-hot for boosting (split one level
/// against the rest, as LightGBM does up to its `max_cat_to_onehot` of 4); one of more is
/// one input, its level's position, split on sets of levels.
pub const MAX_ONE_HOT_LEVELS: usize = 16;

/// The fitted features in the three encodings the families read (see `riskfn_train::Rows`).
#[derive(Debug, Clone)]
pub struct Encodings {
    /// Missing numbers imputed, categories one-hot.
    pub imputed: Vec<Feature>,
    /// Missing numbers left missing (NaN), categories one-hot.
    pub native: Vec<Feature>,
    /// Missing numbers left missing, a category of more than [`MAX_ONE_HOT_LEVELS`] levels
    /// its level's position, a smaller one one-hot.
    pub levels: Vec<Feature>,
}

impl Encodings {
    pub fn new(imputed: Vec<Feature>) -> Encodings {
        let native: Vec<Feature> = imputed
            .iter()
            .cloned()
            .map(|mut f| {
                if let Encoding::Numeric { native_missing, .. } = &mut f.encoding {
                    *native_missing = true;
                }
                f
            })
            .collect();
        let levels = native
            .iter()
            .cloned()
            .map(|mut f| {
                if let Encoding::OneHot {
                    levels,
                    frequencies,
                } = &f.encoding
                    && levels.len() > MAX_ONE_HOT_LEVELS
                {
                    f.encoding = Encoding::Level {
                        levels: levels.clone(),
                        frequencies: frequencies.clone(),
                    };
                }
                f
            })
            .collect();
        Encodings {
            imputed,
            native,
            levels,
        }
    }

    /// The encoding `model` reads (as `riskfn_train::Rows::x_for` picks its rows).
    pub fn for_model(&self, model: &riskfn_core::model::Model) -> &[Feature] {
        use riskfn_core::model::Inputs;
        match model.inputs() {
            Inputs::Levels => &self.levels,
            Inputs::Native => &self.native,
            Inputs::Imputed => &self.imputed,
        }
    }

    /// Per input of the level encoding, whether it holds level positions.
    pub fn categorical(&self) -> Vec<bool> {
        self.levels
            .iter()
            .flat_map(|f| {
                let level = matches!(f.encoding, Encoding::Level { .. });
                std::iter::repeat_n(level, f.encoding.width())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_like_numpy() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [5.0]), 5.0);
        assert_eq!(median(&mut [2.0, 1.0]), 1.5);
        // Ties about the middle, as numpy.median([1, 7, 7, 7, 3, 7]) gives.
        assert_eq!(median(&mut [1.0, 7.0, 7.0, 7.0, 3.0, 7.0]), 7.0);
    }

    /// Each set's design holds, row by row and in the sets' order, every feature's encoding
    /// of that row side by side: a number (missing kept), a one-hot and a level position;
    /// laid out a column after another.
    #[test]
    fn designs_built_a_feature_at_a_time_are_column_major() {
        use crate::values::column::Col;
        use arrow::array::{ArrayRef, Float64Array, StringArray};
        use riskfn_core::features::expr::Expr as Online;
        use std::sync::Arc;
        let n = 9_000; // more than two blocks of rows
        let numbers: ArrayRef = Arc::new(Float64Array::from(
            (0..n)
                .map(|i| (i % 7 != 0).then_some(i as f64 * 0.5))
                .collect::<Vec<_>>(),
        ));
        let words = |m: usize| -> ArrayRef {
            Arc::new(StringArray::from(
                (0..n).map(|i| format!("w{}", i % m)).collect::<Vec<_>>(),
            ))
        };
        let (small, large) = (words(3), words(40));
        let column = |name: &str, values: &ArrayRef, categorical| FeatureColumn {
            name: name.into(),
            online: Online::column(0),
            categorical,
            values: Col::new(name, values).unwrap(),
        };
        let columns = || {
            vec![
                column("x", &numbers, false),
                column("small", &small, true),
                column("large", &large, true),
            ]
        };
        let all: Vec<usize> = (0..n).collect();
        let features = Encodings::new(fit(&columns(), &all, &BTreeMap::new()).unwrap()).levels;
        let reference = columns();
        let expected = |r: usize| {
            let mut row = Vec::new();
            for (f, c) in features.iter().zip(&reference) {
                encode_into(f, c, r, &mut row);
            }
            row
        };
        let (a, b): (Vec<usize>, Vec<usize>) = (0..n).rev().partition(|r| r % 3 == 0);
        let mut seen = 0;
        let designs = designs_consuming(&features, columns(), [&a, &b, &[]], |_| seen += 1);
        assert_eq!(seen, 3);
        assert_eq!(designs[0].dim(), (a.len(), 1 + 3 + 1));
        assert_eq!(designs[2].nrows(), 0);
        assert!(designs[0].t().is_standard_layout());
        for (design, rows) in designs.iter().zip([&a, &b]) {
            for (i, &r) in rows.iter().enumerate() {
                let got: Vec<f64> = design.row(i).to_vec();
                // NaN compared by bits: a missing number stays missing.
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&expected(r)), "row {r}");
            }
        }
    }
}
