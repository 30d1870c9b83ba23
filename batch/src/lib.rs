//! The batch job: SQL feature pipelines on DataFusion, training with linfa, evaluation and
//! publishing to the model registry.
//!
//! - [`pipeline`]: a pipeline folder (config + SQL), validated;
//! - [`source`]: reading Parquet/CSV in order, with row positions, streamed;
//! - [`engine`]: where the SQL runs: in process, or on a Ballista cluster;
//! - [`compile`]: SQL -> row-local expressions -> the online evaluator's form;
//! - [`prepare`]: de-duplication (DataFusion's aggregate, as on a cluster), the SQL, labels, the split,
//!   online/offline parity check;
//! - [`split`], [`convert`]: the hash split; Arrow columns to scalar values;
//! - [`fit`]: preprocessing fitted on the training split (models and measures are in the
//!   `riskfn-train` crate);
//! - [`job`]: training (`train`, `retrain`, `prepare`); [`card`]: the version's model card;
//!   [`score`]: batch scoring and SQL
//!   (`score`, `sql`); [`drift`]: stability against the training baseline;
//! - [`models`]: the registry commands (list, show, promote, rollback); [`export`]: a
//!   published scorecard as SQL; [`shadow`]: a challenger beside the champion, compared on
//!   live traffic.

pub mod card;
pub mod column;
pub mod compile;
pub mod convert;
pub mod distinct;
pub mod drift;
pub mod engine;
pub mod error;
pub mod export;
pub mod families;
pub mod fit;
pub mod job;
pub mod models;
pub mod pipeline;
pub mod prepare;
pub mod report;
pub mod score;
pub mod shadow;
pub mod source;
pub mod split;
pub mod udf;

pub use error::{Error, Result};
