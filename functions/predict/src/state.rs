//! What handlers share: configuration and the model cache (built once, lent to handlers).

use std::sync::Arc;

use riskfn_core::registry::Registry;
use riskfn_core::registry::store::Store;

use crate::cache::ModelCache;
use crate::config::Config;

#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub cache: ModelCache,
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
        let cache = ModelCache::new(Registry::new(store), config.champion_ttl);
        Arc::new(AppState { config, cache })
    }
}
