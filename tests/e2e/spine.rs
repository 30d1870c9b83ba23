//! The first slice: train the bundled pipeline, publish, score in batch and online.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use riskfn_batch::score::ScoreOptions;
use riskfn_core::registry::Registry;
use riskfn_core::registry::store::LocalStore;
use riskfn_predict::{AppState, Config};
use riskfn_tests::{copy_pipeline, fresh_dir, german, records, sql_dir, train, train_families};
use tower::ServiceExt;

use super::tmp;

#[tokio::test]
async fn german_credit_trains_publishes_and_beats_the_bar() {
    let t = german(&tmp()).await;
    let r = &t.report;
    // The reference (scikit-learn) logistic regression reaches 0.820 on this identical split.
    assert!(
        r.metrics.test.roc_auc >= 0.80,
        "test AUC {}",
        r.metrics.test.roc_auc
    );
    assert!(r.model.converged, "logistic regression did not converge");
    // Split sizes and adverse counts published with the data (../data/README.md).
    let counts: Vec<(u64, u64)> = ["train", "validation", "test"]
        .iter()
        .map(|s| (r.data.split[*s].rows, r.data.split[*s].positives))
        .collect();
    assert_eq!(counts, [(599, 194), (184, 46), (217, 60)]);

    let registry = Registry::new(std::sync::Arc::new(LocalStore::new(&t.store)));
    assert_eq!(
        registry.versions("german_credit").await.unwrap(),
        vec![r.version.clone()]
    );
    let (champion, _) = registry.champion("german_credit").await.unwrap().unwrap();
    assert_eq!(champion.version, r.version);
    let loaded = registry.load("german_credit", &r.version).await.unwrap();
    assert_eq!(loaded.manifest.metrics.test.roc_auc, r.metrics.test.roc_auc);
}

