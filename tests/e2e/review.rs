//! Maker-checker promotion and the review console's routes, end to end: a pipeline with
//! `[gate] approvals = 1` trained into a store, served with keys and roles, approved by
//! another identity, compared, refused, proposed again, rolled back; a store of 100
//! versions listed whole.

use std::path::Path;
use std::time::Instant;

use axum::http::StatusCode;
use http_body_util::BodyExt;
use riskfn_batch::train::{Promotion, TrainOptions, TrainReport};
use riskfn_predict::auth::Auth;
use riskfn_predict::{AppState, Config};
use tower::ServiceExt;

use crate::tmp;

// The tests train as "trainer" (`riskfn_tests::train_options`): its key holds every role,
// so only four eyes stands between it and approving its own version.
pub(crate) const TRAINER: &str = "trainer-key-0123456789";
pub(crate) const VALIDATOR: &str = "validator-key-0123456789";
const APP: &str = "app-key-0123456789abcdef";

/// The served state of the store at `store`, with [`keys`].
pub(crate) async fn keyed_state(store: &Path) -> std::sync::Arc<AppState> {
    AppState::open(Config {
        store: store.display().to_string(),
        auth: keys(),
        ..Config::default()
    })
    .await
    .unwrap()
}

pub(crate) fn keys() -> Auth {
    Auth::keys(&format!(
        "trainer+owner+approver:{TRAINER},validator+approver:{VALIDATOR},app:{APP}"
    ))
    .unwrap()
}

async fn train(sql: &Path, store: &Path, family: &str) -> TrainReport {
    riskfn_batch::train::train(&TrainOptions {
        sql_dir: sql.to_path_buf(),
        families: Some(vec![family.to_owned()]),
        ..riskfn_tests::train_options("german_credit", &store.display().to_string())
    })
    .await
    .unwrap()
}

/// german_credit under `[gate] approvals = 1`, copied under a fresh folder `name`.
fn four_eyes_pipeline(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = riskfn_tests::fresh_dir(&tmp(), name);
    let sql = dir.join("sql");
    riskfn_tests::copy_pipeline("german_credit", &sql, |file, text| match file {
        "pipeline.toml" => format!("{text}\n[gate]\napprovals = 1\n"),
        _ => text,
    });
    (sql, dir.join("store"))
}

