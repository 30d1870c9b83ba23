//! The `retrain` Lambda: the schedule's entry point. Runs `riskfn retrain` for the pipeline
//! in `RISKFN_PIPELINE` (a folder or `s3://bucket/prefix/<pipeline>/`) into `RISKFN_STORE`,
//! with S3 settings from the environment. A version that is trained but not promoted is an
//! answer, not an error; a failed run is an error (and trips the alarm).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use riskfn_batch::train::{self, Retrained, TrainOptions};
use riskfn_core::registry::s3::S3Settings;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let pipeline = std::env::var("RISKFN_PIPELINE").map_err(|_| "RISKFN_PIPELINE is not set")?;
    let store = std::env::var("RISKFN_STORE").map_err(|_| "RISKFN_STORE is not set")?;
    let options = TrainOptions {
        pipeline,
        sql_dir: "sql".into(),
        data: std::env::var("RISKFN_DATA").ok(),
        store,
        s3: S3Settings::from_env()?,
        force: false,
        progress: false,
        families: None,
        engine: Default::default(),
        // The scheduled job: its versions are approved by people.
        by: "retrain".to_owned(),
    };
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| {
        let options = options.clone();
        async move {
            let outcome = train::retrain(&options).await?;
            let summary = match &outcome {
                Retrained::Trained(r) => serde_json::json!({
                    "outcome": "trained",
                    "pipeline": r.pipeline,
                    "version": r.version,
                    "promotion": r.promotion,
                    "test_roc_auc": r.metrics.test.roc_auc,
                }),
                Retrained::Unchanged { .. } => serde_json::to_value(&outcome)?,
            };
            tracing::info!(%summary, "retrain finished");
            Ok::<_, Error>(summary)
        }
    }))
    .await
}
