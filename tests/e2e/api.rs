//! The predict function through real API Gateway and Function URL event shapes.

use axum::http::StatusCode;
use http_body_util::BodyExt;
use riskfn_predict::{AppState, Config, lambda};
use riskfn_tests::german;
use tower::ServiceExt;

use super::tmp;

async fn invoke(event: &str) -> (StatusCode, serde_json::Value) {
    let t = german(&tmp()).await;
    let config = Config {
        store: t.store.display().to_string(),
        ..Config::default()
    };
    let svc = lambda::service(AppState::open(config).await.unwrap());
    let req = lambda_http::request::from_str(event).expect("a valid event");
    let resp = svc.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

fn assert_probability(v: &serde_json::Value) {
    let p = v["probability"].as_f64().expect("a probability");
    assert!((0.0..=1.0).contains(&p));
    assert!(matches!(
        v["decision"].as_str(),
        Some("approve" | "decline")
    ));
}

#[tokio::test]
async fn rest_api_v1_event_with_a_stage() {
    let (status, body) = invoke(include_str!("../data/apigw_rest_v1_predict.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_probability(&body);
    assert_eq!(body["pipeline"], "german_credit");
    assert_eq!(
        body["version"],
        german(&tmp()).await.report.version.as_str()
    );
    assert_eq!(body["model_sha256"].as_str().map(str::len), Some(64));
}

#[tokio::test]
async fn http_api_v2_event_with_a_list() {
    let (status, body) = invoke(include_str!("../data/apigw_http_v2_predict_list.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let preds = body["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 2);
    preds.iter().for_each(assert_probability);
}

#[tokio::test]
async fn function_url_event_with_a_base64_body() {
    let (status, body) = invoke(include_str!("../data/function_url_predict_base64.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_probability(&body);
}

#[tokio::test]
async fn a_bad_field_is_a_400_naming_it_without_its_value() {
    let (status, body) = invoke(include_str!("../data/apigw_http_v2_predict_bad_field.json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields = body["fields"].as_array().unwrap();
    let bad = fields
        .iter()
        .find(|f| f["field"] == "duration_in_month")
        .expect("the field is named");
    assert_eq!(bad["problem"], "expected type integer");
    assert!(
        fields
            .iter()
            .any(|f| f["field"] == "credit_amount" && f["problem"] == "required field is missing")
    );
    assert!(
        !body.to_string().contains("forty"),
        "the value was echoed: {body}"
    );
}

#[tokio::test]
async fn an_unknown_version_is_a_404() {
    let (status, body) = invoke(include_str!(
        "../data/apigw_http_v2_predict_unknown_version.json"
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
