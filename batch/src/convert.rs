//! Arrow columns to the scalar values the scoring path works on.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType as ArrowType, Float64Type, Int64Type};
use riskfn_core::value::{DataType, Value};

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
