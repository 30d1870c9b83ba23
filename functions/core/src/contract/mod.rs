//! What a published version is: its files (`model.json`, `manifest.json`, the baseline), its
//! measures, the gate's rule and record, and the model card built from them.

pub mod artifact;
pub mod card;
pub mod gate;
pub mod measures;
