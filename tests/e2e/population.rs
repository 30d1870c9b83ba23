//! The population a version was built for, checked wherever it scores: german_credit's SQL
//! keeps `credit_amount > 0 AND duration_in_month > 0`, so a record with a zero amount is
//! answered 422 naming that filter (the HTTP API), left unscored with the filter in its
//! `error` (`riskfn score`, `riskfn_predict`), or, where the pipeline sets
//! `[serving] outside_population = "flag"`, scored and flagged in the answer, the audit
//! record and the batch row.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use axum::http::StatusCode;
use riskfn_batch::score::SqlOptions;
use riskfn_core::registry::audit::{Event, prediction_records};
use riskfn_predict::{AppState, Config};
use riskfn_tests::{copy_pipeline, fresh_dir, german, records, train};
use serde_json::{Value, json};

use super::spine::post_json;
use super::tmp;

const RULE: &str = "credit_amount > 0";
const PREDICT: &str = "/v1/pipelines/german_credit/predict";

/// The local server's router on `store`, audit records stored before each answer (so a
/// test reads them at once).
pub(crate) async fn audited_app(store: &Path) -> (Arc<AppState>, axum::Router) {
    let state = AppState::open(Config {
        store: store.display().to_string(),
        audit_to_store: true,
        audit_after_response: false,
        ..Config::default()
    })
    .await
    .unwrap();
    (state.clone(), riskfn_predict::router(state))
}

/// Two german_credit records: one as the data has it, one with a zero amount.
async fn inside_and_outside() -> (Value, Value) {
    let all = records(
        &riskfn_tests::repo().join("sql/german_credit/data/german_credit.parquet"),
        &["creditability"],
    )
    .await;
    let inside = all[1].clone();
    let mut outside = inside.clone();
    outside["credit_amount"] = json!(0);
    (inside, outside)
}

#[tokio::test]
async fn a_record_outside_the_population_is_a_422_naming_the_filter() {
    let t = german(&tmp()).await;
    let (_, app) = audited_app(&t.store).await;
    let (inside, outside) = inside_and_outside().await;
    let (status, body) = post_json(app.clone(), PREDICT, &outside).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "outside_population");
    assert_eq!(body["rules"], json!([{ "rule": RULE }]));
    // In a list, the record at fault is named by its place; nothing is scored.
    let (status, body) = post_json(app.clone(), PREDICT, &json!([inside, outside])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["rules"], json!([{ "record": 1, "rule": RULE }]));
    let (status, body) = post_json(app, PREDICT, &inside).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("outside_population").is_none(), "{body}");
}

#[tokio::test]
async fn a_flagging_pipeline_scores_the_record_and_flags_it_in_the_answer_and_the_audit() {
    let dir = fresh_dir(&tmp(), "population-flag");
    let pipeline = copy_pipeline("german_credit", &dir, |file, text| match file {
        "pipeline.toml" => text.replace(
            "outside_population = \"refuse\"",
            "outside_population = \"flag\"",
        ),
        _ => text,
    });
    let store = dir.join("store");
    train(&pipeline.display().to_string(), &store, None)
        .await
        .unwrap();
    let (_, app) = audited_app(&store).await;
    let (inside, outside) = inside_and_outside().await;
    let (status, body) = post_json(app.clone(), PREDICT, &json!([inside, outside])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let predictions = body["predictions"].as_array().unwrap();
    assert!(predictions[0].get("outside_population").is_none(), "{body}");
    assert_eq!(predictions[1]["outside_population"], RULE, "{body}");
    assert!(predictions[1]["probability"].is_f64());

    let stored = riskfn_core::registry::store::open(&store.display().to_string())
        .await
        .unwrap();
    let audit = prediction_records(stored.as_ref(), "german_credit", None)
        .await
        .unwrap();
    let flags: Vec<(Option<usize>, Option<String>)> = audit
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Prediction {
                index,
                outside_population,
                ..
            } => Some((index, outside_population)),
            _ => None,
        })
        .collect();
    assert_eq!(flags.len(), 2, "{flags:?}");
    assert!(flags.contains(&(Some(0), None)), "{flags:?}");
    assert!(
        flags.contains(&(Some(1), Some(RULE.to_owned()))),
        "{flags:?}"
    );

    // Batch scoring flags the row and scores it.
    let out = score_with_zero_amounts(&store, &dir).await;
    let (zeroed, scored) = flagged_rows(&out, "outside_population").await;
    assert_eq!(zeroed, scored);
}

