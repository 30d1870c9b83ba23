//! Access control, audit records and hostile input.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use http_body_util::BodyExt;
use proptest::prelude::*;
use riskfn_predict::auth::Auth;
use riskfn_predict::{AppState, Config};
use riskfn_tests::{german, records, repo};
use tower::ServiceExt;

use super::tmp;

const KEY: &str = "lender-key-0123456789abcdef";

async fn app(auth: Auth, audit_to_store: bool) -> axum::Router {
    let t = german(&tmp()).await;
    let state = AppState::open(Config {
        store: t.store.display().to_string(),
        auth,
        audit_to_store,
        audit_salt: b"test-salt".to_vec(),
        ..Config::default()
    })
    .await
    .unwrap();
    riskfn_predict::router(state)
}

async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (StatusCode, String) {
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(axum::body::Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn the_local_server_wants_a_key_401_without_403_wrong() {
    let app = app(Auth::keys(&format!("lender:{KEY}")).unwrap(), false).await;
    let (s, _) = send(&app, "GET", "/v1/pipelines", &[], String::new()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = send(
        &app,
        "GET",
        "/v1/pipelines",
        &[("authorization", "Bearer not-the-key-at-all-123")],
        String::new(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = send(
        &app,
        "GET",
        "/v1/pipelines",
        &[("authorization", &format!("Bearer {KEY}"))],
        String::new(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = send(
        &app,
        "GET",
        "/v1/pipelines",
        &[("x-api-key", KEY)],
        String::new(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = send(
        &app,
        "POST",
        "/v1/pipelines/german_credit/predict",
        &[],
        "{}".into(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Liveness and the API's description stay open.
    assert_eq!(
        send(&app, "GET", "/health", &[], String::new()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, "GET", "/openapi.json", &[], String::new())
            .await
            .0,
        StatusCode::OK
    );
    // Without keys a local server does not start, unless explicitly disabled.
    assert!(
        Config {
            auth: Auth::Unset,
            ..Config::default()
        }
        .for_local_server()
        .is_err()
    );
    assert!(
        Auth::keys("short:secret").is_err(),
        "short secrets are refused"
    );
}

/// A writer the test can read back: what the server logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn audit_records_name_the_caller_and_hide_applicant_values() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Callsites another test's thread registered first would otherwise keep the interest
    // computed without this subscriber (and its log would miss their lines).
    tracing::callsite::rebuild_interest_cache();

    let app = app(Auth::keys(&format!("lender:{KEY}")).unwrap(), true).await;
    let mut record = records(
        &repo().join("sql/german_credit/data/german_credit.parquet"),
        &["creditability"],
    )
    .await
    .remove(3);
    record["purpose"] = "zz-private-purpose-zz".into();
    record["credit_amount"] = 987_654.into();
    let auth = format!("Bearer {KEY}");
    let headers = [
        ("authorization", auth.as_str()),
        ("x-request-id", "req-audit-1"),
    ];
    let (s, body) = send(
        &app,
        "POST",
        "/v1/pipelines/german_credit/predict",
        &headers,
        record.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // A refused record: its value must not be logged either.
    let mut bad = record.clone();
    bad["age_in_years"] = "zz-private-age-zz".into();
    let (s, _) = send(
        &app,
        "POST",
        "/v1/pipelines/german_credit/predict",
        &headers,
        bad.to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // the stored copy is written in the background

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let audit: Vec<&str> = log.lines().filter(|l| l.contains("input_sha256")).collect();
    assert_eq!(audit.len(), 1, "one record per scored applicant:\n{log}");
    for needle in [
        "\"caller\\\":\\\"lender\\\"",
        "req-audit-1",
        "german_credit",
        "decision",
        "model_sha256",
    ] {
        assert!(
            audit[0].contains(needle),
            "audit record lacks {needle}: {}",
            audit[0]
        );
    }
    let t = german(&tmp()).await;
    let mut stored = String::new();
    for e in riskfn_tests::files_under(&t.store.join("audit")) {
        stored.push_str(&std::fs::read_to_string(e).unwrap());
    }
    assert!(
        stored.contains("req-audit-1") && stored.contains("input_sha256"),
        "stored audit: {stored}"
    );
    for value in ["zz-private-purpose-zz", "987654", "zz-private-age-zz"] {
        assert!(
            !log.contains(value),
            "the log holds an applicant value {value}"
        );
        assert!(
            !stored.contains(value),
            "the stored audit holds an applicant value {value}"
        );
    }
}

const CANARY: &str = "zz-canary-5e1f-zz";
const CANARY_NUMBER: i64 = 918_273_645;

/// A german_credit record with the canary in every field: each string field the canary
/// string, each number the canary number (a valid record: it scores).
async fn canary_record() -> serde_json::Value {
    let mut record = records(
        &repo().join("sql/german_credit/data/german_credit.parquet"),
        &["creditability"],
    )
    .await
    .remove(0);
    for (_, v) in record.as_object_mut().unwrap().iter_mut() {
        *v = match v {
            serde_json::Value::String(_) => CANARY.into(),
            _ => CANARY_NUMBER.into(),
        };
    }
    record
}

/// The canary, planted in every field of a record, is in no answer, no log line and no
/// stored object on any error path of the predict route: 401, 404 (pipeline, version),
/// 400 (JSON that does not parse, values of the wrong type, records that are not
/// objects), 413 (records, bytes), 422 (an undefined feature, outside the population) and
/// 503 (the decision's audit record could not be stored).
#[tokio::test(flavor = "current_thread")]
async fn a_canary_in_every_field_is_in_no_answer_log_or_stored_record_on_any_error_path() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Callsites another test's thread registered first would otherwise keep the interest
    // computed without this subscriber.
    tracing::callsite::rebuild_interest_cache();

    // A german_credit copy that flags records outside its population and has a feature
    // undefined for a zero duration (an integer ratio), in a store whose audit writes fail.
    let dir = riskfn_tests::fresh_dir(&tmp(), "canary");
    let pipeline = riskfn_tests::copy_pipeline("german_credit", &dir, |file, text| match file {
        "pipeline.toml" => text.replace("\"refuse\"", "\"flag\""),
        "02_features.sql" => text.replace(
            "FROM clean",
            ", credit_amount / duration_months AS whole_monthly FROM clean",
        ),
        _ => text,
    });
    let store = dir.join("store");
    riskfn_tests::train(&pipeline.display().to_string(), &store, None)
        .await
        .unwrap();
    // Training's own record is there: the folder becomes a file.
    std::fs::remove_dir_all(store.join("audit")).unwrap();
    std::fs::write(store.join("audit"), "not a folder").unwrap();
    let open = async |store: &std::path::Path, auth: Auth, audit_required: bool| {
        AppState::open(Config {
            store: store.display().to_string(),
            auth,
            audit_to_store: true,
            audit_required,
            audit_after_response: false,
            ..Config::default()
        })
        .await
        .unwrap()
    };
    let keyed = || Auth::keys(&format!("lender:{KEY}")).unwrap();
    let flagging = riskfn_predict::router(open(&store, keyed(), false).await);
    let refusing = riskfn_predict::router(open(&german(&tmp()).await.store, keyed(), false).await);
    let audit_state = open(&store, keyed(), true).await;
    let auditing = riskfn_predict::router(audit_state.clone());

    let record = canary_record().await;
    let with = |field: &str, v: serde_json::Value| {
        let mut r = record.clone();
        r[field] = v;
        r.to_string()
    };
    let every_field_a_string = {
        let mut r = record.clone();
        r.as_object_mut()
            .unwrap()
            .values_mut()
            .for_each(|v| *v = CANARY.into());
        r.to_string()
    };
    let many = serde_json::Value::from(vec![record.clone(); 1001]).to_string();
    let huge = with("purpose", CANARY.repeat(70_000).into());
    let truncated = record.to_string()[..record.to_string().len() / 2].to_owned();
    let not_objects = serde_json::json!([CANARY, CANARY_NUMBER]).to_string();
    let predict = "/v1/pipelines/german_credit/predict";
    let pinned = format!("{predict}?version=v-does-not-exist");
    let auth = format!("Bearer {KEY}");
    let key = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    // (path, app, uri, headers), body, the status it must answer.
    type Case<'a> = (&'a str, &'a axum::Router, &'a str, &'a [(&'a str, &'a str)]);
    let cases: Vec<(Case<'_>, String, StatusCode)> = vec![
        (
            ("no key", &flagging, predict, &[]),
            record.to_string(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            (
                "unknown pipeline",
                &flagging,
                "/v1/pipelines/nope/predict",
                &key,
            ),
            record.to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            ("unknown version", &flagging, &pinned, &key),
            record.to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            ("truncated JSON", &flagging, predict, &key),
            truncated,
            StatusCode::BAD_REQUEST,
        ),
        (
            ("wrong types", &flagging, predict, &key),
            every_field_a_string,
            StatusCode::BAD_REQUEST,
        ),
        (
            ("not objects", &flagging, predict, &key),
            not_objects,
            StatusCode::BAD_REQUEST,
        ),
        (
            ("too many records", &flagging, predict, &key),
            many,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            ("too many bytes", &flagging, predict, &key),
            huge,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            ("undefined feature", &flagging, predict, &key),
            with("duration_in_month", 0.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            ("outside the population", &refusing, predict, &key),
            with("credit_amount", (-CANARY_NUMBER).into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            ("audit record not stored", &auditing, predict, &key),
            record.to_string(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ];
    let number = CANARY_NUMBER.to_string();
    for ((name, app, uri, headers), body, want) in cases {
        let (status, answer) = send(app, "POST", uri, headers, body).await;
        assert_eq!(status, want, "{name}: {answer}");
        assert!(
            !answer.contains(CANARY) && !answer.contains(&number),
            "{name}: {answer}"
        );
    }
    // The 503 path ran: one request's records failed after every retry.
    assert_eq!(audit_state.audit.counts(), [0, 3, 1]);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        !log.contains(CANARY) && !log.contains(&number),
        "the log:\n{log}"
    );
    for file in riskfn_tests::files_under(&dir) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        assert!(
            !text.contains(CANARY) && !text.contains(&number),
            "{}",
            file.display()
        );
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,24}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("age_in_years"),
            Just("purpose"),
            Just("credit_amount"),
            Just("housing")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    ".{0,12}",
                    Just("duration_in_month".to_owned()),
                    Just("credit_amount".to_owned())
                ],
                inner,
                0..8
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever arrives as body, path or headers: an answer below 500, never a panic.
    #[test]
    fn hostile_requests_never_get_a_5xx(
        body in prop_oneof![json_value().prop_map(|v| v.to_string().into_bytes()), prop::collection::vec(any::<u8>(), 0..256)],
        pipeline in prop_oneof![Just("german_credit".to_owned()), "[a-zA-Z0-9_.%-]{0,20}"],
        version in proptest::option::of("[ -~]{0,16}"),
        auth in prop_oneof![Just(format!("Bearer {KEY}")), "[ -~]{0,40}"],
        content_type in "[ -~]{0,30}",
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let app = app(Auth::keys(&format!("lender:{KEY}")).unwrap(), false).await;
            let mut uri = format!("/v1/pipelines/{pipeline}/predict");
            if let Some(v) = &version {
                uri.push_str("?version=");
                uri.push_str(&v.bytes().map(|b| format!("%{b:02X}")).collect::<String>());
            }
            let Ok(req) = axum::http::Request::builder()
                .method("POST")
                .uri(&uri)
                .header("authorization", auth.as_str())
                .header("content-type", content_type.as_str())
                .body(axum::body::Body::from(body.clone()))
            else {
                return Ok(()); // not a request a client can send
            };
            let resp = app.oneshot(req).await.unwrap();
            prop_assert!(resp.status().as_u16() < 500, "{} for {uri}", resp.status());
            Ok(())
        })?;
    }
}
