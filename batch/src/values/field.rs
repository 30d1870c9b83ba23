//! A raw field's values in the form the columnar scorer borrows (batch scoring and SQL's
//! `riskfn_predict`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::DataType as ArrowType;
use riskfn_core::features::schema::RawField;
use riskfn_core::features::value::{DataType, Value};
use riskfn_core::scoring::columnar::{Column, Validity};

use super::column::{Col, check_field_type};
use crate::error::Result;

/// A raw field's values in the form [`riskfn_core::scoring::columnar::Column`] borrows: numbers as
/// Arrow holds them, strings by dictionary (each distinct string once per batch).
pub enum FieldColumn {
    Int(Int64Array),
    Float(Float64Array),
    Str {
        keys: Vec<u32>,
        dict: Vec<Arc<str>>,
        nulls: Option<NullBuffer>,
    },
    Values(Vec<Value>),
}

impl FieldColumn {
    /// The column of raw field `f` from `array`, whose type must be the field's (an integer
    /// column may feed a float field, as a float), the types [`Col::of_field`] gives.
    pub fn new(f: &RawField, array: &ArrayRef) -> Result<FieldColumn> {
        check_field_type(f, array)?;
        Ok(match f.data_type {
            DataType::Int => {
                FieldColumn::Int(cast(array, &ArrowType::Int64)?.as_primitive().clone())
            }
            DataType::Float => {
                FieldColumn::Float(cast(array, &ArrowType::Float64)?.as_primitive().clone())
            }
            DataType::Str => strings(array)?,
            DataType::Bool => FieldColumn::Values(Col::new(&f.name, array)?.values()),
        })
    }

    pub fn column(&self) -> Column<'_> {
        fn validity(n: Option<&NullBuffer>) -> Option<Validity<'_>> {
            n.map(|n| Validity {
                bits: n.inner().values(),
                offset: n.inner().offset(),
            })
        }
        match self {
            FieldColumn::Int(a) => Column::Int {
                values: a.values(),
                validity: validity(a.nulls()),
            },
            FieldColumn::Float(a) => Column::Float {
                values: a.values(),
                validity: validity(a.nulls()),
            },
            FieldColumn::Str { keys, dict, nulls } => Column::Str {
                keys,
                dict,
                validity: validity(nulls.as_ref()),
            },
            FieldColumn::Values(v) => Column::Values(v),
        }
    }
}

/// A string column by dictionary: each distinct string of the batch once.
fn strings(array: &ArrayRef) -> Result<FieldColumn> {
    let d = crate::values::distinct::distinct(array)?;
    let dict = (0..d.values.len())
        .map(|i| Arc::from(d.values.value(i)))
        .collect();
    Ok(FieldColumn::Str {
        keys: d.keys,
        dict,
        nulls: d.nulls,
    })
}
