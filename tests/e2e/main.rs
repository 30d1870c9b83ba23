//! End-to-end tests: batch -> store -> functions, on the bundled data.

mod api;
mod audit;
mod browser;
mod card;
mod contract;
mod engine;
mod fairness;
mod families;
mod faults;
mod import;
mod outcomes;
mod parity;
mod pipelines;
mod population;
mod registry;
mod retrain;
mod review;
mod scorecard;
mod security;
mod shadow;
mod sources;
mod spine;

use std::path::PathBuf;

/// Scratch space for this test binary.
fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}
