//! The points scorecard: WoE and IV against optbinning, its binning constraints, bad
//! binning configuration, and its quality against the logistic regression.

use riskfn_core::model::{CardBins, Model};
use riskfn_core::registry::Registry;
use riskfn_core::registry::store::LocalStore;
use riskfn_tests::{copy_pipeline, fresh_dir};

use super::tmp;

/// The card `tests/reference/optbinning_reference.py` was run on: scorecard only, one grid
/// point.
async fn card(
    pipeline: &str,
    extra: &str,
) -> (riskfn_core::contract::artifact::ScoringArtifact, String) {
    let dir = fresh_dir(&tmp(), &format!("scorecard-{pipeline}"));
    let extra = extra.to_owned();
    let p = copy_pipeline(pipeline, &dir, move |name, text| match name {
        "pipeline.toml" => text.replacen(
            "[decision]",
            &format!("[models.scorecard]\nmax_bins = [6]\nc = [1.0]\n{extra}\n[decision]"),
            1,
        ),
        _ => text,
    });
    let store = dir.join("store");
    let r = riskfn_tests::train_families(&p.display().to_string(), &store, &["scorecard"])
        .await
        .unwrap();
    let reg = Registry::new(std::sync::Arc::new(LocalStore::new(&store)));
    let loaded = reg.load(pipeline, &r.version).await.unwrap();
    (loaded.scorer.artifact().clone(), r.version)
}

/// On riskfn's own bins, optbinning's binning table gives the same rows, WoE and IV to
/// 1e-9 (expected values: tests/reference/optbinning_{german_credit,credit_data}.json,
/// optbinning 1.0.0, written by optbinning_reference.py beside them); and riskfn's IV is
/// within 2 % of optbinning's own OptimalBinning under the same constraints.
#[tokio::test]
async fn woe_and_iv_equal_optbinning_and_the_binning_is_as_good() {
    for (pipeline, reference) in [
        (
            "german_credit",
            include_str!("../reference/optbinning_german_credit.json"),
        ),
        (
            "credit_data",
            include_str!("../reference/optbinning_credit_data.json"),
        ),
    ] {
        let expected: serde_json::Value = serde_json::from_str(reference).unwrap();
        let (artifact, _) = card(pipeline, "").await;
        let Model::Scorecard(card) = &artifact.model else {
            panic!("{pipeline}: a scorecard");
        };
        assert!(card.characteristics.len() >= 8, "{pipeline}");
        for c in &card.characteristics {
            let name = &artifact.features[c.feature].name;
            let e = &expected["characteristics"][name];
            let theirs = e["same_bins"].as_array().unwrap();
            // optbinning lists an (empty) missing bin for a category too; riskfn's category
            // bins hold the missing level like any other.
            for (i, ours) in c.stats.iter().enumerate() {
                let t = &theirs[i];
                assert_eq!(
                    ours.rows,
                    t["rows"].as_u64().unwrap(),
                    "{pipeline} {name} bin {i}"
                );
                assert_eq!(
                    ours.adverse,
                    t["events"].as_u64().unwrap(),
                    "{pipeline} {name}"
                );
                assert!(
                    (ours.woe - t["woe"].as_f64().unwrap()).abs() < 1e-9,
                    "{pipeline} {name} bin {i}: WoE {} against {}",
                    ours.woe,
                    t["woe"]
                );
                assert!((ours.iv - t["iv"].as_f64().unwrap()).abs() < 1e-9);
            }
            let iv: f64 = c.stats.iter().map(|b| b.iv).sum();
            assert!(
                (iv - e["iv"].as_f64().unwrap()).abs() < 1e-9,
                "{pipeline} {name}"
            );
            let optimal = e["optimal_iv"].as_f64().unwrap();
            assert!(
                iv >= 0.98 * optimal,
                "{pipeline} {name}: IV {iv:.4}, optbinning's optimum {optimal:.4}"
            );
        }
    }
}

/// Every number's bins keep their WoE trend (the configured one, or the one chosen), their
/// minimum share, and the points card adds up to the report's table.
#[tokio::test]
async fn every_bin_obeys_its_constraints() {
    let (artifact, _) = card(
        "german_credit",
        "trend = { duration_months = \"ascending\", age = \"descending\" }",
    )
    .await;
    let Model::Scorecard(card) = &artifact.model else {
        panic!("a scorecard");
    };
    let total: u64 = card.characteristics[0].stats.iter().map(|b| b.rows).sum();
    let mut seen = 0;
    for c in &card.characteristics {
        let name = &artifact.features[c.feature].name;
        let CardBins::Numeric { cuts, .. } = &c.bins else {
            continue;
        };
        seen += 1;
        // Present-value bins, then the missing one.
        let bins = &c.stats[..=cuts.len()];
        let rates: Vec<f64> = bins
            .iter()
            .map(|b| b.adverse as f64 / b.rows as f64)
            .collect();
        let up = rates.windows(2).all(|w| w[0] < w[1]);
        let down = rates.windows(2).all(|w| w[0] > w[1]);
        assert!(up || down || rates.len() == 1, "{name}: {rates:?}");
        if name == "duration_months" {
            assert!(up, "{name} is configured ascending: {rates:?}");
        }
        if name == "age" {
            assert!(down, "{name} is configured descending: {rates:?}");
        }
        // WoE moves against the adverse rate.
        let woe: Vec<f64> = bins.iter().map(|b| b.woe).collect();
        assert!(
            woe.windows(2)
                .all(|w| (w[1] - w[0]) * (rates[1] - rates[0]) < 0.0),
            "{name}: {woe:?}"
        );
        assert!(
            bins.iter().all(|b| b.rows as f64 >= 0.05 * total as f64),
            "{name}: a bin under 5 %"
        );
        assert!(bins.len() <= 6);
        assert!(c.points.iter().all(|p| p.fract() == 0.0), "whole points");
    }
    assert!(seen >= 3);
}

