//! A column of the feature table, kept in Arrow form (a training set of millions of rows
//! is never turned into per-cell values) and read with the serving side's semantics.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringViewArray,
};
use arrow::compute::{cast, filter};
use arrow::datatypes::{DataType as ArrowType, Float64Type, Int64Type};
use riskfn_core::preprocess::{MISSING_LEVEL, category_key, numeric_value};
use riskfn_core::value::{DataType, Value};

use crate::error::Result;

/// One column, typed as the online evaluator types values.
#[derive(Debug, Clone)]
pub enum Col {
    Bool(BooleanArray),
    Int(Int64Array),
    Float(Float64Array),
    /// Views, as DataFusion's Parquet scan gives strings (no copy of their bytes).
    Str(StringViewArray),
}

impl Col {
    /// `array` normalised to Int64 / Float64 / Utf8View / Boolean.
    pub fn new(name: &str, array: &ArrayRef) -> Result<Col> {
        Ok(match crate::convert::kind_of(name, array)? {
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
            DataType::Str => Col::Str(cast(array, &ArrowType::Utf8View)?.as_string_view().clone()),
        })
    }

    fn array(&self) -> &dyn Array {
        match self {
            Col::Bool(a) => a,
            Col::Int(a) => a,
            Col::Float(a) => a,
            Col::Str(a) => a,
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
        }
    }

    /// As a numeric feature reads it (`None`: missing, to be imputed).
    pub fn number(&self, i: usize) -> Option<f64> {
        match self {
            Col::Str(_) => None,
            _ => numeric_value(&self.value(i)),
        }
    }

    /// As a categorical feature reads it (without copying strings).
    pub fn key(&self, i: usize) -> Cow<'_, str> {
        match self {
            _ if self.is_null(i) => Cow::Borrowed(MISSING_LEVEL),
            Col::Str(a) => Cow::Borrowed(a.value(i)),
            _ => Cow::Owned(category_key(&self.value(i)).into_owned()),
        }
    }

    /// The rows where `keep` is true.
    pub fn filter(&self, keep: &BooleanArray) -> Result<Col> {
        let kept: ArrayRef = match self {
            Col::Bool(a) => filter(a, keep)?,
            Col::Int(a) => filter(a, keep)?,
            Col::Float(a) => filter(a, keep)?,
            Col::Str(a) => filter(a, keep)?,
        };
        Col::new("", &Arc::clone(&kept))
    }
}
