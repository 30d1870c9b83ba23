//! Arrow columns as riskfn's values: a column's kind and one row's value (`convert`), a
//! column normalised for the steps that read it row by row (`column`), a string column's
//! distinct values per batch (`distinct`).

pub mod column;
pub mod convert;
pub mod distinct;
