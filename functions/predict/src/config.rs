//! Serving configuration, validated before anything listens.

use std::time::Duration;

/// Settings of the predict function and the local server.
///
/// [`Config::from_env`] reads:
/// - `RISKFN_STORE`: the model store URI (`s3://bucket/prefix`, `file:///path` or a path);
///   default `./store`;
/// - `RISKFN_CHAMPION_TTL_SECS`: how long a champion lookup is trusted before a conditional
///   re-check (default 30);
/// - `RISKFN_MAX_RECORDS`: records per request (default 1000);
/// - `RISKFN_MAX_BODY_BYTES`: request body limit (default 1 MiB).
#[derive(Debug, Clone)]
pub struct Config {
    pub store: String,
    pub champion_ttl: Duration,
    pub max_records: usize,
    pub max_body_bytes: usize,
}

pub const DEFAULT_STORE: &str = "./store";

impl Default for Config {
    fn default() -> Self {
        Config {
            store: DEFAULT_STORE.to_owned(),
            champion_ttl: Duration::from_secs(30),
            max_records: 1000,
            max_body_bytes: 1 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

fn number<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(s) => s.trim().parse().map_err(|_| ConfigError {
            name,
            reason: format!("{s:?} is not a non-negative whole number"),
        }),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Config::default();
        let cfg = Config {
            store: std::env::var("RISKFN_STORE").unwrap_or(d.store),
            champion_ttl: Duration::from_secs(number(
                "RISKFN_CHAMPION_TTL_SECS",
                d.champion_ttl.as_secs(),
            )?),
            max_records: number("RISKFN_MAX_RECORDS", d.max_records)?,
            max_body_bytes: number("RISKFN_MAX_BODY_BYTES", d.max_body_bytes)?,
        };
        if cfg.max_records == 0 {
            return Err(ConfigError {
                name: "RISKFN_MAX_RECORDS",
                reason: "must be at least 1".into(),
            });
        }
        Ok(cfg)
    }
}
