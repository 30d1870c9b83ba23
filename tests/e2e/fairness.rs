//! Fair lending: outcomes by protected group for every version, checked against fairlearn,
//! and the gate on adverse impact ratios.

use riskfn_tests::{copy_pipeline, fresh_dir, train_families};

use super::tmp;

/// german_credit's fairness table on the test split equals fairlearn's MetricFrame on the
/// same approvals (tests/reference/fairlearn_german_credit.json, fairlearn 0.15.0, written by
/// fairlearn_reference.py beside it); groups under 30 rows carry no ratio.
#[tokio::test]
async fn group_measures_equal_fairlearn_and_small_groups_carry_no_ratio() {
    let store = fresh_dir(&tmp(), "fairness-german");
    let r = riskfn_tests::train_all_families("german_credit", &store)
        .await
        .unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(include_str!("../reference/fairlearn_german_credit.json")).unwrap();
    let names: Vec<&str> = r.fairness.iter().map(|f| f.attribute.as_str()).collect();
    assert_eq!(names, ["age", "foreign_worker", "marital_status", "sex"]);
    for f in &r.fairness {
        assert!(
            !f.validation.is_empty() && !f.test.is_empty(),
            "{}",
            f.attribute
        );
        let reference = f.test.iter().find(|g| g.reference).unwrap();
        assert_eq!(reference.group, f.reference);
        assert_eq!(
            f.test.iter().map(|g| g.rows).sum::<usize>(),
            217,
            "every test row"
        );
        for g in &f.test {
            if g.small {
                assert!(g.rows < 30 || reference.rows < 30);
                assert!(
                    g.adverse_impact_ratio.is_none() && g.standardized_mean_difference.is_none()
                );
            } else {
                assert!(
                    g.adverse_impact_ratio.is_some(),
                    "{} {}",
                    f.attribute,
                    g.group
                );
            }
        }
        let Some(theirs) = expected["attributes"].get(&f.attribute) else {
            continue;
        };
        for g in &f.test {
            let t = &theirs[&g.group];
            assert_eq!(
                g.rows as u64,
                t["count"].as_u64().unwrap(),
                "{} {}",
                f.attribute,
                g.group
            );
            assert!((g.approval_rate - t["selection_rate"].as_f64().unwrap()).abs() < 1e-12);
            if let Some(ratio) = g.adverse_impact_ratio {
                let want = t["ratio_to_reference"].as_f64().unwrap();
                assert!(
                    (ratio - want).abs() < 1e-12,
                    "{} {}: {ratio} against {want}",
                    f.attribute,
                    g.group
                );
            }
        }
    }
    // Foreign workers: 7 of the validation rows are not foreign, too few for any ratio.
    let foreign = r
        .fairness
        .iter()
        .find(|f| f.attribute == "foreign_worker")
        .unwrap();
    assert!(foreign.validation.iter().all(|g| g.small));
}

/// With the four-fifths screen on, a version whose applicants under 25 are approved at
/// less than 0.8 times the rate of those 25 to 39 is published but not promoted, and the
/// verdict names the attribute, the group and the ratio.
#[tokio::test]
async fn the_fairness_gate_refuses_promotion_and_says_why() {
    let dir = fresh_dir(&tmp(), "fairness-gate");
    let p = copy_pipeline("german_credit", &dir, |name, text| match name {
        "pipeline.toml" => text.replacen(
            "[decision]",
            "[gate]\nmin_adverse_impact_ratio = 0.8\n\n[decision]",
            1,
        ),
        _ => text,
    });
    let r = riskfn_tests::train_all_families(&p.display().to_string(), &dir.join("store"))
        .await
        .unwrap();
    assert!(!r.gate.passed, "{}", r.gate.reason);
    assert!(!r.champion);
    assert!(
        r.gate.reason.contains("age = < 25") && r.gate.reason.contains("below 0.8"),
        "{}",
        r.gate.reason
    );
    // The version's card says why it was not promoted.
    let reg = riskfn_core::registry::Registry::new(
        riskfn_core::registry::store::open(&dir.join("store").display().to_string())
            .await
            .unwrap(),
    );
    let m = reg.manifest("german_credit", &r.version).await.unwrap();
    let md = reg
        .read_verified(&m, riskfn_core::contract::card::CARD_MARKDOWN)
        .await
        .unwrap();
    let md = String::from_utf8_lossy(&md);
    assert!(
        md.contains(&format!("Refused: {}", r.gate.reason))
            && md.contains("adverse impact ratio on validation at least 0.8"),
        "{md}"
    );
}