/// A store with two versions of the four-eyes german_credit, both pending: its path and
/// the versions, oldest first.
pub(crate) async fn pending_store(name: &str) -> (std::path::PathBuf, String, String) {
    let (sql, store) = four_eyes_pipeline(name);
    let v1 = train(&sql, &store, "logistic_regression").await.version;
    let v2 = train(&sql, &store, "scorecard").await.version;
    (store, v1, v2)
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or(serde_json::Value::Null)
    }
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<serde_json::Value>,
) -> Answer {
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let resp = app
        .clone()
        .oneshot(req.body(axum::body::Body::from(body)).unwrap())
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn reason(text: &str) -> Option<serde_json::Value> {
    Some(serde_json::json!({ "reason": text }))
}

/// The string values of the raw data (category levels and the like): none of them may
/// appear in what the console reads.
async fn raw_strings() -> Vec<String> {
    let rows = riskfn_tests::records(
        &riskfn_tests::repo().join("sql/german_credit/data/german_credit.parquet"),
        &[],
    )
    .await;
    let mut out: Vec<String> = rows
        .iter()
        .flat_map(|r| r.as_object().unwrap().values())
        .filter_map(|v| v.as_str())
        .filter(|s| s.len() >= 6)
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[tokio::test]
async fn four_eyes_through_the_console_routes() {
    let (sql, store) = four_eyes_pipeline("review");
    let first = train(&sql, &store, "logistic_regression").await;
    assert_eq!(
        first.promotion,
        Some(Promotion::Pending {
            approvals: 0,
            required: 1
        }),
        "a version that passed the gate waits for approval"
    );
    assert!(!first.champion);
    let state = keyed_state(&store).await;
    let app = riskfn_predict::router(state.clone());
    let registry = state.cache.registry().clone();
    let champion = || async {
        registry
            .champion("german_credit")
            .await
            .unwrap()
            .map(|(c, _)| c.version)
    };
    let approve = |v: &str| format!("/v1/pipelines/german_credit/versions/{v}/approve");
    let v1 = first.version.clone();

    // Nothing without a key: pages (the sign-in form instead), reads and actions.
    let page = call(&app, "GET", "/console", None, None).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.text.contains("Sign in"), "{}", page.text);
    for (m, uri) in [
        ("GET", "/console/console.js".to_owned()),
        ("GET", "/v1/me".to_owned()),
        ("GET", "/v1/pipelines/german_credit/versions".to_owned()),
        ("POST", approve(&v1)),
        ("POST", "/v1/pipelines/german_credit/rollback".to_owned()),
    ] {
        assert_eq!(
            call(&app, m, &uri, None, reason("x")).await.status,
            StatusCode::UNAUTHORIZED,
            "{m} {uri}"
        );
    }
    let me = call(&app, "GET", "/v1/me", Some(VALIDATOR), None)
        .await
        .json();
    assert_eq!(
        me,
        serde_json::json!({"name": "validator", "roles": ["approver"]})
    );

    // A key without the approver role cannot approve; the maker cannot approve its own.
    let a = call(&app, "POST", &approve(&v1), Some(APP), reason("fine")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    assert!(
        a.json()["message"]
            .as_str()
            .unwrap()
            .contains("approver role"),
        "{}",
        a.text
    );
    let a = call(&app, "POST", &approve(&v1), Some(TRAINER), reason("mine")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
    assert!(
        a.json()["message"].as_str().unwrap().contains("four eyes"),
        "{}",
        a.text
    );
    assert_eq!(champion().await, None);
    // A reason is required, and named when missing.
    let a = call(&app, "POST", &approve(&v1), Some(VALIDATOR), reason("  ")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    assert_eq!(a.json()["fields"][0]["field"], "reason", "{}", a.text);
    let a = call(
        &app,
        "POST",
        &approve(&v1),
        Some(VALIDATOR),
        Some(serde_json::json!({"why": 1})),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    // Another identity's approval makes it champion.
    let a = call(
        &app,
        "POST",
        &approve(&v1),
        Some(VALIDATOR),
        reason("validated on the 2026 sample"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["outcome"]["status"], "promoted");
    assert_eq!(champion().await.as_deref(), Some(v1.as_str()));
    // Approving again: nothing pending is left to approve.
    let a = call(
        &app,
        "POST",
        &approve(&v1),
        Some(VALIDATOR),
        reason("again"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);

    // A second version: pending; listed, compared, refused, proposed again, approved.
    // The same family on the same data: it passes the gate against the first.
    let second = train(&sql, &store, "logistic_regression").await;
    let v2 = second.version.clone();
    assert!(matches!(second.promotion, Some(Promotion::Pending { .. })));
    let list = call(
        &app,
        "GET",
        "/v1/pipelines/german_credit/versions",
        Some(APP),
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let l = list.json();
    assert_eq!(l["champion"], v1.as_str());
    assert_eq!(l["versions"][0]["version"], v2.as_str(), "newest first");
    assert_eq!(l["versions"][0]["review"]["status"], "pending");
    assert_eq!(
        l["versions"][0]["review"]["makers"],
        serde_json::json!(["trainer"])
    );
    assert_eq!(
        l["versions"][1]["review"]["approvals"][0]["by"],
        "validator"
    );
    assert_eq!(l["versions"][1]["champion"], true);
    assert_eq!(l["versions"][1]["gate_passed"], true);
    let c = call(
        &app,
        "GET",
        &format!("/v1/pipelines/german_credit/compare?b={v2}"),
        Some(APP),
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    let cj = c.json();
    assert_eq!(
        cj["a"]["version"],
        v1.as_str(),
        "a defaults to the champion"
    );
    let swap = &cj["swap"];
    let cells: u64 = ["both_approve", "both_decline", "swap_in", "swap_out"]
        .iter()
        .map(|k| swap[k]["rows"].as_u64().unwrap())
        .sum();
    // Same data, same split: every test row was scored by both.
    assert_eq!(swap["rows"].as_u64(), Some(first.metrics.test.rows));
    assert_eq!(cells, first.metrics.test.rows);
    let bad: u64 = ["both_approve", "both_decline", "swap_in", "swap_out"]
        .iter()
        .map(|k| swap[k]["bad"].as_u64().unwrap())
        .sum();
    assert_eq!(bad, first.metrics.test.positives);
    assert!(cj["a"]["roc"].as_array().unwrap().len() > 10);
    assert!(!cj["kept"].as_array().unwrap().is_empty());
    let detail = call(
        &app,
        "GET",
        &format!("/v1/pipelines/german_credit/versions/{v2}"),
        Some(APP),
        None,
    )
    .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text);
    let report = call(
        &app,
        "GET",
        &format!("/v1/pipelines/german_credit/versions/{v2}/report"),
        Some(APP),
        None,
    )
    .await;
    assert_eq!(report.status, StatusCode::OK);
    // The console's reads hold no applicant's values.
    let levels = raw_strings().await;
    assert!(levels.len() > 20, "{levels:?}");
    for read in [&list, &c, &detail] {
        for s in &levels {
            assert!(
                !read.text.contains(s.as_str()),
                "{s:?} in {}",
                &read.text[..200.min(read.text.len())]
            );
        }
    }

    let refuse = call(
        &app,
        "POST",
        &format!("/v1/pipelines/german_credit/versions/{v2}/refuse"),
        Some(VALIDATOR),
        reason("KS too low"),
    )
    .await;
    assert_eq!(refuse.status, StatusCode::OK, "{}", refuse.text);
    assert_eq!(refuse.json()["review"]["status"], "refused");
    let a = call(&app, "POST", &approve(&v2), Some(VALIDATOR), reason("late")).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    // Only an owner promotes (here: proposes again).
    let p = call(
        &app,
        "POST",
        &format!("/v1/pipelines/german_credit/versions/{v2}/promote"),
        Some(VALIDATOR),
        reason("x"),
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.text);
    let p = call(
        &app,
        "POST",
        &format!("/v1/pipelines/german_credit/versions/{v2}/promote"),
        Some(TRAINER),
        reason("threshold reviewed"),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(p.json()["outcome"]["status"], "pending");
    let a = call(
        &app,
        "POST",
        &approve(&v2),
        Some(VALIDATOR),
        reason("now fine"),
    )
    .await;
    assert_eq!(a.json()["outcome"]["status"], "promoted", "{}", a.text);
    assert_eq!(champion().await.as_deref(), Some(v2.as_str()));

    // Roll back: owners only, with a reason; the card's history names who and why.
    let r = call(
        &app,
        "POST",
        "/v1/pipelines/german_credit/rollback",
        Some(VALIDATOR),
        reason("x"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &app,
        "POST",
        "/v1/pipelines/german_credit/rollback",
        Some(TRAINER),
        reason("complaints"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(champion().await.as_deref(), Some(v1.as_str()));
    let card = call(
        &app,
        "GET",
        &format!("/v1/pipelines/german_credit/versions/{v2}/card"),
        Some(APP),
        None,
    )
    .await
    .json();
    let history: Vec<(String, String, String)> = card["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let s = |k: &str| h[k].as_str().unwrap_or_default().to_owned();
            (s("event"), s("by"), s("reason"))
        })
        .collect();
    let has = |e: &str, by: &str, why: &str| {
        history
            .iter()
            .any(|h| h == &(e.to_owned(), by.to_owned(), why.to_owned()))
    };
    assert!(has("trained", "trainer", ""), "{history:?}");
    assert!(has("refused", "validator", "KS too low"), "{history:?}");
    assert!(
        has("proposed", "trainer", "threshold reviewed"),
        "{history:?}"
    );
    assert!(has("approved", "validator", "now fine"), "{history:?}");
    assert!(
        has("rolled back from", "trainer", "complaints"),
        "{history:?}"
    );

    // The console: signing in gives a cookie that opens the page and its script.
    let req = axum::http::Request::post("/console/session")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!("key={VALIDATOR}")))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(VALIDATOR),
        "the cookie holds a digest, not the key"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    for uri in ["/console", "/console/console.js", "/v1/me"] {
        let req = axum::http::Request::get(uri)
            .header("cookie", &pair)
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(
            app.clone().oneshot(req).await.unwrap().status(),
            StatusCode::OK,
            "{uri}"
        );
    }
    let wrong = axum::http::Request::post("/console/session")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("key=not-a-valid-key-at-all"))
        .unwrap();
    let resp = app.clone().oneshot(wrong).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("set-cookie").is_none());
    let _ = page.headers;
}

/// A store of 100 versions: the versions route lists every one, each manifest read once
/// (later reads come from memory). Times are printed, not asserted; on the server's
/// runtime (several threads), as `riskfn serve` runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_100_versions_is_listed_whole() {
    use riskfn_core::contract::artifact::{MANIFEST_FILE, Manifest};
    let dir = riskfn_tests::fresh_dir(&tmp(), "review-100");
    let store = dir.join("store");
    let t = riskfn_tests::train("german_credit", &store, None)
        .await
        .unwrap();
    let registry = riskfn_core::registry::Registry::new(
        riskfn_core::registry::store::open(&store.display().to_string())
            .await
            .unwrap(),
    );
    let manifest: Manifest = registry
        .manifest("german_credit", &t.version)
        .await
        .unwrap();
    for i in 1..100 {
        let mut m = manifest.clone();
        m.version = format!("{}-{i:03}", t.version);
        m.metrics.validation.roc_auc -= i as f64 * 1e-4;
        let mut files = Vec::new();
        for name in manifest.files.keys().filter(|f| *f != MANIFEST_FILE) {
            files.push((
                name.clone(),
                registry.read_verified(&manifest, name).await.unwrap(),
            ));
        }
        registry.publish(m, files).await.unwrap();
    }
    let app = riskfn_predict::router(keyed_state(&store).await);
    let uri = "/v1/pipelines/german_credit/versions";
    let mut times = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let a = call(&app, "GET", uri, Some(APP), None).await;
        times.push(t0.elapsed());
        assert_eq!(a.status, StatusCode::OK);
        let rows = a.json()["versions"].as_array().unwrap().len();
        assert_eq!(rows, 100);
    }
    let t0 = Instant::now();
    let c = call(
        &app,
        "GET",
        &format!("/v1/pipelines/german_credit/compare?b={}-050", t.version),
        Some(APP),
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    eprintln!(
        "versions route, 100 versions: first {:?}, then {:?}; compare {:?}",
        times[0],
        &times[1..],
        t0.elapsed()
    );
}
