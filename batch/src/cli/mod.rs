//! The `riskfn` command line: its arguments and the `models` commands.

pub(crate) mod args;
pub(crate) mod models;
