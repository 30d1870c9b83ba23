//! Models trained elsewhere, end to end: LightGBM, XGBoost, scikit-learn (ONNX) models and
//! PMML scorecards of every bundled pipeline's features (tests/reference/import), each
//! imported as a version of the bundled pipeline, then served, batch-scored and queried
//! through riskfn_predict: each applicant's probability is the library's (by its own rules,
//! checked against the library itself in the import's unit tests) on the features the
//! pipeline's SQL computes from the raw record. A reference that disagrees, a feature the
//! SQL lacks or a map naming one the model does not read publishes nothing.

use arrow::array::AsArray;
use axum::http::StatusCode;
use riskfn_batch::import::Imported;
use riskfn_batch::import::publish::{ImportOptions, import};
use riskfn_tests::{fresh_dir, records, repo, sql_dir};
use serde_json::Value;

use super::spine::post_json;
use super::tmp;

fn fixture(name: &str) -> std::path::PathBuf {
    repo().join("tests/reference/import").join(name)
}

fn options(
    pipeline: &str,
    store: &std::path::Path,
    format: &str,
    model: std::path::PathBuf,
    reference: std::path::PathBuf,
) -> ImportOptions {
    ImportOptions {
        pipeline: pipeline.into(),
        sql_dir: sql_dir(),
        data: None,
        model,
        format: format.into(),
        reference: reference.display().to_string(),
        features: Vec::new(),
        store: store.display().to_string(),
        s3: Default::default(),
        by: "importer".into(),
        force: false,
    }
}

/// The model's features from a raw german_credit record, as the pipeline's SQL computes
/// them, in the library's codes.
fn german_codes(m: &dyn Imported, record: &Value) -> Vec<f64> {
    let raw = |k: &str| &record[k];
    (m.feature_names().iter().enumerate())
        .map(|(f, name)| {
            let v = match name.as_str() {
                "checking_account" => raw("status_of_existing_checking_account").clone(),
                "duration_months" => raw("duration_in_month").clone(),
                "savings" => raw("savings_account_and_bonds").clone(),
                "installment_rate" => {
                    raw("installment_rate_in_percentage_of_disposable_income").clone()
                }
                "age" => raw("age_in_years").clone(),
                "monthly_amount" => Value::from(
                    raw("credit_amount").as_f64().unwrap()
                        / raw("duration_in_month").as_f64().unwrap(),
                ),
                other => raw(other).clone(),
            };
            code(m, f, &v)
        })
        .collect()
}

/// The same for islr_default: its SQL adds balance_to_income where income is positive.
fn islr_codes(m: &dyn Imported, record: &Value) -> Vec<f64> {
    (m.feature_names().iter().enumerate())
        .map(|(f, name)| {
            let v = match name.as_str() {
                "balance_to_income" => {
                    let (b, i) = (record["balance"].as_f64(), record["income"].as_f64());
                    match (b, i) {
                        (Some(b), Some(i)) if i > 0.0 => Value::from(b / i),
                        _ => Value::Null,
                    }
                }
                other => record[other].clone(),
            };
            code(m, f, &v)
        })
        .collect()
}

/// The same for credit_data: its SQL reads the sentinel income 99999999 as missing and
/// adds loan_to_price.
fn credit_codes(m: &dyn Imported, record: &Value) -> Vec<f64> {
    (m.feature_names().iter().enumerate())
        .map(|(f, name)| {
            let v = match name.as_str() {
                "Income" if record["Income"].as_f64() == Some(99_999_999.0) => Value::Null,
                "loan_to_price" => {
                    let (a, p) = (record["Amount"].as_f64(), record["Price"].as_f64());
                    Value::from(a.unwrap() / p.unwrap())
                }
                other => record[other].clone(),
            };
            code(m, f, &v)
        })
        .collect()
}

/// A value as the library's input: a category's code (the model's unseen code for a level
/// it never saw), a number, NaN when missing.
fn code(m: &dyn Imported, f: usize, v: &Value) -> f64 {
    match (&m.categories()[f], v.as_str()) {
        (Some(c), Some(v)) => (c.iter())
            .position(|k| k == v)
            .map_or(m.unseen_code(), |p| p as f64),
        (Some(_), None) => f64::NAN,
        (None, _) => v.as_f64().unwrap_or(f64::NAN),
    }
}

type Codes = fn(&dyn Imported, &Value) -> Vec<f64>;