/// `riskfn score` and SQL's `riskfn_predict` refuse each row outside, naming the filter in
/// its `error`, and score every other row.
#[tokio::test]
async fn batch_scoring_and_sql_refuse_each_row_outside_the_population() {
    let t = german(&tmp()).await;
    let dir = fresh_dir(&tmp(), "population-batch");
    let out = score_with_zero_amounts(&t.store, &dir).await;
    let (zeroed, refused) = flagged_rows(&out, "error").await;
    assert_eq!(zeroed, refused);

    let store = riskfn_core::registry::store::open(&t.store.display().to_string())
        .await
        .unwrap();
    let loaded = riskfn_core::registry::Registry::new(store)
        .load("german_credit", &t.report.version)
        .await
        .unwrap();
    let fields = &loaded.scorer.artifact().raw_schema.fields;
    let args: Vec<String> = fields
        .iter()
        .map(|f| match f.name.as_str() {
            "credit_amount" => "CASE WHEN age_in_years < 30 THEN 0 ELSE credit_amount END".into(),
            f => f.to_owned(),
        })
        .collect();
    let query = format!(
        "SELECT age_in_years < 30 AS young, \
         get_field(riskfn_predict('german_credit', {}), 'error') AS error, \
         get_field(riskfn_predict('german_credit', {}), 'probability') AS p FROM applicants",
        args.join(", "),
        args.join(", ")
    );
    let batches = riskfn_batch::score::sql(&SqlOptions {
        pipelines: vec!["german_credit".into()],
        tables: vec![(
            "applicants".into(),
            riskfn_tests::repo()
                .join("sql/german_credit/data/german_credit.parquet")
                .display()
                .to_string(),
        )],
        query,
        store: t.store.display().to_string(),
        s3: Default::default(),
    })
    .await
    .unwrap();
    let (mut young, mut refused) = (0, 0);
    for b in &batches {
        let (is_young, error, p) = (
            b.column(0).as_boolean(),
            b.column(1).as_string::<i32>(),
            b.column(2).as_primitive::<arrow::datatypes::Float64Type>(),
        );
        for r in 0..b.num_rows() {
            young += usize::from(is_young.value(r));
            if error.is_valid(r) {
                refused += 1;
                assert!(is_young.value(r) && p.is_null(r));
                assert!(error.value(r).ends_with(RULE), "{}", error.value(r));
            }
        }
    }
    assert!(young > 100);
    assert_eq!(young, refused);
}

/// german_credit's data with every third row's amount set to 0, scored by `riskfn score`
/// with the champion of `store` into a file under `dir`.
async fn score_with_zero_amounts(store: &Path, dir: &Path) -> std::path::PathBuf {
    let source = riskfn_tests::repo().join("sql/german_credit/data/german_credit.parquet");
    let ctx = riskfn_batch::source::session().unwrap();
    let raw = riskfn_batch::source::read(&ctx, &source.display().to_string())
        .await
        .unwrap();
    let mut row = 0i64;
    // The source's own columns (without the row position `read` appends).
    let own: Vec<usize> = (0..raw.schema.fields().len()).collect();
    let batches: Vec<RecordBatch> = (raw.batches.iter())
        .map(|b| {
            let b = b.project(&own).unwrap();
            let i = b.schema().index_of("credit_amount").unwrap();
            let amounts = b.column(i).as_primitive::<arrow::datatypes::Int64Type>();
            let zeroed: Int64Array = (amounts.iter())
                .map(|a| {
                    row += 1;
                    if row % 3 == 0 { Some(0) } else { a }
                })
                .collect();
            let mut columns: Vec<ArrayRef> = b.columns().to_vec();
            columns[i] = Arc::new(zeroed);
            RecordBatch::try_new(b.schema(), columns).unwrap()
        })
        .collect();
    let data = dir.join("zeroed.parquet");
    riskfn_batch::score::write_parquet(&data, &batches).unwrap();
    let out = dir.join("scores.parquet");
    riskfn_tests::score_bundled("german_credit", store, None, Some(&data), &out).await;
    out
}

/// The rows of a scores file whose amount was zeroed (every third, by 1-based row id), and the rows that
/// name the filter in `column`; the latter must be scored exactly when `column` flags.
async fn flagged_rows(scores: &Path, column: &str) -> (Vec<u64>, Vec<u64>) {
    let rows = records(scores, &["reasons"]).await;
    let zeroed = (rows.iter())
        .map(|r| r["row_id"].as_u64().unwrap())
        .filter(|id| id % 3 == 0)
        .collect();
    let named = (rows.iter())
        .filter(|r| r[column].as_str().is_some_and(|e| e.ends_with(RULE)))
        .inspect(|r| assert_eq!(r["probability"].is_f64(), column != "error", "{r}"))
        .map(|r| r["row_id"].as_u64().unwrap())
        .collect();
    (zeroed, named)
}
