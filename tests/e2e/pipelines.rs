//! Pipeline capabilities and the errors a data team meets: split column, missing-value
//! policy, type errors, empty results, splits without an outcome.

use riskfn_core::registry::Registry;
use riskfn_core::registry::store::LocalStore;
use riskfn_tests::{copy_pipeline, fresh_dir, train};

use super::spine::{assert_nothing_published, train_at};
use super::tmp;

fn edit_file(
    file: &'static str,
    from: &'static str,
    to: &'static str,
) -> impl Fn(&str, String) -> String {
    move |name, text| {
        if name == file {
            assert!(text.contains(from), "{file} lacks {from:?}");
            text.replace(from, to)
        } else {
            text
        }
    }
}

#[tokio::test]
async fn a_split_column_from_the_sql_is_used_and_reproducible() {
    let dir = fresh_dir(&tmp(), "split-col");
    let p = copy_pipeline("german_credit", &dir, |name, text| {
        match name {
        "pipeline.toml" => text.replace("method = \"hash\"", "method = \"column\"\ncolumn = \"split\""),
        "02_features.sql" => text.replace(
            "FROM clean",
            ",\n  CASE WHEN credit_amount % 5 = 0 THEN 'test' WHEN credit_amount % 5 = 1 THEN 'valid' ELSE 'train' END AS split\nFROM clean",
        ),
        _ => text,
    }
    });
    let a = train(&p.display().to_string(), &dir.join("a"), None)
        .await
        .unwrap();
    let b = train(&p.display().to_string(), &dir.join("b"), None)
        .await
        .unwrap();
    let rows = |r: &riskfn_batch::train::TrainReport, s: &str| r.data.split[s].rows;
    assert_eq!(
        rows(&a, "train") + rows(&a, "validation") + rows(&a, "test"),
        1000
    );
    assert!(
        rows(&a, "test") > 150 && rows(&a, "test") < 250,
        "{:?}",
        a.data.split
    );
    assert_eq!(a.data.split, b.data.split);
    assert_eq!(a.metrics.test.roc_auc, b.metrics.test.roc_auc);
    // The split column is not a feature.
    assert!(a.features.iter().all(|f| f.name != "split"));
}

#[tokio::test]
async fn dropping_rows_with_missing_values_makes_fields_required_online() {
    let dir = fresh_dir(&tmp(), "drop-missing");
    let p = copy_pipeline(
        "credit_data",
        &dir,
        edit_file(
            "pipeline.toml",
            "missing = \"impute\"",
            "missing = \"drop\"",
        ),
    );
    let store = dir.join("store");
    let r = train(&p.display().to_string(), &store, None).await.unwrap();
    // 4,454 rows, 2 duplicates; rows with any missing feature value are dropped.
    assert!(r.data.rows_dropped_missing > 300, "{:?}", r.data);
    let reg = Registry::new(std::sync::Arc::new(LocalStore::new(&store)));
    let loaded = reg.load("credit_data", &r.version).await.unwrap();
    let income = loaded
        .scorer
        .artifact()
        .raw_schema
        .fields
        .iter()
        .find(|f| f.name == "Income")
        .unwrap();
    assert!(
        !income.nullable,
        "Income must be required when missing rows are dropped"
    );

    let imputed = train("credit_data", &dir.join("store-impute"), None)
        .await
        .unwrap();
    assert_eq!(imputed.data.rows_dropped_missing, 0);
    let reg = Registry::new(std::sync::Arc::new(LocalStore::new(
        dir.join("store-impute"),
    )));
    let loaded = reg.load("credit_data", &imputed.version).await.unwrap();
    let income = loaded
        .scorer
        .artifact()
        .raw_schema
        .fields
        .iter()
        .find(|f| f.name == "Income")
        .unwrap();
    assert!(income.nullable, "Income may be missing when it is imputed");
}

#[tokio::test]
async fn a_float_declared_categorical_is_a_type_error() {
    let dir = fresh_dir(&tmp(), "type-error");
    let p = copy_pipeline(
        "german_credit",
        &dir,
        edit_file(
            "pipeline.toml",
            "categorical = []",
            "categorical = [\"monthly_amount\"]",
        ),
    );
    let store = dir.join("store");
    let msg = train_at(&p, &store, None).await;
    assert!(
        msg.contains("monthly_amount") && msg.contains("floats"),
        "{msg}"
    );
    assert_nothing_published(&store).await;
}

#[tokio::test]
async fn an_empty_table_after_cleaning_is_refused() {
    let dir = fresh_dir(&tmp(), "empty");
    let p = copy_pipeline(
        "german_credit",
        &dir,
        edit_file(
            "01_clean.sql",
            "WHERE credit_amount > 0",
            "WHERE credit_amount < 0",
        ),
    );
    let store = dir.join("store");
    let msg = train_at(&p, &store, None).await;
    assert!(msg.contains("no rows left after cleaning"), "{msg}");
    assert_nothing_published(&store).await;
}

#[tokio::test]
async fn a_split_without_adverse_outcomes_is_refused() {
    let dir = fresh_dir(&tmp(), "no-positives");
    let p = copy_pipeline("german_credit", &dir, |name, text| {
        match name {
        "pipeline.toml" => text.replace("method = \"hash\"", "method = \"column\"\ncolumn = \"split\""),
        "02_features.sql" => text.replace(
            "FROM clean",
            ",\n  CASE WHEN creditability = 'bad' THEN 'train' WHEN age < 30 THEN 'test' WHEN age < 40 THEN 'valid' ELSE 'train' END AS split\nFROM clean",
        ),
        _ => text,
    }
    });
    let store = dir.join("store");
    let msg = train_at(&p, &store, None).await;
    assert!(
        msg.contains("split has") && msg.contains("0 adverse"),
        "{msg}"
    );
    assert_nothing_published(&store).await;
}

/// `LIKE`, `NOT LIKE` and `ILIKE` run online: features built with them train, and the run's
/// parity check has compared the online values with DataFusion's on every row.
#[tokio::test]
async fn like_patterns_run_online_as_in_datafusion() {
    let dir = fresh_dir(&tmp(), "like");
    let p = copy_pipeline("german_credit", &dir, |name, text| {
        match name {
        "02_features.sql" => text.replace(
            "FROM clean",
            ",\n  CASE WHEN credit_history LIKE '%paid back duly%' THEN 'duly' ELSE 'other' END AS paid_duly,\n  \
             CASE WHEN purpose NOT LIKE '_a%' THEN 1 ELSE 0 END AS purpose_not_a,\n  \
             CASE WHEN housing ILIKE 'OWN' THEN 1 ELSE 0 END AS owns_home\nFROM clean",
        ),
        _ => text,
    }
    });
    let r = riskfn_tests::train_families(
        &p.display().to_string(),
        &dir.join("store"),
        &["logistic_regression"],
    )
    .await
    .unwrap();
    for f in ["paid_duly", "purpose_not_a", "owns_home"] {
        assert!(r.features.iter().any(|x| x.name == f), "{f}");
    }
}
