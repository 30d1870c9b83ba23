//! What handlers share: configuration and the model cache (built once, lent to handlers).

use std::sync::Arc;

use riskfn_core::registry::Registry;

use crate::cache::ModelCache;
use crate::config::Config;

#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub cache: ModelCache,
}

impl AppState {
    /// Open the store named in `config`. Models load on first use, not here.
    pub async fn open(config: Config) -> riskfn_core::Result<Arc<Self>> {
        let store = riskfn_core::store::open(&config.store).await?;
        let cache = ModelCache::new(Registry::new(store), config.champion_ttl);
        Ok(Arc::new(AppState { config, cache }))
    }
}
