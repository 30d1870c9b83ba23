//! What handlers share: configuration and the model cache (built once, lent to handlers).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use riskfn_core::registry::Registry;
use riskfn_core::registry::store::Store;

use crate::cache::ModelCache;
use crate::config::Config;
use crate::session::Sessions;

#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub cache: ModelCache,
    pub audit: AuditTrail,
    /// The console's sign-in sessions.
    pub sessions: Sessions,
}

/// Audit records written to the store after the answer: the writes in flight (a stopping
/// server finishes them before it exits) and how writes have gone.
#[derive(Debug, Default)]
pub struct AuditTrail {
    pub tasks: tokio_util::task::TaskTracker,
    pub stored: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
}

impl AuditTrail {
    /// Stored, retried, failed, so far.
    pub fn counts(&self) -> [u64; 3] {
        [&self.stored, &self.retried, &self.failed].map(|c| c.load(Ordering::Relaxed))
    }

    /// Wait for every write in flight (no new one is accepted after).
    pub async fn finish(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        let [stored, retried, failed] = self.counts();
        tracing::info!(stored, retried, failed, "audit writes finished");
    }
}

impl AppState {
    /// Open the store named in `config` (S3 settings from the environment). Models load on
    /// first use, not here.
    pub async fn open(config: Config) -> riskfn_core::Result<Arc<Self>> {
        let store = riskfn_core::registry::store::open(&config.store).await?;
        Ok(Self::with_store(config, store))
    }

    /// Serve from an already opened store.
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> Arc<Self> {
        let cache = ModelCache::new(Registry::new(store), config.champion_ttl, config.cache);
        let sessions = Sessions::new(config.session_secret.clone(), config.session_lifetime);
        Arc::new(AppState {
            config,
            cache,
            audit: AuditTrail::default(),
            sessions,
        })
    }
}
