//! Running every configured family and choosing among them.

use serde::Serialize;

use crate::svm::KernelKind;
use crate::{Data, FamilyResult, ForestSpec, LogisticSpec, NaiveBayesSpec, SvmSpec, TreeSpec};

/// The families to train, each with its grid; `None` leaves a family out.
#[derive(Debug, Clone, PartialEq)]
pub struct Families {
    pub logistic_regression: Option<LogisticSpec>,
    pub gaussian_nb: Option<NaiveBayesSpec>,
    pub linear_svm: Option<SvmSpec>,
    pub rbf_svm: Option<SvmSpec>,
    pub decision_tree: Option<TreeSpec>,
    pub random_forest: Option<ForestSpec>,
}

impl Default for Families {
    fn default() -> Self {
        Families {
            logistic_regression: Some(LogisticSpec::default()),
            gaussian_nb: Some(NaiveBayesSpec::default()),
            linear_svm: Some(SvmSpec::default_for(KernelKind::Linear)),
            rbf_svm: Some(SvmSpec::default_for(KernelKind::Rbf)),
            decision_tree: Some(TreeSpec::default()),
            random_forest: Some(ForestSpec::default()),
        }
    }
}

impl Families {
    /// Keep only the named families (their configured grids); an unknown or unconfigured
    /// name is an error.
    pub fn retain(&mut self, names: &[String]) -> Result<(), String> {
        for n in names {
            if !ORDER.contains(&n.as_str()) {
                return Err(format!(
                    "unknown family {n:?} (known: {})",
                    ORDER.join(", ")
                ));
            }
        }
        let keep = |n: &str| names.iter().any(|x| x == n);
        if !keep("logistic_regression") {
            self.logistic_regression = None;
        }
        if !keep("gaussian_nb") {
            self.gaussian_nb = None;
        }
        if !keep("linear_svm") {
            self.linear_svm = None;
        }
        if !keep("rbf_svm") {
            self.rbf_svm = None;
        }
        if !keep("decision_tree") {
            self.decision_tree = None;
        }
        if !keep("random_forest") {
            self.random_forest = None;
        }
        let any = [
            self.logistic_regression.is_some(),
            self.gaussian_nb.is_some(),
            self.linear_svm.is_some(),
            self.rbf_svm.is_some(),
            self.decision_tree.is_some(),
            self.random_forest.is_some(),
        ]
        .contains(&true);
        if any {
            Ok(())
        } else {
            Err(format!("none of {names:?} is configured for this pipeline"))
        }
    }
}

/// The families in the order they are trained and in which ties are broken.
pub const ORDER: [&str; 6] = [
    "logistic_regression",
    "gaussian_nb",
    "linear_svm",
    "rbf_svm",
    "decision_tree",
    "random_forest",
];

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Trained(FamilyResult),
    /// Not trained: the data cannot support it, or it failed; the run goes on.
    Skipped {
        family: String,
        reason: String,
    },
}

impl Outcome {
    pub fn family(&self) -> &str {
        match self {
            Outcome::Trained(r) => &r.family,
            Outcome::Skipped { family, .. } => family,
        }
    }
}

/// Fewest training rows of the rarer class a family needs.
fn min_class_rows(family: &str, f: &Families) -> usize {
    match family {
        "decision_tree" => {
            f.decision_tree
                .as_ref()
                .and_then(|t| t.min_samples_leaf.iter().min().copied())
                .unwrap_or(1)
                .max(1)
                * 2
        }
        "linear_svm" | "rbf_svm" | "random_forest" => 5,
        _ => 2,
    }
}

/// Train every configured family in [`ORDER`]; `progress` hears each family's name before
/// it starts. A family the data cannot support, or that fails, is skipped with a warning.
pub fn train_all(f: &Families, data: &Data<'_>, progress: &mut dyn FnMut(&str)) -> Vec<Outcome> {
    let rarer = data
        .train
        .positives()
        .min(data.train.y.len() - data.train.positives());
    let mut out = Vec::new();
    for family in ORDER {
        let configured = match family {
            "logistic_regression" => f.logistic_regression.is_some(),
            "gaussian_nb" => f.gaussian_nb.is_some(),
            "linear_svm" => f.linear_svm.is_some(),
            "rbf_svm" => f.rbf_svm.is_some(),
            "decision_tree" => f.decision_tree.is_some(),
            _ => f.random_forest.is_some(),
        };
        if !configured {
            continue;
        }
        let need = min_class_rows(family, f);
        if rarer < need {
            let reason = format!(
                "the training split has {rarer} rows of its rarer class; {family} needs at least {need}"
            );
            tracing::warn!(family, "skipped: {reason}");
            out.push(Outcome::Skipped {
                family: family.to_owned(),
                reason,
            });
            continue;
        }
        progress(family);
        let _span = tracing::info_span!("family", family).entered();
        // A panic inside a training library skips the family instead of ending the run.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match family {
            "logistic_regression" => f
                .logistic_regression
                .as_ref()
                .map(|s| crate::logistic::train(s, data)),
            "gaussian_nb" => f
                .gaussian_nb
                .as_ref()
                .map(|s| crate::naive_bayes::train(s, data)),
            "linear_svm" => f
                .linear_svm
                .as_ref()
                .map(|s| crate::svm::train(KernelKind::Linear, s, data)),
            "rbf_svm" => f
                .rbf_svm
                .as_ref()
                .map(|s| crate::svm::train(KernelKind::Rbf, s, data)),
            "decision_tree" => f
                .decision_tree
                .as_ref()
                .map(|s| crate::trees::train_tree(s, data)),
            _ => f
                .random_forest
                .as_ref()
                .map(|s| crate::trees::train_forest(s, data)),
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Some(Err(crate::TrainError::new(
                family,
                format!("the training library panicked: {what}"),
            )))
        });
        match result {
            Some(Ok(r)) => {
                tracing::info!(family, validation_auc = r.chosen.validation_auc, "trained");
                out.push(Outcome::Trained(r));
            }
            Some(Err(e)) => {
                tracing::warn!(family, error = %e, "skipped: failed");
                out.push(Outcome::Skipped {
                    family: family.to_owned(),
                    reason: format!("failed: {}", e.message),
                });
            }
            None => {}
        }
    }
    out
}

/// Families whose validation ROC AUC is within this of the best are tied, and the simpler
/// (earlier in [`ORDER`]) wins. A validation split of a few hundred rows cannot tell AUCs
/// 0.005 apart (its standard error is several hundredths), and a simpler model is easier
/// to explain to an applicant and a regulator.
pub const DEFAULT_TIE_TOLERANCE: f64 = 0.005;

/// The family with the best validation ROC AUC, ties (within `tolerance`) going to the
/// earlier in [`ORDER`].
pub fn select(outcomes: &[Outcome], tolerance: f64) -> Option<&FamilyResult> {
    let trained: Vec<&FamilyResult> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Trained(r) => Some(r),
            Outcome::Skipped { .. } => None,
        })
        .collect();
    let top = trained
        .iter()
        .map(|r| r.chosen.validation_auc)
        .fold(f64::NEG_INFINITY, f64::max);
    trained
        .into_iter()
        .find(|r| r.chosen.validation_auc >= top - tolerance)
}
