//! Audit records are never lost quietly: a stopping server finishes every write, and with
//! auditing required a decision whose record cannot be stored is not given.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use http_body_util::BodyExt;
use riskfn_predict::{AppState, Config};
use riskfn_tests::s3_server::S3Server;
use riskfn_tests::{free_port, fresh_dir, records, repo, train_into};
use tower::ServiceExt;

use super::tmp;

async fn german_record() -> String {
    records(
        &repo().join("sql/german_credit/data/german_credit.parquet"),
        &["creditability"],
    )
    .await
    .remove(3)
    .to_string()
}

/// POST `body` to the local server on `port` with `request_id`; the answer's status.
async fn post(port: u16, path: &str, request_id: &str, body: &str) -> u16 {
    let headers = [
        "Content-Type: application/json".to_owned(),
        format!("x-request-id: {request_id}"),
    ];
    riskfn_tests::http_status(&format!("127.0.0.1:{port}"), "POST", path, &headers, body).await
}

/// The request ids of the stored prediction records, as the registry reads them.
async fn stored_requests(store: &dyn riskfn_core::registry::store::Store) -> Vec<String> {
    let records = riskfn_core::registry::audit::prediction_records(store, "german_credit", None)
        .await
        .unwrap();
    let mut ids: Vec<String> = records
        .into_iter()
        .filter_map(|r| match r.event {
            riskfn_core::registry::audit::Event::Prediction { request_id, .. } => Some(request_id),
            _ => None,
        })
        .collect();
    ids.sort();
    ids
}

/// german_credit trained into a store on a real S3-compatible server: the server (kept
/// running while held), the store's URI and the store opened.
async fn german_on_s3(
    name: &str,
) -> (
    S3Server,
    String,
    std::sync::Arc<dyn riskfn_core::registry::store::Store>,
) {
    let dir = fresh_dir(&tmp(), name);
    let server = S3Server::start(&dir);
    let uri = server.uri("models");
    train_into("german_credit", &uri, &server.settings(), false)
        .await
        .unwrap();
    let store = riskfn_core::registry::store::open_with(&uri, &server.settings())
        .await
        .unwrap();
    (server, uri, store)
}

/// The local server as a process (`predict_node`) on a free port, with `env` on top of
/// no authentication and audit records stored; its log (stdout) into `log`.
fn start_server(env: &[(&str, String)], log: Stdio) -> (std::process::Child, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_predict_node"))
        .arg(format!("127.0.0.1:{port}"))
        .env("RISKFN_AUDIT_STORE", "true")
        .env("RISKFN_AUTH", "disabled")
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "no server");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

/// Send SIGTERM and wait for the process to exit: it must exit cleanly.
fn stop(mut child: std::process::Child) {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit}");
}

/// Five records scored, the server sent SIGTERM at once: all five records are in the
/// store (on S3, where each write takes a round trip) when the process has exited.
#[tokio::test]
async fn a_stopped_server_finishes_every_audit_write() {
    let (server, uri, store) = german_on_s3("audit-stop").await;
    let mut env: Vec<(&str, String)> = server.env();
    env.push(("RISKFN_STORE", uri.clone()));
    let (child, port) = start_server(&env, Stdio::null());
    let body = german_record().await;
    let ids: Vec<String> = (0..5).map(|i| format!("stopped-{i}")).collect();
    for id in &ids {
        assert_eq!(
            post(port, "/v1/pipelines/german_credit/predict", id, &body).await,
            200
        );
    }
    stop(child);
    assert_eq!(stored_requests(store.as_ref()).await, ids);
}

/// `models audit-check` reads the server's own JSON log: every scored record is stored;
/// then one request's object is deleted (a write lost) and exactly its records are
/// reported missing.
#[tokio::test]
async fn audit_check_finds_logged_decisions_without_a_stored_record() {
    let dir = fresh_dir(&tmp(), "audit-check");
    let store_dir = dir.join("store");
    riskfn_tests::train("german_credit", &store_dir, None)
        .await
        .unwrap();
    let log_path = dir.join("server.log");
    let env = [
        ("RISKFN_STORE", store_dir.display().to_string()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".to_owned()),
    ];
    let (child, port) = start_server(&env, std::fs::File::create(&log_path).unwrap().into());
    let one = german_record().await;
    let route = "/v1/pipelines/german_credit/predict";
    for i in 0..3 {
        assert_eq!(post(port, route, &format!("check-{i}"), &one).await, 200);
    }
    assert_eq!(
        post(port, route, "check-list", &format!("[{one},{one}]")).await,
        200
    );
    stop(child);
    let log = std::fs::read_to_string(&log_path).unwrap();
    let store = riskfn_core::registry::store::open(&store_dir.display().to_string())
        .await
        .unwrap();
    let registry = riskfn_core::registry::Registry::new(store);
    let check = |log: String| {
        let registry = registry.clone();
        async move {
            riskfn_batch::models::audit_check::check(&registry, "german_credit", &log)
                .await
                .unwrap()
        }
    };
    let all = check(log.clone()).await;
    assert_eq!(
        (all.logged, all.stored, all.missing.len()),
        (5, 5, 0),
        "{all:?}"
    );
    assert_eq!(all.unreadable_lines, 0);
    let lost: Vec<_> = riskfn_tests::files_under(&store_dir.join("audit"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "check-list.jsonl"))
        .collect();
    assert_eq!(lost.len(), 1);
    std::fs::remove_file(&lost[0]).unwrap();
    let gaps = check(log).await;
    let missing: Vec<(&str, Option<usize>)> = gaps
        .missing
        .iter()
        .map(|m| (m.request_id.as_str(), m.index))
        .collect();
    assert_eq!(missing, [("check-list", Some(0)), ("check-list", Some(1))]);
    assert_eq!(gaps.stored, 3);
}

/// The store goes away after the model is loaded. With auditing required the answer is a
/// 503 and no decision; without, the decision is given and the failed write counted.
#[tokio::test]
async fn a_decision_without_its_stored_record_is_refused_when_auditing_is_required() {
    let (server, _, store) = german_on_s3("audit-required").await;
    let body = german_record().await;
    let ask = |app: axum::Router| {
        let body = body.clone();
        async move {
            let req = axum::http::Request::post("/v1/pipelines/german_credit/predict")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            (status, v)
        }
    };
    let open = |required| {
        let config = Config {
            audit_to_store: true,
            audit_required: required,
            champion_ttl: Duration::from_secs(3600),
            ..Config::default()
        };
        AppState::with_store(config, store.clone())
    };
    let (required, optional) = (open(true), open(false));
    // Both answer (and store) while the store is up.
    for state in [&required, &optional] {
        let (status, v) = ask(riskfn_predict::router(state.clone())).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(state.audit.counts(), [1, 0, 0]);
    }
    drop(server);
    let (status, v) = ask(riskfn_predict::router(required.clone())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(v.get("probability").is_none(), "{v}");
    assert_eq!(required.audit.counts(), [1, 3, 1]);
    let (status, v) = ask(riskfn_predict::router(optional.clone())).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(optional.audit.counts(), [1, 3, 1]);
    let (_, health) = {
        let req = axum::http::Request::get("/health")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = riskfn_predict::router(optional.clone())
            .oneshot(req)
            .await
            .unwrap();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            (),
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
        )
    };
    assert_eq!(health["audit"]["failed"], 1, "{health}");
}
