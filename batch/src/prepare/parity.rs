//! The online/offline parity check made at training: the online evaluator must give, from
//! each row's raw values, the feature values DataFusion computed from the SQL.

use std::collections::BTreeSet;

use arrow::array::Array;
use rayon::prelude::*;
use riskfn_core::features::expr::Expr as Online;
use riskfn_core::features::population::Rule;
use riskfn_core::features::preprocess::category_key;
use riskfn_core::features::value::Value;
use rustc_hash::FxHashMap;

use super::FeatureColumn;
use crate::error::{Error, Result};
use crate::values::column::Col;

/// Rows checked for online/offline parity: every row up to this many, then an evenly
/// spaced sample of this size (the end-to-end tests check every row of every bundled
/// pipeline).
pub const PARITY_ROWS: usize = 200_000;

/// The online evaluator must reproduce DataFusion's value of every feature, as the model
/// sees it: the same category for one-hot features, the same number (or both missing) for
/// numeric ones.
///
/// A feature that is a raw field as it is, and whose values are that field's own column
/// (the same Arrow buffers), would be compared with itself: it is left out. Only the raw
/// fields the other features read are made values.
///
/// Every row the SQL's filters kept must meet the population rules compiled from them.
pub fn verify(
    features: &[FeatureColumn],
    population: &[Rule],
    raw_cols: &[Col],
    row_ids: &[u64],
) -> Result<()> {
    let itself = |f: &FeatureColumn| match f.online {
        Online::Column(i) => raw_cols.get(i).is_some_and(|c| c.same_column(&f.values)),
        _ => false,
    };
    let features: Vec<&FeatureColumn> = features.iter().filter(|f| !itself(f)).collect();
    let mut read = Vec::new();
    features
        .iter()
        .for_each(|f| f.online.collect_columns(&mut read));
    population
        .iter()
        .for_each(|r| r.expr.collect_columns(&mut read));
    let read: BTreeSet<usize> = read.into_iter().collect();
    let n = row_ids.len();
    let step = n.div_ceil(PARITY_ROWS).max(1);
    let rows: Vec<usize> = match features.is_empty() && population.is_empty() {
        true => Vec::new(),
        false => (0..n).step_by(step).collect(),
    };
    // On every core, in chunks; the first mismatch in row order is reported.
    let mismatch = rows.par_chunks(4096).find_map_first(|chunk| {
        let mut row = vec![Value::Null; raw_cols.len()];
        // A chunk's strings made values once each (category columns repeat a few), by
        // string or by dictionary key.
        let mut strings: Vec<FxHashMap<&str, Value>> = vec![FxHashMap::default(); raw_cols.len()];
        let mut keyed: Vec<FxHashMap<i32, Value>> = vec![FxHashMap::default(); raw_cols.len()];
        chunk.iter().find_map(|&r| {
            for &c in &read {
                let (slot, col) = (&mut row[c], &raw_cols[c]);
                let (seen, keyed) = (&mut strings[c], &mut keyed[c]);
                *slot = match col {
                    Col::Str(a) if a.is_valid(r) => {
                        let s = a.value(r);
                        seen.entry(s).or_insert_with(|| Value::str(s)).clone()
                    }
                    Col::Dict { keys, values } if keys.is_valid(r) => {
                        let k = keys.value(r);
                        let value = || Value::str(values.value(k as usize));
                        keyed.entry(k).or_insert_with(value).clone()
                    }
                    _ => col.value(r),
                };
            }
            let outside = population.iter().find(|rule| !rule.holds(&row));
            if let Some(rule) = outside {
                return Some(Error::Parity {
                    what: format!("population filter {}", rule.rule),
                    row_id: row_ids[r],
                    online: shown(rule.expr.eval(&row)),
                    engine: "true (the SQL kept the row)".into(),
                });
            }
            features.iter().find_map(|f| {
                let online = f.online.eval(&row);
                let same = match &online {
                    Ok(v) if f.categorical => category_key(v) == f.values.key(r),
                    Ok(v) => same_number(v, &f.values.value(r)),
                    Err(_) => false,
                };
                (!same).then(|| Error::Parity {
                    what: format!("feature {}", f.name),
                    row_id: row_ids[r],
                    online: shown(online),
                    engine: f.values.value(r).to_string(),
                })
            })
        })
    });
    mismatch.map_or(Ok(()), Err)
}