pub(crate) async fn post_json(
    app: axum::Router,
    uri: &str,
    body: &serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let req = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// One scoring path: `riskfn score` and the HTTP handler give every raw row the identical
/// probability (bit for bit) and the same reasons.
#[tokio::test]
async fn batch_score_and_handler_agree_on_every_row() {
    let t = german(&tmp()).await;
    one_scoring_path("german_credit", &t.store, &t.report.version).await;
}

/// The same for the tree families and the points scorecard on every bundled set: boosted
/// trees (credit_data's missing values go down their learned branches), a forest, a tree,
/// and scorecards (points equal too).
#[tokio::test]
async fn tree_models_score_alike_online_and_in_batch_on_every_row() {
    for (pipeline, family) in [
        ("german_credit", "gradient_boosting"),
        ("credit_data", "gradient_boosting"),
        ("islr_default", "gradient_boosting"),
        ("german_credit", "random_forest"),
        ("credit_data", "decision_tree"),
        ("german_credit", "scorecard"),
        ("credit_data", "scorecard"),
        ("islr_default", "scorecard"),
    ] {
        let store = fresh_dir(&tmp(), &format!("parity-{pipeline}-{family}"));
        let r = train_families(pipeline, &store, &[family]).await.unwrap();
        assert_eq!(r.model.family, family);
        one_scoring_path(pipeline, &store, &r.version).await;
    }
}

async fn one_scoring_path(pipeline: &str, store: &std::path::Path, version: &str) {
    let p = riskfn_batch::pipeline::Pipeline::locate(pipeline, &sql_dir()).unwrap();
    let data = p.source.clone();
    let dir = fresh_dir(&tmp(), &format!("score-{pipeline}-{version}"));
    let score_to = async |out: std::path::PathBuf, reasons: bool| {
        riskfn_batch::score::score_file(&ScoreOptions {
            pipeline: pipeline.into(),
            version: Some(version.to_owned()),
            data: data.clone(),
            out,
            reasons,
            store: store.display().to_string(),
            s3: Default::default(),
            engine: Default::default(),
        })
        .await
    };
    let out = dir.join("scores.parquet");
    let rep = score_to(out.clone(), true).await.unwrap();
    let raw = records(std::path::Path::new(&data), &[p.target.as_str()]).await;
    let n = raw.len() as u64;
    assert_eq!((rep.rows, rep.scored, rep.failed), (n, n, 0));

    let scored = records(&out, &["reasons"]).await;
    let batch: HashMap<u64, f64> = scored
        .iter()
        .map(|r| {
            (
                r["row_id"].as_u64().unwrap(),
                r["probability"].as_f64().unwrap(),
            )
        })
        .collect();
    let batch_points: HashMap<u64, f64> = scored
        .iter()
        .map(|r| (r["row_id"].as_u64().unwrap(), r["points"].as_f64().unwrap()))
        .collect();

    let config = Config {
        store: store.display().to_string(),
        ..Config::default()
    };
    let app = riskfn_predict::router(AppState::open(config).await.unwrap());
    let batch_reasons = reason_codes(&out).await;
    // In requests of at most the server's default record limit.
    for (c, chunk) in raw.chunks(1000).enumerate() {
        let (status, body) = post_json(
            app.clone(),
            &format!("/v1/pipelines/{pipeline}/predict?version={version}"),
            &serde_json::Value::from(chunk.to_vec()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["version"], version);
        let online = body["predictions"].as_array().unwrap();
        assert_eq!(online.len(), chunk.len());
        for (i, p) in online.iter().enumerate() {
            let row_id = (c * 1000 + i) as u64 + 1;
            let codes: Vec<&str> = p["reasons"]
                .as_array()
                .map(|r| r.iter().map(|x| x["code"].as_str().unwrap()).collect())
                .unwrap_or_default();
            assert_eq!(
                codes, batch_reasons[&row_id],
                "{pipeline} row {row_id}: reasons differ"
            );
            assert_eq!(
                p["points"].as_f64().unwrap().to_bits(),
                batch_points[&row_id].to_bits(),
                "{pipeline} row {row_id}: points differ"
            );
            let p = p["probability"].as_f64().unwrap();
            assert_eq!(
                p.to_bits(),
                batch[&row_id].to_bits(),
                "{pipeline} row {row_id}: online {p} batch {}",
                batch[&row_id]
            );
        }
    }

    // Without reasons: the same scores, the reasons left empty.
    let bare = dir.join("bare.parquet");
    score_to(bare.clone(), false).await.unwrap();
    for r in records(&bare, &["reasons"]).await {
        let row_id = r["row_id"].as_u64().unwrap();
        assert_eq!(
            r["probability"].as_f64().unwrap().to_bits(),
            batch[&row_id].to_bits()
        );
    }
    assert!(reason_codes(&bare).await.values().all(Vec::is_empty));
}

/// Each row's reason codes in a scores file, by row id.
async fn reason_codes(scores: &std::path::Path) -> HashMap<u64, Vec<String>> {
    use arrow::array::{Array, AsArray};
    let ctx = riskfn_batch::source::session().unwrap();
    let raw = riskfn_batch::source::read(&ctx, &scores.display().to_string())
        .await
        .unwrap();
    let mut out = HashMap::new();
    for b in &raw.batches {
        let ids = b
            .column_by_name("row_id")
            .unwrap()
            .as_primitive::<arrow::datatypes::UInt64Type>();
        let lists = b.column_by_name("reasons").unwrap().as_list::<i32>();
        for r in 0..b.num_rows() {
            let codes = lists.value(r);
            let codes = arrow::compute::cast(&codes, &arrow::datatypes::DataType::Utf8).unwrap();
            let codes = codes.as_string::<i32>();
            out.insert(
                ids.value(r),
                (0..codes.len())
                    .map(|i| codes.value(i).to_owned())
                    .collect(),
            );
        }
    }
    out
}

pub(crate) async fn assert_nothing_published(store: &std::path::Path) {
    let keys = riskfn_core::registry::store::Store::list(&LocalStore::new(store), "")
        .await
        .unwrap();
    assert!(keys.is_empty(), "a failed run left {keys:?}");
}

pub(crate) async fn train_at(
    pipeline: &std::path::Path,
    store: &std::path::Path,
    data: Option<String>,
) -> String {
    train(&pipeline.display().to_string(), store, data)
        .await
        .expect_err("the run must fail")
        .to_string()
}

#[tokio::test]
async fn a_missing_column_is_named_and_nothing_is_published() {
    let dir = fresh_dir(&tmp(), "missing-col");
    let p = copy_pipeline("german_credit", &dir, |name, text| {
        if name == "02_features.sql" {
            text.replace(
                "ln(CAST(credit_amount AS DOUBLE))",
                "ln(CAST(loan_amount AS DOUBLE))",
            )
        } else {
            text
        }
    });
    let store = dir.join("store");
    let msg = train_at(&p, &store, None).await;
    assert!(msg.contains("loan_amount"), "{msg}");
    assert!(msg.contains("02_features.sql"), "{msg}");
    assert_nothing_published(&store).await;
}

#[tokio::test]
async fn a_corrupt_parquet_file_is_refused_and_nothing_is_published() {
    let dir = fresh_dir(&tmp(), "corrupt");
    let bad = dir.join("broken.parquet");
    std::fs::write(&bad, b"PAR1 this is not a parquet file PAR1").unwrap();
    let store = dir.join("store");
    let msg = train_at(
        &sql_dir().join("german_credit"),
        &store,
        Some(bad.display().to_string()),
    )
    .await;
    assert!(
        msg.contains("broken.parquet") && msg.contains("Parquet"),
        "{msg}"
    );
    assert_nothing_published(&store).await;
}

#[tokio::test]
async fn a_target_with_one_class_is_refused() {
    let dir = fresh_dir(&tmp(), "one-class");
    let p = copy_pipeline("german_credit", &dir, |name, text| {
        if name == "01_clean.sql" {
            text.replace(
                "WHERE credit_amount > 0",
                "WHERE creditability = 'good' AND credit_amount > 0",
            )
        } else {
            text
        }
    });
    let store = dir.join("store");
    let msg = train_at(&p, &store, None).await;
    assert!(
        msg.contains("two classes") && msg.contains("creditability"),
        "{msg}"
    );
    assert_nothing_published(&store).await;
}

#[tokio::test]
async fn an_unreachable_store_fails_before_training() {
    let dir = fresh_dir(&tmp(), "bad-store");
    let blocker = dir.join("file-not-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let msg = train("german_credit", &blocker, None)
        .await
        .expect_err("must fail")
        .to_string();
    assert!(msg.contains("file-not-folder"), "{msg}");
}