#[tokio::test]
async fn lightgbm_models_are_imported_served_and_answer_as_lightgbm() {
    let german = ("lightgbm_german.txt", "lightgbm_german_reference.csv");
    imported_served_and_scored("german_credit", "lightgbm", german, german_codes).await;
    let islr = ("lightgbm_islr.txt", "lightgbm_islr_reference.csv");
    imported_served_and_scored("islr_default", "lightgbm", islr, islr_codes).await;
    let credit = ("lightgbm_credit.txt", "lightgbm_credit_reference.csv");
    imported_served_and_scored("credit_data", "lightgbm", credit, credit_codes).await;
    // Zeros as missing (many balances are 0) and random-forest mode.
    let zero = ("lightgbm_islr_zero.txt", "lightgbm_islr_zero_reference.csv");
    imported_served_and_scored("islr_default", "lightgbm", zero, islr_codes).await;
    let forest = ("lightgbm_german_rf.txt", "lightgbm_german_rf_reference.csv");
    imported_served_and_scored("german_credit", "lightgbm", forest, german_codes).await;
}

#[tokio::test]
async fn xgboost_models_are_imported_served_and_answer_as_xgboost() {
    let german = ("xgboost_german.json", "xgboost_german_reference.csv");
    imported_served_and_scored("german_credit", "xgboost", german, german_codes).await;
    let islr = ("xgboost_islr.json", "xgboost_islr_reference.csv");
    imported_served_and_scored("islr_default", "xgboost", islr, islr_codes).await;
    let credit = ("xgboost_credit.json", "xgboost_credit_reference.csv");
    imported_served_and_scored("credit_data", "xgboost", credit, credit_codes).await;
    // The same german_credit model as UBJSON, XGBoost's binary format.
    let ubj = ("xgboost_german.ubj", "xgboost_german_reference.csv");
    imported_served_and_scored("german_credit", "xgboost", ubj, german_codes).await;
}

