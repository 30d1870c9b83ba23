//! An Arrow column read as riskfn's values, with the serving side's semantics: the one
//! conversion from Arrow to [`Value`]. A column of the feature table stays in Arrow form (a
//! training set of millions of rows is never turned into per-cell values); other steps
//! (drift, shadow comparison, row-wise scoring) take its values.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, StringViewArray,
};
use arrow::compute::{cast, filter};
use arrow::datatypes::{DataType as ArrowType, Float64Type, Int32Type, Int64Type};
use riskfn_core::features::preprocess::{MISSING_LEVEL, category_key, numeric_value};
use riskfn_core::features::value::{DataType, Value};
use rustc_hash::FxHashMap;

use riskfn_core::features::schema::RawField;

use crate::compile::online_type;
use crate::error::{Error, Result};

/// The online type of column `name`, or an error naming it when its Arrow type has none.
pub fn kind_of(name: &str, array: &ArrayRef) -> Result<DataType> {
    online_type(array.data_type()).ok_or_else(|| Error::ColumnType {
        column: name.to_owned(),
        message: format!(
            "type {} is not supported (use integers, floats, strings or booleans)",
            array.data_type()
        ),
    })
}

/// That `array` can feed raw field `f`: the field's type, or integers for a float field.
pub fn check_field_type(f: &RawField, array: &ArrayRef) -> Result<()> {
    let got = online_type(array.data_type());
    let ok =
        got == Some(f.data_type) || (got == Some(DataType::Int) && f.data_type == DataType::Float);
    if ok {
        Ok(())
    } else {
        Err(Error::ColumnType {
            column: f.name.clone(),
            message: format!(
                "the model reads a {}, the data holds {}",
                f.data_type,
                array.data_type()
            ),
        })
    }
}

/// Distinct values [`Col::map_values`] remembers, a column.
const DISTINCT_CACHED: usize = 4096;

/// Whether a string view holds its string whole: 12 bytes or fewer (Arrow's views give
/// the length, then the bytes or, for longer strings, where they are stored), so that equal
/// views are equal strings.
fn whole_in_view(view: u128) -> bool {
    view as u32 <= 12
}

/// A row's value as [`Col::map_values`] recognises it again (one column has one type).
#[derive(PartialEq, Eq, Hash)]
enum Seen<'a> {
    Null,
    /// A short string, by its view (which holds it whole).
    View(u128),
    Str(&'a str),
    Bits(u64),
}

/// One column, typed as the online evaluator types values.
#[derive(Debug, Clone)]
pub enum Col {
    Bool(BooleanArray),
    Int(Int64Array),
    Float(Float64Array),
    /// Views, as DataFusion's Parquet scan gives strings (no copy of their bytes).
    Str(StringViewArray),
    /// Strings by dictionary (a file's dictionary-typed column, or categories read as the
    /// file's dictionaries for scoring): each row's key (NULL at a
    /// NULL row) into a few distinct `values`; no valid key points at a NULL value.
    Dict {
        keys: Int32Array,
        values: StringViewArray,
    },
}

