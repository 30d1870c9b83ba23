//! `riskfn models`: the registry as an operator sees it: list, show, export (promotion,
//! approval and rollback are `riskfn_core::review`; the shadow and its comparison
//! [`crate::models::shadow`]).

pub mod audit_check;
pub mod export;
pub mod shadow;

use riskfn_core::contract::artifact::Manifest;
use riskfn_core::registry::Registry;
use riskfn_core::review::{ReviewStatus, reviews};
use serde::Serialize;

use crate::error::Result;

/// One complete version, as `models list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct VersionRow {
    pub version: String,
    pub created_at: String,
    pub family: String,
    pub validation_auc: f64,
    pub test_auc: f64,
    pub gate_passed: Option<bool>,
    pub champion: bool,
    /// Scored in shadow beside the champion.
    pub challenger: bool,
    /// Its proposal's state under four eyes, if it was proposed.
    pub review: Option<ReviewStatus>,
}

/// Complete versions, oldest first (a version without its manifest is an unfinished
/// publish and is not listed).
pub async fn list(registry: &Registry, pipeline: &str) -> Result<Vec<VersionRow>> {
    let champion = registry.champion(pipeline).await?.map(|(c, _)| c.version);
    let challenger = registry
        .challenger(pipeline)
        .await?
        .and_then(|(c, _)| c.version);
    let reviews = reviews(registry, pipeline).await?;
    let mut rows = Vec::new();
    for v in registry.versions(pipeline).await? {
        let m = registry.manifest(pipeline, &v).await?;
        rows.push(VersionRow {
            champion: champion.as_deref() == Some(v.as_str()),
            challenger: challenger.as_deref() == Some(v.as_str()),
            review: reviews.get(&v).map(|r| r.status),
            version: v,
            created_at: m.created_at,
            family: m.model.family,
            validation_auc: m.metrics.validation.roc_auc,
            test_auc: m.metrics.test.roc_auc,
            gate_passed: m.gate.map(|g| g.passed),
        });
    }
    Ok(rows)
}

/// A version's manifest (default: the champion's).
pub async fn show(registry: &Registry, pipeline: &str, version: Option<&str>) -> Result<Manifest> {
    let v = registry.resolve(pipeline, version).await?;
    Ok(registry.manifest(pipeline, &v).await?)
}

/// A version's scorecard (default: the champion's) as one SQL query over `raw`
/// ([`crate::models::export`]), from the SQL the version was trained with.
pub async fn export_sql(
    registry: &Registry,
    pipeline: &str,
    version: Option<&str>,
) -> Result<String> {
    let v = registry.resolve(pipeline, version).await?;
    let loaded = registry.load(pipeline, &v).await?;
    let mut sql = Vec::new();
    for file in loaded
        .manifest
        .files
        .keys()
        .filter(|f| f.starts_with("sql/"))
    {
        let bytes = registry.read_verified(&loaded.manifest, file).await?;
        sql.push((file.clone(), String::from_utf8_lossy(&bytes).into_owned()));
    }
    crate::models::export::scorecard_sql(loaded.scorer.artifact(), &sql)
}
