//! Audit records are never lost quietly: a stopping server finishes every write, and with
//! auditing required a decision whose record cannot be stored is not given.

use std::io::{Read, Write};
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

/// POST `body` to a server on `port` over plain HTTP/1.1; the answer's status.
fn post(port: u16, path: &str, request_id: &str, body: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nx-request-id: {request_id}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

/// The request ids of the prediction records stored under `audit/`.
async fn stored_requests(store: &dyn riskfn_core::registry::store::Store) -> Vec<String> {
    let mut ids = Vec::new();
    for key in store.list("audit/").await.unwrap() {
        if key.starts_with("audit/versions/") || !key.ends_with(".jsonl") {
            continue;
        }
        let obj = store.get(&key).await.unwrap().expect("listed");
        for line in std::str::from_utf8(&obj.bytes).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(id) = v["request_id"].as_str() {
                ids.push(id.to_owned());
            }
        }
    }
    ids.sort();
    ids
}

/// Five records scored, the server sent SIGTERM at once: all five records are in the
/// store (on S3, where each write takes a round trip) when the process has exited.
#[tokio::test]
async fn a_stopped_server_finishes_every_audit_write() {
    let dir = fresh_dir(&tmp(), "audit-stop");
    let server = S3Server::start(&dir);
    let uri = server.uri("models");
    train_into("german_credit", &uri, &server.settings(), false)
        .await
        .unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_predict_node"))
        .arg(format!("127.0.0.1:{port}"))
        .envs(server.env())
        .env("RISKFN_STORE", &uri)
        .env("RISKFN_AUDIT_STORE", "true")
        .env("RISKFN_AUTH", "disabled")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "no server");
        std::thread::sleep(Duration::from_millis(50));
    }
    let body = german_record().await;
    let ids: Vec<String> = (0..5).map(|i| format!("stopped-{i}")).collect();
    for id in &ids {
        assert_eq!(
            post(port, "/v1/pipelines/german_credit/predict", id, &body),
            200
        );
    }
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
    let store = riskfn_core::registry::store::open_with(&uri, &server.settings())
        .await
        .unwrap();
    assert_eq!(stored_requests(store.as_ref()).await, ids);
}

/// The store goes away after the model is loaded. With auditing required the answer is a
/// 503 and no decision; without, the decision is given and the failed write counted.
#[tokio::test]
async fn a_decision_without_its_stored_record_is_refused_when_auditing_is_required() {
    let dir = fresh_dir(&tmp(), "audit-required");
    let server = S3Server::start(&dir);
    let uri = server.uri("models");
    train_into("german_credit", &uri, &server.settings(), false)
        .await
        .unwrap();
    let store = riskfn_core::registry::store::open_with(&uri, &server.settings())
        .await
        .unwrap();
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
