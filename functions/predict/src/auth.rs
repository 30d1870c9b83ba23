//! Who may call: API keys (bearer tokens) on the local server, the API Gateway authorizer
//! under Lambda. Keys are compared in constant time, as sha256 digests.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::Digest;
use subtle::ConstantTimeEq;

use crate::config::ConfigError;
use crate::state::AppState;

#[derive(Clone)]
pub struct ApiKey {
    name: String,
    digest: [u8; 32],
}

/// How callers are authenticated.
#[derive(Clone, Default)]
pub enum Auth {
    /// Nothing configured: a local server refuses to start like this.
    #[default]
    Unset,
    /// Development only: every caller is `anonymous`.
    Disabled,
    /// Under Lambda: API Gateway's authorizer has let the caller in; the caller is the
    /// token's subject.
    Gateway,
    /// `Authorization: Bearer <key>` or `x-api-key: <key>` must match one of these.
    Keys(Vec<ApiKey>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Unset => f.write_str("Unset"),
            Auth::Disabled => f.write_str("Disabled"),
            Auth::Gateway => f.write_str("Gateway"),
            Auth::Keys(k) => write!(
                f,
                "Keys({:?})",
                k.iter().map(|k| &k.name).collect::<Vec<_>>()
            ),
        }
    }
}

fn digest(secret: &str) -> [u8; 32] {
    sha2::Sha256::digest(secret.as_bytes()).into()
}

impl Auth {
    /// Keys from `name:secret,name:secret` (a secret at least 16 characters long).
    pub fn keys(spec: &str) -> Result<Auth, ConfigError> {
        let bad = |reason: String| ConfigError {
            name: "RISKFN_API_KEYS",
            reason,
        };
        let mut keys = Vec::new();
        for (i, item) in spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let (name, secret) = item
                .split_once(':')
                .ok_or_else(|| bad(format!("entry {} is not name:secret", i + 1)))?;
            if name.is_empty() || secret.len() < 16 {
                return Err(bad(format!(
                    "entry {} needs a name and a secret of 16 characters or more",
                    i + 1
                )));
            }
            keys.push(ApiKey {
                name: name.to_owned(),
                digest: digest(secret),
            });
        }
        if keys.is_empty() {
            return Err(bad("no keys".into()));
        }
        Ok(Auth::Keys(keys))
    }
}

/// The authenticated caller, for audit records.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(str::trim);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let body = axum::Json(
        serde_json::json!({ "error": if status == StatusCode::UNAUTHORIZED { "unauthorized" } else { "forbidden" }, "message": message }),
    );
    let mut r = (status, body).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    r
}

/// The caller API Gateway's authorizer let in: the JWT's subject, or its principal.
fn gateway_caller(req: &Request) -> String {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let authorizer = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => c.authorizer.as_ref(),
        Some(RequestContext::ApiGatewayV1(c)) => Some(&c.authorizer),
        _ => None,
    };
    authorizer
        .and_then(|a| {
            a.jwt
                .as_ref()
                .and_then(|j| j.claims.get("sub").cloned())
                .or_else(|| {
                    a.fields
                        .get("principalId")
                        .and_then(|p| p.as_str())
                        .map(str::to_owned)
                })
        })
        .unwrap_or_else(|| "gateway".to_owned())
}

/// Middleware on the protected routes: 401 without credentials, 403 with wrong ones.
pub async fn require(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let caller = match &state.config.auth {
        Auth::Disabled | Auth::Unset => "anonymous".to_owned(),
        Auth::Gateway => gateway_caller(&req),
        Auth::Keys(keys) => {
            let Some(token) = presented(req.headers()) else {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "an API key is required (Authorization: Bearer <key>)",
                );
            };
            let d = digest(token);
            // Compare with every key, without stopping early.
            let mut found: Option<&str> = None;
            for k in keys {
                if bool::from(k.digest.ct_eq(&d)) {
                    found = Some(&k.name);
                }
            }
            match found {
                Some(name) => name.to_owned(),
                None => return refuse(StatusCode::FORBIDDEN, "the API key is not valid"),
            }
        }
    };
    req.extensions_mut().insert(Caller(caller));
    next.run(req).await
}