/// Bad binning configuration is a config error naming the key, before anything trains.
#[tokio::test]
async fn bad_binning_configuration_is_refused_with_the_key_named() {
    for (extra, key) in [
        (
            "trend = { purpose = \"ascending\" }",
            "models.scorecard.trend.purpose",
        ),
        ("min_share = 0.6", "models.scorecard.min_share"),
        (
            "trend = { duration_months = \"upwards\" }",
            "models.scorecard.trend.duration_months",
        ),
    ] {
        let dir = fresh_dir(&tmp(), "scorecard-bad");
        let extra = extra.to_owned();
        let p = copy_pipeline("german_credit", &dir, move |name, text| match name {
            "pipeline.toml" => text.replacen(
                "[decision]",
                &format!("[models.scorecard]\n{extra}\n[decision]"),
                1,
            ),
            _ => text,
        });
        let err = riskfn_tests::train_families(
            &p.display().to_string(),
            &dir.join("store"),
            &["scorecard"],
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains(key), "{err}");
        assert!(
            !dir.join("store").join("german_credit").exists(),
            "nothing published"
        );
    }
}

/// `riskfn models export --format sql`, run in DataFusion over every row of each bundled
/// set, gives each row the service's points exactly.
#[tokio::test]
async fn the_exported_sql_gives_the_services_points_on_every_row() {
    use arrow::array::{Array, AsArray};
    use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
    for pipeline in ["german_credit", "credit_data", "islr_default"] {
        let store = fresh_dir(&tmp(), &format!("export-{pipeline}"));
        let r = riskfn_tests::train_families(pipeline, &store, &["scorecard"])
            .await
            .unwrap();
        let reg = Registry::new(std::sync::Arc::new(LocalStore::new(&store)));
        let sql = riskfn_batch::models::export_sql(&reg, pipeline, Some(&r.version))
            .await
            .unwrap();
        let p =
            riskfn_batch::pipeline::Pipeline::locate(pipeline, &riskfn_tests::sql_dir()).unwrap();
        // One partition keeps the file's row order.
        let mut config = SessionConfig::new().with_target_partitions(1);
        config.options_mut().sql_parser.enable_ident_normalization = false;
        let ctx = SessionContext::new_with_config(config);
        ctx.register_parquet("raw", &p.source, ParquetReadOptions::default())
            .await
            .unwrap();
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let mut sql_points = Vec::new();
        for b in &batches {
            let col = arrow::compute::cast(
                b.column_by_name("points").unwrap(),
                &arrow::datatypes::DataType::Float64,
            )
            .unwrap();
            let col = col.as_primitive::<arrow::datatypes::Float64Type>();
            assert_eq!(col.null_count(), 0);
            sql_points.extend(col.values().iter().copied());
        }
        let loaded = reg.load(pipeline, &r.version).await.unwrap();
        let raw =
            riskfn_tests::records(std::path::Path::new(&p.source), &[p.target.as_str()]).await;
        assert_eq!(sql_points.len(), raw.len(), "{pipeline}: every row");
        for (i, (record, sql)) in raw.iter().zip(&sql_points).enumerate() {
            let served = loaded.scorer.score_json(record).unwrap().points;
            assert_eq!(
                served,
                *sql,
                "{pipeline} row {}: service {served}, SQL {sql}",
                i + 1
            );
        }
    }
}

/// Inputs that are exact copies and linear combinations of others (a number doubled, one
/// tripled plus one, a category copied twice) leave the scorecard and the logistic
/// regression trained, not skipped for a singular system, and as good on the test split.
#[tokio::test]
async fn collinear_inputs_still_train() {
    let dir = fresh_dir(&tmp(), "scorecard-collinear");
    let p = copy_pipeline("german_credit", &dir, |name, text| {
        match name {
        "02_features.sql" => text.replace(
            "FROM clean",
            ",\n  credit_amount * 2 AS credit_amount_2,\n  credit_amount * 3 + 1 AS credit_amount_3,\n  duration_months * 2 AS duration_2,\n  checking_account AS checking_copy,\n  credit_history AS history_copy\nFROM clean",
        ),
        _ => text,
    }
    });
    let families = ["scorecard", "logistic_regression"];
    let r = riskfn_tests::train_families(&p.display().to_string(), &dir.join("store"), &families)
        .await
        .unwrap();
    assert!(r.features.iter().any(|f| f.name == "credit_amount_3"));
    for family in families {
        let f = r
            .families
            .iter()
            .find(|f| f.family == family)
            .expect("reported");
        assert_eq!(f.status, "trained", "{family}: {:?}", f.reason);
        let auc = f.test.as_ref().map(|t| t.roc_auc).unwrap_or_default();
        assert!(auc > 0.75, "{family}: test AUC {auc}");
    }
}
