//! Loaded versions, cached across requests (and across warm Lambda invocations).
//!
//! - A pinned version is immutable: loaded once, kept for good.
//! - The champion and challenger pointers are re-checked after a TTL with a conditional
//!   read (ETag), so a promote, rollback or shadow takes effect without a redeploy; if the
//!   store cannot be reached, the version already known keeps serving.
//! - Concurrent first requests for one version share a single load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use riskfn_core::registry::{Challenger, Champion, Registry, challenger_key, champion_key};
use riskfn_core::scoring::loaded::LoadedVersion;
use riskfn_core::{Error, Result};
use tokio::sync::OnceCell;

type Slot = Arc<OnceCell<Arc<LoadedVersion>>>;

#[derive(Debug, Clone)]
struct PointerEntry {
    version: Option<String>,
    etag: String,
    checked: Instant,
}

#[derive(Debug)]
pub struct ModelCache {
    registry: Registry,
    ttl: Duration,
    versions: Mutex<HashMap<(String, String), Slot>>,
    pointers: Mutex<HashMap<(Pointer, String), PointerEntry>>,
    /// Versions read from the store so far (each at most once).
    loads: std::sync::atomic::AtomicUsize,
    /// Manifests read for the console: immutable once written, so kept for good.
    manifests: Mutex<HashMap<(String, String), Arc<riskfn_core::contract::artifact::Manifest>>>,
}

impl ModelCache {
    pub fn new(registry: Registry, ttl: Duration) -> Self {
        ModelCache {
            registry,
            ttl,
            versions: Mutex::default(),
            pointers: Mutex::default(),
            loads: Default::default(),
            manifests: Mutex::default(),
        }
    }

    /// A version's manifest, read from the store once.
    pub async fn manifest(
        &self,
        pipeline: &str,
        version: &str,
    ) -> Result<Arc<riskfn_core::contract::artifact::Manifest>> {
        let key = (pipeline.to_owned(), version.to_owned());
        if let Some(m) = self
            .manifests
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(m);
        }
        let m = Arc::new(self.registry.manifest(pipeline, version).await?);
        if let Ok(mut cache) = self.manifests.lock() {
            cache.insert(key, m.clone());
        }
        Ok(m)
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

    /// The champion's version, re-read after the TTL.
    async fn champion_version(&self, pipeline: &str) -> Result<String> {
        self.pointer(Pointer::Champion, pipeline)
            .await?
            .ok_or_else(|| Error::not_found(format!("pipeline {pipeline}")))
    }

    /// The challenger in shadow beside the champion, loaded, if one is set (and is not the
    /// champion itself, which a promotion since the shadow was set can make it).
    pub async fn challenger(
        &self,
        pipeline: &str,
        champion: &str,
    ) -> Result<Option<Arc<LoadedVersion>>> {
        match self.pointer(Pointer::Challenger, pipeline).await? {
            Some(v) if v != champion => self.load(pipeline, &v).await.map(Some),
            _ => Ok(None),
        }
    }

    /// A pointer's version, from the cache within the TTL, else by a conditional read. If
    /// the store cannot be reached, the version already known stays.
    async fn pointer(&self, kind: Pointer, pipeline: &str) -> Result<Option<String>> {
        let slot = (kind, pipeline.to_owned());
        let known = {
            let map = self.pointers.lock().unwrap_or_else(|p| p.into_inner());
            map.get(&slot).cloned()
        };
        if let Some(k) = &known
            && k.checked.elapsed() < self.ttl
        {
            return Ok(k.version.clone());
        }
        let key = kind.key(pipeline);
        let read = match &known {
            None => self.registry.store().get(&key).await,
            Some(k) => self.registry.store().get_if_changed(&key, &k.etag).await,
        };
        let entry = match (read, known) {
            (Ok(Some(obj)), _) => PointerEntry {
                version: kind.version(&key, &obj.bytes)?,
                etag: obj.etag,
                checked: Instant::now(),
            },
            // Unchanged since the ETag.
            (Ok(None), Some(k)) => PointerEntry {
                checked: Instant::now(),
                ..k
            },
            (Ok(None), None) => return Ok(None),
            (Err(e), Some(k)) if !matches!(e, Error::NotFound { .. }) => {
                tracing::warn!(pipeline, key, error = %e, "pointer re-check failed; keeping the known version");
                PointerEntry {
                    checked: Instant::now(),
                    ..k
                }
            }
            (Err(e), _) => return Err(e),
        };
        let version = entry.version.clone();
        self.pointers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(slot, entry);
        Ok(version)
    }
}

/// The registry's two moving pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Pointer {
    Champion,
    Challenger,
}

impl Pointer {
    fn key(self, pipeline: &str) -> String {
        match self {
            Pointer::Champion => champion_key(pipeline),
            Pointer::Challenger => challenger_key(pipeline),
        }
    }

    fn version(self, key: &str, bytes: &[u8]) -> Result<Option<String>> {
        let format = |source| Error::Format {
            what: key.to_owned(),
            source,
        };
        Ok(match self {
            Pointer::Champion => Some(
                serde_json::from_slice::<Champion>(bytes)
                    .map_err(format)?
                    .version,
            ),
            Pointer::Challenger => {
                serde_json::from_slice::<Challenger>(bytes)
                    .map_err(format)?
                    .version
            }
        })
    }
}
