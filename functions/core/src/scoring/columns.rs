//! One raw field's values for the rows of a batch, as the columnar path reads them
//! (borrowed from Arrow arrays by the batch job): what [`crate::scoring::columnar`] scores and
//! [`crate::scoring::typed`] evaluates expressions over.

use std::sync::Arc;

use crate::features::value::Value;

/// Which rows of a column hold a value: Arrow's validity bitmap (bit `offset + r` set, row
/// `r` is not NULL).
#[derive(Debug, Clone, Copy)]
pub struct Validity<'a> {
    pub bits: &'a [u8],
    pub offset: usize,
}

impl Validity<'_> {
    pub(crate) fn is_valid(&self, r: usize) -> bool {
        let i = self.offset + r;
        self.bits.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1)
    }
}

/// One raw field's values for the rows of a batch.
#[derive(Debug, Clone, Copy)]
pub enum Column<'a> {
    Int {
        values: &'a [i64],
        validity: Option<Validity<'a>>,
    },
    Float {
        values: &'a [f64],
        validity: Option<Validity<'a>>,
    },
    /// Strings by dictionary: row `r` holds `dict[keys[r]]` (an invalid row, NULL).
    Str {
        keys: &'a [u32],
        dict: &'a [Arc<str>],
        validity: Option<Validity<'a>>,
    },
    /// Any other field, one value per row.
    Values(&'a [Value]),
}

impl Column<'_> {
    pub(crate) fn is_null(&self, r: usize) -> bool {
        match self {
            Column::Int { validity, .. }
            | Column::Float { validity, .. }
            | Column::Str { validity, .. } => validity.is_some_and(|v| !v.is_valid(r)),
            Column::Values(v) => v[r].is_null(),
        }
    }

    /// Whether any row may be NULL.
    pub(crate) fn may_hold_null(&self) -> bool {
        match self {
            Column::Int { validity, .. }
            | Column::Float { validity, .. }
            | Column::Str { validity, .. } => validity.is_some(),
            Column::Values(_) => true,
        }
    }

    /// Row `r`'s value, as the row path sees it.
    pub(crate) fn value(&self, r: usize) -> Value {
        if self.is_null(r) {
            return Value::Null;
        }
        match self {
            Column::Int { values, .. } => Value::Int(values[r]),
            Column::Float { values, .. } => Value::Float(values[r]),
            Column::Str { keys, dict, .. } => Value::Str(dict[keys[r] as usize].clone()),
            Column::Values(v) => v[r].clone(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Column::Int { values, .. } => values.len(),
            Column::Float { values, .. } => values.len(),
            Column::Str { keys, .. } => keys.len(),
            Column::Values(v) => v.len(),
        }
    }
}
