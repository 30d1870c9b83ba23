//! TreeSHAP values of a published boosted model against the `shap` package's.
//!
//! The fixture holds the gradient_boosting model riskfn published for german_credit, 120
//! input rows (normal values, 0/1 values and NaN), and what shap 0.51.0's
//! `TreeExplainer(feature_perturbation="tree_path_dependent")` gives for them on the same
//! trees exported in its custom-tree format: written by `tests/reference/treeshap.py`.

use riskfn_core::model::shap::{LeafTables, add_tree_shap, expected_value};
use riskfn_core::model::{Model, sigmoid};

#[derive(serde::Deserialize)]
struct Fixture {
    model: Model,
    x: Vec<Vec<Option<f64>>>,
    phi: Vec<Vec<f64>>,
    expected_value: f64,
}

#[test]
fn tree_shap_equals_the_shap_package_on_a_published_model() {
    let text = include_str!("fixtures/treeshap_german_credit.json");
    let f: Fixture = serde_json::from_str(text).unwrap();
    let Model::GradientBoosting(b) = &f.model else {
        panic!("a boosted model");
    };
    let expected = b.base_score + b.trees.iter().map(expected_value).sum::<f64>();
    assert!(
        (expected - f.expected_value).abs() < 1e-9,
        "{expected} against {}",
        f.expected_value
    );
    let mut path = Vec::new();
    for (row, want) in f.x.iter().zip(&f.phi) {
        let x: Vec<f64> = row.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
        let mut phi = vec![0.0; x.len()];
        for t in &b.trees {
            add_tree_shap(t, &x, &mut phi, &mut path);
        }
        for (i, (a, w)) in phi.iter().zip(want).enumerate() {
            assert!((a - w).abs() < 1e-9, "input {i}: {a} against shap's {w}");
        }
        // The per-leaf tables the scorer uses give the same values.
        let mut by_table = vec![0.0; x.len()];
        for t in &b.trees {
            LeafTables::new(t)
                .unwrap()
                .add(t, &x, &mut by_table, &mut Vec::new());
        }
        for (i, (a, w)) in by_table.iter().zip(want).enumerate() {
            assert!(
                (a - w).abs() < 1e-9,
                "input {i}: {a} (tables) against shap's {w}"
            );
        }
        // Local accuracy: the values add up to the log-odds minus the expectation.
        let total: f64 = phi.iter().sum();
        assert!((total - (b.margin(&x) - expected)).abs() < 1e-9);
        assert!((sigmoid(b.margin(&x)) - f.model.probability(&x)).abs() == 0.0);
    }
}
