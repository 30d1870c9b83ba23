//! The batch job: SQL feature pipelines on DataFusion, training, evaluation and publishing
//! to the model registry, batch scoring and monitoring. By concern:
//!
//! - [`pipeline`]: a pipeline folder (config, SQL, model families, reason codes), validated;
//! - [`source`]: reading Parquet/CSV in order with each row's position, streamed; where the
//!   SQL runs (in process, or on a Ballista cluster: [`source::engine`]);
//! - [`compile`]: the pipeline's SQL planned, and compiled to the online evaluator's form;
//! - [`prepare`]: de-duplication (DataFusion's aggregate), the SQL, labels, the split, the
//!   online/offline parity check;
//! - [`train`]: preprocessing fitted on the training split, training and selection (the
//!   models and measures are in the `riskfn-train` crate), the report and model card,
//!   publishing, retraining on a schedule;
//! - [`score`]: batch scoring of a file, SQL with `riskfn_predict`;
//! - [`drift`]: stability of a batch against a version's training baseline;
//! - [`models`]: the registry commands (list, show, promote, rollback), a scorecard
//!   exported as SQL, a challenger in shadow;
//! - [`values`]: Arrow columns read as riskfn's values.

pub mod compile;
pub mod drift;
pub mod error;
pub mod import;
pub mod models;
pub mod outcomes;
pub mod pipeline;
pub mod prepare;
pub mod score;
pub mod source;
pub mod train;
pub mod values;

pub use error::{Error, Result};
