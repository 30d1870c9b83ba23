//! Loaded versions, cached across requests (and across warm Lambda invocations).
//!
//! - A pinned version is immutable: loaded once, kept for good.
//! - The champion alias is re-checked after a TTL with a conditional read (ETag), so a
//!   promote or rollback takes effect without a redeploy; if the store cannot be reached,
//!   the version already known keeps serving.
//! - Concurrent first requests for one version share a single load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use riskfn_core::registry::{Champion, LoadedVersion, Registry, champion_key};
use riskfn_core::{Error, Result};
use tokio::sync::OnceCell;

type Slot = Arc<OnceCell<Arc<LoadedVersion>>>;

#[derive(Debug, Clone)]
struct ChampionEntry {
    version: String,
    etag: String,
    checked: Instant,
}

#[derive(Debug)]
pub struct ModelCache {
    registry: Registry,
    ttl: Duration,
    versions: Mutex<HashMap<(String, String), Slot>>,
    champions: Mutex<HashMap<String, ChampionEntry>>,
    /// Versions read from the store so far (each at most once).
    loads: std::sync::atomic::AtomicUsize,
}

impl ModelCache {
    pub fn new(registry: Registry, ttl: Duration) -> Self {
        ModelCache {
            registry,
            ttl,
            versions: Mutex::default(),
            champions: Mutex::default(),
            loads: Default::default(),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// How many versions have been read from the store.
    pub fn loads(&self) -> usize {
        self.loads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The loaded version a request means: `version` if pinned, else the champion.
    pub async fn get(&self, pipeline: &str, version: Option<&str>) -> Result<Arc<LoadedVersion>> {
        let version = match version {
            Some(v) => v.to_owned(),
            None => self.champion_version(pipeline).await?,
        };
        self.load(pipeline, &version).await
    }

    async fn load(&self, pipeline: &str, version: &str) -> Result<Arc<LoadedVersion>> {
        let slot = {
            let mut map = self.versions.lock().unwrap_or_else(|p| p.into_inner());
            map.entry((pipeline.to_owned(), version.to_owned()))
                .or_default()
                .clone()
        };
        let loaded = slot
            .get_or_try_init(|| async {
                let v = self.registry.load(pipeline, version).await?;
                self.loads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(
                    pipeline,
                    version,
                    sha256 = v.scorer.content_sha256(),
                    "model loaded"
                );
                Ok::<_, Error>(Arc::new(v))
            })
            .await?;
        Ok(loaded.clone())
    }

    async fn champion_version(&self, pipeline: &str) -> Result<String> {
        let known = {
            let map = self.champions.lock().unwrap_or_else(|p| p.into_inner());
            map.get(pipeline).cloned()
        };
        if let Some(k) = &known
            && k.checked.elapsed() < self.ttl
        {
            return Ok(k.version.clone());
        }
        let fresh = match &known {
            None => self.registry.champion(pipeline).await.and_then(|c| {
                c.ok_or_else(|| Error::not_found(format!("pipeline {pipeline}")))
                    .map(Some)
            }),
            Some(k) => self.changed_champion(pipeline, &k.etag).await,
        };
        let entry = match (fresh, known) {
            (Ok(Some((c, etag))), _) => ChampionEntry {
                version: c.version,
                etag,
                checked: Instant::now(),
            },
            (Ok(None), Some(k)) => ChampionEntry {
                checked: Instant::now(),
                ..k
            },
            (Err(e), Some(k)) if !matches!(e, Error::NotFound { .. }) => {
                tracing::warn!(pipeline, error = %e, "champion re-check failed; serving the known version");
                ChampionEntry {
                    checked: Instant::now(),
                    ..k
                }
            }
            (Err(e), _) => return Err(e),
            (Ok(None), None) => return Err(Error::not_found(format!("pipeline {pipeline}"))),
        };
        let version = entry.version.clone();
        self.champions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pipeline.to_owned(), entry);
        Ok(version)
    }

    /// The champion if it changed since `etag` (a cheap conditional read), else `None`.
    async fn changed_champion(
        &self,
        pipeline: &str,
        etag: &str,
    ) -> Result<Option<(Champion, String)>> {
        let key = champion_key(pipeline);
        match self.registry.store().get_if_changed(&key, etag).await? {
            None => Ok(None),
            Some(obj) => {
                let c: Champion = serde_json::from_slice(&obj.bytes)
                    .map_err(|source| Error::Format { what: key, source })?;
                Ok(Some((c, obj.etag)))
            }
        }
    }
}
