//! Raw values and their schema, the row-local feature expressions compiled from a
//! pipeline's SQL and their evaluator, and the fitted preprocessing (the online half of
//! "identical features online and offline").

pub mod expr;
pub mod func;
pub mod population;
pub mod preprocess;
pub mod schema;
pub mod value;
