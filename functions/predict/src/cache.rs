//! Loaded versions, cached across requests (and across warm Lambda invocations), within
//! bounds a caller cannot push.
//!
//! - Versions are kept least recently used first out, within a count and a byte budget
//!   (the size of their model files): a pinned version is immutable, so one evicted is
//!   only read again.
//! - The champion and challenger pointers are re-checked after a TTL with a conditional
//!   read (ETag), so a promote, rollback or shadow takes effect without a redeploy; if the
//!   store cannot be reached, the version already known keeps serving.
//! - A name that is not in the store (a pipeline, a version) is remembered as missing for
//!   the TTL: at most one store read per unknown name per interval, however many requests
//!   ask for it. Pointers, manifests and misses are bounded by count too.
//! - Concurrent first requests for one version share a single load.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;
use riskfn_core::contract::artifact::{MODEL_FILE, Manifest};
use riskfn_core::registry::{Challenger, Champion, Registry, challenger_key, champion_key};
use riskfn_core::scoring::loaded::LoadedVersion;
use riskfn_core::{Error, Result};
use tokio::sync::OnceCell;

type Slot = Arc<OnceCell<Arc<LoadedVersion>>>;

/// How much the cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Loaded versions kept at most.
    pub versions: usize,
    /// The loaded versions' model files, bytes at most (the last one loaded is kept even if
    /// it alone is larger).
    pub bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            versions: 32,
            bytes: 512 << 20,
        }
    }
}

/// Pointers, manifests and remembered misses kept at most, each: more than a lender's
/// pipelines and the versions its callers pin, and well under a MB for made-up ones.
const NAMES: usize = 1024;

#[derive(Debug, Clone)]
struct PointerEntry {
    version: Option<String>,
    /// Empty when the pointer was not in the store.
    etag: String,
    checked: Instant,
}