#[tokio::test]
async fn scikit_learn_models_are_imported_from_onnx_served_and_answer_as_scikit_learn() {
    // A logistic regression, gradient boosting, a random forest and histogram gradient
    // boosting (missing numbers routed by its trees) of each pipeline.
    for kind in ["sklearn", "sklearn_gbm", "sklearn_forest", "sklearn_hgb"] {
        let (german, islr, credit) = (
            format!("{kind}_german"),
            format!("{kind}_islr"),
            format!("{kind}_credit"),
        );
        for (pipeline, stem, codes) in [
            ("german_credit", german, german_codes as Codes),
            ("islr_default", islr, islr_codes),
            ("credit_data", credit, credit_codes),
        ] {
            let files = (format!("{stem}.onnx"), format!("{stem}_reference.csv"));
            imported_served_and_scored(pipeline, "onnx", (&files.0, &files.1), codes).await;
        }
    }
    // Exported the default way (one input X of three columns): refused without a map,
    // imported with --features naming each position's SQL column.
    let dir = fresh_dir(&tmp(), "import-array");
    let store = dir.join("store");
    let (model, reference) = (
        fixture("sklearn_array_islr.onnx"),
        fixture("sklearn_array_islr_reference.csv"),
    );
    let mut opts = options("islr_default", &store, "onnx", model, reference);
    let err = import(&opts).await.unwrap_err().to_string();
    assert!(err.contains("X_0"), "{err}");
    opts.features = [
        ("X_0", "balance"),
        ("X_1", "income"),
        ("X_2", "balance_to_income"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    let r = import(&opts).await.unwrap();
    assert!(
        r.version.champion && r.parity.reference_rows.max_difference < 1e-6,
        "{:?}",
        r.parity
    );
}

/// A PMML scorecard (optbinning's, through sklearn2pmml) with and without reason codes;
/// served, its points are JPMML-Evaluator's and its reasons JPMML's `pointsBelow` codes on
/// the raw records whose features are the reference rows'.
#[tokio::test]
async fn pmml_scorecards_are_imported_served_and_answer_as_jpmml() {
    let plain = ("scorecard_german.pmml", "scorecard_german_reference.csv");
    imported_served_and_scored("german_credit", "pmml", plain, german_codes).await;
    let reasons = (
        "scorecard_german_reasons.pmml",
        "scorecard_german_reference.csv",
    );
    let store = imported_served_and_scored("german_credit", "pmml", reasons, german_codes).await;
    // The card's bins are described on the pipeline's training rows (PMML keeps points only).
    let versions = store.join("german_credit/versions");
    let version = std::fs::read_dir(&versions)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let artifact: Value =
        serde_json::from_slice(&std::fs::read(version.join("model.json")).unwrap()).unwrap();
    for c in artifact["model"]["characteristics"].as_array().unwrap() {
        let rows: u64 = (c["stats"].as_array().unwrap().iter())
            .map(|s| s["rows"].as_u64().unwrap())
            .sum();
        assert!(rows > 500, "{c}");
    }
    let (_, app) = super::population::audited_app(&store).await;
    let file = sql_dir().join("german_credit/data/german_credit.parquet");
    let data = records(&file, &["creditability"]).await;
    let reference = records(&fixture(reasons.1), &[]).await;
    let mut compared = 0;
    // Reference row r is raw row 3r (german_features.py), the first three edited and some
    // ages blanked (row % 17 == 3): the others are the raw records' own features.
    for (r, want) in reference.iter().enumerate().skip(3) {
        if (3 * r) % 17 == 3 {
            continue;
        }
        let (status, answer) = post_json(
            app.clone(),
            "/v1/pipelines/german_credit/predict",
            &data[3 * r],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let points = answer["points"].as_f64().unwrap();
        let jpmml = want["jpmml_score"].as_f64().unwrap();
        assert!(
            (points - jpmml).abs() < 1e-9,
            "row {r}: {points} against {jpmml}"
        );
        let codes: Vec<&str> = (answer["reasons"].as_array().unwrap().iter())
            .map(|c| c["code"].as_str().unwrap())
            .collect();
        assert!(!codes.is_empty(), "row {r}: {answer}");
        for (k, code) in codes.iter().enumerate() {
            assert_eq!(
                *code,
                want[format!("reason{}", k + 1)].as_str().unwrap(),
                "row {r}"
            );
        }
        compared += 1;
    }
    assert!(compared > 250, "{compared} rows compared");
}

/// Import the fixture (model, reference) into a fresh store; serve and batch-score the
/// pipeline's data with it, `codes` giving each raw record's features.
async fn imported_served_and_scored(
    pipeline: &str,
    format: &str,
    (model, reference): (&str, &str),
    codes: Codes,
) -> std::path::PathBuf {
    let dir = fresh_dir(&tmp(), &format!("import-{pipeline}-{model}"));
    let store = dir.join("store");
    let (model, reference) = (fixture(model), fixture(reference));
    let r = import(&options(
        pipeline,
        &store,
        format,
        model.clone(),
        reference.clone(),
    ))
    .await
    .unwrap();
    assert!(r.version.champion, "{:?}", r.version.promotion);
    // XGBoost adds its margins in float32, and ONNX Runtime computes in float32: their
    // own probabilities are 1e-7 from exact. The trees' edges are routed exactly; a linear
    // model's gate rows (missing, zero, each level, an unseen one) are scored by the
    // graph's own operators in float32.
    let exact = if format == "onnx" { 1e-6 } else { 1e-12 };
    assert!(r.parity.reference_rows.rows > 300 && r.parity.reference_rows.max_difference < 1e-6);
    assert!(r.parity.edge_rows.rows > 50 && r.parity.edge_rows.max_difference < exact);
    assert!(
        r.version.metrics.test.roc_auc > 0.7,
        "{:?}",
        r.version.metrics.test
    );
    // The version keeps the model file, its parity and provenance beside its own files.
    let files = std::fs::read_dir(
        store
            .join(pipeline)
            .join("versions")
            .join(&r.version.version)
            .join("imported"),
    )
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .collect::<Vec<_>>();
    assert_eq!(files.len(), 3, "{files:?}");
    // Its card says where it came from and how its conversion was checked.
    let card = std::fs::read_to_string(
        store
            .join(pipeline)
            .join("versions")
            .join(&r.version.version)
            .join("card.md"),
    )
    .unwrap();
    let provenance = &card[card.find("## Provenance").expect("a provenance section")..];
    assert!(provenance.contains(&r.provenance.sha256), "{provenance}");
    assert!(
        provenance.contains("not reproduced by riskfn"),
        "{provenance}"
    );
    assert!(
        provenance.contains(&format!("| {} |", r.parity.reference_rows.rows)),
        "{provenance}"
    );

    // Served: the raw record's probability is LightGBM's on the SQL's features.
    let m = riskfn_batch::import::read(format, &std::fs::read(&model).unwrap()).unwrap();
    let m = m.as_ref();
    let (_, app) = super::population::audited_app(&store).await;
    let target = riskfn_batch::pipeline::Pipeline::locate(pipeline, &sql_dir())
        .unwrap()
        .target;
    let file = sql_dir()
        .join(pipeline)
        .join(format!("data/{pipeline}.parquet"));
    let data = records(&file, &[target.as_str()]).await;
    let predict = format!("/v1/pipelines/{pipeline}/predict");
    let mut explained = 0;
    for record in data.iter().step_by(50) {
        let (status, answer) = post_json(app.clone(), &predict, record).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let p = answer["probability"].as_f64().unwrap();
        let want = m.probability(&codes(m, record));
        assert!(
            (p - want).abs() < exact.max(1e-9),
            "{p} against the library's {want}"
        );
        // Reasons: the features that pushed toward the adverse outcome, when any did.
        explained += usize::from(answer["reasons"].as_array().is_some_and(|r| !r.is_empty()));
    }
    assert!(explained > 0);
    // Batch scoring (the function SQL's riskfn_predict runs) gives every row the same.
    let scores = dir.join("scores.parquet");
    riskfn_tests::score_bundled(pipeline, &store, Some(&r.version.version), None, &scores).await;
    let scored = records(&scores, &["reasons"]).await;
    assert_eq!(scored.len(), data.len());
    for (row, record) in scored.iter().zip(&data) {
        let p = row["probability"].as_f64().unwrap();
        let want = m.probability(&codes(m, record));
        assert!(
            (p - want).abs() < exact.max(1e-9),
            "row {}: {p} against the library's {want}",
            row["row_id"]
        );
    }
    // And SQL's riskfn_predict over the same file, row for row.
    let stored = riskfn_core::registry::store::open(&store.display().to_string())
        .await
        .unwrap();
    let loaded = riskfn_core::registry::Registry::new(stored)
        .load(pipeline, &r.version.version)
        .await
        .unwrap();
    let raw_fields: Vec<&str> = (loaded.scorer.artifact().raw_schema.fields.iter())
        .map(|f| f.name.as_str())
        .collect();
    let query = format!(
        "SELECT get_field(riskfn_predict('{pipeline}', {}), 'probability') AS p FROM applicants",
        raw_fields.join(", ")
    );
    let batches = riskfn_batch::score::sql(&riskfn_batch::score::SqlOptions {
        pipelines: vec![pipeline.into()],
        tables: vec![("applicants".into(), file.display().to_string())],
        query,
        store: store.display().to_string(),
        s3: Default::default(),
    })
    .await
    .unwrap();
    let by_sql: Vec<f64> = (batches.iter())
        .flat_map(|b| {
            let c = b.column(0).as_primitive::<arrow::datatypes::Float64Type>();
            c.values().to_vec()
        })
        .collect();
    assert_eq!(by_sql.len(), scored.len());
    for (p, row) in by_sql.iter().zip(&scored) {
        assert_eq!(p.to_bits(), row["probability"].as_f64().unwrap().to_bits());
    }
    store
}

#[tokio::test]
async fn a_reference_that_disagrees_or_a_feature_the_sql_lacks_publishes_nothing() {
    let dir = fresh_dir(&tmp(), "import-refused");
    let store = dir.join("store");
    let model = fixture("lightgbm_german.txt");
    let reference = fixture("lightgbm_german_reference.csv");
    // One probability off by 1e-3.
    let text = std::fs::read_to_string(&reference).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let at = header.iter().position(|h| *h == "probability").unwrap();
    let mut cells: Vec<String> = lines[5].split(',').map(str::to_owned).collect();
    let p: f64 = cells[at].parse().unwrap();
    cells[at] = format!("{}", p + 1e-3);
    lines[5] = cells.join(",");
    let off = dir.join("off.csv");
    std::fs::write(&off, lines.join("\n") + "\n").unwrap();
    let err = import(&options(
        "german_credit",
        &store,
        "lightgbm",
        model.clone(),
        off,
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("parity gate") && err.contains("row 5"),
        "{err}"
    );
    // A feature the pipeline's SQL does not compute.
    let renamed = dir.join("renamed.txt");
    let text =
        std::fs::read_to_string(&model)
            .unwrap()
            .replacen("monthly_amount", "monthly_payment", 1);
    std::fs::write(&renamed, text).unwrap();
    let renamed_ref = dir.join("renamed.csv");
    std::fs::write(
        &renamed_ref,
        std::fs::read_to_string(&reference).unwrap().replacen(
            "monthly_amount",
            "monthly_payment",
            1,
        ),
    )
    .unwrap();
    let err = import(&options(
        "german_credit",
        &store,
        "lightgbm",
        renamed.clone(),
        renamed_ref,
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("monthly_payment"), "{err}");
    // A map naming a feature the model does not read.
    let mut wrong = options(
        "german_credit",
        &store,
        "lightgbm",
        renamed.clone(),
        reference.clone(),
    );
    wrong.features = vec![("monthly_paymnet".into(), "monthly_amount".into())];
    let err = import(&wrong).await.unwrap_err().to_string();
    assert!(
        err.contains("monthly_paymnet") && err.contains("does not read"),
        "{err}"
    );
    // Nothing was published.
    let versions = store.join("german_credit/versions");
    assert!(!versions.exists() || std::fs::read_dir(&versions).unwrap().next().is_none());
    // Mapped onto the SQL's column (the reference rows by the SQL's names), it imports.
    let mut mapped = options("german_credit", &store, "lightgbm", renamed, reference);
    mapped.features = vec![("monthly_payment".into(), "monthly_amount".into())];
    let r = import(&mapped).await.unwrap();
    assert!(
        r.parity.reference_rows.max_difference < 1e-12,
        "{:?}",
        r.parity
    );
}