/// A protected attribute may not be a feature: the build refuses the config.
#[tokio::test]
async fn a_protected_attribute_that_is_a_feature_is_refused() {
    let dir = fresh_dir(&tmp(), "fairness-feature");
    let p = copy_pipeline("german_credit", &dir, |name, text| match name {
        "pipeline.toml" => text.replace(
            "\"sex\", \"marital_status\", \"age_years\"]",
            "\"marital_status\", \"age_years\"]",
        ),
        _ => text,
    });
    let err = train_families(
        &p.display().to_string(),
        &dir.join("store"),
        &["logistic_regression"],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("fairness.sex") && err.contains("columns.exclude"),
        "{err}"
    );
}

/// `riskfn drift` measures approvals by protected group over a raw batch: on german_credit's
/// own file, each group's rows and approval rate equal those of the service's decisions on
/// the same records grouped by hand, and the ratio is the group's rate over the reference's.
#[tokio::test]
async fn drift_reports_approvals_by_group_over_a_batch() {
    let store = fresh_dir(&tmp(), "fairness-drift");
    let r = train_families("german_credit", &store, &["logistic_regression"])
        .await
        .unwrap();
    let data = riskfn_tests::repo().join("sql/german_credit/data/german_credit.parquet");
    let report = riskfn_batch::drift::drift(&riskfn_batch::drift::DriftOptions {
        pipeline: "german_credit".into(),
        version: Some(r.version.clone()),
        data: data.display().to_string(),
        store: store.display().to_string(),
        s3: Default::default(),
        engine: Default::default(),
    })
    .await
    .unwrap();
    let names: Vec<&str> = report
        .fairness
        .iter()
        .map(|f| f.attribute.as_str())
        .collect();
    assert_eq!(names, ["age", "foreign_worker", "marital_status", "sex"]);
    for f in &report.fairness {
        assert!(
            f.not_measured.is_none(),
            "{}: {:?}",
            f.attribute,
            f.not_measured
        );
    }

    // By hand: the service's decision on each record, grouped by the raw field.
    let reg = riskfn_core::registry::Registry::new(
        riskfn_core::registry::store::open(&store.display().to_string())
            .await
            .unwrap(),
    );
    let loaded = reg.load("german_credit", &r.version).await.unwrap();
    let mut by_sex: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    let records = riskfn_tests::records(&data, &["creditability"]).await;
    for rec in &records {
        let s = loaded.scorer.score_json(rec).unwrap();
        let sex = if rec["personal_status_and_sex"]
            .as_str()
            .unwrap()
            .starts_with("female")
        {
            "female"
        } else {
            "male"
        };
        let e = by_sex.entry(sex).or_default();
        e.0 += 1;
        e.1 += u64::from(&*s.decision == "approve");
    }
    let sex = report
        .fairness
        .iter()
        .find(|f| f.attribute == "sex")
        .unwrap();
    assert_eq!(sex.groups[0].group, "male");
    assert!(sex.groups[0].reference);
    let rate = |(n, a): (u64, u64)| a as f64 / n as f64;
    for g in &sex.groups {
        let want = by_sex[g.group.as_str()];
        assert_eq!(g.rows, want.0, "{}", g.group);
        assert!((g.approval_rate - rate(want)).abs() < 1e-12);
    }
    let female = sex.groups.iter().find(|g| g.group == "female").unwrap();
    let want = rate(by_sex["female"]) / rate(by_sex["male"]);
    assert!((female.adverse_impact_ratio.unwrap() - want).abs() < 1e-12);
    assert_eq!(
        female.training_ratio,
        r.fairness
            .iter()
            .find(|f| f.attribute == "sex")
            .unwrap()
            .validation
            .iter()
            .find(|g| g.group == "female")
            .unwrap()
            .adverse_impact_ratio
    );
}
