//! A published version loaded for scoring: its manifest and `model.json` read from the
//! registry and checked, the scorer built from them. Here, not in the registry, so that
//! storage knows the contract and not the scorer.

use crate::contract::artifact::{MODEL_FILE, Manifest};
use crate::error::Result;
use crate::registry::Registry;
use crate::scoring::Scorer;

/// A version read from the store, checked, ready to score.
#[derive(Debug)]
pub struct LoadedVersion {
    pub manifest: Manifest,
    pub scorer: Scorer,
}

impl Registry {
    /// Load a version for scoring: manifest, then `model.json` checked against it.
    pub async fn load(&self, pipeline: &str, version: &str) -> Result<LoadedVersion> {
        let (manifest, artifact) = self.artifact(pipeline, version).await?;
        let sha = manifest.files[MODEL_FILE].sha256.clone();
        Ok(LoadedVersion {
            scorer: Scorer::new(artifact, sha)?,
            manifest,
        })
    }
}
