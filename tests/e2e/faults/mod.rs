//! The fault suite: the real S3-compatible server behind a proxy that fails, slows, stops
//! and kills ([`proxy`]) while versions are published, promoted, approved and served, and
//! decisions audited. After every operation the store is read past the proxy: no partial
//! version is visible, the champion and challenger pointers name complete, verified
//! versions, and every prediction answered has its stored audit record (or was refused
//! with the documented 503). Once the faults stop, the next run of each succeeds. The
//! figures are printed and written to `target/tmp/fault-suite.txt`, which `tests/run.sh`
//! shows.

mod proxy;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use http_body_util::BodyExt;
use riskfn_core::registry::Registry;
use riskfn_core::registry::audit::{Event, prediction_records};
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::registry::store::open_with;
use riskfn_core::review;
use riskfn_predict::{AppState, Config};
use riskfn_tests::s3_server::S3Server;
use riskfn_tests::{fresh_dir, records, repo, train_into};
use tower::ServiceExt;

use self::proxy::{Fault, Proxy};
use super::tmp;

const P: &str = "german_credit";
/// The share of store requests given a fault while faults are on.
const RATE: f64 = 0.25;

/// What the suite saw.
#[derive(Debug, Default)]
struct Tally {
    operations: usize,
    /// Operations that failed (each with an error, none with a panic) under the faults.
    failed: usize,
    partial_visible: usize,
    /// Champion or challenger pointers found naming a version that is not complete.
    bad_pointers: usize,
    accepted: usize,
    records_lost: usize,
    documented_503: usize,
    other_5xx: usize,
    /// Answers other than 200 and the documented 503 (none expected).
    unexpected: usize,
    next_runs: usize,
    /// Versions verified whole.
    complete: HashSet<String>,
}

impl Tally {
    /// An operation tried through the faults (`ok`: it succeeded), then the store checked.
    async fn tried(&mut self, ok: bool, direct: &Registry) {
        self.operations += 1;
        self.failed += usize::from(!ok);
        check_store(direct, self).await;
    }
}

/// The store as a reader sees it, read past the proxy: every listed version must verify
/// (each file as its manifest says; once verified, a version's create-only files stay as
/// they are) and the pointers must name such versions.
async fn check_store(direct: &Registry, t: &mut Tally) {
    for v in direct.versions(P).await.unwrap() {
        if t.complete.contains(&v) {
            continue;
        }
        let manifest = direct.manifest(P, &v).await.unwrap();
        let mut whole = true;
        for file in manifest.files.keys() {
            whole &= direct.read_verified(&manifest, file).await.is_ok();
        }
        match whole {
            true => t.complete.insert(v),
            false => {
                t.partial_visible += 1;
                false
            }
        };
    }
    let champion = direct.champion(P).await.unwrap().map(|(c, _)| c.version);
    let challenger = direct
        .challenger(P)
        .await
        .unwrap()
        .and_then(|(c, _)| c.version);
    for pointer in champion.iter().chain(&challenger) {
        t.bad_pointers += usize::from(!t.complete.contains(pointer));
    }
}

