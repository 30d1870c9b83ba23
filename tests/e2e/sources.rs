//! Sources and stores beyond a local Parquet file: CSV folders, and S3 (a real
//! S3-compatible server on 127.0.0.1, with authentication).

use bytes::Bytes;
use riskfn_batch::score::ScoreOptions;
use riskfn_batch::source::engine::{Engine, EngineOptions};
use riskfn_batch::train::TrainOptions;
use riskfn_core::registry::Registry;
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::registry::store::{PutMode, Store};
use riskfn_predict::{AppState, Config};
use riskfn_tests::s3_server::S3Server;
use riskfn_tests::{fast_families, fresh_dir, repo, sql_dir, train};

use super::tmp;

/// credit_data.csv cut into `parts` CSV files (each with the header), in order.
fn csv_parts(parts: usize) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(repo().join("sql/credit_data/data/credit_data.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let per = rows.len().div_ceil(parts);
    rows.chunks(per)
        .enumerate()
        .map(|(i, chunk)| {
            (
                format!("part-{i:03}.csv"),
                format!("{header}\n{}\n", chunk.join("\n")),
            )
        })
        .collect()
}

async fn train_with(
    data: Option<String>,
    store: String,
    s3: S3Settings,
    engine: EngineOptions,
) -> riskfn_batch::Result<riskfn_batch::train::TrainReport> {
    riskfn_batch::train::train(&TrainOptions {
        pipeline: "credit_data".into(),
        sql_dir: sql_dir(),
        data,
        store,
        s3,
        force: false,
        progress: false,
        families: fast_families(),
        engine,
        by: "trainer".to_owned(),
    })
    .await
}

#[tokio::test]
async fn a_folder_of_csv_files_trains_like_the_parquet_file() {
    let dir = fresh_dir(&tmp(), "csv-folder");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (name, text) in csv_parts(3) {
        std::fs::write(data.join(name), text).unwrap();
    }
    let from_csv = train(
        "credit_data",
        &dir.join("store-csv"),
        Some(data.display().to_string()),
    )
    .await
    .unwrap();
    let from_parquet = train("credit_data", &dir.join("store-parquet"), None)
        .await
        .unwrap();
    assert_eq!(from_csv.data.rows_read, 4454);
    assert_eq!(from_csv.data.duplicates_dropped, 2);
    assert_eq!(from_csv.data.split, from_parquet.data.split);
    assert_eq!(
        from_csv.metrics.test.roc_auc,
        from_parquet.metrics.test.roc_auc
    );
}

async fn put(store: &dyn Store, key: &str, bytes: Vec<u8>) {
    store
        .put(key, Bytes::from(bytes), PutMode::Create)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_source_and_store_end_to_end() {
    let dir = fresh_dir(&tmp(), "s3-e2e");
    let server = S3Server::start(&dir);
    let s3 = server.settings();
    let bucket = riskfn_core::registry::store::open_with(&server.uri(""), &s3)
        .await
        .unwrap();
    let parquet = std::fs::read(repo().join("sql/credit_data/data/credit_data.parquet")).unwrap();
    put(bucket.as_ref(), "data/credit_data.parquet", parquet).await;
    for (name, text) in csv_parts(2) {
        put(
            bucket.as_ref(),
            &format!("data/csv/{name}"),
            text.into_bytes(),
        )
        .await;
    }

    // A Parquet object and a prefix of CSV objects, both into an S3 model store.
    let models = server.uri("models");
    let from_object = train_with(
        Some(server.uri("data/credit_data.parquet")),
        models.clone(),
        s3.clone(),
        EngineOptions::default(),
    )
    .await
    .unwrap();
    let from_prefix = train_with(
        Some(server.uri("data/csv/")),
        models.clone(),
        s3.clone(),
        EngineOptions::default(),
    )
    .await
    .unwrap();
    let local = train("credit_data", &dir.join("local-store"), None)
        .await
        .unwrap();
    assert_eq!(from_object.metrics.test.roc_auc, local.metrics.test.roc_auc);
    assert_eq!(from_prefix.metrics.test.roc_auc, local.metrics.test.roc_auc);

    // On Ballista with the stage on S3: the numbered source is written there by this
    // process and read back by the executor, each through the S3 server.
    let on_ballista = train_with(
        Some(server.uri("data/credit_data.parquet")),
        dir.join("ballista-store").display().to_string(),
        s3.clone(),
        EngineOptions {
            engine: Engine::Standalone,
            stage: Some(server.uri("stage")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::to_value(&on_ballista.data).unwrap(),
        serde_json::to_value(&from_object.data).unwrap()
    );
    assert_eq!(on_ballista.metrics.test.roc_auc, local.metrics.test.roc_auc);
    let staged = bucket.list("stage/").await.unwrap();
    assert_eq!(staged.len(), 1, "one staged file: {staged:?}");

    let store = riskfn_core::registry::store::open_with(&models, &s3)
        .await
        .unwrap();
    let registry = Registry::new(store.clone());
    let versions = registry.versions("credit_data").await.unwrap();
    assert_eq!(
        versions,
        vec![from_object.version.clone(), from_prefix.version.clone()]
    );
    let (champion, _) = registry.champion("credit_data").await.unwrap().unwrap();
    assert_eq!(champion.version, from_prefix.version);
    assert_eq!(champion.history, vec![from_object.version.clone()]);

    // Serve from S3 and score from S3.
    let app = riskfn_predict::router(AppState::with_store(Config::default(), store));
    let record = serde_json::json!({
        "Seniority": 9, "Home": "rent", "Time": 60, "Age": 30, "Marital": "married", "Records": "no",
        "Job": "freelance", "Expenses": 73, "Income": 129.0, "Assets": 0.0, "Debt": 0.0,
        "Amount": 800, "Price": 846
    });
    let req = axum::http::Request::post("/v1/pipelines/credit_data/predict")
        .body(axum::body::Body::from(record.to_string()))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app, req).await.unwrap();
    assert_eq!(resp.status(), 200);

    let score_on = |engine: Engine, out: std::path::PathBuf| {
        let opts = ScoreOptions {
            pipeline: "credit_data".into(),
            version: None,
            data: server.uri("data/credit_data.parquet"),
            out,
            reasons: true,
            store: models.clone(),
            s3: s3.clone(),
            engine: EngineOptions {
                engine,
                ..Default::default()
            },
        };
        async move { riskfn_batch::score::score_file(&opts).await }
    };
    let out = dir.join("scores.parquet");
    let rep = score_on(Engine::Local, out.clone()).await.unwrap();
    // Rows with a missing categorical value the model never saw missing are refused, not
    // dropped: each is in the output with its reason.
    assert_eq!(rep.rows, 4454);
    // The report's counts, as the written file shows them: a probability for each row
    // scored, none for each refused.
    let written = {
        let ctx = riskfn_batch::source::session().unwrap();
        let raw = riskfn_batch::source::read(&ctx, &out.display().to_string())
            .await
            .unwrap();
        arrow::compute::concat_batches(&raw.batches[0].schema(), &raw.batches).unwrap()
    };
    let p = written.column_by_name("probability").unwrap();
    assert_eq!(written.num_rows(), 4454);
    assert_eq!((p.len() - p.null_count()) as u64, rep.scored);
    assert_eq!(p.null_count() as u64, rep.failed);

    // The same source read by a Ballista executor, which reaches the S3 server through the
    // session's s3.* options only: the same scores, row for row.
    let out_b = dir.join("scores-ballista.parquet");
    let rep_b = score_on(Engine::Standalone, out_b.clone()).await.unwrap();
    assert_eq!((rep_b.rows, rep_b.failed), (rep.rows, rep.failed));
    let read = |p: std::path::PathBuf| async move {
        let ctx = riskfn_batch::source::session().unwrap();
        let raw = riskfn_batch::source::read(&ctx, &p.display().to_string())
            .await
            .unwrap();
        arrow::compute::concat_batches(&raw.batches[0].schema(), &raw.batches).unwrap()
    };
    assert_eq!(read(out_b).await, read(out).await);
}

#[tokio::test]
async fn wrong_s3_credentials_are_refused_and_nothing_is_published() {
    let dir = fresh_dir(&tmp(), "s3-creds");
    let server = S3Server::start(&dir);
    let wrong = S3Settings {
        secret_access_key: Some("not-the-secret".into()),
        ..server.settings()
    };
    let err = train_with(None, server.uri("models"), wrong, EngineOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SignatureDoesNotMatch") || err.contains("AccessDenied"),
        "{err}"
    );
    let store = riskfn_core::registry::store::open_with(&server.uri(""), &server.settings())
        .await
        .unwrap();
    assert!(store.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_s3_store_fails_with_a_clear_message() {
    let dir = fresh_dir(&tmp(), "s3-down");
    let server = S3Server::start(&dir);
    let settings = server.settings();
    drop(server);
    let err = train_with(
        None,
        "s3://riskfn/models".into(),
        settings,
        EngineOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("s3://riskfn/models") && err.contains("cannot reach"),
        "{err}"
    );
}
