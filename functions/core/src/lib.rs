//! The contract shared by the batch job and the serving functions.
//!
//! - [`value`], [`expr`]: row-local feature expressions compiled from the pipeline's SQL and
//!   their evaluator (the online half of "identical features online and offline");
//! - [`schema`]: the raw input schema and JSON record parsing with per-field errors;
//! - [`preprocess`], [`model`]: fitted preprocessing and models, free of training libraries;
//! - [`artifact`]: what a published version holds (`model.json`, `manifest.json`);
//! - [`scoring`]: the one scoring path, used by the Lambda, the local server and batch scoring;
//!   [`columnar`] (cargo feature `columnar`, which batch enables and the Lambda does not):
//!   the same numbers for many rows at once, column by column;
//! - [`measures`], [`card`]: the gains and fairness tables, and the model card of a version;
//!   [`compare`]: two versions side by side (the review console's compare view);
//! - [`drift`]: score and feature stability against the training baseline;
//! - [`audit`]: audit records of predictions and registry events;
//! - [`store`], [`s3`], [`registry`], [`gate`]: object storage, the versioned model registry
//!   on it, and the rule for promoting a version to champion;
//! - [`loaded`]: a published version read, checked and ready to score;
//! - [`review`]: promotion, four-eyes approval and rollback, each an audit record of who
//!   and why.

pub mod artifact;
pub mod audit;
pub mod card;
#[cfg(feature = "columnar")]
pub mod columnar;
#[cfg(feature = "columnar")]
mod columns;
pub mod compare;
pub mod drift;
pub mod error;
pub mod expr;
pub mod gate;
pub mod loaded;
pub mod measures;
pub mod model;
pub mod preprocess;
pub mod registry;
pub mod review;
pub mod s3;
pub mod schema;
pub mod scoring;
pub mod shap;
pub mod store;
#[cfg(feature = "columnar")]
mod typed;
pub mod value;

pub use error::{Error, Result};
