//! Arrow columns to the scalar values the scoring path works on.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType as ArrowType, Float64Type, Int64Type};
use riskfn_core::features::schema::RawField;
use riskfn_core::features::value::{DataType, Value};
use riskfn_core::scoring::columnar::{Column, Validity};

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

/// Every value of `array` (normalised through Arrow's cast to Int64 / Float64 / Utf8).
pub fn values(name: &str, array: &ArrayRef) -> Result<Vec<Value>> {
    let kind = kind_of(name, array)?;
    let target = match kind {
        DataType::Bool => ArrowType::Boolean,
        DataType::Int => ArrowType::Int64,
        DataType::Float => ArrowType::Float64,
        DataType::Str => ArrowType::Utf8,
    };
    let a = cast(array, &target)?;
    let n = a.len();
    let mut out = Vec::with_capacity(n);
    match kind {
        DataType::Bool => {
            let b = a.as_boolean();
            out.extend((0..n).map(|i| {
                if b.is_null(i) {
                    Value::Null
                } else {
                    Value::Bool(b.value(i))
                }
            }));
        }
        DataType::Int => {
            let p = a.as_primitive::<Int64Type>();
            out.extend((0..n).map(|i| {
                if p.is_null(i) {
                    Value::Null
                } else {
                    Value::Int(p.value(i))
                }
            }));
        }
        DataType::Float => {
            let p = a.as_primitive::<Float64Type>();
            out.extend((0..n).map(|i| {
                if p.is_null(i) {
                    Value::Null
                } else {
                    Value::Float(p.value(i))
                }
            }));
        }
        DataType::Str => {
            let s = a.as_string::<i32>();
            // Categories repeat: each distinct string is allocated once per column (up to a
            // bound, beyond which free text is not worth the table).
            let mut seen: std::collections::HashMap<&str, Value> = std::collections::HashMap::new();
            for i in 0..n {
                if s.is_null(i) {
                    out.push(Value::Null);
                    continue;
                }
                let v = s.value(i);
                if let Some(known) = seen.get(v) {
                    out.push(known.clone());
                } else {
                    let val = Value::str(v);
                    if seen.len() < 4096 {
                        seen.insert(v, val.clone());
                    }
                    out.push(val);
                }
            }
        }
    }
    Ok(out)
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
    /// column may feed a float field, as a float), the types [`values`] gives.
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
            DataType::Bool => FieldColumn::Values(values(&f.name, array)?),
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
