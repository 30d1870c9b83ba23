//! Serving configuration, validated before anything listens.

use std::time::Duration;

use crate::auth::Auth;
use crate::cache::Limits;

/// A salt nobody can guess, for when none is configured.
fn random_salt() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    let mut out = Vec::with_capacity(32);
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        out.extend_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// Settings of the predict function and the local server.
///
/// [`Config::from_env`] reads:
/// - `RISKFN_STORE`: the model store URI (`s3://bucket/prefix`, `file:///path` or a path);
///   default `./store`;
/// - `RISKFN_CHAMPION_TTL_SECS`: how long a champion lookup is trusted before a conditional
///   re-check (default 30);
/// - `RISKFN_MAX_RECORDS`: records per request (default 1000);
/// - `RISKFN_MAX_BODY_BYTES`: request body limit (default 1 MiB);
/// - `RISKFN_API_KEYS`: `name:secret,...` keys the local server accepts as bearer tokens;
///   `RISKFN_AUTH=disabled` runs it without (development only);
/// - `RISKFN_AUDIT_SALT`: salt of the input hashes in audit records (default: random per
///   process, so hashes cannot be matched across restarts);
/// - `RISKFN_AUDIT_STORE=true`: also write audit records to the store;
/// - `RISKFN_AUDIT_REQUIRED=true`: no stored audit record, no decision (a 503): records are
///   stored before the answer (implies `RISKFN_AUDIT_STORE`);
/// - `RISKFN_SESSION_SECRET` (32 characters or more): signs console sessions (default:
///   random per process, so sessions end with it); `RISKFN_SESSION_MINUTES`: their
///   lifetime (default 480);
/// - `RISKFN_CACHE_VERSIONS`, `RISKFN_CACHE_MB`: loaded versions kept at most (default 32)
///   and their model files' size at most (default 512 MiB), least recently used evicted.
#[derive(Debug, Clone)]
pub struct Config {
    pub store: String,
    pub champion_ttl: Duration,
    pub max_records: usize,
    pub max_body_bytes: usize,
    pub auth: Auth,
    /// Salt of the input hashes in audit records.
    pub audit_salt: Vec<u8>,
    /// Also keep audit records in the store (`audit/<day>/<request>.jsonl`, a line per
    /// record).
    pub audit_to_store: bool,
    /// Store each decision's audit records before answering, and answer 503 if they cannot
    /// be stored.
    pub audit_required: bool,
    /// Write the audit records, and score the challenger in shadow, after the answer is
    /// sent. The local server does; the Lambda must not, since its process may be frozen
    /// as soon as it answers.
    pub audit_after_response: bool,
    /// How many loaded versions, of how many bytes, the cache keeps.
    pub cache: Limits,
    /// Signs console session tokens (random per process when `None`).
    pub session_secret: Option<Vec<u8>>,
    /// How long a console session lasts.
    pub session_lifetime: Duration,
}

pub const DEFAULT_STORE: &str = "./store";

impl Default for Config {
    fn default() -> Self {
        Config {
            store: DEFAULT_STORE.to_owned(),
            champion_ttl: Duration::from_secs(30),
            max_records: 1000,
            max_body_bytes: 1 << 20,
            auth: Auth::Disabled,
            audit_salt: random_salt(),
            audit_to_store: false,
            audit_required: false,
            audit_after_response: false,
            cache: Limits::default(),
            session_secret: None,
            session_lifetime: Duration::from_secs(8 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

/// An on/off setting: on when `1` or `true`.
fn flag(name: &str) -> bool {
    matches!(std::env::var(name).as_deref(), Ok("1" | "true"))
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
    /// The settings of a local server: callers must be authenticated unless that was
    /// explicitly disabled.
    pub fn for_local_server(mut self) -> Result<Self, ConfigError> {
        self.audit_after_response = true;
        match self.auth {
            Auth::Unset => Err(ConfigError {
                name: "RISKFN_API_KEYS",
                reason: "the local server needs API keys (RISKFN_API_KEYS=name:secret,...) or, for development only, RISKFN_AUTH=disabled".into(),
            }),
            Auth::Disabled => {
                tracing::warn!("authentication is disabled: every caller is served");
                Ok(self)
            }
            _ => Ok(self),
        }
    }

    /// The settings of the Lambda: callers are those API Gateway's authorizer let in (and
    /// no one else) unless keys are set, or authentication explicitly disabled, which is
    /// logged.
    pub fn for_lambda(mut self) -> Self {
        match self.auth {
            Auth::Unset => self.auth = Auth::Gateway,
            Auth::Disabled => tracing::warn!(
                "authentication is disabled (RISKFN_AUTH=disabled): every caller is served, with or without an authorizer context"
            ),
            _ => {}
        }
        self
    }

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
            auth: match (
                std::env::var("RISKFN_API_KEYS").ok(),
                std::env::var("RISKFN_AUTH").ok().as_deref(),
            ) {
                (Some(keys), _) => Auth::keys(&keys)?,
                (None, Some("disabled")) => Auth::Disabled,
                (None, Some(other)) => {
                    return Err(ConfigError {
                        name: "RISKFN_AUTH",
                        reason: format!("{other:?}: the only value is \"disabled\""),
                    });
                }
                (None, None) => Auth::Unset,
            },
            audit_salt: std::env::var("RISKFN_AUDIT_SALT")
                .map(String::into_bytes)
                .unwrap_or(d.audit_salt),
            audit_to_store: flag("RISKFN_AUDIT_STORE") || flag("RISKFN_AUDIT_REQUIRED"),
            audit_required: flag("RISKFN_AUDIT_REQUIRED"),
            audit_after_response: d.audit_after_response,
            cache: Limits {
                versions: number("RISKFN_CACHE_VERSIONS", d.cache.versions)?,
                bytes: number("RISKFN_CACHE_MB", d.cache.bytes >> 20)? << 20,
            },
            session_secret: match std::env::var("RISKFN_SESSION_SECRET") {
                Ok(s) if s.len() >= 32 => Some(s.into_bytes()),
                Ok(_) => {
                    return Err(ConfigError {
                        name: "RISKFN_SESSION_SECRET",
                        reason: "must be 32 characters or more".into(),
                    });
                }
                Err(_) => None,
            },
            session_lifetime: Duration::from_secs(
                60 * number("RISKFN_SESSION_MINUTES", d.session_lifetime.as_secs() / 60)?,
            ),
        };
        if cfg.session_lifetime.is_zero() {
            return Err(ConfigError {
                name: "RISKFN_SESSION_MINUTES",
                reason: "must be at least 1".into(),
            });
        }
        if cfg.cache.versions == 0 {
            return Err(ConfigError {
                name: "RISKFN_CACHE_VERSIONS",
                reason: "must be at least 1".into(),
            });
        }
        if cfg.max_records == 0 {
            return Err(ConfigError {
                name: "RISKFN_MAX_RECORDS",
                reason: "must be at least 1".into(),
            });
        }
        Ok(cfg)
    }
}
