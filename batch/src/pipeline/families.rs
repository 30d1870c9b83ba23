//! The `[models]` section of `pipeline.toml`: which families to train and their grids.

use std::collections::BTreeMap;

use riskfn_train::binning::Trend;
use riskfn_train::select::{DEFAULT_FAMILIES, ORDER};
use riskfn_train::svm::KernelKind;
use riskfn_train::{
    BoostingSpec, Families, ForestSpec, LogisticSpec, NaiveBayesSpec, ScorecardSpec, Selection,
    SvmSpec, TreeSpec,
};
use serde::Deserialize;

/// `[models]`. Every family is trained with its default grid unless `families` lists a
/// subset; a family's own table replaces its grid.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelsConfig {
    families: Option<Vec<String>>,
    seed: Option<u64>,
    /// Cross-validation folds over train + validation (below 2: the validation split).
    folds: Option<usize>,
    /// Above this many train + validation rows, the validation split decides alone.
    max_cv_rows: Option<usize>,
    /// Families whose scores are within this of the best are tied; the simpler wins.
    tie_tolerance: Option<f64>,
    logistic_regression: Option<LogisticConfig>,
    scorecard: Option<ScorecardConfig>,
    gaussian_nb: Option<NbConfig>,
    linear_svm: Option<SvmConfig>,
    rbf_svm: Option<SvmConfig>,
    decision_tree: Option<TreeConfig>,
    random_forest: Option<ForestConfig>,
    gradient_boosting: Option<BoostingConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogisticConfig {
    c: Option<Vec<f64>>,
    max_iterations: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScorecardConfig {
    c: Option<Vec<f64>>,
    max_bins: Option<Vec<usize>>,
    fine_classes: Option<usize>,
    min_share: Option<f64>,
    iv_floor: Option<f64>,
    max_correlation: Option<f64>,
    /// Feature name -> "auto", "ascending" (the adverse rate rises with it) or "descending".
    trend: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NbConfig {
    var_smoothing: Option<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SvmConfig {
    c: Option<Vec<f64>>,
    max_rows: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeConfig {
    /// 0 = unlimited.
    max_depth: Option<Vec<usize>>,
    min_samples_leaf: Option<Vec<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForestConfig {
    trees: Option<Vec<usize>>,
    /// 0 = unlimited.
    max_depth: Option<Vec<usize>>,
    min_samples_leaf: Option<Vec<usize>>,
    /// Share of the inputs drawn at each split; default sqrt(p) / p.
    feature_proportion: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoostingConfig {
    max_depth: Option<Vec<usize>>,
    num_leaves: Option<Vec<usize>>,
    min_leaf_rows: Option<Vec<usize>>,
    learning_rate: Option<Vec<f64>>,
    min_leaf_weight: Option<Vec<f64>>,
    max_trees: Option<usize>,
    early_stopping_rounds: Option<usize>,
    subsample: Option<f64>,
    colsample: Option<f64>,
    l2: Option<f64>,
    /// Feature name -> 1 (risk never falls as it grows) or -1 (never rises).
    monotone: Option<BTreeMap<String, i64>>,
}

/// The default seed of the random choices (folds, forests, boosting).
pub const DEFAULT_SEED: u64 = 42;

/// What `[models]` resolves to.
#[derive(Debug, Clone)]
pub(crate) struct Models {
    pub families: Families,
    pub seed: u64,
    pub selection: Selection,
    /// `[models.gradient_boosting] monotone`: feature name and direction, mapped to inputs
    /// once the features are known.
    pub monotone: Vec<(String, i8)>,
    /// `[models.scorecard] trend`: feature name and WoE trend, checked against the features.
    pub trends: Vec<(String, Trend)>,
}

fn positive_list(name: &str, v: &[f64]) -> Result<(), String> {
    if v.is_empty() || v.iter().any(|c| !(c.is_finite() && *c > 0.0)) {
        return Err(format!(
            "models.{name} must be a non-empty list of positive numbers"
        ));
    }
    Ok(())
}

fn depths(v: Vec<usize>) -> Vec<Option<usize>> {
    v.into_iter().map(|d| (d > 0).then_some(d)).collect()
}

impl ModelsConfig {
    /// The validated families, seed and selection rule.
    pub(crate) fn resolve(self) -> Result<Models, String> {
        let mut selection = Selection::default();
        if let Some(t) = self.tie_tolerance {
            if !(0.0..=0.5).contains(&t) {
                return Err("models.tie_tolerance must be between 0 and 0.5".into());
            }
            selection.tie_tolerance = t;
        }
        if let Some(k) = self.folds {
            if k > 20 {
                return Err(
                    "models.folds must be at most 20 (0 or 1: the validation split)".into(),
                );
            }
            selection.folds = k;
        }
        if let Some(m) = self.max_cv_rows {
            selection.max_cv_rows = m;
        }
        let wanted: Vec<String> = self
            .families
            .unwrap_or_else(|| DEFAULT_FAMILIES.iter().map(|s| (*s).to_owned()).collect());
        if wanted.is_empty() {
            return Err("models.families must name at least one family".into());
        }
        for w in &wanted {
            if !ORDER.contains(&w.as_str()) {
                return Err(format!(
                    "models.families: unknown family {w:?} (known: {})",
                    ORDER.join(", ")
                ));
            }
        }
        let on = |f: &str| wanted.iter().any(|w| w == f);
        let logistic_regression = if on("logistic_regression") {
            let mut s = LogisticSpec::default();
            if let Some(c) = self.logistic_regression {
                if let Some(grid) = c.c {
                    positive_list("logistic_regression.c", &grid)?;
                    s.c_grid = grid;
                }
                if let Some(m) = c.max_iterations {
                    if m == 0 {
                        return Err(
                            "models.logistic_regression.max_iterations must be at least 1".into(),
                        );
                    }
                    s.max_iterations = m;
                }
            }
            Some(s)
        } else {
            None
        };
        let gaussian_nb = if on("gaussian_nb") {
            let mut s = NaiveBayesSpec::default();
            if let Some(v) = self.gaussian_nb.and_then(|c| c.var_smoothing) {
                positive_list("gaussian_nb.var_smoothing", &v)?;
                s.var_smoothing = v;
            }
            Some(s)
        } else {
            None
        };
        let svm = |name: &str,
                   kind: KernelKind,
                   cfg: Option<SvmConfig>|
         -> Result<Option<SvmSpec>, String> {
            if !on(name) {
                return Ok(None);
            }
            let mut s = SvmSpec::default_for(kind);
            if let Some(c) = cfg {
                if let Some(grid) = c.c {
                    positive_list(&format!("{name}.c"), &grid)?;
                    s.c_grid = grid;
                }
                if let Some(m) = c.max_rows {
                    if m < 10 {
                        return Err(format!("models.{name}.max_rows must be at least 10"));
                    }
                    s.max_rows = m;
                }
            }
            Ok(Some(s))
        };
        let linear_svm = svm("linear_svm", KernelKind::Linear, self.linear_svm)?;
        let rbf_svm = svm("rbf_svm", KernelKind::Rbf, self.rbf_svm)?;
        let decision_tree = if on("decision_tree") {
            let mut s = TreeSpec::default();
            if let Some(c) = self.decision_tree {
                if let Some(d) = c.max_depth {
                    s.max_depth = depths(d);
                }
                if let Some(l) = c.min_samples_leaf {
                    if l.is_empty() || l.contains(&0) {
                        return Err(
                            "models.decision_tree.min_samples_leaf must list numbers >= 1".into(),
                        );
                    }
                    s.min_samples_leaf = l;
                }
            }
            if s.max_depth.is_empty() {
                return Err("models.decision_tree.max_depth must not be empty".into());
            }
            Some(s)
        } else {
            None
        };
        let random_forest = if on("random_forest") {
            let mut s = ForestSpec::default();
            if let Some(c) = self.random_forest {
                if let Some(t) = c.trees {
                    if t.is_empty() || t.contains(&0) {
                        return Err("models.random_forest.trees must list numbers >= 1".into());
                    }
                    s.trees = t;
                }
                if let Some(d) = c.max_depth {
                    s.max_depth = depths(d);
                }
                if let Some(l) = c.min_samples_leaf {
                    if l.is_empty() || l.contains(&0) {
                        return Err(
                            "models.random_forest.min_samples_leaf must list numbers >= 1".into(),
                        );
                    }
                    s.min_samples_leaf = l;
                }
                if let Some(p) = c.feature_proportion {
                    if !(p > 0.0 && p <= 1.0) {
                        return Err(
                            "models.random_forest.feature_proportion must be in (0, 1]".into()
                        );
                    }
                    s.feature_proportion = Some(p);
                }
            }
            if s.max_depth.is_empty() {
                return Err("models.random_forest.max_depth must not be empty".into());
            }
            Some(s)
        } else {
            None
        };
        let mut trends = Vec::new();
        let scorecard = if on("scorecard") {
            let mut s = ScorecardSpec::default();
            if let Some(c) = self.scorecard {
                if let Some(grid) = c.c {
                    positive_list("scorecard.c", &grid)?;
                    s.c_grid = grid;
                }
                if let Some(b) = c.max_bins {
                    if b.is_empty() || b.iter().any(|&b| !(2..=20).contains(&b)) {
                        return Err(
                            "models.scorecard.max_bins must list numbers from 2 to 20".into()
                        );
                    }
                    s.max_bins = b;
                }
                if let Some(f) = c.fine_classes {
                    if !(2..=100).contains(&f) {
                        return Err("models.scorecard.fine_classes must be from 2 to 100".into());
                    }
                    s.fine_classes = f;
                }
                if let Some(m) = c.min_share {
                    if !(m > 0.0 && m <= 0.5) {
                        return Err(format!(
                            "models.scorecard.min_share must be above 0 and at most 0.5 (two bins must fit), not {m}"
                        ));
                    }
                    s.min_share = m;
                }
                if let Some(f) = c.iv_floor {
                    if !(f.is_finite() && f >= 0.0) {
                        return Err("models.scorecard.iv_floor must be >= 0".into());
                    }
                    s.iv_floor = f;
                }
                if let Some(r) = c.max_correlation {
                    if !(r > 0.0 && r <= 1.0) {
                        return Err("models.scorecard.max_correlation must be in (0, 1]".into());
                    }
                    s.max_correlation = r;
                }
                for (name, t) in c.trend.unwrap_or_default() {
                    let trend = match t.as_str() {
                        "auto" => Trend::Auto,
                        "ascending" => Trend::Ascending,
                        "descending" => Trend::Descending,
                        other => {
                            return Err(format!(
                                "models.scorecard.trend.{name}: {other:?} is not \"auto\", \"ascending\" or \"descending\""
                            ));
                        }
                    };
                    trends.push((name, trend));
                }
            }
            Some(s)
        } else {
            None
        };
        let mut monotone = Vec::new();
        let gradient_boosting = if on("gradient_boosting") {
            let mut s = BoostingSpec::default();
            if let Some(c) = self.gradient_boosting {
                let list =
                    |key: &str, v: &[f64]| positive_list(&format!("gradient_boosting.{key}"), v);
                if let Some(d) = c.max_depth {
                    if d.is_empty() || d.iter().any(|&d| d == 0 || d > 16) {
                        return Err(
                            "models.gradient_boosting.max_depth must list depths from 1 to 16"
                                .into(),
                        );
                    }
                    s.max_depth = d;
                }
                if let Some(v) = c.num_leaves {
                    if v.is_empty() || v.iter().any(|&l| !(2..=4096).contains(&l)) {
                        return Err(
                            "models.gradient_boosting.num_leaves must list leaf counts from 2 to 4096"
                                .into(),
                        );
                    }
                    s.num_leaves = v;
                }
                if let Some(v) = c.min_leaf_rows {
                    if v.is_empty() || v.contains(&0) {
                        return Err(
                            "models.gradient_boosting.min_leaf_rows must list counts of at least 1"
                                .into(),
                        );
                    }
                    s.min_leaf_rows = v;
                }
                if let Some(v) = c.learning_rate {
                    list("learning_rate", &v)?;
                    if v.iter().any(|&r| r > 1.0) {
                        return Err(
                            "models.gradient_boosting.learning_rate must be in (0, 1]".into()
                        );
                    }
                    s.learning_rate = v;
                }
                if let Some(v) = c.min_leaf_weight {
                    list("min_leaf_weight", &v)?;
                    s.min_leaf_weight = v;
                }
                if let Some(n) = c.max_trees {
                    if n == 0 {
                        return Err("models.gradient_boosting.max_trees must be at least 1".into());
                    }
                    s.max_trees = n;
                }
                if let Some(n) = c.early_stopping_rounds {
                    if n == 0 {
                        return Err(
                            "models.gradient_boosting.early_stopping_rounds must be at least 1"
                                .into(),
                        );
                    }
                    s.early_stopping_rounds = n;
                }
                for (key, v, slot) in [
                    ("subsample", c.subsample, &mut s.subsample),
                    ("colsample", c.colsample, &mut s.colsample),
                ] {
                    if let Some(v) = v {
                        if !(v > 0.0 && v <= 1.0) {
                            return Err(format!(
                                "models.gradient_boosting.{key} must be in (0, 1]"
                            ));
                        }
                        *slot = v;
                    }
                }
                if let Some(l2) = c.l2 {
                    if !(l2.is_finite() && l2 >= 0.0) {
                        return Err("models.gradient_boosting.l2 must be >= 0".into());
                    }
                    s.l2 = l2;
                }
                for (name, d) in c.monotone.unwrap_or_default() {
                    if d != 1 && d != -1 {
                        return Err(format!(
                            "models.gradient_boosting.monotone.{name} must be 1 (risk never falls as it grows) or -1 (never rises), not {d}"
                        ));
                    }
                    monotone.push((name, d as i8));
                }
            }
            Some(s)
        } else {
            None
        };
        let families = Families {
            logistic_regression,
            scorecard,
            gaussian_nb,
            linear_svm,
            rbf_svm,
            decision_tree,
            random_forest,
            gradient_boosting,
        };
        Ok(Models {
            families,
            seed: self.seed.unwrap_or(DEFAULT_SEED),
            selection,
            monotone,
            trends,
        })
    }
}