/// An online value as a parity error shows it.
fn shown<E: std::fmt::Display>(online: std::result::Result<Value, E>) -> String {
    match online {
        Ok(v) => v.to_string(),
        Err(e) => format!("error ({e})"),
    }
}

/// Equal as numbers (DataFusion may hand back Int32 where the evaluator keeps i64), NaN
/// equal to NaN, NULL equal to NULL.
fn same_number(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
        (None, None) => a.is_null() && b.is_null(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::DataType as ArrowType;
    use std::sync::Arc;

    /// The training-time check compares what the online evaluator computes with the
    /// engine's values: a derived feature and a raw field's own column pass, a feature
    /// whose values differ from what its expression gives (here one row of a copy, one
    /// string of a dictionary) fails at its first such row, naming it.
    #[test]
    fn parity_fails_on_the_first_row_the_online_value_differs() {
        use arrow::array::{DictionaryArray, Int32Array};
        use arrow::datatypes::Int32Type;
        use riskfn_core::features::expr::BinaryOp;
        let array = |a: ArrayRef| a;
        let ints = array(Arc::new(Int64Array::from(vec![1, 2, 3, 4])));
        let strings = |values: Vec<&str>| {
            let keys = Int32Array::from(vec![0, 1, 0, 1]);
            let values = Arc::new(StringArray::from(values));
            array(Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys, values).unwrap(),
            ))
        };
        let dict = strings(vec!["x", "y"]);
        let raw = [Col::new("a", &ints).unwrap(), Col::new("s", &dict).unwrap()];
        let feature = |name: &str, online: Online, values: &ArrayRef| FeatureColumn {
            name: name.into(),
            categorical: values.data_type() != &ArrowType::Int64,
            online,
            values: Col::new(name, values).unwrap(),
        };
        let doubled = Online::binary(BinaryOp::Mul, Online::column(0), Online::lit(2i64));
        let passing = [
            feature("a", Online::column(0), &ints),
            feature("s", Online::column(1), &dict),
            feature(
                "doubled",
                doubled.clone(),
                &array(Arc::new(Int64Array::from(vec![2, 4, 6, 8]))),
            ),
        ];
        let ids = [11, 12, 13, 14];
        verify(&passing, &[], &raw, &ids).unwrap();
        let failing = [
            (feature("doubled", doubled, &ints), "doubled", 11),
            (
                feature(
                    "a_copy",
                    Online::column(0),
                    &array(Arc::new(Int64Array::from(vec![1, 2, 0, 4]))),
                ),
                "a_copy",
                13,
            ),
            (
                feature("s_copy", Online::column(1), &strings(vec!["x", "z"])),
                "s_copy",
                12,
            ),
        ];
        for (f, name, row) in failing {
            let features = [feature("a", Online::column(0), &ints), f];
            match verify(&features, &[], &raw, &ids) {
                Err(Error::Parity { what, row_id, .. }) => {
                    assert_eq!((what, row_id), (format!("feature {name}"), row))
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        // A population rule every kept row meets passes; one the third row breaks fails
        // there, naming it.
        let rule = |text: &str, below: i64| Rule {
            rule: text.into(),
            expr: Online::binary(BinaryOp::Lt, Online::column(0), Online::lit(below)),
        };
        verify(&passing, &[rule("a < 5", 5)], &raw, &ids).unwrap();
        match verify(&passing, &[rule("a < 5", 5), rule("a < 3", 3)], &raw, &ids) {
            Err(Error::Parity { what, row_id, .. }) => {
                assert_eq!((what.as_str(), row_id), ("population filter a < 3", 13))
            }
            other => panic!("{other:?}"),
        }
    }
}
