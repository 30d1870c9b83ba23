//! The contract shared by the batch job and the serving functions, by concern:
//!
//! - [`features`]: raw values and their schema (JSON records parsed with per-field errors),
//!   the row-local feature expressions compiled from the pipeline's SQL and their evaluator,
//!   the fitted preprocessing;
//! - [`model`]: fitted models, free of training libraries, and their TreeSHAP;
//! - [`contract`]: what a published version holds (`model.json`, `manifest.json`, the
//!   baseline), its measures, the promotion gate, the model card;
//! - [`scoring`]: the one scoring path (the Lambda, the local server and batch scoring), a
//!   published version loaded for it; its columnar form (cargo feature `columnar`, which
//!   batch enables and the Lambda does not) gives the same numbers for many rows at once;
//! - [`registry`]: object storage (a folder or S3), the versioned model registry on it, and
//!   audit records of predictions and registry events;
//! - [`review`]: promotion, four-eyes approval and rollback; two versions compared; drift
//!   against the training baseline.

pub mod contract;
pub mod error;
pub mod features;
pub mod model;
pub mod registry;
pub mod review;
pub mod scoring;

pub use error::{Error, Result};