#[tokio::test]
async fn faults_injected_into_the_store_lose_nothing() {
    let dir = fresh_dir(&tmp(), "faults");
    let server = S3Server::start(&dir);
    let proxy = Proxy::start(&server.endpoint, 0x5EED_F00D).await;
    let uri = server.uri("models");
    let faulty = S3Settings {
        endpoint: Some(proxy.endpoint.clone()),
        // As the predict Lambda is deployed (infra/): a stalled store fails fast.
        timeout: Some(Duration::from_secs(2)),
        ..server.settings()
    };
    let direct = Registry::new(open_with(&uri, &server.settings()).await.unwrap());
    let mut t = Tally::default();

    publish_under_faults(&proxy, &uri, &faulty, &direct, &mut t).await;
    publish_killed(&proxy, &server, &uri, &faulty, &direct, &mut t).await;
    registry_moves_under_faults(&proxy, &uri, &faulty, &direct, &mut t).await;
    serve_and_audit_under_faults(&proxy, &uri, &faulty, &direct, &mut t).await;

    let c = proxy.counts();
    let figures = format!(
        "fault suite: {} faults injected into {} store requests ({} 500 InternalError, {} 503 ServiceUnavailable, {} 503 SlowDown, {} answers lost after the write, {} answers slowed 400 ms, {} connections reset, {} requests refused while stopped, {} held while stalled, {} publishes killed at a write); {} operations tried ({} failed with an error under the faults); {} predictions accepted, {} documented 503s; records lost {}; partial versions visible {}; pointers naming an incomplete version {}; 5xx answers other than the documented 503s {}; other answers {}; next runs after the faults: {} of 4 succeeded",
        c.faults(),
        c.requests.load(Ordering::Relaxed),
        c.injected_of(Fault::Internal),
        c.injected_of(Fault::Unavailable),
        c.injected_of(Fault::SlowDown),
        c.injected_of(Fault::LostAnswer),
        c.injected_of(Fault::SLOW),
        c.injected_of(Fault::Reset),
        c.refused.load(Ordering::Relaxed),
        c.held.load(Ordering::Relaxed),
        c.killed.load(Ordering::Relaxed),
        t.operations,
        t.failed,
        t.accepted,
        t.documented_503,
        t.records_lost,
        t.partial_visible,
        t.bad_pointers,
        t.other_5xx,
        t.unexpected,
        t.next_runs,
    );
    println!("{figures}");
    std::fs::write(tmp().join("fault-suite.txt"), format!("{figures}\n")).unwrap();
    assert_eq!(
        (
            t.records_lost,
            t.partial_visible,
            t.bad_pointers,
            t.other_5xx,
            t.unexpected,
            t.next_runs
        ),
        (0, 0, 0, 0, 0, 4),
        "{figures}"
    );
    assert!(
        c.faults() > 50 && t.failed > 0 && t.accepted > 0,
        "{figures}"
    );
}

/// Trainings publishing through a store that fails a quarter of its requests; then one
/// without faults.
async fn publish_under_faults(
    proxy: &Proxy,
    uri: &str,
    faulty: &S3Settings,
    direct: &Registry,
    t: &mut Tally,
) {
    proxy.set_rate(RATE);
    for _ in 0..4 {
        let ok = train_into(P, uri, faulty, false).await.is_ok();
        t.tried(ok, direct).await;
    }
    proxy.set_rate(0.0);
    publish_after(uri, faulty, direct, t).await;
}

/// The next run: a publish without faults succeeds and leaves the store whole.
async fn publish_after(uri: &str, faulty: &S3Settings, direct: &Registry, t: &mut Tally) {
    train_into(P, uri, faulty, false)
        .await
        .expect("a publish after the faults");
    t.next_runs += 1;
    check_store(direct, t).await;
}

/// `train` as a process, killed when its n-th write reaches the store, for n from the
/// first write to the last of a whole publish; then a run left alone.
async fn publish_killed(
    proxy: &Proxy,
    server: &S3Server,
    uri: &str,
    faulty: &S3Settings,
    direct: &Registry,
    t: &mut Tally,
) {
    let before = proxy.counts().writes.load(Ordering::Relaxed);
    train_into(P, uri, faulty, false).await.unwrap();
    let writes = proxy.counts().writes.load(Ordering::Relaxed) - before;
    let mut env = server.env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", proxy.endpoint.clone()));
    let mut points = vec![1, writes / 3, writes / 2, 2 * writes / 3, writes];
    points.dedup();
    for at in points.into_iter().filter(|&n| n > 0) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_train_node"))
            .args([P, uri])
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        proxy.kill_at_write(Some((child.id(), at)));
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        proxy.kill_at_write(None);
        t.tried(status.success(), direct).await;
    }
    publish_after(uri, faulty, direct, t).await;
}

