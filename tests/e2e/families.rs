//! Every model family on every bundled dataset: selection by cross-validation, quality
//! against the reference, the report, and families the data cannot support.

use riskfn_batch::train::TrainOptions;
use riskfn_core::registry::Registry;
use riskfn_core::registry::store::LocalStore;
use riskfn_tests::{copy_pipeline, fresh_dir, sql_dir};

use super::tmp;

/// The quality bar: the better test ROC AUC of the reference pipeline's chosen model
/// (scikit-learn, the identical split; figures recorded 2026-11-28) and of LightGBM 4.7.0
/// on the same split (the reference's gbm.py, recorded 2026-12-02 and re-measured here on
/// 2026-12-02: german_credit 0.8214, credit_data 0.8195, islr_default 0.9448):
/// german_credit max(0.806, 0.821), credit_data max(0.830, 0.820), islr_default
/// max(0.947, 0.945). The chosen model may trail it by at most 0.005.
const REFERENCE_AUC: [(&str, f64); 3] = [
    ("german_credit", 0.821),
    ("credit_data", 0.830),
    ("islr_default", 0.947),
];

async fn train_all(pipeline: &str, store: &std::path::Path) -> riskfn_batch::train::TrainReport {
    riskfn_batch::train::train(&TrainOptions {
        pipeline: pipeline.to_owned(),
        sql_dir: sql_dir(),
        data: None,
        store: store.display().to_string(),
        s3: Default::default(),
        force: false,
        progress: false,
        families: None,
        engine: Default::default(),
        by: "trainer".to_owned(),
    })
    .await
    .expect("trains")
}