#[derive(Debug)]
struct VersionEntry {
    slot: Slot,
    /// Its model files' bytes, once loaded.
    bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Missing {
    Version(String, String),
    Manifest(String, String),
}

#[derive(Debug)]
pub struct ModelCache {
    registry: Registry,
    ttl: Duration,
    limits: Limits,
    versions: Mutex<Versions>,
    pointers: Mutex<LruCache<(Pointer, String), PointerEntry>>,
    /// Manifests read for the console: immutable once written.
    manifests: Mutex<LruCache<(String, String), Arc<Manifest>>>,
    /// Names found missing, and when.
    misses: Mutex<LruCache<Missing, Instant>>,
    /// Versions read from the store so far.
    loads: std::sync::atomic::AtomicUsize,
}

#[derive(Debug)]
struct Versions {
    entries: LruCache<(String, String), VersionEntry>,
    bytes: u64,
}

fn names<K: std::hash::Hash + Eq, V>() -> Mutex<LruCache<K, V>> {
    Mutex::new(LruCache::new(NonZeroUsize::new(NAMES).expect("NAMES > 0")))
}

/// A lock whose holder panicked still guards consistent maps (every update is one call).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ModelCache {
    pub fn new(registry: Registry, ttl: Duration, limits: Limits) -> Self {
        ModelCache {
            registry,
            ttl,
            limits,
            versions: Mutex::new(Versions {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
            pointers: names(),
            manifests: names(),
            misses: names(),
            loads: Default::default(),
        }
    }

    /// `Err(NotFound)` if `name` was found missing within the TTL.
    fn known_missing(&self, name: &Missing, what: impl FnOnce() -> String) -> Result<()> {
        let mut misses = lock(&self.misses);
        match misses.get(name) {
            Some(at) if at.elapsed() < self.ttl => Err(Error::not_found(what())),
            Some(_) => {
                misses.pop(name);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Remember `name` as missing if `r` says so.
    fn note_missing<T>(&self, name: Missing, r: Result<T>) -> Result<T> {
        if let Err(Error::NotFound { .. }) = &r {
            lock(&self.misses).put(name, Instant::now());
        }
        r
    }

    /// A version's manifest, read from the store once.
    pub async fn manifest(&self, pipeline: &str, version: &str) -> Result<Arc<Manifest>> {
        let key = (pipeline.to_owned(), version.to_owned());
        if let Some(m) = lock(&self.manifests).get(&key).cloned() {
            return Ok(m);
        }
        let missing = Missing::Manifest(key.0.clone(), key.1.clone());
        self.known_missing(&missing, || format!("version {version} of {pipeline}"))?;
        let read = self.registry.manifest(pipeline, version).await;
        let m = Arc::new(self.note_missing(missing, read)?);
        lock(&self.manifests).put(key, m.clone());
        Ok(m)
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// How many versions have been read from the store.
    pub fn loads(&self) -> usize {
        self.loads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many versions are held, and their model files' bytes.
    pub fn held(&self) -> (usize, u64) {
        let v = lock(&self.versions);
        (v.entries.len(), v.bytes)
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
        let key = (pipeline.to_owned(), version.to_owned());
        let slot = {
            let mut v = lock(&self.versions);
            match v.entries.get(&key) {
                Some(e) => e.slot.clone(),
                None => {
                    drop(v);
                    let missing = Missing::Version(key.0.clone(), key.1.clone());
                    self.known_missing(&missing, || format!("version {version} of {pipeline}"))?;
                    let mut v = lock(&self.versions);
                    let e = v.entries.get_or_insert(key.clone(), || VersionEntry {
                        slot: Slot::default(),
                        bytes: 0,
                    });
                    e.slot.clone()
                }
            }
        };
        let loaded = slot
            .get_or_try_init(|| async {
                let v = self.registry.load(pipeline, version).await;
                let v = self.note_missing(Missing::Version(key.0.clone(), key.1.clone()), v)?;
                self.loads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(
                    pipeline,
                    version,
                    sha256 = v.scorer.content_sha256(),
                    "model loaded"
                );
                let v = Arc::new(v);
                self.admit(&key, &slot, model_bytes(&v.manifest));
                Ok::<_, Error>(v)
            })
            .await;
        if loaded.is_err() {
            // A failed load is not kept: the miss (if it was one) is remembered instead.
            let mut v = lock(&self.versions);
            if v.entries
                .peek(&key)
                .is_some_and(|e| Arc::ptr_eq(&e.slot, &slot))
            {
                v.entries.pop(&key);
            }
        }
        Ok(loaded?.clone())
    }

    /// Count a loaded version's bytes, then evict the least recently used others until
    /// the cache is within its limits.
    fn admit(&self, key: &(String, String), slot: &Slot, bytes: u64) {
        let mut v = lock(&self.versions);
        if let Some(e) = v.entries.peek_mut(key)
            && Arc::ptr_eq(&e.slot, slot)
        {
            e.bytes = bytes;
            v.bytes += bytes;
        }
        while v.entries.len() > self.limits.versions.max(1)
            || (v.bytes > self.limits.bytes && v.entries.len() > 1)
        {
            let Some(old) = (v.entries.iter().rev())
                .map(|(k, _)| k)
                .find(|k| *k != key)
                .cloned()
            else {
                break;
            };
            if let Some(e) = v.entries.pop(&old) {
                v.bytes -= e.bytes;
            }
            tracing::info!(pipeline = %old.0, version = %old.1, "version evicted from the cache");
        }
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
    /// the store cannot be reached, the version already known stays. A pointer not in the
    /// store is remembered as such for the TTL too.
    async fn pointer(&self, kind: Pointer, pipeline: &str) -> Result<Option<String>> {
        let slot = (kind, pipeline.to_owned());
        let known = lock(&self.pointers).get(&slot).cloned();
        if let Some(k) = &known
            && k.checked.elapsed() < self.ttl
        {
            return Ok(k.version.clone());
        }
        let key = kind.key(pipeline);
        let read = match &known {
            Some(k) if !k.etag.is_empty() => {
                self.registry.store().get_if_changed(&key, &k.etag).await
            }
            _ => self.registry.store().get(&key).await,
        };
        let absent = || PointerEntry {
            version: None,
            etag: String::new(),
            checked: Instant::now(),
        };
        let entry = match (read, known) {
            (Ok(Some(obj)), _) => PointerEntry {
                version: kind.version(&key, &obj.bytes)?,
                etag: obj.etag,
                checked: Instant::now(),
            },
            // Unchanged since the ETag.
            (Ok(None), Some(k)) if !k.etag.is_empty() => PointerEntry {
                checked: Instant::now(),
                ..k
            },
            (Ok(None), _) | (Err(Error::NotFound { .. }), _) => absent(),
            (Err(e), Some(k)) => {
                tracing::warn!(pipeline, key, error = %e, "pointer re-check failed; keeping the known version");
                PointerEntry {
                    checked: Instant::now(),
                    ..k
                }
            }
            (Err(e), None) => return Err(e),
        };
        let version = entry.version.clone();
        lock(&self.pointers).put(slot, entry);
        Ok(version)
    }
}

/// The bytes a loaded version is counted as: its model file's (what it parses).
fn model_bytes(m: &Manifest) -> u64 {
    m.files.get(MODEL_FILE).map_or(0, |f| f.bytes)
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
