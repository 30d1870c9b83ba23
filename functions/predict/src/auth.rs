//! Who may call, and what they may do: API keys (bearer tokens, or the console's cookie) on
//! the local server, the API Gateway authorizer under Lambda. Keys are compared in constant
//! time, as sha256 digests. A caller's roles come with its key (`name+role:secret`) or from
//! its JWT's claims (`roles` or `cognito:groups`).

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
    roles: Roles,
}

/// What a caller may do beyond reading and scoring (which every authenticated caller may).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Roles {
    /// Approve or refuse a proposed version (never one it trained or proposed).
    pub approver: bool,
    /// The model owner: propose or promote a version, roll the champion back.
    pub owner: bool,
}

impl Roles {
    /// Roles from names (`approver`, `owner`); other names are ignored when `strict` is
    /// false (a JWT's groups may hold anything), refused when it is true (a key's spec).
    fn parse<'a>(names: impl Iterator<Item = &'a str>, strict: bool) -> Result<Roles, String> {
        let mut r = Roles::default();
        for n in names.map(str::trim).filter(|n| !n.is_empty()) {
            match n {
                "approver" => r.approver = true,
                "owner" => r.owner = true,
                other if strict => {
                    return Err(format!("unknown role {other:?} (roles: approver, owner)"));
                }
                _ => {}
            }
        }
        Ok(r)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.approver {
            out.push("approver");
        }
        if self.owner {
            out.push("owner");
        }
        out
    }
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
    /// token's subject. A request without an authorizer context is refused (401).
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
    /// Keys from `name:secret,name+role+role:secret` (a secret at least 16 characters
    /// long; roles `approver`, `owner`).
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
            let (who, secret) = item
                .split_once(':')
                .ok_or_else(|| bad(format!("entry {} is not name:secret", i + 1)))?;
            let mut parts = who.split('+');
            let name = parts.next().unwrap_or_default();
            let roles =
                Roles::parse(parts, true).map_err(|e| bad(format!("entry {}: {e}", i + 1)))?;
            if name.is_empty() || secret.len() < 16 {
                return Err(bad(format!(
                    "entry {} needs a name and a secret of 16 characters or more",
                    i + 1
                )));
            }
            if keys.iter().any(|k: &ApiKey| k.name == name) {
                return Err(bad(format!(
                    "entry {}: the name {name} is used twice (a console session names its key)",
                    i + 1
                )));
            }
            keys.push(ApiKey {
                name: name.to_owned(),
                digest: digest(secret),
                roles,
            });
        }
        if keys.is_empty() {
            return Err(bad("no keys".into()));
        }
        Ok(Auth::Keys(keys))
    }
}

/// The authenticated caller: its name (for audit records) and roles.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub roles: Roles,
}

/// The console's cookie: a signed, expiring session token (see [`crate::session`]), so the
/// key itself never sits in the browser's cookie jar.
pub const COOKIE: &str = "riskfn_session";

/// What a request presents: a key (header), or the console's cookie (a session token).
enum Credential<'a> {
    Key(&'a str),
    Session(&'a str),
}

fn presented(headers: &HeaderMap) -> Option<Credential<'_>> {
    header_key(headers)
        .map(Credential::Key)
        .or_else(|| session_cookie(headers).map(Credential::Session))
}

/// The console's session token, if the request's cookies hold one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn header_key(headers: &HeaderMap) -> Option<&str> {
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

impl Auth {
    /// The holder of the key `token`.
    pub fn key_holder(&self, token: &str) -> Option<Caller> {
        self.holder_of(token).map(|(c, _)| c)
    }

    /// The holder of the key `token`, and the key's sha256 (what a session binds).
    pub fn holder_of(&self, token: &str) -> Option<(Caller, [u8; 32])> {
        let d = digest(token);
        self.digest_holder(&d).map(|c| (c, d))
    }

    /// The key named `name`: its holder and its sha256.
    pub fn named_key(&self, name: &str) -> Option<(Caller, [u8; 32])> {
        let Auth::Keys(keys) = self else {
            return None;
        };
        keys.iter().find(|k| k.name == name).map(|k| {
            (
                Caller {
                    name: k.name.clone(),
                    roles: k.roles,
                },
                k.digest,
            )
        })
    }