#[tokio::test]
async fn every_family_trains_and_the_choice_holds_up_against_the_reference() {
    for (name, reference) in REFERENCE_AUC {
        let store = fresh_dir(&tmp(), &format!("families-{name}"));
        let r = train_all(name, &store).await;
        let trained: Vec<&str> = r
            .families
            .iter()
            .filter(|f| f.status == "trained")
            .map(|f| f.family.as_str())
            .collect();
        assert_eq!(
            trained,
            [
                "logistic_regression",
                "scorecard",
                "gaussian_nb",
                "decision_tree",
                "random_forest",
                "gradient_boosting"
            ],
            "{name}"
        );
        assert!(
            r.metrics.test.roc_auc >= reference - 0.005,
            "{name}: chosen {} has test AUC {:.4}, reference {reference}",
            r.model.family,
            r.metrics.test.roc_auc
        );
        // The chosen family has the best cross-validated score, and every score has its
        // spread and its folds.
        let best = r
            .families
            .iter()
            .filter_map(|f| f.score)
            .fold(0.0, f64::max);
        let chosen = r
            .families
            .iter()
            .find(|f| f.family == r.model.family)
            .unwrap();
        assert_eq!(chosen.score.unwrap(), best, "{name}");
        assert!(r.selection.contains("5-fold"), "{name}: {}", r.selection);
        for f in &r.families {
            let spread = f.spread.unwrap();
            assert!(
                spread > 0.0 && spread < 0.1,
                "{name}: {} spread {spread}",
                f.family
            );
            assert!(f.grid.iter().all(|g| g.fold_aucs.len() == 5), "{name}");
            assert_eq!(
                f.importance.len(),
                r.features.len(),
                "{name}: {} ranks every feature",
                f.family
            );
        }
        // The forest matches scikit-learn's on the same design rows and grid point
        // (tests/reference/forest_sklearn.json, written by forest_sklearn.py beside it).
        let forest = r
            .families
            .iter()
            .find(|f| f.family == "random_forest")
            .unwrap();
        let sklearn: serde_json::Value =
            serde_json::from_str(include_str!("../reference/forest_sklearn.json")).unwrap();
        let theirs = sklearn["datasets"][name]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["min_samples_leaf"] == forest.params["min_samples_leaf"])
            .unwrap()["test_auc"]
            .as_f64()
            .unwrap();
        let ours = forest.test.as_ref().unwrap().roc_auc;
        assert!(
            (ours - theirs).abs() <= 0.01,
            "{name}: forest test AUC {ours:.4}, scikit-learn's {theirs:.4}"
        );
        // The points scorecard stays within 0.02 test AUC of the logistic regression.
        let test_auc = |family: &str| {
            r.families
                .iter()
                .find(|f| f.family == family)
                .and_then(|f| f.test.as_ref())
                .unwrap()
                .roc_auc
        };
        assert!(
            test_auc("scorecard") >= test_auc("logistic_regression") - 0.02,
            "{name}: scorecard {:.4}, logistic regression {:.4}",
            test_auc("scorecard"),
            test_auc("logistic_regression")
        );
        // Every family's gains table covers the test split.
        for f in &r.families {
            assert_eq!(
                f.gains.iter().map(|g| g.rows).sum::<usize>(),
                r.data.split["test"].rows as usize,
                "{name}: {}",
                f.family
            );
        }
        // A monotone-constrained feature's partial dependence moves only its way.
        let boosted = r
            .families
            .iter()
            .find(|f| f.family == "gradient_boosting")
            .unwrap();
        let expected_pd = usize::from(name != "islr_default");
        assert_eq!(boosted.partial_dependence.len(), expected_pd, "{name}");
        for pd in &boosted.partial_dependence {
            assert!(pd.monotone && pd.values.len() >= 5, "{name}: {pd:?}");
            let span = pd.mean_probability.last().unwrap() - pd.mean_probability[0];
            assert!(span * f64::from(pd.direction) >= 0.0, "{name}: {pd:?}");
        }
        for f in &r.families {
            assert!(f.grid.len() >= 3, "{name}: {} has its whole grid", f.family);
            let p = f.test.as_ref().unwrap();
            assert!(
                (0.5..=1.0).contains(&p.roc_auc),
                "{name}: {} test AUC {}",
                f.family,
                p.roc_auc
            );
        }

        // The published version serves the chosen model and carries the human report.
        let reg = Registry::new(std::sync::Arc::new(LocalStore::new(&store)));
        let loaded = reg.load(name, &r.version).await.unwrap();
        assert_eq!(loaded.scorer.artifact().model.family(), r.model.family);
        let html = String::from_utf8(
            reg.read_verified(&loaded.manifest, "report.html")
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert_eq!(
            html.matches("<svg").count(),
            3,
            "{name}: ROC, calibration, distributions"
        );
        for needle in [
            "ROC curve",
            "Calibration",
            "Scores by class",
            "random_forest",
            "gaussian_nb",
            "gradient_boosting",
            "Feature importance",
        ] {
            assert!(html.contains(needle), "{name}: report lacks {needle}");
        }
    }
}

#[tokio::test]
async fn a_family_the_data_cannot_support_is_skipped_with_a_reason() {
    let dir = fresh_dir(&tmp(), "too-few");
    // About 150 applicants under 25: a 20-row leaf on each side needs 40 of the rarer class.
    let p = copy_pipeline("german_credit", &dir, |name, text| match name {
        "01_clean.sql" => text.replace(
            "WHERE credit_amount > 0",
            "WHERE credit_amount > 0 AND age_in_years < 25",
        ),
        "pipeline.toml" => text.replace(
            "seed = 42",
            "seed = 42\n\n[models.decision_tree]\nmax_depth = [3, 0]\nmin_samples_leaf = [20, 50]",
        ),
        _ => text,
    });
    let r = train_all(&p.display().to_string(), &dir.join("store")).await;
    let tree = r
        .families
        .iter()
        .find(|f| f.family == "decision_tree")
        .unwrap();
    assert_eq!(tree.status, "skipped");
    assert!(
        tree.reason
            .as_deref()
            .unwrap()
            .contains("needs at least 40"),
        "{:?}",
        tree.reason
    );
    assert!(r.families.iter().any(|f| f.status == "trained"));
}
