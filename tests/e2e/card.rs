//! The model card: published with every version (JSON, Markdown, HTML), served at
//! `GET /v1/pipelines/{p}/versions/{v}/card` behind the same auth, aggregates only.

use axum::http::StatusCode;
use http_body_util::BodyExt;
use riskfn_core::contract::card::{CARD_HTML, CARD_JSON, CARD_MARKDOWN, ModelCard};
use riskfn_core::registry::Registry;
use riskfn_predict::auth::Auth;
use riskfn_predict::{AppState, Config};
use riskfn_tests::{copy_pipeline, fresh_dir, train_families};
use tower::ServiceExt;

use super::tmp;

const KEY: &str = "validator-key-0123456789abcdef";

async fn registry(store: &std::path::Path) -> Registry {
    Registry::new(
        riskfn_core::registry::store::open(&store.display().to_string())
            .await
            .unwrap(),
    )
}

/// The three card files of a version, checked against its manifest.
async fn card_files(store: &std::path::Path, pipeline: &str, version: &str) -> [String; 3] {
    let reg = registry(store).await;
    let m = reg.manifest(pipeline, version).await.unwrap();
    let mut out = [String::new(), String::new(), String::new()];
    for (slot, file) in out.iter_mut().zip([CARD_JSON, CARD_MARKDOWN, CARD_HTML]) {
        let bytes = reg.read_verified(&m, file).await.unwrap();
        *slot = String::from_utf8(bytes.to_vec()).unwrap();
    }
    out
}

async fn get(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let mut req = axum::http::Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, kind, String::from_utf8_lossy(&bytes).into_owned())
}

/// Every bundled pipeline publishes a card that holds what a validator reads: purpose,
/// data, features with reason codes, protected attributes, every family, both splits'
/// measures, gains, fairness by group (where declared), stability and the gate verdict.
#[tokio::test]
async fn every_bundled_pipeline_publishes_a_card() {
    let dir = fresh_dir(&tmp(), "card-bundled");
    for pipeline in ["german_credit", "credit_data", "islr_default"] {
        let store = dir.join(pipeline);
        let r = train_families(pipeline, &store, &["logistic_regression", "scorecard"])
            .await
            .unwrap();
        let [json, md, html] = card_files(&store, pipeline, &r.version).await;
        let card: ModelCard = serde_json::from_str(&json).unwrap();
        assert_eq!(
            (card.pipeline.as_str(), card.version.as_str()),
            (pipeline, r.version.as_str())
        );
        assert!(!card.purpose.description.is_empty(), "{pipeline}");
        assert_eq!(card.data.fingerprint, r.data.fingerprint);
        assert_eq!(card.features.len(), r.features.len());
        assert!(card.features.iter().all(|f| !f.reason_code.is_empty()));
        assert_eq!(card.model.family, r.model.family);
        assert_eq!(card.families.len(), 2);
        assert_eq!(card.metrics, r.metrics);
        assert_eq!(card.gains.len(), 10, "{pipeline}");
        assert_eq!(card.gate, r.gate);
        assert!(!card.stability.score.is_empty());
        let protected = pipeline != "islr_default";
        assert_eq!(!card.fairness.is_empty(), protected, "{pipeline}");
        assert_eq!(!card.protected.is_empty(), protected, "{pipeline}");
        for f in &card.fairness {
            let ours = r
                .fairness
                .iter()
                .find(|g| g.attribute == f.attribute)
                .unwrap();
            assert_eq!(f.test, ours.test);
        }
        for text in [&md, &html] {
            assert!(text.contains(&format!("Model card: {pipeline}, version {}", r.version)));
            for heading in [
                "Purpose and intended use",
                "Gate verdict and promotion",
                "Training data",
                "Features and reason codes",
                "Performance and fairness by group",
                "Stability baseline",
                "Limitations",
            ] {
                assert!(text.contains(heading), "{pipeline}: no {heading}");
            }
        }
        assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    }
}