    /// The holder of the key whose sha256 is `d`, compared with every key in constant time
    /// without stopping early.
    fn digest_holder(&self, d: &[u8; 32]) -> Option<Caller> {
        let Auth::Keys(keys) = self else {
            return None;
        };
        let mut found: Option<&ApiKey> = None;
        for k in keys {
            if bool::from(k.digest.ct_eq(d)) {
                found = Some(k);
            }
        }
        found.map(|k| Caller {
            name: k.name.clone(),
            roles: k.roles,
        })
    }
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

/// Roles from a JWT claim as API Gateway passes it: a JSON list, `[a b]` (how HTTP APIs
/// flatten a list claim), or names separated by spaces or commas.
fn claim_roles(value: &str) -> Roles {
    let list: Vec<String> = serde_json::from_str(value).unwrap_or_else(|_| {
        value
            .trim_matches(|c| c == '[' || c == ']')
            .split([' ', ','])
            .map(str::to_owned)
            .collect()
    });
    Roles::parse(list.iter().map(String::as_str), false).unwrap_or_default()
}

/// The caller API Gateway's authorizer let in, with the roles its JWT's `roles` or
/// `cognito:groups` claim names: the JWT's subject (an HTTP API's JWT authorizer, a REST
/// API's Cognito authorizer), the IAM caller (`AWS_IAM` routes and Function URLs), or a
/// Lambda authorizer's principal. `None` when the request carries no authorizer context:
/// a route or a Function URL left open reaches the function unauthenticated.
fn gateway_caller(req: &Request) -> Option<Caller> {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let (authorizer, iam_user) = match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(c) => (c.authorizer.as_ref()?, None),
        RequestContext::ApiGatewayV1(c) => (&c.authorizer, c.identity.user_arn.clone()),
        _ => return None,
    };
    // A REST API's Cognito authorizer passes its claims as a map of its own.
    let rest_claims: Option<std::collections::HashMap<String, String>> = authorizer
        .fields
        .get("claims")
        .and_then(|c| serde_json::from_value(c.clone()).ok());
    let claims = authorizer
        .jwt
        .as_ref()
        .map(|j| &j.claims)
        .or(rest_claims.as_ref());
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let name = claims
        .and_then(|c| c.get("sub").cloned())
        .or_else(|| authorizer.iam.as_ref().and_then(|i| i.user_arn.clone()))
        .or(iam_user)
        .or_else(|| authorizer.fields.get("principalId").and_then(text))
        .or_else(|| authorizer.fields.get("sub").and_then(text))
        .filter(|n| !n.is_empty())?;
    let mut roles = Roles::default();
    for claim in ["roles", "cognito:groups"] {
        if let Some(v) = claims.and_then(|c| c.get(claim)) {
            let r = claim_roles(v);
            roles.approver |= r.approver;
            roles.owner |= r.owner;
        }
    }
    Some(Caller { name, roles })
}

/// Middleware on the protected routes: 401 without credentials, 403 with wrong ones. A
/// browser asking for a console page without a key gets the sign-in form with its 401.
pub async fn require(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let caller = match &state.config.auth {
        // Development: anyone reads and scores; no one holds a role.
        Auth::Disabled | Auth::Unset => Caller {
            name: "anonymous".to_owned(),
            roles: Roles::default(),
        },
        Auth::Gateway => match gateway_caller(&req) {
            Some(c) => c,
            None => {
                tracing::warn!(path = %req.uri().path(), "refused: no authorizer context (the route or Function URL is not behind API Gateway's authorizer)");
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "no authorizer context: this function answers only through API Gateway's authorizer",
                );
            }
        },
        auth @ Auth::Keys(_) => {
            let console = req.uri().path().starts_with("/console");
            let Some(credential) = presented(req.headers()) else {
                if console {
                    return crate::console::sign_in_page(StatusCode::UNAUTHORIZED);
                }
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "an API key is required (Authorization: Bearer <key>)",
                );
            };
            let holder = match credential {
                Credential::Key(k) => auth.key_holder(k),
                Credential::Session(token) => {
                    state.sessions.holder(token, auth, crate::session::now())
                }
            };
            match holder {
                Some(c) => c,
                None if console => return crate::console::sign_in_page(StatusCode::FORBIDDEN),
                None => return refuse(StatusCode::FORBIDDEN, "the API key is not valid"),
            }
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_roles_and_unknown_roles_are_refused() {
        let auth = Auth::keys("app:0123456789abcdef,val+approver:fedcba9876543210,own+owner+approver:aaaaaaaaaaaaaaaa").unwrap();
        let who = |k: &str| auth.key_holder(k).map(|c| (c.name, c.roles.names()));
        assert_eq!(who("0123456789abcdef"), Some(("app".into(), vec![])));
        assert_eq!(
            who("fedcba9876543210"),
            Some(("val".into(), vec!["approver"]))
        );
        assert_eq!(
            who("aaaaaaaaaaaaaaaa"),
            Some(("own".into(), vec!["approver", "owner"]))
        );
        assert!(who("not-a-key-at-all").is_none());
        let err = Auth::keys("x+admin:0123456789abcdef").unwrap_err();
        assert!(err.reason.contains("admin"), "{err}");
        // A name is one key's (a console session names its key).
        let err = Auth::keys("a:0123456789abcdef,a:fedcba9876543210").unwrap_err();
        assert!(err.reason.contains("used twice"), "{err}");
        assert_eq!(
            auth.named_key("val").map(|(c, d)| (c.name, d)),
            auth.holder_of("fedcba9876543210").map(|(c, d)| (c.name, d))
        );
    }

    #[test]
    fn roles_from_jwt_claims_in_every_shape_api_gateway_sends() {
        assert_eq!(
            claim_roles("[approver owner]").names(),
            vec!["approver", "owner"]
        );
        assert_eq!(claim_roles(r#"["approver"]"#).names(), vec!["approver"]);
        assert_eq!(claim_roles("owner,viewers").names(), vec!["owner"]);
        assert!(claim_roles("admins").names().is_empty());
    }
}
