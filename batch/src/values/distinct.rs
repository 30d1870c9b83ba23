//! A string column's rows keyed by the distinct strings of their batch: batch scoring (and
//! SQL with `riskfn_predict`) looks each distinct string up once per batch, not once per row.

use arrow::array::{Array, ArrayRef, AsArray, StringViewArray, UInt32Array};
use arrow::buffer::NullBuffer;
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Int32Type};
use arrow::error::ArrowError;
use rustc_hash::FxHashMap;

/// One batch's string column by its distinct values.
#[derive(Debug)]
pub struct Distinct {
    /// Each row's index into `values` (0 at a NULL row).
    pub keys: Vec<u32>,
    /// The distinct strings in order of first use. A string may appear twice (two views of
    /// equal strings stored apart): callers key by string, never by position alone.
    pub values: StringViewArray,
    pub nulls: Option<NullBuffer>,
}

/// Key `array`'s rows (any string type, or a dictionary of strings). A view array (what a
/// Parquet scan gives) is keyed by its 16-byte views: equal views hold equal strings
/// (inline, or the same bytes of the same buffer). A dictionary array (how the Parquet
/// reader hands over a column stored by dictionary) is keyed by its own keys.
pub fn distinct(array: &ArrayRef) -> Result<Distinct, ArrowError> {
    let nulls = array.logical_nulls();
    let valid = |r: usize| nulls.as_ref().is_none_or(|n| n.is_valid(r));
    // Rows whose values become `values`, in order.
    let mut firsts: Vec<u32> = Vec::new();
    let (keys, values): (Vec<u32>, ArrayRef) = match array.data_type() {
        DataType::Utf8View => {
            let mut seen: FxHashMap<u128, u32> = FxHashMap::default();
            let keys = array
                .as_string_view()
                .views()
                .iter()
                .enumerate()
                .map(|(r, view)| match valid(r) {
                    false => 0,
                    true => *seen.entry(*view).or_insert_with(|| {
                        firsts.push(r as u32);
                        (firsts.len() - 1) as u32
                    }),
                })
                .collect();
            (keys, array.clone())
        }
        DataType::Dictionary(k, _) if **k == DataType::Int32 => {
            let d = array.as_dictionary::<Int32Type>();
            // Here `firsts` holds dictionary keys: the values the batch uses.
            let mut slot = vec![u32::MAX; d.values().len()];
            let keys = d
                .keys()
                .values()
                .iter()
                .enumerate()
                .map(|(r, &k)| {
                    if !valid(r) {
                        return 0;
                    }
                    let s = &mut slot[k as usize];
                    if *s == u32::MAX {
                        firsts.push(k as u32);
                        *s = (firsts.len() - 1) as u32;
                    }
                    *s
                })
                .collect();
            (keys, d.values().clone())
        }
        _ => {
            let utf8 = cast(array, &DataType::Utf8)?;
            let a = utf8.as_string::<i32>();
            let mut seen: FxHashMap<&str, u32> = FxHashMap::default();
            let keys = (0..a.len())
                .map(|r| match valid(r) {
                    false => 0,
                    true => *seen.entry(a.value(r)).or_insert_with(|| {
                        firsts.push(r as u32);
                        (firsts.len() - 1) as u32
                    }),
                })
                .collect();
            (keys, utf8.clone())
        }
    };
    let picked = take(&values, &UInt32Array::from(firsts), None)?;
    let values = match picked.data_type() {
        DataType::Utf8View => picked,
        _ => cast(&picked, &DataType::Utf8View)?,
    };
    Ok(Distinct {
        keys,
        values: values.as_string_view().clone(),
        nulls,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{DictionaryArray, Int32Array, StringArray};

    use super::*;

    /// Each non-NULL row's string through its key, whatever the array's type.
    fn strings(d: &Distinct) -> Vec<Option<String>> {
        (0..d.keys.len())
            .map(|r| match d.nulls.as_ref().is_none_or(|n| n.is_valid(r)) {
                true => Some(d.values.value(d.keys[r] as usize).to_owned()),
                false => None,
            })
            .collect()
    }

    #[test]
    fn every_string_type_keys_rows_to_their_values() {
        let long = "a category text longer than twelve bytes";
        let rows = vec![Some(long), Some("x"), None, Some(long), Some("x")];
        let want: Vec<Option<String>> = rows.iter().map(|s| s.map(String::from)).collect();
        let view: ArrayRef = Arc::new(StringViewArray::from(rows.clone()));
        let utf8: ArrayRef = Arc::new(StringArray::from(rows.clone()));
        // Keys 0..3 over values with an unused entry and a NULL value (row 2).
        let dict: ArrayRef = Arc::new(
            DictionaryArray::try_new(
                Int32Array::from(vec![1, 3, 2, 1, 3]),
                Arc::new(StringArray::from(vec![
                    Some("unused"),
                    Some(long),
                    None,
                    Some("x"),
                ])),
            )
            .unwrap(),
        );
        for a in [view, utf8, dict] {
            let d = distinct(&a).unwrap();
            assert_eq!(strings(&d), want, "{}", a.data_type());
            // The builder stored the long string twice: its two views differ.
            let stored_apart = a.data_type() == &DataType::Utf8View;
            assert_eq!(
                d.values.len(),
                2 + usize::from(stored_apart),
                "{}",
                a.data_type()
            );
            assert_eq!(d.keys[1], d.keys[4]);
        }
    }

    #[test]
    fn an_all_null_column_has_no_values() {
        let a: ArrayRef = Arc::new(StringViewArray::from(vec![None::<&str>, None]));
        let d = distinct(&a).unwrap();
        assert_eq!((d.keys, d.values.len()), (vec![0, 0], 0));
    }
}
