//! Scheduled retraining: one idempotent step, and pipelines kept on S3.

use bytes::Bytes;
use riskfn_batch::train::{Promotion, Retrained, TrainOptions};
use riskfn_core::registry::s3::S3Settings;
use riskfn_core::registry::store::PutMode;
use riskfn_tests::s3_server::S3Server;
use riskfn_tests::{copy_pipeline, fast_families, fresh_dir, repo, sql_dir};

use super::tmp;

fn options(pipeline: &str, store: &str, data: Option<String>, s3: S3Settings) -> TrainOptions {
    TrainOptions {
        pipeline: pipeline.to_owned(),
        sql_dir: sql_dir(),
        data,
        store: store.to_owned(),
        s3,
        force: false,
        progress: false,
        families: fast_families(),
        engine: Default::default(),
        by: "trainer".to_owned(),
    }
}

#[tokio::test]
async fn retraining_unchanged_inputs_does_nothing_and_changed_inputs_train() {
    let dir = fresh_dir(&tmp(), "retrain");
    let store = dir.join("store").display().to_string();
    let p = copy_pipeline("german_credit", &dir, |_, t| t);
    let opts = options(
        &p.display().to_string(),
        &store,
        None,
        S3Settings::default(),
    );

    let Retrained::Trained(first) = riskfn_batch::train::retrain(&opts).await.unwrap() else {
        panic!("the first run trains");
    };
    assert!(matches!(first.promotion, Some(Promotion::Promoted { .. })));
    let again = riskfn_batch::train::retrain(&opts).await.unwrap();
    let Retrained::Unchanged {
        version, champion, ..
    } = again
    else {
        panic!("same inputs: nothing to do");
    };
    assert_eq!((version.as_str(), champion), (first.version.as_str(), true));

    // A change to the SQL is a change of inputs.
    let sql = p.join("02_features.sql");
    let text = std::fs::read_to_string(&sql)
        .unwrap()
        .replace("WHEN age < 25", "WHEN age < 26");
    std::fs::write(&sql, text).unwrap();
    assert!(matches!(
        riskfn_batch::train::retrain(&opts).await.unwrap(),
        Retrained::Trained(_)
    ));
}

#[tokio::test]
async fn a_pipeline_kept_on_s3_retrains_from_s3_data_into_an_s3_store() {
    let dir = fresh_dir(&tmp(), "retrain-s3");
    let server = S3Server::start(&dir);
    let bucket = riskfn_core::registry::store::open_with(&server.uri(""), &server.settings())
        .await
        .unwrap();
    let local = sql_dir().join("credit_data");
    for f in [
        "pipeline.toml",
        "01_clean.sql",
        "02_features.sql",
        "reasons.toml",
    ] {
        let bytes = std::fs::read(local.join(f)).unwrap();
        bucket
            .put(
                &format!("pipelines/credit_data/{f}"),
                Bytes::from(bytes),
                PutMode::Create,
            )
            .await
            .unwrap();
    }
    let parquet = std::fs::read(repo().join("sql/credit_data/data/credit_data.parquet")).unwrap();
    bucket
        .put(
            "data/credit_data/part-0.parquet",
            Bytes::from(parquet),
            PutMode::Create,
        )
        .await
        .unwrap();

    let opts = options(
        &server.uri("pipelines/credit_data/"),
        &server.uri("models"),
        Some(server.uri("data/credit_data/")),
        server.settings(),
    );
    let Retrained::Trained(r) = riskfn_batch::train::retrain(&opts).await.unwrap() else {
        panic!("trains");
    };
    assert_eq!(r.pipeline, "credit_data");
    assert!(r.champion);
    assert!(matches!(
        riskfn_batch::train::retrain(&opts).await.unwrap(),
        Retrained::Unchanged { champion: true, .. }
    ));
}