/// Promotions, rollbacks, proposals with their approval and challenger moves through the
/// failing store; then a promotion without faults.
async fn registry_moves_under_faults(
    proxy: &Proxy,
    uri: &str,
    faulty: &S3Settings,
    direct: &Registry,
    t: &mut Tally,
) {
    let reg = Registry::new(open_with(uri, faulty).await.unwrap());
    let versions = direct.versions(P).await.unwrap();
    assert!(versions.len() >= 3, "{versions:?}");
    let why = "fault suite";
    proxy.set_rate(RATE);
    for (i, v) in versions.iter().cycle().take(16).enumerate() {
        let done = match i % 4 {
            0 => review::promote(&reg, P, v, "maker", why, true)
                .await
                .is_ok(),
            1 => review::rollback(&reg, P, "maker", why).await.is_ok(),
            2 => {
                let proposed = review::propose(&reg, P, v, "maker", why, "gate", false, 1).await;
                proposed.is_ok() && review::approve(&reg, P, v, "checker", why).await.is_ok()
            }
            _ => match reg.challenger(P).await {
                Ok(current) => {
                    let etag = current.as_ref().map(|(_, e)| e.as_str());
                    reg.set_challenger(P, Some(v), etag).await.is_ok()
                }
                Err(_) => false,
            },
        };
        t.tried(done, direct).await;
    }
    proxy.set_rate(0.0);
    let champion = direct.champion(P).await.unwrap().map(|(c, _)| c.version);
    let other = versions
        .iter()
        .find(|v| Some(*v) != champion.as_ref())
        .unwrap();
    let moved = review::promote(&reg, P, other, "maker", "after the faults", true)
        .await
        .unwrap();
    assert!(moved.is_champion(), "{moved:?}");
    assert_eq!(direct.champion(P).await.unwrap().unwrap().0.version, *other);
    t.next_runs += 1;
    check_store(direct, t).await;
}

/// Predictions with auditing required (no stored record, no decision) through the failing
/// store, then through a stopped one and a stalled one, then a healthy one again.
async fn serve_and_audit_under_faults(
    proxy: &Proxy,
    uri: &str,
    faulty: &S3Settings,
    direct: &Registry,
    t: &mut Tally,
) {
    let config = Config {
        audit_to_store: true,
        audit_required: true,
        audit_after_response: false,
        // The champion pointer is read again through the faults every second.
        champion_ttl: Duration::from_secs(1),
        ..Config::default()
    };
    let state = AppState::with_store(config, open_with(uri, faulty).await.unwrap());
    let app = riskfn_predict::router(state);
    let body = records(
        &repo().join("sql/german_credit/data/german_credit.parquet"),
        &["creditability"],
    )
    .await
    .remove(1)
    .to_string();
    let mut accepted = Vec::new();
    let mut ask = async |id: String, t: &mut Tally| {
        let req = axum::http::Request::post("/v1/pipelines/german_credit/predict")
            .header("content-type", "application/json")
            .header("x-request-id", &id)
            .body(axum::body::Body::from(body.clone()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let answer = resp.into_body().collect().await.unwrap().to_bytes();
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        t.operations += 1;
        match status {
            StatusCode::OK => accepted.push(id),
            StatusCode::SERVICE_UNAVAILABLE if answer["error"] == "unavailable" => {
                t.documented_503 += 1
            }
            s if s.is_server_error() => t.other_5xx += 1,
            _ => t.unexpected += 1,
        }
        status
    };
    proxy.set_rate(RATE);
    for i in 0..48 {
        ask(format!("fault-serve-{i}"), t).await;
    }
    proxy.set_rate(0.0);
    proxy.set_down(true);
    let status = ask("fault-stopped".into(), t).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    proxy.set_down(false);
    // A stalled store: each store operation gives up after the store's timeout, and the
    // decision is refused (a Lambda's 10 s are not waited out).
    proxy.set_stalled(true);
    let status = ask("fault-stalled".into(), t).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    proxy.set_stalled(false);
    for i in 0..5 {
        let status = ask(format!("fault-after-{i}"), t).await;
        assert_eq!(status, StatusCode::OK);
    }
    t.next_runs += 1;
    let stored: HashSet<String> = prediction_records(direct.store().as_ref(), P, None)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Prediction { request_id, .. } => Some(request_id),
            _ => None,
        })
        .collect();
    t.accepted = accepted.len();
    t.records_lost = accepted.iter().filter(|id| !stored.contains(*id)).count();
}
