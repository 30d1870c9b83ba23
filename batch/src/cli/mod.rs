//! The `riskfn` command line: its arguments, and the `models` and `outcomes` commands.

pub(crate) mod args;
pub(crate) mod models;
pub(crate) mod outcomes;
