//! Arrow columns as riskfn's values: one conversion (`column`), the form the columnar
//! scorer borrows (`field`), a string column's distinct values per batch (`distinct`).

pub mod column;
pub mod distinct;
pub mod field;
