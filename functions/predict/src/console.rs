//! The review console: a static page and a small script over the JSON routes, served behind
//! the same auth as everything else, and the sign-in that gives a browser its cookie.
//! Nothing here reads the store: the page fetches what it shows.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::auth::{Auth, COOKIE, session_cookie};
use crate::state::AppState;

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

/// Scripts and styles from this origin only; frames (the report, the card) too.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// The sign-in form, answered with 401 (no key) or 403 (a wrong one) to a browser that
/// asked for a console page.
pub fn sign_in_page(status: StatusCode) -> Response {
    let note = if status == StatusCode::FORBIDDEN {
        "<p class=\"error\">That key is not valid.</p>"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>riskfn console: sign in</title>\
<meta name=\"viewport\" content=\"width=device-width\"><style>body{{font:15px system-ui,sans-serif;max-width:28em;margin:4em auto}}\
input{{width:100%;padding:.4em;margin:.4em 0}}.error{{color:#b00}}</style></head><body>\
<h1>riskfn model review</h1>{note}<form method=\"post\" action=\"/console/session\">\
<label for=\"key\">API key</label><input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in</button></form></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        html,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct SignIn {
    key: String,
}

/// `POST /console/session` (a form with `key`): a valid key gets a session token (a
/// cookie for the session's lifetime) and is sent to the console; another gets the form
/// again with 403.
pub async fn session(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if !matches!(state.config.auth, Auth::Keys(_)) {
        // Under Lambda the gateway signs callers in; in development no one needs to.
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/console")]).into_response();
    }
    let key = serde_urlencoded::from_bytes::<SignIn>(&body)
        .map(|s| s.key)
        .unwrap_or_default();
    let Some((holder, digest)) = state.config.auth.holder_of(key.trim()) else {
        return sign_in_page(StatusCode::FORBIDDEN);
    };
    let token = state
        .sessions
        .issue(&holder.name, &digest, crate::session::now());
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        state.sessions.lifetime().as_secs(),
        if over_tls(&headers) { "; Secure" } else { "" }
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/console".to_owned()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

/// Whether the browser reached the server over TLS (a proxy in front says so).
fn over_tls(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// `POST /console/sign-out`: the session is revoked (its token refused from now on,
/// wherever it was copied to) and the cookie cleared.
pub async fn sign_out(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(token) = session_cookie(&headers) {
        state.sessions.revoke(token, crate::session::now());
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/console".to_owned()),
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
            ),
        ],
    )
        .into_response()
}
