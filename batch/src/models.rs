//! `riskfn models`: the registry as an operator sees it — list, show, promote, roll back
//! (the shadow and its comparison are in [`crate::shadow`]).

use riskfn_core::artifact::Manifest;
use riskfn_core::audit;
use riskfn_core::gate::GateSpec;
use riskfn_core::registry::{Champion, Registry};
use serde::Serialize;

use crate::error::Result;
use crate::job::{Promotion, promote as move_pointer};

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
}

/// Complete versions, oldest first (a version without its manifest is an unfinished
/// publish and is not listed).
pub async fn list(registry: &Registry, pipeline: &str) -> Result<Vec<VersionRow>> {
    let champion = registry.champion(pipeline).await?.map(|(c, _)| c.version);
    let challenger = registry
        .challenger(pipeline)
        .await?
        .and_then(|(c, _)| c.version);
    let mut rows = Vec::new();
    for v in registry.versions(pipeline).await? {
        let m = registry.manifest(pipeline, &v).await?;
        rows.push(VersionRow {
            champion: champion.as_deref() == Some(v.as_str()),
            challenger: challenger.as_deref() == Some(v.as_str()),
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

/// Make `version` the champion if it passes its gate against the current champion (or
/// `force`); the pointer moves by a conditional write.
pub async fn promote(
    registry: &Registry,
    pipeline: &str,
    version: &str,
    force: bool,
) -> Result<Promotion> {
    let candidate = registry.manifest(pipeline, version).await?;
    let current = registry.champion(pipeline).await?;
    let previous = current.as_ref().map(|(c, _)| c.version.clone());
    if previous.as_deref() == Some(version) {
        return Err(riskfn_core::Error::Refused(format!(
            "{version} is already the champion of {pipeline}"
        ))
        .into());
    }
    let champion_manifest = match &previous {
        Some(v) => Some(registry.manifest(pipeline, v).await?),
        None => None,
    };
    let spec = candidate
        .gate
        .as_ref()
        .map(|g| g.spec)
        .unwrap_or_else(GateSpec::default);
    let gate = spec.evaluate(
        &candidate.metrics.validation,
        champion_manifest
            .as_ref()
            .map(|m| (m.version.as_str(), &m.metrics.validation)),
        &candidate.fairness,
    );
    if !gate.passed && !force {
        return Ok(Promotion::RefusedByGate {
            reason: gate.reason,
        });
    }
    let outcome = move_pointer(registry, pipeline, version, current.as_ref())
        .await?
        .unwrap_or(if gate.passed {
            Promotion::Promoted {
                previous: previous.clone(),
            }
        } else {
            Promotion::Forced {
                previous: previous.clone(),
                gate: gate.reason,
            }
        });
    if outcome.is_champion() {
        crate::job::record(
            registry,
            &format!(
                "{pipeline}-{version}-promotion-{}",
                riskfn_core::registry::new_version_id()
            ),
            audit::Event::Promotion {
                pipeline: pipeline.to_owned(),
                version: version.to_owned(),
                previous,
                forced: matches!(outcome, Promotion::Forced { .. }),
            },
        )
        .await;
    }
    Ok(outcome)
}

/// Return the champion to the previous one.
pub async fn rollback(registry: &Registry, pipeline: &str) -> Result<Champion> {
    let from = registry
        .champion(pipeline)
        .await?
        .map(|(c, _)| c.version)
        .unwrap_or_default();
    let back = registry.rollback(pipeline).await?;
    crate::job::record(
        registry,
        &format!(
            "{pipeline}-{}-rollback-{}",
            back.version,
            riskfn_core::registry::new_version_id()
        ),
        audit::Event::Rollback {
            pipeline: pipeline.to_owned(),
            version: back.version.clone(),
            from,
        },
    )
    .await;
    Ok(back)
}

/// A version's scorecard (default: the champion's) as one SQL query over `raw`
/// ([`crate::export`]), from the SQL the version was trained with.
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
    crate::export::scorecard_sql(loaded.scorer.artifact(), &sql)
}