/// The served card is behind the same auth as the other routes, answers 404 for an unknown
/// version, is HTML for a browser and JSON otherwise, and carries the promotion history.
#[tokio::test]
async fn the_card_route_is_authed_negotiated_and_shows_the_history() {
    let dir = fresh_dir(&tmp(), "card-route");
    let store = dir.join("store");
    let first = train_families("german_credit", &store, &["logistic_regression"])
        .await
        .unwrap();
    let second = riskfn_tests::train_into(
        "german_credit",
        &store.display().to_string(),
        &Default::default(),
        true,
    )
    .await
    .unwrap();
    let state = AppState::open(Config {
        store: store.display().to_string(),
        auth: Auth::keys(&format!("validator:{KEY}")).unwrap(),
        ..Config::default()
    })
    .await
    .unwrap();
    let app = riskfn_predict::router(state);
    let uri = |v: &str| format!("/v1/pipelines/german_credit/versions/{v}/card");
    let auth = format!("Bearer {KEY}");

    let (s, _, _) = get(&app, &uri(&first.version), &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, body) = get(
        &app,
        &uri("20990101T000000Z-nope"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, _, body) = get(
        &app,
        "/v1/pipelines/nope/versions/x/card",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");

    let (s, kind, body) = get(&app, &uri(&first.version), &[("authorization", &auth)]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(kind.as_deref(), Some("application/json"));
    let card: ModelCard = serde_json::from_str(&body).unwrap();
    let events: Vec<&str> = card.history.iter().map(|h| h.event.as_str()).collect();
    assert_eq!(
        events,
        ["trained", "promoted", "replaced"],
        "{:?}",
        card.history
    );
    assert!(card.history[2].detail.contains(&second.version));

    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let (s, kind, html) = get(
        &app,
        &uri(&second.version),
        &[("authorization", &auth), ("accept", browser)],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(kind.as_deref(), Some("text/html; charset=utf-8"));
    assert!(html.contains("<h1>Model card: german_credit"), "{html}");
    assert!(
        html.contains(&format!("champion, replacing {}", first.version)),
        "{html}"
    );
}

/// A card holds aggregates only. A canary feature whose every value is distinct (and
/// unlike any other number in the data) is planted; its values appear in the drift
/// baseline (quantile edges: the grep can find them) but nowhere in the card.
#[tokio::test]
async fn the_card_holds_no_applicant_values() {
    let dir = fresh_dir(&tmp(), "card-canary");
    let p = copy_pipeline("german_credit", &dir, |name, text| {
        match name {
        "02_features.sql" => text.replace(
            "FROM clean",
            ",\n  CAST(credit_amount AS DOUBLE) * 1000 + duration_months + 0.123456789 AS canary\nFROM clean",
        ),
        _ => text,
    }
    });
    let store = dir.join("store");
    let r = train_families(&p.display().to_string(), &store, &["logistic_regression"])
        .await
        .unwrap();
    let rows = riskfn_tests::records(
        &riskfn_tests::repo().join("sql/german_credit/data/german_credit.parquet"),
        &[],
    )
    .await;
    let canaries: Vec<f64> = rows
        .iter()
        .map(|r| {
            r["credit_amount"].as_f64().unwrap() * 1000.0
                + r["duration_in_month"].as_f64().unwrap()
                + 0.123456789
        })
        .collect();
    // How a number can be printed: in full, or rounded as the card rounds.
    let spellings = |v: f64| [format!("{v}"), format!("{v:.4}"), format!("{v:.2}")];
    let reg = registry(&store).await;
    let m = reg.manifest("german_credit", &r.version).await.unwrap();
    let baseline = String::from_utf8(
        reg.read_verified(&m, riskfn_core::review::drift::BASELINE_FILE)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        canaries.iter().any(|&v| baseline.contains(&format!("{v}"))),
        "the canary's quantiles are in the baseline, so a card that copied them would be caught"
    );
    let files = card_files(&store, "german_credit", &r.version).await;
    for v in &canaries {
        for s in spellings(*v) {
            for (file, text) in [CARD_JSON, CARD_MARKDOWN, CARD_HTML].iter().zip(&files) {
                assert!(!text.contains(&s), "{file} holds the applicant value {s}");
            }
        }
    }
}