impl Col {
    /// `array` normalised to Int64 / Float64 / Utf8View / Boolean.
    pub fn new(name: &str, array: &ArrayRef) -> Result<Col> {
        Ok(match kind_of(name, array)? {
            DataType::Bool => Col::Bool(cast(array, &ArrowType::Boolean)?.as_boolean().clone()),
            DataType::Int => Col::Int(
                cast(array, &ArrowType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone(),
            ),
            DataType::Float => Col::Float(
                cast(array, &ArrowType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone(),
            ),
            DataType::Str => match array.data_type() {
                ArrowType::Dictionary(..) => {
                    let strings = ArrowType::Dictionary(
                        Box::new(ArrowType::Int32),
                        Box::new(ArrowType::Utf8View),
                    );
                    let d = cast(array, &strings)?;
                    let d = d.as_dictionary::<Int32Type>();
                    // A row whose key points at a NULL value is NULL (Arrow's cast from a
                    // dictionary to views would read it as "").
                    let keys = match d.values().null_count() {
                        0 => d.keys().clone(),
                        _ => Int32Array::new(d.keys().values().clone(), d.logical_nulls()),
                    };
                    let values = d.values().as_string_view().clone();
                    Col::Dict { keys, values }
                }
                _ => Col::Str(cast(array, &ArrowType::Utf8View)?.as_string_view().clone()),
            },
        })
    }

    /// `array` as the values of raw field `f`: its type must be the field's (an integer
    /// column may feed a float field, and is read as floats).
    pub fn of_field(f: &RawField, array: &ArrayRef) -> Result<Col> {
        check_field_type(f, array)?;
        match f.data_type {
            DataType::Float => Ok(Col::Float(
                cast(array, &ArrowType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone(),
            )),
            _ => Col::new(&f.name, array),
        }
    }

    /// Every value, as [`Col::value`] gives it; each distinct string made a value once
    /// (categories repeat).
    pub fn values(&self) -> Vec<Value> {
        match self {
            Col::Str(_) | Col::Dict { .. } => self.map_values(Value::clone),
            _ => (0..self.len()).map(|i| self.value(i)).collect(),
        }
    }

    /// `f` of every row's value (as [`Col::value`] gives it), called once for each distinct
    /// value: categories and numbers in bands repeat, and a row's string is not copied when
    /// its value was seen before. Past [`DISTINCT_CACHED`] distinct values (free text, a
    /// continuous number) the others are computed row by row.
    pub fn map_values<T: Clone>(&self, f: impl Fn(&Value) -> T) -> Vec<T> {
        match self {
            // By key: no string hashed a row.
            Col::Dict { keys, values } => {
                let mut made: Vec<Option<T>> = vec![None; values.len()];
                let mut null: Option<T> = None;
                (0..self.len())
                    .map(|i| match keys.is_valid(i) {
                        false => null.get_or_insert_with(|| f(&Value::Null)).clone(),
                        true => {
                            let k = keys.value(i) as usize;
                            let value = || f(&Value::str(values.value(k)));
                            made[k].get_or_insert_with(value).clone()
                        }
                    })
                    .collect()
            }
            Col::Str(a) => self.map_seen(f, |i| match a.views()[i] {
                view if whole_in_view(view) => Seen::View(view),
                _ => Seen::Str(a.value(i)),
            }),
            Col::Int(a) => self.map_seen(f, |i| Seen::Bits(a.value(i) as u64)),
            Col::Float(a) => self.map_seen(f, |i| Seen::Bits(a.value(i).to_bits())),
            Col::Bool(a) => self.map_seen(f, |i| Seen::Bits(u64::from(a.value(i)))),
        }
    }

    /// [`Col::map_values`] for a column whose non-NULL row `i` is recognised by `seen(i)`.
    fn map_seen<'a, T: Clone>(
        &self,
        f: impl Fn(&Value) -> T,
        seen: impl Fn(usize) -> Seen<'a>,
    ) -> Vec<T> {
        let mut known: FxHashMap<Seen<'a>, T> = FxHashMap::default();
        (0..self.len())
            .map(|i| {
                let key = match self.is_null(i) {
                    true => Seen::Null,
                    false => seen(i),
                };
                if let Some(v) = known.get(&key) {
                    return v.clone();
                }
                let v = f(&self.value(i));
                if known.len() < DISTINCT_CACHED {
                    known.insert(key, v.clone());
                }
                v
            })
            .collect()
    }

    fn array(&self) -> &dyn Array {
        match self {
            Col::Bool(a) => a,
            Col::Int(a) => a,
            Col::Float(a) => a,
            Col::Str(a) => a,
            Col::Dict { keys, .. } => keys,
        }
    }

    pub fn len(&self) -> usize {
        self.array().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn has_nulls(&self) -> bool {
        self.array().null_count() > 0
    }

    pub fn is_null(&self, i: usize) -> bool {
        self.array().is_null(i)
    }

    /// The value at `i` (strings are copied).
    pub fn value(&self, i: usize) -> Value {
        if self.is_null(i) {
            return Value::Null;
        }
        match self {
            Col::Bool(a) => Value::Bool(a.value(i)),
            Col::Int(a) => Value::Int(a.value(i)),
            Col::Float(a) => Value::Float(a.value(i)),
            Col::Str(a) => Value::str(a.value(i)),
            Col::Dict { keys, values } => Value::str(values.value(keys.value(i) as usize)),
        }
    }

    /// As a numeric feature reads it (`None`: missing, to be imputed): what
    /// `numeric_value` gives for [`Col::value`], read without making a value.
    pub fn number(&self, i: usize) -> Option<f64> {
        match self {
            Col::Str(_) | Col::Dict { .. } => None,
            _ if self.is_null(i) => None,
            Col::Int(a) => Some(a.value(i) as f64),
            Col::Float(a) => Some(a.value(i)).filter(|x| x.is_finite()),
            Col::Bool(_) => numeric_value(&self.value(i)),
        }
    }

    /// As a categorical feature reads it (without copying strings).
    pub fn key(&self, i: usize) -> Cow<'_, str> {
        match self {
            _ if self.is_null(i) => Cow::Borrowed(MISSING_LEVEL),
            Col::Str(a) => Cow::Borrowed(a.value(i)),
            Col::Dict { keys, values } => Cow::Borrowed(values.value(keys.value(i) as usize)),
            _ => Cow::Owned(category_key(&self.value(i)).into_owned()),
        }
    }

    /// How many of `rows` hold each key (as [`Col::key`] reads them). A short string (12
    /// bytes or fewer) is whole in its 16-byte view and counted by it, a number a row; a
    /// longer one by its bytes (each stored copy has a view of its own); a dictionary's
    /// rows by their key.
    pub fn count_keys(
        &self,
        rows: impl IntoIterator<Item = usize>,
    ) -> FxHashMap<Cow<'_, str>, usize> {
        let mut counts: FxHashMap<Cow<'_, str>, usize> = FxHashMap::default();
        let mut nulls = 0;
        match self {
            Col::Str(a) => {
                let views = a.views();
                // Each short string's count and a row that holds it.
                let mut short: FxHashMap<u128, (usize, usize)> = FxHashMap::default();
                for r in rows {
                    match a.is_null(r) {
                        true => nulls += 1,
                        false if whole_in_view(views[r]) => {
                            short.entry(views[r]).or_insert((r, 0)).1 += 1
                        }
                        false => *counts.entry(Cow::Borrowed(a.value(r))).or_default() += 1,
                    }
                }
                for (r, n) in short.into_values() {
                    *counts.entry(self.key(r)).or_default() += n;
                }
            }
            Col::Dict { keys, values } => {
                let mut by_key = vec![0usize; values.len()];
                for r in rows {
                    match keys.is_null(r) {
                        true => nulls += 1,
                        false => by_key[keys.value(r) as usize] += 1,
                    }
                }
                for (k, n) in by_key.into_iter().enumerate().filter(|(_, n)| *n > 0) {
                    *counts.entry(Cow::Borrowed(values.value(k))).or_default() += n;
                }
            }
            _ => {
                for r in rows {
                    *counts.entry(self.key(r)).or_default() += 1;
                }
            }
        }
        if nulls > 0 {
            *counts.entry(Cow::Borrowed(MISSING_LEVEL)).or_default() += nulls;
        }
        counts
    }

    /// Whether both read the same Arrow buffers (one column handed out twice), so that
    /// every row holds the same value in both.
    pub fn same_column(&self, other: &Col) -> bool {
        match (self, other) {
            (Col::Dict { keys, values }, Col::Dict { keys: k, values: v }) => {
                keys.to_data().ptr_eq(&k.to_data()) && values.to_data().ptr_eq(&v.to_data())
            }
            _ => {
                std::mem::discriminant(self) == std::mem::discriminant(other)
                    && self.array().to_data().ptr_eq(&other.array().to_data())
            }
        }
    }

    /// The rows where `keep` is true.
    pub fn filter(&self, keep: &BooleanArray) -> Result<Col> {
        let kept: ArrayRef = match self {
            Col::Bool(a) => filter(a, keep)?,
            Col::Int(a) => filter(a, keep)?,
            Col::Float(a) => filter(a, keep)?,
            Col::Str(a) => filter(a, keep)?,
            Col::Dict { keys, values } => {
                return Ok(Col::Dict {
                    keys: filter(keys, keep)?.as_primitive::<Int32Type>().clone(),
                    values: values.clone(),
                });
            }
        };
        Col::new("", &Arc::clone(&kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray};

    /// Counting by views gives what counting each row's key gives: long strings equal but
    /// stored apart (views that differ), short ones (inline), NULL and the literal
    /// "missing" (one level, as `key` reads both), and rows left out or counted twice.
    /// The bulk read gives what the read of one row gives, NULLs included, for plain
    /// strings, a dictionary (one key pointing at a value used twice) and numbers.
    #[test]
    fn values_are_each_rows_value() {
        use arrow::array::{DictionaryArray, Int32Array, Int64Array};
        let plain: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            None,
            Some("a"),
            Some("b"),
        ]));
        let keys = Int32Array::from(vec![Some(1), None, Some(0), Some(1)]);
        let dict: ArrayRef = Arc::new(
            DictionaryArray::<Int32Type>::try_new(
                keys,
                Arc::new(StringArray::from(vec!["x", "y"])),
            )
            .unwrap(),
        );
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None, Some(-1), Some(0)]));
        for array in [plain, dict, ints] {
            let col = Col::new("c", &array).unwrap();
            let values = col.values();
            assert_eq!(values.len(), 4);
            for (r, v) in values.iter().enumerate() {
                assert!(v.same_as(&col.value(r)), "{:?} row {r}", array.data_type());
            }
        }
    }

    /// `map_values` gives `f` of each row's value, calling `f` once a distinct value (NULL
    /// included; 0.0 and -0.0 apart, as their bits differ), for numbers and strings short
    /// and long (two copies of one long string stored apart are one value).
    #[test]
    fn map_values_is_f_of_each_value_once_a_value() {
        use arrow::array::Float64Array;
        use std::cell::Cell;
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.5),
            None,
            Some(1.5),
            Some(-0.0),
            Some(0.0),
            None,
        ]));
        let long = "a string longer than twelve bytes";
        let strings: ArrayRef = Arc::new(StringArray::from(vec![
            Some("b"),
            Some(long),
            Some("a"),
            None,
            Some("b"),
            Some(long),
        ]));
        let dictionary: ArrayRef = Arc::new(
            arrow::array::DictionaryArray::<Int32Type>::try_new(
                Int32Array::from(vec![Some(1), None, Some(0), Some(1), None]),
                Arc::new(StringArray::from(vec!["x", long])),
            )
            .unwrap(),
        );
        for (array, distinct) in [(floats, 4), (strings, 4), (dictionary, 3)] {
            let col = Col::new("c", &array).unwrap();
            let calls = Cell::new(0);
            let f = |v: &Value| {
                calls.set(calls.get() + 1);
                format!("{v:?}")
            };
            let mapped = col.map_values(f);
            assert_eq!(calls.get(), distinct);
            let each: Vec<String> = (0..col.len())
                .map(|i| format!("{:?}", col.value(i)))
                .collect();
            assert_eq!(mapped, each);
        }
    }

    /// A raw field takes integers as floats when it is a float field, and refuses a column
    /// of another type, naming the field.
    #[test]
    fn a_field_reads_its_own_type_or_integers_as_floats() {
        use arrow::array::Int64Array;
        let field = |t: DataType| RawField {
            name: "amount".into(),
            data_type: t,
            nullable: true,
        };
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None]));
        let floats = Col::of_field(&field(DataType::Float), &ints).unwrap();
        assert!(matches!(floats, Col::Float(_)));
        assert!(floats.values()[0].same_as(&Value::Float(3.0)) && floats.values()[1].is_null());
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["3"]));
        match Col::of_field(&field(DataType::Int), &strings) {
            Err(Error::ColumnType { column, .. }) => assert_eq!(column, "amount"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_counted_by_view_match_keys_counted_a_row() {
        let long = "a string longer than twelve bytes";
        let values = [
            Some(long),
            Some("short"),
            None,
            Some(MISSING_LEVEL),
            Some(long),
        ];
        let strings: ArrayRef = Arc::new(StringArray::from_iter(
            (0..50).map(|i| values[i % values.len()]),
        ));
        // Concatenated views of two arrays: the long string's bytes sit in two buffers.
        let views = arrow::compute::concat(&[
            cast(&strings, &ArrowType::Utf8View).unwrap().as_ref(),
            cast(&strings, &ArrowType::Utf8View).unwrap().as_ref(),
        ])
        .unwrap();
        let col = Col::new("s", &views).unwrap();
        let Col::Str(a) = &col else {
            panic!("not strings")
        };
        assert_ne!(
            a.views()[0],
            a.views()[50],
            "the test needs views that differ"
        );
        let rows: Vec<usize> = (0..100).filter(|r| r % 7 != 3).chain([0, 1, 2]).collect();
        let mut expected: FxHashMap<Cow<'_, str>, usize> = FxHashMap::default();
        for &r in &rows {
            *expected.entry(col.key(r)).or_default() += 1;
        }
        assert_eq!(expected.len(), 3);
        assert_eq!(col.count_keys(rows.iter().copied()), expected);
        // Other types count by key as before.
        let ints = Col::new(
            "i",
            &(Arc::new(Int64Array::from(vec![Some(1), None, Some(1)])) as ArrayRef),
        )
        .unwrap();
        let counts = ints.count_keys([0, 1, 2]);
        assert_eq!((counts["1"], counts[MISSING_LEVEL]), (2, 1));
    }

    /// A number is read as `numeric_value` reads the row's value: NULL, NaN and infinities
    /// missing, booleans 0 and 1.
    #[test]
    fn numbers_are_what_numeric_value_gives() {
        let columns: [ArrayRef; 3] = [
            Arc::new(Int64Array::from(vec![Some(-3), None, Some(i64::MAX)])),
            Arc::new(Float64Array::from(vec![
                Some(f64::NAN),
                None,
                Some(f64::NEG_INFINITY),
                Some(-0.5),
            ])),
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        ];
        for a in &columns {
            let col = Col::new("n", a).unwrap();
            for r in 0..col.len() {
                let want = numeric_value(&col.value(r));
                assert_eq!(
                    col.number(r).map(f64::to_bits),
                    want.map(f64::to_bits),
                    "{a:?} {r}"
                );
            }
        }
        let col = Col::new("f", &columns[1]).unwrap();
        assert_eq!((col.number(0), col.number(3)), (None, Some(-0.5)));
    }

    /// Columns are the same only when they read the same buffers: a column and its clone
    /// (or the same array made a column twice), not equal values copied, another type or
    /// another dictionary.
    #[test]
    fn a_column_is_the_same_only_as_its_own_buffers() {
        use arrow::array::{DictionaryArray, StringArray};
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3)]));
        let a = Col::new("a", &ints).unwrap();
        assert!(a.same_column(&a.clone()));
        assert!(a.same_column(&Col::new("a", &ints).unwrap()));
        let copied: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3)]));
        assert!(!a.same_column(&Col::new("a", &copied).unwrap()));
        let floats = cast(&ints, &ArrowType::Float64).unwrap();
        assert!(!a.same_column(&Col::new("f", &floats).unwrap()));
        let dict = |values: Vec<&str>| -> ArrayRef {
            let keys = Int32Array::from(vec![0, 1, 0]);
            let values = cast(&StringArray::from(values), &ArrowType::Utf8View).unwrap();
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values).unwrap())
        };
        let d = dict(vec!["x", "y"]);
        let col = Col::new("d", &d).unwrap();
        assert!(col.same_column(&Col::new("d", &d).unwrap()));
        assert!(!col.same_column(&Col::new("d", &dict(vec!["x", "y"])).unwrap()));
    }

    /// A dictionary column reads as the strings it holds: values, keys and counts as the
    /// same strings in views give them, with a string in the dictionary twice, one no row
    /// uses, NULL rows and the literal "missing"; filtered, it keeps its dictionary. A key
    /// pointing at a NULL value is a NULL row.
    #[test]
    fn a_dictionary_column_reads_as_its_strings() {
        use arrow::array::{DictionaryArray, StringArray};
        let values = StringArray::from(vec!["a", MISSING_LEVEL, "a", "unused", "b"]);
        let keys = Int32Array::from(vec![Some(0), Some(2), None, Some(1), Some(4), Some(0)]);
        let dict: ArrayRef =
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap());
        let col = Col::new("d", &dict).unwrap();
        assert!(matches!(col, Col::Dict { .. }), "{col:?}");
        let plain = Col::new("s", &cast(&dict, &ArrowType::Utf8).unwrap()).unwrap();
        assert!(matches!(plain, Col::Str(_)));
        assert_eq!((col.len(), col.has_nulls()), (6, true));
        for r in 0..6 {
            assert!(col.value(r).same_as(&plain.value(r)), "row {r}");
            assert_eq!(col.key(r), plain.key(r), "row {r}");
            assert_eq!(col.number(r), None);
        }
        let rows = [0, 1, 2, 3, 4, 5, 0];
        assert_eq!(
            col.count_keys(rows.iter().copied()),
            plain.count_keys(rows.iter().copied())
        );
        let counts = col.count_keys(rows.iter().copied());
        assert_eq!((counts["a"], counts[MISSING_LEVEL], counts["b"]), (4, 2, 1));
        assert!(!counts.contains_key("unused"));
        let keep = BooleanArray::from(vec![false, true, true, false, true, false]);
        let kept = col.filter(&keep).unwrap();
        assert!(matches!(kept, Col::Dict { .. }));
        let want = [Value::str("a"), Value::Null, Value::str("b")];
        assert!((0..3).all(|r| kept.value(r).same_as(&want[r])), "{kept:?}");
        // A row whose key points at a NULL value is NULL.
        let with_null = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(vec![0, 1]),
            Arc::new(StringArray::from(vec![Some("a"), None])),
        )
        .unwrap();
        let col = Col::new("n", &(Arc::new(with_null) as ArrayRef)).unwrap();
        assert!(col.value(1).is_null() && col.is_null(1) && col.key(1) == MISSING_LEVEL);
        assert_eq!(col.count_keys([0, 1])[MISSING_LEVEL], 1);
    }
}
